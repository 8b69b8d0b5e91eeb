/**
 * planRetention / planWalRemoval on a synthetic history: 400 days of daily DONE backups at 00:00 UTC (2024-01-01
 * to 2025-02-03), WAL advancing 64 segments a day on timeline 1, then on timeline 2 after a promotion on
 * 2024-10-26. Every expectation is written out by hand (dates) or computed here another way (numbers, not names),
 * never by calling the code under test.
 */
import { backupIdFor } from '../../lib/contract';
import type { BackupInfo, BackupStatus } from '../../agent/src/catalog/backup-info';
import { describePlan, planRetention, planWalRemoval, windowMs, type RetentionPlan } from '../../agent/src/retention/plan';
import type { RetentionSpec } from '../../lib/contract';

const DAY = 86_400_000;
const FIRST = Date.UTC(2024, 0, 1);
const DAYS = 400;
const SEGS_PER_DAY = 64;
/** Day index of the first backup on timeline 2; the promotion happened the day before, at this segment number. */
const SWITCH_DAY = 300;
const SWITCH_SEG = 2 + (SWITCH_DAY - 1) * SEGS_PER_DAY + 40;
const LAST_SEG = 2 + DAYS * SEGS_PER_DAY;
const NOW = new Date('2025-02-03T12:00:00Z');
const SYSTEM = '7300000000000000001';

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
/** 16 MiB segments: 256 segments per log file number. */
const segName = (tl: number, n: number) => `${hex8(tl)}${hex8(Math.floor(n / 256))}${hex8(n % 256)}`;
const dayOf = (i: number) => new Date(FIRST + i * DAY).toISOString().slice(0, 10);

interface Synth {
  info: BackupInfo;
  day: string;
  tl: number;
  seg: number;
}

function backupOnDay(i: number, status: BackupStatus = 'DONE', at = new Date(FIRST + i * DAY)): Synth {
  const tl = i >= SWITCH_DAY ? 2 : 1;
  const seg = 2 + i * SEGS_PER_DAY;
  const info: BackupInfo = {
    backupId: backupIdFor(at),
    status,
    serverName: 'pg',
    systemIdentifier: SYSTEM,
    timeline: tl,
    beginTime: at,
    endTime: status === 'DONE' ? new Date(at.getTime() + 10 * 60_000) : undefined,
    beginWal: segName(tl, seg),
    endWal: status === 'DONE' ? segName(tl, seg + 1) : undefined,
    beginLsn: `${Math.floor(seg / 256)
      .toString(16)
      .toUpperCase()}/${(seg % 256).toString(16).toUpperCase()}000028`,
    pgVersion: 150018,
    size: 50_000_000,
    storedSize: 9_000_000,
    compression: 'gzip',
  };
  return { info, day: dayOf(i), tl, seg };
}

const HISTORY: Synth[] = Array.from({ length: DAYS }, (_, i) => backupOnDay(i));
const byDay = new Map(HISTORY.map(s => [s.day, s]));

/** Every archived WAL file name of the history. */
const WAL: string[] = (() => {
  const names: string[] = [];
  for (let n = 1; n <= SWITCH_SEG + 2; n++) names.push(segName(1, n)); // two TL1 segments past the switch (old primary)
  names.push(`${segName(1, SWITCH_SEG)}.partial`);
  for (let n = SWITCH_SEG; n <= LAST_SEG; n++) names.push(segName(2, n));
  names.push('00000002.history');
  for (const s of HISTORY) names.push(`${s.info.beginWal}.00000028.backup`);
  return names;
})();

