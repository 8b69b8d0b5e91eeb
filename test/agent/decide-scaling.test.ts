/**
 * decide/scaling.ts: when the primary drops the replication slot of an instance the StatefulSet no longer runs
 * (3 → 2), and to whom a stopping primary may hand over when the StatefulSet is scaled down or to 0 (hibernation).
 * Also the data volume's usage warning of instance/disk-usage.ts (once per crossing of 80 %).
 */
import { SlotFacts, decideResumeFailover, decideSlotCleanup, stopHandOverScope } from '../../agent/src/decide/scaling';
import { INVARIANTS } from '../../agent/src/decide/invariants';
import { diskMetrics, diskWarning, usedRatio } from '../../agent/src/instance/disk-usage';

const slot = (ordinal: number, active = false) => ({ slot: `pg_${ordinal}`, ordinal, active });
/** A 3-instance cluster scaled to 2 a minute ago; pg-2's slot is unused. */
const base: SlotFacts = { slots: [slot(1, true), slot(2)], replicas: 2, replicasStableMs: 60000, stableBoundMs: 30000 };

type Row = [string, Partial<SlotFacts>, Array<[string, 'drop' | 'wait']>, RegExp | null];
const table: Row[] = [
  [
    'scaled 3 → 2, the count stable for a minute, the slot unused',
    {},
    [['pg_2', 'drop']],
    /^replication slot pg_2 of ordinal 2, beyond the StatefulSet's 2 replicas, unused for 60 s: dropping it/,
  ],
  [
    'the count changed 10 s ago: not yet (a scale-down undone meanwhile keeps the slot)',
    { replicasStableMs: 10000 },
    [['pg_2', 'wait']],
    /dropped once the count has stayed 2 for 30 s$/,
  ],
  [
    'the removed pod still streams through its slot (not stopped yet)',
    { slots: [slot(1, true), slot(2, true)] },
    [['pg_2', 'wait']],
    /is still streaming: kept$/,
  ],
  ['a slot of an ordinal the StatefulSet runs, unused (its pod is down): kept, never listed', { slots: [slot(1), slot(2)], replicas: 3 }, [], null],
  ['the count unknown (the API could not be read)', { replicas: undefined }, [], null],
  ['scaled to 0 (hibernation): every pod stops and comes back, nothing dropped', { replicas: 0, slots: [slot(1), slot(2)] }, [], null],
  [
    'scaled 5 → 2: both removed ordinals, one of them still streaming',
    { slots: [slot(1, true), slot(2), slot(3, true), slot(4)] },
    [
      ['pg_2', 'drop'],
      ['pg_3', 'wait'],
      ['pg_4', 'drop'],
    ],
    null,
  ],
  ["scaled to 1: the one replica's slot goes too", { replicas: 1, slots: [slot(1)] }, [['pg_1', 'drop']], null],
];

describe("decideSlotCleanup: a removed instance's slot is dropped only when the StatefulSet has said so for a while and nothing streams", () => {
  test.each(table)('%s', (_, facts, expected, why) => {
    const decisions = decideSlotCleanup({ ...base, ...facts });
    expect(decisions.map(d => [d.slot, d.action])).toEqual(expected);
    for (const d of decisions) expect(d.invariant).toBe(INVARIANTS.VERIFY_BEFORE_DESTROY);
    if (why) expect(decisions[0].why).toMatch(why);
  });

  test('every wait says what to do', () => {
    for (const [, facts] of table) {
      for (const d of decideSlotCleanup({ ...base, ...facts })) if (d.action === 'wait') expect(d.fix.length).toBeGreaterThan(0);
    }
  });
});

