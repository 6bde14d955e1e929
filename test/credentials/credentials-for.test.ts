// credentialsFor / saveCredentials / eraseCredentials: the one place that
// says where a server's credentials are, in docker's order: the server's
// credHelper, else credsStore, then `auths` (with identity tokens).
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, test } from 'node:test';
import { credentialsFor, CredentialHelperError, eraseCredentials, saveCredentials } from '../../src/credentials/credentials-for.js';
import { CredentialStore } from '../../src/credentials/store.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function setup(config: unknown) {
  const dir = await mkdtemp(join(tmpdir(), 'hatoba-credentials-for-'));
  dirs.push(dir);
  const configFile = join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(config));
  return { dir, configFile, store: new CredentialStore(join(dir, 'hatoba', 'credentials.json')) };
}

/** A fake docker-credential-fake on PATH: get answers from a JSON file, store appends to it. */
async function fakeHelper(dir: string): Promise<string> {
  const bin = join(dir, 'bin');
  await mkdir(bin);
  const script = `#!/bin/sh
case "$1" in
  get) read server; if [ "$server" = "fake.example" ]; then echo '{"ServerURL":"fake.example","Username":"<token>","Secret":"refresh-fake"}'; else echo 'credentials not found in native keychain'; exit 1; fi ;;
  store) cat >> '${join(dir, 'stored.log')}'; echo >> '${join(dir, 'stored.log')}' ;;
  erase) read server; echo "erase $server" >> '${join(dir, 'stored.log')}' ;;
  *) exit 1 ;;
esac
`;
  await writeFile(join(bin, 'docker-credential-fake'), script);
  await chmod(join(bin, 'docker-credential-fake'), 0o755);
  return bin;
}

test('the credHelper wins over auths; auths is the fallback when the helper has nothing', async () => {
  const { configFile, store } = await setup({
    auths: { 'a.example': { auth: Buffer.from('old:pw').toString('base64') }, 'b.example': { auth: Buffer.from('bob:pw2').toString('base64') } },
    credHelpers: { 'a.example': 'hatoba', 'b.example': 'hatoba' },
  });
  await store.store({ serverURL: 'a.example', username: 'jdoe', secret: 's3cret' });
  assert.deepEqual(await credentialsFor('https://A.example/v2/', { configFile, store }), { server: 'A.example', secret: { username: 'jdoe', password: 's3cret' }, source: 'helper', helper: 'hatoba', configFile });
  assert.deepEqual((await credentialsFor('b.example', { configFile, store }))?.secret, { username: 'bob', password: 'pw2' });
  assert.equal(await credentialsFor('c.example', { configFile, store }), undefined);
});

test('auths: an identity token (docker login without a helper) comes before the empty password', async () => {
  const { configFile, store } = await setup({ auths: { 'http://reg.example:5000': { auth: Buffer.from('admin:').toString('base64'), identitytoken: 'refresh-1' }, 'empty.example': { auth: Buffer.from('x:').toString('base64') } } });
  assert.deepEqual(await credentialsFor('reg.example:5000', { configFile, store }), { server: 'http://reg.example:5000', secret: { identityToken: 'refresh-1', username: 'admin' }, source: 'auths', configFile });
  assert.equal(await credentialsFor('empty.example', { configFile, store }), undefined, 'an empty password is no credential');
});

test('credsStore and other helpers run as docker-credential-NAME', async (t) => {
  const { dir, configFile, store } = await setup({ credsStore: 'fake' });
  const bin = await fakeHelper(dir);
  const path = process.env.PATH;
  process.env.PATH = `${bin}${delimiter}${path ?? ''}`;
  t.after(() => void (process.env.PATH = path));
  assert.deepEqual((await credentialsFor('fake.example', { configFile, store }))?.secret, { identityToken: 'refresh-fake' });
  assert.equal(await credentialsFor('other.example', { configFile, store }), undefined);

  assert.deepEqual(await saveCredentials('fake.example', { username: 'jdoe', password: 'pw' }, { configFile, store }), { source: 'helper', helper: 'fake', configFile });
  assert.equal(await eraseCredentials('fake.example', { configFile, store }), true);
  assert.deepEqual((await readFile(join(dir, 'stored.log'), 'utf8')).trim().split('\n'), ['{"ServerURL":"fake.example","Username":"jdoe","Secret":"pw"}', 'erase fake.example']);
  assert.deepEqual(JSON.parse(await readFile(configFile, 'utf8')), { credsStore: 'fake' }, 'no password in the config file');

  await writeFile(configFile, JSON.stringify({ credHelpers: { 'gone.example': 'missing' } }));
  await assert.rejects(saveCredentials('gone.example', { username: 'u', password: 'p' }, { configFile, store }), (err: Error) => err instanceof CredentialHelperError && /docker-credential-missing is not on PATH/.test(err.message));
});

test('saveCredentials without a helper writes auths; eraseCredentials removes every spelling', async () => {
  const { configFile, store } = await setup({ auths: { 'https://reg.example/v2/': { auth: 'eDp5' } } });
  assert.equal((await saveCredentials('reg.example', { username: 'jdoe', password: 'pw' }, { configFile, store })).source, 'auths');
  assert.deepEqual((await credentialsFor('reg.example', { configFile, store }))?.secret, { username: 'jdoe', password: 'pw' });
  assert.equal(await eraseCredentials('reg.example', { configFile, store }), true);
  assert.deepEqual(JSON.parse(await readFile(configFile, 'utf8')).auths, {});
  assert.equal(await eraseCredentials('reg.example', { configFile, store }), false);
});
