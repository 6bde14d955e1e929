// The registry client's authentication against a real `hatoba serve`: the
// Docker token flow (one token per scope, reused), the OAuth2 POST, a
// credential provider, Basic-only registries, and denials and bad
// credentials as typed errors carrying the server's message.
//
// Run: node --import tsx --test test/client/registry-auth.test.ts
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RegistryApiError, RegistryClient, bufferSource, parseChallenges, type RegistryCredentials } from '../../src/client/registry-client.js';
import { Api } from '../auth/access-helpers.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { loggedClient, sha256, startProxy, uniq, type TestServer } from './helpers.js';

let server: RunningServer;
let api: Api;
const closers: (() => unknown)[] = [];

before(async () => {
  server = await startServer();
  api = new Api(server.url);
});

after(async () => {
  for (const close of closers.reverse()) await close();
  await server?.dispose();
});

function track<T extends { close(): unknown }>(x: T): T {
  closers.push(() => x.close());
  return x;
}

describe('the Docker token flow', () => {
  test('pings once, fetches one token for a repository and reuses it for every request', async () => {
    const { client, log } = loggedClient(server.url);
    track(client);
    const repo = uniq('client/auth-');
    const blobs = ['one', 'two', 'three'].map((s) => bufferSource(`${s} ${repo}`, sha256(`${s} ${repo}`)));
    for (const b of blobs) assert.equal((await client.pushBlob(repo, b)).outcome, 'uploaded');
    for (const b of blobs) assert.ok(await client.blobExists(repo, b.digest, [{ type: 'repository', name: repo, actions: ['pull', 'push'] }]));
    assert.equal(log.count('GET', '/v2/'), 1, log.toString());
    assert.equal(log.count('GET', '/v2/token'), 1, `one token for ${repo}:pull,push\n${log}`);
    // Every registry request after the ping carried that token: none was refused.
    assert.equal(log.events.filter((e) => e.status === 401).length, 1, `only the ping is 401\n${log}`);
    const token = log.matching('GET', '/v2/token')[0]!;
    assert.match(new URL(token.url).searchParams.get('scope') ?? '', new RegExp(`^repository:${repo}:pull,push$`));
    assert.equal(new URL(token.url).searchParams.get('service'), 'hatoba');
  });

  test('pull and push on the same repository use one token each, in parallel too', async () => {
    const { client, log } = loggedClient(server.url);
    track(client);
    const repo = uniq('client/par-');
    const blobs = Array.from({ length: 8 }, (_, i) => bufferSource(`blob ${i} ${repo}`, sha256(`blob ${i} ${repo}`)));
    await Promise.all(blobs.map((b) => client.pushBlob(repo, b)));
    await Promise.all(blobs.map((b) => client.getBlob(repo, b.digest)));
    const tokens = log.matching('GET', '/v2/token').map((e) => new URL(e.url).searchParams.getAll('scope').join(' '));
    assert.deepEqual(tokens.sort(), [`repository:${repo}:pull,push`], log.toString());
  });

  test('the OAuth2 POST (password grant) when asked first, then the refresh token it returned', async () => {
    const { client, log } = loggedClient(server.url, { tokenMethod: 'post' });
    track(client);
    const repo = uniq('client/post-');
    const blob = bufferSource(`post ${repo}`, sha256(`post ${repo}`));
    await client.pushBlob(repo, blob);
    await client.getBlob(`${repo}-other`, blob.digest).catch((err: RegistryApiError) => assert.equal(err.code, 'BLOB_UNKNOWN'));
    assert.equal(log.count('GET', '/v2/token'), 0, log.toString());
    assert.equal(log.count('POST', '/v2/token'), 2, log.toString());
  });

  test('a credential provider is asked once, with the registry host', async () => {
    const asked: string[] = [];
    const { client, log } = loggedClient(server.url, {
      credentials: async ({ registry }): Promise<RegistryCredentials> => {
        asked.push(registry);
        return { ...ADMIN };
      },
    });
    track(client);
    const repo = uniq('client/prov-');
    await client.pushBlob(repo, bufferSource('p', sha256('p')));
    await client.pushBlob(`${repo}-2`, bufferSource('p', sha256('p')));
    assert.deepEqual(asked, [server.host]);
    assert.equal(log.count('GET', '/v2/token'), 2);
  });

  test('an expired or revoked token in the cache: the 401 gets a fresh token and the request is retried', async () => {
    const { client, log } = loggedClient(server.url);
    track(client);
    const repo = uniq('client/stale-');
    const blob = bufferSource(`stale ${repo}`, sha256(`stale ${repo}`));
    await client.pushBlob(repo, blob);
    // Poison the cache: every cached token becomes garbage.
    for (const cached of (client.auth as unknown as { tokens: Map<string, { token: string }> }).tokens.values()) cached.token = 'not-a-jwt';
    assert.ok(await client.blobExists(repo, blob.digest));
    assert.equal(log.count('GET', '/v2/token'), 2, log.toString());
  });

  test('ping() checks the credentials like docker login', async () => {
    const good = track(new RegistryClient({ url: server.url, credentials: { ...ADMIN } }));
    await good.ping();
    const bad = track(new RegistryClient({ url: server.url, credentials: { username: 'admin', password: 'wrong-password' } }));
    await assert.rejects(bad.ping(), (err: unknown) => {
      assert.ok(err instanceof RegistryApiError, String(err));
      assert.equal(err.status, 401);
      assert.equal(err.code, 'UNAUTHORIZED');
      assert.match(err.message, /invalid username or password/);
      assert.match(err.message, /as admin/);
      return true;
    });
  });

  test('anonymous pulls from a public project get an anonymous token', async () => {
    const project = uniq('pub');
    await api.project(project, true);
    const admin = track(new RegistryClient({ url: server.url, credentials: { ...ADMIN } }));
    const repo = `${project}/app`;
    const blob = bufferSource(`public ${repo}`, sha256(`public ${repo}`));
    await admin.pushBlob(repo, blob);
    const { client, log } = loggedClient(server.url, { credentials: undefined });
    track(client);
    assert.equal((await client.getBlob(repo, blob.digest)).toString(), `public ${repo}`);
    const token = log.matching('GET', '/v2/token')[0]!;
    assert.ok(token, log.toString());
    // Pushing anonymously is refused as unauthenticated, naming the repository.
    await assert.rejects(client.pushBlob(repo, bufferSource('x', sha256('x'))), (err: unknown) => {
      assert.ok(err instanceof RegistryApiError);
      assert.equal(err.status, 401);
      assert.equal(err.repository, repo);
      assert.match(err.message, new RegExp(`push on repository ${repo}`));
      return true;
    });
  });
});

