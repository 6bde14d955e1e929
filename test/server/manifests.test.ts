// OCI Distribution Spec 1.1 — manifests, against a real `hatoba serve`.
//
//   end-3   GET/HEAD /v2/<name>/manifests/<reference>
//   end-7a  PUT      /v2/<name>/manifests/<reference>
//   end-9   DELETE   /v2/<name>/manifests/<reference>
//
// Every test uses its own repository names, so the tests share one server
// without seeing each other's content.
//
// Run: node --import tsx --test test/server/manifests.test.ts
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';

import { basicAuth, expectError, sha256, sha512, TestRegistry, type OciErrorEntry } from '../helpers/registry-client.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const DOCKER_SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** The OCI empty descriptor's content: the two bytes `{}`. */
const EMPTY_JSON = '{}';
const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const DEFAULT_MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [key: string]: unknown;
}

// ---------------------------------------------------------------- helpers

function descriptorOf(mediaType: string, content: string, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType, digest: sha256(content), size: Buffer.byteLength(content), ...extra };
}

/** A digest nobody has pushed. */
function unknownDigest(label: string): string {
  return sha256(`never pushed: ${label} ${Math.random()}`);
}

/** PUT answered 201 Created with the spec's headers. */
async function expectCreated(res: Response, name: string, digest: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, 201, `expected 201, got ${res.status}: ${text}`);
  assert.equal(res.headers.get('location'), `/v2/${name}/manifests/${digest}`);
  assert.equal(res.headers.get('docker-content-digest'), digest);
  assert.equal(text, '');
}

interface Expected {
  bytes: string;
  mediaType: string;
  digest?: string;
}

/** GET answered 200 with exactly the pushed bytes and their headers. */
async function expectManifest(res: Response, expected: Expected): Promise<void> {
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `expected 200, got ${res.status}: ${body.toString()}`);
  assert.equal(res.headers.get('content-type'), expected.mediaType);
  assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(expected.bytes)));
  assert.equal(res.headers.get('docker-content-digest'), expected.digest ?? sha256(expected.bytes));
  assert.ok(body.equals(Buffer.from(expected.bytes)), 'GET must return the exact bytes that were pushed');
}

/** HEAD answered 200 with GET's headers and no body. */
async function expectManifestHead(res: Response, expected: Expected): Promise<void> {
  const body = await res.text();
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), expected.mediaType);
  assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(expected.bytes)));
  assert.equal(res.headers.get('docker-content-digest'), expected.digest ?? sha256(expected.bytes));
  assert.equal(body, '');
}

function errorDigests(errors: OciErrorEntry[]): string[] {
  return errors.map((e) => (e.detail as { digest?: string } | undefined)?.digest ?? '<no detail.digest>').sort();
}

/**
 * A request whose path is sent byte for byte. fetch() (WHATWG URL) removes
 * dot segments such as `/../` before sending, so a registry would never see
 * them; a hostile client can send them anyway.
 */
