// store.ts — the coordinator's storage interface and the records it keeps; sites' ciphertexts only for the key holder to verify.
import type { ResolvedPrivacySpec } from '@fedval/dp';
import type { BfvPlan } from '@fedval/he';
import type { MetricSpec } from '@fedval/metrics';
import type { KeyAdvertisement, PrivacyAttestation, ResultAttestation, ShareReveal, SignedStudyKeyStatement, SurvivorSignature } from '@fedval/trust';

import { ROUND_SITE_STATUSES, ROUND_STATES } from '@fedval/protocol';
import type { ContributionRecord, SecaggTranscript } from '@fedval/protocol';

export { ROUND_SITE_STATUSES, ROUND_STATES };
export type RoundState = (typeof ROUND_STATES)[number];

/** Rounds in these states still accept site messages. */
export const OPEN_ROUND_STATES: readonly RoundState[] = ['dispatched', 'collecting'];

export type RoundSiteStatus = (typeof ROUND_SITE_STATUSES)[number];

export interface ModelFileRecord {
  path: string;
  sha256: string;
  bytes: number;
}

export interface ModelRecord {
  /** SHA-256 of the manifest.json bytes as uploaded. */
  id: string;
  name: string;
  version: string;
  format: string;
  /** The manifest exactly as uploaded. */
  manifestJson: string;
  /** Every bundle file except manifest.json, in manifest order. */
  files: ModelFileRecord[];
  createdAt: number;
}

export interface StudyRecord {
  id: string;
  name: string;
  modelId: string | null;
  scoreColumn: string | null;
  /** The metric spec as resolved by @fedval/metrics when the study was created. */
  metricSpec: Readonly<MetricSpec>;
  sites: string[];
  quorum: number;
  deadlineSeconds: number;
  /** 'bfv': sites send ciphertexts only a key holder can decrypt; 'plaintext' is a test seam. */
  contribution: 'plaintext' | 'bfv';
  protection: StudyProtection;
  /** The key holder's BFV public key, once registered (bfv studies). */
  publicKey: Uint8Array | null;
  /** The key holder's signed statement vouching for `publicKey` (@fedval/trust), forwarded unchanged in every bfv task. */
  keyStatement: SignedStudyKeyStatement | null;
  createdAt: number;
}

/** How a study's contributions are protected and released. JSON-serializable. */
export interface StudyProtection {
  /** Release policy: the fewest contributions an aggregate may be decrypted or released with. */
  minSites: number;
  /** Most patients one site may evaluate; bounds every counter for the encryption planner. */
  maxPatientsPerSite: number;
  /** The BFV plan (bfv studies). */
  encryption: BfvPlan | null;
  /** The resolved differential-privacy spec, or null for exact releases. */
  privacy: ResolvedPrivacySpec | null;
  /** Secure aggregation of bfv rounds (Bonawitz et al. double masking) with its threshold; null or absent: off. */
  secureAggregation?: { threshold: number } | null;
}

export interface RoundSiteRecord {
  siteId: string;
  status: RoundSiteStatus;
  /** Coded reason for `refused` and `invalid`. */
  code: string | null;
  /** Size in bytes and SHA-256 of what the site sent; the content itself is never stored. */
  contributionBytes: number | null;
  contributionSha256: string | null;
  /** What the site reports it spent of its privacy budget for this contribution (no data). */
  privacy?: PrivacyAttestation | null;
  updatedAt: number;
}

/** A released, finalized round result: metrics of the aggregate only. */
export interface RoundResult {
  metrics: unknown;
  contributions: number;
  sites: string[];
  /** What differential privacy spent and added (released by the key holder). */
  privacy?: unknown;
  /** The key holder's signed release statement (@fedval/trust), kept verbatim for reports and evidence bundles. */
  signed_release?: unknown;
}

export interface RoundRecord {
  id: string;
  studyId: string;
  state: RoundState;
  reason: string | null;
  createdAt: number;
  deadlineAt: number;
  closedAt: number | null;
  contributions: number;
  result: RoundResult | null;
  sites: RoundSiteRecord[];
}

