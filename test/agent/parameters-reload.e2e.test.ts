/**
 * Issue 13, parameters without restarts: the cluster's ConfigMap changes (as `kubectl apply` and the kubelet's
 * refresh of the mounted volume would do it: an atomic `..data` swap in each pod's directory) and the agents apply it.
 * - a reloadable parameter (work_mem) on every instance, the postmasters' PIDs unchanged;
 * - an invalid value: logged with the fix and not written, postgres keeps running, and a pod restarted meanwhile
 *   starts with the last valid parameters;
 * - a parameter that needs a restart (shared_buffers): replicas restart first, then one switchover, with the
 *   write gap on -rw and the acknowledged rows counted.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CLUSTER_CONFIG, LABELS } from '../../lib/contract';
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { diagnose, leaseOf, lostRows, startCluster, synthCluster, writer } from '../support/failover-probes';

jest.setTimeout(300000);

const CLUSTER = 'params-pg';
const INITIAL = { work_mem: '4MB', shared_buffers: '32MB' };

describe('parameters from the watched ConfigMap (2 instances)', () => {
  const h = new ClusterHarness(synthCluster(CLUSTER, { parameters: INITIAL }), CLUSTER);
  let superuser = '';
  const rwConn = () => h.connectionFromUri(h.secretData(`${CLUSTER}-app`)!.uri);
  const show = async (ordinal: number, name: string) => (await query(h.direct(ordinal, 'postgres', superuser, 'postgres'), `SHOW ${name}`))[0][name];
  const postmasterPid = (ordinal: number) =>
    Number(fs.readFileSync(path.join(h.pods[ordinal].dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const role = (ordinal: number) => h.podLabels(h.pods[ordinal].name)[LABELS.role];
  const apply = (params: Record<string, string>, ordinals?: number[]) =>
    h.updateConfigMap({ [CLUSTER_CONFIG.parametersKey]: JSON.stringify(params) }, ordinals);
  const logs = (ordinal: number, re: RegExp) => (h.pods[ordinal].process?.logs() ?? []).filter(l => re.test(l.msg ?? ''));

  beforeAll(async () => {
    superuser = await startCluster(h);
    await query(rwConn(), 'CREATE TABLE IF NOT EXISTS events (id bigint PRIMARY KEY)');
  });
  afterAll(() => h.stop());

  test('work_mem is reloaded on every instance; no postmaster restarts', async () => {
    expect(await show(0, 'work_mem')).toBe('4MB');
    const pids = [postmasterPid(0), postmasterPid(1)];
    const t0 = Date.now();
    apply({ ...INITIAL, work_mem: '16MB' });
    await eventually(
      async () => {
        for (const o of [0, 1]) if ((await show(o, 'work_mem')) !== '16MB') throw new Error(`instance ${o} still has the old work_mem`);
      },
      20000,
      200,
    ).catch(async e => {
      throw new Error(`${(e as Error).message}\n${await diagnose(h)}`);
    });
    // eslint-disable-next-line no-console
    console.log(
      `[params] work_mem 4MB → 16MB applied on both instances ${((Date.now() - t0) / 1000).toFixed(1)} s after the volume swap; postmaster PIDs ${pids.join(', ')} → ${postmasterPid(0)}, ${postmasterPid(1)}`,
    );
    expect([postmasterPid(0), postmasterPid(1)]).toEqual(pids);
    for (const o of [0, 1]) {
      const line = await h.pods[o].process!.waitForLog(l => /^parameters applied by a reload, no restart needed/.test(l.msg ?? ''), 10000);
      expect(line).toMatchObject({ changed: ['work_mem'], reloaded: ['work_mem'], pendingRestart: [] });
    }
  });

  test('an invalid value is logged with the fix and not applied; postgres keeps running, and a restarted pod starts with the last valid parameters', async () => {
    const pids = [postmasterPid(0), postmasterPid(1)];
    apply({ ...INITIAL, work_mem: 'lots' });
    for (const o of [0, 1]) {
      const line = await h.pods[o].process!.waitForLog(l => /^new parameters rejected/.test(l.msg ?? ''), 20000);
      expect(line.level).toBe('error');
      expect(line.invalid.join(' ')).toMatch(/invalid value for parameter "work_mem": "lots"/);
      expect(line.fix).toMatch(new RegExp(`ConfigMap ${CLUSTER}-config`));
      expect(fs.readFileSync(path.join(h.pods[o].dataDir, 'pgdata', 'postgresql.conf'), 'utf8')).not.toMatch(/work_mem = 'lots'/);
    }
    await sleep(3000); // a few more polls: the rejection is logged once, nothing else happens
    for (const o of [0, 1]) {
      expect(await show(o, 'work_mem')).toBe('16MB');
      expect(logs(o, /^new parameters rejected/)).toHaveLength(1);
    }
    expect([postmasterPid(0), postmasterPid(1)]).toEqual(pids);

    // The replica's pod restarts (a node reboot) while git still holds the bad value: it must start anyway.
    const replica = role(0) === 'replica' ? 0 : 1;
    h.pods[replica].process!.kill('SIGTERM');
    expect(await h.pods[replica].process!.exited).toBe(0);
    h.startInstance(replica);
    await h.waitReady(replica, 120000);
    const fallback = await h.pods[replica].process!.waitForLog(
      l => /^the cluster's parameters are not valid for this postgres: starting with the last valid ones/.test(l.msg ?? ''),
      5000,
    );
    expect(fallback.invalid.join(' ')).toMatch(/work_mem/);
    expect(await show(replica, 'work_mem')).toBe('16MB');
  });

  test('shared_buffers (needs a restart): replicas first, then one switchover; write gap on -rw and no acknowledged row lost', async () => {
    const primary = role(0) === 'primary' ? 0 : 1;
    const replica = 1 - primary;
    await h.waitReady(replica, 60000);
    const transitions = leaseOf(h).transitions;
    const replicaPid = postmasterPid(replica);
    const w = writer(rwConn);
    await sleep(2000);
    const next = { ...INITIAL, work_mem: '16MB', shared_buffers: '64MB' };
    // The kubelet refreshes the primary's volume first, the replica's 5 s later: the primary must wait for it.
    const t0 = Date.now();
    apply(next, [primary]);
    await h.pods[primary].process!.waitForLog(l => /^parameters applied by a reload; some wait for a coordinated restart/.test(l.msg ?? ''), 20000);
    await sleep(5000);
    expect(leaseOf(h).transitions).toBe(transitions);
    expect(await show(primary, 'shared_buffers')).toBe('32MB');
    apply(next, [replica]);
    await eventually(
      async () => {
        for (const o of [0, 1]) if ((await show(o, 'shared_buffers')) !== '64MB') throw new Error(`instance ${o} still runs the old shared_buffers`);
        if (role(primary) !== 'replica' || role(replica) !== 'primary') throw new Error('no switchover yet');
      },
      90000,
      250,
    ).catch(async e => {
      throw new Error(`${(e as Error).message}\n${await diagnose(h)}`);
    });
    await h.waitReady(primary, 60000);
    await sleep(2000);
    await w.stop();
    const gap = w.longestGapMs();
    const lost = await lostRows(rwConn(), w.acknowledged);
    // eslint-disable-next-line no-console
    console.log(
      `[params] shared_buffers 32MB → 64MB on both instances in ${((Date.now() - t0) / 1000).toFixed(1)} s: lease transitions ${leaseOf(h).transitions - transitions}, longest write gap on -rw ${(gap / 1000).toFixed(2)} s, ${w.acknowledged.length} rows acknowledged, ${lost.length} lost`,
    );
    expect(lost).toEqual([]);
    expect(leaseOf(h).transitions).toBe(transitions + 1); // exactly one switchover, no failover
    expect(postmasterPid(replica)).not.toBe(replicaPid); // the replica restarted (before the switchover)
    expect(logs(replica, /^a replica restarts postgres in place for new parameters/)).toHaveLength(1);
    expect(logs(primary, /streams and runs the new parameters: switching over to it/)).toHaveLength(1);
    expect(gap).toBeLessThanOrEqual(2000);
  });

  test('lowering max_connections turns the order round: the primary restarts in place first (no switchover), then the replica', async () => {
    const primary = role(0) === 'primary' ? 0 : 1;
    const replica = 1 - primary;
    await h.waitReady(replica, 60000);
    const transitions = leaseOf(h).transitions;
    const pids = [postmasterPid(primary), postmasterPid(replica)];
    const w = writer(rwConn);
    await sleep(2000);
    const t0 = Date.now();
    apply({ ...INITIAL, work_mem: '16MB', shared_buffers: '64MB', max_connections: '80' });
    await eventually(
      async () => {
        for (const o of [0, 1]) if ((await show(o, 'max_connections')) !== '80') throw new Error(`instance ${o} still runs the old max_connections`);
      },
      90000,
      250,
    ).catch(async e => {
      throw new Error(`${(e as Error).message}\n${await diagnose(h)}`);
    });
    await h.waitReady(replica, 60000);
    await sleep(2000);
    await w.stop();
    const gap = w.longestGapMs();
    const lost = await lostRows(rwConn(), w.acknowledged);
    const primaryRestart = logs(primary, /^the primary restarts in place first/);
    const replicaRestart = logs(replica, /^a replica restarts postgres in place for new parameters/).pop();
    // eslint-disable-next-line no-console
    console.log(
      `[params] max_connections 100 → 80 on both instances in ${((Date.now() - t0) / 1000).toFixed(1)} s: lease transitions ${leaseOf(h).transitions - transitions}, longest write gap on -rw ${(gap / 1000).toFixed(2)} s (the primary's restart), ${w.acknowledged.length} rows acknowledged, ${lost.length} lost`,
    );
    expect(lost).toEqual([]);
    expect(leaseOf(h).transitions).toBe(transitions);
    expect(role(primary)).toBe('primary');
    expect(postmasterPid(primary)).not.toBe(pids[0]);
    expect(postmasterPid(replica)).not.toBe(pids[1]);
    expect(primaryRestart).toHaveLength(1);
    expect(replicaRestart).toBeDefined();
    expect(Date.parse(replicaRestart.time)).toBeGreaterThanOrEqual(Date.parse(primaryRestart[0].time));
    expect(gap).toBeLessThanOrEqual(2000);
  });
});
