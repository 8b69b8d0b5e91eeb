/**
 * What a failover may lose, with clusters this test synthesizes with the construct (variants the homelab in dist/
 * does not render): `synchronous: { number: 1, dataDurability: 'required' }` never acknowledges a commit that no
 * replica has, so kill -9 of the primary loses nothing; and an asynchronous replica further behind than
 * `failover.maxLagBytes` is not promoted, says why, and follows its primary again when that comes back.
 */
import { ANNOTATIONS, ENV, LABELS } from '../../lib/contract';
import { lsnDiff } from '../../agent/src/postgres/wal';
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { PROMOTING, diagnose, leaseOf, logsMatching, lostRows, startCluster, synthCluster as synth, writer } from '../support/failover-probes';

jest.setTimeout(600000);

const role = (h: ClusterHarness, ordinal: number) => h.podLabels(`${h.cluster}-${ordinal}`)[LABELS.role];

describe('dataDurability: required', () => {
  const h = new ClusterHarness(synth('req-pg', { synchronous: { number: 1, dataDurability: 'required' } }), 'req-pg');
  let su: string;
  const rwConn = () => h.connectionFromUri(h.secretData('req-pg-app')!.uri);
  const syncNames = async (ordinal: number) =>
    (await query(h.direct(ordinal, 'postgres', su, 'postgres'), 'SHOW synchronous_standby_names'))[0].synchronous_standby_names;

  beforeAll(async () => {
    su = await startCluster(h);
    await query(rwConn(), 'CREATE TABLE events (id bigint PRIMARY KEY)');
  });
  afterAll(() => h.stop());

  test('the construct hands the agent the setting, and the primary waits for its replica', async () => {
    const container = h.statefulSet.spec.template.spec.containers[0];
    expect(JSON.parse(container.env.find((e: any) => e.name === ENV.synchronous).value)).toEqual({ number: 1, dataDurability: 'required' });
    await eventually(async () => expect(await syncNames(0)).toBe('ANY 1 ("req-pg-1")'), 20000);
  });

  test('with the replica down, a commit waits (it is not acknowledged) until the replica is back', async () => {
    h.pods[1].process!.killPod();
    await h.pods[1].process!.exited;
    let acknowledgedAt = 0;
    const insert = query(rwConn(), 'INSERT INTO events (id) VALUES (1)').then(() => {
      acknowledgedAt = Date.now();
    });
    await sleep(8000);
    expect(acknowledgedAt).toBe(0);
    const waiting = await query(
      h.direct(0, 'postgres', su, 'postgres'),
      "SELECT wait_event FROM pg_stat_activity WHERE query LIKE 'INSERT INTO events%'",
    );
    expect(waiting.map(w => w.wait_event)).toEqual(['SyncRep']);
    const restartedAt = Date.now();
    h.startInstance(1);
    await insert;
    expect(acknowledgedAt).toBeGreaterThan(restartedAt);
    await h.waitReady(1, 120000);
    // eslint-disable-next-line no-console
    console.log(
      `[durability] required, replica down: commit held for ${((acknowledgedAt - restartedAt) / 1000 + 8).toFixed(1)} s, acknowledged ${((acknowledgedAt - restartedAt) / 1000).toFixed(1)} s after the replica was restarted`,
    );
  });

  test('kill -9 of the primary under load: the replica is promoted and no acknowledged row is lost', async () => {
    const w = writer(rwConn);
    await sleep(4000);
    const killedAt = Date.now();
    h.pods[0].process!.killPod();
    await eventually(
      async () => {
        if (role(h, 1) !== 'primary') throw new Error('not promoted yet');
      },
      90000,
      200,
    );
    const promotedAt = Date.now();
    // The new primary has no replica now: `required` makes its commits wait for the old primary to rejoin.
    await sleep(6000);
    const ackedWithoutReplica = w.acknowledged.length;
    await sleep(4000);
    expect(w.acknowledged.length).toBe(ackedWithoutReplica);
    expect(await syncNames(1)).toBe('ANY 1 ("req-pg-0")');
    h.startInstance(0);
    await h.waitReady(0, 120000);
    expect(role(h, 0)).toBe('replica');
    await eventually(async () => {
      if (w.acknowledged.length <= ackedWithoutReplica) throw new Error('writes not resumed');
    }, 30000);
    await w.stop();
    const lost = await lostRows(h.direct(1, 'postgres', su, 'app'), w.acknowledged);
    // eslint-disable-next-line no-console
    console.log(
      `[durability] required: promoted ${((promotedAt - killedAt) / 1000).toFixed(1)} s after kill -9, ${w.acknowledged.length} rows acknowledged, ${lost.length} lost; writes resumed once the old primary rejoined`,
    );
    expect(w.acknowledged.length).toBeGreaterThan(20);
    expect(lost).toEqual([]);
    expect(h.pods[1].process!.logs().some(l => /failover: this replica holds the primary lease; promoting/.test(l.msg ?? ''))).toBe(true);
    expect((await h.httpGet(1, '/metrics')).body).toContain('pgc_failovers_total{cluster="req-pg",pod="req-pg-1"} 1');
  });
});

