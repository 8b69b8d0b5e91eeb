/**
 * The PostgreSQL facts the agent relies on, in one place: LSN parsing and comparison, WAL file names, timelines and
 * their history files, as PostgreSQL (xlog_internal.h, timeline.c) and barman (xlog.py) compute them. BigInt because
 * an LSN is 64 bits.
 */

export const DEFAULT_WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

/** `0/2000028` -> 0x2000028n. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new Error(`"${lsn}" is not an LSN (hex/hex)`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** Compares two LSNs: -1, 0 or 1. */
export function compareLsn(a: string, b: string): number {
  const d = parseLsn(a) - parseLsn(b);
  return d === 0n ? 0 : d > 0n ? 1 : -1;
}

/** Bytes from `b` to `a` (negative when `a` is before `b`). */
export function lsnDiff(a: string, b: string): number {
  return Number(parseLsn(a) - parseLsn(b));
}

/** 0x2000028n -> `0/2000028` (upper case, no padding, as PostgreSQL prints it). */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

const hex8 = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');

/** A plain WAL segment name (timeline, log, segment). */
export const SEGMENT_NAME = /^[0-9A-F]{24}$/;
/** A timeline history file name. */
export const HISTORY_NAME = /^[0-9A-F]{8}\.history$/;

/**
 * The last part of an archived WAL object's key: a WAL file name (lib/contract WAL_FILE: segment, `.partial`,
 * `.backup`, `.history`) plus a compression extension if any (ours or barman-cloud's). Group 1 is the name.
 */
export const ARCHIVED_WAL = /^([0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)(\.[a-z0-9]+)?$/;

/** Segment number of the segment holding byte `lsn`. */
export function segmentNumber(lsn: bigint, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): bigint {
  return lsn / BigInt(segmentSize);
}

/** `TTTTTTTTLLLLLLLLSSSSSSSS` of segment number `segNo` on `timeline`. */
export function walFileNameOfSegment(timeline: number, segNo: bigint, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): string {
  const perId = 0x100000000n / BigInt(segmentSize);
  return `${hex8(timeline)}${hex8(segNo / perId)}${hex8(segNo % perId)}`;
}

/** The WAL file holding byte `lsn` (barman's location_to_xlogfile_name_offset, PostgreSQL's XLByteToSeg). */
export function walFileName(timeline: number, lsn: bigint, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): string {
  return walFileNameOfSegment(timeline, segmentNumber(lsn, segmentSize), segmentSize);
}

/** Offset of `lsn` inside its segment. */
export function walOffset(lsn: bigint, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): number {
  return Number(lsn % BigInt(segmentSize));
}

/** The timeline of a WAL file name (segment, `.partial`, `.backup`) or a history file name: its first 8 hex digits. */
export function timelineOfWalFile(name: string): number {
  return parseInt(name.slice(0, 8), 16);
}

/** The segment after `name` in the same log folder (`TTTTTTTTLLLLLLLL`), or undefined at the end of its range. */
export function nextSegmentInLog(name: string): string | undefined {
  const seg = parseInt(name.slice(16), 16) + 1;
  return seg > 0xffffffff ? undefined : name.slice(0, 16) + hex8(seg);
}

/** The segment before `name` in its log folder, or undefined for the folder's first. */
export function previousSegmentInLog(name: string): string | undefined {
  const seg = parseInt(name.slice(16), 16);
  return seg === 0 ? undefined : name.slice(0, 16) + hex8(seg - 1);
}

/** Timeline and segment number of a 24-character WAL file name. */
export function parseWalFileName(name: string, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): { timeline: number; segNo: bigint } {
  if (!SEGMENT_NAME.test(name)) throw new Error(`"${name}" is not a WAL segment name`);
  const perId = 0x100000000n / BigInt(segmentSize);
  return { timeline: timelineOfWalFile(name), segNo: BigInt(`0x${name.slice(8, 16)}`) * perId + BigInt(`0x${name.slice(16)}`) };
}

/**
 * The segments a backup needs to be consistent: from the one holding its start to the one holding the last byte
 * before its end (an end exactly on a segment boundary needs nothing of the next segment: XLByteToPrevSeg).
 */
export function requiredSegments(timeline: number, begin: bigint, end: bigint, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): string[] {
  const first = segmentNumber(begin, segmentSize);
  const last = segmentNumber(end > begin ? end - 1n : begin, segmentSize);
  const out: string[] = [];
  for (let s = first; s <= last; s++) out.push(walFileNameOfSegment(timeline, s, segmentSize));
  return out;
}

/** `16MB`, `1GB`, `16777216` (as SHOW wal_segment_size prints it) -> bytes. */
export function parseSizeSetting(value: string): number {
  const m = /^(\d+)\s*(B|kB|MB|GB|TB)?$/.exec(value.trim());
  if (!m) throw new Error(`"${value}" is not a size`);
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[(m[2] ?? 'B') as 'B'];
  return Number(m[1]) * unit;
}

/** One line of a timeline history file: `timeline` (a parent) ended at `switchLsn`, where its child began. */
export interface TimelineSwitch {
  readonly timeline: number;
  readonly switchLsn: bigint;
}

/** A timeline history file's name (`00000002.history`) -> its timeline, or undefined for another name. */
export function historyFileTimeline(name: string): number | undefined {
  return HISTORY_NAME.test(name) ? timelineOfWalFile(name) : undefined;
}

/** The history file name of `timeline`. */
export function historyFileName(timeline: number): string {
  return `${hex8(timeline)}.history`;
}

/**
 * The lines of a timeline history file (PostgreSQL's readTimeLineHistory): `<parentTLI>\t<switchpoint>\t<reason>`,
 * comments (#) and blank lines skipped. The file of timeline N lists every ancestor of N, oldest first.
 */
export function parseTimelineHistory(text: string): TimelineSwitch[] {
  const out: TimelineSwitch[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\d+)\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})/.exec(line);
    if (!m) throw new Error(`"${line}" is not a timeline history line (parent TLI, switch point)`);
    out.push({ timeline: Number(m[1]), switchLsn: parseLsn(m[2]) });
  }
  return out;
}

/**
 * The WAL segment size in a segment's long page header (xlp_seg_size, bytes 32..35, little-endian), or undefined
 * when the bytes are not a long page header (xlp_info XLP_LONG_HEADER = 0x0002).
 */
export function walSegmentSizeOfHeader(head: Buffer): number | undefined {
  if (head.length < 40 || (head.readUInt16LE(2) & 0x0002) === 0) return undefined;
  const size = head.readUInt32LE(32);
  return size >= 1024 * 1024 && size <= 1024 ** 3 && (size & (size - 1)) === 0 ? size : undefined;
}
