import { ApiObject, Size } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { BACKUP_ENV, COMPONENTS, ENV, LABELS, PATHS, VERIFY_ENV, VerifyChecksSpec, VerifyReplay, names } from '../contract';
import { S3CredentialsProps } from './backup-store';
import type { PostgresCluster } from '../cluster/postgres-cluster';
import { agentContainer, agentPodSecurityContext } from '../cluster/pod-security';
import { POD_NAME_ENV, eventRecorderRole } from '../cluster/event-rules';
import { ResourceProps } from '../cluster/props';
import { renderResources, validateResources } from '../cluster/resources';
import { ValidationError, checkDnsLabel } from '../validation';
import { backupEnv } from './cluster-backup';
import { scheduledJobSpec, toCronJobSchedule } from './schedule';

/** A table the drill counts in the restored copy. */
export interface RestoreDrillTable {
  /** One of the cluster's databases. */
  readonly database: string;
  /** `table` or `schema.table`. */
  readonly table: string;
  /**
   * The restored table must have at least this many rows.
   * @default 1
   */
  readonly minRows?: number;
}

export interface RestoreDrillProps {
  /** The cluster whose backups are drilled; it must have `backup` set. */
  readonly cluster: PostgresCluster;
  /**
   * When the drill runs (5 cron fields, UTC).
   * @default '0 6 * * 0' (Sundays 06:00)
   */
  readonly schedule?: string;
  /**
   * How far the restored copy replays: `latest` also proves that the archived WAL after the backup is complete;
   * `backup-end` only restores the backup to its consistency point (faster).
   * @default 'latest'
   */
  readonly replay?: VerifyReplay;
  /**
   * Check every relation of the restored copy with pg_amcheck (heap and B-tree indexes).
   * @default true
   */
  readonly amcheck?: boolean;
  /**
   * Tables whose row counts must be plausible (at least `minRows`).
   * @default - none
   */
  readonly tables?: RestoreDrillTable[];
  /**
   * The scratch space the backup is restored into: an emptyDir limited to `size`, or, with `storageClass`, a
   * volume of that class made for each run and deleted with its pod (a generic ephemeral volume).
   * @default - an emptyDir limited to the cluster's storage size
   */
  readonly scratch?: { readonly size?: Size; readonly storageClass?: string };
  /**
   * Resources of the drill container (a PostgreSQL server runs in it while it replays and checks).
   * @default requests 100m CPU and 256Mi memory, limit 1Gi memory
   */
  readonly resources?: ResourceProps;
  /**
   * Longest time a drill may run.
   * @default 21600 (6 hours)
   */
  readonly activeDeadlineSeconds?: number;
  /**
   * S3 credentials for the drill, e.g. a read-only user (Rook: a CephObjectStoreUser with `read` caps, or a bucket
   * policy allowing only s3:GetObject and s3:ListBucket). The drill only reads the store: lists, gets, never puts
   * or deletes.
   * @default - the BackupStore's credentials (which can write)
   */
  readonly credentials?: S3CredentialsProps;
}

const SCRATCH_MOUNT = '/var/lib/postgresql/scratch';

/** The store's environment with the drill's own credentials, when it has some (validated here). */
function drillStoreEnv(env: k8s.EnvVar[], credentials: S3CredentialsProps | undefined): k8s.EnvVar[] {
  if (!credentials) return env;
  const prop = 'RestoreDrillProps.credentials';
  checkDnsLabel(`${prop}.secretName`, credentials.secretName ?? '', 253);
  for (const key of ['accessKeyIdKey', 'secretAccessKeyKey'] as const) {
    const v = credentials[key];
    if (v !== undefined && !/^[-._a-zA-Z0-9]{1,253}$/.test(v))
      throw new ValidationError(`${prop}.${key}`, `"${v}" is not a Secret key`, 'Use letters, digits, "-", "_" and "."; e.g. "AccessKey".');
  }
  const ref = (key: string) => ({ secretKeyRef: { name: credentials.secretName, key } });
  return env.map(e =>
    e.name === BACKUP_ENV.accessKeyId
      ? { name: e.name, valueFrom: ref(credentials.accessKeyIdKey ?? 'AccessKey') }
      : e.name === BACKUP_ENV.secretAccessKey
        ? { name: e.name, valueFrom: ref(credentials.secretAccessKeyKey ?? 'SecretKey') }
        : e,
  );
}

/**
 * A CronJob that proves the newest backup restores: `pg-agent verify` restores it into scratch space (checksums
 * verified), replays the archived WAL, starts PostgreSQL, runs pg_amcheck and counts the chosen tables, prints a
 * JSON report and fails the Job when anything is wrong. Of the store it writes only its result,
 * `<serverName>/restore-drill.json`, which the primary exports for ClusterMonitoring's PostgresRestoreDrillFailed
 * alert; it never touches the cluster's pods.
 */
export class RestoreDrill extends Construct {
  readonly cronJob: ApiObject;

