// Helpers for the registry client tests (not a test file): clients that log
// every HTTP exchange, a forwarding proxy that can rewrite what a registry
// says, a fake registry, and building test images.
import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegistryClient, type RegistryClientOptions, type RequestEvent } from '../../src/client/registry-client.js';
import { bufferSource, type BlobSource } from '../../src/client/blob-transfer.js';
import { ADMIN } from '../helpers/server.js';

export function uniq(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Every HTTP exchange a client made, for counting. */
export class RequestLog {
  readonly events: RequestEvent[] = [];
  readonly listener = (e: RequestEvent) => void this.events.push(e);

  count(method: string, path: RegExp | string): number {
    return this.matching(method, path).length;
  }

  matching(method: string, path: RegExp | string): RequestEvent[] {
    return this.events.filter((e) => (method === '*' || e.method === method) && (typeof path === 'string' ? new URL(e.url).pathname === path : path.test(new URL(e.url).pathname)));
  }

  clear(): void {
    this.events.length = 0;
  }

  toString(): string {
    return this.events.map((e) => `${e.method} ${new URL(e.url).pathname}${new URL(e.url).search} -> ${e.status ?? e.error}`).join('\n');
  }
}

export function loggedClient(url: string, options: Partial<RegistryClientOptions> = {}): { client: RegistryClient; log: RequestLog } {
  const log = new RequestLog();
  const client = new RegistryClient({ url, credentials: { ...ADMIN }, onRequest: log.listener, ...options });
  return { client, log };
}

export interface TestServer {
  url: string;
  port: number;
  requests: { method: string; url: string }[];
  close(): Promise<void>;
}

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<TestServer> {
  const requests: { method: string; url: string }[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url! });
    Promise.resolve(handler(req, res)).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface ProxyOptions {
  /** Replace every `WWW-Authenticate` with a Basic challenge (a registry without a token service). */
  basicChallenge?: boolean;
  /** Answer 404 for the token endpoint (a Bearer challenge whose realm serves no tokens). */
  noTokenEndpoint?: boolean;
}

/** Forwards everything to `target`, streaming both ways, optionally rewriting the auth story. */
export function startProxy(target: string, options: ProxyOptions = {}): Promise<TestServer> {
  const t = new URL(target);
  let self = '';
  return listen((req, res) => {
    if (options.noTokenEndpoint && req.url!.startsWith('/v2/token')) {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
      return;
    }
    const upstream = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } }, (up) => {
      const headers = { ...up.headers };
      if (headers['www-authenticate']) {
        headers['www-authenticate'] = options.basicChallenge ? 'Basic realm="test registry"' : String(headers['www-authenticate']).replaceAll(target, self);
      }
      res.writeHead(up.statusCode!, headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }).then((server) => {
    self = server.url;
    return server;
  });
}

export interface TestImage {
  manifest: Buffer;
  mediaType: string;
  digest: string;
  config: Buffer;
  layers: Buffer[];
  sources: BlobSource[];
}

/** An OCI image manifest for some layers (random content unless given). */
export function makeImage(options: { layers?: Buffer[]; platform?: string; annotations?: Record<string, string> } = {}): TestImage {
  const [os, architecture] = (options.platform ?? 'linux/amd64').split('/');
  const layers = options.layers ?? [randomBytes(1000 + Math.floor(Math.random() * 1000)), randomBytes(3000)];
  const config = Buffer.from(JSON.stringify({ architecture, os, rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) }, created: new Date().toISOString(), salt: randomBytes(4).toString('hex') }));
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(l), size: l.length })),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  };
  const manifest = Buffer.from(JSON.stringify(doc, null, 2));
  return {
    manifest,
    mediaType: doc.mediaType,
    digest: sha256(manifest),
    config,
    layers,
    sources: [bufferSource(config, sha256(config)), ...layers.map((l) => bufferSource(l, sha256(l)))],
  };
}

export function makeIndex(children: { image: TestImage; platform: string }[]): { bytes: Buffer; digest: string; mediaType: string } {
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: children.map(({ image, platform }) => {
      const [os, architecture, variant] = platform.split('/');
      return { mediaType: image.mediaType, digest: image.digest, size: image.manifest.length, platform: { os, architecture, ...(variant ? { variant } : {}) } };
    }),
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, digest: sha256(bytes), mediaType: doc.mediaType };
}

/** A signature-like artifact whose subject is `subject`. */
export function makeReferrer(subject: { digest: string; size: number; mediaType: string }, artifactType: string, payload = randomBytes(64)): TestImage {
  const empty = Buffer.from('{}');
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
    layers: [{ mediaType: 'application/octet-stream', digest: sha256(payload), size: payload.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { 'org.example.kind': 'signature' },
  };
  const manifest = Buffer.from(JSON.stringify(doc));
  return { manifest, mediaType: doc.mediaType, digest: sha256(manifest), config: empty, layers: [payload], sources: [bufferSource(empty, sha256(empty)), bufferSource(payload, sha256(payload))] };
}
