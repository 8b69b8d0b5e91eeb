import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  BACKUP_ENV,
  DATABASE_NAME,
  ENV,
  LABELS,
  LOGICAL_COMPONENTS,
  LOGICAL_ENV,
  LogicalDatabaseSpec,
  PATHS,
  RetentionSpec,
  logicalNames,
} from '../contract';
import type { PostgresCluster } from '../cluster/postgres-cluster';
import { agentContainer, agentPodSecurityContext } from '../pod/pod-security';
import { ResourceProps, renderResources, validateResources } from '../pod/resources';
import { ValidationError } from '../validation';
import { caClientEnv, caClientMount, caClientVolume } from '../tls/cluster-tls';
import { backupEnv, ResolvedBackup } from '../backup/cluster-backup';
import { validateRetention } from '../backup/retention';
import { scheduledJobSpec, toCronJobSchedule } from '../backup/schedule';

export interface LogicalBackupProps {
  /** The cluster whose databases are dumped; it must have `backup` set (the dumps go into its store, under its folder). */
  readonly cluster: PostgresCluster;
  /**
   * When the dumps run: 5 cron fields, or CloudNativePG's 6 with seconds first (seconds 0). UTC.
   * @default '0 2 * * *' (daily at 02:00)
   */
  readonly schedule?: string;
  /**
   * The databases to dump, by name; each must be one of the cluster's `databases`.
   * @default - every database of the cluster
   */
  readonly databases?: string[];
  /**
   * Which dumps to keep, per database: a recovery window and/or GFS counts, with the base backups' semantics.
   * @default { recoveryWindow: '30d' }
   */
  readonly retention?: RetentionSpec;
  /**
   * Resources of the dump container (pg_dump runs in it).
   * @default requests 100m CPU and 128Mi memory, limit 512Mi memory
   */
  readonly resources?: ResourceProps;
  /**
   * Longest time a run may take.
   * @default 21600 (6 hours)
   */
  readonly activeDeadlineSeconds?: number;
}

/** What both constructs need from the cluster: its store, checked. */
function clusterStore(prop: string, cluster: PostgresCluster): ResolvedBackup {
  const backup = cluster.backup?.settings;
  if (!backup)
    throw new ValidationError(
      prop,
      `cluster "${cluster.name}" has no backup`,
      'Set backup on the PostgresCluster: logical backups go into its store.',
    );
  return backup;
}

function databaseSpecs(cluster: PostgresCluster): LogicalDatabaseSpec[] {
  return cluster.databases.map(d => ({ name: d.name, owner: d.owner }));
}

/**
 * The ServiceAccount of a logical Job: it may get the cluster's superuser Secret, by name, and nothing else (the
 * password is read through the API, never put in the pod's environment).
 */
function superuserSecretReader(scope: Construct, serviceAccountName: string, cluster: PostgresCluster, labels: Record<string, string>): void {
  const metadata = { name: serviceAccountName, labels };
  new k8s.KubeServiceAccount(scope, 'ServiceAccount', { metadata, automountServiceAccountToken: true });
  new k8s.KubeRole(scope, 'Role', {
    metadata,
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [cluster.superuserSecretName] }],
  });
  new k8s.KubeRoleBinding(scope, 'RoleBinding', {
    metadata,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: serviceAccountName },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccountName }],
  });
}

/** A pod spec that reaches the primary as the superuser (its password read through the API) and the store. */
function logicalPodSpec(
  cluster: PostgresCluster,
  backup: ResolvedBackup,
  c: { name: string; args: string[]; env: k8s.EnvVar[]; resources?: k8s.ResourceRequirements; serviceAccountName: string },
): k8s.PodSpec {
  const ca = backup.store.caVolume();
  const container = agentContainer({
    name: c.name,
    image: cluster.image,
    command: c.args[0] as 'logical-backup' | 'restore-database',
    cluster: cluster.name,
    env: [
      { name: ENV.primaryHost, value: cluster.rwServiceName },
      { name: ENV.superuserSecret, value: cluster.superuserSecretName },
      ...c.env,
      // The base backups' retention is not theirs: LOGICAL_ENV.retention is.
      ...backupEnv(backup).filter(e => e.name !== BACKUP_ENV.retention),
      // Over TLS, verifying the server against <cluster>-ca (pg_dump, pg_restore and the agent's own connection).
      ...caClientEnv,
    ],
    resources: c.resources,
    // The dump is streamed to S3; a restore downloads it here first (checksum before pg_restore): size the volume.
    volumeMounts: [{ name: 'tmp', mountPath: PATHS.tmpDir }, ...(ca ? [ca.mount] : []), caClientMount],
  });
  return {
    serviceAccountName: c.serviceAccountName,
    automountServiceAccountToken: true,
    restartPolicy: 'Never',
    securityContext: agentPodSecurityContext(),
    containers: [{ ...container, args: c.args }],
    volumes: [{ name: 'tmp', emptyDir: {} }, ...(ca ? [ca.volume] : []), caClientVolume(cluster.name)],
  };
}

