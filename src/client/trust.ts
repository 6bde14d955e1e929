// Which certificate authorities the CLI trusts for HTTPS registries: the
// system's, plus a PEM bundle from `--ca-file` or `SSL_CERT_FILE` (a
// registry with a private CA, as in an air-gapped cluster).
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

export class CaFileError extends Error {}

let chosenCaFile: string | undefined;

/** Set once from the command line (`--ca-file`), before any client is made. */
export function useCaFile(path: string | undefined): void {
  chosenCaFile = path;
}

/** TLS options for the clients: undefined (the system's CAs) unless a CA file is given. */
export function clientTls(env: NodeJS.ProcessEnv = process.env): { ca: string[] } | undefined {
  const path = chosenCaFile ?? (env.SSL_CERT_FILE || undefined);
  if (path === undefined) return undefined;
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CaFileError(`cannot read the CA file ${path}${chosenCaFile ? ' (--ca-file)' : ' (SSL_CERT_FILE)'}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CaFileError(`${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  // Node's `ca` replaces the built-in roots: keep them, and add the file's.
  return { ca: [...rootCertificates, pem] };
}
