import { k8s } from 'cdk8s-plus-28';
import { RECOVERY_ENV, RecoverySourceSpec, RecoveryTargetSpec } from '../contract';
import { BackupStore } from '../backup/backup-store';
import { ValidationError } from '../validation';

/** Where recovery stops: a time, an LSN, a transaction id or a named restore point; nothing = the latest. */
export interface RecoveryTarget {
  /** A moment (a Date or an ISO 8601 string with a time zone, e.g. `2026-11-27T10:00:00Z`). */
  readonly time?: Date | string;
  /** A WAL position, e.g. `0/3000060`. */
  readonly lsn?: string;
  /** A transaction id. */
  readonly xid?: string;
  /** A restore point created with `pg_create_restore_point('name')`. */
  readonly name?: string;
  /**
   * Include the target transaction (stop just after it) or not (just before).
   * @default true
   */
  readonly inclusive?: boolean;
}

/** Bootstrap a new cluster from the backups of another one (CloudNativePG's `bootstrap.recovery`). */
export interface RecoveryProps {
  /** The store holding the source cluster's backups (its credentials Secret must be in this namespace). */
  readonly store: BackupStore;
  /** The source cluster's folder in the store (its name, or its backup.serverName). */
  readonly serverName: string;
  /**
   * Where to stop replaying WAL.
   * @default - the end of the archive ("latest")
   */
  readonly target?: RecoveryTarget;
}

/** Checks recovery props at synth; returns the target in the contract's form. */
export function resolveRecovery(r: RecoveryProps): ResolvedRecovery {
  if (!(r.store instanceof BackupStore))
    throw new ValidationError('bootstrap.recovery.store', 'is not a BackupStore', "Pass the BackupStore that holds the source cluster's backups.");
  if (!/^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/.test(r.serverName ?? '')) {
    throw new ValidationError(
      'bootstrap.recovery.serverName',
      `"${r.serverName}" is not a folder name`,
      'Give the source cluster\'s name, e.g. "keycloak-pg-cluster".',
    );
  }
  const t = r.target ?? {};
  const set = (['time', 'lsn', 'xid', 'name'] as const).filter(k => t[k] !== undefined);
  if (set.length > 1) throw new ValidationError('bootstrap.recovery.target', `sets ${set.join(' and ')}`, 'Choose one of time, lsn, xid or name.');
  let time: string | undefined;
  if (t.time !== undefined) {
    const ok = t.time instanceof Date || /(Z|[+-]\d{2}:?\d{2})$/.test(t.time);
    const d = new Date(t.time);
    if (!ok || Number.isNaN(d.getTime())) {
      throw new ValidationError(
        'bootstrap.recovery.target.time',
        `"${String(t.time)}" is not a time with a zone`,
        'Write it as ISO 8601 with a zone, e.g. "2026-11-27T10:00:00Z", or pass a Date.',
      );
    }
    time = d.toISOString();
  }
  if (t.lsn !== undefined && !/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(t.lsn)) {
    throw new ValidationError('bootstrap.recovery.target.lsn', `"${t.lsn}" is not an LSN`, 'Write it as PostgreSQL prints it, e.g. "0/3000060".');
  }
  if (t.xid !== undefined && !/^\d+$/.test(t.xid))
    throw new ValidationError('bootstrap.recovery.target.xid', `"${t.xid}" is not a transaction id`, 'Give the number, e.g. "7431".');
  if (t.name !== undefined && (t.name === '' || t.name.length > 63))
    throw new ValidationError(
      'bootstrap.recovery.target.name',
      `"${t.name}" is not a restore point name`,
      'Give the name passed to pg_create_restore_point().',
    );
  const target: RecoveryTargetSpec | undefined =
    set.length || t.inclusive !== undefined ? { time, lsn: t.lsn, xid: t.xid, name: t.name, inclusive: t.inclusive } : undefined;
  const s = r.store;
  // The source store's CA bundle gets its own volume: the cluster's own store may have another one.
  const ca = s.caVolume('recovery-s3-ca', RECOVERY_CA_MOUNT_PATH);
  return {
    store: s,
    source: {
      endpoint: s.endpoint,
      bucket: s.bucket,
      prefix: s.prefix,
      region: s.region,
      forcePathStyle: s.forcePathStyle,
      serverName: r.serverName,
      ...(ca ? { caFile: ca.file } : {}),
    },
    target: target ? JSON.parse(JSON.stringify(target)) : undefined,
    ca,
  };
}

export const RECOVERY_CA_MOUNT_PATH = '/etc/pg-agent/recovery-s3-ca';

export interface ResolvedRecovery {
  readonly source: RecoverySourceSpec;
  readonly target?: RecoveryTargetSpec;
  readonly store: BackupStore;
  readonly ca?: ReturnType<BackupStore['caVolume']>;
}

/** The environment that tells the agent to bootstrap by recovery. */
export function recoveryEnv(r: ResolvedRecovery): k8s.EnvVar[] {
  const ref = (key: string) => ({ secretKeyRef: { name: r.store.credentials.secretName, key } });
  return [
    { name: RECOVERY_ENV.source, value: JSON.stringify(r.source) },
    ...(r.target ? [{ name: RECOVERY_ENV.target, value: JSON.stringify(r.target) }] : []),
    { name: RECOVERY_ENV.accessKeyId, valueFrom: ref(r.store.credentials.accessKeyIdKey) },
    { name: RECOVERY_ENV.secretAccessKey, valueFrom: ref(r.store.credentials.secretAccessKeyKey) },
  ];
}
