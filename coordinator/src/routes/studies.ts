// studies.ts — REST routes to create, list and read studies (model or score column, metric spec, sites, quorum, deadline).
import { createHash, randomUUID } from 'node:crypto';
import { bfvEncryptionSummary, createHeContext, encryptVector, planSha256 } from '@fedval/he';
import type { BfvPlan } from '@fedval/he';
import { publicKeyFingerprint } from '@fedval/trust';
import type { SignedStudyKeyStatement } from '@fedval/trust';
import { createStatisticsLayout, metricSpecToInput } from '@fedval/metrics';
import {
  keyStatementRegisteredResponseSchema,
  keyStatementRequestSchema,
  publicKeyRegisteredResponseSchema,
  publicKeyRequestSchema,
  studyCreateRequestSchema,
  studyEncryptionResponseSchema,
  studyListResponseSchema,
  studyParamsSchema,
  studyViewSchema,
} from '@fedval/protocol';
import type { StudyView } from '@fedval/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { CoordinatorConfig } from '../config.ts';
import { actorOf } from '../access-control.ts';
import type { AuditRecorder } from '../coordinator-audit.ts';
import { CoordinatorError } from '../errors.ts';
import type { CoordinatorStore, StudyRecord } from '../storage/store.ts';
import { isoTime } from './request-validation.ts';
import { defaultThreshold } from '@fedval/secagg';
import { DEFAULT_PROTECTION, planProtection } from '../protection.ts';

export interface StudyRoutesOptions {
  config: CoordinatorConfig;
  store: CoordinatorStore;
  audit: AuditRecorder;
}

/** Roles that read studies (the web console's study pages too). */
export const STUDY_READERS = ['sponsor', 'privacy_officer', 'auditor', 'admin'] as const;
const READERS = STUDY_READERS;

/**
 * A study's secure aggregation: on by default for a bfv study of at least two sites (absent, or `{ threshold? }`); only
 * an explicit `false` turns it off, and sites refuse such a study's tasks unless their policy.require_secure_aggregation
 * is false. A plaintext study (the test seam) has none; asking for it there is refused.
 * The threshold defaults to @fedval/secagg defaultThreshold (max(⌊2n/3⌋ + 1, release minimum), Bonawitz et al. 2017);
 * it must lie in [release minimum, sites], since every site refuses a threshold below its own policy.min_sites.
 */
function secureAggregationOf(request: { threshold?: number | undefined } | false | undefined, contribution: 'bfv' | 'plaintext', minSites: number, sites: number): { threshold: number } | null {
  if (request === false) return null;
  // The default: masking needs two sites at least (a one-site study exists only where min_release_sites was lowered to 1).
  if (request === undefined && (contribution !== 'bfv' || sites < 2)) return null;
  const asked = request ?? {};
  if (contribution !== 'bfv') throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_THRESHOLD', 'secure aggregation needs bfv contributions');
  const threshold = asked.threshold ?? defaultThreshold(sites, Math.min(minSites, sites));
  if (threshold < minSites || threshold > sites || threshold < 2) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_THRESHOLD', `threshold ${threshold}, release minimum ${minSites}, ${sites} sites`);
  }
  return { threshold };
}

