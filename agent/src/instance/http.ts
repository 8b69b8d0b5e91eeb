/**
 * The agent's HTTP endpoints for the kubelet and Prometheus: /healthz (the agent and its supervision are alive),
 * /readyz (PostgreSQL accepts connections; a replica streams within the lag bound), /metrics (text format).
 */
import * as http from 'http';
import { InstanceStatus } from './sql';
import { DiskUsage, diskMetrics } from './disk-usage';

export interface HealthSource {
  alive(): boolean;
  ready(): { ok: boolean; reason: string };
  metrics(): string;
}

export function serveHttp(port: number, source: HealthSource): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'Content-Type': type });
      res.end(body);
    };
    if (req.url === '/healthz') return source.alive() ? send(200, 'ok\n') : send(503, 'not alive\n');
    if (req.url === '/readyz') {
      const r = source.ready();
      return send(r.ok ? 200 : 503, `${r.reason}\n`);
    }
    if (req.url === '/metrics') return send(200, source.metrics(), 'text/plain; version=0.0.4; charset=utf-8');
    return send(404, 'not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve(server));
  });
}

/** Prometheus text exposition of the instance's state. */
export function renderMetrics(m: {
  cluster: string;
  pod: string;
  role?: string;
  up: boolean;
  restarts: number;
  failovers?: number;
  switchovers?: number;
  fencings?: number;
  safetyWaits?: number;
  status?: InstanceStatus;
  disk?: DiskUsage;
  /** The Lease as this agent sees it: the holder, whether it is this pod, and seconds since it was last renewed. */
  lease?: { holder?: string; heldByMe: boolean; renewAgeSeconds: number };
  extra?: (labels: string) => string[];
}): string {
  const l = `cluster="${m.cluster}",pod="${m.pod}"`;
  const out: string[] = [];
  const metric = (name: string, help: string, type: string, lines: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
  };
  metric('pgc_up', 'PostgreSQL accepts connections (1) or not (0).', 'gauge', [`pgc_up{${l}} ${m.up ? 1 : 0}`]);
  metric(
    'pgc_role',
    'Role of this instance (1 for the current role).',
    'gauge',
    ['primary', 'replica'].map(r => `pgc_role{${l},role="${r}"} ${m.role === r ? 1 : 0}`),
  );
  if (m.lease && Number.isFinite(m.lease.renewAgeSeconds)) {
    const lease = m.lease;
    metric('pgc_lease_held', 'This instance holds the primary Lease (1) or not (0).', 'gauge', [`pgc_lease_held{${l}} ${lease.heldByMe ? 1 : 0}`]);
    if (lease.holder)
      metric('pgc_lease_holder_info', 'The primary Lease holder this instance sees (the holder label).', 'gauge', [
        `pgc_lease_holder_info{${l},holder="${lease.holder.replace(/["\\\n]/g, '_')}"} 1`,
      ]);
    metric(
      'pgc_lease_renew_age_seconds',
      'Seconds since the Lease was last renewed: by this instance when it holds it, else since its record last changed.',
      'gauge',
      [`pgc_lease_renew_age_seconds{${l}} ${Math.round(lease.renewAgeSeconds * 10) / 10}`],
    );
  }
  metric('pgc_postgres_restarts_total', 'Times the agent restarted a crashed postgres.', 'counter', [
    `pgc_postgres_restarts_total{${l}} ${m.restarts}`,
  ]);
  metric('pgc_failovers_total', "Times this instance was promoted because the primary's lease expired.", 'counter', [
    `pgc_failovers_total{${l}} ${m.failovers ?? 0}`,
  ]);
  metric('pgc_switchovers_total', 'Times this instance was promoted by a planned switchover.', 'counter', [
    `pgc_switchovers_total{${l}} ${m.switchovers ?? 0}`,
  ]);
  metric('pgc_fencings_total', 'Times this primary stopped postgres because it could not renew its lease in time.', 'counter', [
    `pgc_fencings_total{${l}} ${m.fencings ?? 0}`,
  ]);
  metric(
    'pgc_safety_waits_total',
    'Times a safety decision refused or waited (a rejoin that would destroy data, a switchover that could lose writes).',
    'counter',
    [`pgc_safety_waits_total{${l}} ${m.safetyWaits ?? 0}`],
  );
  if (m.status) {
    metric(
      'pgc_replication_lag_bytes',
      'Replica: WAL received but not replayed. Primary: per replica, WAL not yet replayed there.',
      'gauge',
      m.status.inRecovery
        ? [`pgc_replication_lag_bytes{${l}} ${m.status.replayLagBytes}`]
        : m.status.replicas.map(r => `pgc_replication_lag_bytes{${l},replica="${r.name}"} ${r.lagBytes}`),
    );
    metric('pgc_wal_archived_total', 'WAL segments archived (pg_stat_archiver).', 'counter', [
      `pgc_wal_archived_total{${l}} ${m.status.archiver.archived}`,
    ]);
    metric('pgc_wal_archive_failed_total', 'Failed WAL archive attempts (pg_stat_archiver).', 'counter', [
      `pgc_wal_archive_failed_total{${l}} ${m.status.archiver.failed}`,
    ]);
    if (m.status.archiver.lastArchivedAgeSeconds !== undefined) {
      metric('pgc_wal_last_archived_age_seconds', 'Seconds since the last WAL segment was archived.', 'gauge', [
        `pgc_wal_last_archived_age_seconds{${l}} ${m.status.archiver.lastArchivedAgeSeconds.toFixed(0)}`,
      ]);
    }
  }
  out.push(...diskMetrics(l, m.disk));
  // The background observations (observed-metrics.ts).
  if (m.extra) out.push(...m.extra(l));
  return out.join('\n') + '\n';
}
