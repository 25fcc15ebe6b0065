// site-state.ts — everything the agent keeps in its data directory, opened together: database, ledger, models, commitments, audit trail.
import type { DatabaseSync } from 'node:sqlite';
import { openAgentDatabase } from './agent-database.ts';
import { SiteAuditTrail } from './audit-trail.ts';
import { DatasetCommitments } from './dataset-commitments.ts';
import { KeyStatementVersions } from './key-statement-versions.ts';
import { ModelRegistry } from './model-registry.ts';
import { PrivacyLedger } from './privacy-ledger.ts';
import { SecaggRounds } from './secure-aggregation-rounds.ts';
import { SecaggSessions } from './secure-aggregation-sessions.ts';
import { SentContributions } from './sent-contributions.ts';

export interface SiteState {
  readonly db: DatabaseSync;
  readonly ledger: PrivacyLedger;
  readonly models: ModelRegistry;
  readonly commitments: DatasetCommitments;
  readonly sent: SentContributions;
  readonly keyStatements: KeyStatementVersions;
  readonly secagg: SecaggRounds;
  /** Secure aggregation's per-round secrets and progress (wiped at each round's deadline). */
  readonly secaggSessions: SecaggSessions;
  readonly audit: SiteAuditTrail;
  close(): void;
}

/** Opens `<dataDir>/agent.sqlite` (migrating it) and the audit trail beside it. */
export function openSiteState(dataDir: string): SiteState {
  const db = openAgentDatabase(dataDir);
  const audit = new SiteAuditTrail(db, dataDir);
  return {
    db,
    ledger: new PrivacyLedger(db),
    models: new ModelRegistry(db),
    commitments: new DatasetCommitments(db),
    sent: new SentContributions(db),
    keyStatements: new KeyStatementVersions(db),
    secagg: new SecaggRounds(db),
    secaggSessions: new SecaggSessions(db),
    audit,
    close() {
      audit.close();
      if (db.isOpen) db.close();
    },
  };
}