describe('a replica further behind than failover.maxLagBytes (asynchronous)', () => {
  const h = new ClusterHarness(synth('lag-pg', {}), 'lag-pg');
  let su: string;
  const MAX_LAG = 16 * 1024 * 1024;
  const rwConn = () => h.connectionFromUri(h.secretData('lag-pg-app')!.uri);

  beforeAll(async () => {
    su = await startCluster(h);
    await query(rwConn(), 'CREATE TABLE big (id int PRIMARY KEY, pad text)');
  });
  afterAll(() => h.stop());

  test('is not promoted when the primary dies; the log says why and what to do; the primary re-takes its lease on return', async () => {
    // The primary makes the replica's WAL reservation crash-safe once it holds WAL (else kill -9 could lose it).
    await h.pods[0].process!.waitForLog(l => /replication slots now hold WAL/.test(l.msg ?? '') && l.slots?.includes('lag_pg_1'), 30000);
    const replica = h.direct(1, 'postgres', su, 'postgres');
    const [{ pid }] = await query(replica, 'SELECT pid FROM pg_stat_wal_receiver');
    // The replica stops receiving WAL (its WAL receiver frozen), the primary goes on writing.
    process.kill(pid, 'SIGSTOP');
    try {
      await query(rwConn(), 'INSERT INTO big SELECT g, repeat(md5(g::text), 60) FROM generate_series(1, 30000) g');
      const received = (await query(replica, 'SELECT pg_last_wal_receive_lsn()::text AS l'))[0].l;
      // Wait until the primary has published a position that far ahead on its lease (it does at every renewal).
      await eventually(async () => {
        const published = leaseOf(h).annotations[ANNOTATIONS.primaryLsn];
        if (!published || lsnDiff(published, received) <= MAX_LAG) throw new Error(`published ${published}, replica at ${received}`);
      }, 20000);
      const rowsOnPrimary = (await query(rwConn(), 'SELECT count(*)::int AS n FROM big'))[0].n;
      const killedAt = Date.now();
      h.pods[0].process!.killPod();

      const line = await h.pods[1].process!.waitForLog(l => /^no failover: this replica is \d+ bytes behind/.test(l.msg ?? ''), 60000);
      expect(line.maxLagBytes).toBe(MAX_LAG);
      expect(line.lagBytes).toBeGreaterThan(MAX_LAG);
      expect(line.msg).toContain(`more than failover.maxLagBytes ${MAX_LAG}`);
      expect(line.msg).toContain(`${line.lagBytes} bytes behind`);
      expect(line.fix).toContain('keeps waiting');
      expect(line.fix).toContain('kubectl -n databases delete lease lag-pg-primary');
      expect(line.fix).toContain('raise failover.maxLagBytes');
      // eslint-disable-next-line no-console
      console.log(
        `[durability] replica ${line.lagBytes} bytes behind (max ${MAX_LAG}): no failover, said so ${((Date.parse(line.time) - killedAt) / 1000).toFixed(1)} s after kill -9: "${line.msg}" fix: "${line.fix}"`,
      );

      // It keeps waiting, well past the lease duration.
      await sleep(20000);
      expect(role(h, 1)).toBe('replica');
      expect(logsMatching(h, 1, PROMOTING)).toEqual([]);
      expect(leaseOf(h).holder).toBe('lag-pg-0');
      expect((await query(replica, 'SELECT pg_is_in_recovery() AS r'))[0].r).toBe(true);

      // The old primary comes back: it takes its lease again; the replica (its receiver thawed only now: WAL still
      // in its socket buffer could bring it within the limit, and then promoting it would be right) catches up.
      const restartedAt = Date.now();
      h.startInstance(0);
      await h.waitReady(0, 120000);
      // eslint-disable-next-line no-console
      console.log(`[durability] old primary back and ready ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after its restart`);
      expect(role(h, 0)).toBe('primary');
      expect(leaseOf(h).holder).toBe('lag-pg-0');
      process.kill(pid, 'SIGCONT');
      await h.waitReady(1, 120000);
      await eventually(async () => {
        const n = (await query(h.direct(1, 'postgres', su, 'app'), 'SELECT count(*)::int AS n FROM big'))[0].n;
        if (n !== rowsOnPrimary) throw new Error(`replica has ${n} of ${rowsOnPrimary} rows`);
      }, 60000).catch(async e => {
        throw new Error(`${(e as Error).message}\n${await diagnose(h)}`);
      });
      expect(role(h, 1)).toBe('replica');
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
  });
});
