// dataset-commitments.ts — per round, which exact data file the site evaluated: its fingerprint and the salt of the commitment sent.
import type { DatabaseSync } from 'node:sqlite';
import { z } from 'zod';

/** What the site keeps for an inspector; only `commitment` left the site. */
export interface DatasetCommitmentRecord {
  studyId: string;
  roundId: string;
  datasetId: string;
  /** Base name of the data file evaluated (the path stays in the configuration). */
  dataFile: string;
  /** SHA-256 (hex) of the data file's bytes as the agent read them. */
  fingerprint: string;
  /** 32 random bytes (hex) of the commitment. */
  salt: string;
  /** SHA-256(salt ‖ fingerprint), as sent in the result's attestation. */
  commitment: string;
  at: string;
}

/** The `dataset_commitments` table of agent.sqlite. */
export class DatasetCommitments {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  record(entry: Omit<DatasetCommitmentRecord, 'at'>): void {
    this.#db
      .prepare(
        'INSERT INTO dataset_commitments (study_id, round_id, dataset_id, data_file, fingerprint, salt, commitment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(entry.studyId, entry.roundId, entry.datasetId, entry.dataFile, entry.fingerprint, entry.salt, entry.commitment, Date.now());
  }

  /** Every commitment made for a round (one per attempt that got as far as sending), oldest first. */
  forRound(roundId: string): DatasetCommitmentRecord[] {
    return this.#db
      .prepare('SELECT * FROM dataset_commitments WHERE round_id = ? ORDER BY id')
      .all(roundId)
      .map((row) => commitmentRowSchema.parse(row));
  }
}

/** A row of `dataset_commitments`, parsed. */
const commitmentRowSchema = z
  .object({
    study_id: z.string(),
    round_id: z.string(),
    dataset_id: z.string(),
    data_file: z.string(),
    fingerprint: z.string(),
    salt: z.string(),
    commitment: z.string(),
    created_at: z.number().int(),
  })
  .transform(
    (row): DatasetCommitmentRecord => ({
      studyId: row.study_id,
      roundId: row.round_id,
      datasetId: row.dataset_id,
      dataFile: row.data_file,
      fingerprint: row.fingerprint,
      salt: row.salt,
      commitment: row.commitment,
      at: new Date(row.created_at).toISOString(),
    }),
  );
