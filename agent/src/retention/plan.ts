/**
 * Retention: which base backups to keep, which to remove, and which archived WAL no kept backup needs. Pure
 * functions of a listing, a {@link RetentionSpec} and a clock, so every decision can be tested and printed
 * before anything is deleted ({@link ./apply} does the S3 side).
 *
 * A backup's time is its END time (the earliest point it restores to; `beginTime` if a DONE backup has no end),
 * in UTC. Rules combine: a backup is kept if ANY rule keeps it, and each kept backup carries every reason.
 *
 * - `recoveryWindow` (`Nd`, `Nw`, `Nm`, `Ny`): barman's recovery window. The point of recoverability is
 *   `now - window`, with d = 24 h, w = 7 d, m = 31 d (barman's month) and y = 366 d (never shorter than a
 *   calendar year). Kept ('window'): every DONE backup that ended at or after that point, plus the newest DONE
 *   backup that ended before it, so that every instant of [now - window, now] can be restored (that backup
 *   plus the WAL after it).
 * - `daily`, `weekly`, `monthly`, `yearly` (GFS, restic's `--keep-daily` semantics): going from the newest DONE
 *   backup to the oldest, the newest backup of each period is kept, for the N most recent periods THAT HAVE A
 *   DONE BACKUP (days without a backup do not count, so gaps reach further back; the counts are not bounded by
 *   `now`). Periods: UTC calendar days, ISO 8601 weeks (Monday to Sunday, UTC), UTC calendar months and years.
 *   The current period counts: `monthly: 6` is this month's newest backup plus the last backup of each of the five
 *   months before that have one; `yearly: 1` is only this year's newest backup (use `yearly: 2` for one from last
 *   year). A count of 0 (or absent) disables the rule.
 * - 'newest': the newest DONE backup is never removed, whatever the rules say.
 * - 'incomplete-running': a backup that is not DONE (STARTED, FAILED, another barman status, or a folder without a
 *   backup.info) and whose last activity is younger than the grace period (default 24 h) is kept: it may still be
 *   running. Last activity: the start of a FAILED backup; for the others the newest of its start and its objects'
 *   LastModified. Older incomplete backups are leftovers and are removed. They never count for any rule.
 *
 * - 'chain': a kept incremental backup keeps the backup it builds on ({@link PlanOptions.parents}), and so on down
 *   to its full backup; the rules see incrementals as backups like any other (each restores its point in time).
 *   An incremental that no rule keeps goes only when no kept backup depends on it (then nothing does).
 *
 * WAL ({@link planWalRemoval}): the boundary is the smallest `begin_wal` among the kept backups (by name: timeline,
 * then log, then segment; for the normal history where timelines only grow with time this is the oldest kept
 * backup's begin WAL). Removed: WAL segments and `.partial` segments whose 24-character name sorts strictly
 * before the boundary (so their timeline is at most the boundary's; on a lower timeline, all of it), and
 * `.backup` history files whose segment sorts before it. Kept: every `.history` file, every segment, partial
 * segment and `.backup` file at or after the boundary (on any timeline, so the oldest kept backup restores to
 * every later point, through every later timeline switch), and any object whose name is not a WAL file name.
 * With no kept DONE backup, or a kept backup without a valid `begin_wal`, or kept backups of more than one
 * system identifier, no WAL is removed (fail closed).
 */
import { RetentionSpec, WAL_FILE } from '../../../lib/contract';
import { RECOVERY_WINDOW } from '../../../lib/backup/retention';
import type { BackupInfo } from '../catalog/backup-info';
import { SEGMENT_NAME } from '../postgres/wal';

export type KeepReason = 'window' | 'daily' | 'weekly' | 'monthly' | 'yearly' | 'newest' | 'incomplete-running' | 'chain';

export interface KeptBackup {
  readonly backup: BackupInfo;
  /** Every rule that keeps it: newest, window, daily, weekly, monthly, yearly, incomplete-running (in this order). */
  readonly reasons: KeepReason[];
}

export interface RemovedBackup {
  readonly backup: BackupInfo;
  /** Why it goes: `no rule keeps it` (DONE), `incomplete, idle for more than …` (not DONE). */
  readonly why: string;
}

export interface RetentionPlan {
  readonly now: Date;
  readonly spec: RetentionSpec;
  /** Newest first (by end time, then id). */
  readonly keep: KeptBackup[];
  /** Newest first. */
  readonly remove: RemovedBackup[];
  /** Start of the recovery window (`now - window`), when there is one. */
  readonly windowStart?: Date;
  /**
   * WAL at or after this 24-character name is kept; before it, removable (see the module comment). Undefined:
   * no WAL may be removed, for the reason in {@link walBoundaryWhy}.
   */
  readonly walBoundary?: string;
  readonly walBoundaryWhy: string;
}