export interface RoundClosure {
  state: 'aggregated' | 'failed';
  reason: string | null;
  closedAt: number;
  contributions: number;
  /** The summed statistics vector, stored for `aggregated` rounds. */
  aggregate: Float64Array | null;
  /** The finalized result when it can be computed at close (plaintext rounds). */
  result: RoundResult | null;
  /** The homomorphic sum of an aggregated bfv round: ciphertexts only a key holder can decrypt. */
  encryptedAggregate?: Uint8Array[] | null;
  /** The signed secure-aggregation transcript the coordinator relayed, for the key holder. */
  secureAggregation?: SecaggTranscript | null;
}

/** A one-time site enrollment token, stored as its SHA-256. */
export interface EnrollmentTokenRecord {
  tokenSha256: string;
  siteId: string;
  createdAt: number;
  expiresAt: number;
}

export interface SiteEnrollment {
  siteId: string;
  /** SHA-256 (hex) of the enrollment token presented. */
  tokenSha256: string;
  /** Raw Ed25519 public key, base64 (@fedval/trust SiteIdentity.publicKey). */
  publicKey: string;
  /** SHA-256 (hex) of the raw public key. */
  fingerprint: string;
  enrolledAt: number;
}

/** A site's contribution to a bfv round as received: its ciphertexts and signed record, kept for the key holder to verify. */
export interface StoredContribution {
  roundId: string;
  siteId: string;
  ciphertexts: Uint8Array[];
  /** The signed record's fields (snake_case, as served); null for a token site, which signs nothing. */
  record: ContributionRecord | null;
  attestation: ResultAttestation | null;
  /** The site's enrolled public key (raw Ed25519, base64) when the contribution arrived. */
  publicKey: string | null;
  receivedAt: number;
}

/**
 * One step of a securely aggregated round's transcript as it happened at the coordinator (secure-aggregation.ts), kept
 * durably until the round closes: a restarted coordinator replays them, in order, to rebuild the round in its phase.
 * `out`: the site left the round (refused, invalid, disconnected, timed out); `input`: its masked input was stored.
 */
export type SecaggEvent =
  | { kind: 'advertisement'; site: string; advertisement: KeyAdvertisement }
  | { kind: 'shares'; site: string; shares: { to: string; sealed: Uint8Array }[] }
  | { kind: 'input'; site: string }
  | { kind: 'out'; site: string }
  | { kind: 'consistency'; site: string; signed: SurvivorSignature }
  | { kind: 'reveal'; site: string; reveal: ShareReveal };

/** A window of a round's kept contributions in arrival order (see CoordinatorStore.listRoundContributions). */
export interface ContributionPage {
  offset: number;
  limit: number;
}

export type RoundSiteUpdate = Pick<RoundSiteRecord, 'status'> & Partial<Pick<RoundSiteRecord, 'code' | 'contributionBytes' | 'contributionSha256' | 'privacy'>>;

/**
 * Everything the coordinator persists. Asynchronous so that a networked database can back it;
 * callers issue writes in order and await them. Every write survives a crash of the process once its promise
 * resolves; createRound, putRoundContribution, closeRound and releaseRound also survive a crash of the machine
 * (committed and fsynced). An open round resumes from what the store holds (RoundRunner.resumeOpenRounds).
 */