describe('stopHandOverScope: a stopping primary hands over only to an instance the StatefulSet keeps', () => {
  const pod = (i: number) => `pg-${i}`;
  test.each([
    ['a rollout (replicas unchanged)', 3, 3, ['pg-0', 'pg-1', 'pg-2']],
    ['scaled 3 → 2 (pg-2 is stopping)', 3, 2, ['pg-0', 'pg-1']],
    ['the StatefulSet could not be read: the known count', 2, undefined, ['pg-0', 'pg-1']],
    ['scaled up, not seen by this agent yet: the known count', 2, 3, ['pg-0', 'pg-1']],
  ])('%s', (_, instances, replicas, expected) => {
    expect(stopHandOverScope({ cluster: 'pg', podName: pod, instances: instances as number, replicas: replicas as number | undefined })).toEqual({
      handOver: true,
      instances: expected,
    });
  });

  test('scaled to 0 (hibernation): no hand-over, the lease stays', () => {
    const s = stopHandOverScope({ cluster: 'pg', podName: pod, instances: 2, replicas: 0 });
    expect(s.handOver).toBe(false);
    expect(!s.handOver && s.why).toMatch(
      /^the StatefulSet is scaled to 0 \(hibernation\): every instance is stopping, so no hand-over; this pod keeps the primary lease/,
    );
  });
});

describe('decideResumeFailover: after hibernation, a replica takes over only with everything the primary had', () => {
  const where = { namespace: 'db', leaseName: 'pg-primary' };
  test.each([
    ['not hibernated: the usual failover rules', undefined, '0/3000000', 'go-on'],
    ['received past the final position (it streamed the shutdown checkpoint)', '0/5000028', '0/50000A0', 'go-on'],
    ["received exactly up to the checkpoint's start: not past it", '0/5000028', '0/5000028', 'wait'],
    ['stopped before the primary: behind', '0/5000028', '0/4FFF000', 'wait'],
    ['postgres not running here: nothing received', '0/5000028', undefined, 'wait'],
  ])('%s', (_, hibernatedLsn, receivedLsn, action) => {
    const d = decideResumeFailover({ hibernatedLsn, receivedLsn, ...where });
    expect(d.action).toBe(action);
    if (d.action === 'wait') {
      expect(d.invariant).toBe(INVARIANTS.NO_LOST_ACK);
      expect(d.why).toMatch(/^no failover: the primary stopped for hibernation at 0\/5000028 and this replica received only /);
      expect(d.fix).toMatch(/kubectl -n db delete lease pg-primary\.$/);
    }
  });
});

describe('disk usage of the data volume', () => {
  const GiB = 1024 ** 3;
  const usage = (usedGiB: number, availableGiB: number, sizeGiB = usedGiB + availableGiB) => ({
    sizeBytes: sizeGiB * GiB,
    usedBytes: usedGiB * GiB,
    availableBytes: availableGiB * GiB,
  });

  test.each([
    ['below 80 %', false, usage(7, 3), { above: false, warn: false }],
    ['crossing 80 %: warn', false, usage(8.5, 1.5), { above: true, warn: true }],
    ['still above: no second line', true, usage(9, 1), { above: true, warn: false }],
    ['back below: re-armed', true, usage(6, 4), { above: false, warn: false }],
    ['exactly 80 %: not above', false, usage(8, 2), { above: false, warn: false }],
    // ext4 reserves 5 % for root: used / (used + available), as df, not used / size.
    ["root's reserve counted as df does", false, usage(7.8, 1.7, 10), { above: true, warn: true }],
  ])('%s', (_, wasAbove, u, expected) => {
    expect(diskWarning(wasAbove, u)).toEqual(expected);
  });

  test('ratio and metric lines', () => {
    expect(usedRatio(usage(1, 3))).toBe(0.25);
    expect(diskMetrics('pod="p"', usage(1, 3))).toEqual(
      expect.arrayContaining([
        `pgc_volume_size_bytes{pod="p"} ${4 * GiB}`,
        `pgc_volume_used_bytes{pod="p"} ${GiB}`,
        `pgc_volume_available_bytes{pod="p"} ${3 * GiB}`,
      ]),
    );
    expect(diskMetrics('pod="p"', undefined)).toEqual([]);
  });
});
