/**
 * decide/synchronous.ts: who commits wait for. Each row is a sequence of pg_stat_replication observations on the
 * primary (time, its flush position, the standbys' rows) and the synchronous_standby_names expected after each.
 */
import {
  NO_SYNCHRONOUS_MEMORY,
  StandbyRow,
  SynchronousFacts,
  decideSynchronousStandbys,
  synchronousStandbyNames,
} from '../../agent/src/decide/synchronous';
import { INVARIANTS } from '../../agent/src/decide/invariants';

const PEERS = ['c-1'];
const base = { number: 1, peers: PEERS, silentAfterMs: 1000, catchUpBytes: 1024 * 1024 };
const streaming = (flushLsn: string, name = 'c-1'): StandbyRow => ({ name, state: 'streaming', flushLsn });

/** [ms, primary flush LSN, standby rows, expected value after this observation]. */
type Step = [number, string, StandbyRow[], string];
type Row = [string, Partial<SynchronousFacts>, Step[]];

const ONE = 'ANY 1 ("c-1")';
const table: Row[] = [
  ['a caught-up streaming standby is listed at once', {}, [[0, '0/3000000', [streaming('0/3000000')], ONE]]],
  ['a standby 5 MiB behind is not listed yet', {}, [[0, '0/3500000', [streaming('0/3000000')], '']]],
  ['a standby still in catchup is not listed', {}, [[0, '0/3000000', [{ name: 'c-1', state: 'catchup', flushLsn: '0/3000000' }], '']]],
  ['a standby that has not replied yet (no flush position) is not listed', {}, [[0, '0/3000000', [{ name: 'c-1', state: 'streaming' }], '']]],
  [
    'under load a standby that keeps flushing stays, owing bytes at every look',
    {},
    [
      [0, '0/3000000', [streaming('0/3000000')], ONE],
      [250, '0/3010000', [streaming('0/3008000')], ONE],
      [500, '0/3020000', [streaming('0/3018000')], ONE],
      [750, '0/3030000', [streaming('0/3028000')], ONE],
      [1000, '0/3040000', [streaming('0/3038000')], ONE],
      [1250, '0/3050000', [streaming('0/3048000')], ONE],
      [2500, '0/3060000', [streaming('0/3058000')], ONE],
    ],
  ],
  [
    'an idle, caught-up standby stays however long it is quiet',
    {},
    [
      [0, '0/3000000', [streaming('0/3000000')], ONE],
      [10000, '0/3000000', [streaming('0/3000000')], ONE],
      [60000, '0/3000000', [streaming('0/3000000')], ONE],
    ],
  ],
  [
    'a frozen standby (owes WAL, flushes nothing) is dropped after 1 s, not before',
    {},
    [
      [0, '0/3000000', [streaming('0/3000000')], ONE],
      [250, '0/3010000', [streaming('0/3000000')], ONE],
      [1000, '0/3020000', [streaming('0/3000000')], ONE],
      [1249, '0/3020000', [streaming('0/3000000')], ONE],
      [1250, '0/3020000', [streaming('0/3000000')], ''],
      [5000, '0/3020000', [streaming('0/3000000')], ''],
    ],
  ],
  [
    'an idle standby frozen long ago is judged from the first look that it owes WAL',
    {},
    [
      [0, '0/3000000', [streaming('0/3000000')], ONE],
      [30000, '0/3000100', [streaming('0/3000000')], ONE],
      [30999, '0/3000100', [streaming('0/3000000')], ONE],
      [31000, '0/3000100', [streaming('0/3000000')], ''],
    ],
  ],
  [
    'thawed: listed again only once within 1 MiB, and it flushes again',
    {},
    [
      [0, '0/3000000', [streaming('0/3000000')], ONE],
      [250, '0/5000000', [streaming('0/3000000')], ONE],
      [1250, '0/5000000', [streaming('0/3000000')], ''],
      [2000, '0/5000000', [streaming('0/3800000')], ''],
      [2250, '0/5000000', [streaming('0/4E00000')], ''],
      [2500, '0/5000000', [streaming('0/4FF0000')], ONE],
    ],
  ],
  [
    'a standby that disconnects (pod killed) is dropped at once',
    {},
    [
      [0, '0/3000000', [streaming('0/3000000')], ONE],
      [250, '0/3000000', [], ''],
    ],
  ],
  [
    'a listed standby that falls back to catchup is dropped',
    {},
    [
      [0, '0/3000000', [streaming('0/3000000')], ONE],
      [250, '0/3000000', [{ name: 'c-1', state: 'catchup', flushLsn: '0/3000000' }], ''],
    ],
  ],
  [
    "a connection that is not one of the cluster's instances (pg_basebackup) never counts",
    {},
    [[0, '0/3000000', [streaming('0/3000000', 'pg_basebackup')], '']],
  ],
  [
    'three instances, number 2: both listed, a frozen one leaves ANY 1 of the other',
    { peers: ['c-0', 'c-2'], number: 2 },
    [
      [0, '0/3000000', [streaming('0/3000000', 'c-0'), streaming('0/3000000', 'c-2')], 'ANY 2 ("c-0", "c-2")'],
      [500, '0/3100000', [streaming('0/3100000', 'c-0'), streaming('0/3000000', 'c-2')], 'ANY 2 ("c-0", "c-2")'],
      [1499, '0/3200000', [streaming('0/3200000', 'c-0'), streaming('0/3000000', 'c-2')], 'ANY 2 ("c-0", "c-2")'],
      [1500, '0/3200000', [streaming('0/3200000', 'c-0'), streaming('0/3000000', 'c-2')], 'ANY 1 ("c-0")'],
    ],
  ],
  [
    'required lists every other instance, streaming or not',
    { dataDurability: 'required' },
    [
      [0, '0/3000000', [], ONE],
      [5000, '0/3100000', [streaming('0/3000000')], ONE],
      [60000, '0/3100000', [streaming('0/3000000')], ONE],
    ],
  ],
  ['required, three instances', { dataDurability: 'required', peers: ['c-0', 'c-2'] }, [[0, '0/3000000', [], 'ANY 1 ("c-0", "c-2")']]],
];

