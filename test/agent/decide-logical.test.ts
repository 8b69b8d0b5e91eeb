/**
 * decide/logical.ts: where a single-database restore may go (nothing overwritten unless asked twice for data), and
 * which logical dumps retention keeps (the base backups' planner: exact kept sets); and which dump `--from` picks.
 */
import { LOGICAL_FORMAT, LogicalBackupMeta } from '../../lib/contract';
import { RestoreTargetFacts, StoredDump, decideDatabaseRestore, planLogicalRetention } from '../../agent/src/decide/logical';
import { pickDump } from '../../agent/src/logical/restore-command';

describe('decideDatabaseRestore', () => {
  const base: RestoreTargetFacts = {
    target: 'app',
    targetExists: false,
    targetRelations: 0,
    overwrite: false,
    discardExistingData: false,
    asideName: 'app_before_x',
  };
  test.each<[string, Partial<RestoreTargetFacts>, string, RegExp]>([
    ['a new database', {}, 'create', /does not exist: the restore creates it/],
    ['a new database, flags given', { overwrite: true, discardExistingData: true }, 'create', /does not exist/],
    ['an existing empty database, no flag', { targetExists: true }, 'wait', /exists and --overwrite was not given/],
    ['an existing database with tables, no flag', { targetExists: true, targetRelations: 3 }, 'wait', /exists and --overwrite was not given/],
    [
      'an existing empty database, --overwrite',
      { targetExists: true, overwrite: true },
      'replace',
      /is empty and --overwrite was given: it is renamed to "app_before_x"/,
    ],
    [
      'an existing database with tables, --overwrite',
      { targetExists: true, targetRelations: 3, overwrite: true },
      'wait',
      /holds 3 relation\(s\): --overwrite replaces only an empty database/,
    ],
    [
      'an existing database with tables, --discard-existing-data alone',
      { targetExists: true, targetRelations: 3, discardExistingData: true },
      'wait',
      /--overwrite was not given/,
    ],
    [
      'an existing database with tables, both flags',
      { targetExists: true, targetRelations: 3, overwrite: true, discardExistingData: true },
      'replace',
      /holds 3 relation\(s\) and --overwrite --discard-existing-data were given: it is renamed to "app_before_x"/,
    ],
  ])('%s', (_what, facts, action, why) => {
    const d = decideDatabaseRestore({ ...base, ...facts });
    expect(d.action).toBe(action);
    expect(d.why).toMatch(why);
    if (d.action === 'wait') {
      expect(d.invariant).toBe('I2 verify before destroy');
      expect(d.fix).toMatch(/--into|--overwrite|--discard-existing-data/);
    }
    if (d.action === 'replace') expect(d.asideName).toBe('app_before_x');
  });
});

const meta = (id: string, endOffsetMin = 10): LogicalBackupMeta => {
  const start = new Date(`${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}Z`);
  return {
    format: LOGICAL_FORMAT,
    backupId: id,
    database: 'app',
    owner: 'app',
    key: `c/logical/app/${id}.dump`,
    size: 1,
    sha256: '0'.repeat(64),
    serverVersion: 150000,
    pgDump: 'pg_dump (PostgreSQL) 15',
    startTime: start.toISOString(),
    endTime: new Date(start.getTime() + endOffsetMin * 60_000).toISOString(),
  };
};
const complete = (id: string): StoredDump => ({ backupId: id, meta: meta(id), keys: [`${id}.dump`, `${id}.json`] });
const orphan = (id: string, lastModified: string): StoredDump => ({ backupId: id, keys: [`${id}.dump`], lastModified: new Date(lastModified) });

