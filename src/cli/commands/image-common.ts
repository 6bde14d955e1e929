// The CLI side of the image commands: the options they share, a
// connection to a registry with the server URL `hatoba login` remembered,
// and the errors of the lower layers turned into messages that say what
// happened and what to do. The work itself is in src/client/.
import { Option, type Command } from 'commander';
import { ImageWorkflowError } from '../../client/image-errors.js';
import { DigestMismatchError, RegistryApiError, RegistryClientError, RegistryConnectionError } from '../../client/registry-client.js';
import { connect as connectRegistry, type Connection } from '../../client/registry-connection.js';
import { S3Error } from '../../client/s3.js';
import { ImageArchiveError } from '../../formats/image-archive.js';
import { ImageReferenceError } from '../../formats/image-reference.js';
import { knownUrl, readState } from '../cli-state.js';
import { CliError, explain } from '../errors.js';

export type { Connection };

export interface RegistryOptions {
  creds?: string;
  insecure?: boolean;
  tlsVerify?: boolean;
}

export function registryOptions(cmd: Command, credsFlag = '--creds <user:password>', credsHelp = 'credentials for the registry (default: from hatoba login / the Docker config / its credential helper)'): Command {
  return cmd
    .option(credsFlag, credsHelp)
    .option('--insecure', 'use plain HTTP (the default only for loopback addresses)')
    .addOption(new Option('--tls-verify <bool>', 'false: use plain HTTP, as --insecure (skopeo spelling)').choices(['true', 'false']));
}

export function transferOptions(cmd: Command): Command {
  return cmd
    .option('-q, --quiet', 'print no progress')
    .option('--json', 'print one JSON object with the result at the end (and no progress)')
    .option('--concurrency <n>', 'blobs transferred at the same time', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new CliError(`--concurrency ${v}: give a whole number from 1 to 64`);
      return n;
    }, 4);
}

export function s3Options(cmd: Command): Command {
  return cmd
    .option('--s3-endpoint <url>', 'S3-compatible endpoint for s3:// sources (default: AWS_ENDPOINT_URL, the AWS config, ~/.s3cfg)')
    .option('--s3-region <region>', 'S3 region (default: AWS_REGION or us-east-1)')
    .option('--s3-profile <name>', 'profile of ~/.aws/credentials and ~/.aws/config');
}

/** A registry client with the credentials docker would use, or those given with `credsFlag`. */
export async function connect(registry: string, opts: RegistryOptions, creds?: string, credsFlag = '--creds'): Promise<Connection> {
  const state = await readState();
  const given = creds ?? opts.creds;
  return connectRegistry(registry, {
    insecure: opts.insecure || String(opts.tlsVerify) === 'false',
    ...(given !== undefined ? { creds: given, credsFlag } : {}),
    knownUrl: (key) => knownUrl(state, key),
  });
}

// --- errors -------------------------------------------------------------------------------

/** What a command was doing, for the advice of its errors (a load never says "nothing was pushed"). */
export type ImageAction = 'load' | 'save' | 'push' | 'pull' | 'copy' | 'inspect' | 'delete' | 'list';

