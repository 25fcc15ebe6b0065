// rounds.ts — REST routes to start a round of a study, list a study's rounds and read a round's state and released result.
import { auditHeadDetails, releasedDocumentSha256 } from '@fedval/trust';
import {
  releaseRequestSchema,
  releaseResponseSchema,
  roundAggregateResponseSchema,
  roundContributionsResponseSchema,
  roundListResponseSchema,
  roundParamsSchema,
  roundResultSchema,
  roundStartedResponseSchema,
  roundViewSchema,
  studyParamsSchema,
} from '@fedval/protocol';
import type { RoundAggregateResponse, RoundView } from '@fedval/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { BfvPlan } from '@fedval/he';
import { metricSpecToInput } from '@fedval/metrics';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { actorOf } from '../access-control.ts';
import type { Principal } from '../access-control.ts';
import type { AuditRecorder } from '../coordinator-audit.ts';
import { CoordinatorError } from '../errors.ts';
import type { RoundRunner } from '../rounds.ts';
import type { CoordinatorStore, RoundRecord, StudyRecord } from '../storage/store.ts';
import { isoTime } from './request-validation.ts';
import { roundContributionsStream } from './round-contributions-stream.ts';

export interface RoundRoutesOptions {
  store: CoordinatorStore;
  rounds: RoundRunner;
  audit: AuditRecorder;
}

/** Roles that read studies' rounds and their released results (the web console's round pages too). */
export const ROUND_READERS = ['sponsor', 'privacy_officer', 'auditor', 'admin'] as const;
const READERS = ROUND_READERS;
/** Roles shown each site's own report of the privacy budget it spent; never the sponsor. */
export const PER_SITE_PRIVACY_READERS = ['privacy_officer', 'auditor', 'admin'] as const;

/**
 * The view of a round: states and counts, never a per-site statistic. The released result may list each site's own
 * report of the privacy budget it spent (`result.privacy.dp.sites`, with `sites_salt`): only the privacy officer, auditor and admin see it.
 */
export function roundView(round: RoundRecord, caller: Principal | null = null): RoundView {
  const perSitePrivacy = caller !== null && (PER_SITE_PRIVACY_READERS as readonly string[]).includes(caller.role);
  return {
    round_id: round.id,
    study_id: round.studyId,
    state: round.state,
    ...(round.reason !== null ? { reason: round.reason } : {}),
    created_at: isoTime(round.createdAt),
    deadline_at: isoTime(round.deadlineAt),
    ...(round.closedAt !== null ? { closed_at: isoTime(round.closedAt) } : {}),
    sites: round.sites.map((site) => ({ site_id: site.siteId, status: site.status, ...(site.code !== null ? { code: site.code } : {}) })),
    contributions: round.sites.filter((site) => site.status === 'contributed').length,
    release: round.result !== null ? 'released' : round.state === 'aggregated' ? 'awaiting_key_holder' : 'none',
    // Parsed, not cast: the stored result must still be what the contract promises.
    ...(round.result !== null ? { result: roundResultSchema.parse(perSitePrivacy ? round.result : withoutPerSitePrivacy(round.result)) } : {}),
  };
}

