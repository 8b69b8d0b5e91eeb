import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { BACKUP_ENV, COMPONENTS, Compression, ENV, INCREMENTAL_ENV, PATHS, RetentionSpec, names } from '../contract';
import { agentContainer, agentPodSecurityContext } from '../pod/pod-security';
import { POD_NAME_ENV, eventRecorderRole } from '../pod/event-rules';
import { ValidationError } from '../validation';
import { BackupStore } from './backup-store';
import { BACKUP_DEFAULTS, COMPRESSIONS, WAL_MAX_PARALLEL_RANGE, isCompression } from '../contract/defaults';
import { validateRetention } from './retention';
import { IncrementalBackupProps, validateIncremental } from './incremental';
import { scheduledJobSpec, toCronJobSchedule } from './schedule';
import { caClientEnv, caClientMount, caClientVolume } from '../tls/cluster-tls';

/** Backup settings of a cluster: WAL archiving to the store, scheduled base backups, retention. */
export interface BackupProps {
  /** Where backups go. */
  readonly store: BackupStore;
  /**
   * The cluster's folder in the store.
   * @default the cluster name (as CloudNativePG's serverName)
   */
  readonly serverName?: string;
  /**
   * When base backups run: 5 cron fields, or CloudNativePG's 6 fields with seconds first (`0 0 0 * * *`), whose
   * seconds must be 0. Times are UTC.
   * @default '0 0 * * *' (daily at midnight)
   */
  readonly schedule?: string;
  /**
   * Also take one backup as soon as the cluster is up (a Job), as CloudNativePG's `immediate: true`.
   * @default false
   */
  readonly immediate?: boolean;
  /**
   * What to keep: a recovery window and/or GFS counts; a backup any rule wants is kept, and so is the WAL it needs.
   * @default { recoveryWindow: '30d' }
   */
  readonly retention?: RetentionSpec;
  /**
   * Compression of base backup data. `gzip` restores with barman-cloud too; `zstd` and `lz4` are faster but ours only.
   * @default 'gzip'
   */
  readonly compression?: Compression;
  /**
   * Compression of archived WAL segments (same trade-off as `compression`).
   * @default 'gzip'
   */
  readonly walCompression?: Compression;
  /**
   * Take base backups from a streaming replica when there is one, sparing the primary's I/O.
   * @default false
   */
  readonly backupFromStandby?: boolean;
  /**
   * WAL segments uploaded in parallel when PostgreSQL produces them faster than one at a time.
   * @default 4
   */
  readonly walMaxParallel?: number;
  /**
   * Longest time a backup Job may run before Kubernetes stops it (the partial backup is never marked complete).
   * @default 21600 (6 hours)
   */
  readonly activeDeadlineSeconds?: number;
  /**
   * Block-level incremental backups: scheduled backups store only the pages changed since the newest complete
   * backup, with a full backup every `fullEvery` (docs/backups-incremental.md). Full backups stay in barman-cloud's layout.
   * @default undefined (every backup is a full one)
   */
  readonly incremental?: IncrementalBackupProps;
}

export interface ClusterBackupProps extends BackupProps {
  readonly cluster: string;
  readonly image: string;
  readonly labels: Record<string, string>;
  readonly podLabels: Record<string, string>;
  readonly priorityClassName?: string;
  readonly replicationSecret: string;
  /** Tolerations and node selector of the cluster's scheduling props. */
  readonly placement?: Pick<k8s.PodSpec, 'tolerations' | 'nodeSelector'>;
  readonly instances: number;
  /** The cluster hibernates: the CronJob is suspended (no backup of a cluster without pods). */
  readonly suspend?: boolean;
}

/** Checks backup props at synth; returns the settings with defaults applied. */
export function resolveBackup(props: BackupProps, clusterName: string) {
  if (!(props.store instanceof BackupStore))
    throw new ValidationError(
      'backup.store',
      'is not a BackupStore',
      'Create one with new BackupStore(scope, id, { endpoint, bucket, credentials }).',
    );
  const serverName = props.serverName ?? clusterName;
  if (!/^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/.test(serverName))
    throw new ValidationError('backup.serverName', `"${serverName}" is not a folder name`, 'Use lowercase letters, digits, "-", "_" and ".".');
  for (const key of ['compression', 'walCompression'] as const) {
    if (props[key] !== undefined && !isCompression(props[key])) {
      throw new ValidationError(`backup.${key}`, `"${props[key]}" is not supported`, `Use one of ${COMPRESSIONS.join(', ')}.`);
    }
  }
  const walMaxParallel = props.walMaxParallel ?? BACKUP_DEFAULTS.walMaxParallel;
  const { min, max } = WAL_MAX_PARALLEL_RANGE;
  if (!Number.isInteger(walMaxParallel) || walMaxParallel < min || walMaxParallel > max) {
    throw new ValidationError(
      'backup.walMaxParallel',
      `${walMaxParallel} is outside ${min}..${max}`,
      `Use a small number such as ${BACKUP_DEFAULTS.walMaxParallel}; more rarely helps on one disk.`,
    );
  }
  const deadline = props.activeDeadlineSeconds ?? 21600;
  if (!Number.isInteger(deadline) || deadline < 300)
    throw new ValidationError('backup.activeDeadlineSeconds', `${deadline} is below 300`, 'Give backups at least 5 minutes.');
  return {
    store: props.store,
    serverName,
    schedule: toCronJobSchedule('backup.schedule', props.schedule ?? '0 0 * * *'),
    immediate: props.immediate ?? false,
    retention: validateRetention('backup.retention', props.retention ?? { recoveryWindow: '30d' }),
    compression: props.compression ?? BACKUP_DEFAULTS.compression,
    walCompression: props.walCompression ?? BACKUP_DEFAULTS.walCompression,
    fromStandby: props.backupFromStandby ?? false,
    walMaxParallel,
    deadline,
    incremental: validateIncremental('backup.incremental', props.incremental),
  };
}

