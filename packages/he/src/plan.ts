// plan.ts — the BFV parameter planner, the JSON form of a plan, and the checks a receiver runs on it.
import { createHash } from 'node:crypto';
import { listProblems } from '@fedval/schema';
import { z } from 'zod';
import { HeError } from './errors.ts';
import { DEFAULT_HE_LIMITS } from './limits.ts';
import { aggregateNoiseBound, log2, noiseBudgetLowerBound, noiseFits, SEAL_ERROR_MAX } from './noise.ts';
import type { NoiseBoundModel } from './noise.ts';
import { boundRuns, counterRadix, summarizePacking } from './packing.ts';
import type { BoundRun, PackingSummary } from './packing.ts';
import { bitLength, isPrime, largestBatchingPrimeBelow, MAX_MODULUS_BITS, smallestBatchingPrimeAtLeast } from './primes.ts';
import { maxCoeffModulusBits, POLY_MODULUS_DEGREES, SECURITY_LEVELS } from './security.ts';
import type { SecurityBits } from './security.ts';
import { ciphertextGeometry, HEADER_BYTES } from './wire-format.ts';
import type { CiphertextGeometry } from './wire-format.ts';

/** What the planner must carry. */
export interface BfvPlanRequest {
  /** Entries of the statistics vector. */
  vectorLength: number;
  /** Most contributions that will ever be summed into one aggregate (sites). */
  maxSites: number;
  /** Largest |entry| one site can send, DP noise included; the bound of every entry without its own. Safe integer. */
  maxAbsPerSite: number | bigint;
  /**
   * Optional bound per entry (length vectorLength, each ≤ maxAbsPerSite). Entries with small
   * bounds pack several to a slot; a few large ones (fixed-point sums) are split into limbs
   * instead of forcing a large plaintext modulus on every entry.
   */
  entryMaxAbs?: ArrayLike<number>;
  /** Security level per the HomomorphicEncryption.org standard. Default 128. */
  securityBits?: SecurityBits;
  /** How the decryption noise is bounded (see noise.ts). Default 'probabilistic'. */
  noiseBound?: NoiseBoundModel;
  /** log2 of the allowed decryption failure probability per aggregate, integer in [−256, −32]. Default −128. Probabilistic bound only. */
  decryptionFailureLog2?: number;
  /** Fix the polynomial degree (1024 … 32768). Default: the planner picks the smallest ciphertexts. */
  polyModulusDegree?: number;
  /** Most ciphertexts one contribution may take. Default 4096. */
  maxCiphertexts?: number;
}

/** A complete, JSON-serializable BFV plan; bigints are decimal strings. */
export interface BfvPlan {
  readonly scheme: 'bfv';
  readonly planVersion: 1;
  readonly securityBits: SecurityBits;
  readonly polyModulusDegree: number;
  /** Exact primes, decimal; ciphertexts keep all but the last, the special prime SEAL drops on encryption. */
  readonly coeffModulus: readonly string[];
  readonly coeffModulusBits: readonly number[];
  /** Plaintext modulus t, a prime ≡ 1 mod 2N (batching). */
  readonly plainModulus: string;
  readonly plainModulusBits: number;
  readonly slots: number;
  readonly vectorLength: number;
  readonly maxSites: number;
  readonly maxAbsPerSite: number;
  /** Per-entry bounds, run-length encoded as [count, maxAbs] pairs in vector order. */
  readonly entryBounds: readonly (readonly [number, number])[];
  /** Counters after splitting large entries into limbs. */
  readonly counterCount: number;
  /** Most counters packed into one slot. */
  readonly countersPerSlot: number;
  readonly ciphertextCount: number;
  /** Low bits of c0 each site rounds away before sending. */
  readonly c0DroppedBits: number;
  readonly noiseBound: NoiseBoundModel;
  /** null for the worst-case bound. */
  readonly decryptionFailureLog2: number | null;
  /** Smallest invariant noise budget (bits) SEAL can report for an aggregate of maxSites contributions. */
  readonly noiseBudgetBits: number;
  /** Exact bytes of one contribution ciphertext. */
  readonly ciphertextBytes: number;
  /** ciphertextCount × ciphertextBytes. */
  readonly bytesPerSite: number;
}

