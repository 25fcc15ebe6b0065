// audit.ts — REST routes to read the coordinator's audit trail page by page and to verify its hash chain.
import { readAuditLog, verifyAuditLog } from '@fedval/trust';
import type { AuditEntry, AuditLog } from '@fedval/trust';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CoordinatorError } from '../errors.ts';
import { parseRequest } from './request-validation.ts';

export interface AuditRoutesOptions {
  log: AuditLog;
}

/** Largest page of `GET /api/audit`, in entries. */
export const MAX_AUDIT_PAGE = 1000;

const pageQuery = z.strictObject({
  after_seq: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(100),
});

const READERS = ['auditor', 'privacy_officer', 'admin'] as const;

export async function auditRoutes(app: FastifyInstance, options: AuditRoutesOptions): Promise<void> {
  if (!options.log) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'auditRoutes needs the log option');
  const { log } = options;

  // Entries with seq > after_seq, oldest first, up to `limit`; `head` is the newest entry written by this coordinator.
  app.get('/api/audit', { config: { roles: READERS } }, async (request) => {
    const { after_seq: after, limit } = parseRequest(pageQuery, request.query ?? {}, 'query');
    let kept = 0;
    const { verification, entries } = readAuditLog(log.path, {
      select: (entry: AuditEntry) => entry.seq > after && kept < limit && ++kept > 0,
    });
    const last = entries.at(-1);
    return {
      entries,
      head: log.head,
      intact: verification.ok,
      next_after_seq: last !== undefined && last.seq < log.head.seq ? last.seq : null,
    };
  });

  app.get('/api/audit/verify', { config: { roles: READERS } }, async () => verifyAuditLog(log.path));
}
