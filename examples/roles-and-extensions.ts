/**
 * Managed roles, extensions, schemas and pg_hba rules (README "Roles, extensions and pg_hba rules"): a read-only
 * user for reporting, a group role, PostGIS and pgvector in the app's database, and one extra pg_hba rule.
 * Run with `npx ts-node examples/roles-and-extensions.ts` (writes dist-examples/).
 */
import { App, Chart, Size, YamlOutputType } from 'cdk8s';
import { PostgresCluster } from '../lib';

export function rolesChart(app: App): Chart {
  const chart = new Chart(app, 'geo-db', { namespace: 'geo' });
  new PostgresCluster(chart, 'geo-pg', {
    name: 'geo-pg',
    instances: 2,
    storage: { size: Size.gibibytes(5), storageClass: 'rbd-fast' },
    databases: [
      {
        name: 'geo',
        owner: 'geo',
        schemas: [{ name: 'embeddings' }],
        // Created by the primary's agent when the image has them (the agent image carries both).
        extensions: [{ name: 'postgis' }, { name: 'vector', schema: 'embeddings' }],
      },
    ],
    roles: [
      // Reads every table, writes none; its password is generated into the Secret geo-pg-grafana-role.
      { name: 'grafana', inRoles: ['pg_read_all_data'], connectionLimit: 5 },
      // A group role (no login) that people are made members of.
      { name: 'analysts', login: false, inRoles: ['pg_read_all_data', 'pg_monitor'] },
      // Its password comes from a Secret you manage (key "password").
      { name: 'alice', inRoles: ['analysts'], passwordSecret: 'geo-pg-alice', validUntil: '2027-06-30T00:00:00Z' },
      // Was created by an earlier commit: dropped, unless it still owns objects (then the agent says where).
      { name: 'legacy_etl', ensure: 'absent' },
    ],
    // Placed before the final catch-all rule: the office network may not log in at all.
    pgHba: [{ address: '192.168.10.0/24', method: 'reject' }],
  });
  return chart;
}

if (require.main === module) {
  const app = new App({ outdir: 'dist-examples', yamlOutputType: YamlOutputType.FILE_PER_CHART });
  rolesChart(app);
  app.synth();
}
