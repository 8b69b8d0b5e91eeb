/**
 * The archive-continuity decisions of agent/src/decide/archive.ts (invariant I4, CONTINUOUS_ARCHIVE), as tables:
 * what wal-fetch answers for a file that is not in the archive, the continuous range from a backup along the newest
 * timeline, and whether a replay reached its end. The incident of issue 12 item 3 is a row of each table.
 */
import { TimelineSwitch, parseLsn, parseTimelineHistory, walSegmentSizeOfHeader } from '../../agent/src/catalog/lsn';
import { archiveContinuity, archiveMode, archivingAtStop, replayReachedEnd, walFetchAnswer } from '../../agent/src/decide/archive';
import { INVARIANTS } from '../../agent/src/decide/invariants';

const sw = (timeline: number, lsn: string): TimelineSwitch => ({ timeline, switchLsn: parseLsn(lsn) });
/** Segment names of `timeline` from `from` to `to` (segment numbers, log 0, 16 MiB). */
const segs = (timeline: number, from: number, to: number) =>
  Array.from(
    { length: to - from + 1 },
    (_, i) => `${timeline.toString(16).toUpperCase().padStart(8, '0')}00000000${(from + i).toString(16).toUpperCase().padStart(8, '0')}`,
  );

describe('walFetchAnswer', () => {
  const INCIDENT = [sw(1, '0/B000098')]; // 00000002.history: timeline 1 ended in segment 0B
  test.each([
    ['in the archive: served', { name: '000000010000000000000006', inArchive: true, switches: INCIDENT }, 'serve'],
    ['a history file not in the archive: the end', { name: '00000003.history', inArchive: false, switches: INCIDENT }, 'not-found'],
    ['a .partial not in the archive', { name: '00000001000000000000000B.partial', inArchive: false, switches: INCIDENT }, 'not-found'],
    [
      'a segment after the last one, no history: the end of the archive',
      { name: '00000001000000000000000C', inArchive: false, switches: [] },
      'not-found',
    ],
    [
      'the incident: 1/06 missing, timeline 1 went on to 0/B000098',
      { name: '000000010000000000000006', inArchive: false, switches: INCIDENT },
      'hole',
    ],
    ['the segment before the switch segment', { name: '00000001000000000000000A', inArchive: false, switches: INCIDENT }, 'hole'],
    [
      "the switch segment of the old timeline (PostgreSQL reads the new one's)",
      { name: '00000001000000000000000B', inArchive: false, switches: INCIDENT },
      'not-found',
    ],
    [
      "the new timeline's first segment, nothing after it: the end",
      { name: '00000002000000000000000B', inArchive: false, switches: INCIDENT },
      'not-found',
    ],
    [
      'a switch exactly on a segment boundary: the segment before it is needed',
      { name: '00000001000000000000000A', inArchive: false, switches: [sw(1, '0/B000000')] },
      'hole',
    ],
    [
      "a switch exactly on a segment boundary: that segment is the new timeline's",
      { name: '00000001000000000000000B', inArchive: false, switches: [sw(1, '0/B000000')] },
      'not-found',
    ],
    [
      'a switch of another timeline says nothing about this one',
      { name: '000000020000000000000010', inArchive: false, switches: [sw(1, '0/B000098'), sw(3, '0/20000000')] },
      'not-found',
    ],
    [
      'two switches: timeline 2 went on to 0/20000000',
      { name: '000000020000000000000010', inArchive: false, switches: [sw(1, '0/B000098'), sw(2, '0/20000000')] },
      'hole',
    ],
    [
      'a later segment of the same timeline is listed: a hole without any failover',
      { name: '000000010000000000000006', inArchive: false, laterOnTimeline: '000000010000000000000007', switches: [] },
      'hole',
    ],
    [
      "the old timeline's switch segment, an old primary's later segment listed: not a hole (a history that was left)",
      { name: '00000001000000000000000B', inArchive: false, laterOnTimeline: '00000001000000000000000C', switches: INCIDENT },
      'not-found',
    ],
    [
      '64 MiB segments: 0/10000000 is segment 4',
      { name: '000000010000000000000003', inArchive: false, switches: [sw(1, '0/10000000')], segmentSize: 64 * 1024 * 1024 },
      'hole',
    ],
    [
      '64 MiB segments: segment 4 holds the switch',
      { name: '000000010000000000000004', inArchive: false, switches: [sw(1, '0/10000000')], segmentSize: 64 * 1024 * 1024 },
      'not-found',
    ],
  ])('%s', (_why, facts, expected) => {
    const a = walFetchAnswer(facts);
    expect(a.answer).toBe(expected);
    if (a.answer === 'hole') {
      expect(a.missing).toBe(facts.name);
      expect(a.invariant).toBe(INVARIANTS.CONTINUOUS_ARCHIVE);
      expect(a.why).toContain(`${facts.name} is missing from the archive`);
      expect(a.fix).toContain(facts.name);
    }
  });
});

