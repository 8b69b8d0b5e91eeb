/**
 * Failover under a flapping Kubernetes API: the agents of dist/shared-apps.k8s.yaml (2 instances, synchronous
 * `preferred`, lease 15 s, so the primary fences 10 s after its last renewal) while the API double refuses, resets
 * or leaves hanging the requests of the primary (or of everyone) in bursts. Writes go through `-rw` all along, and
 * every 200 ms each instance is asked to write directly: never two accept.
 */
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { LABELS } from '../../lib/contract';
import { FaultMode } from '../support/kube-api-double';
import {
  FENCED,
  PROMOTING,
  SHARED_PG_SECRETS,
  diagnose,
  leaseOf,
  logsMatching,
  lostRows,
  startCluster,
  watchWritable,
  writer,
} from '../support/failover-probes';

jest.setTimeout(600000);

/** Two thirds of the 15 s lease; the fence watch checks every 200 ms, and the machine is loaded: 1.5 s margin. */
const FENCE_DEADLINE_MS = 10000;
const FENCE_MARGIN_MS = 1500;

describe('failover under a flapping API (shared-pg from dist/)', () => {
  const h = new ClusterHarness('shared-apps.k8s.yaml', 'shared-pg');
  let su: string;
  const rwConn = () => h.connectionFromUri(h.secretData('shared-pg-mastodon-app')!.uri);
  const role = (ordinal: number) => h.podLabels(`shared-pg-${ordinal}`)[LABELS.role];
  const primaryOrdinal = () => (role(0) === 'primary' ? 0 : 1);

  beforeAll(async () => {
    su = await startCluster(h, { secrets: SHARED_PG_SECRETS });
    await query(rwConn(), 'CREATE TABLE IF NOT EXISTS events (id bigint PRIMARY KEY, at timestamptz DEFAULT now())');
  });
  afterAll(() => h.stop());

  /** Exactly one pod labelled primary, holding the lease, both ready: the cluster has settled. */
  async function settled(timeoutMs = 120000): Promise<number> {
    return eventually(
      async () => {
        const primaries = [0, 1].filter(i => role(i) === 'primary');
        if (primaries.length !== 1) throw new Error(`primaries: ${primaries}`);
        if (leaseOf(h).holder !== `shared-pg-${primaries[0]}`) throw new Error(`lease held by ${leaseOf(h).holder}`);
        for (const i of [0, 1]) if ((await h.httpGet(i, '/readyz')).status !== 200) throw new Error(`pod ${i} not ready`);
        await query({ ...rwConn(), connectionTimeoutMillis: 1000 }, 'SELECT 1');
        return primaries[0];
      },
      timeoutMs,
      500,
    ).catch(async e => {
      throw new Error(`not settled: ${(e as Error).message}\n${await diagnose(h)}`);
    });
  }

  async function burst(target: string, mode: FaultMode, onMs: number, offMs: number): Promise<void> {
    h.api.setUnavailable(target, true, { mode });
    await sleep(onMs);
    h.api.setUnavailable(target, false);
    await sleep(offMs);
  }

  test('bursts shorter than the fence deadline (primary only or everyone; refused, reset, hanging): no fencing, no failover', async () => {
    const p = primaryOrdinal();
    const primaryPod = `shared-pg-${p}`;
    const before = leaseOf(h);
    const fencesBefore = [0, 1].map(i => logsMatching(h, i, FENCED).length);
    const w = writer(rwConn);
    const watch = watchWritable(h, su, 'mastodon');
    for (const mode of ['refuse', 'reset', 'hang'] as const) {
      for (let i = 0; i < 3; i++) await burst(`pod:${primaryPod}`, mode, 2500, 1500);
    }
    for (let i = 0; i < 2; i++) await burst('all', 'hang', 4000, 2000);
    await burst('all', 'refuse', 4000, 3000);
    const ackedDuringBursts = w.acknowledged.length;
    await sleep(2000);
    await w.stop();
    await watch.stop();

    expect(watch.splitBrain()).toEqual([]);
    const after = leaseOf(h);
    expect(after.holder).toBe(primaryPod);
    expect(after.transitions).toBe(before.transitions);
    expect([0, 1].map(i => logsMatching(h, i, FENCED).length)).toEqual(fencesBefore);
    expect(logsMatching(h, 1 - p, PROMOTING)).toEqual([]);
    expect(role(p)).toBe('primary');
    // The API is not in the data path: writes went on through every burst.
    expect(ackedDuringBursts).toBeGreaterThan(50);
    expect(await lostRows(h.direct(p, 'postgres', su, 'mastodon'), w.acknowledged)).toEqual([]);
    // eslint-disable-next-line no-console
    console.log(
      `[flapping] 17 bursts of 2.5-4 s: lease kept by ${primaryPod}, ${w.acknowledged.length} rows acknowledged, ${w.failures} failed writes, ${watch.samples.length} write probes, never two writable`,
    );
  });

  test('bursts around and past the fence deadline: the primary fences in time, then re-acquires or a replica takes over cleanly', async () => {
    const w = writer(rwConn);
    const watch = watchWritable(h, su, 'mastodon');
    const outcomes: string[] = [];
    for (const [who, mode, ms] of [
      ['primary', 'hang', 8000],
      ['primary', 'hang', 12000],
      ['primary', 'refuse', 12000],
      ['all', 'hang', 12000],
    ] as const) {
      const p = primaryOrdinal();
      const target = who === 'all' ? 'all' : `pod:shared-pg-${p}`;
      const fencesBefore = logsMatching(h, p, FENCED).length;
      const resumesBefore = logsMatching(h, p, /resuming as primary/).length;
      const promotionsBefore = logsMatching(h, 1 - p, PROMOTING).length;
      await burst(target, mode, ms, 0);
      const now = await settled();
      const fences = logsMatching(h, p, FENCED).slice(fencesBefore);
      const tookOver = logsMatching(h, 1 - p, PROMOTING).length > promotionsBefore;
      const resumed = logsMatching(h, p, /resuming as primary/).length > resumesBefore;
      // Past the deadline (plus margin for the tick before the burst), the primary must have fenced itself…
      if (ms >= FENCE_DEADLINE_MS + 2000) expect(fences.length).toBeGreaterThan(0);
      // …and in time: counted from when it sent its last renewal, whether the API refused or never answered.
      for (const f of fences) expect(f.sinceRenewalMs).toBeLessThan(FENCE_DEADLINE_MS + FENCE_MARGIN_MS);
      // Exactly one of: no fence (kept the lease), fenced and re-acquired, fenced and the replica took over.
      if (tookOver) expect(now).toBe(1 - p);
      else expect(now).toBe(p);
      if (fences.length && !tookOver) expect(resumed).toBe(true);
      outcomes.push(
        `${who} ${mode} ${ms / 1000} s: ${fences.length ? `fenced after ${fences.map(f => f.sinceRenewalMs).join('/')} ms without renewal, ` : 'no fence, '}` +
          `${tookOver ? `shared-pg-${1 - p} took over` : resumed ? `shared-pg-${p} re-acquired the lease` : `shared-pg-${p} kept the lease`}`,
      );
    }
    await sleep(2000);
    await w.stop();
    await watch.stop();
    expect(watch.splitBrain()).toEqual([]);
    for (const i of [0, 1]) {
      expect((await h.httpGet(i, '/metrics')).body).toContain(
        `pgc_fencings_total{cluster="shared-pg",pod="shared-pg-${i}"} ${logsMatching(h, i, FENCED).length}`,
      );
    }
    const p = await settled();
    expect(await lostRows(h.direct(p, 'postgres', su, 'mastodon'), w.acknowledged)).toEqual([]);
    // eslint-disable-next-line no-console
    console.log(
      `[flapping] ${outcomes.join('; ')}; ${w.acknowledged.length} rows acknowledged, none lost, ${watch.samples.length} write probes, never two writable`,
    );
  });

  test('preferred: with the replica down, commits go on without it', async () => {
    const p = primaryOrdinal();
    const r = 1 - p;
    h.pods[r].process!.killPod();
    await h.pods[r].process!.exited;
    const started = Date.now();
    await query({ ...rwConn(), query_timeout: 15000 }, 'INSERT INTO events (id) VALUES (2)');
    const seconds = (Date.now() - started) / 1000;
    // eslint-disable-next-line no-console
    console.log(`[flapping] preferred, replica down: a commit returned after ${seconds.toFixed(1)} s`);
    expect(seconds).toBeLessThan(15);
    h.startInstance(r);
    await h.waitReady(r, 120000);
    expect(await settled()).toBe(p);
  });
});
