// studies.ts — REST routes to create and read studies (model or score column, metric spec, sites, quorum, deadline).
import { createHash, randomUUID } from 'node:crypto';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import type { MetricSpec } from '@fedval/metrics';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { CoordinatorConfig } from '../config.ts';
import { MAX_DEADLINE_SECONDS } from '../config.ts';
import { actorOf } from '../access-control.ts';
import type { AuditRecorder } from '../coordinator-audit.ts';
import { CoordinatorError } from '../errors.ts';
import type { CoordinatorStore, StudyRecord } from '../storage/store.ts';
import { isoTime, parseRequest } from './request-validation.ts';
import { DEFAULT_PROTECTION, planProtection } from '../protection.ts';
import { bfvEncryptionSummary, createHeContext, encryptVector } from '@fedval/he';

export interface StudyRoutesOptions {
  config: CoordinatorConfig;
  store: CoordinatorStore;
  audit: AuditRecorder;
}

const siteId = z.string().min(1).max(128);
const studySchema = z
  .strictObject({
    name: z.string().min(1).max(256),
    model_id: z.string().regex(/^[0-9a-f]{64}$/, 'expected a model id (64 lowercase hex)').optional(),
    score_column: z.string().min(1).max(256).optional(),
    metric_spec: z.record(z.string(), z.unknown()),
    sites: z
      .array(siteId)
      .min(1)
      .max(1024)
      .refine((sites) => new Set(sites).size === sites.length, 'site ids must be unique'),
    quorum: z.number().int().positive().optional(),
    deadline_seconds: z.number().int().positive().max(MAX_DEADLINE_SECONDS).optional(),
    contribution: z.enum(['bfv', 'plaintext']).optional(),
    release: z.strictObject({ min_sites: z.number().int().positive().max(1024) }).optional(),
    max_patients_per_site: z.number().int().positive().max(1_000_000_000).optional(),
    privacy: z
      .strictObject({
        epsilon: z.number().positive().max(100),
        delta: z.number().gt(0).lt(1),
        mechanism: z.enum(['skellam', 'distributed-discrete-gaussian', 'discrete-gaussian']).optional(),
        layout: z.unknown().optional(),
        weights: z.record(z.string(), z.number()).optional(),
        expected_patients: z.number().int().positive().optional(),
        expected_prevalence: z.number().gt(0).lt(1).optional(),
      })
      .optional(),
  })
  .refine((body) => (body.model_id === undefined) !== (body.score_column === undefined), 'give exactly one of model_id and score_column')
  .refine((body) => body.quorum === undefined || body.quorum <= body.sites.length, { message: 'quorum cannot exceed the number of sites', path: ['quorum'] });
const studyParams = z.strictObject({ id: z.uuid() });

export function studyView(study: StudyRecord) {
  return {
    study_id: study.id,
    name: study.name,
    model_id: study.modelId,
    score_column: study.scoreColumn,
    metric_spec: study.metricSpec,
    sites: study.sites,
    quorum: study.quorum,
    deadline_seconds: study.deadlineSeconds,
    contribution: study.contribution,
    release: { min_sites: study.protection.minSites },
    max_patients_per_site: study.protection.maxPatientsPerSite,
    ...(study.protection.encryption ? { encryption: bfvEncryptionSummary(study.protection.encryption as never) } : {}),
    privacy: study.protection.privacy,
    public_key_registered: study.publicKey !== null,
    created_at: isoTime(study.createdAt),
  };
}

/** What protects a study, for its audit entry: sites, quorum, release policy, encryption and privacy parameters (no data). */
function protectionSummary(study: StudyRecord): Record<string, string | number | boolean | null> {
  const privacy = study.protection.privacy as { epsilon?: unknown; delta?: unknown; mechanism?: unknown } | null;
  return {
    model_id: study.modelId,
    score_column: study.scoreColumn,
    sites: study.sites.length,
    quorum: study.quorum,
    min_sites: study.protection.minSites,
    max_patients_per_site: study.protection.maxPatientsPerSite,
    contribution: study.contribution,
    encrypted: study.protection.encryption !== null,
    dp: privacy !== null,
    epsilon: typeof privacy?.epsilon === 'number' ? privacy.epsilon : null,
    delta: typeof privacy?.delta === 'number' ? privacy.delta : null,
    mechanism: typeof privacy?.mechanism === 'string' ? privacy.mechanism : null,
  };
}

const publicKeySchema = z.strictObject({ public_key_base64: z.base64().min(16).max(64 * 1024 * 1024) });