const PLAN_KEYS = [
  'scheme', 'planVersion', 'securityBits', 'polyModulusDegree', 'coeffModulus', 'coeffModulusBits', 'plainModulus',
  'plainModulusBits', 'slots', 'vectorLength', 'maxSites', 'maxAbsPerSite', 'entryBounds', 'counterCount',
  'countersPerSlot', 'ciphertextCount', 'c0DroppedBits', 'noiseBound', 'decryptionFailureLog2', 'noiseBudgetBits',
  'ciphertextBytes', 'bytesPerSite',
] as const satisfies readonly (keyof BfvPlan)[];

const DEFAULT_FAILURE_LOG2 = -128;
// Planner targets q' ≥ 4·t·bound·(1 + 2^−20) so float rounding never fails validation elsewhere.
const PLANNER_SLACK = 1 + 2 ** -20;

/** The fields a plan is made of; everything else is derived from them. */
interface PlanCore {
  securityBits: SecurityBits;
  degree: number;
  coeffModulus: bigint[];
  plainModulus: bigint;
  maxSites: number;
  maxAbsPerSite: number;
  runs: BoundRun[];
  c0DroppedBits: number;
  noiseBound: NoiseBoundModel;
  failureLog2: number | null;
}

/** Chooses degree, coefficient modulus, plaintext modulus and packing with the fewest bytes per site. */
export function planBfvParameters(request: BfvPlanRequest): BfvPlan {
  const req = normalizeRequest(request);
  const maxEntry = req.runs.reduce((m, [, a]) => Math.max(m, a), 0);
  if (BigInt(req.maxSites) * BigInt(maxEntry) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new HeError('FEDVAL_ERR_HE_NO_PARAMETERS', `${req.maxSites} sites × ${maxEntry} per entry can exceed 2^53 − 1, so sums would not be exact in float64`);
  }
  const reasons = new Map<number, string>();
  const candidates: Candidate[] = [];
  const caps = capCandidates(req.runs, req.maxSites);
  for (const degree of req.degrees) {
    const maxBits = maxCoeffModulusBits(degree, req.securityBits);
    const specialBits = specialPrimeBits(degree);
    const minPrimeBits = Math.log2(degree) + 2;
    const seenProducts = new Set<bigint>();
    let fewestBits = Infinity;
    let tooManyCiphertexts = 0;
    let plainTooLarge = false;
    for (const cap of caps) {
      const first = summarizePacking(req.runs, req.maxSites, cap);
      if (!first || seenProducts.has(first.maxSlotProduct)) continue;
      seenProducts.add(first.maxSlotProduct);
      const t = smallestBatchingPrimeAtLeast(first.maxSlotProduct, degree);
      if (t === undefined) {
        plainTooLarge = true;
        continue;
      }
      const summary = summarizePacking(req.runs, req.maxSites, t) as PackingSummary;
      const ciphertextCount = Math.max(1, Math.ceil(summary.slotsUsed / degree));
      if (ciphertextCount > req.maxCiphertexts) {
        tooManyCiphertexts = Math.max(tooManyCiphertexts, ciphertextCount);
        continue;
      }
      for (let d = 0; d <= 48; d++) {
        const bound = aggregateNoiseBound({
          degree, contributions: req.maxSites, specialPrime: 1n << BigInt(specialBits - 1), c0DroppedBits: d,
          ciphertextCount, model: req.noiseBound, failureLog2: req.failureLog2 ?? DEFAULT_FAILURE_LOG2,
        });
        const bits = Math.max(Math.ceil(log2(t) + 2 + Math.log2(bound * PLANNER_SLACK) + 1e-9), minPrimeBits);
        if (d >= bits - 1) break;
        fewestBits = Math.min(fewestBits, bits + specialBits);
        if (bits + specialBits > maxBits) continue;
        const bytes = ciphertextCount * (HEADER_BYTES + Math.ceil((degree * (2 * bits - d)) / 8));
        candidates.push({ degree, t, summary, ciphertextCount, d, bits, bytes });
      }
    }
    if (Number.isFinite(fewestBits) && fewestBits > maxBits) {
      reasons.set(degree, `degree ${degree} needs a ${fewestBits}-bit coefficient modulus, ${req.securityBits}-bit security allows ${maxBits}`);
    } else if (tooManyCiphertexts > 0) {
      reasons.set(degree, `degree ${degree} needs ${tooManyCiphertexts} ciphertexts, more than ${req.maxCiphertexts}`);
    } else if (plainTooLarge) {
      reasons.set(degree, `degree ${degree} would need a plaintext modulus above ${MAX_MODULUS_BITS} bits`);
    }
  }
  candidates.sort((a, b) => a.bytes - b.bytes || a.degree - b.degree || (a.t < b.t ? -1 : a.t > b.t ? 1 : 0) || a.d - b.d);
  for (const candidate of candidates) {
    const plan = buildPlan(req, candidate);
    if (plan) return plan;
  }
  const why = [...reasons.values()];
  throw new HeError('FEDVAL_ERR_HE_NO_PARAMETERS', why.length > 0 ? why.join('; ') : 'no degree, plaintext modulus and packing fit the bounds');
}

