// Requests over one HTTP/2 session with Node's http2 client, for tests
// that need to see the protocol: the stream's reset code, the session's
// ALPN, several requests sharing one connection.
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders, type SecureClientSessionOptions } from 'node:http2';

export interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The stream's RST_STREAM code (0 when it ended normally). */
  rstCode: number;
}

export interface H2Request {
  method?: string;
  path: string;
  headers?: Record<string, string | number>;
  /** Sent as DATA frames, one per element, then END_STREAM; none ends the stream with the headers. */
  body?: Buffer | Buffer[];
  /** Write these bytes and then neither send more nor end the stream. */
  stallAfter?: Buffer;
}

/** Opens a session and waits until it is connected (ALPN done). */
export async function openH2(url: string, options: SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  const session = connect(url, options);
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  session.on('error', () => {}); // a session the server ends is the test's to assert, not an unhandled error
  return session;
}

export function h2(session: ClientHttp2Session, request: H2Request): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const chunks = request.body === undefined ? [] : Array.isArray(request.body) ? request.body : [request.body];
    const endStream = request.body === undefined && request.stallAfter === undefined;
    const stream = session.request({ ':method': request.method ?? 'GET', ':path': request.path, ...request.headers }, { endStream });
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const body: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      headers = h;
    });
    stream.on('data', (c: Buffer) => body.push(c));
    // A reset stream reports an error as well as its code: the code is what is asserted.
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ERR_HTTP2_STREAM_ERROR') reject(err);
    });
    stream.on('close', () => resolve({ status, headers, body: Buffer.concat(body), rstCode: stream.rstCode ?? constants.NGHTTP2_NO_ERROR }));
    if (request.stallAfter) {
      stream.write(request.stallAfter);
      return;
    }
    if (endStream) return;
    void (async () => {
      for (const chunk of chunks) {
        if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
      }
      stream.end();
    })();
  });
}
