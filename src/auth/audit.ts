// The append-only audit log: every write and every denial, with who, what,
// when, from where and the result.
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

export class AuditLog {
  constructor(
    private readonly identity: IdentityStore,
    private readonly log?: FastifyBaseLogger,
  ) {}

  async record(event: AuditEvent): Promise<void> {
    const entry: AuditEntry = {
      at: Date.now(),
      principal: typeof event.principal === 'string' ? event.principal : principalName(event.principal),
      action: event.action,
      resource: event.resource,
      result: event.result,
      remote_addr: event.remote ?? null,
      detail: event.detail ? JSON.stringify(event.detail) : null,
    };
    try {
      await this.identity.appendAudit(entry);
    } catch (err) {
      // Losing an audit line must be loud, but must not fail the request.
      this.log?.error({ err, audit: entry }, 'could not write the audit log');
    }
  }
}
