// HTTP/2 against HTTP/1.1 over TLS, through the real server: one `hatoba
// serve --tls-cert --tls-key --http2` (HTTP/1.1 clients get the HTTP/2
// server's HTTP/1.1 side, as they would with it on), one client that speaks
// either protocol, and per round and protocol:
//   push, streamed:    POST, one PATCH with the whole blob as a streamed
//                      body (chunked / DATA frames), PUT ?digest=
//   push, monolithic:  POST, PUT ?digest= with the blob and its Content-Length
//   pull:              GET of the blob just pushed
//   pull, curl:        the same GET by curl (libcurl's nghttp2), a client
//                      that is not Node, when curl is installed
// Rounds alternate which protocol goes first, so that load from other
// processes on the machine falls on both alike. Prints medians with the
// spread, in MiB/s, and the server's CPU seconds per GiB.
//
//   node --import tsx bench/http2.ts [--size-mib 1024] [--rounds 3]
import { prepareBackend } from './backends.js';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import http2, { type IncomingHttpHeaders } from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { makeCa, makeLeaf } from '../test/helpers/tls.js';
import { requireTool } from '../test/helpers/tools.js';
import { prngChunks, prngDigest } from './data.js';
import { cpuSeconds } from './procstat.js';
import { startHatoba } from './servers.js';
import { median, nowMs } from './stats.js';

type Protocol = 'HTTP/1.1' | 'HTTP/2';
type Operation = 'push, streamed PATCH' | 'push, monolithic PUT' | 'pull' | 'pull, curl';

interface Exchange {
  method: string;
  path: string;
  headers?: Record<string, string | number>;
  body?: Iterable<Buffer>;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: number;
  /** The first 8 KiB of the body, for small answers and errors. */
  text: string;
}

interface Transport {
  send(exchange: Exchange): Promise<Answer>;
  close(): void;
}

/** Writes `body` with backpressure, then ends the stream. */
async function writeBody(stream: Writable, body: Iterable<Buffer> | undefined): Promise<void> {
  for (const chunk of body ?? []) if (!stream.write(chunk)) await once(stream, 'drain');
  stream.end();
}

function collect(source: NodeJS.ReadableStream, resolve: (a: Omit<Answer, 'status' | 'headers'>) => void, reject: (e: Error) => void): void {
  let bytes = 0;
  const head: Buffer[] = [];
  source.on('data', (c: Buffer) => {
    if (bytes < 8192) head.push(c);
    bytes += c.length;
  });
  source.on('end', () => resolve({ bytes, text: Buffer.concat(head).toString('utf8', 0, 8192) }));
  source.on('error', reject);
}

function http1(baseUrl: string, ca: string): Transport {
  const url = new URL(baseUrl);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  return {
    send: (x) =>
      new Promise((resolve, reject) => {
        const req = https.request({ host: url.hostname, port: url.port, method: x.method, path: x.path, headers: x.headers, agent });
        req.on('error', reject);
        req.on('response', (res) => collect(res, (r) => resolve({ status: res.statusCode!, headers: res.headers, ...r }), reject));
        writeBody(req, x.body).catch(reject);
      }),
    close: () => agent.destroy(),
  };
}

