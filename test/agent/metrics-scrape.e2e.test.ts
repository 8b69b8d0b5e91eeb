/**
 * What a Prometheus scraping the PodMonitor's port and path would get from a running 2-instance cluster with
 * backups (synthesized with ClusterMonitoring): every `pgc_*` series the PrometheusRule's alerts and the Grafana
 * dashboard name is exported by a real agent, with values that match what the cluster did (a base backup, an
 * archived segment, a replica streaming). Then a real Prometheus (Debian's), configured from the rendered
 * PodMonitor (test/support/prometheus.ts) and loaded with the rendered rules, scrapes the same cluster through a
 * restore drill that passes, a failover and a drill that fails: PromQL gives the new primary, the failover count,
 * the new backup and the drills' results, the alerts go pending, and every dashboard panel's query returns data.
 */
import { Chart, Size, Testing } from 'cdk8s';
import { BackupStore, ClusterMonitoring, PostgresCluster, RestoreDrill } from '../../lib';
import { storeEnvRewrite } from '../support/backup';
import { ClusterHarness, eventually, query } from '../support/cluster-harness';
import { diagnose, startCluster } from '../support/failover-probes';
import { KubeObject, findObject } from '../support/manifests';
import { TestPrometheus, grafanaExpr, podMonitorScrapeConfigs } from '../support/prometheus';
import { createBucket, deleteBucketRecursive, ensureS3, uniqueBucketName } from '../support/s3';

jest.setTimeout(600000);

const NAME = 'mon-pg';
const STORE_SECRET = 'mon-store-keys';

