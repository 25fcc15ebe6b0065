// @fedval/models — model bundles (manifest, hashes, files) and the TF.js runner that scores data with them.
export { loadModelBundle } from './load-bundle.ts';
export { DEFAULT_LOAD_MODEL_BUNDLE_OPTIONS } from './options.ts';
export type { LoadModelBundleOptions } from './options.ts';
export type { ModelRunner, PredictionChunk } from './runner.ts';
export { saveModelBundle } from './save-bundle.ts';
export type { ModelBundleDescription } from './save-bundle.ts';
export { modelManifestSchema, parseModelManifest, checkManifestColumns, requiredColumns, featureWidth, TFJS_MODEL_FILE } from './manifest.ts';
export type { ModelManifest, FeatureSpec, NumericFeatureSpec, OneHotFeatureSpec, BundleFile } from './manifest.ts';
export { buildFeatureMatrix, FEATURE_EXCLUSIONS, DEFAULT_FEATURE_MATRIX_OPTIONS } from './feature-matrix.ts';
export type { FeatureMatrix, FeatureMatrixOptions, FeatureExclusion, RawRow } from './feature-matrix.ts';
export { buildFeatureMatrixFromColumns, createFeatureCodeCache, featureColumnKinds } from './feature-columns.ts';
export type { FeatureColumn, FeatureCodeCache } from './feature-columns.ts';
export { selectModelBackend, MODEL_BACKENDS } from './backend.ts';
export type { ModelBackend, BackendSelection } from './backend.ts';
export { DEFAULT_BUNDLE_LIMITS, MANIFEST_FILE, readVerifiedBundle } from './bundle-files.ts';
export type { BundleLimits, VerifiedBundle } from './bundle-files.ts';
export { ModelsError, MODELS_ERROR_MESSAGES } from './errors.ts';
export type { ModelsErrorCode } from './errors.ts';