export function studyView(study: StudyRecord): StudyView {
  return {
    study_id: study.id,
    name: study.name,
    model_id: study.modelId,
    score_column: study.scoreColumn,
    metric_spec: metricSpecToInput(study.metricSpec),
    sites: study.sites,
    quorum: study.quorum,
    deadline_seconds: study.deadlineSeconds,
    contribution: study.contribution,
    release: { min_sites: study.protection.minSites },
    max_patients_per_site: study.protection.maxPatientsPerSite,
    ...(study.protection.encryption ? { encryption: bfvEncryptionSummary(study.protection.encryption) } : {}),
    privacy: study.protection.privacy,
    secure_aggregation: study.protection.secureAggregation ? { scheme: 'bonawitz-double-mask', threshold: study.protection.secureAggregation.threshold } : null,
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

export async function studyRoutes(app: FastifyInstance, options: StudyRoutesOptions): Promise<void> {
  if (!options.config || !options.store || !options.audit) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'studyRoutes needs the config, store and audit options');
  const { config, store, audit } = options;
  const knownSites = new Set(config.sites.map((site) => site.id));

  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/api/studies',
    {
      config: { roles: ['sponsor'] },
      schema: { summary: 'Create a study', body: studyCreateRequestSchema, response: { 201: studyViewSchema } },
    },
    async (request, reply) => {
      const body = request.body;
      const unknown = body.sites.filter((id) => !knownSites.has(id));
      if (unknown.length > 0) throw new CoordinatorError('FEDVAL_ERR_COORD_UNKNOWN_SITE', unknown.map((id) => JSON.stringify(id)).join(', '));
      if (body.model_id !== undefined && !(await store.getModel(body.model_id))) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_UNKNOWN_MODEL', body.model_id);
      }
      // A release of one or two sites is no aggregate: with two, each site subtracts its own numbers and reads the other's.
      const floor = config.limits.min_release_sites;
      const minSites = body.release?.min_sites ?? Math.max(floor, Math.min(DEFAULT_PROTECTION.minSites, body.sites.length));
      if (minSites < floor) throw new CoordinatorError('FEDVAL_ERR_COORD_RELEASE_MINIMUM', `release.min_sites is ${minSites}, at least ${floor} is required`);
      if (body.sites.length < floor) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_RELEASE_MINIMUM', `the study has ${body.sites.length} sites; a release needs at least ${floor}`);
      }
      // Throws a coded @fedval/metrics error (answered with 400) for an invalid spec or a vector over the limit.
      const spec = body.metric_spec;
      const layout = createStatisticsLayout(spec);
      const contribution = body.contribution ?? 'bfv';
      // Throws a coded @fedval/he error (400) when no encryption parameters can carry the study.
      const protection = planProtection(layout, {
        contribution,
        minSites,
        maxPatientsPerSite: body.max_patients_per_site ?? DEFAULT_PROTECTION.maxPatientsPerSite,
        sites: body.sites.length,
        privacy: null,
        privacyInput: body.privacy ?? null,
      });
      const secureAggregation = secureAggregationOf(body.secure_aggregation, contribution, minSites, body.sites.length);
      if (secureAggregation) protection.secureAggregation = secureAggregation;
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
        keyStatement: null,
        createdAt: Date.now(),
      };
      await store.createStudy(study);
      audit({ actor: actorOf(request), action: 'study.created', object: `study:${study.id}`, details: protectionSummary(study) });
      request.log.info({ studyId: study.id, sites: study.sites.length, quorum: study.quorum }, 'study created');
      return reply.code(201).send(studyView(study));
    },
  );

  api.get(
    '/api/studies',
    { config: { roles: READERS }, schema: { summary: 'List studies, oldest first', response: { 200: studyListResponseSchema } } },
    async () => (await store.listStudies()).map(studyView),
  );

  api.get(
    '/api/studies/:id',
    { config: { roles: READERS }, schema: { summary: 'A study', params: studyParamsSchema, response: { 200: studyViewSchema } } },
    async (request) => {
      const { id } = request.params;
      const study = await store.getStudy(id);
      if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
      return studyView(study);
    },
  );

  // What the key holder needs to create the study's key pair: the BFV plan. Public.
  api.get(
    '/api/studies/:id/encryption',
    {
      config: { roles: ['privacy_officer', 'sponsor', 'auditor', 'admin'] },
      schema: { summary: "A bfv study's encryption plan", params: studyParamsSchema, response: { 200: studyEncryptionResponseSchema } },
    },
    async (request) => {
      const { id } = request.params;
      const study = await store.getStudy(id);
      if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
      if (!study.protection.encryption) throw new CoordinatorError('FEDVAL_ERR_COORD_NOT_ENCRYPTED', id);
      return { study_id: study.id, plan: study.protection.encryption, public_key_registered: study.publicKey !== null };
    },
  );

  // The key holder registers the public key only; the coordinator never receives a secret key.
  api.put(
    '/api/studies/:id/public-key',
    {
      config: { roles: ['privacy_officer'] },
      schema: {
        summary: "Register the key holder's BFV public key of a study",
        params: studyParamsSchema,
        body: publicKeyRequestSchema,
        response: { 200: publicKeyRegisteredResponseSchema },
      },
    },
    async (request) => {
      const { id } = request.params;
      const body = request.body;
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
      const publicKeySha256 = createHash('sha256').update(publicKey).digest('hex');
      const statement = body.key_statement ?? null;
      if (statement) checkKeyStatement(statement, id, publicKeySha256, study.protection.encryption);
      if (!(await store.setStudyPublicKey(id, publicKey, statement))) throw new CoordinatorError('FEDVAL_ERR_COORD_PUBLIC_KEY_EXISTS', id);
      audit({
        actor: actorOf(request),
        action: 'public_key.registered',
        object: `study:${id}`,
        details: { sha256: publicKeySha256, bytes: publicKey.byteLength, key_holder: statement ? publicKeyFingerprint(statement.keyHolderPublicKey) : null },
      });
      request.log.info({ studyId: id, bytes: publicKey.byteLength }, 'public key registered');
      return { study_id: id, public_key_registered: true as const };
    },
  );

  // After a roster change the key holder signs a new statement for the same key; the coordinator only stores and forwards it.
  api.put(
    '/api/studies/:id/key-statement',
    {
      config: { roles: ['privacy_officer'] },
      schema: {
        summary: "Replace the key holder's signed statement of a study's registered public key",
        params: studyParamsSchema,
        body: keyStatementRequestSchema,
        response: { 200: keyStatementRegisteredResponseSchema },
      },
    },
    async (request) => {
      const { id } = request.params;
      const study = await store.getStudy(id);
      if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
      if (!study.protection.encryption) throw new CoordinatorError('FEDVAL_ERR_COORD_NOT_ENCRYPTED', id);
      if (!study.publicKey) throw new CoordinatorError('FEDVAL_ERR_COORD_NO_PUBLIC_KEY', id);
      const statement = request.body.key_statement;
      checkKeyStatement(statement, id, createHash('sha256').update(study.publicKey).digest('hex'), study.protection.encryption);
      if (!(await store.setStudyKeyStatement(id, statement))) throw new CoordinatorError('FEDVAL_ERR_COORD_NO_PUBLIC_KEY', id);
      audit({
        actor: actorOf(request),
        action: 'key_statement.registered',
        object: `study:${id}`,
        details: { key_holder: publicKeyFingerprint(statement.keyHolderPublicKey), roster_sha256: statement.statement.rosterSha256, min_sites: statement.statement.minSites },
      });
      return { study_id: id, key_statement_registered: true as const };
    },
  );
}

/**
 * The coordinator cannot check who signed a statement (sites pin the key holder's key, it does not), only that it is
 * about this study, this plan and this key: a statement for anything else would make every site refuse the study.
 */
function checkKeyStatement(signed: SignedStudyKeyStatement, studyId: string, publicKeySha256: string, plan: BfvPlan): void {
  const { statement } = signed;
  const problems = [
    ...(statement.studyId !== studyId ? ['key_statement.statement.studyId: not this study'] : []),
    ...(statement.publicKeySha256 !== publicKeySha256 ? ['key_statement.statement.publicKeySha256: not the SHA-256 of this public key'] : []),
    ...(statement.planSha256 !== planSha256(plan) ? ["key_statement.statement.planSha256: not the SHA-256 of the study's plan"] : []),
  ];
  if (problems.length > 0) throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_REQUEST', problems.join('; '));
}
