// studies.ts — REST routes to create and read studies (model or score column, metric spec, sites, quorum, deadline).
import { randomUUID } from 'node:crypto';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import type { MetricSpec } from '@fedval/metrics';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { CoordinatorConfig } from '../config.ts';
import { MAX_DEADLINE_SECONDS } from '../config.ts';
import { CoordinatorError } from '../errors.ts';
import type { CoordinatorStore, StudyRecord } from '../storage/store.ts';
import { isoTime, parseRequest } from './request-validation.ts';

export interface StudyRoutesOptions {
  config: CoordinatorConfig;
  store: CoordinatorStore;
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
    contribution: z.literal('plaintext').optional(),
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
    created_at: isoTime(study.createdAt),
  };
}

export async function studyRoutes(app: FastifyInstance, options: StudyRoutesOptions): Promise<void> {
  if (!options.config || !options.store) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'studyRoutes needs the config and store options');
  const { config, store } = options;
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
    createStatisticsLayout(spec);
    const study: StudyRecord = {
      id: randomUUID(),
      name: body.name,
      modelId: body.model_id ?? null,
      scoreColumn: body.score_column ?? null,
      metricSpec: JSON.parse(JSON.stringify(spec)) as Record<string, unknown>,
      sites: body.sites,
      quorum: body.quorum ?? body.sites.length,
      deadlineSeconds: body.deadline_seconds ?? config.limits.round_deadline_seconds,
      contribution: body.contribution ?? 'plaintext',
      createdAt: Date.now(),
    };
    await store.createStudy(study);
    request.log.info({ studyId: study.id, sites: study.sites.length, quorum: study.quorum }, 'study created');
    return reply.code(201).send(studyView(study));
  });

  app.get('/api/studies/:id', { config: { roles: ['sponsor', 'key_holder', 'auditor'] } }, async (request) => {
    const { id } = parseRequest(studyParams, request.params, 'params');
    const study = await store.getStudy(id);
    if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', id);
    return studyView(study);
  });
}
