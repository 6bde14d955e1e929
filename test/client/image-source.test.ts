// Reading a source into a content store, without the CLI: what each
// argument form means, which image a selection names, and input that is
// not a tarball called that by name (while a cut tarball stays "truncated").
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ContentStore } from '../../src/client/content-store.js';
import { ImageWorkflowError } from '../../src/client/image-errors.js';
import { loadSource, parseSource, selectItem } from '../../src/client/image-source.js';
import { ImageArchiveError } from '../../src/formats/image-archive.js';
import { classicEntries, makeImage, packTar } from '../formats/image-archive.fixtures.js';

let dir: string;
let store: ContentStore;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hatoba-image-source-'));
  store = await new ContentStore(dir).init();
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const stdin = (bytes: Buffer) => ({ kind: 'stdin' as const, stream: Readable.from([bytes]) });

test('parseSource: stdin, s3, transports with their selection, and bare paths', () => {
  assert.deepEqual(parseSource('-'), { spec: { kind: 'stdin' }, selection: {} });
  assert.deepEqual(parseSource('s3://b/k.tar'), { spec: { kind: 's3', url: 's3://b/k.tar' }, selection: {} });
  assert.deepEqual(parseSource('docker-archive:a.tar:x/y:1'), { spec: { kind: 'path', path: 'a.tar', transport: 'docker-archive' }, selection: { reference: 'x/y:1' } });
  assert.deepEqual(parseSource('docker-archive:a.tar:@1'), { spec: { kind: 'path', path: 'a.tar', transport: 'docker-archive' }, selection: { index: 1 } });
  assert.deepEqual(parseSource('docker-archive:-'), { spec: { kind: 'stdin' }, selection: {} });
  assert.deepEqual(parseSource('oci:layout:v1'), { spec: { kind: 'path', path: 'layout', transport: 'oci' }, selection: { reference: 'v1' } });
  assert.deepEqual(parseSource('image.tar'), { spec: { kind: 'path', path: 'image.tar' }, selection: {} });
});

describe('loadSource', () => {
  test('a docker save tarball from a stream: its images by name, blobs in the store', async () => {
    const a = makeImage('source-a', 1);
    const b = makeImage('source-b', 2);
    const tar = await packTar(classicEntries([{ image: a, repoTags: ['a:1'] }, { image: b, repoTags: ['b:2', 'b:latest'] }]));
    const loaded = await loadSource(stdin(tar), store);
    assert.equal(loaded.label, 'stdin');
    assert.deepEqual(loaded.items.map((i) => i.names), [['a:1'], ['b:2', 'b:latest']]);
    for (const l of b.layers) assert.ok(await store.has(l.diffId as never));
    assert.equal(selectItem(loaded.items, { reference: 'b:latest' }, 'x').digest, loaded.items[1]!.digest);
    assert.equal(selectItem(loaded.items, { reference: 'docker.io/library/a:1' }, 'x').digest, loaded.items[0]!.digest, "docker's long name");
    assert.equal(selectItem(loaded.items, { index: 1 }, 'x').digest, loaded.items[1]!.digest);
    assert.throws(() => selectItem(loaded.items, {}, 'x.tar'), (e: unknown) => e instanceof ImageWorkflowError && /x\.tar holds 2 images: @0 a:1; @1 b:2, b:latest/.test(e.message));
    assert.throws(() => selectItem(loaded.items, { reference: 'c:1' }, 'x.tar'), /x\.tar has no image named c:1/);
    assert.throws(() => selectItem(loaded.items, { index: 5 }, 'x.tar'), /has no image @5/);
  });

  test('input that is not a tar is called that, however short; a tarball cut short stays truncated', async () => {
    for (const junk of [Buffer.alloc(0), Buffer.from('not a tar\n'), Buffer.from('not a tar at all\n'.repeat(200))]) {
      await assert.rejects(loadSource(stdin(junk), store), (e: unknown) => e instanceof ImageArchiveError && e.message === 'stdin is not a tar archive (docker save / skopeo docker-archive / oci-archive)', `${junk.length} bytes`);
    }
    const tar = await packTar(classicEntries([{ image: makeImage('source-cut', 2), repoTags: ['cut:1'] }]));
    await assert.rejects(loadSource(stdin(tar.subarray(0, Math.floor(tar.length / 2))), store), (e: unknown) => e instanceof ImageArchiveError && e.code === 'TRUNCATED');
  });

  test('a path that is missing, or of the wrong kind for its transport, says what to give', async () => {
    await assert.rejects(loadSource({ kind: 'path', path: join(dir, 'missing.tar') }, store), (e: unknown) => e instanceof ImageWorkflowError && /no such file or directory/.test(e.message) && /oci:DIR/.test(e.hint ?? ''));
    await assert.rejects(loadSource({ kind: 'path', path: dir, transport: 'docker-archive' }, store), /is a directory, not a tarball/);
  });
});
