/**
 * Decisions about the WAL archive's continuity (invariant I4, CONTINUOUS_ARCHIVE): pure functions of what a listing
 * and the timeline history files show, table-tested in test/agent/decide-archive.test.ts.
 *
 * - {@link walFetchAnswer}: what `wal-fetch` (PostgreSQL's restore_command) answers for one file. "Not in the
 *   archive" (exit 1) makes PostgreSQL end recovery there and promote: right at the end of the archive, and a silent
 *   loss of everything after a hole. So a segment that must exist (it lies before a switch point a history file
 *   names, or a later segment of its timeline is archived) is a hole: an error (exit 255), recovery stops.
 * - {@link archiveContinuity}: from a backup's first segment, the continuous WAL range the archive holds along the
 *   newest timeline descending from the backup's, or the first missing segment (`pg-agent list`, `pg-agent verify`).
 * - {@link replayReachedEnd}: whether a replay to `latest` reached the end of that range.
 * - {@link archiveMode}: `always` for every instance (replicas archive what they received), except while the
 *   instance replays or streams another store's or server's WAL.
 * - {@link archivingAtStop}: whether a stop for a hand-over skips the final archiving attempts (the store fails).
 *
 * WAL names and LSN arithmetic come from ../catalog/lsn (one place for PostgreSQL's WAL facts).
 */
import {
  DEFAULT_WAL_SEGMENT_SIZE,
  SEGMENT_NAME as SEGMENT,
  TimelineSwitch,
  formatLsn,
  historyFileName,
  parseWalFileName,
  segmentNumber,
  walFileNameOfSegment,
} from '../catalog/lsn';
import { INVARIANTS, Invariant } from './invariants';

export interface WalFetchFacts {
  /** The file PostgreSQL asked for (%f). */
  readonly name: string;
  /** The archive (or the prefetch spool, filled from it) holds it. */
  readonly inArchive: boolean;
  /** A segment of the same timeline after `name` that a listing showed in the archive. */
  readonly laterOnTimeline?: string;
  /** The switch points of every timeline history file known (PostgreSQL's copies in pg_wal, the archive's). */
  readonly switches: readonly TimelineSwitch[];
  readonly segmentSize?: number;
}

export type WalFetchAnswer =
  | { readonly answer: 'serve'; readonly why: string }
  | { readonly answer: 'not-found'; readonly why: string }
  | { readonly answer: 'hole'; readonly missing: string; readonly why: string; readonly fix: string; readonly invariant: Invariant };

/** The fix for a hole, in one line (wal-fetch's log line and verify's failure say it). */
export function holeFix(missing: string): string {
  return (
    `Recovery stops here instead of ending early without everything after it. Find ${missing} in an instance's pg_wal ` +
    `(an old primary's or a replica's volume) and copy it to the archive under the same name (compressed as the others); ` +
    `or restore to a target before the hole (bootstrap.recovery target), or from a backup taken after it (pg-agent list shows each backup's range).`
  );
}

export function walFetchAnswer(facts: WalFetchFacts): WalFetchAnswer {
  const { name } = facts;
  if (facts.inArchive) return { answer: 'serve', why: `${name} is in the archive` };
  // History files, .partial and .backup files are looked for and legitimately absent (the end of recovery).
  if (!SEGMENT.test(name)) return { answer: 'not-found', why: `${name} is not in the archive` };
  const size = facts.segmentSize ?? DEFAULT_WAL_SEGMENT_SIZE;
  const { timeline, segNo } = parseWalFileName(name, size);
  const ended = facts.switches.filter(s => s.timeline === timeline && segNo < segmentNumber(s.switchLsn, size));
  if (ended.length > 0) {
    const at = ended.reduce((a, b) => (a.switchLsn < b.switchLsn ? a : b)).switchLsn;
    return {
      answer: 'hole',
      missing: name,
      invariant: INVARIANTS.CONTINUOUS_ARCHIVE,
      fix: holeFix(name),
      why: `${name} is missing from the archive, but a timeline history file says timeline ${timeline} went on to ${formatLsn(at)}: a hole in the archive`,
    };
  }
  // At or after a switch point of its timeline, a segment belongs to a history that was left (an old primary's WAL
  // past the failover): recovery reads the new timeline's instead, and later segments of the old one prove nothing.
  const left = facts.switches.some(s => s.timeline === timeline && segNo >= segmentNumber(s.switchLsn, size));
  if (facts.laterOnTimeline && !left) {
    return {
      answer: 'hole',
      missing: name,
      invariant: INVARIANTS.CONTINUOUS_ARCHIVE,
      fix: holeFix(name),
      why: `${name} is missing from the archive, but ${facts.laterOnTimeline} of the same timeline is there: a hole in the archive`,
    };
  }
  return { answer: 'not-found', why: `${name} is not in the archive (its end)` };
}

