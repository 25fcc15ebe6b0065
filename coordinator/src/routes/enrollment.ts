// enrollment.ts — REST routes that enroll a site's Ed25519 key: one-time tokens issued by an admin, redeemed once by the site.
import type { FastifyInstance } from 'fastify';
import { generateToken, hashToken, publicKeyFingerprint, verify } from '@fedval/trust';
import { z } from 'zod';
import { actorOf, PUBLIC_ROUTE } from '../access-control.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { AuditRecorder } from '../coordinator-audit.ts';
import { CoordinatorError } from '../errors.ts';
import type { SiteIdentities } from '../site-identities.ts';
import type { CoordinatorStore } from '../storage/store.ts';
import { isoTime, parseRequest } from './request-validation.ts';

export interface EnrollmentRoutesOptions {
  config: CoordinatorConfig;
  store: CoordinatorStore;
  identities: SiteIdentities;
  audit: AuditRecorder;
}

const siteId = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : - only');
const siteParams = z.strictObject({ id: siteId });
const enrollBody = z.strictObject({
  site_id: siteId,
  enrollment_token: z.string().min(16).max(256),
  /** Raw 32-byte Ed25519 public key, base64 (44 characters). */
  public_key: z.string().length(44),
});

export async function enrollmentRoutes(app: FastifyInstance, options: EnrollmentRoutesOptions): Promise<void> {
  if (!options.config || !options.store || !options.identities || !options.audit) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'enrollmentRoutes needs the config, store, identities and audit options');
  }
  const { config, store, identities, audit } = options;
  const configured = new Set(config.sites.map((site) => site.id));

  app.post('/api/sites/:id/enrollment-token', { config: { roles: ['admin'] } }, async (request, reply) => {
    const { id } = parseRequest(siteParams, request.params, 'params');
    if (!configured.has(id)) throw new CoordinatorError('FEDVAL_ERR_COORD_UNKNOWN_SITE', id);
    const token = generateToken();
    const createdAt = Date.now();
    const expiresAt = createdAt + config.limits.enrollment_token_ttl_seconds * 1000;
    // Audited before the token exists anywhere; only its hash is stored, and it is shown once, here.
    audit({ actor: actorOf(request), action: 'site.enrollment_issued', object: `site:${id}`, details: { site: id, expires_at: isoTime(expiresAt) } });
    await store.putEnrollmentToken({ tokenSha256: hashToken(token), siteId: id, createdAt, expiresAt });
    return reply.code(201).send({ site_id: id, enrollment_token: token, expires_at: isoTime(expiresAt) });
  });

  app.post(
    '/api/enroll',
    {
      config: {
        // Guarded by the one-time token in the body, and rate-limited per IP against guessing.
        roles: PUBLIC_ROUTE,
        rateLimit: { max: config.limits.enroll_per_minute, timeWindow: 60_000, keyGenerator: (request) => `enroll:${request.ip}` },
      },
    },
    async (request, reply) => {
      const body = parseRequest(enrollBody, request.body, 'body');
      let fingerprint: string;
      try {
        fingerprint = publicKeyFingerprint(body.public_key);
        verify(body.public_key, new Uint8Array(0), new Uint8Array(64)); // refuses a string that is not an Ed25519 point
      } catch (cause) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_REQUEST', 'body.public_key: expected a raw 32-byte Ed25519 public key in base64', { cause });
      }
      const refuse = (why: string): never => {
        audit({ actor: 'anonymous', action: 'site.enrollment_refused', object: `site:${body.site_id}`, reason: 'FEDVAL_ERR_COORD_ENROLLMENT_REFUSED', details: { ip: request.ip, why } });
        throw new CoordinatorError('FEDVAL_ERR_COORD_ENROLLMENT_REFUSED');
      };
      if (!configured.has(body.site_id)) return refuse('unknown_site');
      const enrolledAt = Date.now();
      const enrolled = await store.enrollSite({ siteId: body.site_id, tokenSha256: hashToken(body.enrollment_token), publicKey: body.public_key, fingerprint, enrolledAt });
      if (!enrolled) return refuse('token_unknown_used_or_expired');
      const replaced = identities.isEnrolled(body.site_id);
      identities.set(body.site_id, body.public_key);
      audit({ actor: `site:${body.site_id}`, action: 'site.enrolled', object: `site:${body.site_id}`, details: { site: body.site_id, fingerprint, ip: request.ip, replaced_key: replaced } });
      request.log.info({ siteId: body.site_id, fingerprint }, 'site enrolled');
      return reply.code(201).send({ site_id: body.site_id, fingerprint, enrolled_at: isoTime(enrolledAt) });
    },
  );
}
