// onnx-runner.ts — loads an `onnx` bundle's verified model.onnx into ONNX Runtime (CPU), checks its inputs and outputs against the manifest, and scores batches.
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { VerifiedBundle } from './bundle-files.ts';
import { ModelsError } from './errors.ts';
import { runtimeErrorText } from './runtime-text.ts';
import type { FeatureMatrixOptions } from './feature-matrix.ts';
import type { ModelManifest } from './manifest.ts';
import { featureWidth, ONNX_MODEL_FILE, outputWidth } from './manifest.ts';
import type { RunnerBackendSelection } from './runner.ts';
import { BatchedModelRunner } from './runner.ts';

type OnnxRuntime = typeof import('onnxruntime-node');
type ValueMetadata = InferenceSession.ValueMetadata;

let runtime: Promise<OnnxRuntime> | undefined;

/** onnxruntime-node, imported on first use: a process that runs only TF.js bundles never loads its native library. */
async function onnxRuntime(): Promise<OnnxRuntime> {
  runtime ??= import('onnxruntime-node').then((module) => (module as { default?: OnnxRuntime }).default ?? module);
  try {
    return await runtime;
  } catch (error) {
    runtime = undefined;
    const detail = (error instanceof Error ? error.message : String(error)).split('\n', 1)[0];
    throw new ModelsError('FEDVAL_ERR_MODELS_BACKEND_UNAVAILABLE', `onnxruntime-node is not loadable (${detail})`, { cause: error });
  }
}

function describeShape(shape: readonly (number | string)[]): string {
  return shape.length === 0 ? 'of unknown shape' : `[${shape.map((d) => (typeof d === 'number' && d >= 0 ? d : '?')).join(', ')}]`;
}

const fixed = (d: number | string | undefined): d is number => typeof d === 'number' && d >= 0;

/**
 * Checks the graph's single input: a float32 tensor `[batch, width]` with a free batch axis. Throws
 * FEDVAL_ERR_MODELS_SHAPE_MISMATCH (input count or shape) or FEDVAL_ERR_MODELS_INPUT_TYPE.
 */
function checkInput(inputs: readonly ValueMetadata[], width: number): string {
  if (inputs.length !== 1) {
    throw new ModelsError(
      'FEDVAL_ERR_MODELS_SHAPE_MISMATCH',
      `model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); fedval feeds one float32 tensor [batch, ${width}] of the manifest's features in order`,
    );
  }
  const input = inputs[0]!;
  if (!input.isTensor || input.type !== 'float32') {
    throw new ModelsError('FEDVAL_ERR_MODELS_INPUT_TYPE', `input ${input.name} is ${input.isTensor ? `a ${input.type} tensor` : 'not a tensor'}`);
  }
  const { shape } = input;
  if (shape.length > 0 && (shape.length !== 2 || (fixed(shape[1]) && shape[1] !== width))) {
    throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', `model input ${input.name} ${describeShape(shape)} does not take [batch, ${width}] features`);
  }
  if (fixed(shape[0])) {
    // A batch axis fixed at some size: the model could only score that many rows per call.
    throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', `model input ${input.name} ${describeShape(shape)} has a fixed batch size: export it with a dynamic batch axis`);
  }
  return input.name;
}

/** Whether an output shape can hold the manifest's scores: `[batch]`, `[batch, 1]` or `[batch, 2]` (binary), `[batch, K]` (K classes). */
function outputFits(shape: readonly (number | string)[], manifest: ModelManifest): boolean {
  if (shape.length === 0) return true; // unknown: checked on every batch
  const last = shape[shape.length - 1];
  if (manifest.output.kind === 'probability') return shape.length === 1 || (shape.length === 2 && (!fixed(last) || last === 1 || last === 2));
  return shape.length === 2 && (!fixed(last) || last === manifest.output.classes.length);
}

/**
 * Picks the output to read: the one the manifest names (output.tensor), else the graph's only float tensor output.
 * A sequence-of-maps output (ZipMap) is refused with advice to export without it.
 */
function selectOutput(outputs: readonly ValueMetadata[], manifest: ModelManifest): string {
  const zipMap = (o: ValueMetadata) =>
    new ModelsError('FEDVAL_ERR_MODELS_ZIPMAP_OUTPUT', `output ${o.name} is not a tensor; fedval reads a float tensor [batch, classes]`);
  const named = manifest.output.tensor;
  let chosen: ValueMetadata | undefined;
  if (named !== undefined) {
    chosen = outputs.find((o) => o.name === named);
    if (chosen === undefined) throw new ModelsError('FEDVAL_ERR_MODELS_OUTPUT_NOT_FOUND', `${JSON.stringify(named)}; outputs: ${outputs.map((o) => o.name).join(', ')}`);
    if (!chosen.isTensor) throw zipMap(chosen);
  } else {
    const floats = outputs.filter((o) => o.isTensor && (o.type === 'float32' || o.type === 'float64'));
    if (floats.length > 1) throw new ModelsError('FEDVAL_ERR_MODELS_OUTPUT_AMBIGUOUS', floats.map((o) => o.name).join(', '));
    chosen = floats[0];
    if (chosen === undefined) {
      const sequence = outputs.find((o) => !o.isTensor);
      if (sequence !== undefined) throw zipMap(sequence);
      throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', `model has no float tensor output (outputs: ${outputs.map((o) => o.name).join(', ')})`);
    }
  }
  if (!chosen.isTensor) throw zipMap(chosen);
  if (chosen.type !== 'float32' && chosen.type !== 'float64') {
    throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', `output ${chosen.name} is a ${chosen.type} tensor, not probabilities`);
  }
  if (!outputFits(chosen.shape, manifest)) {
    const wanted = manifest.output.kind === 'probability' ? '[batch], [batch, 1] or [batch, 2]' : `[batch, ${manifest.output.classes.length}]`;
    throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', `output ${chosen.name} ${describeShape(chosen.shape)} is not ${wanted}`);
  }
  return chosen.name;
}

