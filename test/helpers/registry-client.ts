// Small helpers for talking to a registry in integration tests: raw
// requests with fetch, pushing blobs and manifests, and reading the OCI
// error envelope.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ADMIN } from './server.js';

export interface OciErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export interface Credentials {
  username: string;
  password: string;
}

export function basicAuth(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

export class TestRegistry {
  /** Requests carry these credentials as Basic auth (the admin's by default); null sends none. */
  constructor(
    readonly url: string,
    readonly credentials: Credentials | null = ADMIN,
  ) {}

  request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.credentials && !headers.has('authorization')) headers.set('authorization', basicAuth(this.credentials));
    return fetch(`${this.url}${path}`, { redirect: 'manual', ...init, headers });
  }

  as(credentials: Credentials | null): TestRegistry {
    return new TestRegistry(this.url, credentials);
  }

  /** Monolithic push (POST ?digest=); returns the digest. */
  async pushBlob(name: string, data: Uint8Array | string): Promise<string> {
    const digest = sha256(data);
    const res = await this.request(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data as BodyInit });
    assert.equal(res.status, 201, `push blob to ${name}: ${res.status} ${await res.text()}`);
    return digest;
  }

  /** Pushes a manifest document; returns the response. */
  putManifest(name: string, reference: string, manifest: unknown, mediaType?: string): Promise<Response> {
    const body = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
    const type = mediaType ?? (typeof manifest === 'object' && manifest && 'mediaType' in manifest ? String((manifest as { mediaType: string }).mediaType) : 'application/vnd.oci.image.manifest.v1+json');
    return this.request(`/v2/${name}/manifests/${reference}`, { method: 'PUT', body, headers: { 'Content-Type': type } });
  }

  /** Pushes config + layers and an OCI image manifest for them; returns its bytes and digest. */
  async pushImage(name: string, tag: string, options: { layers?: (string | Uint8Array)[]; config?: string; extra?: Record<string, unknown> } = {}) {
    const config = options.config ?? JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const layers = options.layers ?? [`layer of ${name}:${tag}`];
    const configDigest = await this.pushBlob(name, config);
    const layerDescriptors = [];
    for (const layer of layers) {
      layerDescriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await this.pushBlob(name, layer), size: typeof layer === 'string' ? Buffer.byteLength(layer) : layer.byteLength });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
      layers: layerDescriptors,
      ...options.extra,
    };
    const bytes = JSON.stringify(manifest);
    const res = await this.putManifest(name, tag, bytes, manifest.mediaType);
    assert.equal(res.status, 201, `push manifest ${name}:${tag}: ${res.status} ${await res.text()}`);
    return { manifest, bytes, digest: sha256(bytes), configDigest, layerDigests: layerDescriptors.map((l) => l.digest) };
  }
}

/** Asserts an OCI error response: status, Content-Type and the first code. */
export async function expectError(res: Response, status: number, code: string): Promise<OciErrorEntry[]> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { errors: OciErrorEntry[] };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `no errors array in ${text}`);
  assert.equal(body.errors[0]!.code, code, `expected code ${code} in ${text}`);
  for (const e of body.errors) assert.equal(typeof e.message, 'string');
  return body.errors;
}

/**
 * Sends a request with the path exactly as given (fetch would resolve `..`
 * and `%2e` segments before they reach the server).
 */
export async function rawRequest(baseUrl: string, method: string, path: string, credentials: Credentials | null = ADMIN): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const { request } = await import('node:http');
  const { hostname, port } = new URL(baseUrl);
  const headers: Record<string, string> = credentials ? { authorization: basicAuth(credentials) } : {};
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}
