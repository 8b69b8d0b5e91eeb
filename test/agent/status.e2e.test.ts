/**
 * `pg-agent status` in a pod of a running 2-instance cluster with backups and a restore drill, as a person runs it
 * (`kubectl exec <pod> -- pg-agent status [-o json]`): every field of the JSON and every line of the screen, for a
 * healthy cluster, then for one whose replica lags (frozen while the primary writes) and whose archive fails (the
 * store's gateway stopped: the store sections say so, the rest still prints). On the way, the drill's restore logs
 * its progress lines. The JSON of the healthy run is kept as the fixture the laptop command's tests render
 * (test/lib/status-cli.test.ts reads test/lib/fixtures/status-healthy.json).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Size, Testing } from 'cdk8s';
import { BackupStore, PostgresCluster, RestoreDrill } from '../../lib';
import { WAL_FILE } from '../../lib/contract';
import { StatusReport } from '../../lib/status/report';
import { storeEnvRewrite } from '../support/backup';
import { ClusterHarness, eventually, query } from '../support/cluster-harness';
import { diagnose, startCluster } from '../support/failover-probes';
import { KubeObject, findObject } from '../support/manifests';
import { createBucket, deleteBucketRecursive, outageEndpoint, startRgw, stopRgw, uniqueBucketName } from '../support/s3';

jest.setTimeout(600000);

const NAME = 'st-pg';
const STORE_SECRET = 'st-store-keys';
const WAL = /^[0-9A-F]{24}$/;
/** What pg_stat_archiver may name last: a segment, a backup history file or a timeline history file. */
const ARCHIVED = WAL_FILE;
const BACKUP_ID = /^\d{8}T\d{6}$/;
const FIXTURE = path.join(__dirname, '..', 'lib', 'fixtures', 'status-healthy.json');

/** Every field path of a JSON value (`lease.holder`, `instances.pods[].name`), sorted. */
function fieldPaths(v: unknown, prefix = ''): string[] {
  if (Array.isArray(v)) return [...new Set(v.flatMap(x => fieldPaths(x, `${prefix}[]`)))].sort();
  if (v && typeof v === 'object')
    return Object.entries(v)
      .flatMap(([k, x]) => fieldPaths(x, prefix ? `${prefix}.${k}` : k))
      .sort();
  return [prefix];
}

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
    backup: { store, schedule: '0 3 * * *', retention: { recoveryWindow: '7d', monthly: 2 } },
  });
  new RestoreDrill(chart, 'drill', { cluster, schedule: '0 5 * * 0' });
  return Testing.synth(chart) as KubeObject[];
}