/** What `loadOnnxRunner` needs besides the verified bundle. */
export interface OnnxRunnerInit {
  batchSize: number;
  /** ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose (one per physical core). */
  threads: number;
  featureOptions: FeatureMatrixOptions;
}

/**
 * Creates an ONNX Runtime session (CPU provider) from the verified `model.onnx` bytes (never from the file system
 * again) and checks, before any data is read, that the graph takes one float32 `[batch, width]` input and has a
 * probability output the manifest can read.
 */
export async function loadOnnxRunner(bundle: VerifiedBundle, init: OnnxRunnerInit): Promise<OnnxModelRunner> {
  const ort = await onnxRuntime();
  const bytes = bundle.files.get(ONNX_MODEL_FILE);
  if (bytes === undefined) throw new ModelsError('FEDVAL_ERR_MODELS_UNLISTED_FILE', ONNX_MODEL_FILE);
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 4, // fatal only: ONNX Runtime writes its own log lines to stderr; its errors reach the caller as coded errors
      ...(init.threads > 0 ? { intraOpNumThreads: init.threads } : {}),
      // Idle pool threads sleep rather than spin: on a loaded machine spinning threads took the CPU the data reader
      // needed (site-throughput, ONNX trees, 1M rows: 3.3–7.5 s instead of 7.5–14.1 s at load 20–30); on a quiet one
      // both ran in 2.0–2.5 s. Same CPU time, same predictions.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
  } catch (error) {
    const detail = (error instanceof Error ? error.message : String(error)).split('\n', 1)[0];
    throw new ModelsError('FEDVAL_ERR_MODELS_INVALID_MODEL', `${ONNX_MODEL_FILE}: ${detail}`, { cause: error });
  }
  try {
    const inputName = checkInput(session.inputMetadata, featureWidth(bundle.manifest.inputs));
    const outputName = selectOutput(session.outputMetadata, bundle.manifest);
    return new OnnxModelRunner({ ...init, ort, session, inputName, outputName, manifest: bundle.manifest, manifestSha256: bundle.manifestSha256 });
  } catch (error) {
    await session.release();
    throw error;
  }
}

export class OnnxModelRunner extends BatchedModelRunner {
  readonly backend: RunnerBackendSelection = { backend: 'onnxruntime', skipped: [] };
  readonly #ort: OnnxRuntime;
  readonly #session: InferenceSession;
  readonly #inputName: string;
  readonly #outputName: string;

  constructor(init: OnnxRunnerInit & { ort: OnnxRuntime; session: InferenceSession; inputName: string; outputName: string; manifest: ModelManifest; manifestSha256: string }) {
    super(init);
    this.#ort = init.ort;
    this.#session = init.session;
    this.#inputName = init.inputName;
    this.#outputName = init.outputName;
  }

  #released: Promise<void> | undefined;

  protected release(): void {
    this.#released = this.#session.release().catch(() => undefined);
  }

  override async close(): Promise<void> {
    this.dispose();
    await this.#released;
  }

  protected async infer(values: Float32Array, n: number, width: number): Promise<Float32Array> {
    let output: Tensor | undefined;
    try {
      const input = new this.#ort.Tensor('float32', values, [n, width]);
      const results = await this.#session.run({ [this.#inputName]: input }, [this.#outputName]);
      output = results[this.#outputName];
      if (output === undefined) throw new Error(`the model returned no ${this.#outputName}`);
      return probabilities(output, n, outputWidth(this.manifest.output));
    } catch (error) {
      if (error instanceof ModelsError) throw error;
      // No cause: the runtime's own text can carry a patient's value (see runtimeErrorText).
      throw new ModelsError('FEDVAL_ERR_MODELS_INFERENCE_FAILED', runtimeErrorText(error));
    } finally {
      output?.dispose();
    }
  }
}

/**
 * The `n × k` scores in an output tensor: `[n]` or `[n, 1]` as they are, the positive (second) column of `[n, 2]`
 * for a binary model, `[n, k]` for k classes. Any other shape is FEDVAL_ERR_MODELS_SHAPE_MISMATCH.
 */
function probabilities(output: Tensor, n: number, k: number): Float32Array {
  const dims = output.dims;
  const data = output.data;
  if (!(data instanceof Float32Array || data instanceof Float64Array)) {
    throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', `output is a ${output.type} tensor, not probabilities`);
  }
  const columns = dims.length === 1 ? 1 : dims.length === 2 ? dims[1]! : -1;
  if (dims[0] !== n || (k === 1 ? columns !== 1 && columns !== 2 : columns !== k)) {
    // The dimensions are not named: a graph can make its output shape depend on the data (NonZero, a data-driven Reshape).
    throw new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', `output of rank ${dims.length} is not ${k === 1 ? '[batch], [batch, 1] or [batch, 2]' : `[batch, ${k}]`} for the batch it was given`);
  }
  if (k === 1 && columns === 2) {
    const positive = new Float32Array(n);
    for (let i = 0; i < n; i++) positive[i] = data[2 * i + 1]!;
    return positive;
  }
  // Copied: the tensor's memory is released after this call.
  return Float32Array.from(data);
}
