/**
 * A Grafana dashboard for one cluster (JSON model, schemaVersion 39), for Grafana's dashboard sidecar. Every query
 * reads `pgc_*` series the agent exports (docs/monitoring.md).
 */
interface Panel {
  title: string;
  type: 'timeseries' | 'stat';
  unit: string;
  targets: Array<{ expr: string; legend: string }>;
  description: string;
}

export function clusterDashboard(cluster: string, namespace: string | undefined): Record<string, unknown> {
  const sel = `${namespace ? `namespace="${namespace}",` : ''}cluster="${cluster}"`;
  const panels: Panel[] = [
    {
      title: 'Primary',
      type: 'stat',
      unit: 'none',
      description: 'The pod that is primary and accepts connections.',
      targets: [{ expr: `pgc_role{${sel},role="primary"} * on(namespace, pod) pgc_up{${sel}} == 1`, legend: '{{pod}}' }],
    },
    {
      title: 'Timeline',
      type: 'stat',
      unit: 'none',
      description: 'Each failover or switchover starts a new timeline.',
      targets: [{ expr: `max(pgc_timeline_id{${sel}})`, legend: 'timeline' }],
    },
    {
      title: 'Replication lag (seconds)',
      type: 'timeseries',
      unit: 's',
      description: 'Per replica, from the primary (pg_stat_replication).',
      targets: [{ expr: `pgc_replication_lag_seconds{${sel},replica!=""}`, legend: '{{replica}}' }],
    },
    {
      title: 'Replication lag (bytes)',
      type: 'timeseries',
      unit: 'bytes',
      description: 'WAL the replica has not replayed yet.',
      targets: [{ expr: `pgc_replication_lag_bytes{${sel},replica!=""}`, legend: '{{replica}}' }],
    },
    {
      title: 'Connections',
      type: 'timeseries',
      unit: 'none',
      description: 'Client connections by state, and max_connections.',
      targets: [
        { expr: `sum by (pod, state) (pgc_connections{${sel}})`, legend: '{{pod}} {{state}}' },
        { expr: `max(pgc_max_connections{${sel}})`, legend: 'max_connections' },
      ],
    },
    {
      title: 'Database size',
      type: 'timeseries',
      unit: 'bytes',
      description: 'On the primary.',
      targets: [
        {
          expr: `max by (datname) (pgc_database_size_bytes{${sel}} * on(namespace, pod) group_left pgc_role{${sel},role="primary"})`,
          legend: '{{datname}}',
        },
      ],
    },
    {
      title: 'WAL archiving',
      type: 'timeseries',
      unit: 'none',
      description: 'Segments archived per minute, failures per minute, and the .ready backlog.',
      targets: [
        { expr: `sum by (pod) (rate(pgc_wal_archived_total{${sel}}[5m])) * 60`, legend: '{{pod}} archived/min' },
        { expr: `sum by (pod) (rate(pgc_wal_archive_failed_total{${sel}}[5m])) * 60`, legend: '{{pod}} failed/min' },
        { expr: `pgc_wal_archive_ready_files{${sel}}`, legend: '{{pod}} waiting' },
      ],
    },
    {
      title: 'Newest base backup age',
      type: 'stat',
      unit: 's',
      description: 'Since the newest complete base backup ended.',
      targets: [{ expr: `time() - max(pgc_last_base_backup_timestamp_seconds{${sel}})`, legend: 'age' }],
    },
    {
      title: 'Transaction ID age',
      type: 'timeseries',
      unit: 'none',
      description: 'Wraparound at about 2 billion; autovacuum freezes from 200 million.',
      targets: [{ expr: `max by (datname) (pgc_database_xid_age{${sel}})`, legend: '{{datname}}' }],
    },
    {
      title: 'Data volume use',
      type: 'timeseries',
      unit: 'percent',
      description: 'Of what PostgreSQL may use (as df counts), per instance.',
      targets: [
        {
          expr: `100 * pgc_volume_used_bytes{${sel}} / on(namespace, pod) (pgc_volume_used_bytes{${sel}} + on(namespace, pod) pgc_volume_available_bytes{${sel}})`,
          legend: '{{pod}}',
        },
      ],
    },
  ];
  return {
    title: `PostgreSQL ${namespace ? `${namespace}/` : ''}${cluster}`,
    uid: `pgc-${namespace ? `${namespace}-` : ''}${cluster}`.slice(0, 40),
    tags: ['postgresql', 'cdk8s-postgres'],
    timezone: 'utc',
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    refresh: '1m',
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }] },
    panels: panels.map((p, i) => ({
      id: i + 1,
      title: p.title,
      description: p.description,
      type: p.type,
      datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      targets: p.targets.map((t, j) => ({ refId: String.fromCharCode(65 + j), expr: t.expr, legendFormat: t.legend })),
    })),
  };
}