export interface CoordinatorStore {
  /** Inserts a model; returns false when a model with the same id already exists. */
  putModel(model: ModelRecord): Promise<boolean>;
  getModel(id: string): Promise<ModelRecord | undefined>;
  /** Every model, oldest first. */
  listModels(): Promise<ModelRecord[]>;
  createStudy(study: StudyRecord): Promise<void>;
  getStudy(id: string): Promise<StudyRecord | undefined>;
  /** Every study, oldest first. */
  listStudies(): Promise<StudyRecord[]>;
  /** Every round of a study, oldest first. */
  listRounds(studyId: string): Promise<RoundRecord[]>;
  /** Inserts a round and its per-site rows in one transaction. */
  createRound(round: Omit<RoundRecord, 'result' | 'closedAt' | 'reason' | 'contributions'>): Promise<void>;
  getRound(id: string): Promise<RoundRecord | undefined>;
  setRoundState(id: string, state: RoundState, at: number): Promise<void>;
  updateRoundSite(roundId: string, siteId: string, update: RoundSiteUpdate, at: number): Promise<void>;
  /** Closes a round in one transaction: state, reason, aggregate and result. */
  closeRound(id: string, closure: RoundClosure): Promise<void>;
  getRoundAggregate(id: string): Promise<Float64Array | undefined>;
  getRoundEncryptedAggregate(id: string): Promise<Uint8Array[] | undefined>;
  /** The secure-aggregation transcript of a closed round, if it was securely aggregated. */
  getRoundSecureAggregation(id: string): Promise<SecaggTranscript | undefined>;
  /**
   * Keeps a site's bfv contribution (ciphertexts and signed record) for the key holder; one per site and round. Durable
   * when it resolves (committed and fsynced): a restarted round counts it again. Idempotent: the same ciphertexts again for the site and round change
   * nothing; other ciphertexts throw FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION and the first stay.
   */
  putRoundContribution(contribution: StoredContribution): Promise<void>;
  /**
   * Appends one step of a securely aggregated round's transcript; durable when it resolves (committed and fsynced), and
   * kept until closeRound, which deletes the round's steps in the same transaction.
   */
  appendSecaggEvent(roundId: string, event: SecaggEvent): Promise<void>;
  /** A round's secure-aggregation steps, in the order they were appended. */
  listSecaggEvents(roundId: string): Promise<SecaggEvent[]>;
  /**
   * The contributions kept for a round, in arrival order; with `page`, only `page.limit` of them from position
   * `page.offset` (0-based), so a caller can walk a large round without holding every ciphertext at once.
   */
  listRoundContributions(roundId: string, page?: ContributionPage): Promise<StoredContribution[]>;
  /** How many contributions are kept for a round, and how many of them carry a signed record. */
  countRoundContributions(roundId: string): Promise<{ contributions: number; signed: number }>;
  /** Stores the key holder's public key of a bfv study; false when one is already registered. */
  /** Sets the public key (and the key holder's statement) once; false when the study has a key already or does not exist. */
  setStudyPublicKey(id: string, publicKey: Uint8Array, keyStatement?: SignedStudyKeyStatement | null): Promise<boolean>;
  /** Replaces the key holder's statement of a study whose key is registered (after a roster change); false otherwise. */
  setStudyKeyStatement(id: string, keyStatement: SignedStudyKeyStatement): Promise<boolean>;
  /** Stores the released result of an aggregated round; false when it was released already. */
  releaseRound(id: string, result: RoundResult, at: number): Promise<boolean>;
  /** Every round still open (state dispatched or collecting), oldest first, with its sites: what a restart resumes. */
  listOpenRounds(): Promise<RoundRecord[]>;
  /** Marks every open round failed with the reason; returns how many there were. */
  failOpenRounds(reason: string, at: number): Promise<number>;
  recordSiteSeen(siteId: string, at: number): Promise<void>;
  /** Stores a one-time enrollment token (its SHA-256 only), revoking the site's earlier unused ones; returns how many were revoked. */
  putEnrollmentToken(token: EnrollmentTokenRecord): Promise<number>;
  /**
   * In one transaction: burns the unused, unrevoked, unexpired token issued for the site, revokes any other unused
   * token of the site, and registers (or replaces) the site's public key. False, with nothing changed, when no such
   * token exists.
   */
  enrollSite(enrollment: SiteEnrollment): Promise<boolean>;
  /** The enrolled public key (base64 raw Ed25519) of every enrolled site. */
  siteKeys(): Promise<Map<string, string>>;
  /** Last time each site was seen, for sites seen at least once. */
  siteLastSeen(): Promise<Map<string, number>>;
  close(): Promise<void>;
}
