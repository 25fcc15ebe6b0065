// trust-error-code.ts — the coded error a call throws, for the trust package's tests.
import { TrustError } from '../src/errors.ts';

/** The TrustError code `run` throws, a description of any other error, or undefined when it returns. */
export function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof TrustError ? error.code : `not a TrustError: ${String(error)}`;
  }
  return undefined;
}
