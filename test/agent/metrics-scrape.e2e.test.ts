/**
 * What a Prometheus scraping the PodMonitor's port and path would get from a running 2-instance cluster with
 * backups (synthesized with ClusterMonitoring): every `pgc_*` series the PrometheusRule's alerts and the Grafana
 * dashboard name is exported by a real agent, with values that match what the cluster did (a base backup, an
 * archived segment, a replica streaming).
 */
import { storeEnvRewrite } from '../support/backup';
import { ClusterHarness, eventually, query } from '../support/cluster-harness';
import { diagnose, startCluster } from '../support/failover-probes';
import { createBucket, deleteBucketRecursive, ensureS3, uniqueBucketName } from '../support/s3';
import { ClusterMonitoring } from '../../lib';
import { findObject } from '../support/manifests';
import { STORE_SECRET, synthWithStore } from '../support/synth';

jest.setTimeout(600000);

const NAME = 'mon-pg';

const synth = () =>
  synthWithStore(
    NAME,
    {
      synchronous: { number: 1, dataDurability: 'preferred' },
      backup: { schedule: '0 3 * * *' },
      networkPolicy: { metricsFrom: { namespace: 'monitoring' } },
    },
    (chart, cluster) => {
      new ClusterMonitoring(chart, 'monitoring', { cluster });
    },
  );

/** `name{labels} value` lines of a /metrics body. */
function samples(body: string): Array<{ name: string; labels: string; value: number }> {
  return body
    .split('\n')
    .filter(l => l && !l.startsWith('#'))
    .map(l => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(l);
      if (!m) throw new Error(`not a sample line: ${l}`);
      return { name: m[1], labels: m[2] ?? '', value: Number(m[3]) };
    });
}

const seriesOf = (expr: string) => [...expr.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*\{/g)].map(m => m[1]);

