/**
 * Failover without an operator: the agents of dist/shared-apps.k8s.yaml (2 instances, synchronous replication
 * `preferred`, lease 15 s) elect the primary through the Lease in the API double. Kill the primary's pod under
 * write load; partition it from the API; rejoin; switch over and back.
 */
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { EVENT_REASONS, LABELS } from '../../lib/contract';
import { SHARED_PG_SECRETS, lostRows, startCluster, writer } from '../support/failover-probes';

jest.setTimeout(300000);

describe('failover e2e (shared-pg from dist/)', () => {
  const h = new ClusterHarness('shared-apps.k8s.yaml', 'shared-pg');
  let su: string;
  const rwConn = () => h.connectionFromUri(h.secretData('shared-pg-mastodon-app')!.uri);
  const role = (pod: string) => h.podLabels(pod)[LABELS.role];
  /** The Events (events.k8s.io/v1) the agents recorded on `pod` with `reason`, in the API double. */
  const eventsOn = (pod: string, reason: string) => h.api.list('events', h.namespace).filter(e => e.regarding?.name === pod && e.reason === reason);
  /** Events are sent in the background: wait briefly for one to land (the waits are summed and printed). */
  let eventWaitMs = 0;
  const eventOn = async (pod: string, reason: string) => {
    const since = Date.now();
    try {
      return await eventually(
        async () => {
          const found = eventsOn(pod, reason);
          if (found.length === 0) throw new Error(`no ${reason} event on ${pod} yet`);
          return found;
        },
        10000,
        100,
      );
    } finally {
      eventWaitMs += Date.now() - since;
    }
  };

  beforeAll(async () => {
    su = await startCluster(h, { secrets: SHARED_PG_SECRETS });
    await query(rwConn(), 'CREATE TABLE IF NOT EXISTS events (id bigint PRIMARY KEY, at timestamptz DEFAULT now())');
  });
  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(
      `[failover] waited ${(eventWaitMs / 1000).toFixed(1)} s in total for Events to land; ${h.api.list('events', h.namespace).length} events: ${h.api
        .list('events', h.namespace)
        .map(e => `${e.regarding.name} ${e.reason}`)
        .join(', ')}`,
    );
    await h.stop();
  });

  test('kill -9 of the primary pod under load: the replica is promoted, -rw moves, no acknowledged row is lost', async () => {
    expect(role('shared-pg-0')).toBe('primary');
    const w = writer(rwConn);
    await sleep(3000);
    const killedAt = Date.now();
    h.pods[0].process!.killPod();
    await eventually(
      async () => {
        if (role('shared-pg-1') !== 'primary') throw new Error('not promoted yet');
        await query({ ...rwConn(), connectionTimeoutMillis: 1000 }, 'SELECT 1');
      },
      60000,
      200,
    );
    const failoverSeconds = (Date.now() - killedAt) / 1000;
    await sleep(2000);
    await w.stop();
    // eslint-disable-next-line no-console
    console.log(
      `[failover] -rw served by the new primary ${failoverSeconds.toFixed(1)} s after the kill; ${w.acknowledged.length} rows acknowledged`,
    );
    expect(failoverSeconds).toBeLessThan(30);
    expect(await lostRows(h.direct(1, 'postgres', su, 'mastodon'), w.acknowledged)).toEqual([]);
    const logs = h.pods[1].process!.logs();
    expect(logs.some(l => /failover: this replica holds the primary lease; promoting/.test(l.msg ?? ''))).toBe(true);
    expect((await h.httpGet(1, '/metrics')).body).toContain('pgc_failovers_total{cluster="shared-pg",pod="shared-pg-1"} 1');
    // kubectl get events: a Warning "Failover" on the promoted pod, naming the old primary.
    const [failover] = await eventOn('shared-pg-1', EVENT_REASONS.failover);
    expect(failover).toMatchObject({
      type: 'Warning',
      related: { name: 'shared-pg-0' },
      regarding: { kind: 'Pod', uid: h.api.get('Pod', h.namespace, 'shared-pg-1')!.metadata.uid },
    });
    // eslint-disable-next-line no-console
    console.log(`[failover] event ${failover.metadata.name} ${failover.reason}: ${failover.note}`);
  });

  test('the old primary comes back as a replica of the new one, never as a second primary', async () => {
    const p = h.startInstance(0);
    await h.waitReady(0, 90000);
    expect(role('shared-pg-0')).toBe('replica');
    expect(role('shared-pg-1')).toBe('primary');
    expect(p.logs().some(l => /rejoining as a replica/.test(l.msg ?? ''))).toBe(true);
    await query(rwConn(), 'INSERT INTO events (id) VALUES (1)');
    await eventually(async () => {
      const r = await query(h.direct(0, 'postgres', su, 'mastodon'), 'SELECT count(*)::int AS n FROM events WHERE id = 1');
      if (r[0].n !== 1) throw new Error('not replicated yet');
    }, 20000);
  });

  test('switchover to the old primary and back: clean, no committed row lost', async () => {
    for (const [target, from] of [
      ['shared-pg-0', 1],
      ['shared-pg-1', 0],
    ] as const) {
      const before = (await query(rwConn(), 'SELECT count(*)::int AS n FROM events'))[0].n;
      const launch = h.startJob(h.statefulSet, 'postgres', { args: ['switchover', '--to', target, '--wait'] });
      expect(await launch.exited).toBe(0);
      await eventually(
        async () => {
          if (role(target) !== 'primary') throw new Error('target not primary yet');
          await query({ ...rwConn(), connectionTimeoutMillis: 1000 }, 'SELECT 1');
        },
        60000,
        250,
      );
      await h.waitReady(from, 90000);
      const after = (await query(rwConn(), 'SELECT count(*)::int AS n FROM events'))[0].n;
      expect(after).toBe(before);
    }
    // Each was promoted once by a switchover; shared-pg-1's earlier promotion was the failover.
    const metrics = [(await h.httpGet(0, '/metrics')).body, (await h.httpGet(1, '/metrics')).body];
    expect(metrics[0]).toContain('pgc_switchovers_total{cluster="shared-pg",pod="shared-pg-0"} 1');
    expect(metrics[1]).toContain('pgc_switchovers_total{cluster="shared-pg",pod="shared-pg-1"} 1');
    expect(metrics[1]).toContain('pgc_failovers_total{cluster="shared-pg",pod="shared-pg-1"} 1');
    // One Switchover event on each target, one HandedOver on each old primary naming its successor.
    for (const [target, from] of [
      ['shared-pg-0', 'shared-pg-1'],
      ['shared-pg-1', 'shared-pg-0'],
    ]) {
      expect((await eventOn(target, EVENT_REASONS.switchover)).map(e => e.type)).toEqual(['Normal']);
      expect((await eventOn(from, EVENT_REASONS.handedOver)).map(e => [e.type, e.related?.name])).toEqual([['Normal', target]]);
    }
    expect(eventsOn('shared-pg-1', EVENT_REASONS.failover)).toHaveLength(1);
  });

  test('a primary cut off from the API fences itself before the lease can be taken: never two writable primaries', async () => {
    const primary = role('shared-pg-0') === 'primary' ? 0 : 1;
    const other = 1 - primary;
    const primaryPod = `shared-pg-${primary}`;
    const writable: Array<{ at: number; pods: number[] }> = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const pods: number[] = [];
        for (const i of [0, 1]) {
          try {
            await query(
              { ...h.direct(i, 'postgres', su, 'mastodon'), connectionTimeoutMillis: 500 },
              'CREATE TEMP TABLE probe (x int); INSERT INTO probe VALUES (1)',
            );
            pods.push(i);
          } catch {
            /* not writable */
          }
        }
        writable.push({ at: Date.now(), pods });
        await sleep(200);
      }
    })();
    h.api.setUnavailable(`pod:${primaryPod}`, true, { mode: 'refuse' });
    const partitionedAt = Date.now();
    await eventually(
      async () => {
        if (role(`shared-pg-${other}`) !== 'primary') throw new Error('not failed over yet');
      },
      90000,
      250,
    );
    const fenced = h.pods[primary].process!.logs().find(l => /fencing/.test(l.msg ?? ''));
    expect(fenced).toBeDefined();
    h.api.setUnavailable(`pod:${primaryPod}`, false);
    await h.waitReady(primary, 90000);
    watching = false;
    await watch;
    expect(writable.filter(w => w.pods.length > 1)).toEqual([]);
    expect(role(primaryPod)).toBe('replica');
    // The fenced primary was cut off from the API: its Fenced event is delivered once the API answers again.
    const [fencedEvent] = await eventOn(primaryPod, EVENT_REASONS.fenced);
    expect(fencedEvent.type).toBe('Warning');
    expect(Math.abs(Date.parse(fencedEvent.eventTime) - Date.parse(fenced.time))).toBeLessThan(1000); // the fencing's time
    expect(await eventOn(`shared-pg-${other}`, EVENT_REASONS.failover)).toHaveLength(1);
    // Each failover was followed by a base backup of the new primary (a child `pg-agent backup` in its pod, with its
    // ServiceAccount): its events are on that pod (this test has no reachable store, so they may say it failed).
    const backupReasons: string[] = [EVENT_REASONS.backupStarted, EVENT_REASONS.backupCompleted, EVENT_REASONS.backupFailed];
    const backupEvents = await eventually(
      async () => {
        const found = h.api.list('events', h.namespace).filter(e => e.regarding?.name === 'shared-pg-1' && backupReasons.includes(e.reason));
        if (found.length === 0) throw new Error('no backup event on shared-pg-1 yet');
        return found;
      },
      10000,
      100,
    );
    // eslint-disable-next-line no-console
    console.log(`[failover] backup after the failover: ${backupEvents.map(e => `${e.reason} (${e.type}): ${e.note}`).join(' | ')}`);
    // eslint-disable-next-line no-console
    console.log(
      `[failover] partition: fenced after ${((Date.parse(fenced.time) - partitionedAt) / 1000).toFixed(1)} s, replica promoted, old primary rejoined`,
    );
  });
});