describe('archiveContinuity', () => {
  const h2 = new Map([[2, [sw(1, '0/B000098')]]]);
  type Row = [string, string[], Map<number, TimelineSwitch[]>, { timeline: number; beginWal: string }, Record<string, unknown>];
  const rows: Row[] = [
    [
      'one timeline, continuous',
      segs(1, 3, 0xa),
      new Map(),
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: true, timeline: 1, from: '000000010000000000000003', to: '00000001000000000000000A', segments: 8 },
    ],
    [
      'one timeline, segment 06 deleted',
      segs(1, 3, 0xa).filter(n => !n.endsWith('06')),
      new Map(),
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: false, missing: '000000010000000000000006', to: '000000010000000000000005', end: '00000001000000000000000A' },
    ],
    [
      'the incident: 06-0A never archived, timeline 2 from 0B',
      [...segs(1, 3, 5), '00000001000000000000000B.partial', '00000002.history', ...segs(2, 0xb, 0xd)],
      h2,
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: false, timeline: 2, missing: '000000010000000000000006', to: '000000010000000000000005', end: '00000002000000000000000D' },
    ],
    [
      'after the fix: the promoted replica archived 06-0A',
      [...segs(1, 3, 0xa), '00000001000000000000000B.partial', '00000002.history', ...segs(2, 0xb, 0xd)],
      h2,
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: true, timeline: 2, from: '000000010000000000000003', to: '00000002000000000000000D', segments: 11 },
    ],
    [
      'a history, no segment of timeline 2 yet: the old timeline to its switch',
      [...segs(1, 3, 0xa), '00000002.history'],
      h2,
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: true, timeline: 2, to: '00000001000000000000000A' },
    ],
    [
      'a history, the old timeline stops short of its switch',
      [...segs(1, 3, 8), '00000002.history'],
      h2,
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: false, missing: '000000010000000000000009', end: '00000001000000000000000A' },
    ],
    [
      "the new timeline's first segment missing, later ones there",
      [...segs(1, 3, 0xa), ...segs(2, 0xc, 0xd)],
      h2,
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: false, missing: '00000002000000000000000B', to: '00000001000000000000000A' },
    ],
    [
      'the old primary archived its own 0B and 0C after the switch: not on the path',
      [...segs(1, 3, 0xc), ...segs(2, 0xb, 0xb)],
      h2,
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: true, timeline: 2, to: '00000002000000000000000B', segments: 9 },
    ],
    [
      'a backup of timeline 2',
      [...segs(1, 3, 0xa), ...segs(2, 0xb, 0xe)],
      h2,
      { timeline: 2, beginWal: segs(2, 0xc, 0xc)[0] },
      { continuous: true, timeline: 2, from: '00000002000000000000000C', to: '00000002000000000000000E', segments: 3 },
    ],
    [
      'two failovers',
      [...segs(1, 3, 4), ...segs(2, 5, 8), ...segs(3, 9, 0xa)],
      new Map([
        [2, [sw(1, '0/5000000')]],
        [3, [sw(1, '0/5000000'), sw(2, '0/9000100')]],
      ]),
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: true, timeline: 3, to: '00000003000000000000000A', segments: 8 },
    ],
    [
      'a backup on a branch the newest timeline left before it began',
      segs(1, 3, 0xa),
      new Map([[2, [sw(1, '0/5000000')]]]),
      { timeline: 1, beginWal: segs(1, 8, 8)[0] },
      { continuous: true, timeline: 1, from: '000000010000000000000008', to: '00000001000000000000000A' },
    ],
    [
      'segments of timeline 2 without 00000002.history: recovery to latest could not follow them',
      [...segs(1, 3, 0xa), ...segs(2, 0xb, 0xc)],
      new Map(),
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: false, timeline: 1, missing: '00000002.history', to: '00000001000000000000000A', end: '00000002000000000000000C' },
    ],
    [
      "the backup's own first segment missing",
      segs(1, 4, 6),
      new Map(),
      { timeline: 1, beginWal: segs(1, 3, 3)[0] },
      { continuous: false, missing: '000000010000000000000003', to: undefined },
    ],
  ];
  test.each(rows)('%s', (_why, names, histories, backup, expected) => {
    const c = archiveContinuity({ names, histories }, backup);
    expect(c).toMatchObject({ ...expected, invariant: INVARIANTS.CONTINUOUS_ARCHIVE });
    if (!c.continuous)
      expect(c.why).toContain(
        c.missing.endsWith('.history')
          ? `timeline history file ${c.missing} is missing from the archive`
          : `WAL segment ${c.missing} is missing from the archive`,
      );
  });
});

