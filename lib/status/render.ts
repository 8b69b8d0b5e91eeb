/**
 * The one screen of `pg-agent status` and `cdk8s-postgres status`, rendered from a {@link StatusReport}. Pure and
 * dependency-free (the npm package's bin uses it): ages are relative to the report's own `generatedAt`.
 */
import { ReplicaStatus, STATUS_REPORT_VERSION, Section, StatusReport, Unavailable, isUnavailable } from './report';

const LABEL_WIDTH = 15;

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** `2026-12-03 16:30:00Z (3 min ago)` or `(in 2.0 h)`. */
function when(iso: string, now: number): string {
  const t = Date.parse(iso);
  const shown = new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  const delta = (now - t) / 1000;
  return `${shown} (${delta >= 0 ? `${formatDuration(delta)} ago` : `in ${formatDuration(-delta)}`})`;
}

function replicaLine(r: ReplicaStatus): string {
  const lag = [
    r.lagBytes === undefined ? 'lag ? B' : `lag ${formatBytes(r.lagBytes)}`,
    r.lagSeconds === undefined ? '? s' : formatDuration(r.lagSeconds),
  ];
  return [r.state, r.syncState, lag.join(' / ')].filter(Boolean).join('  ');
}

export function renderStatus(report: StatusReport): string {
  if (report.version > STATUS_REPORT_VERSION) {
    throw new Error(`this status report has version ${report.version}, newer than this renderer's ${STATUS_REPORT_VERSION}: upgrade cdk8s-postgres`);
  }
  const now = Date.parse(report.generatedAt);
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`${`${label}:`.padEnd(LABEL_WIDTH)}${text}`);
  const more = (text: string) => lines.push(`${''.padEnd(LABEL_WIDTH)}${text}`);
  const section = <T extends object>(label: string, s: Section<T>, fn: (v: T) => void) => {
    if (isUnavailable(s)) row(label, `unavailable: ${(s as Unavailable).unavailable}`);
    else fn(s as T);
  };

  lines.push(
    `Cluster ${report.cluster} in namespace ${report.namespace}, seen from ${report.observedFrom.pod} (${report.observedFrom.role}) at ${when(report.generatedAt, now).split(' (')[0]}`,
  );
  const pg = isUnavailable(report.postgres) ? undefined : report.postgres;
  row(
    'Primary',
    report.primary
      ? `${report.primary}${pg ? `   timeline ${pg.timeline}   ${pg.role === 'primary' ? `LSN ${pg.lsn}` : `replayed ${pg.lsn}`}   PostgreSQL ${pg.version}` : ''}`
      : 'NONE (no valid Lease holder and no pod labelled primary)',
  );
  if (isUnavailable(report.postgres)) row('PostgreSQL', `unavailable: ${report.postgres.unavailable}`);
  section('Lease', report.lease, l => {
    if (!l.holder) {
      row('Lease', 'not held');
      return;
    }
    const age = l.renewAgeSeconds === undefined ? '' : `, renewed ${formatDuration(l.renewAgeSeconds)} ago`;
    row('Lease', `held by ${l.holder}${age}${l.durationSeconds ? ` (valid ${l.durationSeconds} s)` : ''}${l.expired ? '  EXPIRED' : ''}`);
  });
  const replicas = isUnavailable(report.replication) ? undefined : report.replication;
  section('Instances', report.instances, i => {
    row('Instances', `${i.pods.filter(p => p.ready).length} of ${i.expected} ready`);
    const width = Math.max(...i.pods.map(p => p.name.length), 0) + 2;
    for (const p of i.pods) {
      const r = replicas?.replicas.find(x => x.name === p.name);
      const state = [p.role ?? 'no role', p.ready ? 'ready' : `NOT READY (${p.phase})`].join('  ');
      more(`${p.name.padEnd(width)}${state.padEnd(20)}${r ? replicaLine(r) : ''}`.trimEnd());
    }
    // Replicas the primary streams to that are not pods of this cluster's StatefulSet (e.g. an external standby).
    for (const r of replicas?.replicas.filter(x => !i.pods.some(p => p.name === x.name)) ?? [])
      more(`${r.name.padEnd(width)}${''.padEnd(20)}${replicaLine(r)}`);
  });
  if (isUnavailable(report.replication)) row('Replication', `unavailable: ${report.replication.unavailable}`);
  else if (report.replication.source === 'annotations')
    more('(replica lag from the positions the replicas publish; run on the primary for pg_stat_replication)');
  section('Archiving', report.archiving, a => {
    const last =
      a.lastArchivedWal && a.lastArchivedTime ? `last archived ${a.lastArchivedWal} at ${when(a.lastArchivedTime, now)}` : 'nothing archived yet';
    row('Archiving', `${a.failing ? 'FAILING' : 'ok'}   ${last}`);
    if (a.lastFailedWal && a.lastFailedTime)
      more(`last failure ${a.lastFailedWal} at ${when(a.lastFailedTime, now)} (${a.failedCount} failed attempts)`);
    if (a.readyFiles > 0) more(`${a.readyFiles} segment(s) waiting to be archived`);
  });
  section('Base backups', report.backups, b => {
    row(
      'Base backups',
      b.lastCompleted
        ? `last ${b.lastCompleted.backupId} ended ${when(b.lastCompleted.endTime, now)}, ${formatBytes(b.lastCompleted.storedBytes)} stored`
        : 'no complete backup',
    );
    if (b.inProgress) more(`running or interrupted: ${b.inProgress.backupId} since ${when(b.inProgress.beginTime, now)}`);
    if (b.lastFailed)
      more(`last failed: ${b.lastFailed.backupId} at ${when(b.lastFailed.time, now)}${b.lastFailed.error ? `: ${b.lastFailed.error}` : ''}`);
    if (b.suspended) more(`next: none, the CronJob is suspended (schedule ${b.schedule})`);
    else if (b.nextTime) more(`next ${when(b.nextTime, now)} (schedule ${b.schedule}, UTC)`);
    else more('next: unknown (the backup CronJob could not be read)');
    const policy = b.retention
      ? Object.entries(b.retention)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
      : 'none';
    row('Retention', `${b.kept} kept${b.oldest ? `, oldest ${b.oldest.backupId} ended ${when(b.oldest.endTime, now)}` : ''}; policy: ${policy}`);
  });
  section('Recoverable', report.recoverable, r => {
    if (!r.from) {
      row('Recoverable', 'nothing: no complete base backup');
      return;
    }
    const to = r.toWal ? `WAL ${r.toWal} (timeline ${r.timeline})` : 'the end of the backup (no WAL archived after it)';
    row('Recoverable', `from ${when(r.from, now).split(' (')[0]} (end of ${r.fromBackup}) to ${to}`);
    if (!r.continuous) more(`GAP: ${r.missing} is missing from the archive; a restore stops before it`);
  });
  section('Restore drill', report.drill, d => {
    const at =
      d.result === 'succeeded' && d.lastSuccessfulTime
        ? ` at ${when(d.lastSuccessfulTime, now)}`
        : d.lastScheduleTime
          ? ` (run at ${when(d.lastScheduleTime, now)})`
          : '';
    row('Restore drill', `${d.result.toUpperCase() === 'FAILED' ? 'FAILED' : d.result}${at}${d.detail ? `: ${d.detail}` : ''}`);
  });
  return lines.join('\n') + '\n';
}
