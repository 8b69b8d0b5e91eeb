/**
 * The Events of the backup and restore-drill commands, on the pod that runs them: the backup Job's pod, or the
 * instance pod after a failover (its child `pg-agent backup` has the instance's environment and ServiceAccount).
 * Without a pod name in the environment (a person's shell) nothing is recorded.
 */
import { EVENT_REASONS } from '../../../lib/contract';
import { EventRecorder, podEventRecorder } from './events';

/** Waits this long at most, at the end of a command, for its events to be sent. */
const SETTLE_MS = 2000;

const mib = (bytes: number | undefined) => (bytes === undefined ? 'unknown size' : `${(bytes / 1048576).toFixed(1)} MiB`);

export class JobEvents {
  private readonly recorder?: EventRecorder;

  constructor(env: NodeJS.ProcessEnv = process.env, recorder?: EventRecorder) {
    this.recorder = recorder ?? podEventRecorder(env);
  }

  backupStarted(backupId: string, source: string): void {
    this.recorder?.record({
      reason: EVENT_REASONS.backupStarted,
      type: 'Normal',
      action: 'Backup',
      note: `Base backup ${backupId} started from ${source}.`,
    });
  }

  backupCompleted(backupId: string, sizeBytes: number | undefined, seconds: number): void {
    this.recorder?.record({
      reason: EVENT_REASONS.backupCompleted,
      type: 'Normal',
      action: 'Backup',
      note: `Base backup ${backupId} completed: ${mib(sizeBytes)} in ${seconds.toFixed(1)} s.`,
    });
  }

  backupFailed(message: string, fix?: string): void {
    this.recorder?.record({
      reason: EVENT_REASONS.backupFailed,
      type: 'Warning',
      action: 'Backup',
      note: `Base backup failed: ${message}${fix ? ` Fix: ${fix}` : ''}`,
    });
  }

  retentionDeleted(backupIds: string[], walObjects: number): void {
    if (backupIds.length === 0 && walObjects === 0) return;
    this.recorder?.record({
      reason: EVENT_REASONS.retentionDeleted,
      type: 'Normal',
      action: 'Retention',
      note: `Retention deleted ${backupIds.length} backup(s)${backupIds.length ? ` (${backupIds.join(', ')})` : ''} and ${walObjects} WAL object(s) no kept backup needs.`,
    });
  }

  drillResult(ok: boolean, backupId: string, detail: string): void {
    this.recorder?.record(
      ok
        ? { reason: EVENT_REASONS.drillSucceeded, type: 'Normal', action: 'Verify', note: `Restore drill of backup ${backupId} succeeded: ${detail}` }
        : {
            reason: EVENT_REASONS.drillFailed,
            type: 'Warning',
            action: 'Verify',
            note: `Restore drill${backupId ? ` of backup ${backupId}` : ''} failed: ${detail}`,
          },
    );
  }

  /** At the end of the command: lets the last events go out (bounded: never holds the Job for long). */
  settled(): Promise<void> {
    return this.recorder?.settled(SETTLE_MS) ?? Promise.resolve();
  }
}