function withoutPerSitePrivacy(result: NonNullable<RoundRecord['result']>): NonNullable<RoundRecord['result']> {
  const privacy = result.privacy;
  if (!isRecord(privacy) || !isRecord(privacy.dp) || !('sites' in privacy.dp || 'sites_salt' in privacy.dp)) return result;
  // The salt of the key holder's commitment to the per-site reports goes with them: with it, a reader could test guesses.
  const { sites: _perSite, sites_salt: _salt, ...aggregateOnly } = privacy.dp;
  return { ...result, privacy: { ...privacy, dp: aggregateOnly } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function roundRoutes(app: FastifyInstance, options: RoundRoutesOptions): Promise<void> {
  if (!options.store || !options.rounds || !options.audit) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'roundRoutes needs the store, rounds and audit options');
  const { store, rounds, audit } = options;

  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/api/studies/:id/rounds',
    {
      config: { roles: ['sponsor'] },
      schema: { summary: 'Start a round of a study', params: studyParamsSchema, response: { 201: roundStartedResponseSchema } },
    },
    async (request, reply) => {
      const { id } = request.params;
      const study = await store.getStudy(id);
      if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
      const { roundId, state } = await rounds.startRound(study, { actor: actorOf(request) });
      return reply.code(201).send({ round_id: roundId, study_id: study.id, state });
    },
  );

  api.get(
    '/api/studies/:id/rounds',
    {
      config: { roles: READERS },
      schema: { summary: "A study's rounds, oldest first", params: studyParamsSchema, response: { 200: roundListResponseSchema } },
    },
    async (request) => {
      const { id } = request.params;
      if (!(await store.getStudy(id))) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
      await rounds.flush();
      return (await store.listRounds(id)).map((round) => roundView(round, request.principal));
    },
  );

  api.get(
    '/api/rounds/:id',
    { config: { roles: READERS }, schema: { summary: "A round's state, its sites' progress and its released result", params: roundParamsSchema, response: { 200: roundViewSchema } } },
    async (request) => {
      const { id } = request.params;
      await rounds.flush();
      const round = await store.getRound(id);
      if (!round) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_FOUND', id);
      return roundView(round, request.principal);
    },
  );

  /** A round of an encrypted study, with its study and plan, after the writes in flight are stored. */
  async function encryptedRound(id: string): Promise<{ round: RoundRecord; study: StudyRecord; plan: BfvPlan }> {
    await rounds.flush();
    const round = await store.getRound(id);
    if (!round) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_FOUND', id);
    const study = await store.getStudy(round.studyId);
    const plan = study?.protection.encryption;
    if (!study || !plan) throw new CoordinatorError('FEDVAL_ERR_COORD_NOT_ENCRYPTED', round.studyId);
    return { round, study, plan };
  }

  // The release certificate and the encrypted sum, for the privacy officer: never an individual contribution.
  api.get(
    '/api/rounds/:id/aggregate',
    {
      config: { roles: ['privacy_officer'] },
      schema: { summary: "An aggregated round's release certificate and encrypted sum", params: roundParamsSchema, response: { 200: roundAggregateResponseSchema } },
    },
    async (request): Promise<RoundAggregateResponse> => {
      const { id } = request.params;
      const { round, study, plan } = await encryptedRound(id);
      const ciphertexts = round.state === 'aggregated' ? await store.getRoundEncryptedAggregate(id) : undefined;
      if (!ciphertexts) throw new CoordinatorError('FEDVAL_ERR_COORD_NOT_AGGREGATED', `round is ${round.state}`);
      const contributed = round.sites.filter((site) => site.status === 'contributed').map((site) => site.siteId);
      const read = audit({
        actor: actorOf(request),
        action: 'aggregate.read',
        object: `round:${round.id}`,
        details: { contributions: round.contributions, released: round.result !== null },
      });
      return {
        round_id: round.id,
        study_id: round.studyId,
        state: round.state,
        closed_at: round.closedAt === null ? null : isoTime(round.closedAt),
        contributions: round.contributions,
        contributing_sites: contributed,
        sites: round.sites.map((site) => ({
          site_id: site.siteId,
          status: site.status,
          ...(site.code !== null ? { code: site.code } : {}),
          ...(site.privacy ? { privacy: site.privacy } : {}),
        })),
        ...releaseContext(study, round),
        plan,
        ciphertexts_base64: ciphertexts.map((bytes) => Buffer.from(bytes).toString('base64')),
        coordinator_audit_head: { seq: read.seq, hash: read.hash },
      };
    },
  );

  // Every contribution of an aggregated bfv round with its signed record: the key holder verifies each against its own
  // roster and adds them itself, so the coordinator's aggregate and its counts need not be trusted.
  api.get(
    '/api/rounds/:id/contributions',
    {
      config: { roles: ['privacy_officer'] },
      schema: {
        summary: "An aggregated round's contributions: each site's ciphertexts and signed contribution record",
        params: roundParamsSchema,
        response: { 200: roundContributionsResponseSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { round, study, plan } = await encryptedRound(id);
      if (round.state !== 'aggregated') throw new CoordinatorError('FEDVAL_ERR_COORD_NOT_AGGREGATED', `round is ${round.state}`);
      const counted = await store.countRoundContributions(id);
      const secureAggregation = (await store.getRoundSecureAggregation(id)) ?? null;
      const read = audit({
        actor: actorOf(request),
        action: 'contributions.read',
        object: `round:${round.id}`,
        details: { contributions: counted.contributions, signed: counted.signed, released: round.result !== null },
      });
      // Streamed a page of contributions at a time (round-contributions-stream.ts): a round of 1000 sites is ~30 MB of
      // JSON, which built at once grew the coordinator's memory with the number of sites.
      const document = {
        round_id: round.id,
        study_id: round.studyId,
        state: round.state,
        created_at: isoTime(round.createdAt),
        deadline_at: isoTime(round.deadlineAt),
        closed_at: round.closedAt === null ? null : isoTime(round.closedAt),
        ...releaseContext(study, round),
        plan,
        secure_aggregation: secureAggregation,
        coordinator_audit_head: { seq: read.seq, hash: read.hash },
      };
      // Fastify sends a stream as it is (no response serializer): the untyped reply takes it; the stream checks the document against the schema as it writes it.
      const untyped: FastifyReply = reply;
      return untyped.type('application/json; charset=utf-8').send(roundContributionsStream(document, (page) => store.listRoundContributions(id, page)));
    },
  );

  // The privacy officer (key holder) publishes the metrics it decrypted and finalized from the aggregate.
  api.post(
    '/api/rounds/:id/release',
    {
      config: { roles: ['privacy_officer'] },
      schema: {
        summary: 'Publish the metrics the key holder decrypted and finalized from the aggregate',
        params: roundParamsSchema,
        body: releaseRequestSchema,
        response: { 200: releaseResponseSchema },
      },
    },
    async (request) => {
      const { id } = request.params;
      const body = request.body;
      await rounds.flush();
      const round = await store.getRound(id);
      if (!round) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_FOUND', id);
      const study = await store.getStudy(round.studyId);
      if (round.state !== 'aggregated') throw new CoordinatorError('FEDVAL_ERR_COORD_NOT_AGGREGATED', `round is ${round.state}`);
      if (round.result !== null) throw new CoordinatorError('FEDVAL_ERR_COORD_ALREADY_RELEASED', id);
      const contributed = round.sites.filter((site) => site.status === 'contributed').map((site) => site.siteId);
      // The key holder names the sites it verified and summed; without them, the release is of every contribution.
      const sites = body.sites === undefined ? contributed : contributed.filter((site) => body.sites!.includes(site)); // in the round's order
      if (body.sites !== undefined && (new Set(body.sites).size !== body.sites.length || body.sites.some((site) => !contributed.includes(site)))) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_RELEASE_POLICY', 'the release names a site that did not contribute to the round, or one site twice');
      }
      if (body.contributions !== sites.length || (body.sites !== undefined && body.sites.length !== sites.length)) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_RELEASE_POLICY', `the release is of ${sites.length} contributions, it names ${body.contributions}`);
      }
      // The key holder's signed statement must be about this round and these metrics and sites (readers verify it too).
      const statement = body.signed_release?.statement;
      if (statement && (statement.roundId !== id || statement.metricsSha256 !== releasedDocumentSha256(body.metrics) || [...statement.sites].sort().join('\n') !== [...sites].sort().join('\n'))) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_RELEASE_POLICY', 'the signed release statement is not about this round, these metrics and these sites');
      }
      if (study && sites.length < study.protection.minSites) {
        throw new CoordinatorError('FEDVAL_ERR_COORD_RELEASE_POLICY', `${sites.length} contributions, the study requires ${study.protection.minSites}`);
      }
      const result = {
        metrics: body.metrics,
        contributions: sites.length,
        sites,
        ...(body.privacy ? { privacy: body.privacy } : {}),
        ...(body.signed_release ? { signed_release: body.signed_release } : {}),
      };
      if (!(await store.releaseRound(id, result, Date.now()))) throw new CoordinatorError('FEDVAL_ERR_COORD_ALREADY_RELEASED', id);
      // The key holder's head, an anchor of its trail (auditHeadDetails of @fedval/trust).
      const keyHolderHead = body.key_holder_audit_head ? auditHeadDetails('key_holder', body.key_holder_audit_head) : {};
      audit({ actor: actorOf(request), action: 'result.released', object: `round:${id}`, details: { contributions: sites.length, sites, ...keyHolderHead } });
      request.log.info({ roundId: id, contributions: sites.length }, 'result released');
      return { round_id: id, release: 'released' as const };
    },
  );
}

/** What the key holder needs to finalize a round, as the study defines it (the plan, checked by the caller, aside). */
function releaseContext(study: StudyRecord, round: RoundRecord) {
  return {
    min_sites: study.protection.minSites,
    metric_spec: metricSpecToInput(study.metricSpec),
    privacy: study.protection.privacy,
    released: round.result !== null,
  };
}