function synth(): KubeObject[] {
  const chart = new Chart(Testing.app(), NAME, { namespace: 'databases' });
  const store = new BackupStore(chart, 'store', {
    endpoint: 'http://rook-ceph-rgw.rook-cluster.svc:80',
    bucket: 'backup-cnpg',
    credentials: { secretName: STORE_SECRET },
  });
  const cluster = new PostgresCluster(chart, NAME, {
    name: NAME,
    instances: 2,
    databases: [{ name: 'app', owner: 'app' }],
    storage: { size: Size.gibibytes(1) },
    synchronous: { number: 1, dataDurability: 'preferred' },
    backup: { store, schedule: '0 3 * * *' },
    networkPolicy: { metricsFrom: { namespace: 'monitoring' } },
  });
  // Scraped every second by the test's Prometheus.
  new ClusterMonitoring(chart, 'monitoring', { cluster, interval: '1s' });
  new RestoreDrill(chart, 'drill', { cluster });
  return Testing.synth(chart) as KubeObject[];
}

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
  let prometheus: TestPrometheus | undefined;

  beforeAll(async () => {
    const ep = await ensureS3();
    await createBucket(bucket);
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    su = await startCluster(h, { secrets: { [STORE_SECRET]: { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey } } });
    // From here on it scrapes (1 s) and evaluates the rendered alerts (1 s).
    prometheus = new TestPrometheus({
      scrapeConfigs: podMonitorScrapeConfigs(findObject(objects, 'PodMonitor', NAME), h),
      rules: (findObject(objects, 'PrometheusRule', NAME) as any).spec,
    });
    await prometheus.start();
  });
  afterAll(async () => {
    await prometheus?.stop();
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

  test('a real Prometheus, scraping through the PodMonitor: a restore drill, a failover, a failed drill, and every dashboard panel', async () => {
    const prom = prometheus!;
    const sel = `namespace="databases",cluster="${NAME}"`;
    const values = async (expr: string, time?: number) =>
      Object.fromEntries((await prom.query(expr, time)).map(x => [x.metric.pod ?? x.metric.alertstate ?? '', x.value]));
    const started = Date.now();

    // The targets, labelled as prometheus-operator labels them; the agent's own cluster and pod labels kept.
    const up = await eventually(async () => {
      const u = await prom.query(`up{job="databases/${NAME}"}`);
      if (u.length !== 2 || u.some(x => x.value !== 1)) throw new Error(`targets: ${JSON.stringify(await prom.targets())}`);
      return u;
    }, 30000);
    expect(up.map(x => x.metric).sort((a, b) => a.pod.localeCompare(b.pod))).toEqual(
      [0, 1].map(i => ({
        __name__: 'up',
        job: `databases/${NAME}`,
        namespace: 'databases',
        pod: `${NAME}-${i}`,
        container: 'postgres',
        endpoint: 'http',
        instance: `127.0.0.1:${h.pods[i].httpPort}`,
      })),
    );

    // The healthy cluster after the base backup of the first test.
    const firstBackup = await eventually(async () => {
      const v = await values(`pgc_last_base_backup_timestamp_seconds{${sel}}`);
      if (!(v[`${NAME}-0`] > 0)) throw new Error(`no backup in Prometheus yet: ${JSON.stringify(v)}`);
      return v[`${NAME}-0`];
    }, 30000);
    expect(await values(`pgc_role{${sel},role="primary"} == 1`)).toEqual({ [`${NAME}-0`]: 1 });
    expect(await values(`pgc_base_backups{${sel}}`)).toEqual({ [`${NAME}-0`]: 1 });
    expect(Object.keys(await values(`pgc_replication_lag_bytes{${sel},replica="${NAME}-1"}`))).toEqual([`${NAME}-0`]);

    // Every panel of the dashboard, its query as Grafana sends it, returns data.
    const dashboard = JSON.parse((findObject(objects, 'ConfigMap', `${NAME}-dashboard`) as any).data[`${NAME}.json`]);
    const panels: Array<{ panel: string; expr: string; series: number }> = [];
    for (const panel of dashboard.panels)
      for (const t of panel.targets) panels.push({ panel: panel.title, expr: t.expr, series: (await prom.query(grafanaExpr(t.expr))).length });
    expect(panels.filter(p => p.series === 0)).toEqual([]);

    // A restore drill that passes, a failover (the primary's pod killed), then a drill that fails.
    const drillStarted = Date.now() / 1000;
    const drill = await h.runJob(`${NAME}-restore-drill`);
    expect({ code: await drill.exited, log: drill.lines.slice(-3) }).toEqual({ code: 0, log: expect.anything() });
    const drillEnded = Date.now() / 1000;
    const beforeKill = Date.now() / 1000;
    h.pods[0].process!.killPod();
    const failed = await h.runJob(`${NAME}-restore-drill`, undefined, { args: ['verify', '--backup', '20000101T000000'] });
    expect(await failed.exited).not.toBe(0);

    // The new primary lists the store within a minute of its promotion: its own base backup, the drills' results.
    const waitedFrom = Date.now();
    const pod1 = `${sel},pod="${NAME}-1"`;
    await eventually(
      async () => {
        const missing = [
          [`pgc_role{${sel},role="primary"} == 1`, 'the new primary'],
          [`pgc_failovers_total{${pod1}} == 1`, 'the failover count'],
          [`pgc_timeline_id{${pod1}} == 2`, 'timeline 2'],
          [`pgc_last_base_backup_timestamp_seconds{${pod1}} > ${firstBackup}`, "the new primary's base backup"],
          [`pgc_restore_drill_last_failed_timestamp_seconds{${pod1}} > 0`, 'the failed drill'],
        ];
        const absent = [];
        for (const [expr, what] of missing) if (!(await prom.query(expr)).length) absent.push(what);
        if (absent.length) throw new Error(`not yet in Prometheus: ${absent.join(', ')}`);
      },
      180000,
      1000,
    ).catch(async e => {
      throw new Error(`${(e as Error).message}\n${await diagnose(h)}`);
    });
    const waited = (Date.now() - waitedFrom) / 1000;

    expect(await values(`pgc_role{${sel},role="primary"} == 1`)).toEqual({ [`${NAME}-1`]: 1 });
    expect(await values(`up{job="databases/${NAME}"}`)).toEqual({ [`${NAME}-0`]: 0, [`${NAME}-1`]: 1 });
    // The failover counter went from 0 to 1 on the promoted replica, and its timeline from 1 to 2.
    expect(await values(`pgc_failovers_total{${sel}}`, beforeKill)).toEqual({ [`${NAME}-0`]: 0, [`${NAME}-1`]: 0 });
    expect(await values(`pgc_failovers_total{${sel}}`)).toEqual({ [`${NAME}-1`]: 1 });
    expect(await values(`pgc_timeline_id{${pod1}}`, beforeKill)).toEqual({ [`${NAME}-1`]: 1 });
    expect(await values(`pgc_timeline_id{${pod1}}`)).toEqual({ [`${NAME}-1`]: 2 });
    // The base backup after the promotion moved the last-success timestamp; the store now holds two.
    const secondBackup = (await values(`pgc_last_base_backup_timestamp_seconds{${pod1}}`))[`${NAME}-1`];
    expect(secondBackup).toBeGreaterThan(beforeKill);
    expect(await values(`pgc_base_backups{${sel}}`)).toEqual({ [`${NAME}-1`]: 2 });
    // The drills: the passing one's end, then the failing one's, after it.
    const passed = (await values(`pgc_restore_drill_last_succeeded_timestamp_seconds{${pod1}}`))[`${NAME}-1`];
    const failedAt = (await values(`pgc_restore_drill_last_failed_timestamp_seconds{${pod1}}`))[`${NAME}-1`];
    expect(passed).toBeGreaterThan(drillStarted);
    expect(passed).toBeLessThanOrEqual(drillEnded);
    expect(failedAt).toBeGreaterThan(passed);
    // The rendered rules see it: the drill alert is pending (it fires after 1m), and "no primary" was pending
    // while the Lease expired (a failover is quicker than its 1m).
    const drillAlert = await eventually(async () => {
      const a = await values(`ALERTS{alertname="PostgresRestoreDrillFailed",${sel.replace(/^namespace="[^"]*",/, '')}}`);
      if (!Object.keys(a).length) throw new Error('PostgresRestoreDrillFailed is not pending');
      return a;
    }, 15000);
    expect(Object.keys(drillAlert)).toEqual([expect.stringMatching(/^(pending|firing)$/)]);
    expect(await values(`max_over_time(ALERTS{alertname="PostgresNoPrimary",alertstate="pending"}[5m])`)).toEqual({ pending: 1 });
    const noPrimaryFired = (await prom.query(`max_over_time(ALERTS{alertname="PostgresNoPrimary",alertstate="firing"}[5m])`)).length > 0;

    // eslint-disable-next-line no-console
    console.log(
      `[prometheus] ${panels.length} panel queries of ${dashboard.panels.length} panels all returned data; drill passed in ${(drillEnded - drillStarted).toFixed(0)} s; ` +
        `after the kill, ${waited.toFixed(0)} s until Prometheus had the new primary, its backup and the failed drill; ` +
        `PostgresNoPrimary pending during the failover${noPrimaryFired ? ' and FIRING' : ', never firing'}; test took ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  });
});
