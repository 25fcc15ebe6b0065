// models.ts — REST routes to register a model bundle, list models and read a model's record.
import { modelListResponseSchema, modelParamsSchema, modelRegisteredResponseSchema, modelUploadRequestSchema, modelViewSchema } from '@fedval/protocol';
import type { ModelView } from '@fedval/protocol';
import { publicKeyFingerprint } from '@fedval/trust';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { actorOf } from '../access-control.ts';
import type { AuditRecorder } from '../coordinator-audit.ts';
import { CoordinatorError } from '../errors.ts';
import { registerModelBundle } from '../model-bundles.ts';
import type { BundleFileStore } from '../storage/bundle-files.ts';
import type { CoordinatorStore, ModelRecord } from '../storage/store.ts';
import { isoTime } from './request-validation.ts';

export interface ModelRoutesOptions {
  store: CoordinatorStore;
  bundles: BundleFileStore;
  audit: AuditRecorder;
}

const READERS = ['sponsor', 'privacy_officer', 'auditor', 'admin'] as const;

/** A model's record as the REST API and the console's report show it. */
export function modelView(model: ModelRecord): ModelView {
  return {
    model_id: model.id,
    name: model.name,
    version: model.version,
    format: model.format,
    files: model.files.map((file) => ({ path: file.path, sha256: file.sha256, bytes: file.bytes })),
    created_at: isoTime(model.createdAt),
    signer_fingerprint: manifestSigner(model.manifestJson),
  };
}

/** The fingerprint of the key in the stored manifest's `signature` (verified by the sites, not here); null when unsigned or unreadable. */
function manifestSigner(manifestJson: string): string | null {
  try {
    const publicKey = (JSON.parse(manifestJson) as { signature?: { publicKey?: unknown } }).signature?.publicKey;
    return typeof publicKey === 'string' ? publicKeyFingerprint(publicKey) : null;
  } catch {
    return null;
  }
}

export async function modelRoutes(app: FastifyInstance, options: ModelRoutesOptions): Promise<void> {
  if (!options.store || !options.bundles || !options.audit) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'modelRoutes needs the store, bundles and audit options');
  const { store, bundles, audit } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/api/models',
    {
      config: { roles: ['sponsor'] },
      schema: {
        summary: 'Register a model bundle (201), or find it registered already (200)',
        body: modelUploadRequestSchema,
        response: { 200: modelRegisteredResponseSchema, 201: modelRegisteredResponseSchema },
      },
    },
    async (request, reply) => {
      const { model, created } = await registerModelBundle(request.body, store, bundles, Date.now());
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
    },
  );

  api.get(
    '/api/models',
    { config: { roles: READERS }, schema: { summary: 'List registered models, oldest first', response: { 200: modelListResponseSchema } } },
    async () => (await store.listModels()).map(modelView),
  );

  api.get(
    '/api/models/:id',
    { config: { roles: READERS }, schema: { summary: "A model's record", params: modelParamsSchema, response: { 200: modelViewSchema } } },
    async (request) => {
      const { id } = request.params;
      const model = await store.getModel(id);
      if (!model) throw new CoordinatorError('FEDVAL_ERR_COORD_MODEL_NOT_FOUND', id);
      return modelView(model);
    },
  );
}