  constructor(scope: Construct, id: string, props: RestoreDrillProps) {
    super(scope, id);
    const cluster = props.cluster;
    const backup = cluster.backup?.settings;
    if (!backup)
      throw new ValidationError(
        'RestoreDrillProps.cluster',
        `cluster "${cluster.name}" has no backup`,
        'Set backup on the PostgresCluster: the drill restores its backups.',
      );
    const schedule = toCronJobSchedule('RestoreDrillProps.schedule', props.schedule ?? '0 6 * * 0');
    const replay = props.replay ?? 'latest';
    if (replay !== 'latest' && replay !== 'backup-end')
      throw new ValidationError('RestoreDrillProps.replay', `"${replay}" is not known`, 'Use "latest" or "backup-end".');
    const known = ['postgres', ...cluster.databases.map(d => d.name)];
    const tables = (props.tables ?? []).map((t, i) => {
      const field = `RestoreDrillProps.tables[${i}]`;
      if (!known.includes(t.database))
        throw new ValidationError(
          `${field}.database`,
          `"${t.database}" is not a database of cluster "${cluster.name}"`,
          `Use one of ${known.join(', ')}.`,
        );
      if (!/^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/.test(t.table))
        throw new ValidationError(`${field}.table`, `"${t.table}" is not a table name`, 'Write "table" or "schema.table" (unquoted identifiers).');
      const minRows = t.minRows ?? 1;
      if (!Number.isInteger(minRows) || minRows < 0)
        throw new ValidationError(
          `${field}.minRows`,
          `${minRows} is not a whole number of 0 or more`,
          'Give the fewest rows a healthy restore has, e.g. 1.',
        );
      return { database: t.database, table: t.table, minRows };
    });
    const checks: VerifyChecksSpec = { amcheck: props.amcheck ?? true, tables };
    const deadline = props.activeDeadlineSeconds ?? 21600;
    if (!Number.isInteger(deadline) || deadline < 300)
      throw new ValidationError('RestoreDrillProps.activeDeadlineSeconds', `${deadline} is below 300`, 'Give the drill at least 5 minutes.');

    const sizeLimit = props.scratch?.size ?? cluster.storageSize;
    const quantity = k8s.Quantity.fromString(`${sizeLimit.toMebibytes()}Mi`);
    const scratch: k8s.Volume = props.scratch?.storageClass
      ? {
          name: 'scratch',
          ephemeral: {
            volumeClaimTemplate: {
              spec: { accessModes: ['ReadWriteOnce'], storageClassName: props.scratch.storageClass, resources: { requests: { storage: quantity } } },
            },
          },
        }
      : { name: 'scratch', emptyDir: { sizeLimit: quantity } };
    const ca = backup.store.caVolume();
    const labels = { ...cluster.labels, [LABELS.component]: COMPONENTS.restoreDrill };
    validateResources('RestoreDrillProps.resources', props.resources);
    const resources = renderResources(props.resources ?? { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } });

    // S3 only, no connection to the cluster's pods; the Kubernetes API only to record the result as an Event.
    const sa = names.restoreDrillCronJob(cluster.name);
    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: { name: sa, labels }, automountServiceAccountToken: true });
    eventRecorderRole(this, sa, labels);
    const podSpec: k8s.PodSpec = {
      serviceAccountName: sa,
      automountServiceAccountToken: true,
      restartPolicy: 'Never',
      // Where the cluster's pods may run (its tolerations and node selector).
      ...cluster.jobPlacement,
      securityContext: agentPodSecurityContext(),
      containers: [
        agentContainer({
          name: COMPONENTS.restoreDrill,
          image: cluster.image,
          command: 'verify',
          cluster: cluster.name,
          env: [
            POD_NAME_ENV,
            { name: VERIFY_ENV.scratchDir, value: SCRATCH_MOUNT },
            { name: ENV.socketDir, value: PATHS.socketDir },
            { name: VERIFY_ENV.replay, value: replay },
            { name: VERIFY_ENV.checks, value: JSON.stringify(checks) },
            ...drillStoreEnv(backupEnv(backup), props.credentials),
          ],
          resources,
          volumeMounts: [
            { name: 'scratch', mountPath: SCRATCH_MOUNT },
            { name: 'run', mountPath: PATHS.socketDir },
            { name: 'tmp', mountPath: PATHS.tmpDir },
            ...(ca ? [ca.mount] : []),
          ],
        }),
      ],
      volumes: [scratch, { name: 'run', emptyDir: {} }, { name: 'tmp', emptyDir: {} }, ...(ca ? [ca.volume] : [])],
    };
    this.cronJob = new k8s.KubeCronJob(this, 'CronJob', {
      metadata: { name: names.restoreDrillCronJob(cluster.name), labels },
      spec: scheduledJobSpec(schedule, {
        metadata: { labels },
        // A failed drill is a finding, not a flake to retry away.
        spec: { backoffLimit: 0, activeDeadlineSeconds: deadline, template: { metadata: { labels }, spec: podSpec } },
      }),
    });
  }
}
