/**
 * Logical backups of a cluster with several databases, and the GitOps way to bring one of them back
 * (docs/logical-backups.md). Run with `npx ts-node examples/restore-one-database.ts` (writes dist-examples/).
 *
 * Commit the DatabaseRestore only for the restore: Flux or Argo CD applies the Job once, its log says where the data
 * went (`nextcloud_restored_<backup id>` by default, beside the live database), and the commit after removes it.
 */
import { App, Chart, Size, YamlOutputType } from 'cdk8s';
import { BackupStore, DatabaseRestore, LogicalBackup, PostgresCluster } from '../lib';

export function restoreOneDatabaseChart(app: App): Chart {
  const chart = new Chart(app, 'apps-db', { namespace: 'databases' });
  const store = new BackupStore(chart, 'store', {
    endpoint: 'http://rook-ceph-rgw-rgw-bulk.rook-cluster.svc:80',
    bucket: 'backup-cnpg',
    credentials: { secretName: 'rook-ceph-object-user-rgw-bulk-cnpg-backup-apps' },
  });
  const cluster = new PostgresCluster(chart, 'apps-pg', {
    name: 'apps-pg',
    instances: 2,
    databases: [
      { name: 'nextcloud', owner: 'nextcloud' },
      { name: 'gitea', owner: 'gitea' },
    ],
    storage: { size: Size.gibibytes(10) },
    backup: { store, retention: { recoveryWindow: '14d' } },
  });
  // Nightly pg_dump of each database into apps-pg/logical/<db>/ of the same store; a week of dumps, then one a month.
  new LogicalBackup(chart, 'dumps', { cluster, schedule: '0 3 * * *', retention: { recoveryWindow: '7d', monthly: 6 } });
  // The Nextcloud upgrade went wrong: last night's dump of nextcloud, into a new database beside the live one.
  new DatabaseRestore(chart, 'undo-nextcloud', { cluster, database: 'nextcloud', from: 'latest' });
  return chart;
}

if (require.main === module) {
  const app = new App({ outdir: 'dist-examples', yamlOutputType: YamlOutputType.FILE_PER_CHART });
  restoreOneDatabaseChart(app);
  app.synth();
}
