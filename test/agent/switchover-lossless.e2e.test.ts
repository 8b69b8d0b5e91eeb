/**
 * Issue 12 item 2: a switchover right after the primary restarted lost 608 acknowledged rows (the target promoted
 * before it had received the primary's last WAL, and the old primary was rewound onto the new timeline). Now the
 * primary hands over only to a streaming replica and the target promotes only past the old primary's final
 * position; otherwise the switchover is refused, the command exits non-zero and the old primary goes on.
 * Asynchronous replication (the default), writer on -rw; rows counted on -rw and in a restore to latest.
 */
import { LABELS } from '../../lib/contract';
import { storeEnvRewrite } from '../support/backup';
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { leaseOf, lostRows, startCluster, watchWritable, writer } from '../support/failover-probes';
import { restoreOldestToLatest } from '../support/restore-latest';
import { S3Endpoint, createBucket, deleteBucketRecursive, ensureS3, uniqueBucketName } from '../support/s3';
import { STORE_SECRET, synthWithStore } from '../support/synth';

jest.setTimeout(900000);
const CLUSTER = 'switch-pg';

const manifests = () => synthWithStore(CLUSTER);

describe('lossless switchover (2 instances, asynchronous, archiving to RGW)', () => {
  const h = new ClusterHarness(manifests(), CLUSTER);
  const bucket = uniqueBucketName('switch');
  let ep: S3Endpoint;
  let su: string;
  const rwConn = () => h.connectionFromUri(h.secretData(`${CLUSTER}-app`)!.uri);
  const primaryOrdinal = () => h.pods.findIndex(p => h.podLabels(p.name)[LABELS.role] === 'primary');
  const acknowledged: number[] = [];
  const outcomes: string[] = [];

  beforeAll(async () => {
    ep = await ensureS3();
    await createBucket(bucket);
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    su = await startCluster(h, { secrets: { [STORE_SECRET]: { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey } } });
    await query(rwConn(), 'CREATE TABLE events (id bigint PRIMARY KEY)');
    const backup = await h.runJob(`${CLUSTER}-backup`);
    expect(await backup.exited).toBe(0);
  });
  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(`[switchover] ${outcomes.join('\n[switchover] ')}`);
    await h.stop();
    await deleteBucketRecursive(bucket).catch(() => undefined);
  });

  /** `pg-agent switchover --to <pod>` as the manifest's container runs it; its exit code and last line. */
  async function switchover(target: string) {
    const p = h.startJob(h.statefulSet, 'postgres', { args: ['switchover', '--to', target] });
    const code = await p.exited;
    const last = p
      .logs()
      .filter(l => l.msg)
      .pop();
    return { code, msg: String(last?.msg ?? ''), fix: String(last?.fix ?? '') };
  }

  test('right after the primary restarted (kill -9, back within the lease): done losslessly, or refused with a non-zero exit and the primary goes on', async () => {
    for (let trial = 1; trial <= 3; trial++) {
      await h.waitReady(0, 120000);
      await h.waitReady(1, 120000);
      const from = primaryOrdinal();
      const to = 1 - from;
      const w = writer(rwConn);
      const watch = watchWritable(h, su, 'app', 250);
      await sleep(2000);
      h.pods[from].process!.killPod();
      await h.pods[from].process!.waitPodGone();
      h.startInstance(from);
      // As soon as the old primary accepts writes again, with the replica still reconnecting: ask for the switchover.
      await eventually(
        async () => {
          await query({ ...rwConn(), connectionTimeoutMillis: 500 }, 'SELECT 1');
        },
        60000,
        100,
      );
      await sleep(500);
      const r = await switchover(`${CLUSTER}-${to}`);
      await sleep(3000);
      await w.stop();
      await watch.stop();
      acknowledged.push(...w.acknowledged);
      const holder = leaseOf(h).holder;
      const lost = await eventually(async () => lostRows(rwConn(), w.acknowledged), 60000);
      outcomes.push(
        `trial ${trial}: ${r.code === 0 ? 'switched over' : `refused (exit ${r.code}: ${r.msg})`}; primary now ${holder}; ${w.acknowledged.length} rows acknowledged, ${lost.length} lost; longest write gap ${(w.longestGapMs() / 1000).toFixed(1)} s`,
      );
      expect(lost).toEqual([]);
      expect(watch.splitBrain()).toEqual([]);
      if (r.code === 0) expect(holder).toBe(`${CLUSTER}-${to}`);
      else {
        expect(r.code).toBe(2);
        expect(r.msg).toMatch(/^switchover to switch-pg-\d did not happen: switch-pg-\d is not streaming|replayed only/);
        expect(holder).toBe(`${CLUSTER}-${from}`);
      }
    }
  });

  test('a plain switchover under load: every acknowledged row kept, the write gap printed', async () => {
    await h.waitReady(0, 120000);
    await h.waitReady(1, 120000);
    const from = primaryOrdinal();
    const to = 1 - from;
    await eventually(async () => {
      const [s] = await query(
        h.direct(from, 'postgres', su, 'postgres'),
        "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'",
      );
      if (s.n !== 1) throw new Error('replica not streaming yet');
    }, 60000);
    const w = writer(rwConn);
    await sleep(2000);
    const r = await switchover(`${CLUSTER}-${to}`);
    await sleep(3000);
    await w.stop();
    acknowledged.push(...w.acknowledged);
    outcomes.push(
      `plain: exit ${r.code}, primary now ${leaseOf(h).holder}; ${w.acknowledged.length} rows acknowledged; longest write gap ${(w.longestGapMs() / 1000).toFixed(1)} s`,
    );
    expect(r.code).toBe(0);
    expect(leaseOf(h).holder).toBe(`${CLUSTER}-${to}`);
    expect(await lostRows(rwConn(), w.acknowledged)).toEqual([]);
  });

  test('a restore of the oldest backup to latest holds every row acknowledged in the trials', async () => {
    await h.waitReady(0, 120000);
    await h.waitReady(1, 120000);
    const direct = h.direct(primaryOrdinal(), 'postgres', su, 'postgres');
    const [{ w: last }] = await eventually(() => query(direct, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS w, pg_switch_wal()'), 60000);
    await eventually(
      async () => {
        const [a] = await query(direct, 'SELECT last_archived_wal AS l FROM pg_stat_archiver');
        if (!(a.l >= last)) throw new Error(`archived up to ${a.l}`);
      },
      120000,
      500,
    );
    const restored = await restoreOldestToLatest({ ep, bucket, serverName: CLUSTER, superuserPassword: su, database: 'app' });
    const missing = acknowledged.filter(id => !restored.ids.has(id));
    outcomes.push(
      `restore of ${restored.backupId} to latest (timeline ${restored.timeline}): ${acknowledged.length - missing.length} of ${acknowledged.length} acknowledged rows`,
    );
    expect(missing).toEqual([]);
  });
});
