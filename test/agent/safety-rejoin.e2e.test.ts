/**
 * Issue 12 item 4: a failed pg_rewind must never delete data. After a failover, the old primary comes back with a
 * superuser password the new primary refuses: the superuser Secret was rotated while the new primary's agent was
 * stalled (SIGSTOP, shorter than its fence deadline), so it has not applied it yet. The rejoin is blocked, the data
 * directory stays as it was (same files, same system identifier, no clone), the instance says why and what to do,
 * not ready, `pgc_safety_waits_total` counts it. Once the primary applied the rotated password, the same process
 * rewinds on its next try and streams, without a restart. Every acknowledged row is on -rw and in a restore of the
 * oldest backup to latest.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LABELS } from '../../lib/contract';
import { eventually, query, sleep } from '../support/cluster-harness';
import { removeScripts } from '../support/backup';
import { Drill, ackWriter, idsOn, missing, podGone, say, synthBackedUp } from '../support/safety-drills';
import { readSystemIdentifier } from '../../agent/src/instance/pgdata';
import type { AgentProcess } from '../support/pod-runner';

jest.setTimeout(900000);

describe('a blocked rejoin keeps the data', () => {
  const d = new Drill('rejoin', synthBackedUp('rejoin'));
  const role = (i: number) => d.h.podLabels(`rejoin-${i}`)[LABELS.role];
  beforeAll(() => d.start(2));
  afterAll(async () => {
    await d.stop();
    removeScripts();
  });

  test('superuser password not applied yet: the old primary waits with its data intact, then rewinds once it is', async () => {
    expect(role(0)).toBe('primary');
    const w = ackWriter(() => d.rw());
    await sleep(3000);
    await w.stop(); // asynchronous replication: let the replica have every acknowledged row before the kill
    await eventually(async () => {
      const [r] = await query(d.direct(1), 'SELECT count(*)::int AS n FROM events');
      if (r.n < w.acknowledged.length) throw new Error(`replica has ${r.n} of ${w.acknowledged.length}`);
    }, 30000);
    d.h.pods[0].process!.killPod();
    await podGone(d.h.pods[0].process!);
    await eventually(
      async () => {
        if (role(1) !== 'primary') throw new Error('not promoted yet');
      },
      90000,
      250,
    );
    const w2 = ackWriter(() => d.rw());
    await sleep(3000);
    await w2.stop();

    const pgdata = path.join(d.h.pods[0].dataDir, 'pgdata');
    const before = { files: fs.readdirSync(pgdata).sort(), id: readSystemIdentifier(pgdata) };
    // The new primary's agent stalls (its postgres serves on) while the superuser Secret is rotated; the old primary
    // starts with the rotated password, which the new primary does not know yet. The stall stays below the fence
    // deadline (2/3 of the 15 s lease), so the new primary keeps its lease.
    const primaryAgent = d.h.pods[1].process!.child.pid!;
    process.kill(primaryAgent, 'SIGSTOP');
    let line: any;
    let blocked!: AgentProcess;
    try {
      d.h.seedSecret('rejoin-superuser', { ...d.h.secretData('rejoin-superuser')!, password: 'rotated-while-the-primary-stalled' });
      blocked = d.h.startInstance(0);
      line = await blocked.waitForLog(
        l => /^cannot rejoin as a replica: the new primary refused the superuser's credentials/.test(l.msg ?? ''),
        7000,
      );
    } finally {
      process.kill(primaryAgent, 'SIGCONT');
    }
    d.su = 'rotated-while-the-primary-stalled';
    expect(line.invariant).toMatch(/^I2 /);
    expect(line.fix).toMatch(/superuser Secret/);
    await sleep(3000);
    const metrics = await eventually(async () => {
      const m = await d.h.httpGet(0, '/metrics');
      if (m.status !== 200) throw new Error(`metrics ${m.status}`);
      return m.body;
    }, 20000);
    expect(metrics).toMatch(/pgc_safety_waits_total\{cluster="rejoin",pod="rejoin-0"\} [1-9]/);
    expect((await d.h.httpGet(0, '/readyz')).status).toBe(503);
    const during = { files: fs.readdirSync(pgdata).sort(), id: readSystemIdentifier(pgdata) };
    expect(during).toEqual(before);
    expect(blocked.logs().some(l => /clone/.test(l.msg ?? '') && !/^start plan/.test(l.msg ?? ''))).toBe(false);

    // The primary applies the rotated password on its next read of the Secrets; the waiting instance retries (every
    // 30 s) and rewinds, same process, no restart.
    await d.h.waitReady(0, 180000);
    expect(role(0)).toBe('replica');
    expect(blocked.logs().some(l => /^rewound the former primary/.test(l.msg ?? ''))).toBe(true);
    expect(readSystemIdentifier(pgdata)).toBe(before.id);
    const acknowledged = [...w.acknowledged, ...w2.acknowledged];
    const onRw = missing(acknowledged, await idsOn(d.rw()));
    await d.archiveNow(1);
    const restored = await d.restoreLatest();
    const inRestore = missing(acknowledged, restored.ids);
    say(
      `[safety-rejoin] blocked rejoin: "${line.msg}"; data directory unchanged (${before.files.length} entries, system ${before.id});`,
      `once the primary applied the rotated password: rewound without a restart; rows acknowledged ${acknowledged.length}, missing on -rw ${onRw.length}, in the restore to latest ${inRestore.length}`,
    );
    expect(onRw).toEqual([]);
    expect(inRestore).toEqual([]);
  });
});
