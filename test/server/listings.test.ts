// OCI Distribution Spec 1.1 — content discovery, against a real `hatoba serve`.
//
//   end-8a  GET /v2/<name>/tags/list
//   end-8b  GET /v2/<name>/tags/list?n=<int>&last=<tagname>
//           GET /v2/_catalog?n=<int>&last=<name>   (not in OCI, but in distribution)
//
// Lexical order here is byte order ("ASCIIbetical", Go's sort.Strings),
// which the spec allows and which is the only order that pages consistently
// with `last` comparisons; JavaScript's default sort gives the same order
// for these ASCII names.
//
// Run: node --import tsx --test test/server/listings.test.ts
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { expectError, TestRegistry } from '../helpers/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/**
 * The scale check pushes its tags through the API (PUT of one tiny manifest
 * under many tags; seeding the database directly is not allowed). The target
 * was 100,000 tags, but on the 2-CPU development machine, shared with other
 * work, 100,000 PUTs at concurrency 32 took 234 s (427 PUT/s; a 5,000-tag
 * sample on a quieter machine ran at ~1,300 PUT/s, i.e. ~80 s), over the ~90 s budget, so 20,000 are used.
 * The rate does not fall as the tag count grows (measured in 5,000-tag
 * slices up to 30,000), so 20,000 says the same about the server. Run with
 * HATOBA_TEST_SCALE_TAGS=100000 for the full size.
 */
const SCALE_TAGS = Number(process.env.HATOBA_TEST_SCALE_TAGS ?? 20_000);
const SCALE_CONCURRENCY = 32;
const SCALE_PAGE = 1000;

interface TagList {
  name: string;
  tags: string[];
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}