export interface ArchiveContents {
  /** Names in the archive without compression extension: segments, `.partial`, `.backup`, `.history`. */
  readonly names: Iterable<string>;
  /** The archive's timeline history files, parsed, by timeline. */
  readonly histories: ReadonlyMap<number, readonly TimelineSwitch[]>;
  readonly segmentSize?: number;
}

export interface BackupStart {
  readonly timeline: number;
  /** The backup's first WAL segment (backup.info begin_wal). */
  readonly beginWal: string;
}

export type Continuity =
  | {
      readonly continuous: true;
      readonly timeline: number;
      readonly from: string;
      readonly to: string;
      readonly segments: number;
      readonly invariant: Invariant;
    }
  | {
      readonly continuous: false;
      readonly timeline: number;
      readonly from: string;
      /** The last segment of the continuous part, if any. */
      readonly to?: string;
      readonly missing: string;
      /** The last segment recovery needs (what the archive shows beyond the hole). */
      readonly end: string;
      readonly why: string;
      readonly fix: string;
      readonly invariant: Invariant;
    };

interface Range {
  tli: number;
  beginSeg: bigint;
  endSeg?: bigint;
}

/** The timelines recovery to `target` walks, oldest first, with the segments each one serves. */
function ancestry(target: number, histories: ReadonlyMap<number, readonly TimelineSwitch[]>, size: number): Range[] | undefined {
  const entries = histories.get(target);
  if (!entries) return target === 1 ? [{ tli: 1, beginSeg: 0n }] : undefined;
  const ranges: Range[] = [];
  let begin = 0n;
  for (const e of entries) {
    const end = segmentNumber(e.switchLsn, size);
    ranges.push({ tli: e.timeline, beginSeg: begin, endSeg: end });
    begin = end;
  }
  ranges.push({ tli: target, beginSeg: begin });
  return ranges;
}

/**
 * The continuous WAL range from a backup's first segment along the newest timeline that descends from the backup's
 * (recovery_target_timeline = latest), as PostgreSQL reads it: each segment from the newest timeline of the
 * ancestry that began at or before it. The range must reach the last segment recovery would read: the newest
 * segment archived on that timeline, and at least the segment before each switch point its history names.
 */
export function archiveContinuity(archive: ArchiveContents, backup: BackupStart): Continuity {
  const size = archive.segmentSize ?? DEFAULT_WAL_SEGMENT_SIZE;
  const start = parseWalFileName(backup.beginWal, size).segNo;
  const segments = new Map<number, Set<bigint>>();
  for (const n of archive.names) {
    if (!SEGMENT.test(n)) continue;
    const { timeline, segNo } = parseWalFileName(n, size);
    if (!segments.has(timeline)) segments.set(timeline, new Set());
    segments.get(timeline)!.add(segNo);
  }
  // The newest timeline whose ancestry holds the backup's start.
  const candidates = [...new Set([backup.timeline, ...archive.histories.keys(), ...segments.keys()])].sort((a, b) => b - a);
  let target = backup.timeline;
  let ranges: Range[] = [{ tli: backup.timeline, beginSeg: 0n }];
  for (const t of candidates) {
    if (t < backup.timeline) break;
    const r = t === backup.timeline ? (ancestry(t, archive.histories, size) ?? [{ tli: t, beginSeg: 0n }]) : ancestry(t, archive.histories, size);
    if (r?.some(x => x.tli === backup.timeline && x.beginSeg <= start && (x.endSeg === undefined || start <= x.endSeg))) {
      target = t;
      ranges = r;
      break;
    }
  }
  const tliFor = (segNo: bigint) => [...ranges].reverse().find(r => r.beginSeg <= segNo)!.tli;
  const last = ranges[ranges.length - 1];
  let lastNeeded = start;
  const switched = ranges.filter(r => r.endSeg !== undefined);
  if (switched.length > 0) {
    const e = switched[switched.length - 1].endSeg!;
    if (e - 1n > lastNeeded) lastNeeded = e - 1n;
  }
  for (const s of segments.get(last.tli) ?? []) if (s >= last.beginSeg && s > lastNeeded) lastNeeded = s;
  const has = (segNo: bigint) => segments.get(tliFor(segNo))?.has(segNo) ?? false;
  const from = walFileNameOfSegment(tliFor(start), start, size);
  for (let s = start; s <= lastNeeded; s++) {
    if (has(s)) continue;
    const missing = walFileNameOfSegment(tliFor(s), s, size);
    const end = walFileNameOfSegment(tliFor(lastNeeded), lastNeeded, size);
    return {
      continuous: false,
      timeline: target,
      from,
      to: s > start ? walFileNameOfSegment(tliFor(s - 1n), s - 1n, size) : undefined,
      missing,
      end,
      invariant: INVARIANTS.CONTINUOUS_ARCHIVE,
      fix: holeFix(missing),
      why: `WAL segment ${missing} is missing from the archive, but recovery to the newest timeline (${target}) needs it to reach ${end}`,
    };
  }
  const to = walFileNameOfSegment(tliFor(lastNeeded), lastNeeded, size);
  // Segments of a newer timeline without its history file: recovery to latest cannot find that timeline (it looks
  // for history files), and would end before it.
  const orphan = [...segments.keys()].filter(t => t > target && t > 1 && !archive.histories.has(t)).sort((a, b) => a - b)[0];
  if (orphan !== undefined) {
    const missing = historyFileName(orphan);
    const newest = [...segments.get(orphan)!].reduce((a, b) => (a > b ? a : b));
    return {
      continuous: false,
      timeline: target,
      from,
      to,
      missing,
      end: walFileNameOfSegment(orphan, newest, size),
      invariant: INVARIANTS.CONTINUOUS_ARCHIVE,
      fix: holeFix(missing),
      why: `timeline history file ${missing} is missing from the archive, but segments of timeline ${orphan} are there: recovery to the newest timeline cannot follow it`,
    };
  }
  return { continuous: true, timeline: target, from, to, segments: Number(lastNeeded - start) + 1, invariant: INVARIANTS.CONTINUOUS_ARCHIVE };
}