export interface PlanOptions {
  /** Incomplete backups idle for less than this are kept (they may be running). @default 24 h */
  readonly graceMs?: number;
  /**
   * Last activity of an incomplete backup by id (e.g. the newest LastModified of its objects), when later than
   * its `beginTime` and its `lastModified`. Not used for FAILED backups.
   */
  readonly lastActivity?: ReadonlyMap<string, Date>;
  /**
   * Incremental backups: id -> the backup it builds on. A kept incremental keeps its parent, and so its whole chain
   * ('chain'): an incremental is worth nothing without every backup before it.
   */
  readonly parents?: ReadonlyMap<string, string>;
}

export const DEFAULT_GRACE_MS = 24 * 3600_000;

const DAY_MS = 24 * 3600_000;
const UNIT_DAYS: Record<string, number> = { d: 1, w: 7, m: 31, y: 366 };
const REASON_ORDER: KeepReason[] = ['newest', 'window', 'daily', 'weekly', 'monthly', 'yearly', 'incomplete-running', 'chain'];

/** Length of a recovery window (`14d`, `4w`, `6m`, `1y`) in milliseconds; throws on anything else. */
export function windowMs(window: string): number {
  if (!RECOVERY_WINDOW.test(window)) throw new Error(`recovery window "${window}" is not a number and a unit (d, w, m, y)`);
  return Number(window.slice(0, -1)) * UNIT_DAYS[window.slice(-1)] * DAY_MS;
}

/** The time a backup stands for: its end (the earliest instant it restores to). */
export function backupTime(b: BackupInfo): Date {
  return b.endTime ?? b.beginTime;
}

