/**
 * Bootstrap by recovery: the first instance of a new cluster restores a base backup of another cluster and
 * replays its archived WAL up to the target, then promotes on a new timeline and archives into its own folder.
 * All checks that can fail are made before anything is written: no half-started cluster that looks healthy.
 */
import * as fs from 'fs';
import * as path from 'path';
import { RECOVERY_ENV, RecoverySourceSpec, RecoveryTargetSpec, s3Layout } from '../../../lib/contract';
import { jsonEnv, optionalEnv, requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { BackupInfo } from '../catalog/backup-info';
import { compareLsn } from '../postgres/wal';
import { StoreConfig, readOnlyStoreSettings } from '../store/config';

export interface RecoveryConfig {
  readonly source: StoreConfig;
  readonly target?: RecoveryTargetSpec;
}

export function hasRecovery(env: NodeJS.ProcessEnv = process.env): boolean {
  return optionalEnv(RECOVERY_ENV.source, env) !== undefined;
}

/** The source store as a StoreConfig (what wal-fetch and the restore read). */
export function readRecoveryConfig(env: NodeJS.ProcessEnv = process.env): RecoveryConfig {
  const src = jsonEnv<RecoverySourceSpec>(RECOVERY_ENV.source, env);
  const target = optionalEnv(RECOVERY_ENV.target, env) ? jsonEnv<RecoveryTargetSpec>(RECOVERY_ENV.target, env) : undefined;
  return {
    source: {
      s3: {
        endpoint: src.endpoint,
        bucket: src.bucket,
        region: src.region,
        forcePathStyle: src.forcePathStyle,
        caBundle: src.caFile,
        accessKeyId: requireEnv(RECOVERY_ENV.accessKeyId, env),
        secretAccessKey: requireEnv(RECOVERY_ENV.secretAccessKey, env),
      },
      prefix: src.prefix,
      serverName: src.serverName,
      ...readOnlyStoreSettings(env),
    },
    target,
  };
}

function describeTarget(t?: RecoveryTargetSpec): string {
  if (!t) return 'latest';
  return t.time ? `time ${t.time}` : t.lsn ? `LSN ${t.lsn}` : t.xid ? `transaction ${t.xid}` : t.name ? `restore point "${t.name}"` : 'latest';
}

/** The newest complete backup that ends before the target (any for xid, name and latest: their position is unknown). */
export function chooseBackup(backups: BackupInfo[], target: RecoveryTargetSpec | undefined, where: string): BackupInfo {
  const done = backups.filter(b => b.status === 'DONE').sort((a, b) => a.beginTime.getTime() - b.beginTime.getTime());
  if (done.length === 0) {
    throw new AgentError(
      `no complete backup in ${where}`,
      'Check bootstrap.recovery.serverName and the store (endpoint, bucket, path) and that the source cluster took a backup.',
      { where },
    );
  }
  let candidates = done;
  if (target?.time) {
    const t = Date.parse(target.time);
    if (t > Date.now())
      throw new AgentError(
        `the recovery target ${target.time} is in the future`,
        'Give a past time, or leave the target out to recover everything archived.',
      );
    candidates = done.filter(b => b.endTime && b.endTime.getTime() <= t);
  } else if (target?.lsn) {
    candidates = done.filter(b => b.endLsn && compareLsn(b.endLsn, target.lsn!) <= 0);
  }
  if (candidates.length === 0) {
    const oldest = done[0];
    throw new AgentError(
      `no complete backup ends before the recovery target (${describeTarget(target)}); the oldest ends at ${oldest.endTime?.toISOString() ?? '?'} (LSN ${oldest.endLsn ?? '?'})`,
      'Choose a target after the end of the oldest backup; earlier points cannot be restored from this archive.',
      { where },
    );
  }
  return candidates[candidates.length - 1];
}

/** Restores the chosen backup into `dir` (which must not exist). */
export async function restoreForRecovery(rc: RecoveryConfig, dir: string): Promise<BackupInfo> {
  // Loaded here, not with this module: the instance reads its recovery settings on every start, but restores once.
  const [{ openS3Bucket }, { listRestorableBackups }, { restoreBaseBackup }] = await Promise.all([
    import('../s3/bucket'),
    import('../incremental/catalog'),
    import('./base-backup'),
  ]);
  const s3 = openS3Bucket(rc.source.s3);
  const where = `s3://${rc.source.s3.bucket}/${s3Layout.baseRoot(rc.source.prefix, rc.source.serverName)}`;
  try {
    // Incrementals too: the newest fitting backup may be one (its whole chain is restored).
    const backup = chooseBackup(await listRestorableBackups(s3, rc.source), rc.target, where);
    log.info(
      { backupId: backup.backupId, endTime: backup.endTime, endLsn: backup.endLsn, target: describeTarget(rc.target) },
      'restoring base backup for recovery',
    );
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const result = await restoreBaseBackup(s3, rc.source, backup.backupId, dir);
    fs.chmodSync(dir, 0o700);
    // Settings the source made with ALTER SYSTEM (e.g. its synchronous standbys' names) do not apply here.
    fs.writeFileSync(path.join(dir, 'postgresql.auto.conf'), '# cleared by the agent after restore\n', { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'recovery.signal'), '', { mode: 0o600 });
    log.info(
      { backupId: backup.backupId, files: result.files, bytes: result.bytes, seconds: result.seconds },
      'base backup restored; PostgreSQL replays the archived WAL next',
    );
    return backup;
  } finally {
    s3.destroy();
  }
}

/** postgresql.conf settings while recovery runs (until PostgreSQL removes recovery.signal at promotion). */
export function recoveryParameters(target: RecoveryTargetSpec | undefined, restoreCommand: string): Record<string, string> {
  const p: Record<string, string> = {
    restore_command: restoreCommand,
    // No reads during recovery: this also lets a cluster with smaller settings (max_connections…) than the source
    // replay its WAL, which a hot standby refuses.
    hot_standby: 'off',
    recovery_target_action: 'promote',
    recovery_target_timeline: 'latest',
  };
  // PostgreSQL's own timestamp syntax: the GUC check refuses ISO 8601's "T…Z" form.
  if (target?.time) p.recovery_target_time = new Date(target.time).toISOString().replace('T', ' ').replace('Z', '+00');
  else if (target?.lsn) p.recovery_target_lsn = target.lsn;
  else if (target?.xid) p.recovery_target_xid = target.xid;
  else if (target?.name) p.recovery_target_name = target.name;
  if (target && target.inclusive !== undefined) p.recovery_target_inclusive = target.inclusive ? 'on' : 'off';
  return p;
}