describe('decideSynchronousStandbys', () => {
  test.each(table)('%s', (_name, facts, steps) => {
    let memory = NO_SYNCHRONOUS_MEMORY;
    const seen: string[] = [];
    for (const [nowMs, currentLsn, standbys] of steps) {
      const d = decideSynchronousStandbys({ ...base, dataDurability: 'preferred', ...facts, nowMs, currentLsn, standbys }, memory);
      memory = d.memory;
      seen.push(d.value);
    }
    expect(seen).toEqual(steps.map(s => s[3]));
  });

  test('each change is said once, with the reason', () => {
    const facts = { ...base, dataDurability: 'preferred' as const };
    let d = decideSynchronousStandbys({ ...facts, nowMs: 0, currentLsn: '0/3000000', standbys: [streaming('0/3000000')] }, NO_SYNCHRONOUS_MEMORY);
    expect(d.changes).toEqual([{ standby: 'c-1', change: 'added', why: 'c-1 streams and is 0 bytes behind: commits wait for it again' }]);
    d = decideSynchronousStandbys({ ...facts, nowMs: 500, currentLsn: '0/3000400', standbys: [streaming('0/3000000')] }, d.memory);
    expect(d.changes).toEqual([]);
    d = decideSynchronousStandbys({ ...facts, nowMs: 1600, currentLsn: '0/3000400', standbys: [streaming('0/3000000')] }, d.memory);
    expect(d.changes).toEqual([
      {
        standby: 'c-1',
        change: 'dropped',
        why: 'c-1 has flushed nothing for 1.1 s while 1024 bytes are not on its disk: commits no longer wait for it (synchronous: preferred)',
        fix: expect.stringMatching(/^Nothing while it comes back: it is listed again once it streams/),
      },
    ]);
    d = decideSynchronousStandbys({ ...facts, nowMs: 1800, currentLsn: '0/3000400', standbys: [streaming('0/3000000')] }, d.memory);
    expect(d.changes).toEqual([]);
  });

  test('required protects I3 and never changes its mind', () => {
    const d = decideSynchronousStandbys({ ...base, dataDurability: 'required', nowMs: 0, standbys: [] }, NO_SYNCHRONOUS_MEMORY);
    expect(d.invariant).toBe(INVARIANTS.NO_LOST_ACK);
    expect(d.changes).toEqual([]);
  });

  test('the value names at most as many as are listed', () => {
    expect(synchronousStandbyNames(2, ['c-1'])).toBe(ONE);
    expect(synchronousStandbyNames(1, [])).toBe('');
  });
});
