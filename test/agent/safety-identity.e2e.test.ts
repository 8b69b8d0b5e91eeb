/**
 * Issue 12 item 1, the lost primary volume: the primary's pod dies whole and comes back, within its lease, with an
 * empty data volume. It must never initdb a new, empty database under the cluster's Services: with a peer that
 * holds the data it gives up its lease and clones; alone (a single instance) it refuses, naming bootstrap.recovery.
 * Processes started as the synthesized manifests say, archiving to the test Ceph RGW; every acknowledged row is
 * counted on -rw and in a restore of the oldest base backup to `latest`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LABELS } from '../../lib/contract';
import { eventually, query, sleep } from '../support/cluster-harness';
import { diagnose } from '../support/failover-probes';
import { removeScripts } from '../support/backup';
import { Drill, podGone, ackWriter, emptyDir, idsOn, missing, say, synthBackedUp } from '../support/safety-drills';

jest.setTimeout(900000);

const INITDB = /initializing a new cluster/;

describe('lost primary volume, 2 instances: the empty volume clones, never initdb', () => {
  const d = new Drill('lostvol', synthBackedUp('lostvol'));
  const role = (i: number) => d.h.podLabels(`lostvol-${i}`)[LABELS.role];
  beforeAll(() => d.start(2));
  afterAll(async () => {
    await d.stop();
    removeScripts();
  });

  test('kill the primary pod, empty its volume, start it within the lease: same system, no row lost', async () => {
    expect(role(0)).toBe('primary');
    const identity = await d.systemIdentifier(0);
    const lsns = d.sampleLeaseLsn();
    const w = ackWriter(() => d.rw());
    await sleep(4000);
    const killedAt = Date.now();
    d.h.pods[0].process!.killPod();
    await podGone(d.h.pods[0].process!);
    emptyDir(d.h.pods[0].dataDir);
    const p0 = d.h.startInstance(0);
    const restartedAfter = (Date.now() - killedAt) / 1000;
    try {
      await eventually(
        async () => {
          if (role(1) !== 'primary') throw new Error('the replica is not primary yet');
          await query({ ...d.rw(), connectionTimeoutMillis: 1000 }, 'SELECT 1 FROM events LIMIT 1');
        },
        120000,
        250,
      );
      const promotedAfter = (Date.now() - killedAt) / 1000;
      await d.h.waitReady(0, 180000);
      const rejoinedAfter = (Date.now() - killedAt) / 1000;
      expect(role(0)).toBe('replica');
      await sleep(3000);
      await w.stop();
      lsns.stop();
      const plan = p0.logs().find(l => l.msg === 'start plan');
      const onRw = missing(w.acknowledged, await idsOn(d.rw()));
      const identities = [await d.systemIdentifier(0), await d.systemIdentifier(1)];
      await d.archiveNow(1);
      const restored = await d.restoreLatest();
      const lostInRestore = missing(w.acknowledged, restored.ids);
      const notExist = [...w.errors].filter(([m]) => /does not exist/.test(m)).reduce((n, [, c]) => n + c, 0);
      say(
        `[safety-identity] lost primary volume: restarted ${restartedAfter.toFixed(1)} s after the kill; start plan ${plan?.plan} (${plan?.why});`,
        `replica promoted after ${promotedAfter.toFixed(1)} s, old primary a streaming replica after ${rejoinedAfter.toFixed(1)} s;`,
        `system identifier ${identity} -> ${identities.join(' / ')}; lease LSN samples ${lsns.samples.length}, backwards ${lsns.backwards().length};`,
        `rows acknowledged ${w.acknowledged.length}, missing on -rw ${onRw.length}, restored from ${restored.backupId} ${restored.ids.size} rows (missing ${lostInRestore.length}, ${restored.seconds.toFixed(1)} s);`,
        `"does not exist" errors ${notExist}; writer errors ${JSON.stringify(Object.fromEntries(w.errors))}`,
      );
      expect(plan).toMatchObject({ plan: 'clone', role: 'replica' });
      expect(p0.logs().filter(l => INITDB.test(l.msg ?? ''))).toEqual([]);
      expect(p0.logs().some(l => /giving the lease up/.test(l.msg ?? ''))).toBe(true);
      expect(identities).toEqual([identity, identity]);
      expect(lsns.backwards()).toEqual([]);
      expect(notExist).toBe(0);
      expect(w.acknowledged.length).toBeGreaterThan(50);
      expect(onRw).toEqual([]);
      expect(lostInRestore).toEqual([]);
      const [rep] = await query(d.direct(1, 'postgres'), 'SELECT application_name AS n, state FROM pg_stat_replication');
      expect(rep).toMatchObject({ n: 'lostvol-0', state: 'streaming' });
    } catch (e) {
      await w.stop();
      lsns.stop();
      throw new Error(`${(e as Error).message}\n${await diagnose(d.h)}`);
    }
  });
});

describe("lost volume of a single instance: it refuses, nothing is initdb'ed, the backups have every row", () => {
  const d = new Drill('lostone', synthBackedUp('lostone', { instances: 1 }));
  beforeAll(() => d.start(1));
  afterAll(async () => {
    await d.stop();
    removeScripts();
  });

  test('kill the pod, empty its volume, start it: one line naming bootstrap.recovery, not ready, no initdb', async () => {
    const identity = await d.systemIdentifier(0);
    const w = ackWriter(() => d.rw());
    await sleep(4000);
    await w.stop();
    await d.archiveNow(0);
    d.h.pods[0].process!.killPod();
    await podGone(d.h.pods[0].process!);
    emptyDir(d.h.pods[0].dataDir);
    const startedAt = Date.now();
    const p0 = d.h.startInstance(0);
    try {
      const refusal = await p0.waitForLog(l => /bootstrap\.recovery/.test(`${l.msg} ${l.fix}`), 60000);
      const refusedAfter = (Date.now() - startedAt) / 1000;
      await sleep(12000); // two more plan rounds: still refusing, still one line
      const lines = p0.logs().filter(l => /bootstrap\.recovery/.test(`${l.msg} ${l.fix}`));
      const readyz = await d.h.httpGet(0, '/readyz');
      const pgdata = path.join(d.h.pods[0].dataDir, 'pgdata');
      const initdbDone = fs.existsSync(path.join(pgdata, 'PG_VERSION'));
      const restored = await d.restoreLatest();
      const lostInRestore = missing(w.acknowledged, restored.ids);
      say(
        `[safety-identity] single instance, lost volume: refused after ${refusedAfter.toFixed(1)} s: "${refusal.msg}" fix: "${refusal.fix}";`,
        `refusal lines ${lines.length}; /readyz ${readyz.status} ${readyz.body}; PG_VERSION created ${initdbDone}; agent alive ${p0.child.exitCode === null};`,
        `system identifier ${identity}; rows acknowledged ${w.acknowledged.length}, restored from ${restored.backupId} ${restored.ids.size} (missing ${lostInRestore.length}, ${restored.seconds.toFixed(1)} s)`,
      );
      expect(lines).toHaveLength(1);
      expect(p0.child.exitCode).toBeNull();
      expect(readyz.status).not.toBe(200);
      expect(initdbDone).toBe(false);
      expect(p0.logs().filter(l => INITDB.test(l.msg ?? ''))).toEqual([]);
      expect(w.acknowledged.length).toBeGreaterThan(50);
      expect(lostInRestore).toEqual([]);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await diagnose(d.h)}`);
    }
  });
});