/** Newest first: by end time, then by id. */
export function newestFirst(a: BackupInfo, b: BackupInfo): number {
  return backupTime(b).getTime() - backupTime(a).getTime() || (a.backupId < b.backupId ? 1 : a.backupId > b.backupId ? -1 : 0);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Period keys, UTC. */
export const periodKey = {
  daily: (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
  weekly: (d: Date) => {
    // ISO 8601: the week belongs to the year of its Thursday; week 1 holds the year's first Thursday.
    const day = (d.getUTCDay() + 6) % 7; // Monday 0
    const thursday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3));
    const dayOfYear = Math.round((thursday.getTime() - Date.UTC(thursday.getUTCFullYear(), 0, 1)) / DAY_MS);
    return `${thursday.getUTCFullYear()}-W${pad(Math.floor(dayOfYear / 7) + 1)}`;
  },
  monthly: (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`,
  yearly: (d: Date) => `${d.getUTCFullYear()}`,
} as const;

type GfsRule = keyof typeof periodKey;
const GFS_RULES: GfsRule[] = ['daily', 'weekly', 'monthly', 'yearly'];

/** Decides which backups to keep and which to remove (see the module comment for the semantics). */
export function planRetention(backups: BackupInfo[], spec: RetentionSpec, now: Date, options: PlanOptions = {}): RetentionPlan {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const reasons = new Map<string, Set<KeepReason>>();
  const add = (b: BackupInfo, r: KeepReason) => {
    let s = reasons.get(b.backupId);
    if (!s) reasons.set(b.backupId, (s = new Set()));
    s.add(r);
  };

  const done = backups.filter(b => b.status === 'DONE').sort(newestFirst);
  if (done.length > 0) add(done[0], 'newest');

  let windowStart: Date | undefined;
  if (spec.recoveryWindow !== undefined) {
    windowStart = new Date(now.getTime() - windowMs(spec.recoveryWindow));
    for (const b of done) {
      add(b, 'window');
      // newest first: the first backup that ended before the window start is the last one needed
      if (backupTime(b).getTime() < windowStart.getTime()) break;
    }
  }

  for (const rule of GFS_RULES) {
    let left = spec[rule] ?? 0;
    let last: string | undefined;
    for (const b of done) {
      if (left <= 0) break;
      const key = periodKey[rule](backupTime(b));
      if (key === last) continue;
      last = key;
      add(b, rule);
      left--;
    }
  }

  // A kept backup keeps the chain it needs: its parent, the parent's parent, ... down to the full backup.
  const parents = options.parents ?? new Map<string, string>();
  const known = new Map(backups.map(b => [b.backupId, b]));
  for (const id of [...reasons.keys()]) {
    const seen = new Set<string>([id]);
    for (let p = parents.get(id); p !== undefined && !seen.has(p); p = parents.get(p)) {
      seen.add(p);
      const parent = known.get(p);
      if (!parent) break; // already gone: the chain is broken there, nothing below it helps
      add(parent, 'chain');
    }
  }

  const remove: RemovedBackup[] = [];
  for (const b of backups) {
    if (b.status === 'DONE') {
      if (!reasons.has(b.backupId)) remove.push({ backup: b, why: 'no rule keeps it' });
      continue;
    }
    // a FAILED backup is finished: its age counts from its start; any other may still be uploading
    const activity =
      b.status === 'FAILED'
        ? b.beginTime.getTime()
        : Math.max(b.beginTime.getTime(), b.lastModified?.getTime() ?? 0, options.lastActivity?.get(b.backupId)?.getTime() ?? 0);
    const idle = now.getTime() - activity;
    if (idle < graceMs) add(b, 'incomplete-running');
    else
      remove.push({
        backup: b,
        why: `incomplete (${b.status}), idle for ${formatDuration(idle)}, more than the grace period of ${formatDuration(graceMs)}`,
      });
  }

  const byId = new Map(backups.map(b => [b.backupId, b]));
  const keep = [...reasons]
    .map(([id, set]) => ({
      backup: byId.get(id)!,
      reasons: REASON_ORDER.filter(r => set.has(r)),
    }))
    .sort((a, b) => newestFirst(a.backup, b.backup));
  remove.sort((a, b) => newestFirst(a.backup, b.backup));

  const { boundary, why } = walBoundary(keep.map(k => k.backup));
  return { now, spec, keep, remove, windowStart, walBoundary: boundary, walBoundaryWhy: why };
}

function walBoundary(kept: BackupInfo[]): { boundary?: string; why: string } {
  const done = kept.filter(b => b.status === 'DONE');
  if (done.length === 0) return { why: 'no complete backup is kept: all WAL is kept' };
  const systems = new Set(done.map(b => b.systemIdentifier));
  if (systems.size > 1) return { why: `kept backups belong to ${systems.size} different systems (${[...systems].join(', ')}): all WAL is kept` };
  let min: BackupInfo | undefined;
  for (const b of kept) {
    if (b.status !== 'DONE' && !b.beginWal) continue; // a running backup that has not said where it starts yet
    if (!SEGMENT_NAME.test(b.beginWal ?? '')) return { why: `backup ${b.backupId} has no valid begin_wal ("${b.beginWal ?? ''}"): all WAL is kept` };
    if (!min || b.beginWal < min.beginWal) min = b;
  }
  return { boundary: min!.beginWal, why: `begin_wal of backup ${min!.backupId}, the oldest kept` };
}

/** The 24-character segment a WAL file name refers to (segment, partial, backup history), or undefined. */
function segmentOf(name: string): string | undefined {
  if (!WAL_FILE.test(name) || name.endsWith('.history')) return undefined;
  return name.slice(0, 24);
}

/**
 * Which of these WAL file names (without compression extension) may be deleted under `plan`: segments,
 * partial segments and `.backup` files before the plan's WAL boundary; never `.history` files, never anything
 * at or after the boundary, nothing at all without a boundary.
 */
export function planWalRemoval(walNames: readonly string[], plan: Pick<RetentionPlan, 'walBoundary'>): string[] {
  const boundary = plan.walBoundary;
  if (!boundary) return [];
  return walNames.filter(name => {
    const seg = segmentOf(name);
    return seg !== undefined && seg < boundary;
  });
}

/** `3d 4h`, `25m`, `12s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400),
    h = Math.floor((s % 86400) / 3600),
    m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

export interface PlanRow {
  readonly backup: BackupInfo;
  readonly action: 'keep' | 'remove';
  readonly reasons?: KeepReason[];
  readonly why?: string;
  /** `20250203T000000  DONE    ended 2025-02-03T00:10:00.000Z  keep    newest, daily` */
  readonly line: string;
}

/** Every backup of the plan, newest first, with its decision and a one-line description. */
export function planRows(plan: RetentionPlan): PlanRow[] {
  const rows = [
    ...plan.keep.map(k => ({ backup: k.backup, action: 'keep' as const, reasons: k.reasons, text: `keep    ${k.reasons.join(', ')}` })),
    ...plan.remove.map(r => ({ backup: r.backup, action: 'remove' as const, why: r.why, text: `remove  ${r.why}` })),
  ].sort((x, y) => newestFirst(x.backup, y.backup));
  return rows.map(({ text, ...row }) => {
    const b = row.backup;
    const when = b.endTime ? `ended ${b.endTime.toISOString()}` : `began ${b.beginTime.toISOString()}`;
    return { ...row, line: `${b.backupId}  ${b.status.padEnd(7)} ${when}  ${text}` };
  });
}

/** One line per backup, newest first (see {@link planRows}). */
export function describePlan(plan: RetentionPlan): string[] {
  return planRows(plan).map(r => r.line);
}