describe('Basic credentials', () => {
  test('a registry that challenges with Basic gets Basic on every request and is never asked for a token', async () => {
    const proxy: TestServer = await startProxy(server.url, { basicChallenge: true });
    closers.push(() => proxy.close());
    const { client, log } = loggedClient(proxy.url);
    track(client);
    const repo = uniq('client/basic-');
    const blob = bufferSource(`basic ${repo}`, sha256(`basic ${repo}`));
    assert.equal((await client.pushBlob(repo, blob)).outcome, 'uploaded');
    assert.equal((await client.getBlob(repo, blob.digest)).toString(), `basic ${repo}`);
    assert.equal(log.count('*', /\/v2\/token/), 0, log.toString());
    assert.equal(proxy.requests.filter((r) => r.url.startsWith('/v2/token')).length, 0);
    assert.equal(log.events.filter((e) => e.status === 401).length, 1, `only the ping\n${log}`);
  });

  test('a Bearer challenge whose realm serves no tokens falls back to Basic', async () => {
    const proxy = await startProxy(server.url, { noTokenEndpoint: true });
    closers.push(() => proxy.close());
    const { client, log } = loggedClient(proxy.url);
    track(client);
    const repo = uniq('client/notoken-');
    const blob = bufferSource(`nt ${repo}`, sha256(`nt ${repo}`));
    assert.equal((await client.pushBlob(repo, blob)).outcome, 'uploaded');
    assert.ok(await client.blobExists(repo, blob.digest));
    // GET realm 404, then the OAuth2 POST 404, then Basic for good.
    assert.equal(log.count('GET', '/v2/token'), 1, log.toString());
    assert.equal(log.count('POST', '/v2/token'), 1, log.toString());
  });

  test('authMode basic sends Basic straight away (no ping, no token)', async () => {
    const { client, log } = loggedClient(server.url, { authMode: 'basic' });
    track(client);
    const repo = uniq('client/direct-');
    await client.pushBlob(repo, bufferSource('d', sha256('d')));
    assert.equal(log.count('GET', '/v2/'), 0);
    assert.equal(log.count('*', /\/v2\/token/), 0);
    assert.equal(log.events.filter((e) => e.status === 401).length, 0, log.toString());
  });
});

describe('denials', () => {
  test('a signed-in user without push gets a typed DENIED naming the repository and the missing right', async () => {
    const ns = uniq('team');
    const user = await api.user(uniq('reader-'));
    await api.bind(ns, 'artifact-reader', { kind: 'user', name: user.username });
    const repo = `${ns}/app`;
    const admin = track(new RegistryClient({ url: server.url, credentials: { ...ADMIN } }));
    const blob = bufferSource(`denied ${repo}`, sha256(`denied ${repo}`));
    await admin.pushBlob(repo, blob);
    for (const mode of ['auto', 'basic'] as const) {
      const client = track(new RegistryClient({ url: server.url, credentials: user, authMode: mode }));
      assert.equal((await client.getBlob(repo, blob.digest)).toString(), `denied ${repo}`, mode);
      await assert.rejects(client.pushBlob(repo, bufferSource('new', sha256('new'))), (err: unknown) => {
        assert.ok(err instanceof RegistryApiError, String(err));
        assert.equal(err.status, 403, mode);
        assert.equal(err.code, 'DENIED');
        assert.equal(err.repository, repo);
        assert.equal(err.action, 'push');
        assert.match(err.serverMessage, new RegExp(`${user.username} has no push right on ${repo}`));
        assert.match(err.message, /^push blob sha256:.* to .*: denied: /);
        return true;
      });
    }
  });

  test('wrong credentials are a typed UNAUTHORIZED with the token service message', async () => {
    const client = track(new RegistryClient({ url: server.url, credentials: { username: 'admin', password: 'nope-nope' } }));
    await assert.rejects(client.getBlob(uniq('client/x-'), sha256('x')), (err: unknown) => {
      assert.ok(err instanceof RegistryApiError);
      assert.equal(err.code, 'UNAUTHORIZED');
      assert.match(err.serverMessage, /invalid username or password/);
      return true;
    });
  });
});

test('parseChallenges reads several challenges with quoted, escaped and bare values', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://a/token",service="reg",scope="repository:x/y:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://a/token', service: 'reg', scope: 'repository:x/y:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a \\"q\\"", Bearer realm=https://b/t,error=insufficient_scope'), [
    { scheme: 'basic', params: { realm: 'a "q"' } },
    { scheme: 'bearer', params: { realm: 'https://b/t', error: 'insufficient_scope' } },
  ]);
  assert.deepEqual(parseChallenges(undefined), []);
});