/**
 * Per-database logical backups (issue 18's `logicalBackup: { schedule, databases?, retention }`, as a construct of
 * its own beside the cluster, like `RestoreDrill`): a CronJob `<cluster>-logical-backup` running `pg-agent
 * logical-backup`, which dumps each database with `pg_dump -Fc` from the primary (the `-rw` Service, as the
 * superuser) into the cluster's store under `<serverName>/logical/<db>/<id>.dump`, with `<id>.json` (size,
 * SHA-256, server version, times) written last, then applies `retention` to the dumps. The barman-compatible
 * `base/` and `wals/` folders are not touched. Restore one database with `pg-agent restore-database` or a
 * {@link DatabaseRestore}.
 */
export class LogicalBackup extends Construct {
  readonly cronJob: ApiObject;
  /** The databases dumped, with their declared owners. */
  readonly databases: LogicalDatabaseSpec[];

  constructor(scope: Construct, id: string, props: LogicalBackupProps) {
    super(scope, id);
    const cluster = props.cluster;
    const backup = clusterStore('LogicalBackupProps.cluster', cluster);
    const schedule = toCronJobSchedule('LogicalBackupProps.schedule', props.schedule ?? '0 2 * * *');
    const all = databaseSpecs(cluster);
    const known = all.map(d => d.name);
    const wanted = props.databases ?? known;
    if (wanted.length === 0)
      throw new ValidationError(
        'LogicalBackupProps.databases',
        'is empty',
        `Leave it out to dump every database, or list some of ${known.join(', ')}.`,
      );
    wanted.forEach((name, i) => {
      if (!known.includes(name))
        throw new ValidationError(
          `LogicalBackupProps.databases[${i}]`,
          `"${name}" is not a database of cluster "${cluster.name}"`,
          `Use one of ${known.join(', ')} (declare it in the cluster's databases first).`,
        );
      if (wanted.indexOf(name) !== i)
        throw new ValidationError(`LogicalBackupProps.databases[${i}]`, `"${name}" is listed twice`, 'List each database once.');
    });
    this.databases = all.filter(d => wanted.includes(d.name));
    const retention = validateRetention('LogicalBackupProps.retention', props.retention ?? { recoveryWindow: '30d' });
    const deadline = props.activeDeadlineSeconds ?? 21600;
    if (!Number.isInteger(deadline) || deadline < 300)
      throw new ValidationError('LogicalBackupProps.activeDeadlineSeconds', `${deadline} is below 300`, 'Give the dumps at least 5 minutes.');
    validateResources('LogicalBackupProps.resources', props.resources);
    const resources = renderResources(props.resources ?? { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });

    const labels = { ...cluster.labels, [LABELS.component]: LOGICAL_COMPONENTS.logicalBackup };
    const serviceAccountName = logicalNames.logicalBackupCronJob(cluster.name);
    superuserSecretReader(this, serviceAccountName, cluster, labels);
    const podSpec = logicalPodSpec(cluster, backup, {
      serviceAccountName,
      name: LOGICAL_COMPONENTS.logicalBackup,
      args: ['logical-backup'],
      env: [
        { name: LOGICAL_ENV.databases, value: JSON.stringify(this.databases) },
        { name: LOGICAL_ENV.retention, value: JSON.stringify(retention) },
      ],
      resources,
    });
    this.cronJob = new k8s.KubeCronJob(this, 'CronJob', {
      metadata: { name: logicalNames.logicalBackupCronJob(cluster.name), labels },
      spec: {
        ...scheduledJobSpec(schedule, {
          metadata: { labels },
          spec: { backoffLimit: 2, activeDeadlineSeconds: deadline, template: { metadata: { labels }, spec: podSpec } },
        }),
        ...(cluster.hibernated ? { suspend: true } : {}),
      },
    });
  }
}

