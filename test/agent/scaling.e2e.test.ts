/**
 * Scaling and hibernation (issue 13), with the agents run as processes from the synthesized manifests and the
 * StatefulSet's spec.replicas changed in the API, as `instances`/`hibernate` from git would change it:
 * - 2 → 3: the new pod clones a replica while the others keep running (the pod template did not change);
 * - 3 → 2: the primary drops the removed instance's slot within a minute, its volume is kept;
 * - hibernate (replicas 0, every pod gets SIGTERM at once) and resume: the old primary is primary again on its
 *   lease, no initdb, no failover, every row acknowledged before the hibernation is there.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { LABELS } from '../../lib/contract';
import { leaseOf, lostRows, startCluster, synthCluster, writer } from '../support/failover-probes';

jest.setTimeout(600000);

const CLUSTER = 'scale-pg';
const manifests = (instances: number, hibernate = false) => synthCluster(CLUSTER, { instances, hibernate });
const log = (line: string) => process.stdout.write(`[scaling] ${line}\n`);

describe('scaling and hibernation (the agents read spec.replicas; no pod template change)', () => {
  const h = new ClusterHarness(manifests(2), CLUSTER);
  let superuser = '';
  const rwConn = () => h.connectionFromUri(h.secretData(`${CLUSTER}-app`)!.uri);
  const direct = (ordinal: number) => h.direct(ordinal, 'postgres', superuser, 'app');
  const role = (ordinal: number) => h.podLabels(`${CLUSTER}-${ordinal}`)[LABELS.role];
  const slots = async () => (await query(direct(0), 'SELECT slot_name FROM pg_replication_slots ORDER BY 1')).map(r => r.slot_name as string);
  const postmasterStart = async (ordinal: number) => String((await query(direct(ordinal), 'SELECT pg_postmaster_start_time()::text AS t'))[0].t);
  /** Every acknowledged row has arrived on this instance (a replica catches up within the timeout). */
  const caughtUp = (ordinal: number, acknowledged: number[]) =>
    eventually(
      async () => {
        const lost = await lostRows(direct(ordinal), acknowledged);
        if (lost.length) throw new Error(`${lost.length} of ${acknowledged.length} rows not on ${CLUSTER}-${ordinal} yet`);
      },
      60000,
      500,
    );

  beforeAll(async () => {
    superuser = await startCluster(h);
    await query(rwConn(), 'CREATE TABLE IF NOT EXISTS events (id bigint PRIMARY KEY, at timestamptz DEFAULT now())');
  });
  afterAll(() => h.stop());

  test("the data volume's size, used and available bytes are on /metrics (statfs of PGDATA)", async () => {
    const metrics = (await h.httpGet(0, '/metrics')).body;
    const value = (name: string) => Number(new RegExp(`^${name}\\{cluster="${CLUSTER}",pod="${CLUSTER}-0"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    const s = fs.statfsSync(h.pods[0].dataDir);
    expect(value('pgc_volume_size_bytes')).toBe(s.blocks * s.bsize);
    // Used and available move with every write on this shared disk (read every 5 s): consistent, not equal.
    expect(value('pgc_volume_used_bytes')).toBeGreaterThan(0);
    expect(value('pgc_volume_available_bytes')).toBeGreaterThan(0);
    expect(value('pgc_volume_used_bytes') + value('pgc_volume_available_bytes')).toBeLessThanOrEqual(value('pgc_volume_size_bytes'));
    log(
      `/metrics: size ${value('pgc_volume_size_bytes')} B, used ${value('pgc_volume_used_bytes')} B, available ${value('pgc_volume_available_bytes')} B`,
    );
  });

  test('2 → 3: the new instance clones a replica under a write load; the running pods are not restarted', async () => {
    expect(role(0)).toBe('primary');
    const before = [await postmasterStart(0), await postmasterStart(1)];
    const agents = [h.pods[0].process!, h.pods[1].process!];
    const w = writer(rwConn);
    await sleep(2000);
    const scaledAt = Date.now();
    h.scaleStatefulSet(3, manifests(3));
    await h.addPod(2);
    h.startInstance(2); // the StatefulSet controller creates pod 2 with the same template
    await h.waitReady(2, 180000);
    const readyAfter = (Date.now() - scaledAt) / 1000;
    await sleep(1000);
    await w.stop();
    await caughtUp(2, w.acknowledged);
    const onNew = Number((await query(direct(2), 'SELECT count(*) AS n FROM events'))[0].n);
    const onPrimary = Number((await query(direct(0), 'SELECT count(*) AS n FROM events'))[0].n);
    log(
      `2 → 3: ${CLUSTER}-2 ready ${readyAfter.toFixed(1)} s after the scale; ${w.acknowledged.length} rows acknowledged during it, ${onPrimary} rows on the primary, ${onNew} on the new replica; longest write gap ${(w.longestGapMs() / 1000).toFixed(2)} s`,
    );
    expect(role(2)).toBe('replica');
    expect(onNew).toBe(onPrimary);
    expect(await lostRows(rwConn(), w.acknowledged)).toEqual([]);
    // Nothing restarted: same agent processes, same postmasters.
    expect(agents.map(a => a.child.exitCode)).toEqual([null, null]);
    expect([h.pods[0].process, h.pods[1].process]).toEqual(agents);
    expect([await postmasterStart(0), await postmasterStart(1)]).toEqual(before);
    expect(await slots()).toEqual(['scale_pg_1', 'scale_pg_2']);
  });

  test("3 → 2: the primary drops the removed instance's slot within a minute; its volume is kept", async () => {
    h.scaleStatefulSet(2, manifests(2));
    const stoppedAt = Date.now();
    h.pods[2].process!.kill('SIGTERM'); // the controller deletes the highest ordinal
    expect(await h.pods[2].process!.exited).toBe(0);
    // WAL written meanwhile would be held for the removed replica as long as its slot exists.
    await query(rwConn(), 'INSERT INTO events (id) SELECT g FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING');
    await eventually(
      async () => {
        if ((await slots()).includes('scale_pg_2')) throw new Error('slot scale_pg_2 still there');
      },
      90000,
      500,
    );
    const goneAfter = (Date.now() - stoppedAt) / 1000;
    log(
      `3 → 2: slot scale_pg_2 dropped ${goneAfter.toFixed(1)} s after ${CLUSTER}-2 was stopped (bound 60 s); slots now ${JSON.stringify(await slots())}`,
    );
    expect(goneAfter).toBeLessThan(60);
    expect(await slots()).toEqual(['scale_pg_1']);
    // The PVC is kept (retention policy, never pruned): the volume still holds the instance's data directory.
    expect(fs.existsSync(path.join(h.pods[2].dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);
    const dropLine = h.pods[0].process!.logs().find(l => /^replication slot scale_pg_2 .* dropping it/.test(l.msg ?? ''));
    expect(dropLine?.invariant).toBe('I2 verify before destroy');
    expect(role(0)).toBe('primary');
  });

  test('hibernate (replicas 0, SIGTERM to every pod) and resume with the replica first: no failover, same primary, no initdb, every acknowledged row back', async () => {
    const transitions = leaseOf(h).transitions;
    const w = writer(rwConn);
    await sleep(3000);
    h.scaleStatefulSet(0, manifests(2, true));
    const stopping = [h.pods[0].process!, h.pods[1].process!];
    // The worst order of the signals sent at once: the replica is gone first, the primary still acknowledges writes
    // it alone has (asynchronous replication), then stops.
    stopping[1].kill('SIGTERM');
    expect(await stopping[1].exited).toBe(0);
    const ackedAfterReplicaStopped = w.acknowledged.length;
    await sleep(1000);
    stopping[0].kill('SIGTERM');
    expect(await stopping[0].exited).toBe(0);
    await w.stop();
    const onlyOnPrimary = w.acknowledged.length - ackedAfterReplicaStopped;
    expect(onlyOnPrimary).toBeGreaterThan(0);
    expect(leaseOf(h).holder).toBe(`${CLUSTER}-0`);
    expect(stopping[0].logs().some(l => /^the StatefulSet is scaled to 0 \(hibernation\)/.test(l.msg ?? ''))).toBe(true);
    expect(stopping[0].logs().some(l => /handed the lease over/.test(l.msg ?? ''))).toBe(false);
    const finalLsn = leaseOf(h).annotations['postgres.cdk8s.io/hibernated-lsn'];
    expect(finalLsn).toBe(leaseOf(h).annotations['postgres.cdk8s.io/primary-lsn']);
    log(
      `hibernated: ${w.acknowledged.length} rows acknowledged up to the SIGTERM (${onlyOnPrimary} after the replica had stopped), lease kept by ${leaseOf(h).holder}, final LSN ${finalLsn}`,
    );

    // Resume, the replica's pod first and alone for longer than the lease (its node was faster, the primary's image
    // pull slow): it must not take over with less than the primary has.
    h.scaleStatefulSet(2, manifests(2));
    h.startInstance(1);
    await sleep(22000);
    expect(leaseOf(h).holder).toBe(`${CLUSTER}-0`);
    const waited = h.pods[1].process!.logs().find(l => /^no failover: the primary stopped for hibernation at /.test(l.msg ?? ''));
    expect(waited?.invariant).toBe('I3 no acknowledged write lost');
    log(`resume, replica alone for 22 s: ${waited?.msg}`);
    const resumedAt = Date.now();
    h.startInstance(0);
    await Promise.all([h.waitReady(0, 120000), h.waitReady(1, 120000)]);
    const readyAfter = (Date.now() - resumedAt) / 1000;
    expect(role(0)).toBe('primary');
    expect(role(1)).toBe('replica');
    expect(leaseOf(h).holder).toBe(`${CLUSTER}-0`);
    expect(leaseOf(h).transitions).toBe(transitions);
    const plans = [0, 1].map(o => h.pods[o].process!.logs().find(l => l.msg === 'start plan'));
    expect(plans.map(p => [p?.plan, p?.role])).toEqual([
      ['start', 'primary'],
      ['start', 'replica'],
    ]);
    const lost = await lostRows(rwConn(), w.acknowledged);
    await caughtUp(1, w.acknowledged);
    expect(leaseOf(h).annotations['postgres.cdk8s.io/hibernated-lsn']).toBeUndefined();
    log(
      `resumed: both ready ${readyAfter.toFixed(1)} s after the primary's start, ${CLUSTER}-0 primary again (lease transitions ${leaseOf(h).transitions}), ${w.acknowledged.length - lost.length}/${w.acknowledged.length} acknowledged rows present`,
    );
    expect(lost).toEqual([]);
    // The removed instance's slot does not come back: the count is the StatefulSet's 2.
    expect(await slots()).toEqual(['scale_pg_1']);
  });
});
