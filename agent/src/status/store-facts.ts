/**
 * What `pg-agent status` reads from the backup store (read-only): the base backups (last complete, last failed,
 * one in progress, how many retention kept and the oldest) and the recoverable range, from the oldest complete
 * backup's end along the archive's continuous WAL to its last segment.
 */
import type { RetentionSpec } from '../../../lib/contract';
import type { StatusReport } from '../../../lib/status/report';
import { backupContinuity, readArchiveContents } from '../catalog/archive-contents';
import { BackupInfo } from '../catalog/backup-info';
import { listRestorableBackups } from '../incremental/catalog';
import { createS3Client } from '../s3/client';
import { StoreConfig } from '../store/config';

type Backups = Exclude<StatusReport['backups'], { unavailable: string }>;
type Recoverable = Exclude<StatusReport['recoverable'], { unavailable: string }>;

export function summarizeBackups(backups: BackupInfo[], retention?: RetentionSpec): Omit<Backups, 'schedule' | 'nextTime' | 'suspended'> {
  const done = backups.filter(b => b.status === 'DONE' && b.endTime).sort((a, b) => a.endTime!.getTime() - b.endTime!.getTime());
  const failed = backups.filter(b => b.status === 'FAILED');
  const open = backups.filter(b => b.status !== 'DONE' && b.status !== 'FAILED');
  const last = done.at(-1);
  const lastFailed = failed.at(-1);
  const running = open.at(-1);
  return {
    lastCompleted: last && {
      backupId: last.backupId,
      endTime: last.endTime!.toISOString(),
      sizeBytes: last.size,
      storedBytes: last.storedSize ?? 0,
    },
    lastFailed: lastFailed && {
      backupId: lastFailed.backupId,
      time: (lastFailed.endTime ?? lastFailed.beginTime).toISOString(),
      error: lastFailed.error,
    },
    inProgress: running && { backupId: running.backupId, beginTime: running.beginTime.toISOString() },
    kept: done.length,
    oldest: done[0] && { backupId: done[0].backupId, endTime: done[0].endTime!.toISOString() },
    retention,
  };
}

export interface StoreFacts {
  backups: Omit<Backups, 'schedule' | 'nextTime' | 'suspended'>;
  recoverable: Recoverable;
}

export async function readStoreFacts(store: StoreConfig, retention?: RetentionSpec): Promise<StoreFacts> {
  // Few and short retries: a person waits for this screen, and an unreachable store is one of its answers.
  const s3 = createS3Client({ ...store.s3, maxAttempts: 2, connectTimeoutMs: 3000 });
  try {
    // Incrementals too (each is a backup that restores its point): the newest may be one.
    const backups = await listRestorableBackups(s3, store);
    const summary = summarizeBackups(backups, retention);
    const oldest = backups.filter(b => b.status === 'DONE' && b.endTime).sort((a, b) => a.endTime!.getTime() - b.endTime!.getTime())[0];
    if (!oldest) return { backups: summary, recoverable: { continuous: true } };
    const continuity = backupContinuity(await readArchiveContents(s3, store), oldest);
    return {
      backups: summary,
      recoverable: {
        from: oldest.endTime!.toISOString(),
        fromBackup: oldest.backupId,
        toWal: continuity?.to,
        timeline: continuity?.timeline,
        continuous: continuity?.continuous ?? true,
        missing: continuity && !continuity.continuous ? continuity.missing : undefined,
      },
    };
  } finally {
    s3.destroy();
  }
}