/** Whether a replay that stopped at `redoDoneLsn` read the archive to `to`, the last segment of its range. */
export function replayReachedEnd(redoDoneLsn: bigint, to: string, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): boolean {
  return segmentNumber(redoDoneLsn, segmentSize) >= parseWalFileName(to, segmentSize).segNo;
}

export interface ArchiveModeFacts {
  /** Still recovering from the source's store (bootstrap.recovery, recovery.signal present). */
  readonly recoveringFromSource: boolean;
  /** Following an external source (bootstrap.pgBasebackup with follow). */
  readonly followingSource: boolean;
}

/**
 * PostgreSQL's archive_mode for an instance. `always`: a replica archives every segment it received, so a segment
 * the primary could not archive before it died is archived by the replica that is promoted (with `on` the replica
 * marks it done, and nobody ever archives it). `on` while the WAL is another cluster's: `always` would archive the
 * segments restored from the source's store, or streamed from the external source, into this cluster's folder.
 */
export function archiveMode(facts: ArchiveModeFacts): { mode: 'always' | 'on'; why: string; invariant: Invariant } {
  if (facts.recoveringFromSource)
    return { mode: 'on', why: "recovering from the source's store: its WAL is not archived again here", invariant: INVARIANTS.CONTINUOUS_ARCHIVE };
  if (facts.followingSource)
    return {
      mode: 'on',
      why: 'following an external source: its WAL is archived here only from the promotion on',
      invariant: INVARIANTS.CONTINUOUS_ARCHIVE,
    };
  return { mode: 'always', why: 'every instance archives what it holds, so no segment depends on one pod', invariant: INVARIANTS.CONTINUOUS_ARCHIVE };
}

export interface ArchivingAtStopFacts {
  /** How long the archiver's uploads have been failing, in ms; undefined when the last one succeeded. */
  readonly failingForMs?: number;
}

/**
 * Whether an instance that is about to stop postgres (a switchover, a rollout, a drain) empties archive_command
 * first. A clean shutdown archives every segment that is left, which makes a hand-over lossless for the archive; but
 * against a failing store each of those attempts fails after its retries, and the stop (the write gap) grows by
 * seconds. Pausing is safe: with archive_mode on and an empty archive_command PostgreSQL keeps every segment and its
 * `.ready` mark in pg_wal, and the next primary (archive_mode=always) or this instance on its return archives them.
 */
export function archivingAtStop(facts: ArchivingAtStopFacts): { pause: boolean; why: string; invariant: Invariant } {
  if (facts.failingForMs === undefined)
    return {
      pause: false,
      why: 'the store answers: the shutdown archives every segment left',
      invariant: INVARIANTS.CONTINUOUS_ARCHIVE,
    };
  return {
    pause: true,
    why: `the store has been failing for ${Math.round(facts.failingForMs / 1000)} s: the segments stay in pg_wal, marked ready, for the next primary and this instance on its return`,
    invariant: INVARIANTS.CONTINUOUS_ARCHIVE,
  };
}
