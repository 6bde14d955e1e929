// OCI Distribution operations on top of HttpClient, each one checking what
// the registry answers (status, Location, Range, Docker-Content-Digest,
// sha256 of the bytes that came back).
import { BenchError, HttpClient, header, nextLink, requireHeader, type Body } from './client.js';
import { MANIFEST_ACCEPT, prngDigest, prngRange, sha256, type BuiltManifest } from './data.js';

export type MonolithicMode = 'single-post' | 'post-put';

export class Registry {
  /** How a monolithic upload is sent to this server (see probeMonolithic). */
  mono: MonolithicMode = 'post-put';
  /** Protocol deviations noticed while benchmarking (deduplicated). */
  readonly deviations = new Set<string>();

  constructor(readonly name: string, readonly http: HttpClient) {}

  deviation(msg: string): void {
    this.deviations.add(msg);
  }

  private withQuery(location: string, key: string, value: string): string {
    const path = this.http.resolve(location);
    return `${path}${path.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
  }

  private checkDigestHeader(res: { headers: Record<string, unknown> }, expected: string, what: string): void {
    const got = res.headers['docker-content-digest'];
    if (got === undefined) this.deviation(`${what}: no Docker-Content-Digest header`);
    else if (got !== expected) throw new BenchError(`${what}: Docker-Content-Digest ${String(got)} != ${expected}`);
  }

  /**
   * Finds out whether the server completes a single `POST ?digest=` with a
   * body (OCI "single POST" monolithic upload, optional in the spec) or
   * answers 202 and expects the bytes in a PUT. distribution 2.8 does the latter.
   */
  async probeMonolithic(): Promise<MonolithicMode> {
    const body = Buffer.alloc(1024, 7);
    const digest = sha256(body);
    const res = await this.http.request({
      method: 'POST', path: `/v2/bench/pull/blobs/uploads/?digest=${encodeURIComponent(digest)}`,
      headers: { 'Content-Type': 'application/octet-stream' }, body, expect: [201, 202],
    });
    if (res.status === 201) {
      this.checkDigestHeader(res, digest, 'single-POST upload');
      this.mono = 'single-post';
    } else {
      const loc = requireHeader(res, 'location', 'POST upload');
      await this.http.request({ method: 'DELETE', path: this.http.resolve(loc), expect: [204, 202, 200, 404] });
      this.mono = 'post-put';
    }
    return this.mono;
  }

  /** Monolithic upload: single POST ?digest= with the body, or POST + PUT ?digest= with the body. */
  async uploadMonolithic(repo: string, digest: string, size: number, body: Body): Promise<void> {
    const what = `monolithic upload ${repo}@${digest.slice(0, 19)}`;
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': size };
    let res;
    if (this.mono === 'single-post') {
      res = await this.http.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, headers, body, expect: 201 });
    } else {
      const start = await this.http.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, expect: 202 });
      const loc = requireHeader(start, 'location', `${what} POST`);
      res = await this.http.request({ method: 'PUT', path: this.withQuery(loc, 'digest', digest), headers, body, expect: 201 });
    }
    requireHeader(res, 'location', what);
    this.checkDigestHeader(res, digest, 'blob upload 201');
  }

  async uploadBuffer(repo: string, buf: Buffer): Promise<string> {
    const digest = sha256(buf);
    await this.uploadMonolithic(repo, digest, buf.length, buf);
    return digest;
  }

  async uploadPrngMonolithic(repo: string, seed: string, size: number): Promise<string> {
    const digest = prngDigest(seed, size);
    await this.uploadMonolithic(repo, digest, size, prngRange(seed, size, 0, size));
    return digest;
  }

  /** POST, then PATCH chunks with Content-Range (following each Location), then PUT ?digest=. */
  async uploadPrngChunked(repo: string, seed: string, size: number, chunkSize: number): Promise<string> {
    const digest = prngDigest(seed, size);
    const what = `chunked upload ${repo}@${digest.slice(0, 19)}`;
    const start = await this.http.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, expect: 202 });
    let loc = requireHeader(start, 'location', `${what} POST`);
    for (let off = 0; off < size; off += chunkSize) {
      const end = Math.min(size, off + chunkSize);
      const res = await this.http.request({
        method: 'PATCH', path: this.http.resolve(loc),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': end - off, 'Content-Range': `${off}-${end - 1}` },
        body: prngRange(seed, size, off, end), expect: 202,
      });
      loc = requireHeader(res, 'location', `${what} PATCH`);
      const range = header(res, 'range');
      if (range === undefined) this.deviation('PATCH 202: no Range header');
      else if (range !== `0-${end - 1}` && range !== `bytes=0-${end - 1}`) {
        throw new BenchError(`${what} PATCH: Range ${range}, expected 0-${end - 1}`);
      }
    }
    const res = await this.http.request({ method: 'PUT', path: this.withQuery(loc, 'digest', digest), expect: 201 });
    requireHeader(res, 'location', `${what} PUT`);
    this.checkDigestHeader(res, digest, 'blob upload 201');
    return digest;
  }

  /** GET a blob and verify its size and sha256. */
  async pullBlob(repo: string, digest: string, size: number): Promise<number> {
    const res = await this.http.request({ method: 'GET', path: `/v2/${repo}/blobs/${digest}`, expect: 200, sink: 'hash' });
    if (res.digest !== digest) throw new BenchError(`GET blob ${repo}@${digest}: body sha256 is ${res.digest}`);
    if (res.bytes !== size) throw new BenchError(`GET blob ${repo}@${digest}: ${res.bytes} bytes, expected ${size}`);
    return res.bytes;
  }

  async putManifest(repo: string, ref: string, m: BuiltManifest): Promise<void> {
    const res = await this.http.request({
      method: 'PUT', path: `/v2/${repo}/manifests/${ref}`, headers: { 'Content-Type': m.mediaType }, body: m.body, expect: 201,
    });
    requireHeader(res, 'location', `PUT manifest ${repo}:${ref}`);
    this.checkDigestHeader(res, m.digest, 'manifest PUT 201');
  }

  async getManifest(repo: string, ref: string, m: BuiltManifest): Promise<void> {
    const what = `GET manifest ${repo}:${ref}`;
    const res = await this.http.request({ method: 'GET', path: `/v2/${repo}/manifests/${ref}`, headers: { Accept: MANIFEST_ACCEPT }, expect: 200, sink: 'hash' });
    if (res.digest !== m.digest) throw new BenchError(`${what}: body sha256 ${res.digest} != ${m.digest}`);
    this.checkDigestHeader(res, m.digest, 'manifest GET');
    const ct = header(res, 'content-type');
    if (ct !== m.mediaType) {
      if (ct === undefined) this.deviation('manifest GET: no Content-Type');
      else throw new BenchError(`${what}: Content-Type ${ct} != ${m.mediaType}`);
    }
  }

  async headManifest(repo: string, ref: string, m: BuiltManifest): Promise<void> {
    const what = `HEAD manifest ${repo}:${ref}`;
    const res = await this.http.request({ method: 'HEAD', path: `/v2/${repo}/manifests/${ref}`, headers: { Accept: MANIFEST_ACCEPT }, expect: 200, sink: 'discard' });
    const dcd = header(res, 'docker-content-digest');
    if (dcd === undefined) throw new BenchError(`${what}: no Docker-Content-Digest (clients need it on HEAD)`);
    if (dcd !== m.digest) throw new BenchError(`${what}: Docker-Content-Digest ${dcd} != ${m.digest}`);
    const cl = header(res, 'content-length');
    if (cl === undefined) this.deviation('manifest HEAD: no Content-Length');
    else if (Number(cl) !== m.body.length) throw new BenchError(`${what}: Content-Length ${cl} != ${m.body.length}`);
  }

  /**
   * Walks a paginated list (`/v2/<name>/tags/list?n=` or `/v2/_catalog?n=`)
   * following Link rel="next"; returns every item and the per-page latencies.
   */
  async walkList(firstPath: string, key: 'tags' | 'repositories', onPage?: (ms: number) => void): Promise<{ items: string[]; pages: number }> {
    const items: string[] = [];
    let path: string | undefined = firstPath;
    let pages = 0;
    while (path !== undefined) {
      const t0 = performance.now();
      const res = await this.http.request({ method: 'GET', path, expect: 200, sink: 'buffer' });
      onPage?.(performance.now() - t0);
      pages++;
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new BenchError(`GET ${path}: body is not JSON`);
      }
      const list = doc[key];
      if (list === null && key === 'tags') {
        // an empty page
      } else if (!Array.isArray(list)) throw new BenchError(`GET ${path}: no "${key}" array`);
      else for (const x of list) items.push(String(x));
      const next = nextLink(res);
      path = next === undefined ? undefined : this.http.resolve(next, path);
      if (pages > 1_000_000) throw new BenchError(`GET ${firstPath}: pagination does not end`);
    }
    return { items, pages };
  }
}
