// seal-reference.ts — bench-only yardsticks: what SEAL's own zstd serialization costs, for common setups and for a plan's parameters.
// Not exported from the package; tests/bench/he-bench.ts imports it directly.
import type { HeContext } from './context.ts';
import { loadPublicKey } from './keys.ts';
import { loadSealRuntime } from './seal-runtime.ts';
import type { Seal } from './seal-runtime.ts';

export interface SealReferenceSize {
  setup: string;
  ciphertextBytes: number;
  valuesPerCiphertext: number;
  bytesPerValue: number;
}

/** SEAL's default BFV chain at degree 8192 and the CKKS setup (8192; 60, 40, 40 bits) federated frameworks commonly use. */
export async function sealReferenceSizes(): Promise<SealReferenceSize[]> {
  const runtime = await loadSealRuntime();
  const { seal } = runtime;
  return runtime.guard('FEDVAL_ERR_HE_SEAL_FAILURE', 'reference sizes', () => [
    measure(seal, 'SEAL BFVDefault, degree 8192, zstd', 'bfv', 8192, () => seal.CoeffModulus.BFVDefault(8192, seal.SecLevelType.tc128)),
    measure(seal, 'CKKS degree 8192, moduli 60/40/40, zstd', 'ckks', 8192, () => seal.CoeffModulus.Create(8192, Int32Array.of(60, 40, 40))),
  ]);
}

function measure(seal: Seal, setup: string, scheme: 'bfv' | 'ckks', degree: number, moduli: () => InstanceType<Seal['VectorModulus']>): SealReferenceSize {
  const made: { delete(): void }[] = [];
  const keep = <T extends { delete(): void }>(x: T): T => {
    made.push(x);
    return x;
  };
  try {
    const isCkks = scheme === 'ckks';
    const parms = keep(new seal.EncryptionParameters(isCkks ? seal.SchemeType.ckks : seal.SchemeType.bfv));
    parms.setPolyModulusDegree(degree);
    parms.setCoeffModulus(keep(moduli()));
    if (!isCkks) parms.setPlainModulus(keep(seal.PlainModulus.Batching(degree, 20)));
    const context = keep(new seal.SEALContext(parms, true, seal.SecLevelType.tc128));
    const generator = keep(new seal.KeyGenerator(context));
    const encryptor = keep(new seal.Encryptor(context, keep(generator.createPublicKey())));
    const plain = keep(new seal.Plaintext());
    let values: number;
    if (isCkks) {
      const encoder = keep(new seal.CKKSEncoder(context));
      values = encoder.slotCount();
      encoder.encode(Float64Array.from({ length: values }, (_, i) => i / 7), 2 ** 40, plain);
    } else {
      const encoder = keep(new seal.BatchEncoder(context));
      values = encoder.slotCount();
      encoder.encode(BigInt64Array.from({ length: values }, (_, i) => BigInt(i % 1000)), plain);
    }
    const cipher = keep(new seal.Ciphertext());
    encryptor.encrypt(plain, cipher);
    const bytes = (cipher.saveToArray(seal.ComprModeType.zstd) as Uint8Array).byteLength;
    return { setup, ciphertextBytes: bytes, valuesPerCiphertext: values, bytesPerValue: bytes / values };
  } finally {
    for (const x of made.reverse()) x.delete();
  }
}

/** Size SEAL's zstd serialization gives one ciphertext of this plan (after the same encryption a site does). */
export function sealZstdCiphertextBytes(ctx: HeContext, publicKey: Uint8Array): number {
  const { seal, context, encoder } = ctx.seal;
  const key = loadPublicKey(ctx, publicKey);
  const made: { delete(): void }[] = [key];
  try {
    return ctx.runtime.guard('FEDVAL_ERR_HE_SEAL_FAILURE', 'reference size', () => {
      const encryptor = new seal.Encryptor(context, key);
      made.push(encryptor);
      const plain = new seal.Plaintext();
      made.push(plain);
      encoder.encode(new BigInt64Array(ctx.plan.slots), plain);
      const cipher = new seal.Ciphertext();
      made.push(cipher);
      encryptor.encrypt(plain, cipher);
      return (cipher.saveToArray(seal.ComprModeType.zstd) as Uint8Array).byteLength;
    });
  } finally {
    for (const x of made.reverse()) x.delete();
  }
}