export async function studyRoutes(app: FastifyInstance, options: StudyRoutesOptions): Promise<void> {
  if (!options.config || !options.store || !options.audit) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'studyRoutes needs the config, store and audit options');
  const { config, store, audit } = options;
  const knownSites = new Set(config.sites.map((site) => site.id));

  app.post('/api/studies', { config: { roles: ['sponsor'] } }, async (request, reply) => {
    const body = parseRequest(studySchema, request.body, 'body');
    const unknown = body.sites.filter((id) => !knownSites.has(id));
    if (unknown.length > 0) throw new CoordinatorError('FEDVAL_ERR_COORD_UNKNOWN_SITE', unknown.map((id) => JSON.stringify(id)).join(', '));
    if (body.model_id !== undefined && !(await store.getModel(body.model_id))) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_UNKNOWN_MODEL', body.model_id);
    }
    // Throws a coded @fedval/metrics error (answered with 400) for an invalid spec or a vector over the limit.
    const spec = resolveMetricSpec(body.metric_spec as Partial<MetricSpec>);
    const layout = createStatisticsLayout(spec);
    const contribution = body.contribution ?? 'bfv';
    // Throws a coded @fedval/he error (400) when no encryption parameters can carry the study.
    const protection = planProtection(layout, {
      contribution,
      minSites: body.release?.min_sites ?? Math.min(DEFAULT_PROTECTION.minSites, body.sites.length),
      maxPatientsPerSite: body.max_patients_per_site ?? DEFAULT_PROTECTION.maxPatientsPerSite,
      sites: body.sites.length,
      privacy: body.privacy
        ? {
            epsilon: body.privacy.epsilon,
            delta: body.privacy.delta,
            ...(body.privacy.mechanism ? { mechanism: body.privacy.mechanism } : {}),
            ...(body.privacy.layout !== undefined ? { layout: body.privacy.layout as never } : {}),
            ...(body.privacy.weights ? { weights: body.privacy.weights } : {}),
            expectedPatients: body.privacy.expected_patients,
            expectedPrevalence: body.privacy.expected_prevalence,
          }
        : null,
    });
    const study: StudyRecord = {
      id: randomUUID(),
      name: body.name,
      modelId: body.model_id ?? null,
      scoreColumn: body.score_column ?? null,
      metricSpec: spec,
      sites: body.sites,
      quorum: body.quorum ?? body.sites.length,
      deadlineSeconds: body.deadline_seconds ?? config.limits.round_deadline_seconds,
      contribution,
      protection,
      publicKey: null,
      createdAt: Date.now(),
    };
    await store.createStudy(study);
    audit({ actor: actorOf(request), action: 'study.created', object: `study:${study.id}`, details: protectionSummary(study) });
    request.log.info({ studyId: study.id, sites: study.sites.length, quorum: study.quorum }, 'study created');
    return reply.code(201).send(studyView(study));
  });

  app.get('/api/studies/:id', { config: { roles: ['sponsor', 'privacy_officer', 'auditor', 'admin'] } }, async (request) => {
    const { id } = parseRequest(studyParams, request.params, 'params');
    const study = await store.getStudy(id);
    if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
    return studyView(study);
  });

  // What the key holder needs to create the study's key pair: the BFV plan. Public.
  app.get('/api/studies/:id/encryption', { config: { roles: ['privacy_officer', 'sponsor', 'auditor', 'admin'] } }, async (request) => {
    const { id } = parseRequest(studyParams, request.params, 'params');
    const study = await store.getStudy(id);
    if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
    if (!study.protection.encryption) throw new CoordinatorError('FEDVAL_ERR_COORD_NOT_ENCRYPTED', id);
    return { study_id: study.id, plan: study.protection.encryption, public_key_registered: study.publicKey !== null };
  });

  // The key holder registers the public key only; the coordinator never receives a secret key.
  app.put('/api/studies/:id/public-key', { config: { roles: ['privacy_officer'] } }, async (request) => {
    const { id } = parseRequest(studyParams, request.params, 'params');
    const body = parseRequest(publicKeySchema, request.body, 'body');
    const study = await store.getStudy(id);
    if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
    if (!study.protection.encryption) throw new CoordinatorError('FEDVAL_ERR_COORD_NOT_ENCRYPTED', id);
    const publicKey = new Uint8Array(Buffer.from(body.public_key_base64, 'base64'));
    // Throws a coded @fedval/he error (400) for bytes that are not a public key of this plan.
    const context = await createHeContext(study.protection.encryption);
    try {
      // Encrypting zeros loads and checks the key against the plan (SEAL failures become HE codes).
      encryptVector(context, publicKey, new Float64Array(context.plan.vectorLength));
    } finally {
      context.dispose();
    }
    if (!(await store.setStudyPublicKey(id, publicKey))) throw new CoordinatorError('FEDVAL_ERR_COORD_PUBLIC_KEY_EXISTS', id);
    audit({
      actor: actorOf(request),
      action: 'public_key.registered',
      object: `study:${id}`,
      details: { sha256: createHash('sha256').update(publicKey).digest('hex'), bytes: publicKey.byteLength },
    });
    request.log.info({ studyId: id, bytes: publicKey.byteLength }, 'public key registered');
    return { study_id: id, public_key_registered: true };
  });
}
