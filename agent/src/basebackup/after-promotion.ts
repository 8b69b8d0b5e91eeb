/**
 * After a failover, a new base backup: the first restore point of the new timeline (invariant I4: a restore of
 * the new timeline must not depend on replaying the old one's WAL across the switch, from a backup days old, when
 * the old primary may have died with WAL it never archived). Planned switchovers and hand-overs (every rollout) do
 * not take one: the old primary stopped cleanly and every segment is archived by one of the instances.
 *
 * The promoted instance's agent runs it itself, as a child `pg-agent backup` (the very command the backup CronJob
 * runs), with the instance's own environment, which holds everything the backup needs (store, credentials,
 * compression, retention, the replication password), and the source set to this instance on loopback. No Job is
 * created through the API: no RBAC beyond what the pod has, and it works the same with the API server unreachable.
 * The backup runs beside PostgreSQL in the pod (pg_basebackup streams over the replication protocol, the agent
 * compresses and uploads), like the archiver does.
 *
 * It retries (S3 may still be down: the failover happened during an outage) with a growing pause, for as long as
 * this instance is the primary, and stops at the first success. One at a time per process.
 */
import { spawn } from 'child_process';
import { BACKUP_ENV, ENV } from '../../../lib/contract';
import { log } from '../common/log';

export interface AfterPromotionOptions {
  /** First pause after a failed attempt; doubles up to {@link maxPauseMs}. @default 15 s */
  pauseMs?: number;
  /** @default 5 min */
  maxPauseMs?: number;
}

let running = false;

/**
 * Starts the backup of a just-promoted instance (returns at once; the work goes on in the background).
 * `port`: this instance's PostgreSQL port; `isPrimary`: whether it still is the primary (checked before each try).
 */
export function backupAfterPromotion(
  cfg: { port: number; archiving?: unknown; tls?: unknown; replicationPassword: () => string },
  isPrimary: () => boolean,
  opts: AfterPromotionOptions = {},
): void {
  if (!cfg.archiving) return; // no store: no backups
  if (running) return;
  running = true;
  void (async () => {
    let pause = opts.pauseMs ?? 15_000;
    const maxPause = opts.maxPauseMs ?? 5 * 60_000;
    try {
      for (let attempt = 1; ; attempt++) {
        if (!isPrimary()) {
          log.warn({ attempt }, 'base backup after promotion given up: this instance is not the primary any more');
          return;
        }
        log.info({ attempt }, 'promoted: taking a base backup of the new timeline (its first restore point)');
        const code = await runBackupChild(cfg.port, cfg.replicationPassword(), !!cfg.tls);
        if (code === 0) {
          log.info({ attempt }, 'base backup after promotion complete');
          return;
        }
        log.warn(
          {
            attempt,
            exitCode: code,
            retryInSeconds: pause / 1000,
            fix: 'See the backup lines above (the store, the replication password); it is retried while this instance is primary, and the backup CronJob takes one on schedule anyway.',
          },
          'base backup after promotion failed; retrying',
        );
        await new Promise(r => setTimeout(r, pause).unref());
        pause = Math.min(pause * 2, maxPause);
      }
    } finally {
      running = false;
    }
  })();
}

/** `pg-agent backup` from this instance (loopback), its log lines going to this agent's output. */
function runBackupChild(port: number, replicationPassword: string, tls: boolean): Promise<number | null> {
  const source = `127.0.0.1:${port}`;
  const child = spawn(process.execPath, [process.argv[1], 'backup'], {
    // The instance has no password in its environment (it reads the Secrets): the child gets the current one.
    env: {
      ...process.env,
      [ENV.replicationPassword]: replicationPassword,
      [BACKUP_ENV.sourceHost]: source,
      [ENV.primaryHost]: source,
      [BACKUP_ENV.fromStandby]: 'false',
      // The server refuses plaintext TCP: encrypted, and not verified, as it is this instance itself on loopback
      // (its certificate names the Services and pods, not 127.0.0.1). node pg has no "prefer": it must be told.
      ...(tls ? { PGSSLMODE: 'require' } : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  // The instance stopping stops its backup (SIGTERM: the backup command cleans up and marks nothing DONE).
  const stop = () => child.kill('SIGTERM');
  process.once('exit', stop);
  return new Promise(resolve => {
    child.on('error', e => {
      log.warn({ err: e.message }, 'cannot start the backup command');
      resolve(null);
    });
    child.on('exit', code => {
      process.off('exit', stop);
      resolve(code);
    });
  });
}
