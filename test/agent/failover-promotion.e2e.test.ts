/**
 * A promotion that fails: the replica that took the lease cannot finish pg_promote (its WAL replay is frozen, as
 * a stuck disk would freeze it). It must not linger half-promoted with the lease: it stops postgres, removes the
 * promote request, gives the lease back and starts again as a replica; the next attempt, with a fresh postgres,
 * promotes it, and no acknowledged row is lost.
 */
import { LABELS } from '../../lib/contract';
import { ClusterHarness, eventually, query } from '../support/cluster-harness';
import { PROMOTING, leaseOf, logsMatching, lostRows, startCluster, synthCluster } from '../support/failover-probes';

jest.setTimeout(600000);

const FAILED = /^promotion failed: stopping postgres, giving the lease back/;

describe('a failed promotion', () => {
  const h = new ClusterHarness(synthCluster('promo-pg', {}), 'promo-pg');
  afterAll(() => h.stop());

  test('gives the lease back, restarts as a replica, and the retry promotes it without losing a row', async () => {
    const su = await startCluster(h);
    const rw = () => h.connectionFromUri(h.secretData('promo-pg-app')!.uri);
    await query(rw(), 'CREATE TABLE events (id bigint PRIMARY KEY)');
    await query(rw(), 'INSERT INTO events SELECT generate_series(1, 500)');
    const acknowledged = Array.from({ length: 500 }, (_, i) => i + 1);
    const replica = h.direct(1, 'postgres', su, 'postgres');
    await eventually(
      async () => expect(Number((await query(h.direct(1, 'postgres', su, 'app'), 'SELECT count(*) AS n FROM events'))[0].n)).toBe(500),
      30000,
    );

    // Freeze the replica's WAL replay (its startup process): pg_promote cannot finish within its 60 s.
    const [{ pid }] = await query(replica, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'");
    process.kill(pid, 'SIGSTOP');
    try {
      h.pods[0].process!.killPod();
      const failed = await h.pods[1].process!.waitForLog(l => FAILED.test(l.msg ?? ''), 200000);
      expect(failed.fix).toMatch(/postgres log/);
      // The lease was given back (or expires) and the retry promotes the replica with its fresh postgres.
      await eventually(
        async () => {
          const r = await query(rw(), 'SELECT pg_is_in_recovery() AS r, count(*) AS n FROM events');
          expect(r[0]).toEqual({ r: false, n: '500' });
        },
        120000,
        500,
      );
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone with its postgres, as it should be */
      }
    }
    expect(logsMatching(h, 1, PROMOTING).length).toBeGreaterThanOrEqual(2);
    expect(leaseOf(h).holder).toBe('promo-pg-1');
    expect(h.podLabels('promo-pg-1')[LABELS.role]).toBe('primary');
    expect(await lostRows(rw(), acknowledged)).toEqual([]);
    // The frozen process belonged to the postgres that was stopped: it is gone.
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
