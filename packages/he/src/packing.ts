// packing.ts — how a signed statistics vector becomes BFV slots: balanced limbs for large entries,
// balanced mixed-radix packing of several counters per slot, and the exact inverse on the sum.
//
// Every counter c has a per-site bound m_c (|digit| ≤ m_c) and the radix R_c = 2·K·m_c + 1, so the
// sum over K sites of its digit lies in the balanced digit range [−(R_c−1)/2, (R_c−1)/2]. A slot
// holds counters c_0, c_1, … with value Σ digit_i · Π_{j<i} R_j; as long as Π R_i ≤ t the summed
// slot, read in the centred range (−t/2, t/2), has exactly one balanced mixed-radix expansion,
// so no sum can wrap around t (balanced signed-digit representation: Knuth, TAOCP vol. 2,
// §4.1). An entry whose own radix would exceed t is split into L limbs in the balanced odd
// base B = 2·⌊(t−1)/(2K)⌋ + 1: v = Σ d_i·B^i with |d_i| ≤ (B−1)/2 below the top limb; each limb
// is summed as its own counter and recombined exactly with BigInt after decryption.
// Counters are placed greedily in vector order; the layout depends only on the bounds, K and t.
import { HeError } from './errors.ts';

/** A run of `count` consecutive entries sharing the per-site bound `maxAbs`. */
export type BoundRun = readonly [count: number, maxAbs: number];

export interface PackingSummary {
  /** Slots holding at least one counter. */
  slotsUsed: number;
  /** Counters, limbs included. */
  counters: number;
  /** Most counters sharing one slot. */
  maxCountersPerSlot: number;
  /** Largest product of radices in one slot (≤ t). */
  maxSlotProduct: bigint;
  /** Entries split into limbs. */
  splitEntries: number;
}

/** Run-length form of per-entry bounds. */
export function boundRuns(bounds: ArrayLike<number>): BoundRun[] {
  const runs: [number, number][] = [];
  for (let i = 0; i < bounds.length; i++) {
    const m = bounds[i] as number;
    const last = runs[runs.length - 1];
    if (last && last[1] === m) last[0] += 1;
    else runs.push([1, m]);
  }
  return runs;
}

export function counterRadix(maxAbs: number | bigint, sites: number): bigint {
  return 2n * BigInt(sites) * BigInt(maxAbs) + 1n;
}

/** The balanced odd base for limbs, or 0n when t cannot hold even a ±1 limb summed over K sites. */
export function limbBase(plainModulus: bigint, sites: number): bigint {
  const half = (plainModulus - 1n) / (2n * BigInt(sites));
  return half >= 1n ? 2n * half + 1n : 0n;
}

/** Per-site bounds of the counters one entry becomes: itself, or its limbs low to high. */
export function entryCounterBounds(maxAbs: number, sites: number, plainModulus: bigint, base: bigint): bigint[] | undefined {
  const m = BigInt(maxAbs);
  if (counterRadix(m, sites) <= plainModulus) return [m];
  if (base < 3n) return undefined;
  const half = (base - 1n) / 2n;
  let power = base; // B^(L−1)
  for (let limbs = 2; limbs <= 64; limbs++, power *= base) {
    const top = (m + (power - 1n) / 2n) / power;
    if (counterRadix(top, sites) <= plainModulus) return [...Array<bigint>(limbs - 1).fill(half), top];
  }
  return undefined;
}

/** Greedy placement of counters into slots, in order. */
class SlotFiller {
  readonly plainModulus: bigint;
  slots = 0;
  counters = 0;
  maxCountersPerSlot = 0;
  maxSlotProduct = 1n;
  open = false;
  product = 1n;
  inSlot = 0;

  constructor(plainModulus: bigint) {
    this.plainModulus = plainModulus;
  }

  /** Places one counter; returns its place value in the current slot (slot index = slots − 1). */
  add(radix: bigint): bigint {
    if (!this.open || this.product * radix > this.plainModulus) this.openSlot();
    const place = this.product;
    this.product *= radix;
    this.inSlot += 1;
    this.counters += 1;
    this.track();
    return place;
  }

  /** Same effect as n calls of add(radix), in O(log t). */
  addRun(radix: bigint, n: number): void {
    let left = n;
    if (left === 0) return;
    if (radix === 1n) {
      if (!this.open) this.openSlot();
      this.inSlot += left;
      this.counters += left;
      this.track();
      return;
    }
    while (left > 0 && this.open && this.product * radix <= this.plainModulus) {
      this.product *= radix;
      this.inSlot += 1;
      this.counters += 1;
      left -= 1;
    }
    this.track();
    if (left === 0) return;
    let perSlot = 1;
    let full = radix;
    while (full * radix <= this.plainModulus) {
      full *= radix;
      perSlot += 1;
    }
    const fullSlots = Math.floor(left / perSlot);
    const rest = left % perSlot;
    if (fullSlots > 0) {
      this.slots += fullSlots;
      this.open = true;
      this.product = full;
      this.inSlot = perSlot;
      this.counters += fullSlots * perSlot;
      this.track();
    }
    if (rest > 0) {
      this.openSlot();
      this.product = radix ** BigInt(rest);
      this.inSlot = rest;
      this.counters += rest;
      this.track();
    }
  }