function rawRequest(server: RunningServer, method: string, path: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.port, method, path, headers: { authorization: basicAuth(ADMIN) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * PUT with a Content-Length header of `declared` bytes, of which only
 * `firstBytes` are sent; resolves with the response the server gives
 * without waiting for the rest.
 */
function putDeclaringLength(server: RunningServer, path: string, declared: number, firstBytes: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: server.port, method: 'PUT', path, headers: { authorization: basicAuth(ADMIN), 'Content-Type': OCI_MANIFEST, 'Content-Length': String(declared) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          resolve({ status: res.statusCode!, contentType: String(res.headers['content-type'] ?? ''), body });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    req.write(firstBytes);
  });
}

// ---------------------------------------------------------------- tests

describe('manifests (OCI distribution spec 1.1)', () => {
  let server: RunningServer;
  let registry: TestRegistry;

  before(async () => {
    server = await startServer();
    registry = new TestRegistry(server.url);
  });
  after(async () => {
    await server?.dispose();
  });

  /** Pushes a config and layers to `name`; returns a ready OCI image manifest (not pushed). */
  async function imageManifest(name: string, label: string, options: { mediaType?: string | null; layers?: number } = {}) {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', label, rootfs: { type: 'layers', diff_ids: [] } });
    await registry.pushBlob(name, config);
    const layers: Descriptor[] = [];
    for (let i = 0; i < (options.layers ?? 1); i++) {
      const layer = `layer ${i} of ${name} ${label}`;
      await registry.pushBlob(name, layer);
      layers.push(descriptorOf(OCI_LAYER, layer));
    }
    const manifest: Record<string, unknown> = { schemaVersion: 2 };
    if (options.mediaType !== null) manifest.mediaType = options.mediaType ?? OCI_MANIFEST;
    manifest.config = descriptorOf(OCI_CONFIG, config);
    manifest.layers = layers;
    return manifest;
  }

  async function dockerManifest(name: string, label: string) {
    const config = JSON.stringify({ architecture: 'arm64', os: 'linux', label, rootfs: { type: 'layers', diff_ids: [] } });
    const layer = `docker layer of ${name} ${label}`;
    await registry.pushBlob(name, config);
    await registry.pushBlob(name, layer);
    return {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: descriptorOf(DOCKER_CONFIG, config),
      layers: [descriptorOf(DOCKER_LAYER, layer)],
    };
  }

  /** Pushes `manifest` under `reference`, asserts 201, returns bytes and digest. */
  async function put(name: string, reference: string, manifest: unknown, mediaType: string) {
    const bytes = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
    const digest = sha256(bytes);
    await expectCreated(await registry.putManifest(name, reference, bytes, mediaType), name, digest);
    return { bytes, digest };
  }

  async function tagsOf(name: string): Promise<string[]> {
    const res = await registry.request(`/v2/${name}/tags/list`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { tags: string[] }).tags;
  }

  // ------------------------------------------------------------ push and pull

  describe('pushing and pulling an OCI image manifest', () => {
    test('PUT by tag: 201, Location /v2/<name>/manifests/<digest>, Docker-Content-Digest', async () => {
      const name = 'oci/image';
      const manifest = await imageManifest(name, 'by-tag', { layers: 2 });
      const { bytes, digest } = await put(name, 'v1.0', manifest, OCI_MANIFEST);

      await expectManifest(await registry.request(`/v2/${name}/manifests/v1.0`), { bytes, mediaType: OCI_MANIFEST });
      await expectManifest(await registry.request(`/v2/${name}/manifests/${digest}`), { bytes, mediaType: OCI_MANIFEST });
      await expectManifestHead(await registry.request(`/v2/${name}/manifests/v1.0`, { method: 'HEAD' }), { bytes, mediaType: OCI_MANIFEST });
      await expectManifestHead(await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'HEAD' }), { bytes, mediaType: OCI_MANIFEST });
    });

    test('PUT by digest: 201, reachable by digest, no tag created', async () => {
      const name = 'oci/by-digest';
      const bytes = JSON.stringify(await imageManifest(name, 'by-digest'));
      const digest = sha256(bytes);
      await expectCreated(await registry.putManifest(name, digest, bytes, OCI_MANIFEST), name, digest);

      await expectManifest(await registry.request(`/v2/${name}/manifests/${digest}`), { bytes, mediaType: OCI_MANIFEST });
      await expectManifestHead(await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'HEAD' }), { bytes, mediaType: OCI_MANIFEST });
      assert.deepEqual(await tagsOf(name), []);
    });

    test('the exact bytes are kept: whitespace and key order are not re-serialised', async () => {
      const name = 'oci/exact-bytes';
      const manifest = await imageManifest(name, 'exact');
      const bytes = `${JSON.stringify(manifest, null, 3)}\n\n`;
      const { digest } = await put(name, 'pretty', bytes, OCI_MANIFEST);
      assert.equal(digest, sha256(bytes));
      await expectManifest(await registry.request(`/v2/${name}/manifests/pretty`), { bytes, mediaType: OCI_MANIFEST });
    });

    test('without mediaType in the body, the Content-Type of the PUT is the stored media type', async () => {
      const name = 'oci/no-media-type-field';
      const manifest = await imageManifest(name, 'bare', { mediaType: null });
      assert.equal('mediaType' in manifest, false);
      const { bytes } = await put(name, 'bare', manifest, OCI_MANIFEST);
      await expectManifest(await registry.request(`/v2/${name}/manifests/bare`), { bytes, mediaType: OCI_MANIFEST });
    });

    test('OCI image index: children pushed first by digest, then the index by tag', async () => {
      const name = 'oci/index';
      const amd64Manifest = await imageManifest(name, 'amd64');
      const amd64 = await put(name, sha256(JSON.stringify(amd64Manifest)), amd64Manifest, OCI_MANIFEST);
      const arm64Manifest = await imageManifest(name, 'arm64');
      const arm64 = await put(name, sha256(JSON.stringify(arm64Manifest)), arm64Manifest, OCI_MANIFEST);
      const index = {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: amd64.digest, size: Buffer.byteLength(amd64.bytes), platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: OCI_MANIFEST, digest: arm64.digest, size: Buffer.byteLength(arm64.bytes), platform: { architecture: 'arm64', os: 'linux' } },
        ],
        annotations: { 'org.opencontainers.image.ref.name': 'multi' },
      };
      const { bytes, digest } = await put(name, 'multi', index, OCI_INDEX);

      await expectManifest(await registry.request(`/v2/${name}/manifests/multi`), { bytes, mediaType: OCI_INDEX });
      await expectManifestHead(await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'HEAD' }), { bytes, mediaType: OCI_INDEX });
      // The children stay reachable by digest.
      await expectManifest(await registry.request(`/v2/${name}/manifests/${arm64.digest}`), { bytes: arm64.bytes, mediaType: OCI_MANIFEST });
    });

    test('Docker schema 2 manifest (application/vnd.docker.distribution.manifest.v2+json)', async () => {
      const name = 'docker/image';
      const { bytes, digest } = await put(name, 'latest', await dockerManifest(name, 'single'), DOCKER_MANIFEST);
      await expectManifest(await registry.request(`/v2/${name}/manifests/latest`), { bytes, mediaType: DOCKER_MANIFEST });
      await expectManifestHead(await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'HEAD' }), { bytes, mediaType: DOCKER_MANIFEST });
    });

    test('Docker manifest list (application/vnd.docker.distribution.manifest.list.v2+json)', async () => {
      const name = 'docker/list';
      const children = [];
      for (const arch of ['amd64', 'arm64']) {
        const child = await dockerManifest(name, arch);
        const pushed = await put(name, sha256(JSON.stringify(child)), child, DOCKER_MANIFEST);
        children.push({ mediaType: DOCKER_MANIFEST, digest: pushed.digest, size: Buffer.byteLength(pushed.bytes), platform: { architecture: arch, os: 'linux' } });
      }
      const list = { schemaVersion: 2, mediaType: DOCKER_MANIFEST_LIST, manifests: children };
      const { bytes, digest } = await put(name, 'latest', list, DOCKER_MANIFEST_LIST);
      await expectManifest(await registry.request(`/v2/${name}/manifests/latest`), { bytes, mediaType: DOCKER_MANIFEST_LIST });
      await expectManifest(await registry.request(`/v2/${name}/manifests/${digest}`), { bytes, mediaType: DOCKER_MANIFEST_LIST });
      await expectManifestHead(await registry.request(`/v2/${name}/manifests/latest`, { method: 'HEAD' }), { bytes, mediaType: DOCKER_MANIFEST_LIST });
    });

    test('OCI artifact: artifactType and the empty config application/vnd.oci.empty.v1+json', async () => {
      const name = 'oci/artifact';
      assert.equal(sha256(EMPTY_JSON), EMPTY_DIGEST, 'the empty descriptor is the two bytes {}');
      assert.equal(await registry.pushBlob(name, EMPTY_JSON), EMPTY_DIGEST);
      const payload = JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'example' });
      await registry.pushBlob(name, payload);
      const artifact = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.sbom.v1',
        config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 },
        layers: [descriptorOf('application/spdx+json', payload)],
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      };
      const { bytes, digest } = await put(name, 'sbom', artifact, OCI_MANIFEST);
      await expectManifest(await registry.request(`/v2/${name}/manifests/sbom`), { bytes, mediaType: OCI_MANIFEST });
      await expectManifestHead(await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'HEAD' }), { bytes, mediaType: OCI_MANIFEST });
    });

    test('OCI artifact with no layers at all (the empty descriptor as its only blob)', async () => {
      const name = 'oci/artifact-no-layers';
      await registry.pushBlob(name, EMPTY_JSON);
      const artifact = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.config-only.v1',
        config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 },
        layers: [{ mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 }],
      };
      const { bytes } = await put(name, 'v1', artifact, OCI_MANIFEST);
      await expectManifest(await registry.request(`/v2/${name}/manifests/v1`), { bytes, mediaType: OCI_MANIFEST });
    });

    test('PUT by a sha512 digest reference: 201 and Docker-Content-Digest sha512', async () => {
      const name = 'oci/sha512';
      const bytes = JSON.stringify(await imageManifest(name, 'sha512'));
      const digest = sha512(bytes);
      assert.match(digest, /^sha512:[a-f0-9]{128}$/);
      await expectCreated(await registry.putManifest(name, digest, bytes, OCI_MANIFEST), name, digest);
      await expectManifest(await registry.request(`/v2/${name}/manifests/${digest}`), { bytes, mediaType: OCI_MANIFEST, digest });
      await expectManifestHead(await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'HEAD' }), { bytes, mediaType: OCI_MANIFEST, digest });
    });

    test('pushing the same manifest twice is idempotent', async () => {
      const name = 'oci/idempotent';
      const manifest = await imageManifest(name, 'twice');
      const first = await put(name, 'v1', manifest, OCI_MANIFEST);
      const second = await put(name, 'v1', manifest, OCI_MANIFEST);
      assert.deepEqual(second, first);
      // and once more by digest
      await expectCreated(await registry.putManifest(name, first.digest, first.bytes, OCI_MANIFEST), name, first.digest);

      assert.deepEqual(await tagsOf(name), ['v1']);
      await expectManifest(await registry.request(`/v2/${name}/manifests/v1`), { bytes: first.bytes, mediaType: OCI_MANIFEST });
    });

    test('re-tagging: PUT of another manifest to an existing tag moves the tag', async () => {
      const name = 'oci/retag';
      const a = await put(name, 'latest', await imageManifest(name, 'A'), OCI_MANIFEST);
      const b = await put(name, 'latest', await imageManifest(name, 'B'), OCI_MANIFEST);
      assert.notEqual(a.digest, b.digest);

      await expectManifest(await registry.request(`/v2/${name}/manifests/latest`), { bytes: b.bytes, mediaType: OCI_MANIFEST });
      // The previous manifest is untagged, not gone.
      await expectManifest(await registry.request(`/v2/${name}/manifests/${a.digest}`), { bytes: a.bytes, mediaType: OCI_MANIFEST });
      assert.deepEqual(await tagsOf(name), ['latest']);
    });

    test('a tag of 128 characters (the longest the grammar allows) is accepted', async () => {
      const name = 'oci/long-tag';
      const tag = `_${'a'.repeat(126)}Z`;
      assert.equal(tag.length, 128);
      const { bytes } = await put(name, tag, await imageManifest(name, 'long'), OCI_MANIFEST);
      await expectManifest(await registry.request(`/v2/${name}/manifests/${tag}`), { bytes, mediaType: OCI_MANIFEST });
    });
  });

  // ------------------------------------------------------------ rejected pushes

  describe('manifests the registry must refuse', () => {
    test('a layer unknown to the repository: 400 MANIFEST_BLOB_UNKNOWN, one error per missing blob with detail.digest', async () => {
      const name = 'reject/unknown-layers';
      const manifest = await imageManifest(name, 'missing layers');
      const missing = [unknownDigest('layer a'), unknownDigest('layer b')];
      manifest.layers = [
        ...(manifest.layers as Descriptor[]),
        { mediaType: OCI_LAYER, digest: missing[0]!, size: 10 },
        { mediaType: OCI_LAYER, digest: missing[1]!, size: 20 },
      ];
      const errors = await expectError(await registry.putManifest(name, 'v1', manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.equal(errors.length, 2, JSON.stringify(errors));
      for (const e of errors) assert.equal(e.code, 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(errorDigests(errors), [...missing].sort());
      await expectError(await registry.request(`/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    });

    test('a config blob unknown to the repository: 400 MANIFEST_BLOB_UNKNOWN naming the config', async () => {
      const name = 'reject/unknown-config';
      const manifest = await imageManifest(name, 'missing config');
      const config = unknownDigest('config');
      manifest.config = { mediaType: OCI_CONFIG, digest: config, size: 42 };
      const errors = await expectError(await registry.putManifest(name, 'v1', manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(errorDigests(errors), [config]);
    });

    test('an index whose child manifest is unknown: 400 MANIFEST_BLOB_UNKNOWN with the child digest', async () => {
      const name = 'reject/index-unknown-child';
      const known = await put(name, 'child', await imageManifest(name, 'child'), OCI_MANIFEST);
      const missingChild = unknownDigest('child manifest');
      const index = {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: known.digest, size: Buffer.byteLength(known.bytes) },
          { mediaType: OCI_MANIFEST, digest: missingChild, size: 500 },
        ],
      };
      const errors = await expectError(await registry.putManifest(name, 'multi', index), 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(errorDigests(errors), [missingChild]);
      await expectError(await registry.request(`/v2/${name}/manifests/multi`), 404, 'MANIFEST_UNKNOWN');
    });

    test('a descriptor whose size does not match the blob: 400 MANIFEST_INVALID', async () => {
      const name = 'reject/size-mismatch';
      const manifest = await imageManifest(name, 'wrong size');
      const layer = (manifest.layers as Descriptor[])[0]!;
      manifest.layers = [{ ...layer, size: layer.size + 1 }];
      await expectError(await registry.putManifest(name, 'v1', manifest), 400, 'MANIFEST_INVALID');
      await expectError(await registry.request(`/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    });

    test('blobs of another repository are not usable by a manifest: 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const manifest = await imageManifest('tenant-a/app', 'cross repository');
      await put('tenant-a/app', 'v1', manifest, OCI_MANIFEST);
      // The same manifest in repository b, whose blobs were never pushed or mounted there.
      const errors = await expectError(await registry.putManifest('tenant-b/app', 'v1', manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
      const expected = [(manifest.config as Descriptor).digest, ...(manifest.layers as Descriptor[]).map((l) => l.digest)].sort();
      assert.deepEqual(errorDigests(errors), expected);
    });

    test('malformed JSON: 400 MANIFEST_INVALID', async () => {
      const name = 'reject/malformed';
      await registry.pushBlob(name, 'anything');
      await expectError(await registry.putManifest(name, 'v1', '{"schemaVersion": 2, "mediaType": ', OCI_MANIFEST), 400, 'MANIFEST_INVALID');
      await expectError(await registry.putManifest(name, 'v1', '', OCI_MANIFEST), 400, 'MANIFEST_INVALID');
      await expectError(await registry.putManifest(name, 'v1', '[]', OCI_MANIFEST), 400, 'MANIFEST_INVALID');
      await expectError(await registry.request(`/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    });

    test('schemaVersion 1: 400 MANIFEST_INVALID', async () => {
      const name = 'reject/schema-version-1';
      const manifest = await imageManifest(name, 'v1 schema');
      manifest.schemaVersion = 1;
      await expectError(await registry.putManifest(name, 'v1', manifest), 400, 'MANIFEST_INVALID');
    });

    test('a Docker schema 1 manifest (…manifest.v1+prettyjws): 400 MANIFEST_INVALID', async () => {
      const name = 'reject/schema1';
      await registry.pushBlob(name, 'anything');
      const schema1 = {
        schemaVersion: 1,
        name,
        tag: 'v1',
        architecture: 'amd64',
        fsLayers: [{ blobSum: sha256('anything') }],
        history: [{ v1Compatibility: '{"id":"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5"}' }],
        signatures: [{ header: { alg: 'ES256' }, signature: 'c2ln', protected: 'cHJvdA' }],
      };
      await expectError(await registry.putManifest(name, 'v1', schema1, DOCKER_SCHEMA1_SIGNED), 400, 'MANIFEST_INVALID');
      await expectError(
        await registry.putManifest(name, 'v1', { ...schema1, mediaType: 'application/vnd.docker.distribution.manifest.v1+json' }, 'application/vnd.docker.distribution.manifest.v1+json'),
        400,
        'MANIFEST_INVALID',
      );
    });

    test('mediaType in the body differs from the Content-Type: 400 MANIFEST_INVALID', async () => {
      const name = 'reject/media-type-mismatch';
      const manifest = await imageManifest(name, 'mismatch');
      assert.equal(manifest.mediaType, OCI_MANIFEST);
      await expectError(await registry.putManifest(name, 'v1', manifest, DOCKER_MANIFEST), 400, 'MANIFEST_INVALID');
      await expectError(await registry.request(`/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    });

    test('PUT by digest whose bytes have another digest: 400 DIGEST_INVALID', async () => {
      const name = 'reject/digest-mismatch';
      const bytes = JSON.stringify(await imageManifest(name, 'digest mismatch'));
      const wrong = sha256(`${bytes} `);
      await expectError(await registry.putManifest(name, wrong, bytes, OCI_MANIFEST), 400, 'DIGEST_INVALID');
      await expectError(await registry.request(`/v2/${name}/manifests/${wrong}`), 404, 'MANIFEST_UNKNOWN');
      await expectError(await registry.request(`/v2/${name}/manifests/${sha256(bytes)}`), 404, 'MANIFEST_UNKNOWN');
    });

    test('a manifest declared over the default 4 MiB limit: 413 MANIFEST_INVALID naming the limit', async () => {
      // Content-Length says 4 MiB + 1; the registry answers without waiting
      // for the body (the client has sent only its first bytes).
      const name = 'reject/oversized';
      await registry.pushBlob(name, 'anything');
      const res = await putDeclaringLength(server, `/v2/${name}/manifests/huge`, DEFAULT_MANIFEST_MAX_BYTES + 1, '{"schemaVersion":2,');
      assert.equal(res.status, 413, res.body);
      assert.match(res.contentType, /^application\/json/);
      const errors = (JSON.parse(res.body) as { errors: OciErrorEntry[] }).errors;
      assert.equal(errors[0]!.code, 'MANIFEST_INVALID');
      assert.match(errors[0]!.message, new RegExp(`\\b${DEFAULT_MANIFEST_MAX_BYTES}\\b`));
      await expectError(await registry.request(`/v2/${name}/manifests/huge`), 404, 'MANIFEST_UNKNOWN');
    });

    test('a client that sends a whole 4 MiB + 1 manifest receives the 413, every time (not a connection reset)', async () => {
      // What docker/containerd/fetch do: send the entire body, then read the
      // answer. The 413 must reach them; a reset while they are still
      // writing loses it. 50 attempts, so an intermittent loss shows.
      const name = 'reject/oversized-full-body';
      await registry.pushBlob(name, 'anything');
      const bytes = 'x'.repeat(DEFAULT_MANIFEST_MAX_BYTES + 1);
      const outcomes: Record<string, number> = {};
      for (let attempt = 0; attempt < 50; attempt++) {
        let outcome: string;
        try {
          const res = await registry.putManifest(name, 'huge', bytes, OCI_MANIFEST);
          const text = await res.text();
          outcome = `${res.status} ${(JSON.parse(text) as { errors: OciErrorEntry[] }).errors[0]!.code}`;
        } catch (err) {
          const cause = (err as { cause?: { code?: string; message?: string } }).cause;
          outcome = `fetch failed: ${cause?.code ?? cause?.message ?? String(err)}`;
        }
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
      assert.deepEqual(outcomes, { '413 MANIFEST_INVALID': 50 });
    });
  });

  describe('with HATOBA_MANIFEST_MAX_BYTES=1000', () => {
    let small: RunningServer;
    let smallRegistry: TestRegistry;

    before(async () => {
      small = await startServer({ env: { HATOBA_MANIFEST_MAX_BYTES: '1000' } });
      smallRegistry = new TestRegistry(small.url);
    });
    after(async () => {
      await small?.dispose();
    });

    /** A valid manifest of exactly `size` bytes (padded through an annotation). */
    async function manifestOfSize(name: string, size: number): Promise<string> {
      const config = '{"architecture":"amd64","os":"linux"}';
      await smallRegistry.pushBlob(name, config);
      const make = (pad: string) =>
        JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptorOf(OCI_CONFIG, config), layers: [], annotations: { pad } });
      const bytes = make('x'.repeat(size - Buffer.byteLength(make(''))));
      assert.equal(Buffer.byteLength(bytes), size);
      return bytes;
    }

    test('a 1001-byte manifest: 413 MANIFEST_INVALID with a message naming the limit', async () => {
      const name = 'limits/over';
      const bytes = await manifestOfSize(name, 1001);
      const errors = await expectError(await smallRegistry.putManifest(name, 'v1', bytes, OCI_MANIFEST), 413, 'MANIFEST_INVALID');
      assert.match(errors[0]!.message, /\b1000\b/);
      await expectError(await smallRegistry.request(`/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    });

    test('a 1000-byte manifest is exactly at the limit and accepted', async () => {
      const name = 'limits/at';
      const bytes = await manifestOfSize(name, 1000);
      const res = await smallRegistry.putManifest(name, 'v1', bytes, OCI_MANIFEST);
      await expectCreated(res, name, sha256(bytes));
    });
  });

  // ------------------------------------------------------------ unknown and invalid references

  describe('unknown and invalid references', () => {
    test('GET/HEAD of an unknown tag or digest in a known repository: 404 MANIFEST_UNKNOWN', async () => {
      const name = 'unknown/refs';
      await put(name, 'exists', await imageManifest(name, 'exists'), OCI_MANIFEST);
      await expectError(await registry.request(`/v2/${name}/manifests/missing`), 404, 'MANIFEST_UNKNOWN');
      await expectError(await registry.request(`/v2/${name}/manifests/${unknownDigest('manifest')}`), 404, 'MANIFEST_UNKNOWN');
      const head = await registry.request(`/v2/${name}/manifests/missing`, { method: 'HEAD' });
      assert.equal(head.status, 404);
      assert.equal(await head.text(), '');
    });

    test('a repository the registry has never seen: 404 NAME_UNKNOWN', async () => {
      await expectError(await registry.request('/v2/never/pushed/manifests/latest'), 404, 'NAME_UNKNOWN');
      await expectError(await registry.request(`/v2/never/pushed/manifests/${unknownDigest('x')}`), 404, 'NAME_UNKNOWN');
      await expectError(await registry.request('/v2/never/pushed/manifests/latest', { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
      const head = await registry.request('/v2/never/pushed/manifests/latest', { method: 'HEAD' });
      assert.equal(head.status, 404);
    });

    const invalidNames: [string, string][] = [
      ['upper case', 'Library/Alpine'],
      ['an empty component (a//b)', 'a//b'],
      ['a trailing slash', 'library/'],
      ['a leading separator', '-alpine'],
      ['256 characters', `${'a'.repeat(120)}/${'b'.repeat(135)}`],
    ];
    for (const [what, name] of invalidNames) {
      test(`repository name with ${what}: 400 NAME_INVALID on GET, HEAD and PUT`, async () => {
        if (what === '256 characters') assert.equal(name.length, 256);
        await expectError(await registry.request(`/v2/${name}/manifests/latest`), 400, 'NAME_INVALID');
        assert.equal((await registry.request(`/v2/${name}/manifests/latest`, { method: 'HEAD' })).status, 400);
        const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 }, layers: [] };
        await expectError(await registry.putManifest(name, 'latest', manifest), 400, 'NAME_INVALID');
      });
    }

    test('repository name with a `..` component (sent verbatim): 400 NAME_INVALID', async () => {
      for (const path of ['/v2/../manifests/latest', '/v2/library/../etc/manifests/latest', '/v2/library/%2e%2e/etc/manifests/latest']) {
        for (const method of ['GET', 'PUT', 'DELETE']) {
          const res = await rawRequest(server, method, path);
          assert.equal(res.status, 400, `${method} ${path}: ${res.status} ${res.body}`);
          assert.match(res.contentType, /^application\/json/);
          assert.equal((JSON.parse(res.body) as { errors: OciErrorEntry[] }).errors[0]!.code, 'NAME_INVALID', `${method} ${path}: ${res.body}`);
        }
      }
    });

    test('a repository name of 255 characters is valid (404 NAME_UNKNOWN, not NAME_INVALID)', async () => {
      const name = `${'a'.repeat(120)}/${'b'.repeat(134)}`;
      assert.equal(name.length, 255);
      await expectError(await registry.request(`/v2/${name}/manifests/latest`), 404, 'NAME_UNKNOWN');
    });

    const invalidTags: [string, string][] = [
      ['a leading dot', '.hidden'],
      ['a leading dash', '-rc1'],
      ['129 characters', 'a'.repeat(129)],
      ['a space', 'with%20space'],
      ['a plus sign', 'v1%2Bbuild'],
    ];
    for (const [what, tag] of invalidTags) {
      test(`tag with ${what}: 400 MANIFEST_INVALID on PUT, 404 MANIFEST_UNKNOWN on GET`, async () => {
        const name = 'invalid/tags';
        const manifest = await imageManifest(name, `tag ${what}`);
        await expectError(await registry.putManifest(name, tag, manifest), 400, 'MANIFEST_INVALID');
        await expectError(await registry.request(`/v2/${name}/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN');
      });
    }
  });

  // ------------------------------------------------------------ deletion

  describe('deleting', () => {
    test('DELETE /manifests/<tag>: 202, removes only that tag', async () => {
      const name = 'delete/tag';
      const { bytes, digest } = await put(name, 'v1', await imageManifest(name, 'shared'), OCI_MANIFEST);
      await put(name, 'stable', bytes, OCI_MANIFEST);
      assert.deepEqual(await tagsOf(name), ['stable', 'v1']);

      const res = await registry.request(`/v2/${name}/manifests/v1`, { method: 'DELETE' });
      assert.equal(res.status, 202, await res.clone().text());
      assert.equal(await res.text(), '');

      await expectError(await registry.request(`/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
      await expectManifest(await registry.request(`/v2/${name}/manifests/stable`), { bytes, mediaType: OCI_MANIFEST });
      await expectManifest(await registry.request(`/v2/${name}/manifests/${digest}`), { bytes, mediaType: OCI_MANIFEST });
      assert.deepEqual(await tagsOf(name), ['stable']);

      // The tag is gone: deleting it again is 404.
      await expectError(await registry.request(`/v2/${name}/manifests/v1`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    test('DELETE /manifests/<digest>: 202, removes the manifest and every tag pointing to it', async () => {
      const name = 'delete/digest';
      const { bytes, digest } = await put(name, 'v1', await imageManifest(name, 'doomed'), OCI_MANIFEST);
      await put(name, 'latest', bytes, OCI_MANIFEST);
      const other = await put(name, 'other', await imageManifest(name, 'survivor'), OCI_MANIFEST);

      const res = await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
      assert.equal(res.status, 202, await res.clone().text());
      assert.equal(await res.text(), '');

      await expectError(await registry.request(`/v2/${name}/manifests/${digest}`), 404, 'MANIFEST_UNKNOWN');
      assert.equal((await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'HEAD' })).status, 404);
      await expectError(await registry.request(`/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
      await expectError(await registry.request(`/v2/${name}/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
      assert.deepEqual(await tagsOf(name), ['other']);
      await expectManifest(await registry.request(`/v2/${name}/manifests/other`), { bytes: other.bytes, mediaType: OCI_MANIFEST });

      // Already deleted: 404.
      await expectError(await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    test('a deleted manifest can be pushed again', async () => {
      const name = 'delete/repush';
      const manifest = await imageManifest(name, 'again');
      const { bytes, digest } = await put(name, 'v1', manifest, OCI_MANIFEST);
      assert.equal((await registry.request(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' })).status, 202);
      await put(name, 'v1', manifest, OCI_MANIFEST);
      await expectManifest(await registry.request(`/v2/${name}/manifests/v1`), { bytes, mediaType: OCI_MANIFEST });
    });
  });
});
