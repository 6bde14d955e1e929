// The habits docker, podman and skopeo users bring to `hatoba image`, end
// to end against real `hatoba serve` processes: `push NAME` to the registry
// the name says; `load` from stdin and `-i`; `save -o` (docker-archive by
// default) and back; skopeo's transports on both sides of copy, push and
// pull, with skopeo reading what Hatoba wrote; `rm` of a registry
// reference (with -y; refused without a terminal); `inspect -o table`;
// CREATED from the image config; and error messages that say what
// happened: not a tar, push denied (not pull), an unreachable token realm.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeImage, ociArchiveEntries, packTar } from '../formats/image-archive.fixtures.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { ADMIN, PROJECT_ROOT, startServer, type RunningServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';
import { show, type CliResult } from './helpers.js';
import { imageHome, serverAndLoggedInHome, saveTarball, workDir, type ImageHome } from './image-helpers.js';

const { path: SKOPEO, missing: NO_SKOPEO } = requireTool('skopeo', 'apt-get install -y skopeo', 'the image CLI habit tests with skopeo');

function skopeo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(SKOPEO!, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`skopeo ${args.join(' ')} failed: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

let server: RunningServer;
let home: ImageHome;
let dispose: (() => Promise<void>) | undefined;

before(async () => {
  ({ server, home, dispose } = await serverAndLoggedInHome());
});

after(async () => {
  await dispose?.();
});

async function ok(h: ImageHome, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await h.run(args);
  assert.equal(r.code, 0, show(r));
  return r;
}

/** A home of its own (own local store), signed in as the admin. */
async function loggedInHome(): Promise<ImageHome> {
  const h = await imageHome();
  const r = await h.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: ADMIN.password });
  assert.equal(r.code, 0, show(r));
  return h;
}

async function fails(h: ImageHome, args: string[]): Promise<CliResult> {
  const r = await h.run(args);
  assert.equal(r.code, 1, show(r));
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for an expected failure');
  return r;
}

async function remoteDigest(ref: string): Promise<string> {
  return (JSON.parse((await ok(home, ['image', 'inspect', '--remote', ref])).stdout) as { digest: string }).digest;
}

/** Runs the CLI with these bytes on stdin (a tarball: binary, so not through run's string input). */
function runWithStdin(h: ImageHome, args: string[], input: Buffer): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/hatoba.ts'), ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...h.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input);
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('docker habits', () => {
  test('push NAME (one argument) goes to the registry the name says; pulled back, the digest is the same', async () => {
    const h = await loggedInHome();
    const { file } = await saveTarball('one-arg', [{ image: makeImage('one-arg', 2), repoTags: ['hello:1'] }], 'docker25', false);
    await ok(h, ['image', 'load', '-i', file]);
    const name = `${server.host}/library/hello:1`;
    await ok(h, ['image', 'tag', 'hello:1', name]);
    const pushed = await ok(h, ['image', 'push', name, '--json']);
    const out = JSON.parse(pushed.stdout) as { pushed: { reference: string; digest: string }[] };
    assert.equal(out.pushed[0]!.reference, name);
    const local = (JSON.parse((await ok(h, ['image', 'inspect', name])).stdout) as { digest: string }).digest;
    assert.equal(out.pushed[0]!.digest, local);

    // pull it into a fresh store: same digest
    const other = await loggedInHome();
    const pulled = JSON.parse((await ok(other, ['image', 'pull', name, '--json'])).stdout) as { digest: string };
    assert.equal(pulled.digest, local);

    // a name without a registry, or a file without a destination: what to do
    let r = await fails(h, ['image', 'push', 'hello:1']);
    assert.match(r.stderr, /hello:1 names no registry to push to/);
    assert.match(r.stderr, /hatoba image tag hello:1 HOST\[:PORT\]\/REPOSITORY:TAG/);
    r = await fails(h, ['image', 'push', file]);
    assert.match(r.stderr, /give DESTINATION/);
  });

  test('load from stdin (redirect and -i -), and -i FILE', async () => {
    const h = await imageHome();
    const { file, bytes } = await saveTarball('stdin-load', [{ image: makeImage('stdin-load', 2), repoTags: ['stdin/app:2'] }], 'classic', true);
    let r = await runWithStdin(h, ['image', 'load'], bytes);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'Loaded image: stdin/app:2\n');
    r = await runWithStdin(h, ['image', 'load', '-i', '-', '--json'], bytes);
    assert.equal(r.code, 0, show(r));
    assert.equal((JSON.parse(r.stdout) as { source: string }).source, 'stdin');
    assert.equal((await ok(h, ['image', 'load', '-i', file])).stdout, 'Loaded image: stdin/app:2\n');
    const both = await fails(h, ['image', 'load', file, '-i', file]);
    assert.match(both.stderr, /give the source once/);
  });

  test('save -o FILE writes a docker-archive that loads back and that skopeo reads; --format oci-archive too', { skip: SKOPEO ? false : NO_SKOPEO }, async () => {
    const h = await imageHome();
    const img = makeImage('save', 3);
    const { file } = await saveTarball('save-src', [{ image: img, repoTags: ['save/app:1'] }], 'classic', false);
    await ok(h, ['image', 'load', file]);
    const before = JSON.parse((await ok(h, ['image', 'inspect', 'save/app:1'])).stdout) as { digest: string; configDigest: string; layers: { digest: string }[] };
    const saved = join(await workDir(), 'saved.tar');
    await ok(h, ['image', 'save', 'save/app:1', '-o', saved]);

    const info = JSON.parse(await skopeo(['inspect', `docker-archive:${saved}`])) as { Layers: string[]; Labels: Record<string, string>; Created: string };
    assert.deepEqual(info.Layers, img.layers.map((l) => l.diffId));
    assert.equal(info.Labels.label, 'save');
    // skopeo finds the image by the name it was saved under
    const named = JSON.parse(await skopeo(['inspect', `docker-archive:${saved}:save/app:1`])) as { Layers: string[] };
    assert.deepEqual(named.Layers, info.Layers);

    const back = await imageHome();
    assert.equal((await ok(back, ['image', 'load', '-i', saved])).stdout, 'Loaded image: save/app:1\n');
    const after = JSON.parse((await ok(back, ['image', 'inspect', 'save/app:1'])).stdout) as { digest: string; configDigest: string; layers: { digest: string }[] };
    assert.equal(after.digest, before.digest, 'the manifest digest survives the round trip');
    assert.equal(after.configDigest, before.configDigest);

    const oci = join(await workDir(), 'saved.oci.tar');
    await ok(h, ['image', 'save', 'save/app:1', '-o', oci, '--format', 'oci-archive']);
    const ociInfo = JSON.parse(await skopeo(['inspect', `oci-archive:${oci}`])) as { Digest: string };
    assert.equal(ociInfo.Digest, before.digest, 'an oci-archive keeps the bytes: skopeo sees the same digest');

    const missing = await fails(h, ['image', 'save', 'nothing:here', '-o', saved]);
    assert.match(missing.stderr, /no loaded image nothing:here/);
  });

  test('image ls CREATED is the image config\'s created time, not when it was loaded', async () => {
    const h = await imageHome();
    const { file } = await saveTarball('created', [{ image: makeImage('created', 1), repoTags: ['created:1'] }], 'classic', false);
    await ok(h, ['image', 'load', file]);
    const rows = JSON.parse((await ok(h, ['image', 'ls', '-o', 'json'])).stdout) as { reference: string; created: string; loaded: string }[];
    const row = rows.find((x) => x.reference === 'created:1')!;
    assert.equal(row.created, '2024-01-01T00:00:00Z', 'the fixtures are built 2024-01-01');
    assert.ok(Date.now() - Date.parse(row.loaded) < 10 * 60_000, 'loaded just now');
    const table = (await ok(h, ['image', 'ls'])).stdout;
    const line = table.split('\n').find((l) => l.startsWith('created '))!;
    assert.match(line, /\s\d+(y|d)\S* ago$/, 'years or days ago, not seconds');
  });

  test('inspect -o table: the facts and the layers in columns; JSON stays the default', async () => {
    const h = await loggedInHome();
    const img = makeImage('table', 2);
    const { file } = await saveTarball('table', [{ image: img, repoTags: ['table:1'] }], 'classic', false);
    await ok(h, ['image', 'load', file]);
    const t = (await ok(h, ['image', 'inspect', 'table:1', '-o', 'table'])).stdout;
    assert.match(t, /^FIELD\s+VALUE\n/);
    assert.match(t, /\ndigest\s+sha256:[a-f0-9]{64}\n/);
    assert.match(t, /\nplatform\s+linux\/amd64\n/);
    assert.match(t, /\ncreated\s+2024-01-01T00:00:00Z\n/);
    assert.match(t, /\nLAYER\s+SIZE\s+MEDIA TYPE\n/);
    for (const l of img.layers) assert.match(t, new RegExp(`\\n${l.diffId}\\s`));
    assert.throws(() => JSON.parse(t));
    JSON.parse((await ok(h, ['image', 'inspect', 'table:1'])).stdout);
    // an index: its platform images
    const dir = join(await workDir(), 'table-layout');
    writeOciLayout(dir, { salt: 'table' });
    await ok(h, ['image', 'push', dir, `${server.host}/system/table-index:multiarch`, '-q']);
    const idx = (await ok(h, ['image', 'inspect', `${server.host}/system/table-index:multiarch`, '-o', 'table'])).stdout;
    assert.match(idx, /\nkind\s+index\n/);
    assert.match(idx, /\nMANIFEST\s+PLATFORM\s+SIZE\n(sha256:[a-f0-9]{64}\s+linux\/\S+\s+.*\n){2}$/);
  });
});

describe('skopeo transports on both sides', { skip: SKOPEO ? false : NO_SKOPEO }, () => {
  test('copy docker-archive:F -> docker://, docker:// -> oci-archive: and docker-archive:, read by skopeo; digests unchanged', async () => {
    const img = makeImage('transports', 2);
    const { file } = await saveTarball('transports', [{ image: img, repoTags: ['transports:1'] }], 'docker25', true);
    const dest = `${server.host}/system/transports:1`;
    let r = await ok(home, ['image', 'copy', `docker-archive:${file}`, `docker://${dest}`]);
    assert.match(r.stdout, new RegExp(`^docker://${dest}: digest: sha256:[a-f0-9]{64}\\n$`));
    const digest = await remoteDigest(dest);

    const ociTar = join(await workDir(), 'transports.oci.tar');
    await ok(home, ['image', 'copy', `docker://${dest}`, `oci-archive:${ociTar}`]);
    assert.equal((JSON.parse(await skopeo(['inspect', `oci-archive:${ociTar}`])) as { Digest: string }).Digest, digest);

    const dockerTar = join(await workDir(), 'transports.docker.tar');
    await ok(home, ['image', 'pull', `docker://${dest}`, '-o', `docker-archive:${dockerTar}:mirror/transports:7`]);
    const named = JSON.parse(await skopeo(['inspect', `docker-archive:${dockerTar}:mirror/transports:7`])) as { Layers: string[] };
    assert.deepEqual(named.Layers, img.layers.map((l) => l.diffId));

    // what skopeo wrote, back into the registry through each transport
    const skopeoDocker = join(await workDir(), 'by-skopeo.docker.tar');
    await skopeo(['copy', '--src-tls-verify=false', '--src-creds', `${ADMIN.username}:${ADMIN.password}`, `docker://${dest}`, `docker-archive:${skopeoDocker}:by/skopeo:1`]);
    r = await ok(home, ['image', 'push', `docker-archive:${skopeoDocker}:by/skopeo:1`, `${server.host}/system/from-skopeo:1`, '--json']);
    assert.ok((JSON.parse(r.stdout) as { pushed: { digest: string }[] }).pushed[0]!.digest.startsWith('sha256:'));
    const ociDir = join(await workDir(), 'by-skopeo-oci');
    await skopeo(['copy', '--src-tls-verify=false', '--src-creds', `${ADMIN.username}:${ADMIN.password}`, `docker://${dest}`, `oci:${ociDir}:v1`]);
    r = await ok(home, ['image', 'copy', `oci:${ociDir}:v1`, `${server.host}/system/from-skopeo-oci:v1`]);
    const ociDigest = JSON.parse(await skopeo(['inspect', `oci:${ociDir}:v1`])) as { Digest: string };
    assert.equal(await remoteDigest(`${server.host}/system/from-skopeo-oci:v1`), ociDigest.Digest, 'the OCI layout keeps its digest');
    // and the name in the layout that is not there
    const none = await fails(home, ['image', 'copy', `oci:${ociDir}:v2`, `${server.host}/system/from-skopeo-oci:v2`]);
    assert.match(none.stderr, /has no image named v2/);
    assert.match(none.stderr, /tag v1/);
  });

  test('an OCI layout written by hatoba (oci:DIR:TAG) with an OCI image: skopeo reads it by the tag', async () => {
    const oa = ociArchiveEntries([{ image: makeImage('oci-out', 2), refName: 'oci-out:1' }]);
    const src = join(await workDir(), 'oci-out.tar');
    await writeFile(src, await packTar(oa.entries));
    await ok(home, ['image', 'push', `oci-archive:${src}`, `${server.host}/system/oci-out:1`, '-q']);
    const dir = join(await workDir(), 'oci-out-dir');
    await ok(home, ['image', 'pull', `${server.host}/system/oci-out:1`, '-o', `oci:${dir}:v9`]);
    const info = JSON.parse(await skopeo(['inspect', `oci:${dir}:v9`])) as { Digest: string };
    assert.equal(info.Digest, await remoteDigest(`${server.host}/system/oci-out:1`));
  });
});

