// OCI Distribution Spec 1.1 — the referrers API, against a real `hatoba serve`.
//
//   end-7a  PUT /v2/<name>/manifests/<reference> with a `subject`  -> OCI-Subject
//   end-12a GET /v2/<name>/referrers/<digest>
//   end-12b GET /v2/<name>/referrers/<digest>?artifactType=<artifactType>
//
// Run: node --import tsx --test test/server/referrers.test.ts
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { expectError, sha256, TestRegistry } from '../helpers/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const EMPTY_JSON = '{}';
const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

const SIGNATURE_TYPE = 'application/vnd.example.signature.v1+json';
const SBOM_CONFIG_TYPE = 'application/vnd.example.sbom.config.v1+json';
const BUNDLE_TYPE = 'application/vnd.example.bundle.v1';
const ATTESTATION_TYPE = 'application/vnd.example.attestation.v1';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

function descriptorOf(mediaType: string, content: string): Descriptor {
  return { mediaType, digest: sha256(content), size: Buffer.byteLength(content) };
}

const byDigest = (a: Descriptor, b: Descriptor) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);

describe('referrers API (OCI distribution spec 1.1)', () => {
  let server: RunningServer;
  let registry: TestRegistry;

  before(async () => {
    server = await startServer();
    registry = new TestRegistry(server.url);
  });
  after(async () => {
    await server?.dispose();
  });

  /** Pushes a manifest; asserts 201 with Location, Docker-Content-Digest and (exactly when it has one) OCI-Subject. */
  async function put(name: string, reference: string | undefined, manifest: Record<string, unknown>) {
    const bytes = JSON.stringify(manifest);
    const digest = sha256(bytes);
    const mediaType = String(manifest.mediaType);
    const res = await registry.putManifest(name, reference ?? digest, bytes, mediaType);
    const text = await res.text();
    assert.equal(res.status, 201, `PUT ${name}: ${res.status} ${text}`);
    assert.equal(res.headers.get('location'), `/v2/${name}/manifests/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const subject = manifest.subject as Descriptor | undefined;
    assert.equal(res.headers.get('oci-subject'), subject ? subject.digest : null, 'OCI-Subject is the subject digest, absent without a subject');
    return { bytes, digest, size: Buffer.byteLength(bytes), mediaType };
  }

  /** An OCI artifact manifest with the empty config; the blobs are pushed first. */
  async function artifact(name: string, options: { artifactType?: string; subject?: Descriptor; annotations?: Record<string, string>; payload: string }) {
    await registry.pushBlob(name, EMPTY_JSON);
    await registry.pushBlob(name, options.payload);
    const manifest: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_MANIFEST };
    if (options.artifactType) manifest.artifactType = options.artifactType;
    manifest.config = { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 };
    manifest.layers = [descriptorOf('application/octet-stream', options.payload)];
    if (options.subject) manifest.subject = options.subject;
    if (options.annotations) manifest.annotations = options.annotations;
    return manifest;
  }

  async function getReferrers(name: string, digest: string, artifactType?: string) {
    const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
    const res = await registry.request(`/v2/${name}/referrers/${digest}${query}`);
    const text = await res.text();
    assert.equal(res.status, 200, `GET referrers: ${res.status} ${text}`);
    // The exact header value is checked once, in its own test below, so that
    // the other tests still say something when only that is wrong.
    assert.equal((res.headers.get('content-type') ?? '').split(';')[0]!.trim(), OCI_INDEX);
    const index = JSON.parse(text) as ReferrersIndex;
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_INDEX);
    assert.ok(Array.isArray(index.manifests));
    assert.deepEqual(Object.keys(index).sort(), ['manifests', 'mediaType', 'schemaVersion']);
    return { res, index, manifests: [...index.manifests].sort(byDigest) };
  }

  describe('a subject image with a signature, an SBOM and a bundle index', () => {
    const name = 'app/server';
    let subject: Descriptor;
    let signature: Awaited<ReturnType<typeof put>>;
    let sbom: Awaited<ReturnType<typeof put>>;
    let bundle: Awaited<ReturnType<typeof put>>;
    let untypedIndex: Awaited<ReturnType<typeof put>>;
    let plain: Awaited<ReturnType<typeof put>>;

    before(async () => {
      const image = await registry.pushImage(name, 'v1');
      subject = { mediaType: OCI_MANIFEST, digest: image.digest, size: Buffer.byteLength(image.bytes) };
    });

    test('PUT of an artifact with a subject: 201 and OCI-Subject: <subject digest>', async () => {
      signature = await put(
        name,
        undefined,
        await artifact(name, {
          artifactType: SIGNATURE_TYPE,
          subject,
          payload: 'signature bytes',
          annotations: { 'org.opencontainers.image.created': '2024-05-01T00:00:00Z', 'com.example.key': 'key-1' },
        }),
      );
    });

    test('PUT of an image manifest with a subject but no artifactType (SBOM with its own config type)', async () => {
      const config = JSON.stringify({ format: 'spdx' });
      await registry.pushBlob(name, config);
      await registry.pushBlob(name, 'sbom document');
      sbom = await put(name, 'sbom-for-v1', {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptorOf(SBOM_CONFIG_TYPE, config),
        layers: [descriptorOf('application/spdx+json', 'sbom document')],
        subject,
      });
    });

    test('PUT of an index with a subject (one with artifactType, one without)', async () => {
      const child = await put(name, undefined, await artifact(name, { artifactType: ATTESTATION_TYPE, payload: 'attestation (no subject)' }));
      bundle = await put(name, undefined, {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        artifactType: BUNDLE_TYPE,
        manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.size }],
        subject,
        annotations: { 'com.example.bundle': 'yes' },
      });
      untypedIndex = await put(name, undefined, {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.size }],
        subject,
      });
    });

    test('PUT of a manifest without a subject has no OCI-Subject header', async () => {
      plain = await put(name, 'unrelated', await artifact(name, { artifactType: SIGNATURE_TYPE, payload: 'not a referrer' }));
    });

    test('GET /v2/<name>/referrers/<digest>: 200, an OCI index of descriptors with artifactType and annotations', async () => {
      const { res, manifests } = await getReferrers(name, subject.digest);
      assert.equal(res.headers.get('oci-filters-applied'), null, 'no filter asked, none reported');
      const expected: Descriptor[] = [
        {
          mediaType: OCI_MANIFEST,
          digest: signature.digest,
          size: signature.size,
          artifactType: SIGNATURE_TYPE,
          annotations: { 'org.opencontainers.image.created': '2024-05-01T00:00:00Z', 'com.example.key': 'key-1' },
        },
        // No artifactType in the manifest: the config's media type stands in.
        { mediaType: OCI_MANIFEST, digest: sbom.digest, size: sbom.size, artifactType: SBOM_CONFIG_TYPE },
        { mediaType: OCI_INDEX, digest: bundle.digest, size: bundle.size, artifactType: BUNDLE_TYPE, annotations: { 'com.example.bundle': 'yes' } },
        // An index without artifactType: the descriptor has none (no config to fall back on).
        { mediaType: OCI_INDEX, digest: untypedIndex.digest, size: untypedIndex.size },
      ];
      expected.sort(byDigest);
      assert.deepEqual(manifests, expected);
      assert.ok(!manifests.some((m) => m.digest === plain.digest), 'a manifest without subject is no referrer');
    });

    test('Content-Type is exactly application/vnd.oci.image.index.v1+json, with and without a filter', async () => {
      // The spec gives the header value verbatim, and clients compare it whole:
      // oras-go treats any other value as "referrers API unsupported" and
      // falls back to the referrers tag schema.
      for (const query of ['', `?artifactType=${encodeURIComponent(SIGNATURE_TYPE)}`]) {
        const res = await registry.request(`/v2/${name}/referrers/${subject.digest}${query}`);
        await res.arrayBuffer();
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), OCI_INDEX);
      }
    });

    test('?artifactType= filters and sets OCI-Filters-Applied: artifactType', async () => {
      const signatures = await getReferrers(name, subject.digest, SIGNATURE_TYPE);
      assert.equal(signatures.res.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(
        signatures.manifests.map((m) => m.digest),
        [signature.digest],
      );

      const sboms = await getReferrers(name, subject.digest, SBOM_CONFIG_TYPE);
      assert.equal(sboms.res.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(sboms.manifests, [{ mediaType: OCI_MANIFEST, digest: sbom.digest, size: sbom.size, artifactType: SBOM_CONFIG_TYPE }]);

      const bundles = await getReferrers(name, subject.digest, BUNDLE_TYPE);
      assert.deepEqual(
        bundles.manifests.map((m) => m.digest),
        [bundle.digest],
      );

      const none = await getReferrers(name, subject.digest, 'application/vnd.example.nothing');
      assert.equal(none.res.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(none.manifests, []);
    });

    test('a referrer disappears when the referrer manifest is deleted', async () => {
      const res = await registry.request(`/v2/${name}/manifests/${signature.digest}`, { method: 'DELETE' });
      assert.equal(res.status, 202);
      const { manifests } = await getReferrers(name, subject.digest);
      assert.deepEqual(
        manifests.map((m) => m.digest),
        [sbom.digest, bundle.digest, untypedIndex.digest].sort(),
      );
      assert.deepEqual((await getReferrers(name, subject.digest, SIGNATURE_TYPE)).manifests, []);

      // Deleting a tag that points at a referrer does not delete the referrer.
      assert.equal((await registry.request(`/v2/${name}/manifests/sbom-for-v1`, { method: 'DELETE' })).status, 202);
      assert.ok((await getReferrers(name, subject.digest)).manifests.some((m) => m.digest === sbom.digest));
      // Deleting it by digest does.
      assert.equal((await registry.request(`/v2/${name}/manifests/${sbom.digest}`, { method: 'DELETE' })).status, 202);
      assert.deepEqual(
        (await getReferrers(name, subject.digest)).manifests.map((m) => m.digest),
        [bundle.digest, untypedIndex.digest].sort(),
      );
    });
  });

  test('a subject that does not exist yet is accepted, and its referrers are listed before and after it is pushed', async () => {
    const name = 'app/late-subject';
    // The subject's bytes are known (and its digest computed) before it is pushed.
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', late: true });
    const layer = 'late layer';
    const subjectManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptorOf('application/vnd.oci.image.config.v1+json', config),
      layers: [descriptorOf('application/vnd.oci.image.layer.v1.tar+gzip', layer)],
    };
    const subjectBytes = JSON.stringify(subjectManifest);
    const subject = { mediaType: OCI_MANIFEST, digest: sha256(subjectBytes), size: Buffer.byteLength(subjectBytes) };

    const early = await put(name, undefined, await artifact(name, { artifactType: SIGNATURE_TYPE, subject, payload: 'signed before the image' }));
    await expectError(await registry.request(`/v2/${name}/manifests/${subject.digest}`), 404, 'MANIFEST_UNKNOWN');
    assert.deepEqual(
      (await getReferrers(name, subject.digest)).manifests.map((m) => m.digest),
      [early.digest],
    );

    await registry.pushBlob(name, config);
    await registry.pushBlob(name, layer);
    await put(name, 'v1', subjectManifest);
    assert.deepEqual((await getReferrers(name, subject.digest)).manifests, [{ mediaType: OCI_MANIFEST, digest: early.digest, size: early.size, artifactType: SIGNATURE_TYPE }]);
  });

  test('referrers are per repository: a referrer in repository a is not listed in repository b', async () => {
    const a = 'app/repo-a';
    const b = 'app/repo-b';
    const image = await registry.pushImage(a, 'v1', { layers: ['same layer'] });
    await registry.pushImage(b, 'v1', { layers: ['same layer'] });
    const subject = { mediaType: OCI_MANIFEST, digest: image.digest, size: Buffer.byteLength(image.bytes) };
    const sig = await put(a, undefined, await artifact(a, { artifactType: SIGNATURE_TYPE, subject, payload: 'sig in a' }));
    assert.deepEqual(
      (await getReferrers(a, image.digest)).manifests.map((m) => m.digest),
      [sig.digest],
    );
    assert.deepEqual((await getReferrers(b, image.digest)).manifests, []);
  });

  test('an unknown subject: 200 with an empty manifests list (never 404)', async () => {
    const name = 'app/no-referrers';
    await registry.pushImage(name, 'v1');
    const unknown = sha256('nothing refers to this');
    const { index, res } = await getReferrers(name, unknown);
    assert.deepEqual(index, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    assert.equal(res.headers.get('oci-filters-applied'), null);

    // Also in a repository the registry has never seen.
    const { index: unknownRepo } = await getReferrers('app/never-pushed', unknown);
    assert.deepEqual(unknownRepo, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
  });

  test('an invalid digest: 400 DIGEST_INVALID', async () => {
    const name = 'app/no-referrers';
    for (const bad of ['sha256:abc', 'not-a-digest', `sha256:${'G'.repeat(64)}`, `md5:${'a'.repeat(32)}`]) {
      await expectError(await registry.request(`/v2/${name}/referrers/${bad}`), 400, 'DIGEST_INVALID');
    }
  });
});