async function http2Session(baseUrl: string, ca: string): Promise<Transport> {
  // Windows as Go's HTTP/2 transport (skopeo, podman, containerd, docker) sets them.
  const session = http2.connect(baseUrl, { ca, settings: { initialWindowSize: 4 << 20 } });
  await once(session, 'connect');
  session.setLocalWindowSize(1 << 30);
  if (session.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${session.alpnProtocol}, not h2`);
  return {
    send: (x) =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':method': x.method, ':path': x.path, ...x.headers }, { endStream: x.body === undefined });
        let status = 0;
        let headers: IncomingHttpHeaders = {};
        stream.on('response', (h) => {
          status = Number(h[':status']);
          headers = h;
        });
        stream.on('error', reject);
        collect(stream, (r) => resolve({ status, headers, ...r }), reject);
        if (x.body !== undefined) writeBody(stream, x.body).catch(reject);
      }),
    close: () => session.close(),
  };
}

function expect(answer: Answer, status: number, what: string): Answer {
  if (answer.status !== status) throw new Error(`${what}: ${answer.status}, expected ${status}: ${answer.text.slice(0, 300)}`);
  return answer;
}

const { values: args } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1024' }, rounds: { type: 'string', default: '3' } } });
const size = Number(args['size-mib']) * 1024 * 1024;
const rounds = Number(args.rounds);
const repository = 'bench/http2';
const curl = requireTool('curl', 'apt-get install -y curl', 'the curl pulls');

const dir = mkdtempSync(path.join(os.tmpdir(), 'hatoba-bench-http2-'));
const ca = makeCa(dir, 'ca');
const leaf = makeLeaf(ca, dir, 'server');
const server = await startHatoba(false, ['--tls-cert', leaf.cert, '--tls-key', leaf.key, '--http2'], await prepareBackend('file'));
const results: { protocol: Protocol; operation: Operation; mibPerSecond: number; cpuPerGiB: number; clientCpuPerGiB: number }[] = [];
try {
  const { username, password } = server.credentials ?? { username: 'admin', password: '' };
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const open = (protocol: Protocol) => (protocol === 'HTTP/2' ? http2Session(server.baseUrl, ca.pem) : Promise.resolve(http1(server.baseUrl, ca.pem)));

  /** Runs `work` (which moves `size` bytes) and records its speed and the server's CPU (and this process's, unless the client is another program). */
  async function measure(protocol: Protocol, operation: Operation, work: () => Promise<void>): Promise<void> {
    const cpu = cpuSeconds(server.pid);
    const clientCpu = process.cpuUsage();
    const start = nowMs();
    await work();
    const seconds = (nowMs() - start) / 1000;
    const client = process.cpuUsage(clientCpu);
    const perGiB = (cpuS: number) => (cpuS * 1024 ** 3) / size;
    const record = { protocol, operation, mibPerSecond: size / 1024 / 1024 / seconds, cpuPerGiB: perGiB(cpuSeconds(server.pid) - cpu), clientCpuPerGiB: operation === 'pull, curl' ? NaN : perGiB((client.user + client.system) / 1e6) };
    results.push(record);
    console.log(`${protocol.padEnd(8)} ${operation.padEnd(22)} ${record.mibPerSecond.toFixed(0).padStart(5)} MiB/s  CPU-s/GiB: server ${record.cpuPerGiB.toFixed(2)}, client ${record.clientCpuPerGiB.toFixed(2)}`);
  }

  for (let round = 0; round < rounds; round++) {
    const order: Protocol[] = round % 2 === 0 ? ['HTTP/1.1', 'HTTP/2'] : ['HTTP/2', 'HTTP/1.1'];
    for (const protocol of order) {
      const client = await open(protocol);
      try {
        const token = JSON.parse(expect(await client.send({ method: 'GET', path: `/v2/token?service=hatoba&scope=repository:${repository}:pull,push`, headers: { authorization: basic } }), 200, 'token').text).token as string;
        const auth = { authorization: `Bearer ${token}` };
        // A new blob for each push, its digest computed before the clock starts.
        const seeds = { streamed: `h2-${round}-${protocol}-streamed`, monolithic: `h2-${round}-${protocol}-monolithic` };
        const digests = { streamed: prngDigest(seeds.streamed, size), monolithic: prngDigest(seeds.monolithic, size) };
        const startUpload = async () => String(expect(await client.send({ method: 'POST', path: `/v2/${repository}/blobs/uploads/`, headers: { ...auth, 'content-length': 0 } }), 202, 'POST').headers.location);
        const withDigest = (location: string, digest: string) => `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;

        await measure(protocol, 'push, streamed PATCH', async () => {
          const location = await startUpload();
          const patched = expect(await client.send({ method: 'PATCH', path: location, headers: { ...auth, 'content-type': 'application/octet-stream' }, body: prngChunks(seeds.streamed, size) }), 202, 'PATCH');
          expect(await client.send({ method: 'PUT', path: withDigest(String(patched.headers.location), digests.streamed), headers: { ...auth, 'content-length': 0 } }), 201, 'PUT');
        });
        await measure(protocol, 'push, monolithic PUT', async () => {
          const location = await startUpload();
          expect(await client.send({ method: 'PUT', path: withDigest(location, digests.monolithic), headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': size }, body: prngChunks(seeds.monolithic, size) }), 201, 'PUT');
        });
        await measure(protocol, 'pull', async () => {
          const pulled = expect(await client.send({ method: 'GET', path: `/v2/${repository}/blobs/${digests.streamed}`, headers: auth }), 200, 'GET');
          if (pulled.bytes !== size) throw new Error(`GET brought ${pulled.bytes} bytes of ${size}`);
        });
        if (!curl.skip) {
          await measure(protocol, 'pull, curl', async () => {
            const args = ['--silent', '--fail', protocol === 'HTTP/2' ? '--http2' : '--http1.1', '--cacert', ca.cert, '-H', `authorization: Bearer ${token}`, '-o', '/dev/null', '-w', '%{http_version} %{size_download}', `${server.baseUrl}/v2/${repository}/blobs/${digests.streamed}`];
            const out = await new Promise<string>((resolve, reject) => execFile(curl.path!, args, (err, stdout) => (err ? reject(err) : resolve(stdout))));
            const [version, bytes] = out.trim().split(' ');
            if (version !== (protocol === 'HTTP/2' ? '2' : '1.1') || Number(bytes) !== size) throw new Error(`curl pull: HTTP ${version}, ${bytes} bytes`);
          });
        }
      } finally {
        client.close();
      }
    }
  }
} finally {
  await server.stop();
  server.cleanup();
  rmSync(dir, { recursive: true, force: true });
}

const spread = (values: number[], digits: number) => (values.some(Number.isNaN) ? '-' : spreadOf(values, digits));
const spreadOf = (values: number[], digits: number) => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
console.log(`\n${rounds} rounds of ${size / 1024 / 1024} MiB over TLS on loopback, ${os.cpus().length} cores, Node ${process.version}; median (min-max)\n`);
console.log('| operation | HTTP/1.1 MiB/s | HTTP/2 MiB/s | HTTP/2 / HTTP/1.1 | server CPU-s/GiB, HTTP/1.1 | HTTP/2 | client CPU-s/GiB, HTTP/1.1 | HTTP/2 |');
console.log('|---|---|---|---|---|---|---|---|');
for (const operation of ['push, streamed PATCH', 'push, monolithic PUT', 'pull', 'pull, curl'] as Operation[]) {
  const of = (protocol: Protocol) => results.filter((r) => r.protocol === protocol && r.operation === operation);
  if (of('HTTP/1.1').length === 0) continue;
  const [h1, h2] = [of('HTTP/1.1'), of('HTTP/2')];
  const ratio = median(h2.map((r) => r.mibPerSecond)) / median(h1.map((r) => r.mibPerSecond));
  console.log(`| ${operation} | ${spread(h1.map((r) => r.mibPerSecond), 0)} | ${spread(h2.map((r) => r.mibPerSecond), 0)} | ${ratio.toFixed(2)} | ${spread(h1.map((r) => r.cpuPerGiB), 2)} | ${spread(h2.map((r) => r.cpuPerGiB), 2)} | ${spread(h1.map((r) => r.clientCpuPerGiB), 2)} | ${spread(h2.map((r) => r.clientCpuPerGiB), 2)} |`);
}