  state(): string {
    return `${this.open}:${this.product}:${this.inSlot}`;
  }

  private openSlot(): void {
    this.slots += 1;
    this.open = true;
    this.product = 1n;
    this.inSlot = 0;
  }

  private track(): void {
    if (this.inSlot > this.maxCountersPerSlot) this.maxCountersPerSlot = this.inSlot;
    if (this.product > this.maxSlotProduct) this.maxSlotProduct = this.product;
  }
}

/** Slot usage of a layout, in time proportional to the number of runs (not entries); undefined if it cannot fit. */
export function summarizePacking(runs: readonly BoundRun[], sites: number, plainModulus: bigint): PackingSummary | undefined {
  const base = limbBase(plainModulus, sites);
  const filler = new SlotFiller(plainModulus);
  let splitEntries = 0;
  for (const [count, maxAbs] of runs) {
    const bounds = entryCounterBounds(maxAbs, sites, plainModulus, base);
    if (!bounds) return undefined;
    if (bounds.length === 1) {
      filler.addRun(counterRadix(bounds[0] as bigint, sites), count);
      continue;
    }
    splitEntries += count;
    const radices = bounds.map((b) => counterRadix(b, sites));
    for (let i = 0; i < count; i++) {
      const before = filler.state();
      const slotsBefore = filler.slots;
      for (const r of radices) filler.add(r);
      if (filler.state() === before) {
        // A fixed point: every remaining entry of the run repeats this entry's effect.
        const remaining = count - i - 1;
        filler.slots += remaining * (filler.slots - slotsBefore);
        filler.counters += remaining * radices.length;
        break;
      }
    }
  }
  return {
    slotsUsed: filler.slots,
    counters: filler.counters,
    maxCountersPerSlot: filler.maxCountersPerSlot,
    maxSlotProduct: filler.maxSlotProduct,
    splitEntries,
  };
}

/** Where every counter of every entry sits; built once per context. */
export interface PackingLayout {
  readonly plainModulus: bigint;
  readonly sites: number;
  readonly vectorLength: number;
  readonly slotsUsed: number;
  readonly limbBase: bigint;
  /** Per-site bound of each entry. */
  readonly entryBound: Float64Array;
  /** Counters of entry e are [entryFirstCounter[e], entryFirstCounter[e + 1]). */
  readonly entryFirstCounter: Int32Array;
  readonly counterSlot: Int32Array;
  readonly counterPlace: BigUint64Array;
  readonly counterRadix: BigUint64Array;
  readonly counterBound: Float64Array;
  /** t < 2^53: every slot value and partial sum is exact in float64. */
  readonly exactInFloat64: boolean;
}

export function buildPackingLayout(runs: readonly BoundRun[], sites: number, plainModulus: bigint): PackingLayout {
  const summary = summarizePacking(runs, sites, plainModulus);
  if (!summary) throw new HeError('FEDVAL_ERR_HE_INVALID_PLAN', 'the plain modulus cannot hold the entry bounds');
  const vectorLength = runs.reduce((n, [count]) => n + count, 0);
  const base = limbBase(plainModulus, sites);
  const entryBound = new Float64Array(vectorLength);
  const entryFirstCounter = new Int32Array(vectorLength + 1);
  const counterSlot = new Int32Array(summary.counters);
  const counterPlace = new BigUint64Array(summary.counters);
  const counterRadixes = new BigUint64Array(summary.counters);
  const counterBound = new Float64Array(summary.counters);
  const filler = new SlotFiller(plainModulus);
  let entry = 0;
  let counter = 0;
  for (const [count, maxAbs] of runs) {
    const bounds = entryCounterBounds(maxAbs, sites, plainModulus, base) as bigint[];
    const radices = bounds.map((b) => counterRadix(b, sites));
    for (let i = 0; i < count; i++, entry++) {
      entryBound[entry] = maxAbs;
      entryFirstCounter[entry] = counter;
      for (let j = 0; j < radices.length; j++, counter++) {
        const radix = radices[j] as bigint;
        counterPlace[counter] = filler.add(radix);
        counterSlot[counter] = filler.slots - 1;
        counterRadixes[counter] = radix;
        counterBound[counter] = Number(bounds[j]);
      }
    }
  }
  entryFirstCounter[vectorLength] = counter;
  return {
    plainModulus,
    sites,
    vectorLength,
    slotsUsed: filler.slots,
    limbBase: base,
    entryBound,
    entryFirstCounter,
    counterSlot,
    counterPlace,
    counterRadix: counterRadixes,
    counterBound,
    exactInFloat64: plainModulus < 2n ** 53n,
  };
}