export interface DatabaseRestoreProps {
  /** The running cluster to restore into (its primary); it must have `backup` set. */
  readonly cluster: PostgresCluster;
  /** The database whose logical backup is restored: one of the cluster's databases. */
  readonly database: string;
  /** A backup id (`20261203T020000`, see `pg-agent list --logical`), `latest`, or an ISO 8601 time with a zone (the newest dump that ended by then). */
  readonly from: string;
  /**
   * The database to restore into.
   * @default `<database>_restored_<backup id>`
   */
  readonly into?: string;
  /**
   * Replace `into` if it exists and is empty (it is renamed aside and kept, never dropped).
   * @default false
   */
  readonly overwrite?: boolean;
  /**
   * With `overwrite`: replace `into` even if it holds tables (renamed aside and kept).
   * @default false
   */
  readonly discardExistingData?: boolean;
  /**
   * Name of the Job.
   * @default `<cluster>-restore-<database>` (`_` becomes `-`)
   */
  readonly name?: string;
  /**
   * Resources of the restore container.
   * @default requests 100m CPU and 128Mi memory, limit 512Mi memory
   */
  readonly resources?: ResourceProps;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A one-off Job running `pg-agent restore-database` (the GitOps way to restore one database): commit it, let Flux or
 * Argo CD apply it, read the result in its logs, remove it from git. Into a new database by default; nothing is
 * overwritten unless `overwrite` (and, for a database holding data, `discardExistingData`) say so.
 */
export class DatabaseRestore extends Construct {
  readonly job: ApiObject;

  constructor(scope: Construct, id: string, props: DatabaseRestoreProps) {
    super(scope, id);
    const cluster = props.cluster;
    const backup = clusterStore('DatabaseRestoreProps.cluster', cluster);
    const known = cluster.databases.map(d => d.name);
    if (!known.includes(props.database))
      throw new ValidationError(
        'DatabaseRestoreProps.database',
        `"${props.database}" is not a database of cluster "${cluster.name}"`,
        `Use one of ${known.join(', ')}.`,
      );
    if (props.from !== 'latest' && !/^\d{8}T\d{6}$/.test(props.from) && !(ISO_TIME.test(props.from) && !Number.isNaN(Date.parse(props.from))))
      throw new ValidationError(
        'DatabaseRestoreProps.from',
        `"${props.from}" is neither a backup id, "latest" nor a time`,
        'Give a backup id from `pg-agent list --logical` (e.g. "20261203T020000"), "latest", or a time with a zone (e.g. "2026-12-03T10:00:00Z").',
      );
    if (props.into !== undefined && !DATABASE_NAME.test(props.into))
      throw new ValidationError(
        'DatabaseRestoreProps.into',
        `"${props.into}" is not a database name`,
        'Use lowercase letters, digits and "_" (at most 63).',
      );
    if (props.discardExistingData && !props.overwrite)
      throw new ValidationError(
        'DatabaseRestoreProps.discardExistingData',
        'is set without overwrite',
        'Set overwrite: true as well to replace a database that holds data, or leave both out.',
      );
    const name = props.name ?? logicalNames.databaseRestoreJob(cluster.name, props.database);
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
      throw new ValidationError(
        'DatabaseRestoreProps.name',
        `"${name}" is not a Job name (DNS-1123, at most 63 characters)`,
        'Give a shorter name, e.g. "restore-app".',
      );
    validateResources('DatabaseRestoreProps.resources', props.resources);
    const resources = renderResources(props.resources ?? { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });

    const labels = { ...cluster.labels, [LABELS.component]: LOGICAL_COMPONENTS.databaseRestore };
    const args = [
      'restore-database',
      props.database,
      '--from',
      props.from,
      ...(props.into ? ['--into', props.into] : []),
      ...(props.overwrite ? ['--overwrite'] : []),
      ...(props.discardExistingData ? ['--discard-existing-data'] : []),
    ];
    superuserSecretReader(this, name, cluster, labels);
    const podSpec = logicalPodSpec(cluster, backup, {
      serviceAccountName: name,
      name: LOGICAL_COMPONENTS.databaseRestore,
      args,
      env: [{ name: LOGICAL_ENV.databases, value: JSON.stringify(databaseSpecs(cluster)) }],
      resources,
    });
    this.job = new k8s.KubeJob(this, 'Job', {
      metadata: { name, labels },
      // A restore is not retried blindly: a second attempt would find the first one's database and refuse.
      spec: { backoffLimit: 0, template: { metadata: { labels }, spec: podSpec } },
    });
  }
}
