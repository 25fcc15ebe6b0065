// rounds.ts — REST routes to start a round of a study and read a round's state and released result.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CoordinatorError } from '../errors.ts';
import type { RoundRunner } from '../rounds.ts';
import type { CoordinatorStore, RoundRecord } from '../storage/store.ts';
import { isoTime, parseRequest } from './request-validation.ts';

export interface RoundRoutesOptions {
  store: CoordinatorStore;
  rounds: RoundRunner;
}

const idParams = z.strictObject({ id: z.uuid() });

/** The public view of a round: states and counts, never a per-site number. */
export function roundView(round: RoundRecord) {
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
    ...(round.result !== null ? { result: round.result } : {}),
  };
}

export async function roundRoutes(app: FastifyInstance, options: RoundRoutesOptions): Promise<void> {
  if (!options.store || !options.rounds) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'roundRoutes needs the store and rounds options');
  const { store, rounds } = options;

  app.post('/api/studies/:id/rounds', { config: { roles: ['sponsor'] } }, async (request, reply) => {
    const { id } = parseRequest(idParams, request.params, 'params');
    const study = await store.getStudy(id);
    if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
    const { roundId, state } = await rounds.startRound(study);
    return reply.code(201).send({ round_id: roundId, study_id: study.id, state });
  });

  app.get('/api/rounds/:id', { config: { roles: ['sponsor', 'key_holder', 'auditor'] } }, async (request) => {
    const { id } = parseRequest(idParams, request.params, 'params');
    await rounds.flush();
    const round = await store.getRound(id);
    if (!round) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_FOUND', id);
    return roundView(round);
  });
}
