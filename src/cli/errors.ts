// Failures as the user sees them: what went wrong, and what to do next.
import { ApiError, ConnectionError } from '../client/management-client.js';
import { AddressError } from '../client/server-address.js';
import { CaFileError } from '../client/trust.js';
import { CredentialHelperError } from '../credentials/credentials-for.js';
import { DockerConfigError } from '../credentials/docker-config.js';
import { ImageReferenceError } from '../formats/image-reference.js';
import { CredentialStoreError } from '../credentials/store.js';

/** A failure with a message for the user, an optional hint (what to do next) and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Where a request went, to word errors: the server key and whether the credentials came from a login. */
export interface ErrorContext {
  server?: string;
  url?: string;
  /** The credentials were the stored ones (so a 401 means: log in again). */
  storedCredentials?: boolean;
  /** The user the stored credentials belong to. */
  username?: string;
}

/** Turns any error into a CliError with a hint. */
export function explain(err: unknown, ctx: ErrorContext = {}): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof AddressError || err instanceof DockerConfigError || err instanceof CaFileError || err instanceof CredentialHelperError || err instanceof CredentialStoreError) return new CliError(err.message);
  if (err instanceof ImageReferenceError) return new CliError(err.message, err.hint);
  const server = ctx.server ?? 'SERVER';
  if (err instanceof ApiError) {
    const message = err.message;
    switch (err.code) {
      case 'UNAUTHORIZED':
        if (ctx.storedCredentials) {
          return new CliError(
            `unauthorized: ${message}`,
            `the credentials stored for ${server} were refused (password changed, token revoked or expired, or account disabled?); run: hatoba login ${server}`,
          );
        }
        return new CliError(`unauthorized: ${message}`, `check the user name and password (or auth token) and try again`);
      case 'DENIED': {
        // A robot acts only inside its namespace, whatever it is bound to: no binding would help outside it.
        const robot = ctx.username ? robotNamespace(ctx.username) : undefined;
        const resource = /\bright on (.+?) for this/.exec(message)?.[1];
        if (robot !== undefined && resource !== undefined && !within(resource === 'the instance' ? '' : resource, robot)) {
          return new CliError(
            `denied: ${message}`,
            `${ctx.username} is a robot account of namespace ${robot}: it can act only in ${robot} and below, and no role binding changes that; sign in as a user for this (hatoba login ${server} -u USER)`,
          );
        }
        // The server's message may carry its own advice (e.g. the role to ask for).
        if (/ask an administrator/i.test(message) || !/\bright\b|\brole\b|permission/i.test(message)) return new CliError(`denied: ${message}`);
        return new CliError(
          `denied: ${message}`,
          `${ctx.username ? `${ctx.username} lacks` : 'you lack'} that right; ask an administrator for a role binding that grants it (see: hatoba get roles)`,
        );
      }
      case 'TOOMANYREQUESTS':
        return new CliError(`too many requests: ${message}`, `wait${err.retryAfter ? ` ${err.retryAfter} s` : ' a little'} and try again`);
      case 'NOT_FOUND':
        return new CliError(`not found: ${message}`);
      case 'CONFLICT':
        return new CliError(`conflict: ${message}`);
      case 'INVALID_ARGUMENT':
        return new CliError(`invalid: ${message}`);
      default:
        if (err.status === 404 && !err.errors.length) {
          return new CliError(`${message}`, `is ${ctx.url ?? server} a Hatoba server? This command needs its management API (/api/v1)`);
        }
        if (err.status >= 500) return new CliError(`server error (${err.status}): ${message}`, 'the server log has the details; try again later or tell its operator');
        return new CliError(`${err.code.toLowerCase()}: ${message}`);
    }
  }
  if (err instanceof ConnectionError) {
    const where = ctx.url ?? err.url;
    const tls = /EPROTO|SSL|TLS|CERT|certificate|wrong version number/i.test(`${err.code ?? ''} ${err.message}`);
    if (tls) {
      const detail = /wrong version number|EPROTO/i.test(`${err.code ?? ''} ${err.message}`) ? 'the TLS handshake failed' : err.message.split('\n')[0]!.replace(/^[0-9A-F]{8,}:error:[^:]*:[^:]*:/, '');
      return new CliError(
        `cannot talk to ${where}: ${detail}`,
        where.startsWith('https:')
          ? `if the server speaks plain HTTP, give it as http://${server}`
          : 'check the certificate, or the scheme (http:// or https://) in the server address',
      );
    }
    if (err.code === 'ECONNREFUSED') return new CliError(`cannot reach ${where}: connection refused`, `is hatoba serve running there? Check the address and port`);
    if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new CliError(`cannot reach ${where}: unknown host`, 'check the server name');
    if (err.code === 'ECONNRESET' && where.startsWith('http:')) {
      return new CliError(`cannot reach ${where}: the connection was reset`, `if the server speaks HTTPS, give it as https://${server}`);
    }
    return new CliError(`cannot reach ${where}: ${err.message}`);
  }
  return new CliError((err as Error)?.message ?? String(err));
}

/** The namespace of a robot login `robot$NAMESPACE+NAME`; undefined for anyone else. */
function robotNamespace(username: string): string | undefined {
  return /^robot\$(.+)\+[^+]+$/.exec(username)?.[1];
}

/** `resource` is `namespace` or below it ('' is the instance, above everything). */
function within(resource: string, namespace: string): boolean {
  return resource === namespace || resource.startsWith(`${namespace}/`);
}

/** Errors that are the user's to act on (as opposed to bugs, which get a stack trace). */
export function isExpected(err: unknown): boolean {
  return err instanceof CliError || err instanceof ApiError || err instanceof ConnectionError || err instanceof AddressError || err instanceof DockerConfigError || err instanceof CaFileError || err instanceof CredentialHelperError || err instanceof CredentialStoreError || err instanceof ImageReferenceError;
}

/** Prints an error and its hint on stderr. */
export function report(err: CliError): void {
  process.stderr.write(`hatoba: ${err.message}\n`);
  if (err.hint) process.stderr.write(`hatoba: ${err.hint}\n`);
}