describe('planLogicalRetention (the base backups planner: window and GFS)', () => {
  // Thursday 2026-12-03 12:00 UTC; ISO weeks start on Monday 11-30, 11-23, 11-16, 11-09.
  const now = new Date('2026-12-03T12:00:00Z');
  const dumps: StoredDump[] = [
    ...[
      '20261203T040000',
      '20261202T040000',
      '20261201T040000',
      '20261130T040000',
      '20261125T040000',
      '20261118T040000',
      '20261111T040000',
      '20261028T040000',
      '20260930T040000',
    ].map(complete),
    orphan('20261203T050000', '2026-12-03T11:00:00Z'), // still uploading, or killed an hour ago: within the grace period
    orphan('20261120T040000', '2026-11-20T04:05:00Z'), // a run that died two weeks ago
  ];
  const ids = (xs: { dump: StoredDump }[]) => xs.map(x => x.dump.backupId).sort();

  test('recoveryWindow 7d: every dump since the window start, plus the newest before it; old leftovers removed', () => {
    const plan = planLogicalRetention(dumps, { recoveryWindow: '7d' }, now);
    expect(ids(plan.keep)).toEqual([
      '20261125T040000',
      '20261130T040000',
      '20261201T040000',
      '20261202T040000',
      '20261203T040000',
      '20261203T050000',
    ]);
    expect(ids(plan.remove)).toEqual(['20260930T040000', '20261028T040000', '20261111T040000', '20261118T040000', '20261120T040000']);
    expect(plan.keep.find(k => k.dump.backupId === '20261203T050000')!.reasons).toEqual(['incomplete-running']);
    expect(plan.remove.find(r => r.dump.backupId === '20261120T040000')!.why).toMatch(/^incomplete \(STARTED\), idle for 13d/);
  });

  test('weekly 3 and monthly 3: the newest dump of each of the last 3 weeks and months that have one', () => {
    const plan = planLogicalRetention(dumps, { weekly: 3, monthly: 3 }, now);
    expect(ids(plan.keep)).toEqual([
      '20261028T040000',
      '20261118T040000',
      '20261125T040000',
      '20261130T040000',
      '20261203T040000',
      '20261203T050000',
    ]);
    expect(plan.keep.find(k => k.dump.backupId === '20261203T040000')!.reasons).toEqual(['newest', 'weekly', 'monthly']);
    expect(plan.keep.find(k => k.dump.backupId === '20261130T040000')!.reasons).toEqual(['monthly']);
    expect(ids(plan.remove)).toEqual(['20260930T040000', '20261111T040000', '20261120T040000', '20261201T040000', '20261202T040000']);
  });

  test('the newest complete dump is kept whatever the rules say; no dumps, no plan', () => {
    const plan = planLogicalRetention([complete('20250101T000000')], { recoveryWindow: '1d' }, now);
    expect(plan.keep.map(k => [k.dump.backupId, k.reasons])).toEqual([['20250101T000000', ['newest', 'window']]]);
    expect(planLogicalRetention([], { daily: 1 }, now)).toEqual({ keep: [], remove: [] });
  });
});

describe('pickDump (--from)', () => {
  const all = ['20261201T040000', '20261202T040000', '20261203T040000'].map(id => meta(id));
  test.each([
    ['latest', '20261203T040000'],
    ['20261202T040000', '20261202T040000'],
    ['2026-12-02T23:00:00Z', '20261202T040000'],
    ['2026-12-02T04:10:00Z', '20261202T040000'], // ended exactly then
    ['2026-12-02T04:09:59Z', '20261201T040000'],
  ])('--from %s → %s', (from, id) => {
    expect(pickDump('app', from, all).backupId).toBe(id);
  });
  test.each([
    ['20261111T040000', /no complete logical backup 20261111T040000 of database "app"/],
    ['2026-11-01T00:00:00Z', /no logical backup of database "app" ended by 2026-11-01T00:00:00Z \(the oldest ended 2026-12-01T04:10:00.000Z\)/],
    ['yesterday', /--from "yesterday" is neither a backup id nor a time/],
  ])('--from %s is refused', (from, msg) => {
    expect(() => pickDump('app', from, all)).toThrow(msg);
  });
  test('no complete dump at all', () => {
    expect(() => pickDump('app', 'latest', [])).toThrow(/no complete logical backup of database "app" in the store/);
  });
});
