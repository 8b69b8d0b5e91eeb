/**
 * Rollouts and drains of a 2-instance cluster with a simulated StatefulSet controller and kubelet
 * (test/support/statefulset-controller.ts: revisions, OnDelete, graceful deletion with SIGTERM and the grace period,
 * recreation on the same volume, evictions checked against the PodDisruptionBudget). The agents replace their own
 * pods (agent/src/decide/rollout.ts): replicas first, then the primary, whose stop hands the lease over.
 * Each scenario: a writer on -rw; the longest write gap, lease-expiry failovers, switchovers and lost rows counted.
 */
import * as fs from 'fs';
import * as path from 'path';
import { eventually, query, sleep } from '../support/cluster-harness';
import { RolloutDrill, printChange } from '../support/rollout-drill';
import { ensureS3, outageEndpoint, startRgw, stopRgw } from '../support/s3';

jest.setTimeout(600000);

// eslint-disable-next-line no-console
const say = (line: string) => console.log(line);

describe('agent-driven rollouts (OnDelete) and drains, StatefulSet controller simulated', () => {
  const d = new RolloutDrill('roll');
  const { h, ctl } = d;

  beforeAll(async () => d.start(await ensureS3()));
  afterAll(async () => d.stop());

  for (const primaryAt of [0, 1]) {
    test(`template change with the primary on ordinal ${primaryAt}: the replica first, then the primary with one hand-over`, async () => {
      await d.primaryTo(primaryAt);
      expect(d.primaryOrdinal()).toBe(primaryAt);
      let order: number[] = [];
      const f = await d.underLoad(`template change, primary on ${primaryAt}`, async () => {
        order = await d.templateChange();
      });
      say(printChange(f));
      expect(order).toEqual([1 - primaryAt, primaryAt]);
      expect(h.pods.map(p => ctl.revisionOf(p.name))).toEqual([ctl.updateRevision, ctl.updateRevision]);
      expect(f.lost).toBe(0);
      expect(f.expiryFailovers).toBe(0);
      expect(f.switchovers).toBe(1);
      expect(f.leaseTransitions).toBe(1);
      expect(d.primaryOrdinal()).toBe(1 - primaryAt);
      // The bar is 2 s (1.9-3.0 s measured at load 1-6); the assertion leaves room for a 2-core machine at load
      // 10 (5-6 s seen): it still fails on a lease-expiry wait (15 s and more). The figure is printed, and
      // `npm run bench:rollout` gives the distribution.
      expect(f.gapMs).toBeLessThanOrEqual(8000);
    });
  }

  test("a node drain keeps the primary's pod away longer than the lease: handed over at once, no lease expiry", async () => {
    const primary = d.primaryOrdinal();
    const f = await d.underLoad("drain of the primary's node (pod away 20 s)", async () => {
      expect(ctl.evict(h.pods[primary].name, 20000)).toBe(true);
      // The replica's eviction is refused while the primary's pod is away (PodDisruptionBudget maxUnavailable 1).
      await sleep(1000);
      expect(ctl.evict(h.pods[1 - primary].name)).toBe(false);
      await ctl.waitRolledOut(120000);
    });
    say(printChange(f));
    expect(f.lost).toBe(0);
    expect(f.expiryFailovers).toBe(0);
    expect(f.switchovers).toBe(1);
    expect(d.role(h.pods[primary].name)).toBe('replica');
    expect(f.gapMs).toBeLessThanOrEqual(8000);
  });
});

describe('a rollout while the backup store is unreachable', () => {
  const d = new RolloutDrill('rollout-s3down');
  const { h } = d;

  beforeAll(async () => d.start(await outageEndpoint()));
  afterAll(async () => {
    await startRgw('outage');
    await d.stop();
  });

  test('the primary stops without waiting on the failing archive; the paused segments are archived once the store is back', async () => {
    await stopRgw('outage');
    try {
      // The primary's archiver must have failed at least once: a segment switch makes it try.
      const direct = h.direct(d.primaryOrdinal(), 'postgres', h.secretData('rollout-s3down-superuser')!.password, 'postgres');
      await eventually(
        async () => {
          await query(direct, 'SELECT txid_current()');
          await query(direct, 'SELECT pg_switch_wal()');
          const [{ failed }] = await query(direct, 'SELECT failed_count AS failed FROM pg_stat_archiver');
          if (Number(failed) === 0) throw new Error('archiving has not failed yet');
        },
        30000,
        1000,
      );
      const f = await d.underLoad('template change, store unreachable', async () => {
        await d.templateChange();
      });
      say(printChange(f));
      expect(f.lost).toBe(0);
      expect(f.expiryFailovers).toBe(0);
      expect(f.switchovers).toBe(1);
      expect(
        h.processes.flatMap(p => p.logs()).some(l => /^the store has been failing: stopping without the final archiving attempts/.test(l.msg ?? '')),
      ).toBe(true);
      expect(f.gapMs).toBeLessThanOrEqual(8000);
    } finally {
      await startRgw('outage');
    }
    // Archived by the instances (archive_mode=always) once the store answers: nothing stays `.ready`.
    await eventually(
      async () => {
        const ready = h.pods.flatMap(p =>
          fs.readdirSync(path.join(p.dataDir, 'pgdata', 'pg_wal', 'archive_status')).filter(n => n.endsWith('.ready')),
        );
        if (ready.length) throw new Error(`still .ready: ${ready.join(', ')}`);
      },
      120000,
      2000,
    );
  });
});
