/**
 * The reference homelab (../shared/reference story) written with cdk8s-postgres. `npm run synth` renders it into
 * dist/, one file per chart, which Flux or Argo CD applies.
 */
import { App, Chart, Size, YamlOutputType } from 'cdk8s';
import { BackupStore, CanaryApp, ClusterMonitoring, LogicalBackup, PostgresCluster, PriorityClass, RestoreDrill } from './lib';
import { majorUpgradeChart } from './examples/major-upgrade';

/**
 * The story's Rook Ceph object store (the RGW Service, bucket backup-cnpg). Each namespace has its own RGW user,
 * whose Secret Rook creates with the keys AccessKey and SecretKey (the BackupStore defaults).
 */
function rookStore(chart: Chart, user: string): BackupStore {
  return new BackupStore(chart, 'backup-store', {
    endpoint: 'http://rook-ceph-rgw-rgw-bulk.rook-cluster.svc:80',
    bucket: 'backup-cnpg',
    credentials: { secretName: `rook-ceph-object-user-rgw-bulk-cnpg-backup-${user}` },
  });
}

// outdir comes from the cdk8s CLI (cdk8s.yaml `output: dist`), so `cdk8s synth --output` can render elsewhere.
const app = new App({ yamlOutputType: YamlOutputType.FILE_PER_CHART });

// Cluster-wide objects: the homelab's priority class for critical apps such as databases.
const platform = new Chart(app, 'platform');
const critical = new PriorityClass(platform, 'hl-critical', {
  name: 'hl-critical',
  value: 500000000,
  description: 'Priority class for critical Homelab pods',
});

// The story's Keycloak test cluster: 2 instances, pgtune parameters, 2Gi on rbd-fast, a Cilium policy, backups
// to the Rook Ceph RGW bucket shared by all clusters (each under its own folder), with the keys of the Rook
// CephObjectStoreUser Secret.
const keycloak = new Chart(app, 'keycloak', { namespace: 'testsetup', labels: { 'homelab/part-of': 'keycloak-test' } });
const keycloakStore = rookStore(keycloak, 'keycloak');
const keycloakCluster = new PostgresCluster(keycloak, 'keycloak-pg-cluster', {
  name: 'keycloak-pg-cluster',
  instances: 2,
  inheritedLabels: ['homelab/*'],
  databases: [{ name: 'keycloak', owner: 'keycloak' }],
  resources: { requests: { memory: '128Mi', cpu: '100m' } },
  // Rendered into the ConfigMap keycloak-pg-cluster-config: editing a value here restarts no pod. The agents reload
  // it (work_mem…), or restart replicas then switch over once for the few that need it (shared_buffers…).
  parameters: {
    max_connections: '200',
    shared_buffers: '32MB',
    effective_cache_size: '96MB',
    maintenance_work_mem: '8MB',
    checkpoint_completion_target: '0.9',
    wal_buffers: '983kB',
    default_statistics_target: '100',
    random_page_cost: '1.1',
    effective_io_concurrency: '300',
    work_mem: '81kB',
    huge_pages: 'off',
    max_wal_size: '1GB',
  },
  storage: { size: Size.gibibytes(2), storageClass: 'rbd-fast' },
  priorityClass: critical,
  networkPolicy: { cilium: true, allowFrom: [{ podLabels: { app: 'keycloak' } }] },
  backup: {
    store: keycloakStore,
    // The story's ScheduledBackup: daily at midnight (6 fields, seconds first) and one right away.
    schedule: '0 0 0 * * *',
    immediate: true,
    // "the last 14 days, each one of the last 6 months, and one year ago": yearly counts the current year too,
    // so 2 keeps last year's last backup.
    retention: { recoveryWindow: '14d', monthly: 6, yearly: 2 },
  },
});

// The story's wish: "something which produces some test data on a button press, with a small web frontend to read
// the data again, to verify that DB restores worked properly".
// It writes as its own role (insert and read its table only); only the ingress controller may reach its page.
new CanaryApp(keycloak, 'canary', {
  cluster: keycloakCluster,
  networkPolicy: { allowFrom: [{ namespace: 'ingress-nginx', podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } }] },
});

// And the unattended version of that check: every Sunday the newest backup is restored into scratch space, all
// archived WAL replayed, pg_amcheck run and the Keycloak users counted; a failed Job is the alert.
new RestoreDrill(keycloak, 'restore-drill', {
  cluster: keycloakCluster,
  tables: [{ database: 'keycloak', table: 'user_entity', minRows: 1 }],
  // The drill only reads the store: a read-only object store user (Rook CephObjectStoreUser with read caps).
  credentials: { secretName: 'rook-ceph-object-user-rgw-bulk-cnpg-restore-drill' },
});

