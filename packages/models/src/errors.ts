// errors.ts — every error @fedval/models throws, each with a stable public code.
export const MODELS_ERROR_MESSAGES = {
  FEDVAL_ERR_MODELS_INVALID_OPTIONS: 'invalid model bundle options',
  FEDVAL_ERR_MODELS_MANIFEST_UNREADABLE: 'cannot read the bundle manifest',
  FEDVAL_ERR_MODELS_MANIFEST_NOT_JSON: 'bundle manifest is not valid JSON',
  FEDVAL_ERR_MODELS_INVALID_MANIFEST: 'bundle manifest does not match the manifest schema',
  FEDVAL_ERR_MODELS_UNSUPPORTED_FORMAT: 'model format is not supported by this runner',
  FEDVAL_ERR_MODELS_UNSAFE_PATH: 'bundle file path is not inside the bundle directory',
  FEDVAL_ERR_MODELS_FILE_UNREADABLE: 'cannot read a bundle file',
  FEDVAL_ERR_MODELS_FILE_TOO_LARGE: 'bundle file exceeds the size limit',
  FEDVAL_ERR_MODELS_BUNDLE_TOO_LARGE: 'bundle exceeds the total size limit',
  FEDVAL_ERR_MODELS_HASH_MISMATCH: 'bundle file does not match its SHA-256 in the manifest',
  FEDVAL_ERR_MODELS_UNLISTED_FILE: 'model references a file the manifest does not list',
  FEDVAL_ERR_MODELS_INVALID_MODEL: 'model files cannot be loaded',
  FEDVAL_ERR_MODELS_SHAPE_MISMATCH: 'model input or output shape does not match the manifest',
  FEDVAL_ERR_MODELS_BACKEND_UNAVAILABLE: 'requested TF.js backend is unavailable',
  FEDVAL_ERR_MODELS_MISSING_COLUMNS: 'data lacks columns the model needs',
  FEDVAL_ERR_MODELS_INFERENCE_FAILED: 'model inference failed',
  FEDVAL_ERR_MODELS_RUNNER_DISPOSED: 'model runner has been disposed',
  FEDVAL_ERR_MODELS_WRITE_FAILED: 'cannot write the model bundle',
  FEDVAL_ERR_MODELS_INPUT_TYPE: 'model input is not a float32 tensor',
  FEDVAL_ERR_MODELS_ZIPMAP_OUTPUT: 'model outputs probabilities as a sequence of maps (ZipMap): export it without ZipMap (skl2onnx: options={"zipmap": False})',
  FEDVAL_ERR_MODELS_OUTPUT_AMBIGUOUS: 'model has several float outputs: name the one to read in the manifest (output.tensor)',
  FEDVAL_ERR_MODELS_OUTPUT_NOT_FOUND: 'model has no output of the name the manifest gives (output.tensor)',
  FEDVAL_ERR_MODELS_WORKER_FAILED: 'a model worker thread stopped while scoring',
} as const;

export type ModelsErrorCode = keyof typeof MODELS_ERROR_MESSAGES;

export class ModelsError extends Error {
  readonly code: ModelsErrorCode;
  /** What the message adds to the code's short message, if anything (a worker thread sends it back with the code). */
  readonly detail: string | undefined;
  constructor(code: ModelsErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${MODELS_ERROR_MESSAGES[code]}: ${detail}` : MODELS_ERROR_MESSAGES[code], options);
    this.name = 'ModelsError';
    this.code = code;
    this.detail = detail || undefined;
  }
}
