import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestFormatError, parseManifest, type ParsedManifest } from '../../src/formats/manifest.js';
import {
  DOCKER_CONFIG,
  DOCKER_FOREIGN_LAYER,
  DOCKER_LAYER_TAR_GZIP,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_SCHEMA1,
  DOCKER_MANIFEST_SCHEMA1_SIGNED,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER_TAR_GZIP,
  OCI_MANIFEST,
} from '../../src/formats/media-types.js';
import { digestOf } from '../../src/formats/digest.js';

// ---------------------------------------------------------------- fixtures

const d = (n: number) => digestOf(`blob-${n}`);
const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'; // sha256("{}")

type Obj = Record<string, unknown>;

function enc(doc: unknown): Uint8Array {
  return new TextEncoder().encode(typeof doc === 'string' ? doc : JSON.stringify(doc));
}

function parse(doc: unknown, contentType?: string): ParsedManifest {
  return parseManifest(enc(doc), contentType);
}

function rejects(doc: unknown, contentType?: string, message?: RegExp): void {
  assert.throws(
    () => parse(doc, contentType),
    (err: unknown) => {
      assert.ok(err instanceof ManifestFormatError, `expected ManifestFormatError, got ${String(err)}`);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

function desc(mediaType: string, n: number, size = 100 + n, extra: Obj = {}): Obj {
  return { mediaType, digest: d(n), size, ...extra };
}

function ociImage(extra: Obj = {}): Obj {
  return {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: desc(OCI_CONFIG, 0),
    layers: [desc(OCI_LAYER_TAR_GZIP, 1), desc(OCI_LAYER_TAR_GZIP, 2)],
    ...extra,
  };
}

function ociIndex(extra: Obj = {}): Obj {
  return {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      desc(OCI_MANIFEST, 10, 500, { platform: { architecture: 'amd64', os: 'linux' } }),
      desc(OCI_MANIFEST, 11, 501, { platform: { architecture: 'arm64', os: 'linux' } }),
    ],
    ...extra,
  };
}

function dockerImage(extra: Obj = {}): Obj {
  return {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: desc(DOCKER_CONFIG, 20, 7023),
    layers: [desc(DOCKER_LAYER_TAR_GZIP, 21, 32654), desc(DOCKER_LAYER_TAR_GZIP, 22, 16724)],
    ...extra,
  };
}

function dockerList(extra: Obj = {}): Obj {
  return {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_LIST,
    manifests: [
      desc(DOCKER_MANIFEST, 30, 7143, { platform: { architecture: 'ppc64le', os: 'linux' } }),
      desc(DOCKER_MANIFEST, 31, 7682, { platform: { architecture: 'amd64', os: 'linux', features: ['sse4'] } }),
    ],
    ...extra,
  };
}

// ---------------------------------------------------------------- image manifests

test('OCI image manifest', () => {
  const m = parse(ociImage(), OCI_MANIFEST);
  assert.equal(m.mediaType, OCI_MANIFEST);
  assert.equal(m.kind, 'image');
  assert.deepEqual(m.config, { mediaType: OCI_CONFIG, digest: d(0), size: 100 });
  assert.deepEqual(
    m.blobs.map((b) => b.digest),
    [d(0), d(1), d(2)],
  );
  assert.deepEqual(m.blobs[1], { mediaType: OCI_LAYER_TAR_GZIP, digest: d(1), size: 101 });
  assert.deepEqual(m.manifests, []);
  assert.equal(m.subject, undefined);
  assert.equal(m.annotations, undefined);
  // referrers: an image without artifactType reports its config media type
  assert.equal(m.artifactType, OCI_CONFIG);
});

test('OCI image manifest without a Content-Type', () => {
  const m = parse(ociImage());
  assert.equal(m.mediaType, OCI_MANIFEST);
  assert.equal(m.kind, 'image');
});

test('OCI image manifest with Content-Type parameters and different case', () => {
  const m = parse(ociImage(), `${OCI_MANIFEST.toUpperCase()}; charset=utf-8`);
  assert.equal(m.mediaType, OCI_MANIFEST);
  const n = parse(ociImage(), `  ${OCI_MANIFEST} ;foo=bar`);
  assert.equal(n.mediaType, OCI_MANIFEST);
});

test('OCI image manifest with a generic Content-Type is accepted', () => {
  for (const ct of ['application/json', 'application/octet-stream', 'text/plain', '', '; charset=utf-8']) {
    assert.equal(parse(ociImage(), ct).mediaType, OCI_MANIFEST, ct);
  }
});

test('OCI image manifest without mediaType in the body: Content-Type decides, else the shape', () => {
  const body = ociImage();
  delete body.mediaType;
  assert.equal(parse(body, OCI_MANIFEST).mediaType, OCI_MANIFEST);
  assert.equal(parse(body).mediaType, OCI_MANIFEST);
  assert.equal(parse(body, 'application/json').mediaType, OCI_MANIFEST);
  // a Docker Content-Type with a body that does not say otherwise is a Docker manifest
  assert.equal(parse(body, DOCKER_MANIFEST).mediaType, DOCKER_MANIFEST);
});

test('OCI image manifest with no layers field, or empty layers', () => {
  const noLayers = ociImage();
  delete noLayers.layers;
  const m = parse(noLayers);
  assert.deepEqual(
    m.blobs.map((b) => b.digest),
    [d(0)],
  );
  const empty = parse(ociImage({ layers: [] }));
  assert.equal(empty.blobs.length, 1);
});

test('image annotations and descriptor annotations, artifactType and urls are kept', () => {
  const m = parse(
    ociImage({
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', empty: '' },
      layers: [
        desc(OCI_LAYER_TAR_GZIP, 1, 5, {
          annotations: { 'org.opencontainers.image.title': 'a.tar.gz' },
          urls: ['https://example.com/a'],
          artifactType: 'application/x-thing',
        }),
      ],
    }),
  );
  assert.deepEqual(m.annotations, { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', empty: '' });
  assert.deepEqual(m.blobs[1], {
    mediaType: OCI_LAYER_TAR_GZIP,
    digest: d(1),
    size: 5,
    annotations: { 'org.opencontainers.image.title': 'a.tar.gz' },
    urls: ['https://example.com/a'],
    artifactType: 'application/x-thing',
  });
});

test('unknown descriptor fields (platform, data) are dropped from the parsed descriptor', () => {
  const m = parse(ociImage({ layers: [desc(OCI_LAYER_TAR_GZIP, 1, 5, { data: 'aGk=', platform: { os: 'linux' }, x: 1 })] }));
  assert.deepEqual(m.blobs[1], { mediaType: OCI_LAYER_TAR_GZIP, digest: d(1), size: 5 });
});

test('zero-size blobs and a sha512 digest are valid descriptors', () => {
  const sha512 = digestOf('x', 'sha512');
  const m = parse(ociImage({ layers: [{ mediaType: OCI_LAYER_TAR_GZIP, digest: sha512, size: 0 }] }));
  assert.equal(m.blobs[1]!.digest, sha512);
  assert.equal(m.blobs[1]!.size, 0);
});

test('Docker schema 2 image manifest', () => {
  const m = parse(dockerImage(), DOCKER_MANIFEST);
  assert.equal(m.mediaType, DOCKER_MANIFEST);
  assert.equal(m.kind, 'image');
  assert.equal(m.config!.mediaType, DOCKER_CONFIG);
  assert.deepEqual(
    m.blobs.map((b) => b.digest),
    [d(20), d(21), d(22)],
  );
  assert.equal(m.artifactType, DOCKER_CONFIG);
  // also without Content-Type
  assert.equal(parse(dockerImage()).mediaType, DOCKER_MANIFEST);
});

test('foreign layers with urls are excluded from blobs', () => {
  const m = parse(
    dockerImage({
      layers: [
        desc(DOCKER_FOREIGN_LAYER, 40, 1000, { urls: ['https://go.microsoft.com/fwlink/?linkid=837858'] }),
        desc(DOCKER_LAYER_TAR_GZIP, 41),
      ],
    }),
  );
  assert.deepEqual(
    m.blobs.map((b) => b.digest),
    [d(20), d(41)],
  );
});

test('OCI non-distributable layers with urls are excluded from blobs', () => {
  for (const mt of [
    'application/vnd.oci.image.layer.nondistributable.v1.tar',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ]) {
    const m = parse(ociImage({ layers: [desc(mt, 1, 10, { urls: ['https://example.com/l'] }), desc(OCI_LAYER_TAR_GZIP, 2)] }));
    assert.deepEqual(
      m.blobs.map((b) => b.digest),
      [d(0), d(2)],
      mt,
    );
  }
});

test('foreign layers without urls (or with an empty urls list) are blobs the registry must hold', () => {
  const m = parse(dockerImage({ layers: [desc(DOCKER_FOREIGN_LAYER, 40), desc(DOCKER_FOREIGN_LAYER, 41, 1, { urls: [] })] }));
  assert.deepEqual(
    m.blobs.map((b) => b.digest),
    [d(20), d(40), d(41)],
  );
});

test('ordinary layers with urls are still blobs', () => {
  const m = parse(ociImage({ layers: [desc(OCI_LAYER_TAR_GZIP, 1, 10, { urls: ['https://example.com/l'] })] }));
  assert.deepEqual(
    m.blobs.map((b) => b.digest),
    [d(0), d(1)],
  );
});

// ---------------------------------------------------------------- indexes

test('OCI image index', () => {
  const m = parse(ociIndex(), OCI_INDEX);
  assert.equal(m.mediaType, OCI_INDEX);
  assert.equal(m.kind, 'index');
  assert.deepEqual(m.blobs, []);
  assert.equal(m.config, undefined);
  assert.deepEqual(
    m.manifests.map((x) => [x.mediaType, x.digest, x.size]),
    [
      [OCI_MANIFEST, d(10), 500],
      [OCI_MANIFEST, d(11), 501],
    ],
  );
  // referrers: an index without artifactType has none
  assert.equal(m.artifactType, undefined);
  assert.ok(!('artifactType' in m) || m.artifactType === undefined);
});

test('OCI index without mediaType is recognised by Content-Type or by its manifests array', () => {
  const body = ociIndex();
  delete body.mediaType;
  assert.equal(parse(body, OCI_INDEX).kind, 'index');
  assert.equal(parse(body).mediaType, OCI_INDEX);
  assert.equal(parse(body).kind, 'index');
  assert.equal(parse(body, DOCKER_MANIFEST_LIST).mediaType, DOCKER_MANIFEST_LIST);
});

test('OCI index with an empty manifests list', () => {
  const m = parse(ociIndex({ manifests: [] }));
  assert.equal(m.kind, 'index');
  assert.deepEqual(m.manifests, []);
});

test('OCI index with artifactType, annotations and subject', () => {
  const m = parse(
    ociIndex({
      artifactType: 'application/vnd.example.bundle',
      annotations: { a: 'b' },
      subject: desc(OCI_MANIFEST, 99, 1234),
    }),
  );
  assert.equal(m.artifactType, 'application/vnd.example.bundle');
  assert.deepEqual(m.annotations, { a: 'b' });
  assert.deepEqual(m.subject, { mediaType: OCI_MANIFEST, digest: d(99), size: 1234 });
});

test('index can reference nested indexes', () => {
  const m = parse(ociIndex({ manifests: [desc(OCI_INDEX, 1), desc(OCI_MANIFEST, 2)] }));
  assert.deepEqual(
    m.manifests.map((x) => x.mediaType),
    [OCI_INDEX, OCI_MANIFEST],
  );
});

test('Docker manifest list', () => {
  const m = parse(dockerList(), DOCKER_MANIFEST_LIST);
  assert.equal(m.mediaType, DOCKER_MANIFEST_LIST);
  assert.equal(m.kind, 'index');
  assert.deepEqual(
    m.manifests.map((x) => x.digest),
    [d(30), d(31)],
  );
  assert.deepEqual(m.blobs, []);
  assert.equal(m.artifactType, undefined);
  assert.equal(parse(dockerList()).mediaType, DOCKER_MANIFEST_LIST);
});

test('index without a manifests array is rejected', () => {
  const body = ociIndex();
  delete body.manifests;
  rejects(body, undefined, /manifests/);
  rejects(ociIndex({ manifests: {} }), undefined, /manifests/);
  rejects(ociIndex({ manifests: 'x' }));
  rejects(ociIndex({ manifests: null }));
  rejects(dockerList({ manifests: undefined }));
});

test('index with a bad child descriptor is rejected and names it', () => {
  rejects(ociIndex({ manifests: [desc(OCI_MANIFEST, 1), { mediaType: OCI_MANIFEST, digest: 'sha256:bad', size: 1 }] }), undefined, /manifests\[1\]/);
  rejects(ociIndex({ manifests: [null] }), undefined, /manifests\[0\]/);
  rejects(ociIndex({ manifests: ['x'] }));
});

// ---------------------------------------------------------------- artifacts

test('OCI artifact with artifactType and the empty config', () => {
  const body = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.example.sbom.v1+json',
    config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2, data: 'e30=' },
    layers: [desc('application/spdx+json', 1, 2048)],
    subject: desc(OCI_MANIFEST, 50, 7682),
    annotations: { 'org.opencontainers.image.created': '2024-05-01T00:00:00Z' },
  };
  assert.equal(digestOf('{}'), EMPTY_DIGEST);
  const m = parse(body, OCI_MANIFEST);
  assert.equal(m.kind, 'image');
  assert.equal(m.artifactType, 'application/vnd.example.sbom.v1+json');
  assert.deepEqual(m.config, { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 });
  assert.deepEqual(
    m.blobs.map((b) => b.digest),
    [EMPTY_DIGEST, d(1)],
  );
  assert.deepEqual(m.subject, { mediaType: OCI_MANIFEST, digest: d(50), size: 7682 });
});

test('artifact without artifactType reports config.mediaType (including the empty type)', () => {
  const custom = parse(ociImage({ config: desc('application/vnd.cncf.helm.config.v1+json', 3) }));
  assert.equal(custom.artifactType, 'application/vnd.cncf.helm.config.v1+json');
  const empty = parse(ociImage({ config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 } }));
  assert.equal(empty.artifactType, OCI_EMPTY);
});

test('artifact with empty config and no layers', () => {
  const m = parse({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
    config: { mediaType: OCI_EMPTY, digest: EMPTY_DIGEST, size: 2 },
    layers: [],
  });
  assert.equal(m.artifactType, 'application/vnd.dev.cosign.artifact.sig.v1+json');
  assert.deepEqual(
    m.blobs.map((b) => b.digest),
    [EMPTY_DIGEST],
  );
});

test('subject on a Docker image manifest is parsed too', () => {
  const m = parse(dockerImage({ subject: desc(DOCKER_MANIFEST, 60) }));
  assert.equal(m.subject!.digest, d(60));
});

test('bad artifactType is rejected', () => {
  for (const bad of ['', 'nope', 'a/', '/b', 'a/b/c', 'a b/c', 1, null, {}, ['a/b']]) {
    rejects(ociImage({ artifactType: bad }), undefined, /artifactType/);
    rejects(ociIndex({ artifactType: bad }), undefined, /artifactType/);
  }
});

test('bad subject is rejected', () => {
  for (const bad of [null, 'sha256:x', 1, [], {}, { mediaType: OCI_MANIFEST, digest: d(1) }, desc(OCI_MANIFEST, 1, -1)]) {
    rejects(ociImage({ subject: bad }), undefined, /subject/);
  }
});

test('bad annotations are rejected', () => {
  for (const bad of [null, 'x', 1, [], ['a'], { a: 1 }, { a: null }, { a: { b: 'c' } }, { a: 'ok', b: true }]) {
    rejects(ociImage({ annotations: bad }), undefined, /annotations/);
    rejects(ociImage({ layers: [desc(OCI_LAYER_TAR_GZIP, 1, 1, { annotations: bad })] }), undefined, /layers\[0\]\.annotations/);
  }
});

// ---------------------------------------------------------------- rejected manifests

test('Docker schema 1 is rejected (by body mediaType or by Content-Type)', () => {
  const schema1 = {
    schemaVersion: 1,
    name: 'library/hello',
    tag: 'latest',
    architecture: 'amd64',
    fsLayers: [{ blobSum: d(1) }],
    history: [{ v1Compatibility: '{}' }],
    signatures: [],
  };
  rejects(schema1, DOCKER_MANIFEST_SCHEMA1_SIGNED, /schema 1/);
  rejects(schema1, DOCKER_MANIFEST_SCHEMA1, /schema 1/);
  rejects(schema1, `${DOCKER_MANIFEST_SCHEMA1_SIGNED}; charset=utf-8`, /schema 1/);
  rejects({ ...schema1, mediaType: DOCKER_MANIFEST_SCHEMA1 }, undefined, /schema 1/);
  rejects({ ...schema1, mediaType: DOCKER_MANIFEST_SCHEMA1_SIGNED }, undefined, /schema 1/);
  // no hint at all: cannot tell the type
  rejects(schema1);
  // even a schema-2-looking body is refused when sent as schema 1
  rejects(ociImage(), DOCKER_MANIFEST_SCHEMA1_SIGNED, /schema 1/);
});

test('schemaVersion must be 2', () => {
  for (const v of [1, 3, '2', 2.5, null, undefined, 0]) {
    const body = ociImage({ schemaVersion: v });
    if (v === undefined) delete body.schemaVersion;
    rejects(body, undefined, /schemaVersion/);
  }
  const idx = ociIndex();
  delete idx.schemaVersion;
  rejects(idx, undefined, /schemaVersion/);
});

test('body mediaType vs Content-Type mismatch is rejected', () => {
  rejects(ociImage(), DOCKER_MANIFEST, /does not match/);
  rejects(ociImage(), OCI_INDEX, /does not match/);
  rejects(ociIndex(), OCI_MANIFEST, /does not match/);
  rejects(ociIndex(), DOCKER_MANIFEST_LIST, /does not match/);
  rejects(dockerImage(), OCI_MANIFEST, /does not match/);
  rejects(dockerList(), OCI_INDEX, /does not match/);
});

test('unsupported or non-string body mediaType is rejected', () => {
  rejects(ociImage({ mediaType: 'application/json' }), undefined, /unsupported/);
  rejects(ociImage({ mediaType: OCI_CONFIG }), undefined, /unsupported/);
  rejects(ociImage({ mediaType: OCI_MANIFEST.toUpperCase() }), undefined, /unsupported/);
  rejects(ociImage({ mediaType: '' }), undefined, /unsupported/);
  rejects(ociImage({ mediaType: 'x'.repeat(10_000) }), OCI_MANIFEST);
  for (const bad of [1, null, true, [], {}]) {
    rejects(ociImage({ mediaType: bad }), undefined, /mediaType must be a string/);
  }
});

test('a body with neither mediaType, Content-Type, config nor manifests is rejected', () => {
  rejects({ schemaVersion: 2 }, undefined, /cannot tell/);
  rejects({ schemaVersion: 2, layers: [] }, 'application/json', /cannot tell/);
});

test('image manifest with a missing or bad config is rejected', () => {
  const body = ociImage();
  delete body.config;
  rejects(body, undefined, /config/);
  rejects(ociImage({ config: null }), undefined, /config/);
  rejects(ociImage({ config: [] }), undefined, /config/);
  rejects(ociImage({ config: 'sha256:x' }), undefined, /config/);
});

test('image manifest with non-array layers is rejected', () => {
  for (const bad of [null, {}, 'x', 1, true]) {
    rejects(ociImage({ layers: bad }), undefined, /layers/);
  }
});

test('bad descriptors are rejected: digest', () => {
  for (const digest of [
    undefined,
    null,
    1,
    '',
    'sha256:abc',
    d(1).toUpperCase(),
    d(1).replace('sha256', 'SHA256'),
    `md5:${'a'.repeat(32)}`,
    `${d(1)} `,
    `sha256:${'g'.repeat(64)}`,
  ]) {
    rejects(ociImage({ layers: [{ mediaType: OCI_LAYER_TAR_GZIP, digest, size: 1 }] }), undefined, /layers\[0\]\.digest/);
    rejects(ociImage({ config: { mediaType: OCI_CONFIG, digest, size: 1 } }), undefined, /config\.digest/);
  }
});

test('bad descriptors are rejected: size', () => {
  for (const size of [-1, -100, 1.5, 0.1, NaN, '1', null, undefined, true, [], {}, 2 ** 53, 1e300]) {
    rejects(ociImage({ layers: [{ mediaType: OCI_LAYER_TAR_GZIP, digest: d(1), size }] }), undefined, /layers\[0\]\.size/);
  }
  // raw JSON forms JSON.stringify would not produce
  const raw = (size: string) =>
    `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"${OCI_CONFIG}","digest":"${d(0)}","size":${size}}}`;
  rejects(raw('-5'), undefined, /config\.size/);
  rejects(raw('1.25'), undefined, /config\.size/);
  rejects(raw('1e400'), undefined, /config\.size/);
  rejects(raw('9007199254740993'), undefined, /config\.size/);
  // integral values in exponent or decimal notation are integers to JSON
  assert.equal(parse(raw('1e3')).config!.size, 1000);
  assert.equal(parse(raw('2.0')).config!.size, 2);
  assert.equal(parse(raw('9007199254740991')).config!.size, Number.MAX_SAFE_INTEGER);
});

test('bad descriptors are rejected: media type', () => {
  for (const mediaType of [
    undefined,
    null,
    1,
    '',
    'application',
    'application/',
    '/json',
    'application/json/x',
    'application/ json',
    'application/json; charset=utf-8',
    ' application/json',
    'application/json\n',
    '-application/json',
    `application/${'x'.repeat(200)}`,
    'applicätion/json',
  ]) {
    rejects(ociImage({ layers: [{ mediaType, digest: d(1), size: 1 }] }), undefined, /layers\[0\]\.mediaType/);
  }
});

test('bad descriptors are rejected: urls and artifactType', () => {
  for (const urls of ['https://x', [1], [null], {}, null, ['ok', 2]]) {
    rejects(ociImage({ layers: [desc(OCI_LAYER_TAR_GZIP, 1, 1, { urls })] }), undefined, /layers\[0\]\.urls/);
  }
  for (const artifactType of ['x', '', 1, null]) {
    rejects(ociImage({ layers: [desc(OCI_LAYER_TAR_GZIP, 1, 1, { artifactType })] }), undefined, /layers\[0\]\.artifactType/);
  }
});

test('bad descriptor errors name the index of the descriptor', () => {
  rejects(ociImage({ layers: [desc(OCI_LAYER_TAR_GZIP, 1), desc(OCI_LAYER_TAR_GZIP, 2), 'x'] }), undefined, /layers\[2\]/);
});

test('non-object JSON is rejected', () => {
  for (const doc of ['null', '1', '"x"', 'true', '[]', `[${JSON.stringify(ociImage())}]`, '0', '""']) {
    rejects(doc, undefined, /JSON object/);
    rejects(doc, OCI_MANIFEST, /JSON object/);
  }
});

test('invalid JSON is rejected', () => {
  for (const doc of ['', ' ', '{', '}', '{"a":}', "{'a':1}", '{"a":1,}', 'undefined', 'NaN', JSON.stringify(ociImage()) + 'x', '\u0000']) {
    rejects(doc, undefined, /not valid JSON/);
  }
  // invalid UTF-8 becomes U+FFFD; the structure still decides
  rejects(new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]));
  // a BOM is not valid JSON text
  rejects('\ufeff' + JSON.stringify(ociImage()), undefined, /not valid JSON/);
});

