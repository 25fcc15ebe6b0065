// postgres-migrations.ts — the coordinator's PostgreSQL schema as append-only migrations, counted in fedval_schema_version.

/** The table holding the schema version (one row): the number of MIGRATIONS applied. */
export const SCHEMA_VERSION_TABLE = 'fedval_schema_version';

/**
 * Each entry migrates the schema from version i to i + 1, in its own transaction. Append-only: never edit one that has
 * shipped. The tables mirror the SQLite schema (sqlite-store.ts) column for column, so the same row schemas
 * (row-schemas.ts) parse both; `seq` keeps arrival order where SQLite uses its rowid. Times are epoch milliseconds
 * (bigint), JSON documents are text (kept byte for byte: a signed statement is stored as it was signed), binary data
 * is bytea.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE models (
     seq bigint GENERATED ALWAYS AS IDENTITY,
     id text PRIMARY KEY,
     name text NOT NULL,
     version text NOT NULL,
     format text NOT NULL,
     manifest_json text NOT NULL,
     files_json text NOT NULL,
     created_at bigint NOT NULL
   );
   CREATE TABLE studies (
     seq bigint GENERATED ALWAYS AS IDENTITY,
     id text PRIMARY KEY,
     name text NOT NULL,
     model_id text REFERENCES models(id),
     score_column text,
     metric_spec_json text NOT NULL,
     sites_json text NOT NULL,
     quorum integer NOT NULL,
     deadline_seconds integer NOT NULL,
     contribution text NOT NULL,
     protection_json text NOT NULL,
     public_key bytea,
     key_statement_json text,
     created_at bigint NOT NULL,
     CHECK ((model_id IS NULL) <> (score_column IS NULL))
   );
   CREATE TABLE rounds (
     seq bigint GENERATED ALWAYS AS IDENTITY,
     id text PRIMARY KEY,
     study_id text NOT NULL REFERENCES studies(id),
     state text NOT NULL CHECK (state IN ('dispatched', 'collecting', 'aggregated', 'failed')),
     reason text,
     created_at bigint NOT NULL,
     deadline_at bigint NOT NULL,
     closed_at bigint,
     contributions integer NOT NULL DEFAULT 0,
     aggregate bytea,
     result_json text,
     encrypted_aggregate bytea,
     released_at bigint,
     secagg_json text
   );
   CREATE INDEX rounds_by_study ON rounds(study_id, created_at, seq);
   CREATE INDEX rounds_by_state ON rounds(state);
   CREATE TABLE round_sites (
     seq bigint GENERATED ALWAYS AS IDENTITY,
     round_id text NOT NULL REFERENCES rounds(id),
     site_id text NOT NULL,
     status text NOT NULL CHECK (status IN ('pending', 'dispatched', 'accepted', 'refused', 'contributed', 'invalid')),
     code text,
     contribution_bytes bigint,
     contribution_sha256 text,
     updated_at bigint NOT NULL,
     privacy_json text,
     PRIMARY KEY (round_id, site_id)
   );
   CREATE TABLE sites (
     id text PRIMARY KEY,
     last_seen bigint NOT NULL
   );
   CREATE TABLE enrollment_tokens (
     token_sha256 text PRIMARY KEY,
     site_id text NOT NULL,
     created_at bigint NOT NULL,
     expires_at bigint NOT NULL,
     used_at bigint,
     revoked_at bigint
   );
   CREATE INDEX enrollment_tokens_by_site ON enrollment_tokens(site_id);
   CREATE TABLE site_keys (
     site_id text PRIMARY KEY,
     public_key text NOT NULL,
     fingerprint text NOT NULL,
     enrolled_at bigint NOT NULL
   );
   CREATE TABLE round_contributions (
     seq bigint GENERATED ALWAYS AS IDENTITY,
     round_id text NOT NULL REFERENCES rounds(id),
     site_id text NOT NULL,
     ciphertexts bytea NOT NULL,
     record_json text,
     attestation_json text,
     public_key text,
     received_at bigint NOT NULL,
     PRIMARY KEY (round_id, site_id)
   );`,
  // The secure-aggregation steps of a round still open, in order (seq), for a restarted coordinator to replay.
  `CREATE TABLE round_secagg_events (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     round_id text NOT NULL REFERENCES rounds(id),
     event_json text NOT NULL
   );
   CREATE INDEX round_secagg_events_by_round ON round_secagg_events(round_id, seq);`,
];
