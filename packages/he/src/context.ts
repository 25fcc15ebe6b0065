// context.ts — an HE context: a validated plan, its SEAL context and encoder, its packing layout and wire geometry.
import { HeError } from './errors.ts';
import { buildPackingLayout } from './packing.ts';
import type { PackingLayout } from './packing.ts';
import { planFingerprint, planFingerprintBytes, validateBfvPlan } from './plan.ts';
import type { BfvPlan } from './plan.ts';
import { modInverse } from './primes.ts';
import { loadSealRuntime } from './seal-runtime.ts';
import type { Seal, SealRuntime } from './seal-runtime.ts';
import type { SealCiphertextShape } from './seal-serialization.ts';
import { ciphertextGeometry } from './wire-format.ts';
import type { CiphertextGeometry } from './wire-format.ts';

type SealContext = InstanceType<Seal['SEALContext']>;
type BatchEncoder = InstanceType<Seal['BatchEncoder']>;

const SECURITY_LEVEL = { 128: 'tc128', 192: 'tc192', 256: 'tc256' } as const;

/** Everything the encrypt, sum and decrypt operations need for one plan. Dispose when done. */
export class HeContext {
  readonly plan: BfvPlan;
  /** Hex fingerprint every ciphertext under this plan carries. */
  readonly fingerprint: string;
  /** @internal */ readonly fingerprintBytes: Uint8Array;
  /** @internal */ readonly runtime: SealRuntime;
  /** @internal */ readonly layout: PackingLayout;
  /** @internal */ readonly geometry: CiphertextGeometry;
  /** @internal */ readonly shape: SealCiphertextShape;
  /** @internal CRT weights: X = Σ r_i · crtWeights[i] mod q'. */
  readonly crtWeights: readonly bigint[];
  private readonly sealContext: SealContext;
  private readonly batchEncoder: BatchEncoder;
  private disposed = false;

  /** @internal Use createHeContext. */
  constructor(plan: BfvPlan, runtime: SealRuntime, sealContext: SealContext, batchEncoder: BatchEncoder, parmsId: BigUint64Array) {
    this.plan = plan;
    this.fingerprint = planFingerprint(plan);
    this.fingerprintBytes = planFingerprintBytes(plan);
    this.runtime = runtime;
    this.sealContext = sealContext;
    this.batchEncoder = batchEncoder;
    const primes = plan.coeffModulus.slice(0, -1).map(BigInt);
    this.geometry = ciphertextGeometry(plan.polyModulusDegree, primes, plan.c0DroppedBits);
    this.layout = buildPackingLayout(plan.entryBounds, plan.maxSites, BigInt(plan.plainModulus));
    this.shape = { parmsId, degree: plan.polyModulusDegree, primeCount: primes.length };
    const q = this.geometry.modulus;
    this.crtWeights = primes.map((p) => ((q / p) * modInverse((q / p) % p, p)) % q);
  }

  /** @internal The live SEAL objects; throws once disposed. */
  get seal(): { seal: Seal; context: SealContext; encoder: BatchEncoder } {
    if (this.disposed) throw new HeError('FEDVAL_ERR_HE_DISPOSED', 'the HE context');
    return { seal: this.runtime.seal, context: this.sealContext, encoder: this.batchEncoder };
  }

  /** Frees the SEAL objects; the context cannot be used afterwards. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.batchEncoder.delete();
    this.sealContext.delete();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Validates the plan, loads node-seal (once per process), builds the SEAL context and checks that
 * SEAL accepts it at the plan's security level with batching and the expected modulus chain.
 */
export async function createHeContext(plan: unknown): Promise<HeContext> {
  const valid = validateBfvPlan(plan);
  const runtime = await loadSealRuntime();
  const { seal } = runtime;
  const made: { delete(): void }[] = [];
  const keep = <T extends { delete(): void }>(x: T): T => {
    made.push(x);
    return x;
  };
  let sealContext: SealContext | undefined;
  let encoder: BatchEncoder | undefined;
  try {
    return runtime.guard('FEDVAL_ERR_HE_SEAL_CONTEXT', 'building the SEAL context', () => {
      const parms = keep(new seal.EncryptionParameters(seal.SchemeType.bfv));
      parms.setPolyModulusDegree(valid.polyModulusDegree);
      const moduli = keep(new seal.VectorModulus());
      for (const p of valid.coeffModulus) {
        const m = keep(new seal.Modulus(BigInt(p)));
        moduli.push_back(m);
      }
      parms.setCoeffModulus(moduli);
      parms.setPlainModulus(keep(new seal.Modulus(BigInt(valid.plainModulus))));
      sealContext = new seal.SEALContext(parms, true, seal.SecLevelType[SECURITY_LEVEL[valid.securityBits]]);
      if (!sealContext.parametersSet()) throw new HeError('FEDVAL_ERR_HE_SEAL_CONTEXT', sealContext.toHuman());
      const first = keep(sealContext.firstContextData());
      const qualifiers = keep(first.qualifiers());
      if (!qualifiers.usingBatching) throw new HeError('FEDVAL_ERR_HE_SEAL_CONTEXT', 'SEAL does not enable batching for this plain modulus');
      const key = keep(sealContext.keyContextData());
      if (key.chainIndex() !== first.chainIndex() + 1) {
        throw new HeError('FEDVAL_ERR_HE_SEAL_CONTEXT', 'SEAL did not put the ciphertext level one prime below the key level');
      }
      const parmsId = keep(sealContext.firstParmsId()).values() as BigUint64Array;
      encoder = new seal.BatchEncoder(sealContext);
      if (encoder.slotCount() !== valid.slots) throw new HeError('FEDVAL_ERR_HE_SEAL_CONTEXT', 'unexpected slot count');
      return new HeContext(valid, runtime, sealContext, encoder, BigUint64Array.from(parmsId));
    });
  } catch (error) {
    encoder?.delete();
    sealContext?.delete();
    throw error;
  } finally {
    for (const x of made) x.delete();
  }
}
