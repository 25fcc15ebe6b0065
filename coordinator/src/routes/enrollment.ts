// enrollment.ts — REST routes that enroll a site's Ed25519 key: one-time tokens issued by an admin, redeemed once by the site.
import { enrollmentTokenResponseSchema, enrollRequestSchema, enrollResponseSchema, siteParamsSchema } from '@fedval/protocol';
import { generateToken, hashToken, publicKeyFingerprint, verifyEnrollment } from '@fedval/trust';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { actorOf, PUBLIC_ROUTE } from '../access-control.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { AuditRecorder } from '../coordinator-audit.ts';
import { clientAddress } from '../client-address.ts';
import { CoordinatorError } from '../errors.ts';
import { WS_CLOSE_CODES } from '../site-connections.ts';
import type { SiteConnections } from '../site-connections.ts';
import type { SiteIdentities } from '../site-identities.ts';
import type { CoordinatorStore } from '../storage/store.ts';
import { isoTime } from './request-validation.ts';

export interface EnrollmentRoutesOptions {
  config: CoordinatorConfig;
  store: CoordinatorStore;
  identities: SiteIdentities;
  audit: AuditRecorder;
  /** Live site sockets: a site whose key is replaced is disconnected and must prove the new key. */
  connections: SiteConnections;
}

export async function enrollmentRoutes(app: FastifyInstance, options: EnrollmentRoutesOptions): Promise<void> {
  if (!options.config || !options.store || !options.identities || !options.audit || !options.connections) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'enrollmentRoutes needs the config, store, identities, audit and connections options');
  }
  const { config, store, identities, audit, connections } = options;
  const configured = new Set(config.sites.map((site) => site.id));
  // Enrolled sites sign challenges naming public_ws_url; without it there is nothing safe for them to sign.
  const requireEnrollment = (): void => {
    if (config.public_ws_url === undefined) throw new CoordinatorError('FEDVAL_ERR_COORD_ENROLLMENT_UNAVAILABLE');
  };

  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/api/sites/:id/enrollment-token',
    {
      config: { roles: ['admin'] },
      schema: { summary: 'Issue a one-time enrollment token for a configured site', params: siteParamsSchema, response: { 201: enrollmentTokenResponseSchema } },
    },
    async (request, reply) => {
      const { id } = request.params;
      requireEnrollment();
      if (!configured.has(id)) throw new CoordinatorError('FEDVAL_ERR_COORD_UNKNOWN_SITE', id);
      const token = generateToken();
      const createdAt = Date.now();
      const expiresAt = createdAt + config.limits.enrollment_token_ttl_seconds * 1000;
      // Audited before the token exists anywhere; only its hash is stored, and it is shown once, here.
      audit({ actor: actorOf(request), action: 'site.enrollment_issued', object: `site:${id}`, details: { site: id, expires_at: isoTime(expiresAt) } });
      // A new token replaces any earlier one not yet used: a token that went astray stops working.
      const revoked = await store.putEnrollmentToken({ tokenSha256: hashToken(token), siteId: id, createdAt, expiresAt });
      if (revoked > 0) {
        audit({ actor: actorOf(request), action: 'site.enrollment_revoked', object: `site:${id}`, reason: 'replaced by a new token', details: { site: id, tokens: revoked } });
        request.log.info({ siteId: id, revoked }, 'earlier unused enrollment tokens revoked');
      }
      return reply.code(201).send({ site_id: id, enrollment_token: token, expires_at: isoTime(expiresAt) });
    },
  );

  api.post(
    '/api/enroll',
    {
      config: {
        // Guarded by the one-time token in the body, and rate-limited per IP against guessing.
        roles: PUBLIC_ROUTE,
        rateLimit: { max: config.limits.enroll_per_minute, timeWindow: 60_000, keyGenerator: (request) => `enroll:${clientAddress(request)}` },
      },
      schema: {
        summary: "A site redeems its one-time token for its Ed25519 key, proving possession (no API token)",
        body: enrollRequestSchema,
        response: { 201: enrollResponseSchema },
      },
    },
    async (request, reply) => {
      const body = request.body;
      requireEnrollment();
      let fingerprint: string;
      try {
        fingerprint = publicKeyFingerprint(body.public_key);
      } catch (cause) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_REQUEST', 'body.public_key: expected a raw 32-byte Ed25519 public key in base64', { cause });
      }
      const refuse = (why: string): never => {
        audit({ actor: 'anonymous', action: 'site.enrollment_refused', object: `site:${body.site_id}`, reason: 'FEDVAL_ERR_COORD_ENROLLMENT_REFUSED', details: { ip: request.ip, why } });
        throw new CoordinatorError('FEDVAL_ERR_COORD_ENROLLMENT_REFUSED');
      };
      if (!configured.has(body.site_id)) return refuse('unknown_site');
      // Proof that the caller holds the private key (and that the key is a valid Ed25519 point), bound to this token.
      const tokenSha256 = hashToken(body.enrollment_token);
      const proof = { siteId: body.site_id, publicKey: body.public_key, enrollmentTokenSha256: tokenSha256 };
      if (!verifyEnrollment(proof, new Uint8Array(Buffer.from(body.signature, 'base64')))) return refuse('no_proof_of_possession');
      const enrolledAt = Date.now();
      const enrolled = await store.enrollSite({ siteId: body.site_id, tokenSha256, publicKey: body.public_key, fingerprint, enrolledAt });
      if (!enrolled) return refuse('token_unknown_used_or_expired');
      const replaced = identities.isEnrolled(body.site_id);
      identities.set(body.site_id, body.public_key);
      audit({ actor: `site:${body.site_id}`, action: 'site.enrolled', object: `site:${body.site_id}`, details: { site: body.site_id, fingerprint, ip: request.ip, replaced_key: replaced } });
      // A socket authenticated under the previous key (or token) is closed: from now on only the new key connects.
      for (const [siteId, connection] of connections.entries()) {
        if (siteId === body.site_id) connection.socket.close(WS_CLOSE_CODES.unauthorized, 'FEDVAL_ERR_COORD_UNAUTHORIZED');
      }
      request.log.info({ siteId: body.site_id, fingerprint }, 'site enrolled');
      return reply.code(201).send({ site_id: body.site_id, fingerprint, enrolled_at: isoTime(enrolledAt) });
    },
  );
}