const ROLE_FOR: Record<string, string> = {
  push: 'pushing needs e.g. artifact-writer, or system-artifact-management-admin',
  pull: 'pulling needs e.g. artifact-reader',
  delete: 'deleting needs e.g. project-admin',
};

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Turns the lower layers' errors into messages with what to do next. */
export function explainImageError(err: unknown, conn?: Connection, action?: ImageAction): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ImageWorkflowError || err instanceof ImageReferenceError) return new CliError(err.message, err.hint);
  const host = conn?.registry ?? 'SERVER';
  const who = conn?.username ? `${conn.username}` : 'you';
  const login = conn?.credentialSource === 'flag' ? 'check the user and password given with --creds' : `check who you are signed in as, or sign in as someone else: hatoba login ${host}`;
  if (err instanceof RegistryApiError) {
    const msg = err.serverMessage;
    switch (err.code) {
      case 'DENIED': {
        // The right the refused request needed, as the registry says it or as the client knew it.
        const right = err.action ?? (action === 'push' || action === 'pull' || action === 'delete' ? action : undefined);
        const on = err.repository ?? 'the repository';
        // A HEAD has no body: say what was refused instead of "HTTP 403".
        const text = /^HTTP \d+$/.test(msg) ? `the registry refused ${right ?? 'access'} on ${on} (${msg})` : right && !new RegExp(`\\b${right}\\b`).test(msg) ? `${msg} (${right} on ${on})` : err.repository && !msg.includes(err.repository) ? `${msg} (on ${err.repository})` : msg;
        // Hatoba's own message already names the role to ask for.
        const ask = /ask an administrator/i.test(msg) ? '' : `ask an administrator for a role that grants it${right && ROLE_FOR[right] ? ` (${ROLE_FOR[right]})` : ''}; `;
        return new CliError(`denied: ${text}`, `${who === 'you' ? 'you lack' : `${who} lacks`} that right on ${host}; ${ask}${login}`);
      }
      case 'UNAUTHORIZED':
        if (conn?.credentialSource === 'none') return new CliError(`unauthorized: ${msg}`, `sign in first: hatoba login ${host} (or pass --creds USER:PASSWORD)`);
        if (conn?.credentialSource === 'flag') return new CliError(`unauthorized: ${msg}`, 'check the user and password given with --creds');
        return new CliError(`unauthorized: ${msg}`, `the stored credentials for ${host} were refused (password changed, token revoked or expired?); run: hatoba login ${host}`);
      case 'NAME_UNKNOWN':
      case 'MANIFEST_UNKNOWN':
      case 'NOT_FOUND':
        return new CliError(`not found: ${err.message}`, err.repository ? `list what is there with: hatoba tag ls ${host}/${err.repository}` : undefined);
      case 'TOOMANYREQUESTS':
        return new CliError(`too many requests: ${msg}`, `wait${err.retryAfter ? ` ${err.retryAfter} s` : ' a little'} and try again`);
      default:
        if (err.status >= 500) return new CliError(`registry error (${err.status}): ${err.message}`, 'try again later, or tell the registry operator (the server log has the details)');
        return new CliError(err.message);
    }
  }
  if (err instanceof RegistryConnectionError) {
    // A registry sends clients to its token service (the realm of its challenge), which may be elsewhere.
    if (conn && hostOf(err.url) !== hostOf(conn.url)) {
      const realm = hostOf(err.url);
      return new CliError(
        `cannot reach the token service at ${realm} (where ${conn.registry} sends clients for tokens): ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'unknown host' : err.message}`,
        `check that ${realm} is reachable from here; if it is the wrong address, the registry's operator sets it (Hatoba: public_url, or the proxy's X-Forwarded-Host)`,
      );
    }
    const where = conn?.url ?? err.url;
    const text = `${err.code ?? ''} ${err.message}`;
    if (/EPROTO|SSL|TLS|CERT|certificate|wrong version number/i.test(text)) {
      return new CliError(`cannot talk to ${where}: ${err.message.split('\n')[0]}`, where.startsWith('https:') ? `if the registry speaks plain HTTP, add --insecure` : 'check the address');
    }
    if (err.code === 'ECONNREFUSED') return new CliError(`cannot reach ${where}: connection refused`, 'is the registry running there? Check the host and port');
    if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new CliError(`cannot reach ${where}: unknown host`, 'check the registry name');
    if (err.code === 'ECONNRESET' && where.startsWith('http:')) return new CliError(`cannot reach ${where}: the connection was reset`, 'if the registry speaks HTTPS, leave out --insecure');
    return new CliError(`cannot reach ${where}: ${err.message}`);
  }
  if (err instanceof DigestMismatchError) return new CliError(err.message, 'try again; if it happens again the source content is damaged');
  if (err instanceof ImageArchiveError) {
    const untouched = action === 'push' ? 'nothing was pushed' : action === 'load' ? 'nothing was loaded' : undefined;
    const damaged = ['TRUNCATED', 'CORRUPT_COMPRESSION', 'CORRUPT_TAR', 'DIGEST_MISMATCH', 'SIZE_MISMATCH'].includes(err.code);
    let hint: string | undefined;
    if (damaged) {
      // The reader's message may carry the advice already: say it once.
      hint = err.message.includes('download or save it again') ? untouched : `the file is damaged or incomplete: download or save it again${untouched ? ` (${untouched})` : ''}`;
    } else if (err.code === 'NOT_AN_ARCHIVE') {
      hint = 'give a tarball written by docker save, skopeo (docker-archive: or oci-archive:) or an OCI layout directory';
    }
    return new CliError(`cannot read the image archive: ${err.message}`, hint);
  }
  if (err instanceof S3Error) return new CliError(err.message, 'S3 settings come from --s3-endpoint/--s3-region/--s3-profile, AWS_* variables, ~/.aws/credentials and ~/.s3cfg');
  if (err instanceof RegistryClientError) return new CliError(err.message);
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOSPC' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST') return new CliError((err as Error).message);
  return explain(err);
}

/** Runs a command body; every failure leaves as a CliError, worded for the registry it came from and what the command did. */
export async function guarded<T>(body: (track: (c: Connection) => Connection) => Promise<T>, action?: ImageAction): Promise<T> {
  const conns: Connection[] = [];
  try {
    return await body((c) => (conns.push(c), c));
  } catch (err) {
    const url = (err as { url?: string } | undefined)?.url;
    let origin: string | undefined;
    try {
      origin = url ? new URL(url).origin : undefined;
    } catch {
      origin = undefined;
    }
    const conn = conns.find((c) => c.url === origin) ?? conns.at(-1);
    throw explainImageError(err, conn, action);
  } finally {
    for (const c of conns) c.client.close();
  }
}