test('parseManifest reads exactly the bytes of a subarray view', () => {
  const json = JSON.stringify(ociImage());
  const padded = Buffer.from(`garbage${json}trailing`);
  const view = padded.subarray(7, 7 + Buffer.byteLength(json));
  const m = parseManifest(view);
  assert.equal(m.kind, 'image');
  const u8 = new Uint8Array(padded.buffer, padded.byteOffset + 7, Buffer.byteLength(json));
  assert.equal(parseManifest(u8).kind, 'image');
});

test('pretty-printed and whitespace-surrounded JSON is accepted', () => {
  const m = parse(`\n\t ${JSON.stringify(ociImage(), null, 3)} \r\n`);
  assert.equal(m.kind, 'image');
  assert.equal(m.blobs.length, 3);
});

test('duplicate keys: last one wins (JSON.parse semantics)', () => {
  const json = `{"schemaVersion":1,"schemaVersion":2,"config":${JSON.stringify(desc(OCI_CONFIG, 0))}}`;
  assert.equal(parse(json).kind, 'image');
});

test('__proto__ keys in JSON do not break parsing', () => {
  const json = `{"__proto__":{"schemaVersion":2},"schemaVersion":2,"config":${JSON.stringify(desc(OCI_CONFIG, 0))},"annotations":{"__proto__":"x"}}`;
  const m = parse(json);
  assert.equal(m.kind, 'image');
  rejects(`{"__proto__":{"schemaVersion":2},"config":${JSON.stringify(desc(OCI_CONFIG, 0))}}`, undefined, /schemaVersion/);
});

test('ManifestFormatError is an Error', () => {
  const err = new ManifestFormatError('x');
  assert.ok(err instanceof Error);
});
