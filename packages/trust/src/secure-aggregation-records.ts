// secure-aggregation-records.ts — what a site signs in a secure-aggregation round (Bonawitz et al., CCS 2017, §4):
// its per-round key advertisement, its view of the survivor set (consistency check) and the mask shares it reveals.
import { z } from 'zod';
import { canonicalJsonBytes } from './canonical-json.ts';
import { fromBase64Strict, toBase64 } from './encoding.ts';
import { TrustError } from './errors.ts';
import type { PrivateKeyInput, PublicKeyInput } from './identity.ts';
import { sign, verify } from './identity.ts';

/** Domain-separation strings of the three records (see AUTH_DOMAIN in signed-payloads.ts). */
export const SECAGG_DOMAINS = Object.freeze({
  advertisement: 'fedval/v1/secagg/advertise',
  survivors: 'fedval/v1/secagg/survivors',
  reveal: 'fedval/v1/secagg/reveal',
});
/** Most sites one secure-aggregation round may name (as @fedval/protocol MAX_STUDY_SITES). */
export const MAX_SECAGG_SITES = 1000;

const ID = /^[A-Za-z0-9._:-]{1,128}$/; // as @fedval/protocol ids
const must = (what: string) => ({ error: `must be ${what}` });
const idField = z.string(must('1-128 letters, digits or . _ : -')).regex(ID, must('1-128 letters, digits or . _ : -'));
const base64Of = (bytes: number, what: string) =>
  z.string(must(`${what} in base64`)).refine((value) => fromBase64Strict(value, bytes) !== undefined, must(`${bytes} bytes (${what}) in base64`));
const key32 = base64Of(32, 'a raw 32-byte public key');
const signatureField = base64Of(64, 'an Ed25519 signature');
/** Site ids sorted (code-unit order), each once: a set with one canonical spelling. */
const siteSet = z
  .array(idField)
  .max(MAX_SECAGG_SITES)
  .refine((sites) => sites.every((site, i) => i === 0 || (sites[i - 1] as string) < site), must('sorted site ids, each once'));

const roundFields = { study_id: idField, round_id: idField, site_id: idField };

/**
 * AdvertiseKeys (round 0): the site's fresh X25519 public keys of this round, `c` for share transport and `s` for mask
 * agreement, signed with its enrolled Ed25519 key, whose raw public key (`signing_key`) peers check against the roster.
 */
export const keyAdvertisementSchema = z.strictObject({
  ...roundFields,
  c_public_key: key32,
  s_public_key: key32,
  signing_key: key32,
  signature: signatureField,
});
export type KeyAdvertisement = z.output<typeof keyAdvertisementSchema>;

/** ConsistencyCheck (round 3): the survivor set U3 as this site was told it, signed. */
export const survivorSignatureSchema = z.strictObject({ ...roundFields, survivors: siteSet.min(1), signature: signatureField });
export type SurvivorSignature = z.output<typeof survivorSignatureSchema>;

/** One share a site reveals: of `owner`'s self-mask seed b (owner survived) or of its mask key s (owner dropped). */
export const revealedShareSchema = z.strictObject({
  owner: idField,
  kind: z.enum(['self_mask_seed', 'mask_key']),
  share_base64: z.string().min(1).max(512).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
});
export type RevealedShare = z.output<typeof revealedShareSchema>;

/** Unmasking (round 4): the shares a site reveals for the survivor set it verified, signed. */
export const shareRevealSchema = z.strictObject({
  ...roundFields,
  survivors: siteSet.min(1),
  shares: z.array(revealedShareSchema).max(MAX_SECAGG_SITES),
  signature: signatureField,
});
export type ShareReveal = z.output<typeof shareRevealSchema>;

type Kind = keyof typeof SECAGG_DOMAINS;
type RecordOf<K extends Kind> = K extends 'advertisement' ? KeyAdvertisement : K extends 'survivors' ? SurvivorSignature : ShareReveal;
const SCHEMAS = { advertisement: keyAdvertisementSchema, survivors: survivorSignatureSchema, reveal: shareRevealSchema } as const;

/** The bytes signed: canonical JSON (RFC 8785) of `{ domain, ...record without its signature }`. */
export function secaggRecordPayload<K extends Kind>(kind: K, record: Omit<RecordOf<K>, 'signature'>): Uint8Array {
  return canonicalJsonBytes({ domain: SECAGG_DOMAINS[kind], ...record });
}

/** Signs a record of `kind` with the site's enrolled key; the record is checked against its schema first. */
export function signSecaggRecord<K extends Kind>(kind: K, privateKey: PrivateKeyInput, fields: Omit<RecordOf<K>, 'signature'>): RecordOf<K> {
  const placeholder = toBase64(new Uint8Array(64));
  const parsed = SCHEMAS[kind].safeParse({ ...fields, signature: placeholder });
  if (!parsed.success) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PAYLOAD', `${kind}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`);
  return { ...fields, signature: toBase64(sign(privateKey, secaggRecordPayload(kind, fields))) } as RecordOf<K>;
}

/** True when `record` parses as a `kind` record and its signature verifies under `publicKey`. */
export function verifySecaggRecord<K extends Kind>(kind: K, record: unknown, publicKey: PublicKeyInput): record is RecordOf<K> {
  const parsed = SCHEMAS[kind].safeParse(record);
  if (!parsed.success) return false;
  const { signature, ...fields } = parsed.data as RecordOf<K>;
  return verify(publicKey, secaggRecordPayload(kind, fields as Omit<RecordOf<K>, 'signature'>), fromBase64Strict(signature, 64) as Uint8Array);
}

/** Bytes of a revealed share's y: a Shamir share over GF(2^521 − 1) (@fedval/secagg SHARE_Y_BYTES). */
const SHARE_Y_BYTES = 66;

/** A revealed share on the wire: x as 2 bytes big-endian, then y as 66 bytes big-endian, base64. */
export function encodeRevealedShare(x: number, y: bigint): string {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(x);
  return Buffer.concat([head, Buffer.from(y.toString(16).padStart(2 * SHARE_Y_BYTES, '0'), 'hex')]).toString('base64');
}

/** The inverse of {@link encodeRevealedShare}; FEDVAL_ERR_TRUST_INVALID_PAYLOAD for another length. */
export function decodeRevealedShare(text: string): { x: number; y: bigint } {
  const bytes = fromBase64Strict(text, 2 + SHARE_Y_BYTES);
  if (bytes === undefined) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PAYLOAD', 'a revealed share is 68 bytes in base64');
  const buffer = Buffer.from(bytes);
  return { x: buffer.readUInt16BE(0), y: BigInt(`0x${buffer.subarray(2).toString('hex')}`) };
}