export type ResolvedBackup = ReturnType<typeof resolveBackup>;

/** The environment of every container that archives or backs up (instances and backup Jobs). */
export function backupEnv(b: ResolvedBackup): k8s.EnvVar[] {
  return [
    ...b.store.env(b.serverName),
    { name: BACKUP_ENV.compression, value: b.compression },
    { name: BACKUP_ENV.walCompression, value: b.walCompression },
    { name: BACKUP_ENV.walMaxParallel, value: String(b.walMaxParallel) },
    { name: BACKUP_ENV.retention, value: JSON.stringify(b.retention) },
  ];
}

/**
 * The scheduled base backup (a CronJob) and, with `immediate`, a one-off Job. Each runs `pg-agent backup`, which
 * streams a base backup over the replication protocol into the store, then applies retention.
 */
export class ClusterBackup extends Construct {
  readonly cronJob: ApiObject;
  readonly immediateJob?: ApiObject;
  /** The backup settings with defaults applied (what a RestoreDrill of this cluster reads). */
  readonly settings: ResolvedBackup;

  constructor(scope: Construct, id: string, props: ClusterBackupProps) {
    super(scope, id);
    const b = resolveBackup(props, props.cluster);
    this.settings = b;
    const sa = names.backupCronJob(props.cluster);
    new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: sa, labels: props.labels },
      // The backup talks to PostgreSQL and S3, and to the Kubernetes API only to record Events on its pod.
      automountServiceAccountToken: true,
    });
    eventRecorderRole(this, sa, props.labels);
    const rw = names.rwService(props.cluster);
    const ca = b.store.caVolume();
    const podSpec: k8s.PodSpec = {
      serviceAccountName: sa,
      automountServiceAccountToken: true,
      restartPolicy: 'Never',
      priorityClassName: props.priorityClassName,
      ...props.placement,
      securityContext: agentPodSecurityContext(),
      containers: [
        agentContainer({
          name: COMPONENTS.backup,
          image: props.image,
          command: 'backup',
          cluster: props.cluster,
          env: [
            POD_NAME_ENV,
            { name: BACKUP_ENV.sourceHost, value: b.fromStandby && props.instances > 1 ? names.roService(props.cluster) : rw },
            { name: ENV.primaryHost, value: rw },
            { name: BACKUP_ENV.fromStandby, value: String(b.fromStandby) },
            ...(b.incremental ? [{ name: INCREMENTAL_ENV.spec, value: JSON.stringify(b.incremental) }] : []),
            { name: ENV.replicationPassword, valueFrom: { secretKeyRef: { name: props.replicationSecret, key: 'password' } } },
            ...backupEnv(b),
            // pg_basebackup and the agent's own connection verify the instance against <cluster>-ca.
            ...caClientEnv,
          ],
          resources: {
            requests: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('128Mi') },
            // Streaming with bounded buffers: a backup never needs more, whatever the database size.
            limits: { memory: k8s.Quantity.fromString('512Mi') },
          },
          volumeMounts: [{ name: 'tmp', mountPath: PATHS.tmpDir }, ...(ca ? [ca.mount] : []), caClientMount],
        }),
      ],
      volumes: [{ name: 'tmp', emptyDir: {} }, ...(ca ? [ca.volume] : []), caClientVolume(props.cluster)],
    };
    const jobSpec = (backoffLimit: number): k8s.JobSpec => ({
      backoffLimit,
      activeDeadlineSeconds: b.deadline,
      template: { metadata: { labels: props.podLabels }, spec: podSpec },
    });

    this.cronJob = new k8s.KubeCronJob(this, 'CronJob', {
      metadata: { name: names.backupCronJob(props.cluster), labels: props.labels },
      spec: {
        ...scheduledJobSpec(b.schedule, { metadata: { labels: props.labels }, spec: jobSpec(2) }),
        ...(props.suspend ? { suspend: true } : {}),
      },
    });
    if (b.immediate) {
      this.immediateJob = new k8s.KubeJob(this, 'Immediate', {
        metadata: {
          name: names.immediateBackupJob(props.cluster),
          labels: props.labels,
          annotations: { 'kustomize.toolkit.fluxcd.io/force': 'enabled', 'argocd.argoproj.io/sync-options': 'Force=true,Replace=true' },
        },
        // Retries while the cluster is still bootstrapping.
        spec: jobSpec(6),
      });
    }
  }
}
