// messages.ts — the one wire contract: the envelope and the schema of every message type.
import { resolvedPrivacySpecSchema } from '@fedval/dp';
import { bfvPlanSchema } from '@fedval/he';
import { metricSpecSchema } from '@fedval/metrics';
import { auditHeadSchema, authChallengeSchema, keyAdvertisementSchema, resultAttestationSchema, shareRevealSchema, signedStudyKeyStatementSchema, survivorSignatureSchema } from '@fedval/trust';
import { z } from 'zod';
import { DEFAULT_PROTOCOL_LIMITS } from './limits.ts';

/** Version of this wire contract. A peer speaking another version is refused with FEDVAL_ERR_PROTO_VERSION. */
export const PROTOCOL_VERSION = 1 as const;

const limits = DEFAULT_PROTOCOL_LIMITS;
const id = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : - only');
const text = z.string().max(limits.maxStringLength);
const bytes = z.instanceof(Uint8Array);
const epochMs = z.number().int().nonnegative();

/** A coded error as it may cross the wire: never a stack, never data. */
export const wireErrorSchema = z.strictObject({
  code: z.string().regex(/^FEDVAL_ERR_[A-Z0-9_]+$/).max(128),
  message: text,
});

const envelopeFields = {
  v: z.literal(PROTOCOL_VERSION),
  id,
  replyTo: id.optional(),
  sentAt: epochMs,
};

/** Base64 of `size` bytes (strict: canonical padding, no whitespace). */
const base64Of = (size: number) =>
  z.string().length(4 * Math.ceil(size / 3)).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
/** Ed25519 signatures are 64 bytes (RFC 8032 §5.1.6). */
const ed25519Signature = bytes.refine((value) => value.byteLength === 64, 'expected a 64-byte Ed25519 signature');
/** Signature nonces are 32 random bytes, base64 (@fedval/trust createNonce). */
const nonce = base64Of(32);

/**
 * The first message on every connection, from the coordinator: an enrolled site answers it by signing it.
 * Its audience is the coordinator's site socket URL, as agents are configured with it.
 */
export const challengeContentSchema = authChallengeSchema;

/** A site authenticates with exactly one of a pre-shared token or a signature over the connection's challenge. */
export const helloContentSchema = z
  .strictObject({
    siteId: id,
    token: z.string().min(16).max(512).optional(),
    /** Ed25519 signature of challengeSignaturePayload(challenge, siteId, 'connect') under the site's enrolled key. */
    signature: ed25519Signature.optional(),
    agentVersion: z.string().max(64),
    capabilities: z.strictObject({
      tasks: z.array(z.enum(['binary', 'multiclass', 'regression', 'survival'])).max(8),
      contributions: z.array(z.enum(['plaintext', 'bfv'])).max(8),
    }),
  })
  .refine((hello) => (hello.token === undefined) !== (hello.signature === undefined), {
    message: 'exactly one of token or signature',
    path: ['token'],
  });

export const welcomeContentSchema = z.strictObject({
  siteId: id,
  heartbeatIntervalMs: z.number().int().positive(),
  /** The coordinator's audit trail head once it recorded this connection; the site keeps it as an anchor. */
  auditHead: auditHeadSchema.optional(),
});

const modelFileSchema = z.strictObject({ path: z.string().min(1).max(512), data: bytes });

export const scorerSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('model'),
    bundleSha256: z.string().regex(/^[0-9a-f]{64}$/),
    files: z.array(modelFileSchema).min(1).max(256),
  }),
  /** Scores already in the data: one column (binary, regression) or one per class in class order (multiclass). */
  z.strictObject({ kind: z.literal('score_column'), columns: z.array(z.string().min(1).max(256)).min(1).max(64) }),
]);