/** Dates from `from` to `to` inclusive (YYYY-MM-DD). */
function range(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

const keptDays = (plan: RetentionPlan) => plan.keep.map(k => k.backup.backupId).sort();
const idsOf = (days: string[]) =>
  [...new Set(days)]
    .map(d => {
      const s = byDay.get(d);
      if (!s) throw new Error(`test bug: no backup on ${d}`);
      return s.info.backupId;
    })
    .sort();
const reasonsOf = (plan: RetentionPlan, day: string) => plan.keep.find(k => k.backup.backupId === byDay.get(day)!.info.backupId)?.reasons;

/** Parsed independently of the code under test: timeline and absolute segment number. */
function parseSeg(name: string): { tl: number; n: number } {
  return { tl: parseInt(name.slice(0, 8), 16), n: parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16, 24), 16) };
}

/** The WAL the rules say may go, given the oldest kept backup: before it on its timeline, and lower timelines. */
function expectedWalRemoval(oldest: Synth): string[] {
  return WAL.filter(name => {
    if (name.endsWith('.history')) return false;
    const { tl, n } = parseSeg(name);
    return tl < oldest.tl || (tl === oldest.tl && n < oldest.seg);
  }).sort();
}

function checkWal(plan: RetentionPlan, expectedDays: string[]): void {
  const oldest = byDay.get([...expectedDays].sort()[0])!;
  expect(plan.walBoundary).toBe(oldest.info.beginWal);
  const removed = planWalRemoval(WAL, plan).sort();
  expect(removed).toEqual(expectedWalRemoval(oldest));
  // nothing at or after the oldest kept backup's begin WAL (on its timeline or a later one) goes; all of it stays
  const removedSet = new Set(removed);
  const atOrAfter = (name: string) => {
    const { tl, n } = parseSeg(name);
    return tl > oldest.tl || (tl === oldest.tl && n >= oldest.seg);
  };
  expect(removed.filter(atOrAfter)).toEqual([]);
  expect(WAL.filter(name => name.endsWith('.history') || atOrAfter(name)).filter(name => removedSet.has(name))).toEqual([]);
  // the segment just before the oldest kept backup's start, and its predecessor's .backup file, do go
  if (oldest.seg > 2 && (oldest.tl === 1 || oldest.seg - 1 >= SWITCH_SEG)) expect(removedSet.has(segName(oldest.tl, oldest.seg - 1))).toBe(true);
  // the .backup files of kept backups stay
  for (const k of plan.keep) expect(removedSet.has(`${k.backup.beginWal}.00000028.backup`)).toBe(false);
}

function plan(spec: RetentionSpec, history: Synth[] = HISTORY, now = NOW, graceMs?: number): RetentionPlan {
  return planRetention(
    history.map(s => s.info),
    spec,
    now,
    { graceMs },
  );
}

