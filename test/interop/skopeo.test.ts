// Interop: the real Debian `skopeo` binary against a real `hatoba serve`.
//
// Every test starts its own server (fresh port, fresh data dir), uses fresh
// repository names, and writes its images with a per-test salt, so skopeo's
// machine-wide blob-info cache (/var/lib/containers/cache as root) can
// neither make a test pass nor make it fail by accident.
//
// Run: node --import tsx --test test/interop/skopeo.test.ts
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';

import { findRef, sha256Digest, writeOciLayout, type LayoutIndexJson, type WrittenImage, type WrittenLayout } from '../helpers/oci-layout.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const execFileAsync = promisify(execFile);

const SKOPEO_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 600_000;

const { path: SKOPEO, skip } = requireTool('skopeo', 'apt-get install -y skopeo', 'the skopeo interop tests');

// ---------------------------------------------------------------------------
// running skopeo

interface SkopeoResult {
  stdout: Buffer;
  stderr: string;
}

interface SkopeoFailure {
  code: number | string | null;
  stdout: string;
  stderr: string;
}

function commandLine(args: string[]): string {
  return ['skopeo', ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs skopeo; on a non-zero exit, throws with the command line and skopeo's stderr. */
// skopeo signs in through an auth file (as after `skopeo login`), one entry
// per test server, and so goes through the token flow.
const AUTH_FILE = join(tmpdir(), `hatoba-skopeo-auth-${process.pid}.json`);
const authEntries: Record<string, { auth: string }> = {};
function allowSkopeo(host: string): void {
  authEntries[host] = { auth: Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64') };
  writeFileSync(AUTH_FILE, JSON.stringify({ auths: authEntries }), { mode: 0o600 });
}
const SKOPEO_ENV = { ...process.env, REGISTRY_AUTH_FILE: AUTH_FILE };

async function skopeo(args: string[]): Promise<SkopeoResult> {
  // --insecure-policy: signature policy is not what these tests are about, and
  // it keeps them independent of /etc/containers/policy.json.
  const fullArgs = ['--insecure-policy', ...args];
  try {
    const { stdout, stderr } = await execFileAsync(SKOPEO!, fullArgs, {
      encoding: 'buffer',
      env: SKOPEO_ENV,
      timeout: SKOPEO_TIMEOUT_MS,
      maxBuffer: 256 * 1024 * 1024,
    });
    return { stdout, stderr: stderr.toString('utf8') };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: Buffer; stderr?: Buffer; killed?: boolean; signal?: string };
    const how = e.killed ? `was killed after ${SKOPEO_TIMEOUT_MS} ms (${e.signal})` : `exited with ${e.code}`;
    throw new Error(`\`${commandLine(fullArgs)}\` ${how}\n--- stderr ---\n${tail(e.stderr?.toString('utf8') ?? '')}\n--- stdout ---\n${tail(e.stdout?.toString('utf8') ?? '')}`, { cause: err });
  }
}

/** Runs skopeo and expects it to fail; returns its output. */
async function skopeoFails(args: string[]): Promise<SkopeoFailure> {
  const fullArgs = ['--insecure-policy', ...args];
  try {
    const { stdout, stderr } = await execFileAsync(SKOPEO!, fullArgs, { encoding: 'buffer', env: SKOPEO_ENV, timeout: SKOPEO_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 });
    assert.fail(`\`${commandLine(fullArgs)}\` was expected to fail but exited 0\n--- stdout ---\n${tail(stdout.toString('utf8'))}\n--- stderr ---\n${tail(stderr.toString('utf8'))}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    const e = err as NodeJS.ErrnoException & { stdout?: Buffer; stderr?: Buffer; killed?: boolean };
    if (e.killed) throw new Error(`\`${commandLine(fullArgs)}\` timed out after ${SKOPEO_TIMEOUT_MS} ms`, { cause: err });
    return { code: e.code ?? null, stdout: e.stdout?.toString('utf8') ?? '', stderr: e.stderr?.toString('utf8') ?? '' };
  }
}

/** Keeps assertion messages readable when skopeo ran with --debug. */
function tail(text: string, max = 8000): string {
  return text.length <= max ? text : `...(${text.length - max} characters cut)...\n${text.slice(-max)}`;
}

interface InspectOutput {
  Name?: string;
  Digest: string;
  RepoTags?: string[];
  Architecture: string;
  Os: string;
  Variant?: string;
  Layers: string[];
  Labels?: Record<string, string> | null;
}

interface ListTagsOutput {
  Repository: string;
  Tags: string[];
}

async function inspect(ref: string, extra: string[] = []): Promise<InspectOutput> {
  const { stdout } = await skopeo(['inspect', '--tls-verify=false', ...extra, ref]);
  return JSON.parse(stdout.toString('utf8')) as InspectOutput;
}

async function inspectRaw(ref: string, extra: string[] = []): Promise<Buffer> {
  return (await skopeo(['inspect', '--tls-verify=false', '--raw', ...extra, ref])).stdout;
}

async function listTags(ref: string): Promise<ListTagsOutput> {
  const { stdout } = await skopeo(['list-tags', '--tls-verify=false', ref]);
  return JSON.parse(stdout.toString('utf8')) as ListTagsOutput;
}

// ---------------------------------------------------------------------------
// fixtures

interface Fixture {
  server: RunningServer;
  /** fresh per test: used in repository names and as the layout salt */
  id: string;
  layout: WrittenLayout;
  layoutDir: string;
  /** makes a fresh, empty directory under the test's temp dir */
  tempDir(name: string): string;
  /** docker://HOST/REPO:TAG or docker://HOST/REPO@DIGEST */
  docker(repoAndRef: string): string;
  /** a fresh repository name: interop/<name>-<id> */
  repo(name: string): string;
}

async function withFixture(t: TestContext, body: (f: Fixture) => Promise<void>): Promise<void> {
  const id = randomBytes(4).toString('hex');
  const root = await mkdtemp(join(tmpdir(), `hatoba-skopeo-${id}-`));
  const layoutDir = join(root, 'layout');
  const layout = writeOciLayout(layoutDir, { salt: `skopeo-interop-${id}` });
  let server: RunningServer | undefined;
  try {
    server = await startServer();
    allowSkopeo(server.host);
    const host = server.host;
    const fixture: Fixture = {
      server,
      id,
      layout,
      layoutDir,
      tempDir: (name) => join(root, name),
      docker: (repoAndRef) => `docker://${host}/${repoAndRef}`,
      repo: (name) => `interop/${name}-${id}`,
    };
    await body(fixture);
  } catch (err) {
    t.diagnostic(`test id ${id}; temp dir ${root}; server ${server?.url ?? '(not started)'} data dir ${server?.dataDir ?? '-'}`);
    throw err;
  } finally {
    await server?.dispose();
    if (!process.env.HATOBA_TEST_KEEP) await rm(root, { recursive: true, force: true });
  }
}

function readLayoutIndex(dir: string): LayoutIndexJson {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as LayoutIndexJson;
}

function readLayoutBlob(dir: string, digest: string): Buffer {
  const [algorithm, hex] = digest.split(':');
  return readFileSync(join(dir, 'blobs', algorithm!, hex!));
}

/** Asserts that an oci: layout written by skopeo holds exactly the image's manifest, config and layers. */
function assertImageInLayout(dir: string, image: WrittenImage, label: string): void {
  const manifest = readLayoutBlob(dir, image.manifestDigest);
  assert.ok(manifest.equals(image.manifestBytes), `${label}: manifest bytes in the copied-out layout differ from the pushed ones`);
  const config = readLayoutBlob(dir, image.configDigest);
  assert.ok(config.equals(image.configBytes), `${label}: config bytes differ`);
  for (const layer of image.layers) {
    const bytes = readLayoutBlob(dir, layer.digest);
    assert.equal(sha256Digest(bytes), layer.digest, `${label}: layer ${layer.digest} content does not match its digest`);
    assert.equal(bytes.length, layer.size, `${label}: layer ${layer.digest} size`);
  }
}

function assertInspectMatches(out: InspectOutput, image: WrittenImage, expectedDigest: string, label: string): void {
  assert.equal(out.Digest, expectedDigest, `${label}: Digest`);
  assert.deepEqual(out.Layers, image.layers.map((l) => l.digest), `${label}: Layers`);
  assert.equal(out.Architecture, image.platform.architecture, `${label}: Architecture`);
  assert.equal(out.Os, image.platform.os, `${label}: Os`);
}

const testOptions = { skip, timeout: TEST_TIMEOUT_MS };

// ---------------------------------------------------------------------------
// tests

test('skopeo copy oci: -> docker:// of a multi-layer image; inspect and inspect --raw return exactly what was pushed', testOptions, async (t) => {
  await withFixture(t, async (f) => {
    const { multi } = f.layout;
    const repo = f.repo('multi');
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${f.layoutDir}:multi`, f.docker(`${repo}:v1`)]);

    const info = await inspect(f.docker(`${repo}:v1`));
    assertInspectMatches(info, multi, multi.manifestDigest, 'inspect by tag');
    assert.equal(info.Labels?.['org.example.hatoba.test'], 'multi', 'inspect: config labels');

    const raw = await inspectRaw(f.docker(`${repo}:v1`));
    assert.equal(sha256Digest(raw), multi.manifestDigest, 'inspect --raw: the registry must return the exact manifest bytes that were pushed');
    assert.ok(raw.equals(multi.manifestBytes), 'inspect --raw: manifest bytes differ');

    const rawByDigest = await inspectRaw(f.docker(`${repo}@${multi.manifestDigest}`));
    assert.ok(rawByDigest.equals(multi.manifestBytes), 'inspect --raw by digest: manifest bytes differ');

    const config = await inspectRaw(f.docker(`${repo}:v1`), ['--config']);
    assert.ok(config.equals(multi.configBytes), 'inspect --raw --config: config blob bytes differ');

    const tags = await listTags(f.docker(repo));
    assert.deepEqual(tags.Tags, ['v1'], 'list-tags');
  });
});

test('skopeo copy --all of a multi-arch OCI index; inspect --raw gives the index; list-tags lists both tags', testOptions, async (t) => {
  await withFixture(t, async (f) => {
    const { multiarch } = f.layout;
    const [amd64, arm64] = multiarch.manifests as [WrittenImage, WrittenImage];
    const repo = f.repo('multiarch');
    await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${f.layoutDir}:multiarch`, f.docker(`${repo}:v1`)]);

    const raw = await inspectRaw(f.docker(`${repo}:v1`));
    assert.equal(sha256Digest(raw), multiarch.indexDigest, 'inspect --raw: index digest');
    assert.ok(raw.equals(multiarch.indexBytes), 'inspect --raw: index bytes differ');
    const index = JSON.parse(raw.toString('utf8')) as { mediaType: string; manifests: { digest: string; platform: { architecture: string } }[] };
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');

    for (const image of [amd64, arm64]) {
      const label = `${image.platform.os}/${image.platform.architecture}`;
      const manifest = await inspectRaw(f.docker(`${repo}@${image.manifestDigest}`));
      assert.ok(manifest.equals(image.manifestBytes), `${label}: platform manifest bytes by digest differ`);
      // Without --raw, skopeo resolves the index to the platform it is asked for;
      // Digest stays the digest of what the tag points to (the index).
      const info = await inspect(f.docker(`${repo}:v1`), ['--override-os', image.platform.os, '--override-arch', image.platform.architecture, ...(image.platform.variant ? ['--override-variant', image.platform.variant] : [])]);
      assertInspectMatches(info, image, multiarch.indexDigest, `inspect --override-arch ${image.platform.architecture}`);
    }

    // a second tag for the same index
    await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${f.layoutDir}:multiarch`, f.docker(`${repo}:latest`)]);
    const rawLatest = await inspectRaw(f.docker(`${repo}:latest`));
    assert.ok(rawLatest.equals(multiarch.indexBytes), 'second tag: index bytes differ');
    const tags = await listTags(f.docker(repo));
    assert.deepEqual([...tags.Tags].sort(), ['latest', 'v1'], 'list-tags after pushing a second tag');
  });
});

test('copying back out of the registry to a fresh oci: layout gives identical manifest, index and layer digests', testOptions, async (t) => {
  await withFixture(t, async (f) => {
    const { multi, multiarch } = f.layout;
    const repoMulti = f.repo('roundtrip-multi');
    const repoArch = f.repo('roundtrip-multiarch');
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${f.layoutDir}:multi`, f.docker(`${repoMulti}:v1`)]);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${f.layoutDir}:multiarch`, f.docker(`${repoArch}:v1`)]);

    const out = f.tempDir('out');
    await skopeo(['copy', '--src-tls-verify=false', f.docker(`${repoMulti}:v1`), `oci:${out}:multi`]);
    await skopeo(['copy', '--all', '--src-tls-verify=false', f.docker(`${repoArch}:v1`), `oci:${out}:multiarch`]);

    const index = readLayoutIndex(out);
    assert.equal(findRef(index, 'multi')?.digest, multi.manifestDigest, 'copied-out multi: manifest digest');
    assert.equal(findRef(index, 'multiarch')?.digest, multiarch.indexDigest, 'copied-out multiarch: index digest');
    assertImageInLayout(out, multi, 'multi');
    assert.ok(readLayoutBlob(out, multiarch.indexDigest).equals(multiarch.indexBytes), 'multiarch: index bytes differ');
    for (const image of multiarch.manifests) assertImageInLayout(out, image, `multiarch ${image.platform.architecture}`);
  });
});

test('skopeo copy docker:// -> docker:// between two repositories of the same registry mounts the blobs', testOptions, async (t) => {
  await withFixture(t, async (f) => {
    const { multi, multiarch } = f.layout;
    const src = f.repo('mount-src');
    const dst = f.repo('mount-dst');
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${f.layoutDir}:multi`, f.docker(`${src}:v1`)]);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${f.layoutDir}:multiarch`, f.docker(`${src}:arch`)]);

    const single = await skopeo(['--debug', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', f.docker(`${src}:v1`), f.docker(`${dst}:v1`)]);
    const all = await skopeo(['--debug', 'copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', f.docker(`${src}:arch`), f.docker(`${dst}:arch`)]);

    // skopeo knows (blob-info cache) that the layers live in `src` on this
    // registry, so it asks for a cross-repository mount
    // (POST /v2/<dst>/blobs/uploads/?from=<src>&mount=<digest>) instead of
    // uploading them again. The registry must answer 201 Created; a 202
    // (an upload session instead) makes skopeo log "started an upload
    // instead of mounting" and fall back to a full upload.
    for (const [log, images] of [[single.stderr, [multi]], [all.stderr, multiarch.manifests]] as const) {
      for (const image of images) {
        for (const layer of image.layers) {
          // c/image logs the mount URL with the digest URL-encoded (sha256%3A<hex>)
          const encoded = encodeURIComponent(layer.digest);
          assert.ok(log.includes(`Trying to mount /v2/${dst}/blobs/uploads/?from=${encodeURIComponent(src)}&mount=${encoded}`), `skopeo did not try to mount ${layer.digest} from ${src}; debug log:\n${tail(log)}`);
        }
      }
      assert.doesNotMatch(log, /started an upload instead of mounting|Error mounting/, `a cross-repository mount was not honoured; debug log:\n${tail(log)}`);
      const attempts = log.match(/Trying to mount /g)?.length ?? 0;
      const succeeded = log.match(/\.\.\. mount OK/g)?.length ?? 0;
      assert.equal(succeeded, attempts, `every mount attempt should end in "... mount OK" (201 Created); debug log:\n${tail(log)}`);
    }

    assert.ok((await inspectRaw(f.docker(`${dst}:v1`))).equals(multi.manifestBytes), 'dst:v1 manifest bytes differ');
    assert.ok((await inspectRaw(f.docker(`${dst}:arch`))).equals(multiarch.indexBytes), 'dst:arch index bytes differ');

    // the mounted blobs are readable through the destination repository
    const out = f.tempDir('out');
    await skopeo(['copy', '--src-tls-verify=false', f.docker(`${dst}:v1`), `oci:${out}:multi`]);
    await skopeo(['copy', '--all', '--src-tls-verify=false', f.docker(`${dst}:arch`), `oci:${out}:multiarch`]);
    const index = readLayoutIndex(out);
    assert.equal(findRef(index, 'multi')?.digest, multi.manifestDigest);
    assert.equal(findRef(index, 'multiarch')?.digest, multiarch.indexDigest);
    assertImageInLayout(out, multi, 'dst multi');
    for (const image of multiarch.manifests) assertImageInLayout(out, image, `dst multiarch ${image.platform.architecture}`);
  });
});

test('skopeo delete of a tag removes that manifest and leaves another tag of the repository intact', testOptions, async (t) => {
  await withFixture(t, async (f) => {
    // v1 -> multi, v2 -> multi2: different manifests that share their first two layers
    const { multi, multi2 } = f.layout;
    assert.notEqual(multi.manifestDigest, multi2.manifestDigest);
    assert.equal(multi.layers[0]!.digest, multi2.layers[0]!.digest);
    const repo = f.repo('multi');
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${f.layoutDir}:multi`, f.docker(`${repo}:v1`)]);
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${f.layoutDir}:multi2`, f.docker(`${repo}:v2`)]);
    assert.deepEqual([...(await listTags(f.docker(repo))).Tags].sort(), ['v1', 'v2'], 'list-tags before delete');
    assertInspectMatches(await inspect(f.docker(`${repo}:v2`)), multi2, multi2.manifestDigest, 'inspect v2 before delete');

    await skopeo(['delete', '--tls-verify=false', f.docker(`${repo}:v2`)]);

    assert.deepEqual((await listTags(f.docker(repo))).Tags, ['v1'], 'list-tags after deleting v2');
    const byTag = await skopeoFails(['inspect', '--tls-verify=false', f.docker(`${repo}:v2`)]);
    assert.match(byTag.stderr, /manifest unknown|not found/i, `inspect of the deleted tag should fail with "manifest unknown"; stderr:\n${byTag.stderr}`);
    const byDigest = await skopeoFails(['inspect', '--tls-verify=false', '--raw', f.docker(`${repo}@${multi2.manifestDigest}`)]);
    assert.match(byDigest.stderr, /manifest unknown|not found/i, `inspect of the deleted manifest by digest should fail; stderr:\n${byDigest.stderr}`);
    const again = await skopeoFails(['delete', '--tls-verify=false', f.docker(`${repo}:v2`)]);
    assert.match(again.stderr, /manifest unknown|not found|may not exist/i, `deleting the deleted tag again should fail; stderr:\n${again.stderr}`);

    // v1 is unaffected, including the layers it shared with the deleted manifest
    assertInspectMatches(await inspect(f.docker(`${repo}:v1`)), multi, multi.manifestDigest, 'inspect v1 after delete');
    assert.ok((await inspectRaw(f.docker(`${repo}:v1`))).equals(multi.manifestBytes), 'v1 manifest bytes after delete');
    const out = f.tempDir('out');
    await skopeo(['copy', '--src-tls-verify=false', f.docker(`${repo}:v1`), `oci:${out}:multi`]);
    assert.equal(findRef(readLayoutIndex(out), 'multi')?.digest, multi.manifestDigest);
    assertImageInLayout(out, multi, 'v1 after delete');
  });
});
