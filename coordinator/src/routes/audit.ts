// audit.ts — REST routes to read the coordinator's audit trail page by page and to verify its hash chain.
import { auditPageQuerySchema, auditPageResponseSchema, auditVerificationResponseSchema } from '@fedval/protocol';
import type { AuditVerificationResponse } from '@fedval/protocol';
import { readAuditLog, verifyAuditLog } from '@fedval/trust';
import type { AuditEntry, AuditLog, AuditVerification } from '@fedval/trust';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { CoordinatorError } from '../errors.ts';

export interface AuditRoutesOptions {
  log: AuditLog;
}

/** The verification as the REST API spells it (snake_case). */
function verificationView(verification: AuditVerification): AuditVerificationResponse {
  if (verification.ok) return { ok: true, entries: verification.entries, head: verification.head };
  const { intactEntries, ...broken } = verification;
  return { ...broken, intact_entries: intactEntries };
}

/** Roles that read and verify the audit trail (the web console's audit page too). */
export const AUDIT_READERS = ['auditor', 'privacy_officer', 'admin'] as const;
const READERS = AUDIT_READERS;

export async function auditRoutes(app: FastifyInstance, options: AuditRoutesOptions): Promise<void> {
  if (!options.log) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'auditRoutes needs the log option');
  const { log } = options;

  // Entries with seq > after_seq, oldest first, up to `limit`; `head` is the newest entry written by this coordinator.
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get(
    '/api/audit',
    {
      config: { roles: READERS },
      schema: { summary: "A page of the coordinator's audit trail, verified as it is read", querystring: auditPageQuerySchema, response: { 200: auditPageResponseSchema } },
    },
    async (request) => {
      const { after_seq: after, limit } = request.query;
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
    },
  );

  api.get(
    '/api/audit/verify',
    { config: { roles: READERS }, schema: { summary: "Verify the audit trail's hash chain", response: { 200: auditVerificationResponseSchema } } },
    async () => verificationView(verifyAuditLog(log.path)),
  );
}
