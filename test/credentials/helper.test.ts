// `docker-credential-hatoba`, driven as docker drives it: a child process
// per action, input on stdin, output and errors on stdout, exit code 0/1
// (docker-credential-helpers' credentials.Serve). HATOBA_CONFIG_DIR points
// at a fresh temp dir for every test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { CredentialStore, normalizeServerURL } from '../../src/credentials/store.js';
import { credentialsFile, hatobaConfigDir } from '../../src/credentials/files.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const HELPER = join(ROOT, 'src/cli/docker-credential-hatoba.ts');

const dirs: string[] = [];
async function configDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hatoba-helper-'));
  dirs.push(dir);
  // A directory that does not exist yet: the helper makes it, 0700.
  return join(dir, 'config');
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function helper(dir: string, args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, HATOBA_CONFIG_DIR: dir };
    const child = spawn(process.execPath, ['--import', 'tsx', HELPER, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function ok(dir: string, args: string[], stdin = ''): Promise<string> {
  const r = await helper(dir, args, stdin);
  assert.equal(r.code, 0, `${args.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

const PASSWORD = 'k]j64r{1sJSSF-;)K8';

test('store, get, list, erase: the round trip docker makes', async () => {
  const dir = await configDir();
  // docker's client writes json.NewEncoder output: the object and a newline.
  assert.equal(await ok(dir, ['store'], `${JSON.stringify({ ServerURL: 'registry.example:5000', Username: 'ansh81vru1zp/jdoe@acme.com', Secret: PASSWORD })}\n`), '');
  // docker writes the server URL with no newline; a newline is fine too.
  assert.equal(
    await ok(dir, ['get'], 'registry.example:5000'),
    '{"ServerURL":"registry.example:5000","Username":"ansh81vru1zp/jdoe@acme.com","Secret":"k]j64r{1sJSSF-;)K8"}\n',
  );
  assert.equal(await ok(dir, ['get'], 'registry.example:5000\n'), await ok(dir, ['get'], 'registry.example:5000'));
  assert.equal(await ok(dir, ['list'], 'unused'), '{"registry.example:5000":"ansh81vru1zp/jdoe@acme.com"}\n');

  // Replacing keeps one entry.
  await ok(dir, ['store'], JSON.stringify({ ServerURL: 'registry.example:5000', Username: 'other', Secret: 's2' }));
  assert.deepEqual(JSON.parse(await ok(dir, ['get'], 'registry.example:5000')), { ServerURL: 'registry.example:5000', Username: 'other', Secret: 's2' });
  assert.deepEqual(JSON.parse(await ok(dir, ['list'])), { 'registry.example:5000': 'other' });

  assert.equal(await ok(dir, ['erase'], 'registry.example:5000'), '');
  assert.equal(await ok(dir, ['list']), '{}\n');
});

test('not found: "credentials not found in native keychain" on stdout, exit 1', async () => {
  const dir = await configDir();
  for (const action of ['get', 'erase']) {
    const r = await helper(dir, [action], 'nowhere.example');
    assert.equal(r.code, 1, action);
    assert.equal(r.stdout, 'credentials not found in native keychain\n', action);
  }
  // An empty store lists as an empty object.
  assert.equal(await ok(dir, ['list']), '{}\n');
});

test('the file is 0600 in a 0700 directory, written atomically', async () => {
  const dir = await configDir();
  await ok(dir, ['store'], JSON.stringify({ ServerURL: 'r.example', Username: 'u', Secret: PASSWORD }));
  const file = join(dir, 'credentials.json');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.deepEqual(await readdir(dir), ['credentials.json'], 'no temp or lock file left');
  const saved = JSON.parse(await readFile(file, 'utf8'));
  assert.deepEqual(saved, { version: 1, credentials: { 'r.example': { serverURL: 'r.example', username: 'u', secret: PASSWORD } } });
});

test('server URLs are matched as docker names them: scheme, path and case do not matter, the port does', async () => {
  const dir = await configDir();
  await ok(dir, ['store'], JSON.stringify({ ServerURL: 'https://Registry.Example:5000/v2/', Username: 'u', Secret: 's' }));
  for (const spelling of ['registry.example:5000', 'http://registry.example:5000', 'https://REGISTRY.example:5000/', '  registry.example:5000  ']) {
    const got = JSON.parse(await ok(dir, ['get'], spelling));
    assert.deepEqual(got, { ServerURL: spelling.trim(), Username: 'u', Secret: 's' }, spelling);
  }
  assert.equal((await helper(dir, ['get'], 'registry.example')).code, 1, 'another port is another server');
  assert.equal((await helper(dir, ['get'], 'registry.example:5001')).code, 1);
  // list reports the URL as stored, which get accepts again (docker's GetAll does that).
  assert.deepEqual(JSON.parse(await ok(dir, ['list'])), { 'https://Registry.Example:5000/v2/': 'u' });
  await ok(dir, ['erase'], 'registry.example:5000');
  assert.equal(await ok(dir, ['list']), '{}\n');

  assert.equal(normalizeServerURL('https://index.docker.io/v1/'), 'index.docker.io');
  assert.equal(normalizeServerURL('HTTP://[::1]:5000/x'), '[::1]:5000');
});

test('identity tokens: Username "<token>" and the token as Secret, written as Go writes them', async () => {
  const dir = await configDir();
  await ok(dir, ['store'], '{"ServerURL":"r.example","Username":"\\u003ctoken\\u003e","Secret":"refresh&token"}\n');
  const out = await ok(dir, ['get'], 'r.example');
  // json.NewEncoder escapes <, > and & (as docker-credential-helpers' output does).
  assert.equal(out, '{"ServerURL":"r.example","Username":"\\u003ctoken\\u003e","Secret":"refresh\\u0026token"}\n');
  assert.deepEqual(JSON.parse(out), { ServerURL: 'r.example', Username: '<token>', Secret: 'refresh&token' });
  assert.deepEqual(JSON.parse(await ok(dir, ['list'])), { 'r.example': '<token>' });

  // The store module used by `hatoba login` sees the same entry.
  const store = new CredentialStore(join(dir, 'credentials.json'));
  assert.deepEqual(await store.get('https://r.example/'), { serverURL: 'r.example', username: '<token>', secret: 'refresh&token' });
  await store.storeIdentityToken('s.example', 'tok2');
  assert.deepEqual(JSON.parse(await ok(dir, ['get'], 's.example')), { ServerURL: 's.example', Username: '<token>', Secret: 'tok2' });
});

test('protocol errors: messages docker recognises, exit 1', async () => {
  const dir = await configDir();
  const cases: [string[], string, string][] = [
    [['store'], JSON.stringify({ Username: 'u', Secret: 's' }), 'no credentials server URL\n'],
    [['store'], JSON.stringify({ ServerURL: 'r.example', Secret: 's' }), 'no credentials username\n'],
    [['get'], '', 'no credentials server URL\n'],
    [['erase'], '  \n', 'no credentials server URL\n'],
    [['bogus'], '', 'Unknown credential action `bogus`\n'],
    [[], '', 'Usage: docker-credential-hatoba <store|get|erase|list|version>\n'],
    [['get', 'extra'], '', 'Usage: docker-credential-hatoba <store|get|erase|list|version>\n'],
  ];
  for (const [args, stdin, message] of cases) {
    const r = await helper(dir, args, stdin);
    assert.equal(r.code, 1, `${args.join(' ')} ${stdin}`);
    assert.equal(r.stdout, message, `${args.join(' ')} ${stdin}`);
  }
  const bad = await helper(dir, ['store'], '{not json');
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /JSON/);
  // Field names match case-insensitively, as Go's decoder matches them.
  await ok(dir, ['store'], '{"serverurl":"r.example","USERNAME":"u","secret":"s"}');
  assert.deepEqual(JSON.parse(await ok(dir, ['get'], 'r.example')), { ServerURL: 'r.example', Username: 'u', Secret: 's' });
  assert.match(await ok(dir, ['version']), /^docker-credential-hatoba \(hatoba\) \d+\.\d+\.\d+\n$/);
});

test('a damaged store file is reported, not overwritten', async () => {
  const dir = await configDir();
  await ok(dir, ['store'], JSON.stringify({ ServerURL: 'r.example', Username: 'u', Secret: 's' }));
  const file = join(dir, 'credentials.json');
  await writeFile(file, '{"credentials": ');
  const r = await helper(dir, ['get'], 'r.example');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /credentials\.json is not valid JSON/);
  const s = await helper(dir, ['store'], JSON.stringify({ ServerURL: 'x.example', Username: 'u', Secret: 's' }));
  assert.equal(s.code, 1);
  assert.equal(await readFile(file, 'utf8'), '{"credentials": ');
});

test('concurrent stores from several helper processes all land (lock file)', async () => {
  const dir = await configDir();
  const servers = Array.from({ length: 8 }, (_, i) => `r${i}.example:5000`);
  await Promise.all(servers.map((s, i) => ok(dir, ['store'], JSON.stringify({ ServerURL: s, Username: `u${i}`, Secret: `s${i}` }))));
  const listed = JSON.parse(await ok(dir, ['list']));
  assert.deepEqual(listed, Object.fromEntries(servers.map((s, i) => [s, `u${i}`])));
  assert.deepEqual((await readdir(dir)).sort(), ['credentials.json']);
});

test('config dir: HATOBA_CONFIG_DIR, else $XDG_CONFIG_HOME/hatoba, else ~/.config/hatoba', () => {
  assert.equal(hatobaConfigDir({ HATOBA_CONFIG_DIR: '/c', XDG_CONFIG_HOME: '/x', HOME: '/h' }), '/c');
  assert.equal(hatobaConfigDir({ XDG_CONFIG_HOME: '/x', HOME: '/h' }), '/x/hatoba');
  assert.equal(hatobaConfigDir({ HOME: '/h' }), '/h/.config/hatoba');
  assert.equal(credentialsFile({ HOME: '/h' }), '/h/.config/hatoba/credentials.json');
});

test('store module: odd server names are plain keys; unknown top-level keys are kept; newer formats refused', async () => {
  const dir = await configDir();
  const file = join(dir, 'credentials.json');
  const store = new CredentialStore(file);
  await store.store({ serverURL: '__proto__', username: 'u', secret: 's' });
  assert.deepEqual(await store.get('__proto__'), { serverURL: '__proto__', username: 'u', secret: 's' });
  assert.equal(await store.get('constructor'), undefined);
  assert.deepEqual(Object.entries(await store.list()), [['__proto__', 'u']]);

  const saved = JSON.parse(await readFile(file, 'utf8'));
  await writeFile(file, JSON.stringify({ ...saved, note: 'kept' }));
  await store.store({ serverURL: 'r.example', username: 'u2', secret: 's2' });
  assert.equal(JSON.parse(await readFile(file, 'utf8')).note, 'kept');
  assert.equal(await store.erase('r.example'), true);
  assert.equal(await store.erase('r.example'), false);

  await writeFile(file, JSON.stringify({ version: 2, credentials: {} }));
  await assert.rejects(store.get('r.example'), /format version 2/);
  await writeFile(file, JSON.stringify({ version: 1, credentials: { 'r.example': { serverURL: 'r.example', username: 1 } } }));
  await assert.rejects(store.get('r.example'), /is damaged/);
});
