// runtime-text.ts — what of a model runtime's own error text may be kept when it failed on site data: its first line, digits masked.
/** Longest runtime text kept (characters); the rest is dropped. */
const MAX_RUNTIME_TEXT = 200;

/**
 * The first line of a model runtime's error (ONNX Runtime, TF.js, a worker thread's uncaught error) with every digit
 * replaced by `#`, at most 200 characters. A model chooses what its runtime complains about: a Gather indexed by a
 * feature fails with "idx=<the patient's value>", so the numbers in that text are data and never kept, in a log or on
 * the wire. The words stay: they tell the site operator which operator failed.
 */
export function runtimeErrorText(error: unknown): string {
  const line = (error instanceof Error ? error.message : String(error)).split('\n', 1)[0] ?? '';
  return line.replace(/[0-9]/g, '#').slice(0, MAX_RUNTIME_TEXT);
}
