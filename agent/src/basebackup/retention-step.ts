/**
 * Retention after a backup: the one call site of the retention module for the backup command. A retention
 * failure does not undo the backup, which is DONE and stays: it is logged as an error and the backup command
 * still succeeds (a failed Job would be retried, taking yet another backup); the next run retries retention.
 */
import { log } from '../common/log';
import type { JobEvents } from '../k8s/job-events';
import { applyRetention } from '../retention/apply';
import { S3Bucket } from '../s3/client';
import type { RetentionSpec } from '../../../lib/contract';
import { StoreConfig } from '../store/config';

export async function applyRetentionAfterBackup(s3: S3Bucket, store: StoreConfig, retention: RetentionSpec, events?: JobEvents): Promise<void> {
  try {
    const report = await applyRetention(s3, store, retention);
    events?.retentionDeleted(
      report.backups.filter(b => b.action === 'remove').map(b => b.backupId),
      report.wal.removed,
    );
  } catch (e) {
    log.error(
      {
        err: (e as Error).message,
        fix: (e as { fix?: string }).fix ?? 'The next backup runs retention again; `pg-agent retention --dry-run` shows the plan.',
      },
      'retention failed after the backup (the backup itself is complete)',
    );
  }
}
