// backend.ts — picks the TF.js backend: tfjs-node when loadable, else WebAssembly, else plain JavaScript.
import type * as Tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelsError } from './errors.ts';

/** TF.js backends in order of preference: native TensorFlow (tfjs-node), WebAssembly, plain JavaScript. */
export const MODEL_BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type ModelBackend = (typeof MODEL_BACKENDS)[number];

/** The backend in use and why each faster one was passed over (for the caller to log). */
export interface BackendSelection {
  backend: ModelBackend;
  skipped: { backend: ModelBackend; reason: string }[];
}

const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
let wasmPathsSet = false;

/**
 * TF.js itself, loaded on first use: it takes a large share of a process's start-up, and most fedval processes (the
 * coordinator's, the key holder's, an agent scoring a data column or an ONNX model) never run a TF.js model.
 */
export function loadTf(): Promise<typeof Tf> {
  return import('@tensorflow/tfjs');
}

/** The directory holding the backend's `.wasm` files, as a file path with a trailing separator. */
export function wasmBinaryDirectory(): string {
  const entry = typeof import.meta.resolve === 'function' ? import.meta.resolve(WASM_PACKAGE) : null;
  const file = entry ? fileURLToPath(entry) : createRequire(import.meta.url).resolve(WASM_PACKAGE);
  return path.dirname(file) + path.sep;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n', 1)[0] ?? '';
}

async function activate(backend: ModelBackend): Promise<string | null> {
  const tf = await loadTf();
  if (backend === 'tensorflow' && tf.findBackendFactory('tensorflow') === null) {
    try {
      await import('@tensorflow/tfjs-node');
    } catch (error) {
      return `@tensorflow/tfjs-node is not loadable (${firstLine(error)})`;
    }
    if (tf.findBackendFactory('tensorflow') === null) return '@tensorflow/tfjs-node registered no backend';
  }
  if (backend === 'wasm' && !wasmPathsSet) {
    (await import('@tensorflow/tfjs-backend-wasm')).setWasmPaths(wasmBinaryDirectory());
    wasmPathsSet = true;
  }
  try {
    if (await tf.setBackend(backend)) return null;
    return `the ${backend} backend failed to initialize`;
  } catch (error) {
    return `the ${backend} backend failed to initialize (${firstLine(error)})`;
  }
}

/**
 * Makes `preference` the active TF.js backend, or with 'auto' the first of MODEL_BACKENDS that
 * initializes. TF.js has one active backend per process. Throws FEDVAL_ERR_MODELS_BACKEND_UNAVAILABLE
 * when a forced backend (or, with 'auto', every backend) cannot be used.
 */
export async function selectModelBackend(preference: ModelBackend | 'auto' = 'auto'): Promise<BackendSelection> {
  const candidates = preference === 'auto' ? MODEL_BACKENDS : [preference];
  const skipped: BackendSelection['skipped'] = [];
  for (const backend of candidates) {
    const reason = await activate(backend);
    if (reason === null) return { backend, skipped };
    skipped.push({ backend, reason });
  }
  throw new ModelsError('FEDVAL_ERR_MODELS_BACKEND_UNAVAILABLE', skipped.map((s) => s.reason).join('; '));
}

/** Switches back to `backend` if another runner changed the process-wide backend since. */
export async function ensureBackend(backend: ModelBackend): Promise<void> {
  if ((await loadTf()).getBackend() === backend) return;
  const reason = await activate(backend);
  if (reason !== null) throw new ModelsError('FEDVAL_ERR_MODELS_BACKEND_UNAVAILABLE', reason);
}
