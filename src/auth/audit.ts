// The append-only audit log: every write and every denial, with who, what,
// when, from where and the result. It must not fill the disk: what a
// client chooses (names, paths, reasons) is cut to a bound, and repeated
// failures are counted on one row per minute (IdentityStore.appendAudit).
import type { FastifyBaseLogger } from 'fastify';
import type { AuditEntry, IdentityStore } from '../db/identity.js';
import { principalName, type Principal } from './principal.js';

export interface AuditEvent {
  principal: Principal | string;
  action: string;
  resource: string;
  result: AuditEntry['result'];
  remote?: string;
  detail?: Record<string, unknown>;
}

/** Longest stored principal name, resource and detail (in characters). */
export const AUDIT_PRINCIPAL_MAX = 128;
export const AUDIT_RESOURCE_MAX = 256;
export const AUDIT_DETAIL_MAX = 1024;

export class AuditLog {
  constructor(
    private readonly identity: IdentityStore,
    private readonly log?: FastifyBaseLogger,
  ) {}

  async record(event: AuditEvent): Promise<void> {
    // Beside who, which of their credentials: after a leak, the log tells
    // what that token did (a password sign-in adds nothing).
    const credential = typeof event.principal === 'string' ? undefined : credentialOf(event.principal);
    const detail = credential ? { ...event.detail, credential } : event.detail;
    const entry: AuditEntry = {
      at: Date.now(),
      principal: truncate(typeof event.principal === 'string' ? event.principal : principalName(event.principal), AUDIT_PRINCIPAL_MAX),
      action: truncate(event.action, 64),
      resource: truncate(event.resource, AUDIT_RESOURCE_MAX),
      result: event.result,
      remote_addr: event.remote ? truncate(event.remote, 64) : null,
      detail: detail ? truncate(JSON.stringify(detail), AUDIT_DETAIL_MAX) : null,
    };
    try {
      await this.identity.appendAudit(entry);
    } catch (err) {
      // Losing an audit line must be loud, but must not fail the request.
      this.log?.error({ err, audit: entry }, 'could not write the audit log');
    }
  }
}

function credentialOf(p: Principal): string | undefined {
  if (p.kind !== 'user') return undefined;
  if (p.via === 'token') return `auth token ${p.tokenId ?? ''}`.trim();
  if (p.via === 'identity-token') return 'identity token';
  return undefined;
}

/** Cut to `max` characters, marking the cut with an ellipsis. */
function truncate(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max - 1)}…`;
}
