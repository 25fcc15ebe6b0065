// he-context-cache.ts — the agent's SEAL contexts, built once per encryption plan and reused by the rounds that carry it.
import { createHeContext } from '@fedval/he';
import type { HeContext } from '@fedval/he';

/** Most plans whose contexts are kept (the oldest is disposed past it). Default 4 plans. */
export const DEFAULT_HE_CONTEXT_CACHE_PLANS = 4;

/**
 * Building a SEAL context (its NTT tables) costs far more than encrypting one statistics vector (~140 ms against a few
 * ms at degree 8192): every round of a study carries the same plan, so its context is built once. Keyed by the plan as
 * received; createHeContext validates it as before. Contexts are used synchronously once obtained, so an eviction (on
 * a later `get`) never disposes one in use.
 */
export class HeContextCache {
  readonly #contexts = new Map<string, Promise<HeContext>>();
  readonly #maxPlans: number;

  constructor(maxPlans = DEFAULT_HE_CONTEXT_CACHE_PLANS) {
    this.#maxPlans = maxPlans;
  }

  get(plan: unknown): Promise<HeContext> {
    const key = JSON.stringify(plan);
    const cached = this.#contexts.get(key);
    if (cached) {
      this.#contexts.delete(key);
      this.#contexts.set(key, cached); // most recently used last
      return cached;
    }
    const made = createHeContext(plan);
    this.#contexts.set(key, made);
    made.catch(() => this.#contexts.delete(key)); // an invalid plan is refused again next time, not cached
    while (this.#contexts.size > this.#maxPlans) {
      const [oldest, context] = this.#contexts.entries().next().value!;
      this.#contexts.delete(oldest);
      void context.then((ctx) => ctx.dispose(), () => {});
    }
    return made;
  }
}

/** The agent process's cache: agents hosted in one process (tests, benches) share it. */
export const heContexts = new HeContextCache();
