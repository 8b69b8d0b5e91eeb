/**
 * planRetention over incremental chains: 25 days of daily backups at 00:00 UTC from Monday 2024-01-01, a full one
 * every Monday (days 0, 7, 14, 21) and an incremental on every other day, each on the day before. A kept
 * incremental keeps its whole chain ('chain'); nothing a kept backup depends on is removed. The kept sets are
 * written out by hand (day numbers).
 */
import { backupIdFor } from '../../lib/contract';
import type { BackupInfo } from '../../agent/src/catalog/backup-info';
import { planRetention } from '../../agent/src/retention/plan';
import type { RetentionSpec } from '../../lib/contract';

const DAY = 86_400_000;
const FIRST = Date.UTC(2024, 0, 1); // a Monday
const NOW = new Date(FIRST + 24 * DAY + 12 * 3600_000);
const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

const idOf = (day: number) => backupIdFor(new Date(FIRST + day * DAY));
const isFull = (day: number) => day % 7 === 0;

function backup(day: number, status: BackupInfo['status'] = 'DONE'): BackupInfo {
  const at = new Date(FIRST + day * DAY);
  const seg = 2 + day * 64;
  return {
    backupId: idOf(day),
    status,
    serverName: 'pg',
    systemIdentifier: '7300000000000000001',
    timeline: 1,
    beginTime: at,
    endTime: status === 'DONE' ? new Date(at.getTime() + 10 * 60_000) : undefined,
    beginWal: `00000001${hex8(Math.floor(seg / 256))}${hex8(seg % 256)}`,
    beginLsn: `0/${hex8(seg)}`,
    pgVersion: 150018,
    size: 1,
    compression: 'zstd',
  };
}

const DAYS = Array.from({ length: 25 }, (_, d) => d);
const HISTORY = DAYS.map(d => backup(d));
/** Each incremental on the backup of the day before. */
const PARENTS = new Map(DAYS.filter(d => !isFull(d)).map(d => [idOf(d), idOf(d - 1)]));
const dayOfId = new Map(DAYS.map(d => [idOf(d), d]));

function kept(spec: RetentionSpec, backups = HISTORY, parents: ReadonlyMap<string, string> = PARENTS) {
  const plan = planRetention(backups, spec, NOW, { parents });
  return {
    keep: plan.keep.map(k => dayOfId.get(k.backup.backupId)).sort((a, b) => a! - b!),
    reasons: Object.fromEntries(plan.keep.map(k => [dayOfId.get(k.backup.backupId), k.reasons.join(',')])),
    removed: plan.remove.map(r => dayOfId.get(r.backup.backupId)).sort((a, b) => a! - b!),
    walBoundary: plan.walBoundary,
  };
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('retention over incremental chains', () => {
  test.each<[string, RetentionSpec, number[]]>([
    // the three newest incrementals keep their full backup of Monday (day 21)
    ['daily: 3', { daily: 3 }, [21, 22, 23, 24]],
    // the newest alone needs days 21 to 23 too
    ['daily: 1', { daily: 1 }, [21, 22, 23, 24]],
    // last week's newest backup (Sunday, day 20) is an incremental: its chain goes back to Monday, day 14
    ['weekly: 2', { weekly: 2 }, range(14, 24)],
    // the window starts on day 21 at noon: days 22-24 and the newest before it (day 21, a full one)
    ['recoveryWindow: 3d', { recoveryWindow: '3d' }, [21, 22, 23, 24]],
    // a window reaching into last week keeps day 20, which needs its chain from day 14
    ['recoveryWindow: 4d', { recoveryWindow: '4d' }, range(14, 24)],
    // daily counts days that have a backup: 10 days back is day 15 (an incremental): from its full, day 14
    ['daily: 10', { daily: 10 }, range(14, 24)],
    ['weekly: 4', { weekly: 4 }, range(0, 24)],
  ])('%s keeps exactly days %j', (_name, spec, expected) => {
    const r = kept(spec);
    expect(r.keep).toEqual(expected);
    expect(r.removed).toEqual(DAYS.filter(d => !expected.includes(d)));
    // the WAL of the oldest kept backup (a full one) stays
    expect(isFull(expected[0])).toBe(true);
    expect(r.walBoundary).toBe(HISTORY[expected[0]].beginWal);
  });

  test('the backups kept only for a chain say so', () => {
    expect(kept({ daily: 1 }).reasons).toEqual({ 21: 'chain', 22: 'chain', 23: 'chain', 24: 'newest,daily' });
  });

  test('without parents (full backups only) the same rules keep only what they name', () => {
    expect(kept({ daily: 3 }, HISTORY, new Map()).keep).toEqual([22, 23, 24]);
  });

  test('an incremental no rule keeps goes only when no kept backup depends on it', () => {
    // Day 23 failed: day 24 builds on day 22. daily: 2 keeps days 24 and 22 (the days with a DONE backup): chain to 21.
    const history = HISTORY.map(b => (b.backupId === idOf(23) ? backup(23, 'FAILED') : b));
    const parents = new Map(PARENTS);
    parents.set(idOf(24), idOf(22));
    parents.delete(idOf(23));
    const r = kept({ daily: 2 }, history, parents);
    expect(r.keep).toEqual([21, 22, 24]);
    expect(r.reasons[22]).toBe('daily,chain');
    // the FAILED one goes once idle past the grace period (it started 36 h ago)
    expect(r.removed).toEqual([...range(0, 20), 23]);
  });

  test('an incremental whose parent is already gone is kept by its rules and keeps nothing else', () => {
    const history = HISTORY.filter(b => b.backupId !== idOf(23));
    const r = kept({ daily: 1 }, history);
    expect(r.keep).toEqual([24]);
    expect(r.removed).toEqual([...range(0, 22)]);
  });
});
