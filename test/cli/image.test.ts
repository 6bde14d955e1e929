// `hatoba image ...` end to end: the real CLI as a child process against
// real `hatoba serve` processes. Tarballs in both `docker save` layouts,
// plain and gzip, built here from known bytes; truncated and corrupt ones;
// several images in one tarball; OCI layout directories with an index;
// load/tag/ls/inspect/rm; pull into the store and into tarballs; copy
// between two registries; a reader who may not push; progress output.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { makeImage, ociArchiveEntries, packTar } from '../formats/image-archive.fixtures.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { removeHomes, show } from './helpers.js';
import { imageHome, saveTarball, workDir, type ImageHome, removeWorkDir } from './image-helpers.js';

let a: RunningServer;
let b: RunningServer;
let admin: ImageHome;

before(async () => {
  [a, b] = await Promise.all([startServer(), startServer()]);
  admin = await imageHome();
  for (const s of [a, b]) {
    const r = await admin.run(['login', s.host, '-u', ADMIN.username, '--password-stdin'], { input: ADMIN.password });
    assert.equal(r.code, 0, show(r));
  }
});

after(async () => {
  await Promise.all([a?.dispose(), b?.dispose()]);
  await removeHomes();
  await removeWorkDir();
});

async function ok(home: ImageHome, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await home.run(args);
  assert.equal(r.code, 0, show(r));
  return r;
}

async function tags(server: RunningServer, repository: string): Promise<string[]> {
  const r = await admin.run(['tag', 'ls', `${server.host}/${repository}`, '-o', 'json']);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout) as { tags: string[] }).tags;
}

async function repositories(server: RunningServer): Promise<string[]> {
  const r = await ok(admin, ['repo', 'ls', server.host, '-o', 'json']);
  return (JSON.parse(r.stdout) as { repositories: string[] }).repositories;
}

async function remoteInspect(ref: string): Promise<{ digest: string; kind: string; layers?: { digest: string }[]; manifests?: { digest: string; platform?: string }[]; configDigest?: string; config?: { config?: { Labels?: Record<string, string> } } }> {
  return JSON.parse((await ok(admin, ['image', 'inspect', '--remote', ref])).stdout);
}

const oracle = makeImage('oracle-db', 3);
const redis = makeImage('redis', 2);