describe('planRetention on 400 days of daily backups', () => {
  test('history is what the test thinks it is', () => {
    expect(HISTORY[0].day).toBe('2024-01-01');
    expect(HISTORY[DAYS - 1].day).toBe('2025-02-03');
    expect(HISTORY[SWITCH_DAY].day).toBe('2024-10-27');
    expect(HISTORY[SWITCH_DAY].info.beginWal.startsWith('00000002')).toBe(true);
    expect(HISTORY[SWITCH_DAY - 1].info.beginWal.startsWith('00000001')).toBe(true);
  });

  const cases: [string, RetentionSpec, string[]][] = [
    ['recoveryWindow 14d: the 14 days plus the last backup before them', { recoveryWindow: '14d' }, range('2025-01-20', '2025-02-03')],
    ['daily 7', { daily: 7 }, range('2025-01-28', '2025-02-03')],
    [
      'the reference user: daily 14, monthly 6, yearly 1',
      { daily: 14, monthly: 6, yearly: 1 },
      [...range('2025-01-21', '2025-02-03'), '2024-12-31', '2024-11-30', '2024-10-31', '2024-09-30'],
    ],
    [
      'weekly 4, monthly 12',
      { weekly: 4, monthly: 12 },
      [
        '2025-02-03',
        '2025-02-02',
        '2025-01-26',
        '2025-01-19',
        '2025-01-31',
        '2024-12-31',
        '2024-11-30',
        '2024-10-31',
        '2024-09-30',
        '2024-08-31',
        '2024-07-31',
        '2024-06-30',
        '2024-05-31',
        '2024-04-30',
        '2024-03-31',
      ],
    ],
    // 2024-12-30 and -31 are in ISO week 2025-W01, whose newest backup is 2025-01-05
    [
      'weekly 8 across the ISO year boundary',
      { weekly: 8 },
      ['2025-02-03', '2025-02-02', '2025-01-26', '2025-01-19', '2025-01-12', '2025-01-05', '2024-12-29', '2024-12-22'],
    ],
    ['recoveryWindow 30d, yearly 2', { recoveryWindow: '30d', yearly: 2 }, [...range('2025-01-04', '2025-02-03'), '2024-12-31']],
    ['zero counts and a 1-day window', { daily: 0, monthly: 0, yearly: 0, recoveryWindow: '1d' }, ['2025-02-02', '2025-02-03']],
    ['recoveryWindow 2m (62 days)', { recoveryWindow: '2m' }, range('2024-12-03', '2025-02-03')],
    [
      'monthly 13 reaches timeline 1 (Jan 2024)',
      { monthly: 13 },
      [
        '2025-02-03',
        '2025-01-31',
        '2024-12-31',
        '2024-11-30',
        '2024-10-31',
        '2024-09-30',
        '2024-08-31',
        '2024-07-31',
        '2024-06-30',
        '2024-05-31',
        '2024-04-30',
        '2024-03-31',
        '2024-02-29',
      ],
    ],
  ];

  test.each(cases)('%s', (_name, spec, days) => {
    const p = plan(spec);
    expect(keptDays(p)).toEqual(idsOf(days));
    expect(p.keep.length + p.remove.length).toBe(DAYS);
    expect(p.remove.every(r => r.why === 'no rule keeps it')).toBe(true);
    expect(reasonsOf(p, '2025-02-03')).toContain('newest');
    checkWal(p, days);
  });

  test('reasons name every rule that keeps a backup', () => {
    const p = plan({ daily: 14, monthly: 6, yearly: 1 });
    expect(reasonsOf(p, '2025-02-03')).toEqual(['newest', 'daily', 'monthly', 'yearly']);
    expect(reasonsOf(p, '2025-01-31')).toEqual(['daily', 'monthly']);
    expect(reasonsOf(p, '2025-01-30')).toEqual(['daily']);
    expect(reasonsOf(p, '2024-12-31')).toEqual(['monthly']);
    const w = plan({ recoveryWindow: '14d', yearly: 2 });
    expect(reasonsOf(w, '2025-01-20')).toEqual(['window']); // the last one before the window
    expect(reasonsOf(w, '2024-12-31')).toEqual(['yearly']);
    expect(describePlan(w)[0]).toMatch(/^20250203T000000 {2}DONE {4}ended 2025-02-03T00:10:00.000Z {2}keep {4}newest, window, yearly$/);
    expect(describePlan(w).filter(l => l.includes('remove')).length).toBe(DAYS - 16);
  });

  test('a backup that ended exactly at the window start counts as inside the window', () => {
    const now = new Date(Date.parse('2025-02-03T00:10:00Z') + 2 * DAY); // window 2d starts at 2025-02-03T00:10
    const p = plan({ recoveryWindow: '2d' }, HISTORY, now);
    // ended at the window start: inside; like barman, the one before is kept too (only an end before the start stops)
    expect(keptDays(p)).toEqual(idsOf(['2025-02-02', '2025-02-03']));
  });

  test('window units: d, w, m = 31 days (barman), y = 366 days', () => {
    expect(windowMs('14d')).toBe(14 * DAY);
    expect(windowMs('4w')).toBe(28 * DAY);
    expect(windowMs('6m')).toBe(186 * DAY);
    expect(windowMs('1y')).toBe(366 * DAY);
    expect(() => windowMs('0d')).toThrow(/not a number and a unit/);
    expect(() => windowMs('3h')).toThrow(/not a number and a unit/);
  });
});

