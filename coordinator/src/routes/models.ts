// models.ts — REST routes to register a model bundle and read its record.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actorOf } from '../access-control.ts';
import type { AuditRecorder } from '../coordinator-audit.ts';
import { CoordinatorError } from '../errors.ts';
import { MAX_BUNDLE_FILES, registerModelBundle } from '../model-bundles.ts';
import type { BundleFileStore } from '../storage/bundle-files.ts';
import type { CoordinatorStore, ModelRecord } from '../storage/store.ts';
import { isoTime, parseRequest } from './request-validation.ts';

export interface ModelRoutesOptions {
  store: CoordinatorStore;
  bundles: BundleFileStore;
  audit: AuditRecorder;
}

const uploadSchema = z.strictObject({
  manifest_json: z.string().min(2),
  files: z.array(z.strictObject({ path: z.string().min(1).max(512), data_base64: z.string() })).max(MAX_BUNDLE_FILES + 1),
});
const modelParams = z.strictObject({ id: z.string().regex(/^[0-9a-f]{64}$/, 'expected a model id (64 lowercase hex)') });

function modelView(model: ModelRecord) {
  return {
    model_id: model.id,
    name: model.name,
    version: model.version,
    format: model.format,
    files: model.files.map((file) => ({ path: file.path, sha256: file.sha256, bytes: file.bytes })),
    created_at: isoTime(model.createdAt),
  };
}

export async function modelRoutes(app: FastifyInstance, options: ModelRoutesOptions): Promise<void> {
  if (!options.store || !options.bundles || !options.audit) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'modelRoutes needs the store, bundles and audit options');
  const { store, bundles, audit } = options;

  app.post('/api/models', { config: { roles: ['sponsor'] } }, async (request, reply) => {
    const upload = parseRequest(uploadSchema, request.body, 'body');
    const { model, created } = await registerModelBundle(upload, store, bundles, Date.now());
    if (created) {
      audit({
        actor: actorOf(request),
        action: 'model.registered',
        object: `model:${model.id}`,
        details: { name: model.name, version: model.version, format: model.format, files: model.files.length },
      });
    }
    request.log.info({ modelId: model.id, created }, created ? 'model registered' : 'model already registered');
    return reply.code(created ? 201 : 200).send({ model_id: model.id, name: model.name, version: model.version });
  });

  app.get('/api/models/:id', { config: { roles: ['sponsor', 'privacy_officer', 'auditor', 'admin'] } }, async (request) => {
    const { id } = parseRequest(modelParams, request.params, 'params');
    const model = await store.getModel(id);
    if (!model) throw new CoordinatorError('FEDVAL_ERR_COORD_MODEL_NOT_FOUND', id);
    return modelView(model);
  });
}
