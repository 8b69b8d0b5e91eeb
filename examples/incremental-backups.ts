/**
 * Block-level incremental backups (docs/backups-incremental.md): every night only the pages changed since the last
 * backup, a full backup every week. Run with `npx ts-node examples/incremental-backups.ts` (writes dist-examples/).
 */
import { App, Chart, Size, YamlOutputType } from 'cdk8s';
import { BackupStore, PostgresCluster } from '../lib';

export function incrementalChart(app: App): Chart {
  const chart = new Chart(app, 'nightly-incremental', { namespace: 'databases' });
  const store = new BackupStore(chart, 'store', {
    endpoint: 'http://rook-ceph-rgw-rgw-bulk.rook-cluster.svc:80',
    bucket: 'backup-cnpg',
    credentials: { secretName: 'rook-ceph-object-user-rgw-bulk-cnpg-backup-app' },
  });
  new PostgresCluster(chart, 'app-pg', {
    name: 'app-pg',
    instances: 2,
    databases: [{ name: 'app', owner: 'app' }],
    storage: { size: Size.gibibytes(10), storageClass: 'rbd-fast' },
    backup: {
      store,
      schedule: '0 1 * * *',
      compression: 'zstd',
      // A chain: Monday's full backup, then an incremental each night; retention never deletes a link a kept backup needs.
      incremental: { fullEvery: '7d' },
      retention: { recoveryWindow: '14d' },
    },
  });
  return chart;
}

if (require.main === module) {
  const app = new App({ outdir: 'dist-examples', yamlOutputType: YamlOutputType.FILE_PER_CHART });
  incrementalChart(app);
  app.synth();
}
