// sent-contributions.ts — the contributions this site sent for rounds still open, kept in agent.sqlite so a repeated task
// (a lost connection, an agent restart) is answered with the same bytes: the same noise, no second release.
import type { DatabaseSync } from 'node:sqlite';
import { createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { Contribution } from '@fedval/protocol';
import type { ResultAttestation } from '@fedval/trust';
import { z } from 'zod';

const sentRowSchema = z.object({
  study_id: z.string(),
  deadline: z.number(),
  message: z.instanceof(Uint8Array),
  public_key_sha256: z.string().nullable(),
  plan_sha256: z.string().nullable(),
});

/** What is needed to send a contribution again, byte for byte. */
export interface SentContribution {
  roundId: string;
  studyId: string;
  /** The round's deadline, epoch ms: kept until then, removed after. */
  deadline: number;
  contribution: Contribution;
  contributionSha256: string;
  attestation: ResultAttestation;
  /** BFV: SHA-256 (hex) of the public key and of the canonical plan it was encrypted under, signed again on a resend. */
  keyHashes?: { publicKeySha256: string; planSha256: string } | undefined;
}

/** The `sent_contributions` table of agent.sqlite. */
export class SentContributions {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Keeps a sent contribution (the result message as the protocol encodes it, unsigned) and drops expired ones. */
  keep(sent: SentContribution, now = Date.now()): void {
    const { roundId, contribution, contributionSha256, attestation } = sent;
    const encoded = encodeMessage(createMessage('task.result', { roundId, contribution, contributionSha256, attestation }));
    this.#db.prepare('DELETE FROM sent_contributions WHERE deadline <= ?').run(now);
    this.#db
      .prepare('INSERT OR REPLACE INTO sent_contributions (round_id, study_id, deadline, sha256, message, created_at, public_key_sha256, plan_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(roundId, sent.studyId, sent.deadline, contributionSha256, encoded, now, sent.keyHashes?.publicKeySha256 ?? null, sent.keyHashes?.planSha256 ?? null);
  }

  /** The contribution sent for a round whose deadline has not passed, if any. */
  find(roundId: string, now = Date.now()): SentContribution | undefined {
    const found = this.#db.prepare('SELECT study_id, deadline, message, public_key_sha256, plan_sha256 FROM sent_contributions WHERE round_id = ? AND deadline > ?').get(roundId, now);
    if (found === undefined) return undefined;
    const row = sentRowSchema.parse(found);
    const message = decodeMessage(row.message);
    // Kept messages always carry the attestation they were signed with.
    if (message.type !== 'task.result' || message.content.attestation === undefined) return undefined;
    const { contribution, contributionSha256, attestation } = message.content;
    const keyHashes = row.public_key_sha256 !== null && row.plan_sha256 !== null ? { publicKeySha256: row.public_key_sha256, planSha256: row.plan_sha256 } : undefined;
    return { roundId, studyId: row.study_id, deadline: row.deadline, contribution, contributionSha256, attestation, keyHashes };
  }
}
