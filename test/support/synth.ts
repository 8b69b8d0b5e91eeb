/**
 * Clusters the e2e tests synthesize themselves (variants the homelab's dist/ does not render), the way a user's
 * app does: a Chart in namespace `databases`, a BackupStore whose endpoint and bucket the harness rewrites to the
 * test RGW's (`storeEnvRewrite`), and the PostgresCluster.
 */
import { Chart, Size, Testing } from 'cdk8s';
import { BackupProps, BackupStore, PostgresCluster, PostgresClusterProps } from '../../lib';
import { KubeObject } from './manifests';

/** The Secret with the store's keys the tests seed (`h.seedSecret(STORE_SECRET, { AccessKey, SecretKey })`). */
export const STORE_SECRET = 'drill-s3';

/** Cluster props over the defaults below; `backup` is merged into the one with the test store. */
export type SynthProps = Partial<Omit<PostgresClusterProps, 'backup'>> & { backup?: Partial<BackupProps> };

/**
 * 2 instances, database `app` owned by `app`, 1 GiB volumes, backups to the store; `props` override any of it.
 * `beside` adds objects that need the cluster (a ClusterMonitoring, a RestoreDrill) to the same chart.
 */
export function synthWithStore(name: string, props: SynthProps = {}, beside?: (chart: Chart, cluster: PostgresCluster) => void): KubeObject[] {
  const chart = new Chart(Testing.app(), name, { namespace: 'databases' });
  const store = new BackupStore(chart, 'backup-store', {
    endpoint: 'http://rgw.example:80',
    bucket: 'drills',
    credentials: { secretName: STORE_SECRET },
  });
  const { backup, ...rest } = props;
  const cluster = new PostgresCluster(chart, name, {
    name,
    instances: 2,
    databases: [{ name: 'app', owner: 'app' }],
    storage: { size: Size.gibibytes(1) },
    ...rest,
    backup: { store, ...backup },
  });
  beside?.(chart, cluster);
  return Testing.synth(chart) as KubeObject[];
}
