/**
 * The alerts of a cluster's PrometheusRule, as data: each rule's PromQL names only series the agent exports
 * (`pgc_*`, docs/monitoring.md).
 */
import { CronExpressionParser } from 'cron-parser';
import { names } from '../contract';

export interface AlertThresholds {
  /** Replication lag (seconds) above which a replica counts as lagging. */
  readonly replicationLagSeconds: number;
  /** Replication lag (bytes) above which a replica counts as lagging. */
  readonly replicationLagBytes: number;
  /** Transaction ID age at which wraparound counts as near. */
  readonly xidAge: number;
  /** Data volume use (percent) that fires. */
  readonly dataVolumePercent: number;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

export interface AlertContext {
  readonly cluster: string;
  readonly namespace?: string;
  readonly instances: number;
  /** The cluster hibernates (no pods, backups suspended): only the volume alert stays, nothing else can be true. */
  readonly hibernated?: boolean;
  /** The base backup schedule (5-field cron) and the Job's deadline, when the cluster backs up. */
  readonly backup?: { readonly schedule: string; readonly deadlineSeconds: number };
  readonly thresholds: AlertThresholds;
  readonly severity: { readonly critical: string; readonly warning: string };
}

/**
 * The longest time between two consecutive runs of a cron schedule (UTC), over the runs of a year from a fixed
 * date, so synth stays deterministic.
 */
export function longestScheduleGapSeconds(schedule: string): number {
  const it = CronExpressionParser.parse(schedule, { currentDate: new Date('2025-01-01T00:00:00Z'), tz: 'Etc/UTC' });
  const end = Date.parse('2026-01-01T00:00:00Z');
  let previous = it.next().getTime();
  let longest = 0;
  for (let i = 0; i < 100000; i++) {
    const next = it.next().getTime();
    longest = Math.max(longest, next - previous);
    if (next > end) break;
    previous = next;
  }
  return Math.round(longest / 1000);
}

/** A PromQL duration from seconds (`90000` → `25h`, `5400` → `90m`). */
function duration(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600}h` : seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

export function clusterAlerts(ctx: AlertContext): AlertRule[] {
  // Without a namespace in the chart, the objects land where they are applied: match on the cluster name only.
  const ns = ctx.namespace ? `namespace="${ctx.namespace}",` : '';
  const sel = `${ns}cluster="${ctx.cluster}"`;
  const where = ctx.namespace ? `${ctx.namespace}/${ctx.cluster}` : ctx.cluster;
  const runbook = 'https://github.com/cdk8s-postgres/cdk8s-postgres/blob/main/docs/monitoring.md';
  const t = ctx.thresholds;
  const rule = (alert: string, severity: string, expr: string, forDuration: string, summary: string, description: string): AlertRule => ({
    alert,
    expr,
    for: forDuration,
    labels: { severity, cluster: ctx.cluster },
    annotations: { summary: `${where}: ${summary}`, description, runbook_url: `${runbook}#${alert.toLowerCase()}` },
  });
  const rules: AlertRule[] = [
    rule(
      'PostgresNoPrimary',
      ctx.severity.critical,
      `(sum(pgc_role{${sel},role="primary"} * on(namespace, pod) pgc_up{${sel}}) or vector(0)) < 1`,
      '1m',
      'no instance is a primary that accepts connections',
      "Writes fail. A failover takes about the lease duration (15 s by default); longer means no replica may be promoted: read the replicas' logs (`no failover: …` with a fix).",
    ),
  ];
  if (ctx.instances > 1) {
    rules.push(
      rule(
        'PostgresReplicaNotStreaming',
        ctx.severity.warning,
        `max(pgc_streaming_replicas{${sel}}) < ${ctx.instances - 1}`,
        '5m',
        'fewer replicas stream from the primary than the cluster has',
        "A failover may have nowhere to go, and with synchronous `required` commits wait. Look at the missing replica's pod and log.",
      ),
      rule(
        'PostgresReplicationLagHigh',
        ctx.severity.warning,
        `max by (namespace, pod, replica) (pgc_replication_lag_seconds{${sel},replica!=""}) > ${t.replicationLagSeconds} or max by (namespace, pod, replica) (pgc_replication_lag_bytes{${sel},replica!=""}) > ${t.replicationLagBytes}`,
        '5m',
        'replica {{ $labels.replica }} lags behind the primary',
        `Its replay is more than ${t.replicationLagSeconds} s or ${t.replicationLagBytes} bytes behind: reads on -ro are stale and a failover to it may be refused (failover.maxLagBytes).`,
      ),
    );
  }
  if (ctx.backup) {
    const allowed = longestScheduleGapSeconds(ctx.backup.schedule) + ctx.backup.deadlineSeconds;
    rules.push(
      rule(
        'PostgresWalArchivingFailing',
        ctx.severity.critical,
        // Both are 0 for "never": a failure after the last success, lasting 10 minutes.
        `pgc_wal_last_failed_timestamp_seconds{${sel}} > on(namespace, pod) pgc_wal_last_archived_timestamp_seconds{${sel}}`,
        '10m',
        'WAL archiving on {{ $labels.pod }} has been failing for 10 minutes',
        "The last archive attempt failed and none succeeded since: point-in-time recovery stops at the last archived segment and pg_wal grows. Look for `archive` lines in the pod's log (store unreachable, credentials, bucket policy).",
      ),
      rule(
        'PostgresWalArchiveBacklog',
        ctx.severity.warning,
        `pgc_wal_archive_ready_files{${sel}} > 32`,
        '15m',
        'WAL files are piling up unarchived on {{ $labels.pod }}',
        'More than 32 segments (512 MiB) wait for the archiver: the store is slow or failing.',
      ),
      rule(
        'PostgresBaseBackupTooOld',
        ctx.severity.warning,
        `time() - max(pgc_last_base_backup_timestamp_seconds{${sel}}) > ${allowed}`,
        '10m',
        'the newest complete base backup is older than the schedule allows',
        `The schedule "${ctx.backup.schedule}" runs at least every ${duration(allowed - ctx.backup.deadlineSeconds)}, and a run may take up to ${duration(ctx.backup.deadlineSeconds)}. Look at the CronJob ${names.backupCronJob(ctx.cluster)}'s last Jobs.`,
      ),
      rule(
        'PostgresRestoreDrillFailed',
        ctx.severity.warning,
        // The drill (RestoreDrill, or any pg-agent verify) records its last success and failure in the store; the
        // primary exports them. Both 0 while no drill ran: a cluster without a RestoreDrill never fires.
        `max(pgc_restore_drill_last_failed_timestamp_seconds{${sel}}) > max(pgc_restore_drill_last_succeeded_timestamp_seconds{${sel}})`,
        '1m',
        'the last restore drill failed',
        `The newest backup did not restore, replay or pass its checks: read the failures in the DrillFailed event or the log of the CronJob ${names.restoreDrillCronJob(ctx.cluster)}'s last Job. Keep the older backups (pause retention) and take a new backup.`,
      ),
    );
  }
  rules.push(
    rule(
      'PostgresDataVolumeFull',
      ctx.severity.warning,
      // As df counts: root's reserved blocks are not PostgreSQL's to use.
      `max by (namespace, pod) (100 * pgc_volume_used_bytes{${sel}} / on(namespace, pod) (pgc_volume_used_bytes{${sel}} + on(namespace, pod) pgc_volume_available_bytes{${sel}})) > ${t.dataVolumePercent}`,
      '5m',
      'the data volume of {{ $labels.pod }} is more than ' + t.dataVolumePercent + ' % full',
      'PostgreSQL stops when the volume is full. Raise storage.size (the claims grow where the StorageClass allows expansion) or find what grows (WAL kept for a replica or the archiver, a large table).',
    ),
    rule(
      'PostgresXidWraparoundNear',
      ctx.severity.critical,
      `max by (namespace, pod, datname) (pgc_database_xid_age{${sel}}) > ${t.xidAge}`,
      '5m',
      'database {{ $labels.datname }} nears transaction ID wraparound',
      'PostgreSQL stops accepting writes at about 2 billion. Find what blocks freezing (a long transaction, an abandoned replication slot or prepared transaction) and VACUUM FREEZE the database.',
    ),
  );
  // Hibernating on purpose: no primary, no replica, no archiving and no new backups are expected.
  return ctx.hibernated ? rules.filter(r => r.alert === 'PostgresDataVolumeFull') : rules;
}