// What the reference user really wanted: one cluster, several databases, each app with its own Secret.
const apps = new Chart(app, 'shared-apps', { namespace: 'databases', labels: { 'homelab/part-of': 'shared-postgres' } });
const appsStore = rookStore(apps, 'shared');
const sharedPg = new PostgresCluster(apps, 'shared-pg', {
  name: 'shared-pg',
  instances: 2,
  inheritedLabels: ['homelab/*'],
  databases: [
    { name: 'mastodon', owner: 'mastodon' },
    { name: 'nextcloud', owner: 'nextcloud' },
    { name: 'gitea', owner: 'gitea' },
  ],
  resources: { requests: { memory: '1Gi', cpu: '500m' }, limits: { memory: '2Gi' } },
  // Commits wait for the replica while it streams: a failover then loses no acknowledged commit.
  synchronous: { number: 1, dataDurability: 'preferred' },
  tuning: { workload: 'web', storage: 'san' },
  storage: { size: Size.gibibytes(20), storageClass: 'rbd-fast' },
  priorityClass: critical,
  // The homelab mixes Raspberry Pis and x86 nodes: one instance on each architecture when it can, and the
  // storage nodes' taint tolerated (the default anti-affinity, one instance per node, stays).
  topologySpreadConstraints: [{ topologyKey: 'kubernetes.io/arch' }],
  tolerations: [{ key: 'homelab/storage', operator: 'Exists', effect: 'NoSchedule' }],
  networkPolicy: {
    cilium: true,
    kubernetes: true,
    allowFrom: [
      { podLabels: { app: 'mastodon' }, namespace: 'mastodon' },
      { podLabels: { app: 'nextcloud' }, namespace: 'nextcloud' },
      { podLabels: { app: 'gitea' }, namespace: 'gitea' },
    ],
    // The homelab's kube-prometheus-stack scrapes the metrics port (and only that port) from its namespace.
    metricsFrom: { namespace: 'monitoring', podLabels: { 'app.kubernetes.io/name': 'prometheus' } },
  },
  backup: {
    store: appsStore,
    schedule: '30 3 * * *',
    // zstd: smaller and faster than gzip, restorable by our agent only (not by barman-cloud).
    compression: 'zstd',
    backupFromStandby: true,
    retention: { daily: 14, weekly: 8, monthly: 12, yearly: 3 },
  },
});

// A physical restore rolls every app of the cluster back together; a nightly pg_dump of each database lets one app
// go back alone: `pg-agent restore-database mastodon --from <id>` (or a DatabaseRestore Job, see
// examples/restore-one-database.ts) restores into a new database beside the live one.
new LogicalBackup(apps, 'shared-pg-dumps', {
  cluster: sharedPg,
  schedule: '0 4 * * *',
  retention: { recoveryWindow: '7d', weekly: 4, monthly: 6 },
});

// Its PodMonitor, alerts (PrometheusRule) and Grafana dashboard, for the kube-prometheus-stack release that selects
// objects labelled release=kube-prometheus-stack.
new ClusterMonitoring(apps, 'shared-pg-monitoring', { cluster: sharedPg, labels: { release: 'kube-prometheus-stack' } });

// Disaster recovery as in the story: a new cluster bootstrapped from the Keycloak cluster's backups (the bucket
// credentials survive the old cluster). It replays all archived WAL ("latest"); set `target: { time }` for a
// point in time. It archives into its own folder, keycloak-pg-restored/, never into its ancestor's.
const restore = new Chart(app, 'keycloak-restore', { namespace: 'testsetup', labels: { 'homelab/part-of': 'keycloak-test' } });
new PostgresCluster(restore, 'keycloak-pg-restored', {
  name: 'keycloak-pg-restored',
  instances: 2,
  inheritedLabels: ['homelab/*'],
  databases: [{ name: 'keycloak', owner: 'keycloak' }],
  resources: { requests: { memory: '128Mi', cpu: '100m' } },
  storage: { size: Size.gibibytes(2), storageClass: 'rbd-fast' },
  priorityClass: critical,
  bootstrap: { recovery: { store: keycloakStore, serverName: 'keycloak-pg-cluster' } },
  backup: { store: keycloakStore, retention: { recoveryWindow: '14d' } },
});

// The story's other wish: move the old Nomad PostgreSQL in by streaming replication instead of dump/restore. The
// new cluster clones it and follows it as a read-only standby; on migration day, stop the apps, wait until the
// standby has replayed everything, set `follow: false` and let Flux apply: the cluster promotes and is on its own.
const migration = new Chart(app, 'nextcloud-migration', { namespace: 'nextcloud', labels: { 'homelab/part-of': 'nextcloud' } });
new PostgresCluster(migration, 'nextcloud-pg', {
  name: 'nextcloud-pg',
  instances: 2,
  inheritedLabels: ['homelab/*'],
  // The source's databases and roles come along; declaring them gives each its app Secret.
  databases: [{ name: 'nextcloud', owner: 'nextcloud' }],
  resources: { requests: { memory: '512Mi', cpu: '250m' } },
  storage: { size: Size.gibibytes(10), storageClass: 'rbd-fast' },
  priorityClass: critical,
  bootstrap: {
    pgBasebackup: {
      host: 'postgres.service.nomad.home.arpa',
      user: 'replicator',
      passwordSecret: { name: 'nomad-postgres-replicator' },
      sslmode: 'require',
      follow: true,
    },
  },
  // Backups start with the promotion (a standby of another server has no WAL of its own to archive).
  backup: {
    store: rookStore(migration, 'nextcloud'),
    schedule: '0 4 * * *',
    retention: { recoveryWindow: '30d' },
  },
});

// A major upgrade, blue-green: a PostgreSQL 17 cluster imports the PostgreSQL 15 one (docs/major-upgrade.md).
majorUpgradeChart(app);

app.synth();