describe('image rm of a registry reference', () => {
  test('with -y the manifest is deleted (GET answers 404); without a terminal and without -y it refuses and says to add -y', async () => {
    const { file } = await saveTarball('rm-remote', [{ image: makeImage('rm-remote', 1), repoTags: ['rm:1'] }], 'classic', false);
    const ref = `${server.host}/system/rm-remote:1`;
    await ok(home, ['image', 'push', file, ref, '-q']);
    const digest = await remoteDigest(ref);

    const refused = await fails(home, ['image', 'rm', ref]);
    assert.match(refused.stderr, /not deleting .*system\/rm-remote@sha256:[a-f0-9]{64}.* without confirmation/);
    assert.match(refused.stderr, /add -y/);
    assert.equal(await remoteDigest(ref), digest, 'still there');

    const r = await ok(home, ['image', 'rm', ref, '-y']);
    assert.equal(r.stdout, `Deleted: ${server.host}/system/rm-remote@${digest}\n`);
    const token = await fetch(`${server.url}/v2/token?scope=repository:system/rm-remote:pull`, { headers: { authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}` } });
    const { token: bearer } = (await token.json()) as { token: string };
    for (const reference of ['1', digest]) {
      const res = await fetch(`${server.url}/v2/system/rm-remote/manifests/${reference}`, { headers: { authorization: `Bearer ${bearer}`, accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
      assert.equal(res.status, 404, reference);
    }
  });

  test('a loaded name is removed from the local store only; --remote deletes in the registry even then', async () => {
    const h = await loggedInHome();
    const ref = `${server.host}/system/rm-local:1`;
    const { file } = await saveTarball('rm-local', [{ image: makeImage('rm-local', 1), repoTags: ['rm-local:1'] }], 'classic', false);
    await ok(h, ['image', 'push', file, ref, '-q']);
    await ok(h, ['image', 'pull', ref, '-q']);
    assert.equal((await ok(h, ['image', 'rm', ref])).stdout, `Untagged: ${ref}\n`);
    const digest = await remoteDigest(ref);
    await ok(h, ['image', 'pull', ref, '-q']);
    assert.match((await ok(h, ['image', 'rm', '--remote', ref, '-y'])).stdout, new RegExp(`^Deleted: .*@${digest}\\n$`));
    const gone = await fails(h, ['image', 'inspect', '--remote', ref]);
    assert.match(gone.stderr, /not found/);
  });
});

describe('error messages', () => {
  test('a file that is not a tar is called that, by name; a load error never says nothing was pushed', async () => {
    const junk = join(await workDir(), 'notes.tar');
    await writeFile(junk, 'meeting notes, not an image\n');
    for (const args of [['image', 'load', junk], ['image', 'load', '-i', junk], ['image', 'push', junk, `${server.host}/system/junk:1`]]) {
      const r = await fails(home, args);
      assert.match(r.stderr, new RegExp(`${junk.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a tar archive \\(docker save / skopeo docker-archive / oci-archive\\)`), show(r));
    }
    const { bytes } = await saveTarball('load-trunc', [{ image: makeImage('load-trunc', 2), repoTags: ['t:1'] }], 'docker25', false);
    const cut = join(await workDir(), 'load-trunc-cut.tar');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const r = await fails(home, ['image', 'load', cut]);
    assert.match(r.stderr, /download or save it again/);
    assert.doesNotMatch(r.stderr, /pushed/);
  });

  test('a pull-only user pushing is told push was denied, never pull', async () => {
    const reader = { username: 'habits-reader', password: 'habits reader has a long password' };
    let r = await home.run(['user', 'create', reader.username, '--password-stdin', '--server', server.host], { input: reader.password });
    assert.equal(r.code, 0, show(r));
    await ok(home, ['create', 'rolebinding', 'habits-reader-reads', '--role=artifact-reader', `--user=${reader.username}`, '-n', 'readable', '--server', server.host]);
    const { file } = await saveTarball('denied-push', [{ image: makeImage('denied-push', 1), repoTags: ['d:1'] }], 'classic', false);
    const h = await imageHome();
    // where the user may pull, and where the user may do nothing at all
    for (const repo of ['readable/app', 'elsewhere/app']) {
      r = await fails(h, ['image', 'push', file, `${server.host}/${repo}:1`, '--creds', `${reader.username}:${reader.password}`]);
      assert.match(r.stderr, /^hatoba: denied: .*\bpush\b/m, show(r));
      assert.doesNotMatch(r.stderr, /\bpull\b/, show(r));
      assert.match(r.stderr, /artifact-writer/, show(r));
    }
  });

  test('an unreachable token realm is named by its host', async () => {
    // A registry whose public URL (and so its token realm) points at a closed port.
    const misconfigured = await startServer({ env: { HATOBA_PUBLIC_URL: 'http://127.0.0.1:9/' } });
    try {
      const { file } = await saveTarball('realm', [{ image: makeImage('realm', 1), repoTags: ['realm:1'] }], 'classic', false);
      const r = await fails(home, ['image', 'push', file, `${misconfigured.host}/system/realm:1`, '--creds', `${ADMIN.username}:${ADMIN.password}`]);
      assert.match(r.stderr, new RegExp(`cannot reach the token service at 127\\.0\\.0\\.1:9 \\(where ${misconfigured.host.replace(/\./g, '\\.')} sends clients for tokens\\)`), show(r));
      assert.match(r.stderr, /public_url/);
    } finally {
      await misconfigured.dispose();
    }
  });
});