describe('pg-agent status in a pod', () => {
  const objects = synth();
  const h = new ClusterHarness(objects, NAME);
  const bucket = uniqueBucketName('status');
  let su: string;

  /** `kubectl apply` of a CronJob, with the status its controller would have written. */
  const seedCronJob = (name: string, status: Record<string, unknown> = {}) => {
    const cron = findObject(objects, 'CronJob', name);
    h.api.seed({ ...cron, metadata: { ...cron.metadata, namespace: h.namespace }, status } as KubeObject);
  };
  const status = async (ordinal: number, args: string[] = []) => {
    const p = await h.execInPod(ordinal, ['status', ...args]);
    const code = await p.exited;
    if (code !== 0) throw new Error(`status exited ${code}:\n${p.lines.join('\n')}`);
    return p.stdout;
  };
  const json = async (ordinal = 0) => JSON.parse(await status(ordinal, ['-o', 'json'])) as StatusReport;
  const line = (screen: string, label: string) => screen.split('\n').find(l => l.startsWith(`${label}:`)) ?? `(no ${label} line in)\n${screen}`;

  beforeAll(async () => {
    const ep = await outageEndpoint();
    await createBucket(bucket);
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    su = await startCluster(h, { secrets: { [STORE_SECRET]: { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey } } });
    seedCronJob(`${NAME}-backup`);
    seedCronJob(`${NAME}-restore-drill`);
  });
  afterAll(async () => {
    await startRgw('outage').catch(() => undefined);
    await h.stop();
    await deleteBucketRecursive(bucket).catch(() => undefined);
  });

  test('a healthy cluster: primary, streaming replica, Lease, archive, backup, retention, recoverable range, drill; the drill logs restore progress', async () => {
    const primary = h.direct(0, 'postgres', su, 'app');
    // Random text: about 10 MiB that gzip cannot shrink much, so the drill's restore takes several progress intervals.
    await query(primary, 'CREATE TABLE t AS SELECT g, md5(random()::text) || md5(random()::text) AS v FROM generate_series(1, 120000) g');
    const backup = await h.runJob(`${NAME}-backup`);
    expect({ code: await backup.exited, log: backup.lines.slice(-3) }).toEqual({ code: 0, log: expect.anything() });
    await query(primary, 'SELECT pg_switch_wal()');

    const drillStarted = new Date();
    const drill = await h.runJob(`${NAME}-restore-drill`, undefined, { extraEnv: { PGC_PROGRESS_SECONDS: '0.05' } });
    expect({ code: await drill.exited, log: drill.lines.slice(-3) }).toEqual({ code: 0, log: expect.anything() });
    const progress = drill.logs().filter(l => l.msg === 'verify: restore in progress');
    // eslint-disable-next-line no-console
    console.log(`[status] drill restore: ${progress.length} progress lines, the last: ${JSON.stringify(progress.at(-1))}`);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const p of progress) {
      expect(p).toMatchObject({ level: 'info', doneBytes: expect.any(Number), totalBytes: expect.any(Number), rateMiBps: expect.any(Number) });
      expect(p.percent).toBeGreaterThanOrEqual(0);
      expect(p.percent).toBeLessThanOrEqual(100);
    }
    expect(progress.at(-1).doneBytes).toBeGreaterThan(progress[0].doneBytes);
    expect(progress.some(p => p.etaSeconds !== undefined)).toBe(true);
    // The CronJob controller's record of that run (what the status reads as the drill's trace).
    const drillEnded = new Date();
    seedCronJob(`${NAME}-restore-drill`, { lastScheduleTime: drillStarted.toISOString(), lastSuccessfulTime: drillEnded.toISOString() });

    // The archiver has uploaded the switched segment (pg_stat_archiver says so) before we look.
    await eventually(async () => {
      const [a] = await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT archived_count FROM pg_stat_archiver');
      if (Number(a.archived_count) < 2) throw new Error('not archived yet');
    }, 60000);
    const r = await json(0).catch(async e => {
      throw new Error(`${(e as Error).message}\n${await diagnose(h)}`);
    });
    // The laptop command's tests render the committed fixture: it must have exactly the fields the real command
    // prints (PGC_UPDATE_FIXTURES=1 rewrites it from this run).
    if (process.env.PGC_UPDATE_FIXTURES === '1') fs.writeFileSync(FIXTURE, JSON.stringify(r, null, 2) + '\n');
    expect(fieldPaths(JSON.parse(fs.readFileSync(FIXTURE, 'utf8')))).toEqual(fieldPaths(r));

    const now = Date.now();
    expect(r).toMatchObject({
      version: 1,
      cluster: NAME,
      namespace: 'databases',
      observedFrom: { pod: `${NAME}-0`, role: 'primary' },
      primary: `${NAME}-0`,
    });
    expect(Math.abs(Date.parse(r.generatedAt) - now)).toBeLessThan(30000);
    expect(r.instances).toEqual({
      expected: 2,
      pods: [
        { name: `${NAME}-0`, role: 'primary', ready: true, phase: 'Unknown' },
        { name: `${NAME}-1`, role: 'replica', ready: true, phase: 'Unknown' },
      ],
    });
    const lease = r.lease as any;
    expect(lease).toMatchObject({ holder: `${NAME}-0`, durationSeconds: 15, expired: false });
    expect(lease.renewAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(lease.renewAgeSeconds).toBeLessThan(15);
    expect(r.postgres).toMatchObject({
      role: 'primary',
      timeline: 1,
      lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/),
      systemIdentifier: expect.stringMatching(/^\d+$/),
    });
    expect((r.postgres as any).version).toMatch(/^1[57]\./);
    const replication = r.replication as any;
    expect(replication.source).toBe('primary');
    expect(replication.replicas).toEqual([
      { name: `${NAME}-1`, state: 'streaming', syncState: 'async', lagBytes: expect.any(Number), lagSeconds: expect.any(Number) },
    ]);
    expect(replication.replicas[0].lagBytes).toBeLessThan(16 * 1024 * 1024);
    const archiving = r.archiving as any;
    expect(archiving).toMatchObject({ failing: false, failedCount: 0, readyFiles: expect.any(Number) });
    expect(archiving.lastArchivedWal).toMatch(ARCHIVED);
    expect(archiving.archivedCount).toBeGreaterThanOrEqual(2);
    expect(now - Date.parse(archiving.lastArchivedTime)).toBeLessThan(120000);
    expect(archiving.lastFailedWal).toBeUndefined();
    const backups = r.backups as any;
    expect(backups).toMatchObject({ schedule: '0 3 * * *', kept: 1, retention: { recoveryWindow: '7d', monthly: 2 } });
    expect(backups.lastCompleted.backupId).toMatch(BACKUP_ID);
    expect(backups.lastCompleted.storedBytes).toBeGreaterThan(1024 * 1024);
    expect(backups.lastCompleted.sizeBytes).toBeGreaterThan(backups.lastCompleted.storedBytes);
    expect(backups.oldest).toEqual({ backupId: backups.lastCompleted.backupId, endTime: backups.lastCompleted.endTime });
    expect(backups.lastFailed).toBeUndefined();
    expect(backups.inProgress).toBeUndefined();
    const next = new Date(backups.nextTime);
    expect([next.getUTCHours(), next.getUTCMinutes()]).toEqual([3, 0]);
    expect(next.getTime() - now).toBeGreaterThan(0);
    expect(next.getTime() - now).toBeLessThanOrEqual(24 * 3600 * 1000);
    const recoverable = r.recoverable as any;
    expect(recoverable).toMatchObject({ from: backups.oldest.endTime, fromBackup: backups.oldest.backupId, timeline: 1, continuous: true });
    expect(recoverable.toWal).toMatch(WAL);
    // The archive reaches at least the segment the primary last archived.
    expect(recoverable.toWal >= archiving.lastArchivedWal.slice(0, 24)).toBe(true);
    // The drill's own record in the store (restore-drill.json) names the backup and when the run ended.
    expect(r.drill).toEqual({
      result: 'succeeded',
      schedule: '0 5 * * 0',
      lastScheduleTime: drillStarted.toISOString(),
      lastSuccessfulTime: expect.any(String),
      detail: expect.stringMatching(new RegExp(`^backup ${backups.lastCompleted.backupId}: restored, replayed to .* and checked in \\d+ s\\.$`)),
    });
    const drillSucceeded = Date.parse((r.drill as any).lastSuccessfulTime);
    expect(drillSucceeded).toBeGreaterThanOrEqual(drillStarted.getTime());
    expect(drillSucceeded).toBeLessThanOrEqual(drillEnded.getTime());

    // The screen says the same, one labelled line each.
    const screen = await status(0);
    // eslint-disable-next-line no-console
    console.log(`[status] healthy screen:\n${screen}`);
    expect(screen.split('\n')[0]).toMatch(new RegExp(`^Cluster ${NAME} in namespace databases, seen from ${NAME}-0 \\(primary\\) at \\d{4}-`));
    expect(line(screen, 'Primary')).toMatch(new RegExp(`^Primary:\\s+${NAME}-0\\s+timeline 1\\s+LSN [0-9A-F]+/[0-9A-F]+\\s+PostgreSQL 1[57]\\.`));
    expect(line(screen, 'Lease')).toMatch(new RegExp(`^Lease:\\s+held by ${NAME}-0, renewed [\\d.]+ s ago \\(valid 15 s\\)$`));
    expect(line(screen, 'Instances')).toMatch(/^Instances:\s+2 of 2 ready$/);
    expect(screen).toMatch(new RegExp(`\\n\\s+${NAME}-0\\s+primary\\s+ready\\n`));
    expect(screen).toMatch(new RegExp(`\\n\\s+${NAME}-1\\s+replica\\s+ready\\s+streaming\\s+async\\s+lag [\\d.]+ (B|KiB|MiB) / [\\d.]+ s\\n`));
    expect(line(screen, 'Archiving')).toMatch(
      /^Archiving:\s+ok\s+last archived [0-9A-F]{24}\S* at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \([\d.]+ (s|min) ago\)$/,
    );
    expect(line(screen, 'Base backups')).toMatch(/^Base backups:\s+last \d{8}T\d{6} ended .* ago\), [\d.]+ MiB stored$/);
    expect(screen).toMatch(/\n\s+next \d{4}-\d\d-\d\d 03:00:00Z \(in [\d.]+ (min|h)\) \(schedule 0 3 \* \* \*, UTC\)\n/);
    expect(line(screen, 'Retention')).toMatch(/^Retention:\s+1 kept, oldest \d{8}T\d{6} ended .* ago\); policy: recoveryWindow 7d, monthly 2$/);
    expect(line(screen, 'Recoverable')).toMatch(
      /^Recoverable:\s+from \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(end of \d{8}T\d{6}\) to WAL [0-9A-F]{24} \(timeline 1\)$/,
    );
    expect(line(screen, 'Restore drill')).toMatch(/^Restore drill:\s+succeeded at \d{4}-.* ago\): backup \d{8}T\d{6}: restored, replayed to /);
    expect(screen).not.toMatch(/unavailable|FAILING|GAP|EXPIRED|NOT READY/);

    // From the replica: the same cluster, the replica's own view where only the primary knows.
    const fromReplica = await json(1);
    expect(fromReplica).toMatchObject({
      observedFrom: { pod: `${NAME}-1`, role: 'replica' },
      primary: `${NAME}-0`,
      postgres: { role: 'replica', timeline: 1 },
    });
    expect((fromReplica.replication as any).source).toBe('annotations');
    expect((fromReplica.archiving as any).unavailable).toBe(`only the primary knows its archiver: run this on ${NAME}-0`);
    expect((fromReplica.backups as any).kept).toBe(1);
  });

  test('a lagging replica and a failing archive: the lag in bytes and seconds, FAILING with the segment, the store sections unavailable', async () => {
    const replica = h.pods[1].process!;
    replica.freezePod();
    let stoppedStore = false;
    try {
      const primary = h.direct(0, 'postgres', su, 'app');
      await query(primary, 'CREATE TABLE lagging AS SELECT g, md5(g::text) AS v FROM generate_series(1, 60000) g');
      await stopRgw('outage');
      stoppedStore = true;
      const failedAt = Date.now();
      await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT pg_switch_wal()');
      await eventually(
        async () => {
          const [a] = await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT failed_count FROM pg_stat_archiver');
          if (Number(a.failed_count) < 1) throw new Error('archiving has not failed yet');
        },
        180000,
        1000,
      );
      // eslint-disable-next-line no-console
      console.log(`[status] the first archive failure ${((Date.now() - failedAt) / 1000).toFixed(1)} s after the gateway stopped`);
      const started = Date.now();
      const r = await json(0);
      const took = (Date.now() - started) / 1000;
      const replicas = (r.replication as any).replicas;
      expect(replicas).toHaveLength(1);
      expect(replicas[0].name).toBe(`${NAME}-1`);
      expect(replicas[0].lagBytes).toBeGreaterThan(1024 * 1024);
      expect(replicas[0].lagSeconds).toBeGreaterThan(1);
      const archiving = r.archiving as any;
      expect(archiving.failing).toBe(true);
      expect(archiving.lastFailedWal).toMatch(WAL);
      expect(archiving.failedCount).toBeGreaterThanOrEqual(1);
      expect(Date.parse(archiving.lastFailedTime)).toBeGreaterThan(failedAt - 1000);
      expect(archiving.readyFiles).toBeGreaterThanOrEqual(1);
      for (const s of ['backups', 'recoverable'] as const) {
        expect((r[s] as any).unavailable).toMatch(/^the backup store s3:\/\/\S+ at http:\/\/127\.0\.0\.1:\d+: .+\. Check the store/);
      }
      // The rest is there: the API and the local PostgreSQL answered.
      expect(r).toMatchObject({ primary: `${NAME}-0`, lease: { holder: `${NAME}-0`, expired: false }, postgres: { role: 'primary' } });
      expect((r.drill as any).result).toBe('succeeded');
      // eslint-disable-next-line no-console
      console.log(
        `[status] with the store down the status took ${took.toFixed(1)} s; replica lag ${replicas[0].lagBytes} B / ${replicas[0].lagSeconds} s`,
      );

      const screen = await status(0);
      // eslint-disable-next-line no-console
      console.log(`[status] degraded screen:\n${screen}`);
      // Frozen, the replica may or may not have been seen unready yet (the kubelet's probe hangs on a frozen pod).
      expect(screen).toMatch(
        new RegExp(`\\n\\s+${NAME}-1\\s+replica\\s+(ready|NOT READY \\(\\w+\\))\\s+\\w+\\s+async\\s+lag [\\d.]+ MiB / [\\d.]+ (s|min)\\n`),
      );
      expect(line(screen, 'Archiving')).toMatch(/^Archiving:\s+FAILING\s+/);
      expect(screen).toMatch(/\n\s+last failure [0-9A-F]{24} at .* ago\) \(\d+ failed attempts\)\n/);
      expect(screen).toMatch(/\n\s+\d+ segment\(s\) waiting to be archived\n/);
      expect(line(screen, 'Base backups')).toMatch(/^Base backups:\s+unavailable: the backup store /);
      expect(line(screen, 'Recoverable')).toMatch(/^Recoverable:\s+unavailable: the backup store /);
      expect(line(screen, 'Restore drill')).toMatch(/^Restore drill:\s+succeeded/);
    } finally {
      replica.thawPod();
      if (stoppedStore) await startRgw('outage');
    }
  });
});
