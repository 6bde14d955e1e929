// A bearer token's rights on a repository are the union of all its entries
// for it. containerd asks the token endpoint for several scopes on one
// repository (`repository:R:pull` and `repository:R:pull,push`, with the
// OAuth2 password grant); the JWT lists both, and the check used to read
// only the first, so `ctr images push` got insufficient_scope.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Api, AuthRegistry, bearer, call, expectErr, formBody, uniq } from '../auth/access-helpers.js';
import { sha256 } from '../helpers/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
let api: Api;
before(async () => {
  server = await startServer();
  api = new Api(server.url);
});
after(() => server.dispose());

test('a token with entries `pull` and `pull,push` for one repository may push there (containerd)', async () => {
  const ns = uniq('scopes');
  const writer = await api.user(uniq('writer-'));
  await api.bind(ns, 'artifact-writer', { kind: 'user', name: writer.username });
  const repo = `${ns}/app`;
  // containerd's request: POST form, password grant, the two scopes as separate fields.
  const res = await call(server.url, 'POST', '/v2/token', {
    auth: null,
    body: formBody({ grant_type: 'password', username: writer.username, password: writer.password, service: 'hatoba', client_id: 'containerd-client', scope: [`repository:${repo}:pull`, `repository:${repo}:pull,push`] }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(res.status, 200, res.text);
  const token = res.json<{ access_token: string }>().access_token;
  const access = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).access as { name: string; actions: string[] }[];
  assert.deepEqual(
    access.filter((a) => a.name === repo).map((a) => a.actions),
    [['pull'], ['pull', 'push']],
    'the token lists both entries, as they were asked for',
  );

  const reg = new AuthRegistry(server.url, bearer(token));
  const data = `blob for ${repo}`;
  const pushed = await reg.request(`/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data });
  assert.equal(pushed.status, 201, `push with the union of entries: ${pushed.status} ${await pushed.text()}`);
  assert.equal((await reg.request(`/v2/${repo}/blobs/${sha256(data)}`, { method: 'HEAD' })).status, 200);
});

test('the union grants nothing that no entry grants: pull-only entries still cannot push', async () => {
  const ns = uniq('scopes');
  const reader = await api.user(uniq('reader-'));
  await api.bind(ns, 'artifact-reader', { kind: 'user', name: reader.username });
  const repo = `${ns}/app`;
  const res = await call(server.url, 'POST', '/v2/token', {
    auth: null,
    body: formBody({ grant_type: 'password', username: reader.username, password: reader.password, scope: [`repository:${repo}:pull`, `repository:${repo}:pull,push`] }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(res.status, 200, res.text);
  const token = res.json<{ access_token: string }>().access_token;
  const data = `refused blob for ${repo}`;
  const refused = await call(server.url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { auth: bearer(token), body: data });
  expectErr(refused, 403, 'DENIED');
  assert.equal((await call(server.url, 'HEAD', `/v2/${repo}/blobs/${sha256(data)}`)).status, 404, 'nothing was stored');
});