describe('content discovery: tags and catalog (OCI distribution spec 1.1)', () => {
  let server: RunningServer;
  let registry: TestRegistry;
  /** Every repository this file creates, for the exact catalog checks. */
  const repositories = new Set<string>();

  before(async () => {
    server = await startServer();
    registry = new TestRegistry(server.url);
  });
  after(async () => {
    await server?.dispose();
  });

  /** Pushes one tiny image to `name` and tags it with every tag in `tags`. */
  async function seed(name: string, tags: string[]): Promise<string> {
    repositories.add(name);
    const [first, ...rest] = tags;
    const image = await registry.pushImage(name, first ?? 'seed');
    for (const tag of rest) {
      const res = await registry.putManifest(name, tag, image.bytes, OCI_MANIFEST);
      assert.equal(res.status, 201, `tag ${name}:${tag}: ${res.status} ${await res.text()}`);
    }
    return image.bytes;
  }

  /** A 200 JSON listing; returns its body and Link header. */
  async function listing<T>(path: string): Promise<{ body: T; link: string | null }> {
    const res = await registry.request(path);
    const text = await res.text();
    assert.equal(res.status, 200, `GET ${path}: ${res.status} ${text}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
    return { body: JSON.parse(text) as T, link: res.headers.get('link') };
  }

  /** The URL of a `Link: <url>; rel="next"` header. */
  function nextUrl(link: string): string {
    const m = /^<([^>]+)>; rel="next"$/.exec(link);
    assert.ok(m, `not an RFC 5988 next link: ${link}`);
    return m[1]!;
  }

  // ------------------------------------------------------------ tags/list

  describe('GET /v2/<name>/tags/list', () => {
    const name = 'discovery/tags';
    const tags = ['v1', 'v10', 'v2', 'latest', 'Latest', 'LTS', '1.0', '1.0.1', '1.10', '_internal', 'v1-rc.1', 'v1_rc2', 'beta', 'a'];
    const expected = sorted(tags);

    before(async () => {
      await seed(name, tags);
    });

    test('200 {name, tags} with every tag in lexical order and no Link header', async () => {
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list`);
      assert.deepEqual(body, { name, tags: expected });
      assert.equal(link, null);
    });

    test('?n=N: the first N tags and Link: </v2/<name>/tags/list?n=N&last=LAST>; rel="next"', async () => {
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list?n=3`);
      assert.deepEqual(body, { name, tags: expected.slice(0, 3) });
      assert.equal(link, `</v2/${name}/tags/list?n=3&last=${expected[2]}>; rel="next"`);
    });

    test('?n=N&last=T: the N tags after T', async () => {
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list?n=2&last=${expected[4]}`);
      assert.deepEqual(body, { name, tags: expected.slice(5, 7) });
      assert.equal(link, `</v2/${name}/tags/list?n=2&last=${expected[6]}>; rel="next"`);
    });

    for (const n of [1, 2, 3, 5, 7, 13]) {
      test(`following Link headers with n=${n} visits every tag exactly once, and the last page has no Link`, async () => {
        const seen: string[] = [];
        let path: string | undefined = `/v2/${name}/tags/list?n=${n}`;
        let pages = 0;
        while (path !== undefined) {
          const { body, link }: { body: TagList; link: string | null } = await listing<TagList>(path);
          pages++;
          assert.equal(body.name, name);
          assert.ok(body.tags.length <= n, `page of ${body.tags.length} > n=${n}`);
          seen.push(...body.tags);
          if (link === null) {
            path = undefined;
          } else {
            assert.equal(body.tags.length, n, 'a page before the last one is full');
            assert.equal(link, `</v2/${name}/tags/list?n=${n}&last=${body.tags.at(-1)}>; rel="next"`);
            path = nextUrl(link);
          }
          assert.ok(pages <= expected.length + 1, 'pagination does not end');
        }
        assert.deepEqual(seen, expected);
        assert.equal(pages, Math.ceil(expected.length / n));
      });
    }

    test('n equal to the number of tags: one full page, no Link', async () => {
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list?n=${expected.length}`);
      assert.deepEqual(body.tags, expected);
      assert.equal(link, null);
    });

    test('n larger than the number of tags: every tag, no Link', async () => {
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list?n=1000`);
      assert.deepEqual(body.tags, expected);
      assert.equal(link, null);
    });

    test('n=0: an empty list and no Link header', async () => {
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list?n=0`);
      assert.deepEqual(body, { name, tags: [] });
      assert.equal(link, null, 'spec: "When n is zero, this endpoint MUST return an empty list, and MUST NOT include a Link header"');
    });

    test('last after the final tag: an empty list and no Link header', async () => {
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list?n=5&last=${expected.at(-1)}`);
      assert.deepEqual(body, { name, tags: [] });
      assert.equal(link, null);
    });

    test('last without n: every tag after it, no Link', async () => {
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list?last=${expected[9]}`);
      assert.deepEqual(body, { name, tags: expected.slice(10) });
      assert.equal(link, null);
    });

    test('last that is not itself a tag: starts after where it would sort', async () => {
      const { body } = await listing<TagList>(`/v2/${name}/tags/list?n=100&last=m`);
      assert.deepEqual(body.tags, expected.filter((t) => t > 'm'));
    });

    for (const n of ['-1', 'abc', '1.5', '1e3']) {
      test(`n=${n}: 400 UNSUPPORTED`, async () => {
        await expectError(await registry.request(`/v2/${name}/tags/list?n=${n}`), 400, 'UNSUPPORTED');
      });
    }

    test('a repository with manifests but no tags: 200 with an empty list', async () => {
      const untagged = 'discovery/untagged';
      repositories.add(untagged);
      const image = await registry.pushImage(untagged, 'temporary');
      assert.equal((await registry.request(`/v2/${untagged}/manifests/temporary`, { method: 'DELETE' })).status, 202);
      const { body, link } = await listing<TagList>(`/v2/${untagged}/tags/list`);
      assert.deepEqual(body, { name: untagged, tags: [] });
      assert.equal(link, null);
      // The manifest is still there, untagged.
      assert.equal((await registry.request(`/v2/${untagged}/manifests/${image.digest}`, { method: 'HEAD' })).status, 200);
    });

    test('a repository the registry has never seen: 404 NAME_UNKNOWN', async () => {
      await expectError(await registry.request('/v2/discovery/never-pushed/tags/list'), 404, 'NAME_UNKNOWN');
      await expectError(await registry.request('/v2/discovery/never-pushed/tags/list?n=10'), 404, 'NAME_UNKNOWN');
    });

    test('an invalid repository name: 400 NAME_INVALID', async () => {
      await expectError(await registry.request('/v2/Discovery/Tags/tags/list'), 400, 'NAME_INVALID');
      await expectError(await registry.request('/v2/discovery//tags/tags/list'), 400, 'NAME_INVALID');
    });
  });

  // ------------------------------------------------------------ _catalog

  describe('GET /v2/_catalog', () => {
    const names = ['catalog/alpha', 'catalog/beta', 'catalog-x/one', 'catalog.y/two', 'catalog_z', 'catalog/a/b/c', 'zz/last', 'aa/first'];

    before(async () => {
      for (const name of names) await seed(name, ['v1']);
    });

    test('200 {repositories} with every repository in lexical order', async () => {
      const { body, link } = await listing<{ repositories: string[] }>('/v2/_catalog?n=1000');
      assert.deepEqual(body, { repositories: sorted(repositories) });
      assert.equal(link, null);
    });

    test('without n: every repository (fewer than the default page), no Link', async () => {
      const { body, link } = await listing<{ repositories: string[] }>('/v2/_catalog');
      assert.deepEqual(body, { repositories: sorted(repositories) });
      assert.equal(link, null);
    });

    test('?n=2: the first two repositories and a next Link with the last one, URL-encoded', async () => {
      const all = sorted(repositories);
      const { body, link } = await listing<{ repositories: string[] }>('/v2/_catalog?n=2');
      assert.deepEqual(body, { repositories: all.slice(0, 2) });
      assert.equal(link, `</v2/_catalog?n=2&last=${encodeURIComponent(all[1]!)}>; rel="next"`);
    });

    for (const n of [1, 2, 3, 4]) {
      test(`following Link headers with n=${n} visits every repository exactly once`, async () => {
        const all = sorted(repositories);
        const seen: string[] = [];
        let path: string | undefined = `/v2/_catalog?n=${n}`;
        let pages = 0;
        while (path !== undefined) {
          const { body, link }: { body: { repositories: string[] }; link: string | null } = await listing<{ repositories: string[] }>(path);
          pages++;
          assert.ok(body.repositories.length <= n);
          seen.push(...body.repositories);
          if (link === null) {
            path = undefined;
          } else {
            assert.equal(body.repositories.length, n);
            assert.equal(link, `</v2/_catalog?n=${n}&last=${encodeURIComponent(body.repositories.at(-1)!)}>; rel="next"`);
            path = nextUrl(link);
          }
          assert.ok(pages <= all.length + 1, 'pagination does not end');
        }
        assert.deepEqual(seen, all);
        assert.equal(pages, Math.ceil(all.length / n));
      });
    }

    test('?last=R: the repositories after R', async () => {
      const all = sorted(repositories);
      const { body } = await listing<{ repositories: string[] }>(`/v2/_catalog?n=1000&last=${encodeURIComponent('catalog/beta')}`);
      assert.deepEqual(body.repositories, all.filter((r) => r > 'catalog/beta'));
    });

    test('n=0: an empty list and no Link header', async () => {
      const { body, link } = await listing<{ repositories: string[] }>('/v2/_catalog?n=0');
      assert.deepEqual(body, { repositories: [] });
      assert.equal(link, null);
    });

    for (const n of ['-1', 'abc']) {
      test(`n=${n}: 400 UNSUPPORTED`, async () => {
        await expectError(await registry.request(`/v2/_catalog?n=${n}`), 400, 'UNSUPPORTED');
      });
    }
  });

  // ------------------------------------------------------------ scale

  describe(`scale: one repository with ${SCALE_TAGS.toLocaleString('en')} tags, all pushed through the API`, () => {
    const name = 'discovery/scale';
    // Unpadded numbers, so lexical order differs from numeric order.
    const tags = Array.from({ length: SCALE_TAGS }, (_, i) => `t${i}`);
    const expected = sorted(tags);

    test(`PUT ${SCALE_TAGS.toLocaleString('en')} tags of one tiny manifest, ${SCALE_CONCURRENCY} at a time`, async (t) => {
      repositories.add(name);
      const image = await registry.pushImage(name, tags[0]!);
      let next = 1;
      const failures: string[] = [];
      const started = performance.now();
      await Promise.all(
        Array.from({ length: SCALE_CONCURRENCY }, async () => {
          while (next < tags.length) {
            const tag = tags[next++]!;
            const res = await registry.putManifest(name, tag, image.bytes, OCI_MANIFEST);
            const text = await res.text();
            if (res.status !== 201 && failures.length < 10) failures.push(`${tag}: ${res.status} ${text}`);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      t.diagnostic(`pushed ${SCALE_TAGS} tags in ${seconds.toFixed(1)} s (${Math.round(SCALE_TAGS / seconds)} PUT/s at concurrency ${SCALE_CONCURRENCY})`);
      assert.deepEqual(failures, []);
    });

    test('GET tags/list without n returns every tag once, in lexical order', async (t) => {
      const started = performance.now();
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list`);
      const ms = performance.now() - started;
      t.diagnostic(`GET tags/list (all ${body.tags.length} tags at once): ${ms.toFixed(0)} ms`);
      assert.equal(body.name, name);
      assert.equal(body.tags.length, SCALE_TAGS);
      assert.deepEqual(body.tags, expected);
      assert.equal(link, null);
    });

    test(`GET tags/list with n=${SCALE_PAGE}, following Link headers, visits every tag once, in order`, async (t) => {
      const seen: string[] = [];
      let path: string | undefined = `/v2/${name}/tags/list?n=${SCALE_PAGE}`;
      let pages = 0;
      let slowest = 0;
      const started = performance.now();
      while (path !== undefined) {
        const pageStarted = performance.now();
        const { body, link }: { body: TagList; link: string | null } = await listing<TagList>(path);
        slowest = Math.max(slowest, performance.now() - pageStarted);
        pages++;
        seen.push(...body.tags);
        if (link === null) {
          path = undefined;
        } else {
          assert.equal(body.tags.length, SCALE_PAGE);
          assert.equal(link, `</v2/${name}/tags/list?n=${SCALE_PAGE}&last=${body.tags.at(-1)}>; rel="next"`);
          path = nextUrl(link);
        }
        assert.ok(pages <= SCALE_TAGS / SCALE_PAGE + 1, 'pagination does not end');
      }
      const ms = performance.now() - started;
      t.diagnostic(`GET tags/list n=${SCALE_PAGE}: ${pages} pages in ${ms.toFixed(0)} ms (${(ms / pages).toFixed(1)} ms/page, slowest ${slowest.toFixed(0)} ms)`);
      assert.equal(pages, Math.ceil(SCALE_TAGS / SCALE_PAGE));
      assert.equal(seen.length, SCALE_TAGS);
      assert.deepEqual(seen, expected);
    });

    test('an n above what the server serves in one page: all n tags, or fewer with a Link to the rest', async () => {
      const n = SCALE_TAGS - 1;
      const { body, link } = await listing<TagList>(`/v2/${name}/tags/list?n=${n}`);
      assert.deepEqual(body.tags, expected.slice(0, body.tags.length));
      if (body.tags.length < n) {
        assert.ok(link !== null, `only ${body.tags.length} of n=${n} tags and no Link`);
        const next = new URL(nextUrl(link), server.url);
        assert.equal(next.pathname, `/v2/${name}/tags/list`);
        assert.equal(next.searchParams.get('last'), body.tags.at(-1));
      } else {
        assert.equal(body.tags.length, n);
        assert.equal(link, `</v2/${name}/tags/list?n=${n}&last=${body.tags.at(-1)}>; rel="next"`);
      }
    });
  });
});
