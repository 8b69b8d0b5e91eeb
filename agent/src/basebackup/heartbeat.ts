/**
 * A running backup says so: its backup.info with status STARTED, written before the copy and rewritten every
 * HEARTBEAT_MS. Another backup run then tells a live backup from the leftovers of a killed one (a SIGKILL leaves
 * a STARTED backup.info that stops changing) and never cleans up a backup that is still running.
 */
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { StoreConfig } from '../store/config';
import { BackupInfo } from '../catalog/backup-info';
import { writeBackupInfo } from '../catalog/catalog';

export const HEARTBEAT_MS = 10_000;
/** A backup folder with no change for this long is not running any more (several heartbeats missed). */
export const STALE_AFTER_MS = 45_000;

export class Heartbeat {
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly s3: S3Bucket,
    private readonly store: StoreConfig,
    private readonly current: () => BackupInfo,
    private readonly intervalMs = HEARTBEAT_MS,
  ) {}

  /** Writes the STARTED backup.info once (failing if S3 refuses), then keeps rewriting it. */
  async start(): Promise<void> {
    await writeBackupInfo(this.s3, this.store, this.current());
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.writing = Promise.resolve()
        .then(() => writeBackupInfo(this.s3, this.store, this.current()))
        .catch(e => log.warn({ err: (e as Error).message }, "could not refresh the running backup's backup.info; retrying"))
        .finally(() => {
          if (!this.stopped) this.schedule();
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops, and waits for a write in flight, so that the next write (DONE or FAILED) is the last one. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.writing;
  }
}