describe('gaps in the history', () => {
  // no backups from 2025-01-25 to 2025-02-01, nor in November 2024
  const gappy = HISTORY.filter(s => !(s.day >= '2025-01-25' && s.day <= '2025-02-01') && !s.day.startsWith('2024-11'));

  test('daily and monthly count periods that have a backup', () => {
    const p = plan({ daily: 7, monthly: 4 }, gappy);
    expect(keptDays(p)).toEqual(
      idsOf(['2025-02-03', '2025-02-02', '2025-01-24', '2025-01-23', '2025-01-22', '2025-01-21', '2025-01-20', '2024-12-31', '2024-10-31']),
    );
    expect(reasonsOf(p, '2025-01-24')).toEqual(['daily', 'monthly']);
    checkWal(p, ['2024-10-31']);
  });

  test('a window over a gap keeps the last backup before the window', () => {
    const p = plan({ recoveryWindow: '7d' }, gappy); // window starts 2025-01-27T12:00
    expect(keptDays(p)).toEqual(idsOf(['2025-02-03', '2025-02-02', '2025-01-24']));
    expect(reasonsOf(p, '2025-01-24')).toEqual(['window']);
  });

  test('weekly counts weeks that have a backup', () => {
    const p = plan({ weekly: 3 }, gappy); // W06: 02-03; W05 (01-27..02-02): 02-02; W04 (01-20..26): 01-24
    expect(keptDays(p)).toEqual(idsOf(['2025-02-03', '2025-02-02', '2025-01-24']));
  });
});

describe('the newest backup', () => {
  const stale = HISTORY.filter(s => s.day <= '2025-01-31'); // the newest is 3 days old

  test('is kept by a 1-day window, as the backup before the window', () => {
    const p = plan({ recoveryWindow: '1d' }, stale);
    expect(keptDays(p)).toEqual(idsOf(['2025-01-31']));
    expect(reasonsOf(p, '2025-01-31')).toEqual(['newest', 'window']);
    checkWal(p, ['2025-01-31']);
  });

  test('is kept when no rule keeps anything', () => {
    const p = plan({}, stale);
    expect(keptDays(p)).toEqual(idsOf(['2025-01-31']));
    expect(reasonsOf(p, '2025-01-31')).toEqual(['newest']);
    const zero = plan({ daily: 0, weekly: 0, monthly: 0, yearly: 0 }, stale);
    expect(keptDays(zero)).toEqual(idsOf(['2025-01-31']));
  });

  test('a newer incomplete backup does not replace it', () => {
    const started = backupOnDay(DAYS - 1, 'STARTED', new Date('2025-02-03T11:00:00Z'));
    const p = plan({}, [...stale, started]);
    expect(reasonsOf(p, '2025-01-31')).toEqual(['newest']);
    expect(p.keep.find(k => k.backup.backupId === started.info.backupId)?.reasons).toEqual(['incomplete-running']);
  });
});