describe('image push from docker save tarballs', () => {
  for (const layout of ['classic', 'docker25'] as const) {
    for (const gzip of [false, true]) {
      test(`${layout} layout, ${gzip ? 'gzip' : 'plain'}: pushed with its layers; a second push uploads nothing`, async () => {
        const img = makeImage(`push-${layout}-${gzip}`, 3);
        const { file } = await saveTarball(`push-${layout}-${gzip}`, [{ image: img, repoTags: ['oracle_db:19c'] }], layout, gzip);
        const dest = `${a.host}/system/${layout}-${gzip ? 'gz' : 'plain'}:19c`;
        const r = await ok(admin, ['image', 'push', file, dest, '--json']);
        const out = JSON.parse(r.stdout) as { pushed: { reference: string; digest: string }[]; stats: { blobsUploaded: number; blobsExisting: number; manifests: number } };
        assert.equal(out.pushed.length, 1);
        assert.equal(out.pushed[0]!.reference, dest);
        assert.equal(out.stats.blobsUploaded, 4, 'three layers and the config');
        assert.equal(out.stats.manifests, 1);
        assert.equal(r.stderr, '', '--json prints no progress');

        const remote = await remoteInspect(dest);
        assert.equal(remote.digest, out.pushed[0]!.digest);
        // both layouts hold uncompressed layers: their digests are the diff IDs
        assert.deepEqual(
          remote.layers!.map((l) => l.digest),
          img.layers.map((l) => l.diffId),
        );
        assert.equal(remote.configDigest, img.configDigest);

        const again = JSON.parse((await ok(admin, ['image', 'push', file, dest, '--json'])).stdout) as { pushed: { digest: string }[]; stats: { blobsUploaded: number; blobsExisting: number } };
        assert.equal(again.stats.blobsUploaded, 0);
        assert.equal(again.stats.blobsExisting, 4);
        assert.equal(again.pushed[0]!.digest, out.pushed[0]!.digest, 'the same tarball gives the same digest');
      });
    }
  }

  test('progress: one plain line per blob when stderr is not a terminal; nothing with --quiet', async () => {
    const img = makeImage('progress', 2);
    const { file } = await saveTarball('progress', [{ image: img, repoTags: ['progress:1'] }], 'classic', false);
    let r = await ok(admin, ['image', 'push', file, `${a.host}/system/progress:1`]);
    assert.match(r.stdout, new RegExp(`^${a.host}/system/progress:1: digest: sha256:[a-f0-9]{64} size: \\d+\\n$`));
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.filter((l) => /^sha256:[a-f0-9]{12}: pushed \(/.test(l)).length, 3, r.stderr);
    assert.match(r.stderr, /3 blob\(s\) uploaded/);
    assert.doesNotMatch(r.stderr, /\x1b\[/, 'no ANSI codes without a terminal');
    r = await ok(admin, ['image', 'push', file, `${a.host}/system/progress:2`, '--quiet']);
    assert.equal(r.stderr, '');
  });

  test('a truncated tarball is refused with a clear error and nothing is pushed', async () => {
    for (const gzip of [false, true]) {
      const { bytes } = await saveTarball(`whole-${gzip}`, [{ image: makeImage(`trunc-${gzip}`, 3), repoTags: ['x:1'] }], 'docker25', gzip);
      const file = join(await workDir(), `truncated-${gzip}.tar`);
      await writeFile(file, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      const r = await admin.run(['image', 'push', file, `${a.host}/broken/truncated-${gzip}:1`]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /cannot read the image archive: .*(ends|truncated|incomplete|unexpected end)/i, show(r));
      assert.match(r.stderr, /download or save it again/, show(r));
      assert.deepEqual(await tags(a, `broken/truncated-${gzip}`), []);
    }
    assert.ok(!(await repositories(a)).some((r) => r.startsWith('broken/')));
  });

  test('a corrupt tarball (a layer whose bytes do not match, a damaged gzip stream) is refused; nothing pushed', async () => {
    const img = makeImage('corrupt', 2);
    const { bytes } = await saveTarball('corrupt-src', [{ image: img, repoTags: ['x:1'] }], 'docker25', false);
    // flip bytes inside the first layer's data (found by its content)
    const marker = Buffer.from('layer 0 of corrupt');
    const at = bytes.indexOf(marker);
    assert.ok(at > 0);
    const bad = Buffer.from(bytes);
    bad[at] = bad[at]! ^ 0xff;
    const file = join(await workDir(), 'corrupt.tar');
    await writeFile(file, bad);
    let r = await admin.run(['image', 'push', file, `${a.host}/broken/corrupt:1`]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /cannot read the image archive: .*(digest|sha256)/i, show(r));
    assert.match(r.stderr, /damaged or incomplete/, show(r));

    const gz = await saveTarball('corrupt-gz-src', [{ image: img, repoTags: ['x:1'] }], 'classic', true);
    const badGz = Buffer.from(gz.bytes);
    for (let i = 200; i < 260; i++) badGz[i] = badGz[i]! ^ 0x5a;
    const gzFile = join(await workDir(), 'corrupt.tar.gz');
    await writeFile(gzFile, badGz);
    r = await admin.run(['image', 'push', gzFile, `${a.host}/broken/corrupt-gz:1`]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /cannot read the image archive/, show(r));

    const junk = join(await workDir(), 'junk.tar');
    await writeFile(junk, 'this is not a tarball at all\n'.repeat(100));
    r = await admin.run(['image', 'push', junk, `${a.host}/broken/junk:1`]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /cannot read the image archive/, show(r));

    assert.deepEqual(await tags(a, 'broken/corrupt'), []);
    assert.deepEqual(await tags(a, 'broken/corrupt-gz'), []);
    assert.ok(!(await repositories(a)).some((x) => x.startsWith('broken/')));
  });

  test('a tarball with several images: DEST names which; an unknown name lists them; --all pushes each', async () => {
    const { file } = await saveTarball('multi-image', [
      { image: oracle, repoTags: ['oracle_db:19c'] },
      { image: redis, repoTags: ['redis:7', 'redis:latest'] },
    ], 'classic', true);
    const r = await ok(admin, ['image', 'push', file, `${a.host}/system/redis:7`, '--json']);
    const pushed = JSON.parse(r.stdout) as { pushed: { digest: string }[] };
    const remote = await remoteInspect(`${a.host}/system/redis:7`);
    assert.equal(remote.digest, pushed.pushed[0]!.digest);
    assert.equal(remote.config?.config?.Labels?.label, 'redis');

    const wrong = await admin.run(['image', 'push', file, `${a.host}/system/nginx:1`]);
    assert.equal(wrong.code, 1, show(wrong));
    assert.match(wrong.stderr, /holds 2 images and none is named like .*oracle_db:19c.*redis:7/, show(wrong));
    assert.match(wrong.stderr, /--all/);
    assert.deepEqual(await tags(a, 'system/nginx'), []);

    await ok(admin, ['image', 'push', file, `${a.host}/all`, '--all']);
    assert.deepEqual(await tags(a, 'all/oracle_db'), ['19c']);
    assert.deepEqual((await tags(a, 'all/redis')).sort(), ['7', 'latest']);
  });

  test('an OCI layout directory: its multi-arch index is pushed whole, picked by its tag', async () => {
    const dir = join(await workDir(), 'layout');
    const layout = writeOciLayout(dir, { salt: 'image-cli' });
    const r = await ok(admin, ['image', 'push', dir, `${a.host}/system/multiarch:multiarch`, '--json']);
    const out = JSON.parse(r.stdout) as { pushed: { digest: string; mediaType: string }[]; stats: { manifests: number } };
    assert.equal(out.pushed[0]!.digest, layout.multiarch.indexDigest);
    assert.equal(out.stats.manifests, 3, 'the index and both platform manifests');
    const remote = await remoteInspect(`${a.host}/system/multiarch:multiarch`);
    assert.equal(remote.kind, 'index');
    assert.deepEqual(
      remote.manifests!.map((m) => [m.digest, m.platform]),
      layout.multiarch.manifests.map((m) => [m.manifestDigest, [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/')]),
    );
    // an oci-archive tarball with a gzip-layer image
    const oa = ociArchiveEntries([{ image: oracle, refName: 'registry.example/system/oracle_db:19c' }]);
    const file = join(await workDir(), 'oci-archive.tar');
    await writeFile(file, await packTar(oa.entries));
    const r2 = JSON.parse((await ok(admin, ['image', 'push', file, `${a.host}/system/from-oci-archive:1`, '--json'])).stdout) as { pushed: { digest: string }[] };
    assert.equal(r2.pushed[0]!.digest, oa.manifests.get(oracle.label));
  });

  test('a reader may not push: a clean denial that says what to do, and nothing is tagged', async () => {
    const reader = { username: 'reader', password: 'reader has a long password' };
    const created = await admin.run(['user', 'create', reader.username, '--password-stdin', '--server', a.host], { input: reader.password });
    assert.equal(created.code, 0, show(created));
    await ok(admin, ['create', 'rolebinding', 'reader-reads', '--role=artifact-reader', `--user=${reader.username}`, '-n', 'system', '--server', a.host]);
    const { file } = await saveTarball('denied', [{ image: makeImage('denied', 2), repoTags: ['denied:1'] }], 'classic', false);
    const home = await imageHome();
    const r = await home.run(['image', 'push', file, `${a.host}/system/denied:1`, '--creds', `${reader.username}:${reader.password}`]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /^hatoba: denied: reader has no push right on system\/denied/m, show(r));
    assert.match(r.stderr, /system-artifact-management-admin/, show(r));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await tags(a, 'system/denied'), []);
    // wrong password: unauthorized, and what to check
    const bad = await home.run(['image', 'push', file, `${a.host}/system/denied:1`, '--creds', `${reader.username}:wrong password`]);
    assert.equal(bad.code, 1, show(bad));
    assert.match(bad.stderr, /unauthorized/, show(bad));
    assert.match(bad.stderr, /--creds/, show(bad));
    // no credentials at all
    const none = await home.run(['image', 'push', file, `${a.host}/system/denied:1`]);
    assert.equal(none.code, 1, show(none));
    assert.match(none.stderr, new RegExp(`hatoba login ${a.host.replace(/\./g, '\\.')}`), show(none));
  });
});

describe('the local store: load, tag, ls, inspect, rm, push of a loaded image', () => {
  test('load both layouts; tag; ls in three formats; inspect; push the loaded image; rm', async () => {
    const home = await imageHome();
    const login = await home.run(['login', a.host, '-u', ADMIN.username, '--password-stdin'], { input: ADMIN.password });
    assert.equal(login.code, 0, show(login));
    const classic = await saveTarball('load-classic', [{ image: oracle, repoTags: ['oracle_db:19c'] }], 'classic', false);
    const d25 = await saveTarball('load-d25', [{ image: redis, repoTags: ['redis:7'] }], 'docker25', true);
    let r = await ok(home, ['image', 'load', classic.file]);
    assert.equal(r.stdout, 'Loaded image: oracle_db:19c\n');
    const viaStdin = await home.run(['image', 'load', d25.file]);
    assert.equal(viaStdin.code, 0, show(viaStdin));
    assert.equal(viaStdin.stdout, 'Loaded image: redis:7\n');

    r = await ok(home, ['image', 'ls']);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    assert.match(header!, /^REPOSITORY\s+TAG\s+DIGEST\s+PLATFORM\s+SIZE\s+CREATED$/);
    assert.ok(rows.some((l) => /^oracle_db\s+19c\s+sha256:[a-f0-9]{12}\s+linux\/amd64\s/.test(l)), r.stdout);
    assert.ok(rows.some((l) => /^redis\s+7\s/.test(l)), r.stdout);

    const dest = `${a.host}/system/loaded:19c`;
    await ok(home, ['image', 'tag', 'oracle_db:19c', dest]);
    const list = JSON.parse((await ok(home, ['image', 'ls', '-o', 'json'])).stdout) as { reference: string; digest: string; size: number }[];
    const tagged = list.find((i) => i.reference === dest)!;
    assert.equal(tagged.digest, list.find((i) => i.reference === 'oracle_db:19c')!.digest);
    assert.equal(tagged.size, oracle.config.length + oracle.layers.reduce((n, l) => n + l.tar.length, 0));
    const yaml = parseYaml((await ok(home, ['image', 'ls', '-o', 'yaml'])).stdout) as { reference: string }[];
    assert.equal(yaml.length, 3);

    const local = JSON.parse((await ok(home, ['image', 'inspect', 'oracle_db:19c'])).stdout) as { digest: string; source: string; layers: { digest: string }[]; platform: string };
    assert.equal(local.source, 'local');
    assert.deepEqual(
      local.layers.map((l) => l.digest),
      oracle.layers.map((l) => l.diffId),
    );
    assert.equal(local.platform, 'linux/amd64');

    r = await ok(home, ['image', 'push', dest, dest]);
    assert.match(r.stdout, new RegExp(`digest: ${local.digest}`));
    assert.deepEqual(await tags(a, 'system/loaded'), ['19c']);

    r = await ok(home, ['image', 'rm', 'redis:7']);
    assert.equal(r.stdout, 'Untagged: redis:7\n');
    // redis's blobs are no longer used by any name: prune deletes them, and only them
    const pruned = await ok(home, ['image', 'prune', '--min-age', '0']);
    assert.match(pruned.stdout, /^Deleted [1-9]\d* blob\(s\)/);
    const still = JSON.parse((await ok(home, ['image', 'inspect', 'oracle_db:19c'])).stdout) as { digest: string };
    assert.equal(still.digest, local.digest);
    const repush = await ok(home, ['image', 'push', 'oracle_db:19c', `${a.host}/system/loaded:again`, '--json']);
    assert.equal((JSON.parse(repush.stdout) as { pushed: { digest: string }[] }).pushed[0]!.digest, local.digest);
    const missing = await home.run(['image', 'rm', 'redis:7']);
    assert.equal(missing.code, 1, show(missing));
    assert.match(missing.stderr, /no loaded image redis:7/);
    const unknown = await home.run(['image', 'push', 'nothing:here', dest]);
    assert.equal(unknown.code, 1, show(unknown));
    assert.match(unknown.stderr, /neither a file, a directory nor a loaded image/);
  });

  test('load from stdin; an OCI layout directory; a multi-image tarball', async () => {
    const home = await imageHome();
    const { bytes } = await saveTarball('stdin', [{ image: oracle, repoTags: ['stdin/oracle:1'] }], 'docker25', true);
    const { spawn } = await import('node:child_process');
    const { PROJECT_ROOT } = await import('../helpers/server.js');
    const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/hatoba.ts'), 'image', 'load', '-'], { env: { ...process.env, ...home.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stdin.end(bytes);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0);
    assert.equal(out, 'Loaded image: stdin/oracle:1\n');

    const multi = await saveTarball('load-multi', [
      { image: oracle, repoTags: ['oracle_db:19c'] },
      { image: redis, repoTags: ['redis:7'] },
    ], 'classic', false);
    const r = await ok(home, ['image', 'load', multi.file, '--json']);
    const loaded = JSON.parse(r.stdout) as { images: { names: string[] }[] };
    assert.deepEqual(loaded.images.map((i) => i.names).flat().sort(), ['oracle_db:19c', 'redis:7']);

    const dir = join(await workDir(), 'layout-load');
    writeOciLayout(dir, { salt: 'load' });
    const d = await ok(home, ['image', 'load', dir]);
    assert.match(d.stdout, /Loaded image ID: sha256:[a-f0-9]{64}\n/);
  });
});

describe('image pull and copy', () => {
  let pushedDigest: string;
  const src = () => `${a.host}/system/pullme:1`;

  before(async () => {
    const { file } = await saveTarball('pullme', [{ image: oracle, repoTags: ['pullme:1'] }], 'classic', true);
    const r = await ok(admin, ['image', 'push', file, src(), '--json']);
    pushedDigest = (JSON.parse(r.stdout) as { pushed: { digest: string }[] }).pushed[0]!.digest;
  });

  test('pull into the local store, then push that to another repository (mounted)', async () => {
    const r = await ok(admin, ['image', 'pull', src(), '--json']);
    const out = JSON.parse(r.stdout) as { digest: string; stats: { blobs: number } };
    assert.equal(out.digest, pushedDigest);
    const ls = JSON.parse((await ok(admin, ['image', 'ls', '-o', 'json'])).stdout) as { reference: string; digest: string }[];
    assert.ok(ls.some((i) => i.reference === src() && i.digest === pushedDigest));
    const push = JSON.parse((await ok(admin, ['image', 'push', src(), `${a.host}/other/pullme:1`, '--json'])).stdout) as { stats: { blobsMounted: number; blobsUploaded: number } };
    assert.equal(push.stats.blobsUploaded, 0);
    assert.equal(push.stats.blobsMounted, 4, 'the blobs are mounted from system/pullme');
  });

  test('pull -o docker-archive / oci-archive / oci: loads back with the same digests', async () => {
    const dir = await workDir();
    const tar = join(dir, 'pulled-docker.tar');
    await ok(admin, ['image', 'pull', src(), '-o', `docker-archive:${tar}`]);
    const home = await imageHome();
    let r = await ok(home, ['image', 'load', tar, '--json']);
    const back = JSON.parse(r.stdout) as { images: { names: string[] }[] };
    assert.deepEqual(back.images[0]!.names, [src()]);
    const inspect = JSON.parse((await ok(home, ['image', 'inspect', src()])).stdout) as { layers: { digest: string }[]; configDigest: string };
    assert.deepEqual(inspect.layers.map((l) => l.digest), oracle.layers.map((l) => l.diffId));
    assert.equal(inspect.configDigest, oracle.configDigest);

    const ociTar = join(dir, 'pulled.oci.tar');
    await ok(admin, ['image', 'pull', src(), '-o', `oci-archive:${ociTar}`]);
    r = await ok(admin, ['image', 'push', ociTar, `${a.host}/system/pullme:from-oci-archive`, '--json']);
    assert.equal((JSON.parse(r.stdout) as { pushed: { digest: string }[] }).pushed[0]!.digest, pushedDigest);

    const ociDir = join(dir, 'pulled-oci-dir');
    await ok(admin, ['image', 'pull', src(), '-o', `oci:${ociDir}`]);
    const index = JSON.parse(await readFile(join(ociDir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    assert.deepEqual(index.manifests.map((m) => [m.digest, m.annotations['org.opencontainers.image.ref.name']]), [[pushedDigest, '1']]);
  });

  test('pull --platform from an index; a missing platform says which there are', async () => {
    const dir = join(await workDir(), 'layout-platform');
    const layout = writeOciLayout(dir, { salt: 'platform' });
    await ok(admin, ['image', 'push', dir, `${a.host}/system/arch:multiarch`]);
    const tar = join(await workDir(), 'arm64.tar');
    const r = await ok(admin, ['image', 'pull', `${a.host}/system/arch:multiarch`, '--platform', 'linux/arm64', '-o', `docker-archive:${tar}`, '--json']);
    assert.equal((JSON.parse(r.stdout) as { digest: string }).digest, layout.multiarch.manifests[1]!.manifestDigest);
    const bad = await admin.run(['image', 'pull', `${a.host}/system/arch:multiarch`, '--platform', 'windows/amd64']);
    assert.equal(bad.code, 1, show(bad));
    assert.match(bad.stderr, /no image for windows\/amd64/);
    assert.match(bad.stderr, /linux\/amd64, linux\/arm64\/v8/);
    // a tag that does not exist
    const none = await admin.run(['image', 'pull', `${a.host}/system/arch:nope`]);
    assert.equal(none.code, 1, show(none));
    assert.match(none.stderr, /not found/);
    assert.match(none.stderr, /hatoba tag ls/);
  });

  test('copy between two registries, one tag and --all-tags; the digest stays the same', async () => {
    const r = await ok(admin, ['image', 'copy', src(), `${b.host}/mirror/pullme:1`, '--json']);
    const out = JSON.parse(r.stdout) as { copied: { digest: string }[]; stats: { blobsUploaded: number } };
    assert.equal(out.copied[0]!.digest, pushedDigest);
    assert.equal(out.stats.blobsUploaded, 4);
    const remote = await remoteInspect(`${b.host}/mirror/pullme:1`);
    assert.equal(remote.digest, pushedDigest);

    await ok(admin, ['image', 'push', (await saveTarball('tag2', [{ image: redis, repoTags: ['x:2'] }], 'classic', false)).file, `${a.host}/system/pullme:2`]);
    const all = await ok(admin, ['image', 'copy', `${a.host}/system/pullme`, `${b.host}/mirror2/pullme`, '--all-tags']);
    assert.match(all.stdout, /mirror2\/pullme:1: digest/);
    assert.deepEqual((await tags(b, 'mirror2/pullme')).sort(), (await tags(a, 'system/pullme')).sort());
    // between repositories of one registry: mounted
    const within = JSON.parse((await ok(admin, ['image', 'copy', src(), `${a.host}/copies/pullme:1`, '--json'])).stdout) as { stats: { blobsMounted: number } };
    assert.equal(within.stats.blobsMounted, 4);
  });

  test('repo ls and tag ls print tables', async () => {
    const r = await ok(admin, ['repo', 'ls', a.host]);
    assert.match(r.stdout, /^REPOSITORY\n/);
    assert.match(r.stdout, /\nsystem\/pullme\n/);
    const plain = await ok(admin, ['repo', 'ls', a.host, '--tls-verify=false', '-o', 'yaml']);
    assert.ok((parseYaml(plain.stdout) as { repositories: string[] }).repositories.includes('system/pullme'));
    const t = await ok(admin, ['tag', 'ls', `${a.host}/system/pullme`]);
    assert.match(t.stdout, /^TAG\n(.*\n)*1\n/);
  });
});
