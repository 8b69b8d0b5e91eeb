/**
 * TLS (docs/tls.md): the three ways to get the server certificate, and an application that verifies the server with
 * the cluster CA. Run with `npx ts-node examples/tls.ts` (writes dist-examples/).
 */
import { App, Chart, Size, YamlOutputType } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { PostgresCluster } from '../lib';

export function tlsChart(app: App): Chart {
  const chart = new Chart(app, 'tls-examples', { namespace: 'apps' });
  const storage = { size: Size.gibibytes(2) };
  // Default: CA and certificate generated in-cluster, renewed by the primary.
  const pg = new PostgresCluster(chart, 'orders-pg', { name: 'orders-pg', instances: 2, storage, databases: [{ name: 'orders', owner: 'orders' }] });
  // cert-manager signs it (a CA ClusterIssuer puts its CA into ca.crt); also reachable as pg.example.org.
  new PostgresCluster(chart, 'billing-pg', {
    name: 'billing-pg',
    storage,
    tls: { mode: 'certManager', issuerRef: { name: 'homelab-ca', kind: 'ClusterIssuer' }, extraSans: ['pg.example.org'] },
  });
  // Your own Secret with tls.crt, tls.key and ca.crt.
  new PostgresCluster(chart, 'legacy-pg', { name: 'legacy-pg', storage, tls: { mode: 'secret', secretName: 'legacy-pg-tls' } });

  // An application: the app Secret's uri (sslmode=verify-full) plus the CA from <cluster>-ca, where libpq looks
  // (PGSSLROOTCERT) and where pgJDBC looks by default (~/.postgresql/root.crt, with HOME=/home/app).
  new k8s.KubeDeployment(chart, 'orders-app', {
    metadata: { name: 'orders-app' },
    spec: {
      selector: { matchLabels: { app: 'orders' } },
      template: {
        metadata: { labels: { app: 'orders' } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'ghcr.io/example/orders:1.0.0',
              env: [
                { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: `${pg.name}-app`, key: 'uri' } } },
                { name: 'PGSSLROOTCERT', value: '/home/app/.postgresql/root.crt' },
                { name: 'HOME', value: '/home/app' },
              ],
              volumeMounts: [{ name: 'pg-ca', mountPath: '/home/app/.postgresql', readOnly: true }],
            },
          ],
          volumes: [{ name: 'pg-ca', secret: { secretName: `${pg.name}-ca`, items: [{ key: 'ca.crt', path: 'root.crt' }] } }],
        },
      },
    },
  });
  return chart;
}

if (require.main === module) {
  const app = new App({ outdir: 'dist-examples', yamlOutputType: YamlOutputType.FILE_PER_CHART });
  tlsChart(app);
  app.synth();
}
