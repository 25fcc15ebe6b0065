// secure-aggregation-rounds.ts — the `secagg_rounds` table of agent.sqlite: per securely aggregated round, whether this
// site only sent its masked input, signed a survivor set, or revealed shares (and which), or was refunded.
import type { DatabaseSync } from 'node:sqlite';
import type { UnmaskingMemory } from '@fedval/secagg';
import { z } from 'zod';

export type SecaggRoundState = 'masked' | 'signed' | 'revealed' | 'refunded';

export interface SecaggRoundRecord {
  roundId: string;
  studyId: string;
  /** The round's deadline, epoch ms. */
  deadline: number;
  state: SecaggRoundState;
  /** The survivor set this site signed, or null. */
  survivors: string[] | null;
  /** What this site revealed, per owner site (@fedval/secagg decideUnmasking's memory). */
  memory: UnmaskingMemory;
}

const rowSchema = z.object({
  round_id: z.string(),
  study_id: z.string(),
  deadline: z.number().int(),
  state: z.enum(['masked', 'signed', 'revealed', 'refunded']),
  survivors_json: z.string().nullable(),
  revealed_json: z.string(),
});
const survivorsSchema = z.array(z.string());
const revealedSchema = z.record(z.string(), z.enum(['self-mask-seed', 'agreement-key']));

/** Per-round secure-aggregation memory; every write is made before the message it enables leaves the site. */
export class SecaggRounds {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The masked input was sent (inside the transaction that charges the ledger and keeps the contribution). */
  recordMasked(roundId: string, studyId: string, deadline: number, now = Date.now()): void {
    this.#db
      .prepare("INSERT OR IGNORE INTO secagg_rounds (round_id, study_id, deadline, state, updated_at) VALUES (?, ?, ?, 'masked', ?)")
      .run(roundId, studyId, deadline, now);
  }

  find(roundId: string): SecaggRoundRecord | undefined {
    const found = this.#db.prepare('SELECT round_id, study_id, deadline, state, survivors_json, revealed_json FROM secagg_rounds WHERE round_id = ?').get(roundId);
    if (found === undefined) return undefined;
    const row = rowSchema.parse(found);
    return {
      roundId: row.round_id,
      studyId: row.study_id,
      deadline: row.deadline,
      state: row.state,
      survivors: row.survivors_json === null ? null : survivorsSchema.parse(JSON.parse(row.survivors_json)),
      memory: { revealed: revealedSchema.parse(JSON.parse(row.revealed_json)) },
    };
  }

  /** Rounds whose masked input left and whose survivor set was never signed: refundable once they fail or expire. */
  unsignedBefore(now: number): SecaggRoundRecord[] {
    const ids = z.array(z.object({ round_id: z.string() })).parse(this.#db.prepare("SELECT round_id FROM secagg_rounds WHERE state = 'masked' AND deadline <= ?").all(now));
    return ids.map((row) => this.find(row.round_id) as SecaggRoundRecord);
  }

  markSigned(roundId: string, survivors: readonly string[], now = Date.now()): void {
    this.#db.prepare("UPDATE secagg_rounds SET state = 'signed', survivors_json = ?, updated_at = ? WHERE round_id = ? AND state IN ('masked', 'signed')").run(JSON.stringify(survivors), now, roundId);
  }

  markRevealed(roundId: string, memory: UnmaskingMemory, now = Date.now()): void {
    this.#db.prepare("UPDATE secagg_rounds SET state = 'revealed', revealed_json = ?, updated_at = ? WHERE round_id = ?").run(JSON.stringify(memory.revealed), now, roundId);
  }

  /** Marks a round refunded; true only when it was `masked` (never signed), which is the one refundable state. */
  markRefunded(roundId: string, now = Date.now()): boolean {
    return this.#db.prepare("UPDATE secagg_rounds SET state = 'refunded', updated_at = ? WHERE round_id = ? AND state = 'masked'").run(now, roundId).changes === 1;
  }
}
