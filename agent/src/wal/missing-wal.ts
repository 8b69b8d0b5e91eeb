/**
 * What `wal-fetch` answers for a file the archive does not have (no AWS SDK here: the spool path uses it too).
 * "Not in the archive" (exit 1) ends PostgreSQL's recovery; for a segment that must exist (a hole: it lies before a
 * switch point a timeline history file names, or a later segment of its timeline is archived) the answer is an
 * error, exit 255: PostgreSQL stops instead of promoting without the rest of the archive. The decision is
 * ../decide/archive's walFetchAnswer; this gathers its facts: the history files PostgreSQL restored into pg_wal,
 * those wal-fetch read from the archive (kept in the spool), and the WAL segment size of a segment at hand.
 */
import * as fs from 'fs';
import * as path from 'path';
import { HISTORY_NAME, SEGMENT_NAME, TimelineSwitch, parseTimelineHistory, walSegmentSizeOfHeader } from '../postgres/wal';
import { log } from '../common/log';
import { walFetchAnswer } from '../decide/archive';
import { WalSpool } from './wal-spool';

/** Exit code for a hole: above 125, PostgreSQL aborts recovery instead of ending it (see restore_command). */
export const EXIT_HOLE = 255;

/** The switch points of every timeline history file at hand: PostgreSQL's in pg_wal and the ones kept in the spool. */
export function knownSwitches(walDir: string, spool: WalSpool): TimelineSwitch[] {
  const texts = new Map(spool.keptHistories());
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(walDir).filter(n => HISTORY_NAME.test(n));
  } catch {
    // no pg_wal: only the spool's
  }
  for (const n of entries) {
    try {
      texts.set(n, fs.readFileSync(path.join(walDir, n), 'utf8'));
    } catch {
      // removed meanwhile
    }
  }
  const out: TimelineSwitch[] = [];
  for (const [name, text] of texts) {
    try {
      out.push(...parseTimelineHistory(text));
    } catch (e) {
      log.warn({ history: name, err: (e as Error).message }, 'cannot read a timeline history file; the hole check goes without it');
    }
  }
  return out;
}

/** The WAL segment size in the long header of a segment in the spool or pg_wal; undefined when none is readable. */
export function segmentSizeAt(walDir: string, spool: WalSpool): number | undefined {
  const candidates = [
    ...spool
      .names()
      .filter(n => SEGMENT_NAME.test(n))
      .map(n => path.join(spool.dir, n)),
  ];
  try {
    candidates.push(
      ...fs
        .readdirSync(walDir)
        .filter(n => SEGMENT_NAME.test(n))
        .sort()
        .reverse()
        .slice(0, 3)
        .map(n => path.join(walDir, n)),
    );
  } catch {
    // none
  }
  for (const file of candidates) {
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const head = Buffer.alloc(40);
        if (fs.readSync(fd, head, 0, 40, 0) === 40) {
          const size = walSegmentSizeOfHeader(head);
          if (size) return size;
        }
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      // next
    }
  }
  return undefined;
}

/** Exit code for `name`, which the archive does not have: 1 (the end: recovery ends there) or 255 (a hole). */
export function answerMissing(name: string, walDir: string, spool: WalSpool, later: string | undefined, how: string, segmentSize?: number): number {
  const answer = walFetchAnswer({
    name,
    inArchive: false,
    laterOnTimeline: later,
    switches: knownSwitches(walDir, spool),
    segmentSize: segmentSize ?? segmentSizeAt(walDir, spool),
  });
  if (answer.answer === 'hole') {
    log.error(
      { wal: name, missing: answer.missing, invariant: answer.invariant, fix: answer.fix },
      `wal-fetch: WAL segment ${answer.missing} is missing from the archive: ${answer.why}`,
    );
    return EXIT_HOLE;
  }
  log.info({ wal: name }, `WAL file not in the archive${how}`);
  return 1;
}