/**
 * One site's slot values, centred in (−t/2, t/2), for `slotCount` slots (a multiple of the
 * degree). Checks every entry is a safe integer within its bound; errors name the entry, never its value.
 */
export function packVector(layout: PackingLayout, values: ArrayLike<number>, slotCount: number): BigInt64Array {
  if (values.length !== layout.vectorLength) {
    throw new HeError('FEDVAL_ERR_HE_VECTOR_LENGTH', `${values.length} entries, the plan has ${layout.vectorLength}`);
  }
  const { entryFirstCounter: first, counterSlot, counterPlace } = layout;
  const base = layout.limbBase;
  if (layout.exactInFloat64) {
    const slots = new Float64Array(slotCount);
    const place = Float64Array.from(counterPlace, Number);
    for (let e = 0; e < layout.vectorLength; e++) {
      const v = checkedEntry(layout, values, e);
      const c = first[e] as number;
      if ((first[e + 1] as number) - c === 1) {
        slots[counterSlot[c] as number]! += v * (place[c] as number);
      } else {
        splitIntoLimbs(BigInt(v), base, (first[e + 1] as number) - c, (i, digit) => {
          slots[counterSlot[c + i] as number]! += Number(digit) * (place[c + i] as number);
        });
      }
    }
    return BigInt64Array.from(slots, (x) => BigInt(x));
  }
  const slots = new BigInt64Array(slotCount);
  for (let e = 0; e < layout.vectorLength; e++) {
    const v = checkedEntry(layout, values, e);
    const c = first[e] as number;
    splitIntoLimbs(BigInt(v), base, (first[e + 1] as number) - c, (i, digit) => {
      const s = counterSlot[c + i] as number;
      slots[s] = (slots[s] as bigint) + digit * BigInt.asIntN(64, counterPlace[c + i] as bigint);
    });
  }
  return slots;
}

/**
 * Exact entry sums from the decrypted, centred slot values of an aggregate of `contributions`
 * vectors. Rejects any slot whose digits leave their range, or any unused slot that is not
 * zero: signs of a wrong key, a damaged aggregate or too many contributions.
 */
export function unpackSums(layout: PackingLayout, slots: BigInt64Array, contributions: number): Float64Array {
  const { entryFirstCounter: first, counterSlot, counterRadix: radix, counterBound } = layout;
  const out = new Float64Array(layout.vectorLength);
  const remainders = BigInt64Array.from(slots);
  const k = BigInt(contributions);
  const digit = (c: number): bigint => {
    const s = counterSlot[c] as number;
    const r = radix[c] as bigint;
    const value = remainders[s] as bigint;
    let d = value % r;
    if (d < 0n) d += r;
    if (d > (r - 1n) / 2n) d -= r;
    remainders[s] = (value - d) / r;
    const limit = k * BigInt(counterBound[c] as number);
    if (d > limit || d < -limit) throw new HeError('FEDVAL_ERR_HE_DECRYPTION_FAILED', `counter ${c} is outside its range`);
    return d;
  };
  for (let e = 0; e < layout.vectorLength; e++) {
    const c = first[e] as number;
    const limbs = (first[e + 1] as number) - c;
    if (limbs === 1) {
      out[e] = Number(digit(c));
      continue;
    }
    let sum = 0n;
    let power = 1n;
    for (let i = 0; i < limbs; i++, power *= layout.limbBase) sum += digit(c + i) * power;
    out[e] = Number(sum);
  }
  for (let s = 0; s < remainders.length; s++) {
    if (remainders[s] !== 0n) throw new HeError('FEDVAL_ERR_HE_DECRYPTION_FAILED', `slot ${s} holds more than its counters`);
  }
  return out;
}

function checkedEntry(layout: PackingLayout, values: ArrayLike<number>, e: number): number {
  const v = values[e] as number;
  if (!Number.isSafeInteger(v) || Math.abs(v) > (layout.entryBound[e] as number)) {
    throw new HeError('FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE', `entry ${e} is not an integer within ±${layout.entryBound[e]}`);
  }
  return v === 0 ? 0 : v; // no −0
}

/** Balanced base-B digits of v, low to high; the last digit takes what is left. */
function splitIntoLimbs(v: bigint, base: bigint, limbs: number, visit: (index: number, digit: bigint) => void): void {
  if (limbs === 1) {
    visit(0, v);
    return;
  }
  const half = (base - 1n) / 2n;
  let rest = v;
  for (let i = 0; i < limbs - 1; i++) {
    let d = rest % base;
    if (d > half) d -= base;
    else if (d < -half) d += base;
    visit(i, d);
    rest = (rest - d) / base;
  }
  visit(limbs - 1, rest);
}
