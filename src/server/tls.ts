// TLS for `hatoba serve --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]`.
// Certificates are read at start, checked (a key that does not match its
// certificate stops the start, not the first handshake), and read again on
// SIGHUP: the new context serves new connections while open ones keep theirs.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/config.js';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';

export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle that client certificates must chain to (mutual TLS); none means no client certificates. */
  clientCa?: string;
}

/** A configuration error found when the files are read: the start stops with its message (exit 2). */
export class TlsConfigError extends ConfigError {}

export interface ServerTlsOptions extends SecureContextOptions {
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** Reads and checks the files; throws TlsConfigError naming the file that is wrong. */
export function loadTls(files: TlsFiles): ServerTlsOptions {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TlsConfigError(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const options: ServerTlsOptions = {
    cert: read(files.cert, 'certificate'),
    key: read(files.key, 'private key'),
    requestCert: files.clientCa !== undefined,
    rejectUnauthorized: files.clientCa !== undefined,
  };
  if (files.clientCa !== undefined) options.ca = read(files.clientCa, 'client CA bundle');
  try {
    createSecureContext(options);
  } catch (err) {
    const reason = (err as Error).message;
    const hint = /key values mismatch/i.test(reason) ? ` (${files.key} is not the key of ${files.cert})` : '';
    throw new TlsConfigError(`cannot use the TLS certificate ${files.cert} with key ${files.key}${files.clientCa ? ` and client CA ${files.clientCa}` : ''}: ${reason}${hint}`);
  }
  return options;
}

/**
 * Re-reads the files on SIGHUP and swaps the server's secure context. A
 * reload that fails keeps the old certificate and says why. Returns a
 * function that stops listening for the signal.
 */
export function reloadTlsOnSighup(server: TlsServer, files: TlsFiles, log: { info(o: object, m: string): void; error(o: object, m: string): void }): () => void {
  const reload = () => {
    try {
      server.setSecureContext(loadTls(files));
      log.info({ cert: files.cert }, 'reloaded the TLS certificate');
    } catch (err) {
      log.error({ err }, 'could not reload the TLS certificate; still serving the previous one');
    }
  };
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}
