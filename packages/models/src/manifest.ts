// manifest.ts — the model bundle manifest: its schema, its validation, and the data columns it needs.
import { z } from 'zod';
import { ModelsError } from './errors.ts';

const MAX_NAME_LENGTH = 256; // characters
const MAX_TEXT_LENGTH = 8192; // characters
const MAX_CATEGORIES = 4096; // categories per one-hot feature
const MAX_INPUTS = 4096; // input features
const MAX_FILES = 4096; // listed files

/** The model file at the root of every `tfjs` bundle. */
export const TFJS_MODEL_FILE = 'model.json';
/** The model file at the root of every `onnx` bundle. */
export const ONNX_MODEL_FILE = 'model.onnx';

const columnName = z.string().min(1).max(MAX_NAME_LENGTH);
const base64 = z.string().min(1).max(MAX_TEXT_LENGTH).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'expected base64');
const trimmed = (s: string): boolean => s === s.trim();

const numericFeatureSchema = z.strictObject({
  kind: z.literal('numeric'),
  column: columnName,
  transform: z.enum(['log1p', 'log', 'sqrt']).optional(),
  standardize: z.strictObject({ mean: z.number(), sd: z.number().positive() }).optional(),
  missing: z.union([z.literal('exclude'), z.strictObject({ impute: z.number() })], {
    error: 'expected "exclude" or { "impute": <number> }',
  }),
});

const oneHotFeatureSchema = z
  .strictObject({
    kind: z.literal('one_hot'),
    column: columnName,
    categories: z
      .array(z.string().min(1).max(MAX_NAME_LENGTH).refine(trimmed, 'category has leading or trailing spaces'))
      .min(1)
      .max(MAX_CATEGORIES)
      .refine((c) => new Set(c).size === c.length, 'categories must be unique'),
    missing: z.union([z.literal('exclude'), z.literal('zeros'), z.strictObject({ impute: z.string() })], {
      error: 'expected "exclude", "zeros" or { "impute": <category> }',
    }),
    unknown: z.enum(['exclude', 'zeros']),
  })
  .refine((f) => typeof f.missing === 'string' || f.categories.includes(f.missing.impute), {
    message: 'imputed category is not one of the categories',
    path: ['missing', 'impute'],
  });

const featureSchema = z.discriminatedUnion('kind', [numericFeatureSchema, oneHotFeatureSchema]);

/** ONNX bundles only: the name of the graph output to read, when the graph has more than one float tensor output. */
const outputTensorName = z.string().min(1).max(MAX_NAME_LENGTH).optional();

/** Binary models: one probability of the positive class per row. */
const probabilityOutputSchema = z.strictObject({
  kind: z.literal('probability'),
  positive: z.string().min(1).max(MAX_TEXT_LENGTH),
  tensor: outputTensorName,
});

/** Multiclass models (ONNX bundles): one probability per class per row, in the order of `classes`. */
const classProbabilitiesOutputSchema = z.strictObject({
  kind: z.literal('class_probabilities'),
  classes: z
    .array(z.string().min(1).max(MAX_NAME_LENGTH))
    .min(2)
    .max(MAX_CATEGORIES)
    .refine((c) => new Set(c).size === c.length, 'classes must be unique'),
  tensor: outputTensorName,
});

const outputSchema = z.discriminatedUnion('kind', [probabilityOutputSchema, classProbabilitiesOutputSchema]);

const bundleFileSchema = z.strictObject({
  path: z.string().min(1).max(1024),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex SHA-256 digest'),
});

/** The `manifest.json` of a model bundle (manifest version 1). */
export const modelManifestSchema = z
  .strictObject({
    manifestVersion: z.literal(1),
    name: z.string().min(1).max(MAX_NAME_LENGTH),
    version: z.string().min(1).max(MAX_NAME_LENGTH),
    description: z.string().max(MAX_TEXT_LENGTH),
    format: z.enum(['tfjs', 'onnx']),
    inputs: z.array(featureSchema).min(1).max(MAX_INPUTS),
    output: outputSchema,
    files: z
      .array(bundleFileSchema)
      .min(1)
      .max(MAX_FILES)
      .refine((f) => new Set(f.map((x) => x.path)).size === f.length, 'file paths must be unique'),
    /** Reserved for the sponsor's Ed25519 signature over the manifest (issue 6); not verified yet. */
    signature: z.strictObject({ algorithm: z.literal('ed25519'), publicKey: base64, value: base64 }).optional(),
  })
  .refine((m) => m.format !== 'tfjs' || m.files.some((f) => f.path === TFJS_MODEL_FILE), {
    message: 'a tfjs bundle must list model.json',
    path: ['files'],
  })
  .refine((m) => m.format !== 'onnx' || m.files.some((f) => f.path === ONNX_MODEL_FILE), {
    message: 'an onnx bundle must list model.onnx',
    path: ['files'],
  })
  .refine((m) => m.format === 'onnx' || (m.output.kind === 'probability' && m.output.tensor === undefined), {
    message: 'class_probabilities outputs and output.tensor are for onnx bundles',
    path: ['output'],
  });

export type ModelManifest = z.infer<typeof modelManifestSchema>;
export type FeatureSpec = z.infer<typeof featureSchema>;
export type NumericFeatureSpec = z.infer<typeof numericFeatureSchema>;
export type OneHotFeatureSpec = z.infer<typeof oneHotFeatureSchema>;
export type BundleFile = z.infer<typeof bundleFileSchema>;
export type ModelOutputSpec = z.infer<typeof outputSchema>;

/** Scores per row the model gives: 1 for a probability output, one per class for class probabilities. */
export function outputWidth(output: ModelOutputSpec): number {
  return output.kind === 'probability' ? 1 : output.classes.length;
}

function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out || '(root)';
}

/** Validates a parsed `manifest.json`; throws FEDVAL_ERR_MODELS_INVALID_MANIFEST listing every problem. */
export function parseModelManifest(value: unknown): ModelManifest {
  const result = modelManifestSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${formatIssuePath(issue.path)}: ${issue.message}`);
  throw new ModelsError('FEDVAL_ERR_MODELS_INVALID_MANIFEST', problems.join('; '));
}

/** Number of model input columns the manifest's features expand to (one-hot features count one per category). */
export function featureWidth(inputs: readonly FeatureSpec[]): number {
  let width = 0;
  for (const f of inputs) width += f.kind === 'numeric' ? 1 : f.categories.length;
  return width;
}

/** The data columns the model reads, each once, in manifest order. */
export function requiredColumns(manifest: Pick<ModelManifest, 'inputs'>): string[] {
  return [...new Set(manifest.inputs.map((f) => f.column))];
}

/** Throws FEDVAL_ERR_MODELS_MISSING_COLUMNS naming every column the model needs that `columns` lacks. */
export function checkManifestColumns(manifest: Pick<ModelManifest, 'inputs'>, columns: readonly string[]): void {
  const present = new Set(columns);
  const missing = requiredColumns(manifest).filter((c) => !present.has(c));
  if (missing.length > 0) {
    throw new ModelsError('FEDVAL_ERR_MODELS_MISSING_COLUMNS', missing.map((c) => JSON.stringify(c)).join(', '));
  }
}