describe('archiveMode', () => {
  test.each([
    ['a primary or a replica of this cluster', { recoveringFromSource: false, followingSource: false }, 'always'],
    ["recovering from the source's store (bootstrap.recovery)", { recoveringFromSource: true, followingSource: false }, 'on'],
    ['following an external source (bootstrap.pgBasebackup, follow)', { recoveringFromSource: false, followingSource: true }, 'on'],
  ])('%s: %p -> %s', (_why, facts, mode) => {
    expect(archiveMode(facts)).toMatchObject({ mode, invariant: INVARIANTS.CONTINUOUS_ARCHIVE });
  });
});

describe('archivingAtStop', () => {
  test.each([
    ['the last upload succeeded: the shutdown archives what is left', undefined, false, /the store answers/],
    ['the first upload failed a moment ago', 0, true, /failing for 0 s/],
    ['the store has been unreachable for 10 minutes', 600_000, true, /failing for 600 s.*stay in pg_wal/],
  ])('%s (%p ms) -> pause %p', (...[, failingForMs, pause, why]: [string, number | undefined, boolean, RegExp]) => {
    const d = archivingAtStop({ failingForMs });
    expect(d).toMatchObject({ pause, invariant: INVARIANTS.CONTINUOUS_ARCHIVE });
    expect(d.why).toMatch(why);
  });
});

describe('replayReachedEnd and the WAL facts it uses', () => {
  test.each([
    ['0/D000028', '00000002000000000000000D', true],
    ['0/DFFFFF8', '00000002000000000000000D', true],
    ['0/C0000A0', '00000002000000000000000D', false],
    ['1/0', '0000000200000000000000FF', true],
  ])('redo done at %s, archive to %s: %s', (lsn, to, reached) => {
    expect(replayReachedEnd(parseLsn(lsn), to)).toBe(reached);
  });

  test('a history file parses as PostgreSQL writes it', () => {
    expect(parseTimelineHistory('1\t0/B000098\tno recovery target specified\n\n2\t0/2000A0B8\tbefore 2026-01-01\n')).toEqual([
      sw(1, '0/B000098'),
      sw(2, '0/2000A0B8'),
    ]);
    expect(() => parseTimelineHistory('garbage\n')).toThrow(/not a timeline history line/);
  });

  test('the segment size of a long page header', () => {
    const head = Buffer.alloc(40);
    head.writeUInt16LE(0xd113, 0);
    head.writeUInt16LE(0x0006, 2); // XLP_LONG_HEADER | XLP_BKP_REMOVABLE
    head.writeUInt32LE(64 * 1024 * 1024, 32);
    expect(walSegmentSizeOfHeader(head)).toBe(64 * 1024 * 1024);
    head.writeUInt16LE(0x0004, 2);
    expect(walSegmentSizeOfHeader(head)).toBeUndefined();
  });
});
