/**
 * A major upgrade the blue-green way (docs/major-upgrade.md): beside the running PostgreSQL 15 cluster `gitea-pg`,
 * a PostgreSQL 17 cluster `gitea-pg17` imports every database and role from the old one's `-rw` Service
 * (`bootstrap.import`), as the old cluster's superuser over TLS verified with the old cluster's CA. Once it is ready
 * and checked, the app is pointed at `gitea-pg17-app`, and a later commit removes `gitea-pg`.
 *
 * `npm run synth` renders this chart into dist/gitea-upgrade.k8s.yaml (main.ts); alone:
 * `npx ts-node examples/major-upgrade.ts` (writes dist-examples/).
 */
import { App, Chart, Size, YamlOutputType } from 'cdk8s';
import { PostgresCluster } from '../lib';

export function majorUpgradeChart(app: App): Chart {
  const chart = new Chart(app, 'gitea-upgrade', { namespace: 'gitea' });
  const databases = [{ name: 'gitea', owner: 'gitea' }];
  // The cluster in service today (step 0: it is already in git).
  const old = new PostgresCluster(chart, 'gitea-pg', {
    name: 'gitea-pg',
    postgresVersion: 15,
    instances: 2,
    databases,
    storage: { size: Size.gibibytes(5) },
  });
  // Step 1: the new cluster, same databases, the new major, data from the old one.
  new PostgresCluster(chart, 'gitea-pg17', {
    name: 'gitea-pg17',
    postgresVersion: 17,
    instances: 2,
    databases,
    storage: { size: Size.gibibytes(5) },
    bootstrap: {
      import: {
        host: old.rwServiceName,
        // The old cluster's superuser Secret: generated in-cluster, never in git.
        passwordSecret: { name: old.superuserSecretName },
        sslmode: 'verify-full',
        caCertificate: { secretName: `${old.name}-ca` },
        jobs: 2,
      },
    },
  });
  return chart;
}

if (require.main === module) {
  const app = new App({ outdir: 'dist-examples', yamlOutputType: YamlOutputType.FILE_PER_CHART });
  majorUpgradeChart(app);
  app.synth();
}
