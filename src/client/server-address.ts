// Where a registry is: what the user typed (`host:port`, `http://host:port`,
// `https://host/`), the key Docker keeps its credentials under (`host[:port]`,
// as `docker login` stores it) and the base URL to talk to.

export interface ServerAddress {
  /** `host[:port]`: the key of `auths` in the Docker config file. */
  key: string;
  /** e.g. `http://127.0.0.1:5000` (no trailing slash, no path). */
  url: string;
  /** The scheme was given by the user (rather than chosen by default). */
  explicitScheme: boolean;
}

export class AddressError extends Error {}

/**
 * Parses a server given as `host[:port]` or `http(s)://host[:port][/path]`.
 * Without a scheme: plain HTTP for loopback addresses or with `insecure`,
 * HTTPS otherwise.
 */
export function parseServerAddress(input: string, options: { insecure?: boolean } = {}): ServerAddress {
  const raw = input.trim();
  if (raw === '') throw new AddressError('the server address is empty');
  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  if (schemeMatch && !/^https?$/i.test(schemeMatch[1]!)) {
    throw new AddressError(`unsupported scheme "${schemeMatch[1]}" in ${raw}: use host[:port], http:// or https://`);
  }
  let parsed: URL;
  try {
    parsed = new URL(schemeMatch ? raw : `https://${raw}`);
  } catch {
    throw new AddressError(`"${raw}" is not a server address: use host[:port] or http(s)://host[:port]`);
  }
  if (parsed.username || parsed.password) throw new AddressError('put credentials in -u / --password-stdin, not in the server address');
  const key = dockerKey(raw);
  const scheme = schemeMatch ? schemeMatch[1]!.toLowerCase() : options.insecure || isLoopback(parsed.hostname) ? 'http' : 'https';
  return { key, url: `${scheme}://${parsed.host}`, explicitScheme: Boolean(schemeMatch) };
}

/**
 * The key under which Docker keeps credentials for a server: the scheme and
 * any path removed (docker's `ConvertToHostname`), e.g.
 * `http://127.0.0.1:5000/v2/` -> `127.0.0.1:5000`.
 */
export function dockerKey(server: string): string {
  let s = server.trim();
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  return s;
}

/** Whether two `auths` keys (or addresses) name the same server. */
export function sameServer(a: string, b: string): boolean {
  return dockerKey(a).toLowerCase() === dockerKey(b).toLowerCase();
}

export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