export const contributionRequestSchema = z.discriminatedUnion('kind', [
  /** Test seam only: the exact statistics vector, unencrypted. Never the default. */
  z.strictObject({ kind: z.literal('plaintext') }),
  /** The study's BFV plan (@fedval/he), checked against the security table and the noise rules on receipt. */
  z.strictObject({
    kind: z.literal('bfv'),
    plan: bfvPlanSchema,
    publicKey: bytes,
    /**
     * The key holder's signed study key statement (@fedval/trust), stored with the study and forwarded unchanged: the
     * site checks it against the key holder keys it pinned before reading any data. Optional in the schema only so that
     * its absence is refused with the agent's coded error rather than as a malformed message.
     */
    keyStatement: signedStudyKeyStatementSchema.optional(),
    /**
     * The statement by reference: its SHA-256 (@fedval/trust studyKeyStatementSha256). A site that has not verified
     * that statement asks for it once (key_statement.request) and refuses a statement whose digest is not this one. The
     * coordinator sends this instead of `keyStatement`: the roster in a statement grows with the network (~100 kB for
     * 1,000 sites), and every site would receive it with every task.
     */
    keyStatementSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  }),
]);

export const taskContentSchema = z.strictObject({
  studyId: id,
  roundId: id,
  /** The study's metric spec (@fedval/metrics), resolved on receipt. */
  metricSpec: metricSpecSchema,
  scorer: scorerSchema,
  contribution: contributionRequestSchema,
  /** Under DP: the study's resolved privacy spec (@fedval/dp); the site checks it against its statistics layout. */
  privacy: resolvedPrivacySpecSchema.optional(),
  deadline: epochMs,
  /**
   * Secure aggregation (Bonawitz et al., CCS 2017, double masking) of a bfv round: the site masks its vector with the
   * peers that advertise keys, and `threshold` of them must reveal shares for the sum to be unmasked.
   */
  secureAggregation: z.strictObject({ threshold: z.number().int().min(2).max(1000) }).optional(),
  /** The coordinator's audit trail head once it recorded dispatching this task; the site keeps it as an anchor. */
  coordinatorAuditHead: auditHeadSchema.optional(),
});

export const acceptContentSchema = z.strictObject({ roundId: id });

export const refuseContentSchema = z.strictObject({
  roundId: id,
  reason: wireErrorSchema,
});

export const progressContentSchema = z.strictObject({
  roundId: id,
  phase: z.enum(['loading_model', 'evaluating', 'protecting', 'sending']),
  /** Share of the local input read so far, 0–100. Never a row count: cohort sizes stay at the site. */
  percent: z.number().min(0).max(100),
});

export const contributionSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('plaintext'),
    vector: z.instanceof(Float64Array).refine((v) => v.length <= limits.maxVectorLength, 'vector too long'),
  }),
  z.strictObject({
    kind: z.literal('bfv'),
    ciphertexts: z.array(bytes).min(1).max(limits.maxCiphertexts),
  }),
]);

export const resultContentSchema = z.strictObject({
  roundId: id,
  contribution: contributionSchema,
  /** SHA-256 of the contribution's bytes as sent, as recorded in the site's audit log. */
  contributionSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** What the site attests with the result (@fedval/trust): privacy spent, dataset commitment, its audit head. */
  attestation: resultAttestationSchema.optional(),
  /** An enrolled site's signature over { studyId, roundId, siteId, contributionSha256, nonce, sentAt, attestationSha256 } (@fedval/trust signResult). */
  signature: z
    .strictObject({
      nonce,
      /** When the site signed and sent the result, epoch ms. */
      sentAt: epochMs,
      /** BFV: SHA-256 (hex) of the public key the site encrypted under, signed with the record. */
      publicKeySha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
      /** BFV: SHA-256 (hex) of the canonical plan (@fedval/he planSha256), signed with the record. */
      planSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
      signature: ed25519Signature,
    })
    .optional(),
});

/** Sorted site ids, each once. */
const siteSet = z
  .array(id)
  .max(1000)
  .refine((sites) => sites.every((site, i) => i === 0 || (sites[i - 1] as string) < site), 'sorted site ids, each once');
/** One AES-GCM-sealed pair of Shamir shares (@fedval/secagg), opaque to the coordinator. */
const sealedShare = bytes.refine((value) => value.byteLength <= 4096, 'sealed share too large');