describe('running and incomplete backups', () => {
  const at = (iso: string, status: BackupStatus, dayIndex: number) => backupOnDay(dayIndex, status, new Date(iso)).info;
  const running = at('2025-02-03T11:00:00Z', 'STARTED', 399); // 1 h old
  const staleStarted = at('2025-01-30T05:00:00Z', 'STARTED', 395); // 4 days old: a leftover
  const recentFailed = at('2025-02-03T06:00:00Z', 'FAILED', 399); // 6 h old
  const oldFailed = at('2025-01-15T03:00:00Z', 'FAILED', 380);
  const all = [...HISTORY.map(s => s.info), running, staleStarted, recentFailed, oldFailed];

  test('younger than the grace period: kept; older: removed', () => {
    const p = planRetention(all, { daily: 7 }, NOW);
    const kept = new Map(p.keep.map(k => [k.backup.backupId, k.reasons]));
    expect(kept.get(running.backupId)).toEqual(['incomplete-running']);
    expect(kept.get(recentFailed.backupId)).toEqual(['incomplete-running']);
    const removed = new Map(p.remove.map(r => [r.backup.backupId, r.why]));
    expect(removed.get(staleStarted.backupId)).toMatch(/^incomplete \(STARTED\), idle for 4d 7h, more than the grace period of 1d$/);
    expect(removed.get(oldFailed.backupId)).toMatch(/^incomplete \(FAILED\)/);
    expect(
      p.keep
        .filter(k => k.backup.status === 'DONE')
        .map(k => k.backup.backupId)
        .sort(),
    ).toEqual(idsOf(range('2025-01-28', '2025-02-03')));
    expect(p.walBoundary).toBe(byDay.get('2025-01-28')!.info.beginWal);
  });

  test('a shorter grace period removes the failed backup of this morning; recent activity keeps a slow one', () => {
    const p = planRetention(all, { daily: 7 }, NOW, {
      graceMs: 2 * 3600_000,
      lastActivity: new Map([[staleStarted.backupId, new Date('2025-02-03T11:30:00Z')]]),
    });
    expect(p.remove.map(r => r.backup.backupId)).toContain(recentFailed.backupId);
    expect(p.keep.find(k => k.backup.backupId === staleStarted.backupId)?.reasons).toEqual(['incomplete-running']);
    expect(p.keep.find(k => k.backup.backupId === running.backupId)?.reasons).toEqual(['incomplete-running']);
  });

  test('a kept running backup that starts before the oldest kept DONE backup lowers the WAL boundary', () => {
    const early = { ...running, backupId: '20250203T110001', beginWal: byDay.get('2025-01-10')!.info.beginWal };
    const p = planRetention([...HISTORY.map(s => s.info), early], { daily: 7 }, NOW);
    expect(p.walBoundary).toBe(byDay.get('2025-01-10')!.info.beginWal);
  });
});

describe('WAL fails closed', () => {
  test('no DONE backup: no WAL is removed, incomplete leftovers are', () => {
    const p = planRetention([backupOnDay(10, 'FAILED').info], { daily: 7 }, NOW);
    expect(p.keep).toEqual([]);
    expect(p.remove.length).toBe(1);
    expect(p.walBoundary).toBeUndefined();
    expect(planWalRemoval(WAL, p)).toEqual([]);
  });

  test('kept backups of two systems: no WAL is removed', () => {
    const other = { ...HISTORY[DAYS - 2].info, systemIdentifier: '7399999999999999999' };
    const p = planRetention([...HISTORY.slice(0, DAYS - 2).map(s => s.info), other, HISTORY[DAYS - 1].info], { daily: 7 }, NOW);
    expect(p.walBoundary).toBeUndefined();
    expect(p.walBoundaryWhy).toMatch(/2 different systems/);
    expect(planWalRemoval(WAL, p)).toEqual([]);
  });

  test('a kept backup without a valid begin_wal: no WAL is removed', () => {
    const broken = { ...HISTORY[DAYS - 3].info, beginWal: '' };
    const p = planRetention([...HISTORY.filter((_, i) => i !== DAYS - 3).map(s => s.info), broken], { daily: 7 }, NOW);
    expect(p.walBoundary).toBeUndefined();
    expect(p.walBoundaryWhy).toMatch(/no valid begin_wal/);
  });

  test('names that are not WAL files, and history files, are never removed', () => {
    const p = plan({ daily: 1 });
    expect(planWalRemoval(['00000001.history', 'README', '000000010000000000000001.tmp', '000000010000000000000001.00000028.backup'], p)).toEqual([
      '000000010000000000000001.00000028.backup',
    ]);
  });
});