interface Candidate {
  degree: number;
  t: bigint;
  summary: PackingSummary;
  ciphertextCount: number;
  d: number;
  bits: number;
  bytes: number;
}

interface NormalizedRequest {
  vectorLength: number;
  maxSites: number;
  maxAbsPerSite: number;
  runs: BoundRun[];
  securityBits: SecurityBits;
  noiseBound: NoiseBoundModel;
  failureLog2: number | null;
  degrees: readonly number[];
  maxCiphertexts: number;
}

function normalizeRequest(request: BfvPlanRequest): NormalizedRequest {
  const problems: string[] = [];
  if (request === null || typeof request !== 'object') throw new HeError('FEDVAL_ERR_HE_INVALID_REQUEST', 'request is not an object');
  const { vectorLength, maxSites } = request;
  if (!isInteger(vectorLength, 1, DEFAULT_HE_LIMITS.maxVectorLength)) problems.push(`vectorLength must be an integer in [1, ${DEFAULT_HE_LIMITS.maxVectorLength}]`);
  if (!isInteger(maxSites, 1, DEFAULT_HE_LIMITS.maxSites)) problems.push(`maxSites must be an integer in [1, ${DEFAULT_HE_LIMITS.maxSites}]`);
  const rawMax = request.maxAbsPerSite;
  const maxAbsPerSite = typeof rawMax === 'bigint' && rawMax >= 0n && rawMax <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(rawMax) : rawMax;
  if (!isInteger(maxAbsPerSite, 0, Number.MAX_SAFE_INTEGER)) problems.push('maxAbsPerSite must be a non-negative safe integer');
  const securityBits = request.securityBits ?? 128;
  if (!SECURITY_LEVELS.includes(securityBits)) problems.push('securityBits must be 128, 192 or 256');
  const noiseBound = request.noiseBound ?? 'probabilistic';
  if (noiseBound !== 'probabilistic' && noiseBound !== 'worst-case') problems.push("noiseBound must be 'probabilistic' or 'worst-case'");
  let failureLog2: number | null = null;
  if (noiseBound === 'probabilistic') {
    failureLog2 = request.decryptionFailureLog2 ?? DEFAULT_FAILURE_LOG2;
    if (!isInteger(failureLog2, -256, -32)) problems.push('decryptionFailureLog2 must be an integer in [-256, -32]');
  } else if (request.decryptionFailureLog2 !== undefined) {
    problems.push("decryptionFailureLog2 applies to noiseBound 'probabilistic' only");
  }
  const degrees = request.polyModulusDegree === undefined ? POLY_MODULUS_DEGREES : [request.polyModulusDegree];
  if (request.polyModulusDegree !== undefined && !POLY_MODULUS_DEGREES.includes(request.polyModulusDegree)) {
    problems.push(`polyModulusDegree must be one of ${POLY_MODULUS_DEGREES.join(', ')}`);
  }
  const maxCiphertexts = request.maxCiphertexts ?? DEFAULT_HE_LIMITS.maxCiphertexts;
  if (!isInteger(maxCiphertexts, 1, DEFAULT_HE_LIMITS.maxCiphertexts)) problems.push(`maxCiphertexts must be an integer in [1, ${DEFAULT_HE_LIMITS.maxCiphertexts}]`);
  let runs: BoundRun[] = [];
  if (problems.length === 0) {
    const entries = request.entryMaxAbs;
    if (entries === undefined) {
      runs = [[vectorLength, maxAbsPerSite as number]];
    } else if (entries === null || typeof entries !== 'object' || entries.length !== vectorLength) {
      problems.push('entryMaxAbs must have vectorLength entries');
    } else {
      const bad = Array.prototype.findIndex.call(entries, (m: unknown) => !isInteger(m, 0, maxAbsPerSite as number));
      if (bad >= 0) problems.push(`entryMaxAbs[${bad}] must be an integer in [0, maxAbsPerSite]`);
      else runs = boundRuns(entries);
    }
  }
  if (problems.length > 0) throw new HeError('FEDVAL_ERR_HE_INVALID_REQUEST', problems.join('; '));
  return {
    vectorLength, maxSites, maxAbsPerSite: maxAbsPerSite as number, runs, securityBits, noiseBound, failureLog2, degrees, maxCiphertexts,
  };
}