/** AdvertiseKeys, site → coordinator: the site's signed per-round X25519 keys. */
export const secaggAdvertiseContentSchema = z.strictObject({ roundId: id, advertisement: keyAdvertisementSchema });
/** AdvertiseKeys, coordinator → every advertising site: all advertisements received (each checked by the sites). */
export const secaggKeysContentSchema = z.strictObject({ roundId: id, advertisements: z.array(keyAdvertisementSchema).max(1000) });
/** ShareKeys, site → coordinator: one sealed share pair per advertised site (itself included). */
export const secaggSharesContentSchema = z.strictObject({ roundId: id, shares: z.array(z.strictObject({ to: id, sealed: sealedShare })).max(1000) });
/** ShareKeys, coordinator → site: the sealed share pairs addressed to it. */
export const secaggInboxContentSchema = z.strictObject({ roundId: id, shares: z.array(z.strictObject({ from: id, sealed: sealedShare })).max(1000) });
/** ConsistencyCheck, coordinator → surviving site: the survivor set U3 (sites whose masked input arrived). */
export const secaggSurvivorsContentSchema = z.strictObject({ roundId: id, survivors: siteSet.min(1) });
/** ConsistencyCheck, site → coordinator: the site's signature on U3. */
export const secaggConsistencyContentSchema = z.strictObject({ roundId: id, signed: survivorSignatureSchema });
/** Unmasking, coordinator → surviving site: U3 with the signature of every site of U3 on it. */
export const secaggUnmaskContentSchema = z.strictObject({ roundId: id, survivors: siteSet.min(1), signatures: z.array(survivorSignatureSchema).max(1000) });
/** Unmasking, site → coordinator: the signed shares the site reveals. */
export const secaggRevealContentSchema = z.strictObject({ roundId: id, reveal: shareRevealSchema });

/** Site → coordinator: the key holder's statement a task of `roundId` names by `sha256`, which this site has not verified. */
export const keyStatementRequestContentSchema = z.strictObject({ roundId: id, sha256: z.string().regex(/^[0-9a-f]{64}$/) });
/** Coordinator → site: the study's signed key statement (@fedval/trust), forwarded unchanged; the site verifies it. */
export const keyStatementContentSchema = z.strictObject({ roundId: id, keyStatement: signedStudyKeyStatementSchema });

export const cancelContentSchema = z.strictObject({ roundId: id, reason: wireErrorSchema });

export const heartbeatContentSchema = z.strictObject({});

function message<T extends string, C extends z.ZodType>(type: T, content: C) {
  return z.strictObject({ ...envelopeFields, type: z.literal(type), content });
}

/** Every message either side may send. Exactly one of content or error, never both. */
export const messageSchema = z.discriminatedUnion('type', [
  message('challenge', challengeContentSchema),
  message('hello', helloContentSchema),
  message('welcome', welcomeContentSchema),
  message('task', taskContentSchema),
  message('task.accept', acceptContentSchema),
  message('task.refuse', refuseContentSchema),
  message('task.progress', progressContentSchema),
  message('task.result', resultContentSchema),
  message('task.cancel', cancelContentSchema),
  message('key_statement.request', keyStatementRequestContentSchema),
  message('key_statement', keyStatementContentSchema),
  message('secagg.advertise', secaggAdvertiseContentSchema),
  message('secagg.keys', secaggKeysContentSchema),
  message('secagg.shares', secaggSharesContentSchema),
  message('secagg.inbox', secaggInboxContentSchema),
  message('secagg.survivors', secaggSurvivorsContentSchema),
  message('secagg.consistency', secaggConsistencyContentSchema),
  message('secagg.unmask', secaggUnmaskContentSchema),
  message('secagg.reveal', secaggRevealContentSchema),
  message('heartbeat', heartbeatContentSchema),
  z.strictObject({ ...envelopeFields, type: z.literal('error'), error: wireErrorSchema }),
]);

export type Message = z.output<typeof messageSchema>;
export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;
export type ContentOf<T extends Exclude<MessageType, 'error'>> = MessageOf<T> extends { content: infer C } ? C : never;
export type WireError = z.output<typeof wireErrorSchema>;
export type Scorer = z.output<typeof scorerSchema>;
export type Contribution = z.output<typeof contributionSchema>;
export type ContributionRequest = z.output<typeof contributionRequestSchema>;
export type TaskContent = z.output<typeof taskContentSchema>;
export type ChallengeContent = z.output<typeof challengeContentSchema>;
export type ResultSignature = NonNullable<z.output<typeof resultContentSchema>['signature']>;

export const MESSAGE_TYPES: readonly MessageType[] = Object.freeze(
  messageSchema.options.map((option) => option.shape.type.value),
);