describe('the series the alerts and the dashboard read, from running agents', () => {
  const objects = synth();
  const h = new ClusterHarness(objects, NAME);
  const bucket = uniqueBucketName('mon');
  let su: string;

  beforeAll(async () => {
    const ep = await ensureS3();
    await createBucket(bucket);
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    su = await startCluster(h, { secrets: { [STORE_SECRET]: { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey } } });
  });
  afterAll(async () => {
    await h.stop();
    await deleteBucketRecursive(bucket).catch(() => undefined);
  });

  test("every pgc_* series of the PrometheusRule and the dashboard is exported, with the cluster's facts", async () => {
    const primary = h.direct(0, 'postgres', su, 'app');
    await query(primary, 'CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g');
    await query(primary, 'SELECT pg_switch_wal()');
    const backupStarted = Date.now() / 1000;
    const backup = await h.runJob(`${NAME}-backup`);
    expect({ code: await backup.exited, log: backup.lines.slice(-3) }).toEqual({ code: 0, log: expect.anything() });

    // The primary lists the store every minute (the first time 15 s after its start).
    const scrape = async (ordinal: number) => samples((await h.httpGet(ordinal, '/metrics')).body);
    const one = (s: ReturnType<typeof samples>, name: string, labels = '') => s.filter(x => x.name === name && x.labels.includes(labels));
    const waitedFrom = Date.now();
    await eventually(
      async () => {
        const s = await scrape(0);
        if (!(one(s, 'pgc_base_backups')[0]?.value >= 1)) throw new Error('no base backup in the metrics yet');
        if (!(one(s, 'pgc_wal_last_archived_timestamp_seconds')[0]?.value > 0)) throw new Error('nothing archived yet');
        if (!one(await scrape(1), 'pgc_timeline_id').length) throw new Error('the replica has not read its statistics yet');
      },
      150000,
      2000,
    ).catch(async e => {
      throw new Error(`${(e as Error).message}\n${await diagnose(h)}`);
    });
    const onPrimary = await scrape(0);
    const onReplica = await scrape(1);

    const rule = findObject(objects, 'PrometheusRule', NAME) as any;
    const dashboard = JSON.parse((findObject(objects, 'ConfigMap', `${NAME}-dashboard`) as any).data[`${NAME}.json`]);
    const named = new Set<string>([
      ...rule.spec.groups[0].rules.flatMap((r: any) => seriesOf(r.expr)),
      ...dashboard.panels.flatMap((p: any) => p.targets.flatMap((t: any) => seriesOf(t.expr))),
    ]);
    const exported = new Set([...onPrimary, ...onReplica].map(x => x.name));
    const agentSeries = [...named].filter(n => n.startsWith('pgc_')).sort();
    const missing = agentSeries.filter(n => !exported.has(n));
    const notOurs = [...named].filter(n => !n.startsWith('pgc_')).sort();
    // eslint-disable-next-line no-console
    console.log(
      `[metrics] ${agentSeries.length} agent series named by ${rule.spec.groups[0].rules.length} alerts and ${dashboard.panels.length} panels, ${missing.length} missing (${missing.join(', ')}); ` +
        `not the agent's: ${notOurs.join(', ') || 'none'}; base backup listed ${((Date.now() - waitedFrom) / 1000).toFixed(0)} s after the backup Job ended; ` +
        `the primary exports ${new Set(onPrimary.map(x => x.name)).size} series names, the replica ${new Set(onReplica.map(x => x.name)).size}`,
    );
    if (missing.length)
      throw new Error(
        `missing ${missing.join(', ')}; primary:\n${(await h.httpGet(0, '/metrics')).body}\nreplica:\n${(await h.httpGet(1, '/metrics')).body}`,
      );
    expect(notOurs).toEqual([]);
    const volume =
      one(onPrimary, 'pgc_volume_used_bytes')[0].value /
      (one(onPrimary, 'pgc_volume_used_bytes')[0].value + one(onPrimary, 'pgc_volume_available_bytes')[0].value);
    expect(volume).toBeGreaterThan(0);
    expect(volume).toBeLessThan(1);

    // The values say what happened.
    const label = (pod: string) => `cluster="${NAME}",pod="${pod}"`;
    expect(one(onPrimary, 'pgc_role', 'role="primary"')[0].value).toBe(1);
    expect(one(onPrimary, 'pgc_timeline_id')[0].value).toBe(1);
    expect(one(onReplica, 'pgc_timeline_id')[0].value).toBe(1);
    expect(one(onPrimary, 'pgc_streaming_replicas')[0].value).toBe(1);
    expect(one(onPrimary, 'pgc_synchronous_standbys')[0].value).toBe(1);
    expect(one(onPrimary, 'pgc_replication_lag_seconds', `replica="${NAME}-1"`)).toHaveLength(1);
    expect(one(onReplica, 'pgc_replication_lag_seconds', label(`${NAME}-1`))).toHaveLength(1);
    expect(one(onPrimary, 'pgc_base_backups')[0].value).toBe(1);
    const lastBackup = one(onPrimary, 'pgc_last_base_backup_timestamp_seconds')[0].value;
    expect(lastBackup).toBeGreaterThan(backupStarted - 5);
    expect(lastBackup).toBeLessThan(Date.now() / 1000);
    expect(one(onPrimary, 'pgc_first_recoverability_point_seconds')[0].value).toBe(lastBackup);
    expect(one(onReplica, 'pgc_base_backups')).toEqual([]);
    expect(one(onPrimary, 'pgc_wal_last_failed_timestamp_seconds')[0].value).toBe(0);
    expect(one(onPrimary, 'pgc_database_size_bytes', 'datname="app"')[0].value).toBeGreaterThan(300000);
    expect(one(onPrimary, 'pgc_database_xid_age', 'datname="app"')[0].value).toBeGreaterThan(0);
    expect(one(onPrimary, 'pgc_connections').map(x => /state="([^"]*)"/.exec(x.labels)![1])).toEqual(
      expect.arrayContaining(['active', 'idle', 'idle in transaction', 'idle in transaction (aborted)']),
    );
    expect(one(onPrimary, 'pgc_max_connections')[0].value).toBeGreaterThan(0);
    expect(one(onPrimary, 'pgc_wal_archive_ready_files')[0].value).toBeGreaterThanOrEqual(0);
    for (const s of [...onPrimary, ...onReplica]) expect(s.labels).toMatch(/^\{cluster="mon-pg",pod="mon-pg-[01]"/);
  });
});
