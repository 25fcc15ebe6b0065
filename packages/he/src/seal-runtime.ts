// seal-runtime.ts — the one place node-seal is loaded (once per process) and the guard every SEAL call runs under.
//
// node-seal 7 exposes SEAL's C++ exceptions as WebAssembly.Exception objects. Emscripten does not
// restore the WASM shadow-stack pointer when an exception escapes into JavaScript, and the
// exception object stays allocated until its refcount is dropped (emscripten-core/emscripten
// PR #27748). Measured with node-seal 7.0.0: each failed load leaks 16+ bytes of a 64 KiB stack and
// ~34 bytes of heap, and after ~3,700 failures the module traps with "table index is out of
// bounds". The guard saves the stack pointer before each call, restores it on failure and
// releases the exception, then throws a coded HeError with SEAL's message as the cause.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import initialize from 'node-seal';
import type { MainModule } from 'node-seal';
import { HeError } from './errors.ts';
import type { HeErrorCode } from './errors.ts';

export type Seal = MainModule;

// The repository's TypeScript lib has no WebAssembly declarations; this is the part used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  instantiate(bytes: Uint8Array, imports: unknown): Promise<{ instance: { exports: Record<string, unknown> }; module: unknown }>;
  Memory: abstract new () => WasmMemory;
  Exception: abstract new () => object;
  RuntimeError: abstract new () => Error;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface SealRuntime {
  readonly seal: Seal;
  /** Bytes of WASM linear memory (it only grows; a leak shows as growth). */
  heapBytes(): number;
  /** Current WASM shadow-stack pointer. */
  stackPointer(): number;
  /** Runs `fn`; whatever it throws becomes an HeError with `code`, after restoring the WASM stack. */
  guard<T>(code: HeErrorCode, detail: string, fn: () => T): T;
}

let loading: Promise<SealRuntime> | undefined;

/** Loads node-seal once per process; concurrent callers share the same instance. */
export function loadSealRuntime(): Promise<SealRuntime> {
  loading ??= createRuntime().catch((cause: unknown) => {
    loading = undefined;
    throw cause instanceof HeError ? cause : new HeError('FEDVAL_ERR_HE_SEAL_UNAVAILABLE', undefined, { cause });
  });
  return loading;
}

async function createRuntime(): Promise<SealRuntime> {
  const dist = locateNodeSealDist();
  const [wasm, glue] = await Promise.all([readFile(new URL('seal_throws.wasm', dist)), readFile(new URL('seal_throws.js', dist), 'utf8')]);
  const restoreName = /__emscripten_stack_restore=wasmExports\["([^"]+)"\]/.exec(glue)?.[1];
  const currentName = /_emscripten_stack_get_current=wasmExports\["([^"]+)"\]/.exec(glue)?.[1];
  if (!restoreName || !currentName) {
    throw new HeError('FEDVAL_ERR_HE_SEAL_UNAVAILABLE', 'this node-seal build does not expose its stack functions; @fedval/he supports node-seal 7.0.0');
  }
  let exports: Record<string, unknown> | undefined;
  const seal = await initialize({
    instantiateWasm(imports: unknown, receive: (instance: unknown, module: unknown) => void) {
      void Wasm.instantiate(wasm, imports).then(({ instance, module }) => {
        exports = instance.exports;
        receive(instance, module);
      });
      return {};
    },
  });
  const memory = Object.values(exports ?? {}).find((x): x is WasmMemory => x instanceof Wasm.Memory);
  const restore = exports?.[restoreName];
  const current = exports?.[currentName];
  if (!memory || typeof restore !== 'function' || typeof current !== 'function') {
    throw new HeError('FEDVAL_ERR_HE_SEAL_UNAVAILABLE', 'node-seal did not expose its memory and stack functions');
  }
  const stackPointer = current as () => number;
  const stackRestore = restore as (sp: number) => void;
  let trapped = false;
  return {
    seal,
    heapBytes: () => memory.buffer.byteLength,
    stackPointer,
    guard<T>(code: HeErrorCode, detail: string, fn: () => T): T {
      if (trapped) throw new HeError('FEDVAL_ERR_HE_SEAL_UNAVAILABLE', 'SEAL trapped earlier in this process; restart it');
      const sp = stackPointer();
      try {
        return fn();
      } catch (error) {
        stackRestore(sp);
        if (error instanceof HeError) throw error;
        if (error instanceof Wasm.RuntimeError) trapped = true;
        throw new HeError(code, detail, { cause: describe(seal, error) });
      }
    },
  };
}

/** A plain Error with SEAL's message; releases the C++ exception object. */
function describe(seal: Seal, error: unknown): Error {
  if (error instanceof Wasm.Exception) {
    const message = (error as { message?: unknown }).message;
    try {
      (seal as unknown as { decrementExceptionRefcount(e: unknown): void }).decrementExceptionRefcount(error);
    } catch {
      // Not a C++ exception (a JS binding error): nothing to release.
    }
    return new Error(Array.isArray(message) ? message.join(': ') : String(message));
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** URL of node-seal's dist/ directory, whose .wasm and glue this runtime reads. */
function locateNodeSealDist(): URL {
  const resolve = (import.meta as { resolve?: (specifier: string) => string }).resolve;
  if (typeof resolve === 'function') {
    try {
      return new URL('./', resolve('node-seal'));
    } catch {
      // Fall through to a search of the node_modules paths.
    }
  }
  const require = createRequire(import.meta.url);
  for (const dir of require.resolve.paths('node-seal') ?? []) {
    const candidate = `${dir}/node-seal/dist/`;
    if (existsSync(`${candidate}seal_throws.wasm`)) return pathToFileURL(candidate);
  }
  throw new HeError('FEDVAL_ERR_HE_SEAL_UNAVAILABLE', 'node-seal is not installed next to @fedval/he');
}
