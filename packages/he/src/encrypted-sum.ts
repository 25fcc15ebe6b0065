// encrypted-sum.ts — the coordinator's running homomorphic sum: constant memory, every contribution checked before it counts.
//
// BFV addition is coefficient-wise addition of the ciphertext polynomials modulo q' (Fan &
// Vercauteren, ePrint 2012/144, §4). The sum is kept as exact integer sums of the wire fields in
// 24-bit limbs (float64, exact up to 2^29 additions) and reduced modulo q' (c0, scaled by 2^d) and
// modulo each q_i (c1) only when the aggregate is written, so adding needs no SEAL call.
import { BitWriter, fromLimbs, limbCount } from './bit-io.ts';
import type { HeContext } from './context.ts';
import { HeError } from './errors.ts';
import { fieldGroups, HEADER_BYTES, readFields, readHeader, writeChecksum, writeHeader } from './wire-format.ts';
import type { CiphertextHeader, CiphertextKind, EncryptedVector } from './wire-format.ts';

export class EncryptedSum {
  private readonly ctx: HeContext;
  /** Per ciphertext: c0 sums then each prime's c1 sums, `stride[g]` limbs per coefficient. */
  private readonly sums: Float64Array[];
  private readonly offsets: number[];
  private readonly strides: number[];
  private contributions = 0;

  constructor(ctx: HeContext) {
    this.ctx = ctx;
    const g = ctx.geometry;
    this.strides = [limbCount(Math.max(g.c0BitsAggregate, g.c0BitsContribution)), ...g.primeBits.map(limbCount)];
    this.offsets = [];
    let size = 0;
    for (const stride of this.strides) {
      this.offsets.push(size);
      size += stride * g.degree;
    }
    this.sums = Array.from({ length: ctx.plan.ciphertextCount }, () => new Float64Array(size));
  }

  /** Contributions summed so far (an added aggregate counts for all it holds). */
  get count(): number {
    return this.contributions;
  }

  /**
   * Adds one site's contribution. Checks count, sizes, headers, plan fingerprint, checksums and
   * every coefficient's range first; on any error nothing is added.
   */
  add(contribution: EncryptedVector): void {
    this.addChecked(contribution, 'contribution');
  }

  /** Adds an aggregate written by toEncryptedVector (to resume a stored sum, or to merge partial sums); same checks as add. */
  addAggregate(aggregate: EncryptedVector): void {
    this.addChecked(aggregate, 'aggregate');
  }

  private addChecked(contribution: EncryptedVector, kind: CiphertextKind): void {
    const ctx = this.ctx;
    void ctx.seal; // throws once the context is disposed
    const list = contribution?.ciphertexts;
    if (!Array.isArray(list) || list.length !== ctx.plan.ciphertextCount) {
      throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_COUNT', `got ${Array.isArray(list) ? list.length : 'no'} ciphertexts, the plan has ${ctx.plan.ciphertextCount}`);
    }
    const headers: CiphertextHeader[] = list.map((bytes, i) => readHeader(bytes, ctx.geometry, ctx.fingerprintBytes, i, ctx.plan.maxSites));
    const first = headers[0] as CiphertextHeader;
    if (headers.some((h) => h.kind !== kind)) throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED', `expected ${kind} ciphertexts`);
    if (headers.some((h) => h.contributions !== first.contributions)) {
      throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED', 'ciphertexts of one vector disagree on their contribution count');
    }
    if (this.contributions + first.contributions > ctx.plan.maxSites) {
      throw new HeError('FEDVAL_ERR_HE_TOO_MANY_CONTRIBUTIONS', `${this.contributions} + ${first.contributions} > ${ctx.plan.maxSites}`);
    }
    list.forEach((bytes, i) => readFields(bytes, ctx.geometry, kind, i));
    list.forEach((bytes, i) => {
      const sum = this.sums[i] as Float64Array;
      readFields(bytes, ctx.geometry, kind, i, (group, coefficient, limbs, count) => {
        const at = (this.offsets[group] as number) + coefficient * (this.strides[group] as number);
        for (let l = 0; l < count; l++) sum[at + l]! += limbs[l] as number;
      });
    });
    this.contributions += first.contributions;
  }

  /** The aggregate so far, reduced, in the wire format; the sum stays usable. */
  toEncryptedVector(): EncryptedVector {
    const ctx = this.ctx;
    if (this.contributions === 0) throw new HeError('FEDVAL_ERR_HE_CONTRIBUTION_COUNT', 'no contribution has been added');
    const g = ctx.geometry;
    const groups = fieldGroups(g, 'aggregate');
    const moduli = [g.modulus, ...g.primes];
    const ciphertexts = this.sums.map((sum, index) => {
      const bytes = new Uint8Array(g.aggregateBytes);
      writeHeader(bytes, { kind: 'aggregate', index, contributions: this.contributions }, ctx.fingerprintBytes);
      const writer = new BitWriter(bytes, HEADER_BYTES);
      groups.forEach(({ bits }, group) => {
        const stride = this.strides[group] as number;
        const modulus = moduli[group] as bigint;
        for (let j = 0, at = this.offsets[group] as number; j < g.degree; j++, at += stride) {
          writer.writeBig(fromLimbs(sum, at, stride) % modulus, bits);
        }
      });
      writeChecksum(bytes);
      return bytes;
    });
    return { ciphertexts };
  }
}
