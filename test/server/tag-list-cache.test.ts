// The cached tag list (registry/tag-list-cache.ts) is never served stale:
// every tag change bumps the repository's tags_version in its transaction,
// and a process serves its cached list only while the database holds the
// version the list was read at. Checked here with two `hatoba serve`
// processes on one data directory (as `--workers` runs them), with two
// in-process Manifests objects on one SQLite file, and on the cache itself.
//
// Run: node --import tsx --test test/server/tag-list-cache.test.ts
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { openSqlite } from '../../src/db/connect.js';
import { Metadata } from '../../src/db/metadata.js';
import { digestOf } from '../../src/formats/digest.js';
import { parseManifestReference, type RepositoryName } from '../../src/formats/reference.js';
import { Manifests } from '../../src/registry/manifests.js';
import { indexAfter, TagListCache, tagListFromJson } from '../../src/registry/tag-list-cache.js';
import { TestRegistry } from '../helpers/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface TagList {
  name: string;
  tags: string[];
}

describe('two servers on one data directory never serve a stale tag list', () => {
  let a: RunningServer;
  let b: RunningServer;
  let ra: TestRegistry;
  let rb: TestRegistry;

  before(async () => {
    a = await startServer();
    b = await startServer({ dataDir: a.dataDir });
    ra = new TestRegistry(a.url);
    rb = new TestRegistry(b.url);
  });
  after(async () => {
    await b?.stop();
    await a?.dispose();
  });

  /** The whole list (no n), as skopeo asks for it. */
  async function list(reg: TestRegistry, name: string): Promise<string[]> {
    const res = await reg.request(`/v2/${name}/tags/list`);
    const text = await res.text();
    assert.equal(res.status, 200, `GET tags/list: ${res.status} ${text}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
    assert.equal(res.headers.get('link'), null);
    assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(text));
    const body = JSON.parse(text) as TagList;
    assert.equal(body.name, name);
    return body.tags;
  }

  /** Every tag through n-sized pages and Link headers. */
  async function walk(reg: TestRegistry, name: string, n: number): Promise<string[]> {
    const seen: string[] = [];
    let path: string | undefined = `/v2/${name}/tags/list?n=${n}`;
    for (let pages = 0; path !== undefined; pages++) {
      assert.ok(pages < 1000, 'pagination does not end');
      const res = await reg.request(path);
      const body = (await res.json()) as TagList;
      assert.equal(res.status, 200);
      assert.ok(body.tags.length <= n);
      seen.push(...body.tags);
      const link = res.headers.get('link');
      if (link === null) break;
      assert.equal(link, `</v2/${name}/tags/list?n=${n}&last=${body.tags.at(-1)}>; rel="next"`);
      path = /^<([^>]+)>; rel="next"$/.exec(link)![1];
    }
    return seen;
  }

  /** Both servers list exactly `expected` (each may have it cached). */
  async function bothList(name: string, expected: string[]): Promise<void> {
    assert.deepEqual(await list(ra, name), expected, `server A lists ${name}`);
    assert.deepEqual(await list(rb, name), expected, `server B lists ${name}`);
    // Twice: the second answer comes from each server's cache.
    assert.deepEqual(await list(ra, name), expected, `server A lists ${name} again`);
    assert.deepEqual(await list(rb, name), expected, `server B lists ${name} again`);
  }

  async function tag(reg: TestRegistry, name: string, tagName: string, manifest: string): Promise<void> {
    const res = await reg.putManifest(name, tagName, manifest, OCI_MANIFEST);
    assert.equal(res.status, 201, `PUT ${name}:${tagName}: ${res.status} ${await res.text()}`);
  }

  async function del(reg: TestRegistry, name: string, reference: string): Promise<void> {
    const res = await reg.request(`/v2/${name}/manifests/${reference}`, { method: 'DELETE' });
    assert.equal(res.status, 202, `DELETE ${name}@${reference}: ${res.status} ${await res.text()}`);
  }

  test('a tag added on either server shows on both at once', async () => {
    const name = 'cache/add';
    const image = await ra.pushImage(name, 'v1');
    await bothList(name, ['v1']);
    await tag(ra, name, 'v2', image.bytes);
    await bothList(name, ['v1', 'v2']);
    await tag(rb, name, 'a0', image.bytes);
    await bothList(name, ['a0', 'v1', 'v2']);
    // The same tag pushed again with the same manifest: nothing changes.
    await tag(rb, name, 'v2', image.bytes);
    await bothList(name, ['a0', 'v1', 'v2']);
  });

  test('a tag moved to another manifest stays listed, and goes with neither manifest delete but its own', async () => {
    const name = 'cache/move';
    const one = await ra.pushImage(name, 'stable', { layers: ['one'] });
    const two = await ra.pushImage(name, 'next', { layers: ['two'] });
    await tag(ra, name, 'latest', one.bytes);
    await bothList(name, ['latest', 'next', 'stable']);

    await tag(rb, name, 'latest', two.bytes); // moved on B
    await bothList(name, ['latest', 'next', 'stable']);
    const res = await ra.request(`/v2/${name}/manifests/latest`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
    assert.equal(res.headers.get('docker-content-digest'), two.digest, 'A resolves the moved tag to the new manifest');

    // Deleting the first manifest takes its tag (stable), not the moved one.
    await del(rb, name, one.digest);
    await bothList(name, ['latest', 'next']);
    await del(ra, name, two.digest);
    await bothList(name, []);
  });

  test('a tag deleted on one server is gone from the other', async () => {
    const name = 'cache/delete-tag';
    const image = await ra.pushImage(name, 'v1');
    for (const t of ['v2', 'v3', 'v4']) await tag(ra, name, t, image.bytes);
    await bothList(name, ['v1', 'v2', 'v3', 'v4']);
    await del(rb, name, 'v3');
    await bothList(name, ['v1', 'v2', 'v4']);
    await del(ra, name, 'v1');
    await bothList(name, ['v2', 'v4']);
    // The manifest is still there, under its other tags.
    assert.equal((await rb.request(`/v2/${name}/manifests/${image.digest}`, { method: 'HEAD' })).status, 200);
  });

  test('a manifest deleted by digest takes all its tags off both lists', async () => {
    const name = 'cache/delete-manifest';
    const keep = await ra.pushImage(name, 'keep', { layers: ['keep'] });
    const gone = await ra.pushImage(name, 'gone-1', { layers: ['gone'] });
    for (const t of ['gone-2', 'gone-3']) await tag(rb, name, t, gone.bytes);
    await bothList(name, ['gone-1', 'gone-2', 'gone-3', 'keep']);
    await del(ra, name, gone.digest);
    await bothList(name, ['keep']);
    // An untagged manifest going changes no tag list.
    const untagged = await rb.pushImage(name, 'temp', { layers: ['untagged'] });
    await del(rb, name, 'temp');
    await bothList(name, ['keep']);
    await del(ra, name, untagged.digest);
    await bothList(name, ['keep']);
    assert.equal((await ra.request(`/v2/${name}/manifests/${keep.digest}`, { method: 'HEAD' })).status, 200);
  });

  test('pages are the same sliced from a cached list and read from the database', async () => {
    const name = 'cache/pages';
    const tags = ['v1', 'v10', 'v2', 'latest', 'Latest', 'LTS', '1.0', '1.0.1', '1.10', '_internal', 'v1-rc.1', 'v1_rc2', 'beta', 'a'];
    const expected = [...tags].sort();
    const image = await ra.pushImage(name, tags[0]!);
    for (const t of tags.slice(1)) await tag(ra, name, t, image.bytes);
    // A has the whole list cached after this; B has not listed it yet.
    assert.deepEqual(await list(ra, name), expected);
    for (const n of [1, 2, 3, 5, 13, 14, 100]) {
      assert.deepEqual(await walk(ra, name, n), expected, `n=${n} from the cache`);
      assert.deepEqual(await walk(rb, name, n), expected, `n=${n} from the database`);
    }
    for (const reg of [ra, rb]) {
      const page = async (query: string) => (await (await reg.request(`/v2/${name}/tags/list?${query}`)).json()) as TagList;
      assert.deepEqual((await page('n=0')).tags, []);
      assert.deepEqual((await page('n=100&last=m')).tags, expected.filter((t) => t > 'm'));
      assert.deepEqual((await page(`last=${expected[9]}`)).tags, expected.slice(10));
      assert.deepEqual((await page(`n=2&last=${expected.at(-1)}`)).tags, []);
      assert.deepEqual((await page('n=3&last=')).tags, expected.slice(0, 3));
    }
    // A changed list is not sliced from the old cached one.
    await tag(rb, name, 'm', image.bytes);
    const withM = [...expected, 'm'].sort();
    assert.deepEqual(await walk(ra, name, 4), withM);
    assert.deepEqual(await list(ra, name), withM);
    assert.deepEqual(await walk(ra, name, 4), withM);
  });
});

// SQLite only, on purpose: two connections in one process to one file are
// the in-process picture of --workers. On PostgreSQL the servers above (each
// its own process and pool, under HATOBA_TEST_BACKEND=postgres-s3) are that
// picture, and test/db/metadata.test.ts checks tags_version on both.
describe('two Manifests objects on one SQLite file (as two processes)', () => {
  let dir: string;
  let metas: Metadata[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hatoba-tag-cache-'));
    const path = join(dir, 'hatoba.db');
    metas = [new Metadata(await openSqlite(path)), new Metadata(await openSqlite(path))];
  });
  after(async () => {
    for (const m of metas ?? []) await m.close();
    await rm(dir, { recursive: true, force: true });
  });

  const name = 'inproc/app' as RepositoryName;

  /** An OCI manifest whose config and layer are linked in the repository. */
  async function manifest(meta: Metadata, seed: string): Promise<Uint8Array> {
    const id = await meta.ensureRepository(name);
    const config = digestOf(Buffer.from(`config ${seed}`), 'sha256');
    const layer = digestOf(Buffer.from(`layer ${seed}`), 'sha256');
    await meta.linkBlob(id, config, 10);
    await meta.linkBlob(id, layer, 20);
    return Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 10 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: 20 }],
      }),
    );
  }

  test('a list is served from the cache until the other object changes a tag', async () => {
    const [m1, m2] = metas.map((meta) => new Manifests(meta)) as [Manifests, Manifests];
    const [meta1] = metas as [Metadata, Metadata];
    const one = await manifest(meta1, 'one');
    const two = await manifest(meta1, 'two');
    await m1.put(name, parseManifestReference('v1'), one, OCI_MANIFEST);

    const first = await m1.tagList(name);
    assert.deepEqual(first.tags, ['v1']);
    assert.equal(await m1.tagList(name), first, 'the second listing is the cached object');
    assert.deepEqual(JSON.parse(first.body.toString()), { name, tags: ['v1'] });

    const id = (await meta1.findRepository(name))!;
    const v0 = await meta1.tagsVersion(id);
    await m2.put(name, parseManifestReference('v1'), one, OCI_MANIFEST);
    assert.equal(await meta1.tagsVersion(id), v0, 'the same tag on the same manifest changes nothing');
    assert.equal(await m1.tagList(name), first, 'and the cache stays valid');
    await m2.put(name, { kind: 'digest', digest: digestOf(two, 'sha256') }, two, OCI_MANIFEST);
    assert.equal(await meta1.tagsVersion(id), v0, 'an untagged manifest changes no tag');

    await m2.put(name, parseManifestReference('v2'), one, OCI_MANIFEST);
    assert.deepEqual((await m1.tagList(name)).tags, ['v1', 'v2'], 'added on the other object');
    await m2.put(name, parseManifestReference('v1'), two, OCI_MANIFEST);
    assert.ok((await meta1.tagsVersion(id))! > v0!);
    const moved = await m1.tagList(name);
    assert.notEqual(moved, first);
    assert.deepEqual(moved.tags, ['v1', 'v2'], 'moved on the other object');
    await m2.delete(name, parseManifestReference('v2'));
    assert.deepEqual((await m1.tagList(name)).tags, ['v1'], 'deleted on the other object');
    assert.deepEqual(await m1.tags(name, 10), { tags: ['v1'], more: false });
    await m2.delete(name, { kind: 'digest', digest: digestOf(two, 'sha256') });
    assert.deepEqual((await m1.tagList(name)).tags, [], 'its manifest deleted on the other object');
    assert.deepEqual(await m1.tags(name, 10), { tags: [], more: false });
  });

  test('concurrent misses read the database once', async () => {
    const meta = metas[0]!;
    const m = new Manifests(meta);
    let reads = 0;
    const tagNamesJson = meta.tagNamesJson.bind(meta);
    meta.tagNamesJson = async (...args) => {
      reads++;
      return tagNamesJson(...args);
    };
    try {
      const lists = await Promise.all(Array.from({ length: 8 }, () => m.tagList(name)));
      assert.equal(reads, 1);
      for (const l of lists) assert.equal(l, lists[0]);
    } finally {
      meta.tagNamesJson = tagNamesJson;
    }
  });
});

describe('TagListCache', () => {
  const list = (version: number, n: number) => tagListFromJson('r', version, JSON.stringify(Array.from({ length: n }, (_, i) => `t${String(i).padStart(4, '0')}`)));

  test('keeps at most maxBytes, dropping the least recently used first', () => {
    const size = list(0, 100).bytes;
    const cache = new TagListCache(size * 3);
    for (const id of [1, 2, 3]) cache.put(id, list(0, 100));
    assert.equal(cache.size, 3);
    assert.ok(cache.get(1, 0), 'repository 1 is used, so 2 is now the oldest');
    cache.put(4, list(0, 100));
    assert.equal(cache.size, 3);
    assert.ok(cache.bytes <= cache.maxBytes);
    assert.equal(cache.get(2, 0), undefined);
    for (const id of [1, 3, 4]) assert.ok(cache.get(id, 0), `repository ${id} kept`);
  });

  test('a list larger than the whole budget is not kept', () => {
    const cache = new TagListCache(1000);
    cache.put(1, list(0, 1000));
    assert.equal(cache.size, 0);
    assert.equal(cache.bytes, 0);
  });

  test('only the exact version is served; an older entry is dropped, a newer one is kept', () => {
    const cache = new TagListCache();
    cache.put(1, list(5, 3));
    assert.equal(cache.get(1, 4), undefined, 'a request that read an older version misses');
    assert.ok(cache.get(1, 5), 'and the newer entry stays');
    cache.put(1, list(4, 3));
    assert.equal(cache.get(1, 5)?.version, 5, 'an older list never replaces a newer one');
    assert.equal(cache.get(1, 6), undefined);
    assert.equal(cache.size, 0, 'an entry older than the database version is dropped');
    assert.equal(cache.bytes, 0);
  });

  test('indexAfter finds where a page after `last` starts', () => {
    const tags = ['a', 'b', 'd', 'e'];
    assert.equal(indexAfter(tags, ''), 0);
    assert.equal(indexAfter(tags, 'a'), 1);
    assert.equal(indexAfter(tags, 'c'), 2);
    assert.equal(indexAfter(tags, 'd'), 3);
    assert.equal(indexAfter(tags, 'e'), 4);
    assert.equal(indexAfter(tags, 'z'), 4);
    assert.equal(indexAfter([], 'a'), 0);
  });
});
