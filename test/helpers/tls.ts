// Certificates made in the test with the openssl command: a private CA,
// server certificates for 127.0.0.1 / localhost signed by it, and client
// certificates for mutual TLS.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool } from './tools.js';

export const openssl = requireTool('openssl', 'apt-get install -y openssl', 'the TLS tests');

export interface Ca {
  name: string;
  cert: string;
  key: string;
  /** The CA certificate's PEM text. */
  pem: string;
}

export interface Leaf {
  cert: string;
  key: string;
}

function run(args: string[], cwd: string): void {
  execFileSync(openssl.path!, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCa(dir: string, name: string): Ca {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { name, cert, key, pem: readFileSync(cert, 'utf8') };
}

/** A leaf certificate signed by `ca`: a server one for 127.0.0.1 and localhost, or a client one. */
export function makeLeaf(ca: Ca, dir: string, name: string, kind: 'server' | 'client' = 'server'): Leaf {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    kind === 'server'
      ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n'
      : 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n',
  );
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`], dir);
  run(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext], dir);
  return { cert, key };
}