/** Candidate caps for the slot product: powers of two (limb sizes) and products of the commonest radices. */
function capCandidates(runs: readonly BoundRun[], sites: number): bigint[] {
  const limit = 1n << BigInt(MAX_MODULUS_BITS);
  const caps = new Set<bigint>();
  for (let b = 2; b <= MAX_MODULUS_BITS; b++) caps.add((1n << BigInt(b)) - 1n);
  const weight = new Map<bigint, number>();
  for (const [count, maxAbs] of runs) {
    const r = counterRadix(maxAbs, sites);
    if (r > 1n && r < limit) weight.set(r, (weight.get(r) ?? 0) + count);
  }
  const common = [...weight.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([r]) => r);
  for (const r of common) {
    for (let p = r; p < limit; p *= r) {
      caps.add(p);
      for (const s of common) {
        if (s === r) continue;
        for (let q = p * s; q < limit; q *= s) caps.add(q);
      }
    }
  }
  return [...caps].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Bits of the special prime: enough that SEAL's key-level noise 21·(2N+1) shrinks below 1/8 when it is divided away. */
export function specialPrimeBits(degree: number): number {
  return bitLength(BigInt(8 * SEAL_ERROR_MAX * (2 * degree + 1)));
}

function buildPlan(req: NormalizedRequest, c: Candidate): BfvPlan | undefined {
  const maxBits = maxCoeffModulusBits(c.degree, req.securityBits);
  const specialBits = specialPrimeBits(c.degree);
  for (let bits = c.bits; bits <= c.bits + 4 && bits + specialBits <= maxBits; bits++) {
    const used = new Set<bigint>([c.t]);
    const count = Math.ceil(bits / MAX_MODULUS_BITS);
    const primes: bigint[] = [];
    for (let i = 0; i < count; i++) {
      const size = Math.floor(bits / count) + (i < bits % count ? 1 : 0);
      const p = largestBatchingPrimeBelow(size, c.degree, used);
      if (p === undefined) break;
      primes.push(p);
      used.add(p);
    }
    const special = largestBatchingPrimeBelow(specialBits, c.degree, used);
    if (primes.length !== count || special === undefined) continue;
    const core: PlanCore = {
      securityBits: req.securityBits, degree: c.degree, coeffModulus: [...primes, special], plainModulus: c.t,
      maxSites: req.maxSites, maxAbsPerSite: req.maxAbsPerSite, runs: req.runs, c0DroppedBits: c.d,
      noiseBound: req.noiseBound, failureLog2: req.failureLog2,
    };
    const analysis = analyse(core, PLANNER_SLACK);
    if (analysis.problems.length === 0) return deepFreeze(analysis.plan);
  }
  return undefined;
}

interface Analysis {
  plan: BfvPlan;
  problems: string[];
}

/** Derives every field of a plan from its core and lists whatever makes it unsafe or inconsistent. */
function analyse(core: PlanCore, slack = 1): Analysis {
  const problems: string[] = [];
  const { degree, coeffModulus, plainModulus: t, maxSites } = core;
  const maxBits = maxCoeffModulusBits(degree, core.securityBits);
  if (maxBits === 0) problems.push(`polyModulusDegree ${degree} is not supported`);
  const step = BigInt(2 * degree);
  if (coeffModulus.length < 2) problems.push('coeffModulus needs at least one ciphertext prime and the special prime');
  if (new Set(coeffModulus).size !== coeffModulus.length) problems.push('coeffModulus primes must be distinct');
  for (const p of coeffModulus) {
    if (bitLength(p) > MAX_MODULUS_BITS || p % step !== 1n || !isPrime(p)) problems.push(`coeffModulus ${p} is not a prime ≡ 1 mod ${step} of at most ${MAX_MODULUS_BITS} bits`);
  }
  const coeffModulusBits = coeffModulus.map(bitLength);
  const totalBits = coeffModulusBits.reduce((a, b) => a + b, 0);
  if (maxBits > 0 && totalBits > maxBits) problems.push(`coefficient modulus has ${totalBits} bits, ${core.securityBits}-bit security allows ${maxBits} at degree ${degree}`);
  if (bitLength(t) > MAX_MODULUS_BITS || t % step !== 1n || !isPrime(t)) problems.push(`plainModulus is not a prime ≡ 1 mod ${step} of at most ${MAX_MODULUS_BITS} bits`);
  if (coeffModulus.includes(t)) problems.push('plainModulus must differ from every coefficient prime');
  const ctPrimes = coeffModulus.slice(0, -1);
  const special = coeffModulus[coeffModulus.length - 1] ?? 1n;
  const maxEntry = core.runs.reduce((m, [, a]) => Math.max(m, a), 0);
  if (maxEntry > core.maxAbsPerSite) problems.push('an entry bound exceeds maxAbsPerSite');
  if (BigInt(maxSites) * BigInt(maxEntry) > BigInt(Number.MAX_SAFE_INTEGER)) problems.push('maxSites × entry bound exceeds 2^53 − 1');
  const summary = problems.length === 0 ? summarizePacking(core.runs, maxSites, t) : undefined;
  if (problems.length === 0 && !summary) problems.push('plainModulus cannot hold the entry bounds summed over maxSites');
  const ciphertextCount = summary ? Math.max(1, Math.ceil(summary.slotsUsed / degree)) : 0;
  if (ciphertextCount > DEFAULT_HE_LIMITS.maxCiphertexts) problems.push(`${ciphertextCount} ciphertexts exceed the limit of ${DEFAULT_HE_LIMITS.maxCiphertexts}`);
  let geometry: CiphertextGeometry | undefined;
  let bound = Infinity;
  if (problems.length === 0) {
    geometry = ciphertextGeometry(degree, ctPrimes, core.c0DroppedBits);
    if (t >= geometry.modulus) problems.push('plainModulus must be smaller than the ciphertext modulus');
    if (!isInteger(core.c0DroppedBits, 0, bitLength(geometry.modulus) - 2)) problems.push('c0DroppedBits is out of range');
    bound = aggregateNoiseBound({
      degree, contributions: maxSites, specialPrime: special, c0DroppedBits: core.c0DroppedBits, ciphertextCount,
      model: core.noiseBound, failureLog2: core.failureLog2 ?? DEFAULT_FAILURE_LOG2,
    });
    if (!noiseFits(geometry.modulus, t, bound * slack)) {
      problems.push(`the ciphertext modulus leaves too little noise room for ${maxSites} contributions`);
    }
  }
  const plan: BfvPlan = {
    scheme: 'bfv',
    planVersion: 1,
    securityBits: core.securityBits,
    polyModulusDegree: degree,
    coeffModulus: coeffModulus.map(String),
    coeffModulusBits,
    plainModulus: String(t),
    plainModulusBits: bitLength(t),
    slots: degree,
    vectorLength: core.runs.reduce((n, [count]) => n + count, 0),
    maxSites,
    maxAbsPerSite: core.maxAbsPerSite,
    entryBounds: core.runs.map(([count, maxAbs]) => [count, maxAbs] as const),
    counterCount: summary?.counters ?? 0,
    countersPerSlot: summary?.maxCountersPerSlot ?? 0,
    ciphertextCount,
    c0DroppedBits: core.c0DroppedBits,
    noiseBound: core.noiseBound,
    decryptionFailureLog2: core.failureLog2,
    noiseBudgetBits: geometry && Number.isFinite(bound) ? noiseBudgetLowerBound(geometry.modulus, t, bound) : 0,
    ciphertextBytes: geometry?.contributionBytes ?? 0,
    bytesPerSite: (geometry?.contributionBytes ?? 0) * ciphertextCount,
  };
  return { plan, problems };
}

const must = (what: string) => ({ error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is missing' : `must be ${what}`) });
const int = (min: number, max: number, what = `an integer in [${min}, ${max}]`) => z.int(must(what)).min(min, must(what)).max(max, must(what));
const decimal = z.string(must('a decimal string')).regex(/^[1-9][0-9]{0,24}$/, must('a decimal string'));
const L = DEFAULT_HE_LIMITS;
const entryBoundsText = 'an array of [count ≥ 1, maxAbs ≥ 0] pairs, adjacent bounds distinct, at most the vector length limit in total';

/** The fields of a plan as sent: each field's type and range. The security table and the noise rules are checked on top. */
const bfvPlanShape = z
  .strictObject(
    {
      scheme: z.literal('bfv', must("'bfv'")),
      planVersion: z.literal(1, must('1')),
      securityBits: z.union([z.literal(128), z.literal(192), z.literal(256)], must('128, 192 or 256')),
      polyModulusDegree: z.int(must('a supported power of two')).refine((d) => POLY_MODULUS_DEGREES.includes(d), must(`one of ${POLY_MODULUS_DEGREES.join(', ')}`)),
      coeffModulus: z.array(decimal, must('an array of decimal strings')).min(1, must('an array of decimal strings')).max(64, must('at most 64 primes')),
      coeffModulusBits: z.array(int(1, MAX_MODULUS_BITS), must('an array of bit counts')),
      plainModulus: decimal,
      plainModulusBits: int(1, MAX_MODULUS_BITS),
      slots: int(1, 32768),
      vectorLength: int(1, L.maxVectorLength),
      maxSites: int(1, L.maxSites),
      maxAbsPerSite: int(0, Number.MAX_SAFE_INTEGER, 'a non-negative safe integer'),
      entryBounds: z
        .array(z.tuple([z.int(), z.int()], must(entryBoundsText)), must(entryBoundsText))
        .min(1, must(entryBoundsText))
        .max(L.maxVectorLength, must(entryBoundsText))
        .refine((runs) => parseRuns(runs) !== undefined, must(entryBoundsText)),
      counterCount: int(0, Number.MAX_SAFE_INTEGER),
      countersPerSlot: int(0, Number.MAX_SAFE_INTEGER),
      ciphertextCount: int(0, L.maxCiphertexts),
      c0DroppedBits: int(0, 64, 'a small non-negative integer'),
      noiseBound: z.enum(['probabilistic', 'worst-case'], must("'probabilistic' or 'worst-case'")),
      decryptionFailureLog2: z.int(must('an integer in [-256, -32] or null')).min(-256, must('an integer in [-256, -32]')).max(-32, must('an integer in [-256, -32]')).nullable(),
      noiseBudgetBits: z.number(must('a number')),
      ciphertextBytes: int(0, Number.MAX_SAFE_INTEGER),
      bytesPerSite: int(0, Number.MAX_SAFE_INTEGER),
    },
    { error: (issue: { input?: unknown }) => (issue.input === null || typeof issue.input !== 'object' || Array.isArray(issue.input) ? 'plan is not an object' : 'plan has unknown fields') },
  )
  .refine((plan) => (plan.noiseBound === 'probabilistic') === (plan.decryptionFailureLog2 !== null), {
    path: ['decryptionFailureLog2'],
    error: 'must be an integer in [-256, -32] (probabilistic) or null (worst-case)',
  });

/**
 * A BFV plan as it crosses the wire (inside a task) and the REST API. Parsing checks its shape, then
 * that it is secure (HomomorphicEncryption.org security table), that no sum can wrap around t, that
 * the noise of maxSites contributions stays decryptable, and that every derived field matches; it
 * yields the frozen plan. It is a codec, so a plan can also be encoded (a REST response is serialized
 * with `z.encode`): encoding writes the plan's fields and checks their shape.
 */
export const bfvPlanSchema = z.codec(bfvPlanShape, z.custom<BfvPlan>((value) => value !== null && typeof value === 'object', 'plan is not an object'), {
  decode: (given, ctx): BfvPlan => decodePlan(given, (path, message) => ctx.issues.push({ code: 'custom', path, message, input: given })),
  encode: (plan) => ({ ...plan, coeffModulus: [...plan.coeffModulus], coeffModulusBits: [...plan.coeffModulusBits], entryBounds: plan.entryBounds.map(([count, maxAbs]): [number, number] => [count, maxAbs]) }),
});

/** The checked, frozen plan of a plan whose shape is valid; `problem` receives every rule it breaks. */
function decodePlan(given: z.output<typeof bfvPlanShape>, problem: (path: PropertyKey[], message: string) => void): BfvPlan {
  const core: PlanCore = {
    securityBits: given.securityBits,
    degree: given.polyModulusDegree,
    coeffModulus: given.coeffModulus.map(BigInt),
    plainModulus: BigInt(given.plainModulus),
    maxSites: given.maxSites,
    maxAbsPerSite: given.maxAbsPerSite,
    runs: given.entryBounds.map(([count, maxAbs]): BoundRun => [count, maxAbs]),
    c0DroppedBits: given.c0DroppedBits,
    noiseBound: given.noiseBound,
    failureLog2: given.decryptionFailureLog2,
  };
  const { plan, problems } = analyse(core);
  for (const message of problems) problem([], message);
  for (const key of PLAN_KEYS) {
    if (JSON.stringify(given[key]) !== JSON.stringify(plan[key])) problem([key], "does not match the plan's parameters");
  }
  return deepFreeze(plan);
}

/** Checks a plan received over the wire with {@link bfvPlanSchema}; every problem in one FEDVAL_ERR_HE_INVALID_PLAN. Returns a frozen copy. */
export function validateBfvPlan(json: unknown): BfvPlan {
  const result = bfvPlanSchema.safeParse(json);
  if (!result.success) throw new HeError('FEDVAL_ERR_HE_INVALID_PLAN', listProblems(result.error).join('; '));
  return result.data;
}

function parseRuns(value: readonly (readonly [number, number])[]): BoundRun[] | undefined {
  const runs: BoundRun[] = [];
  let total = 0;
  for (const [count, maxAbs] of value) {
    if (!isInteger(count, 1, DEFAULT_HE_LIMITS.maxVectorLength) || !isInteger(maxAbs, 0, Number.MAX_SAFE_INTEGER)) return undefined;
    if (runs.length > 0 && runs[runs.length - 1]?.[1] === maxAbs) return undefined;
    total += count;
    runs.push([count, maxAbs]);
  }
  return total <= DEFAULT_HE_LIMITS.maxVectorLength ? runs : undefined;
}

/** Hex of the first 8 bytes of SHA-256 over the plan's fields in canonical order; every ciphertext carries it. */
export function planFingerprint(plan: BfvPlan): string {
  return Buffer.from(planFingerprintBytes(plan)).toString('hex');
}

export function planFingerprintBytes(plan: BfvPlan): Uint8Array {
  return new Uint8Array(createHash('sha256').update(canonicalPlanText(plan)).digest().subarray(0, 8));
}

/** The plan's fields in canonical order, as JSON: what planFingerprint and planSha256 hash. */
function canonicalPlanText(plan: BfvPlan): string {
  return JSON.stringify(PLAN_KEYS.map((k) => plan[k]));
}

/**
 * Full SHA-256 (hex, FIPS 180-4) over the plan's fields in canonical order: what the key holder's signed study key
 * statement binds (@fedval/trust), where planFingerprint's 64 bits would be too short to resist a chosen plan.
 */
export function planSha256(plan: BfvPlan): string {
  return createHash('sha256').update(canonicalPlanText(plan)).digest('hex');
}

/** The `privacy.encryption` block of a result: what was used and what it cost on the wire. */
export interface BfvEncryptionSummary {
  scheme: 'bfv';
  library: string;
  poly_modulus_degree: number;
  coeff_modulus_bits: number[];
  ciphertext_modulus_bits: number;
  plain_modulus_bits: number;
  security_bits: SecurityBits;
  slots: number;
  counters_per_slot: number;
  ciphertexts_per_site: number;
  ciphertext_bytes_per_site: number;
  bytes_per_entry_per_site: number;
  max_sites: number;
  noise_bound: NoiseBoundModel;
  decryption_failure_log2: number | null;
}

/** {@link BfvEncryptionSummary} as a schema: the `privacy.encryption` block of a released result as it crosses the REST API. */
export const bfvEncryptionSummarySchema = z.strictObject({
  scheme: z.literal('bfv'),
  library: z.string(),
  poly_modulus_degree: z.int().positive(),
  coeff_modulus_bits: z.array(z.int().positive()),
  ciphertext_modulus_bits: z.int().positive(),
  plain_modulus_bits: z.int().positive(),
  security_bits: z.union([z.literal(128), z.literal(192), z.literal(256)]),
  slots: z.int().positive(),
  counters_per_slot: z.int().nonnegative(),
  ciphertexts_per_site: z.int().nonnegative(),
  ciphertext_bytes_per_site: z.int().nonnegative(),
  bytes_per_entry_per_site: z.number().nonnegative(),
  max_sites: z.int().positive(),
  noise_bound: z.enum(['probabilistic', 'worst-case']),
  decryption_failure_log2: z.int().nullable(),
});

/** Compile-time proof that the schema and {@link BfvEncryptionSummary} describe the same documents. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const summarySchemaMatches: Same<z.output<typeof bfvEncryptionSummarySchema>, BfvEncryptionSummary> = true;
void summarySchemaMatches;

export function bfvEncryptionSummary(plan: BfvPlan): BfvEncryptionSummary {
  const bits = [...plan.coeffModulusBits];
  return {
    scheme: 'bfv',
    library: 'Microsoft SEAL 4.1 via node-seal 7.0.0',
    poly_modulus_degree: plan.polyModulusDegree,
    coeff_modulus_bits: bits,
    ciphertext_modulus_bits: bits.slice(0, -1).reduce((a, b) => a + b, 0),
    plain_modulus_bits: plan.plainModulusBits,
    security_bits: plan.securityBits,
    slots: plan.slots,
    counters_per_slot: plan.countersPerSlot,
    ciphertexts_per_site: plan.ciphertextCount,
    ciphertext_bytes_per_site: plan.bytesPerSite,
    bytes_per_entry_per_site: plan.bytesPerSite / plan.vectorLength,
    max_sites: plan.maxSites,
    noise_bound: plan.noiseBound,
    decryption_failure_log2: plan.decryptionFailureLog2,
  };
}

function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
