/**
 * Failover with skewed node clocks: the agents of dist/shared-apps.k8s.yaml (lease 15 s) run under Debian's
 * libfaketime, shared-pg-0 with its wall clock 5 s behind and shared-pg-1 5 s ahead, the monotonic clock left
 * alone (DONT_FAKE_MONOTONIC=1), as on two nodes whose NTP disagrees. The Lease's renewTime/acquireTime are then
 * written by skewed clocks, 10 s apart; the design must not read them: expiry is judged on the observer's monotonic
 * clock. A replica that compared renewTime with its own wall clock would take over ~5 s after the primary died,
 * before the primary's own fence deadline (10 s): the tests show it waits a whole lease.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { LABELS } from '../../lib/contract';
import {
  FENCED,
  PROMOTING,
  SHARED_PG_SECRETS,
  leaseOf,
  logsMatching,
  lostRows,
  startCluster,
  watchWritable,
  writer,
} from '../support/failover-probes';

jest.setTimeout(600000);

/** Debian's libfaketime (`apt-get install faketime`), under /usr/lib/<multiarch triplet>/. */
const LIBFAKETIME = fs
  .readdirSync('/usr/lib')
  .map(d => path.join('/usr/lib', d, 'faketime', 'libfaketime.so.1'))
  .find(f => fs.existsSync(f));
const skewed = (offset: string) => ({ LD_PRELOAD: LIBFAKETIME!, FAKETIME: offset, DONT_FAKE_MONOTONIC: '1' });
const SKEW = { 0: '-5s', 1: '+5s' } as const;

describe('failover with clocks 5 s behind and 5 s ahead (shared-pg from dist/, libfaketime)', () => {
  const h = new ClusterHarness('shared-apps.k8s.yaml', 'shared-pg');
  let su: string;
  const rwConn = () => h.connectionFromUri(h.secretData('shared-pg-mastodon-app')!.uri);
  const role = (ordinal: number) => h.podLabels(`shared-pg-${ordinal}`)[LABELS.role];
  /** How far ahead of the real clock the lease's renewTime is (negative: behind), in ms. */
  const renewSkew = () => Date.parse(leaseOf(h).renewTime!) - Date.now();

  beforeAll(async () => {
    // A missing libfaketime must fail the test, not turn it into one without skew.
    expect(LIBFAKETIME).toBeDefined();
    su = await startCluster(h, { secrets: SHARED_PG_SECRETS, env: ordinal => skewed(SKEW[ordinal as 0 | 1]) });
    await query(rwConn(), 'CREATE TABLE IF NOT EXISTS events (id bigint PRIMARY KEY, at timestamptz DEFAULT now())');
  });
  afterAll(() => h.stop());

  test('the skew is real: each agent and its postgres see their own wall clock', async () => {
    for (const [ordinal, expected] of [
      [0, -5000],
      [1, 5000],
    ] as const) {
      const [{ ms }] = await query(
        h.direct(ordinal, 'postgres', su, 'postgres'),
        'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms',
      );
      expect(Math.abs(ms - Date.now() - expected)).toBeLessThan(1500);
    }
    // The primary (behind) writes renewTime about 5 s in the past; it renews every second.
    expect(leaseOf(h).holder).toBe('shared-pg-0');
    expect(renewSkew()).toBeLessThan(-3000);
    expect(renewSkew()).toBeGreaterThan(-8000);
  });

  test('while the primary (clock behind) renews, the replica (clock ahead) never takes over', async () => {
    const before = leaseOf(h);
    const watch = watchWritable(h, su, 'mastodon');
    await sleep(25000); // more than a lease duration
    await watch.stop();
    expect(leaseOf(h).holder).toBe('shared-pg-0');
    expect(leaseOf(h).transitions).toBe(before.transitions);
    expect(logsMatching(h, 1, PROMOTING)).toEqual([]);
    expect(logsMatching(h, 0, FENCED)).toEqual([]);
    expect(watch.splitBrain()).toEqual([]);
  });

  test('kill -9 of the primary: the replica waits a whole lease on its own clock, then takes over within the bound', async () => {
    const w = writer(rwConn);
    await sleep(3000);
    const killedAt = Date.now();
    h.pods[0].process!.killPod();
    // The moment the lease changes hands, seen in the API double (the real clock of this test).
    const acquiredAt = await eventually(
      async () => {
        if (leaseOf(h).holder !== 'shared-pg-1') throw new Error('not taken yet');
        return Date.now();
      },
      60000,
      100,
    );
    await eventually(
      async () => {
        if (role(1) !== 'primary') throw new Error('not labelled yet');
        await query({ ...rwConn(), connectionTimeoutMillis: 1000 }, 'SELECT 1');
      },
      60000,
      200,
    );
    const servedAt = Date.now();
    await sleep(2000);
    await w.stop();
    const takeover = (acquiredAt - killedAt) / 1000;
    const served = (servedAt - killedAt) / 1000;
    // eslint-disable-next-line no-console
    console.log(
      `[clock-skew] primary 5 s behind, replica 5 s ahead: lease taken ${takeover.toFixed(1)} s after kill -9, -rw served by the new primary after ${served.toFixed(1)} s; acquireTime written ${((Date.parse(leaseOf(h).acquireTime!) - acquiredAt) / 1000).toFixed(1)} s ahead`,
    );
    // Not before the dead primary's fence deadline (10 s after its last renewal, at most ~1 s before the kill)…
    expect(takeover).toBeGreaterThan(12);
    // …and within the bound (target: under 30 s with the default 15 s lease).
    expect(served).toBeLessThan(30);
    // The new holder wrote acquireTime with its clock, 5 s ahead.
    expect(Date.parse(leaseOf(h).acquireTime!) - acquiredAt).toBeGreaterThan(3000);
    expect(await lostRows(h.direct(1, 'postgres', su, 'mastodon'), w.acknowledged)).toEqual([]);
    expect((await h.httpGet(1, '/metrics')).body).toContain('pgc_failovers_total{cluster="shared-pg",pod="shared-pg-1"} 1');
  });

  test('the old primary rejoins as a replica; with the primary now ahead and the replica behind, no takeover while it renews', async () => {
    h.startInstance(0, skewed(SKEW[0]));
    await h.waitReady(0, 120000);
    expect(role(0)).toBe('replica');
    const before = leaseOf(h);
    expect(before.holder).toBe('shared-pg-1');
    expect(renewSkew()).toBeGreaterThan(3000);
    const watch = watchWritable(h, su, 'mastodon');
    await sleep(25000);
    await watch.stop();
    expect(leaseOf(h).holder).toBe('shared-pg-1');
    expect(leaseOf(h).transitions).toBe(before.transitions);
    expect(logsMatching(h, 0, PROMOTING)).toEqual([]);
    expect(watch.splitBrain()).toEqual([]);
    expect(role(1)).toBe('primary');
  });
});
