/**
 * The contract of `pg-agent verify` (run by the RestoreDrill CronJob, or by a person): restore the newest backup
 * into a scratch volume, replay WAL, run the checks, report.
 */
export const VERIFY_ENV = {
  /** JSON {@link VerifyChecksSpec}. */
  checks: 'PGC_VERIFY_CHECKS',
  /** An empty directory on a volume big enough for the restored data (deleted after the run). */
  scratchDir: 'PGC_VERIFY_SCRATCH',
  /** {@link VerifyReplay}. */
  replay: 'PGC_VERIFY_REPLAY',
} as const;

/**
 * The file `pg-agent verify` writes into a scratch directory it made (or found empty). Verify uses a non-empty
 * directory only when it holds this marker, and deletes only its own `pgdata` and `tablespaces` inside it.
 */
export const VERIFY_SCRATCH_MARKER = '.pg-agent-verify-scratch';

/**
 * How far the scratch copy replays: `latest` = every archived WAL segment after the backup (also proves the WAL
 * chain has no gap); `backup-end` = only to the backup's consistency point.
 */
export type VerifyReplay = 'latest' | 'backup-end';

export interface VerifyTableCheck {
  readonly database: string;
  /** `table` or `schema.table`. */
  readonly table: string;
  /** The restored table must have at least this many rows. */
  readonly minRows: number;
}

export interface VerifyChecksSpec {
  /** Run pg_amcheck over every database (heap and B-tree indexes). */
  readonly amcheck: boolean;
  readonly tables: VerifyTableCheck[];
}
