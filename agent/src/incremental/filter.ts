/**
 * Turns pg_basebackup's tar into an incremental backup's records as it streams by: the main fork of every relation
 * file is cut into 8 KiB pages and only the pages changed since the parent started are kept (page LSN at or after
 * the parent's start LSN, or a new page, whose header is zero); every other file is kept whole.
 *
 * Why this is enough (pg_probackup's DELTA mode): with wal_level replica and full_page_writes, a page changed
 * after the parent's start checkpoint carries an LSN at or after it; a page with an older LSN is as the parent
 * stored it. Pages changed while the copy runs are rewritten by WAL replay from this backup's own start (their
 * first change after its checkpoint is a full-page image), so a torn read does no harm.
 * Not page-filtered, because their changes do not always move the page LSN: the free space map (not WAL-logged),
 * the visibility map (a cleared bit leaves the page LSN as it was) and init forks; they are small, stored whole.
 */
import { Transform, TransformCallback } from 'stream';
import { PAGE_SIZE } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { RELATION_MAIN_FORK } from '../postgres/relation-files';
import { END_OF_PAGES, MAGIC, encodeHead, pageHead } from './records';

/** Main forks of relations (and their 1 GiB segments): PGDATA/base/<db>/<relfilenode>[.N], global/<relfilenode>[.N]. */
export const PAGED_FILE = RELATION_MAIN_FORK;

/** One file of the source, as the manifest lists it. */
export interface ManifestFile {
  path: string;
  size: number;
  mode: number;
  /** Relation files: the block numbers stored, as [first, last] ranges (none: every page as in the parent). */
  blocks?: Array<[number, number]>;
}

export interface IncrementalManifest {
  version: 1;
  blockSize: number;
  /** Pages with an LSN at or after this were stored (the parent's start). */
  sinceLsn: string;
  files: ManifestFile[];
  directories: Array<{ path: string; mode: number }>;
  symlinks: Array<{ path: string; target: string }>;
}

/** A PostgreSQL LSN `X/Y` as [high, low] 32-bit halves. */
function lsnParts(lsn: string): [number, number] {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new AgentError(`"${lsn}" is not an LSN`, 'Report this: the parent backup names its start oddly.');
  return [parseInt(m[1], 16), parseInt(m[2], 16)];
}

export class IncrementalFilter extends Transform {
  /** Bytes of tar read, files seen, pages seen and pages kept. */
  tarBytes = 0;
  files = 0;
  pagesSeen = 0;
  pagesKept = 0;
  readonly manifest: IncrementalManifest;
  private readonly since: [number, number];
  private header = Buffer.alloc(0);
  private remaining = 0;
  private padding = 0;
  private ended = false;
  /** The member being copied: whole, or page by page (with the part of a page read so far). */
  private member?: { file: ManifestFile; paged: boolean; page: Buffer[]; pageBytes: number; blockNo: number; all: boolean };

  /**
   * `parentFiles`: the relation files the parent had (an incremental parent's manifest, a full parent's
   * relation-files.json). A relation file it did not have is stored whole: its pages may carry older LSNs (CREATE
   * DATABASE … STRATEGY FILE_COPY copies the template's files as they are). Without the list every relation file is
   * stored whole: as large as a full backup, never missing a page.
   */
  constructor(
    sinceLsn: string,
    private readonly parentFiles?: ReadonlySet<string>,
  ) {
    super();
    this.since = lsnParts(sinceLsn);
    this.manifest = { version: 1, blockSize: PAGE_SIZE, sinceLsn, files: [], directories: [], symlinks: [] };
    this.push(MAGIC);
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.tarBytes += chunk.length;
    try {
      this.scan(chunk);
    } catch (e) {
      return done(e as Error);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (!this.ended || this.member || this.remaining > 0)
      return done(new AgentError('the base backup tar ended early', 'Run the backup again; report it if it persists.'));
    this.push(encodeHead({ type: 'E' }));
    done();
  }

  private scan(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.ended) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - off);
        this.content(chunk.subarray(off, off + take));
        this.remaining -= take;
        off += take;
        if (this.remaining === 0) this.finishMember();
        continue;
      }
      if (this.padding > 0) {
        const take = Math.min(this.padding, chunk.length - off);
        this.padding -= take;
        off += take;
        continue;
      }
      const take = Math.min(512 - this.header.length, chunk.length - off);
      this.header = this.header.length ? Buffer.concat([this.header, chunk.subarray(off, off + take)]) : Buffer.from(chunk.subarray(off, off + take));
      off += take;
      if (this.header.length === 512) {
        const h = this.header;
        this.header = Buffer.alloc(0);
        this.onHeader(h);
      }
    }
  }

  private onHeader(h: Buffer): void {
    if (h.every(b => b === 0)) {
      this.ended = true;
      return;
    }
    const name = cString(h.subarray(0, 100));
    const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(h.subarray(345, 500)) : '';
    const path = (prefix ? `${prefix}/${name}` : name).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    const size = parseOctal(h.subarray(124, 136));
    const mode = parseOctal(h.subarray(100, 108)) & 0o7777;
    const type = String.fromCharCode(h[156] || 0x30);
    this.remaining = size;
    this.padding = (512 - (size % 512)) % 512;
    if (type === '5') {
      this.manifest.directories.push({ path, mode });
      this.push(encodeHead({ type: 'D', name: path, mode }));
    } else if (type === '2') {
      const target = cString(h.subarray(157, 257));
      this.manifest.symlinks.push({ path, target });
      this.push(encodeHead({ type: 'L', name: path, target }));
    } else if (type === '0' || type === '\0') {
      this.files++;
      const paged = PAGED_FILE.test(path) && size % PAGE_SIZE === 0;
      const file: ManifestFile = { path, size, mode, ...(paged ? { blocks: [] } : {}) };
      this.manifest.files.push(file);
      this.push(encodeHead({ type: paged ? 'P' : 'F', name: path, mode, size }));
      this.member = { file, paged, page: [], pageBytes: 0, blockNo: 0, all: paged && !this.parentFiles?.has(path) };
    } else {
      throw new AgentError(
        `the base backup tar holds a member of type "${type}" (${path}), which pg_basebackup does not write`,
        'Report this with the PostgreSQL version; the backup was not stored.',
      );
    }
    if (this.remaining === 0) this.finishMember();
  }

  private content(part: Buffer): void {
    const m = this.member;
    if (!m) return;
    if (!m.paged) {
      this.push(Buffer.from(part));
      return;
    }
    let off = 0;
    while (off < part.length) {
      const take = Math.min(PAGE_SIZE - m.pageBytes, part.length - off);
      m.page.push(part.subarray(off, off + take));
      m.pageBytes += take;
      off += take;
      if (m.pageBytes === PAGE_SIZE) {
        const page = m.page.length === 1 ? m.page[0] : Buffer.concat(m.page);
        this.onPage(m, page);
        m.page = [];
        m.pageBytes = 0;
        m.blockNo++;
      }
    }
  }

  private onPage(m: NonNullable<IncrementalFilter['member']>, page: Buffer): void {
    this.pagesSeen++;
    // PageHeaderData: pd_lsn {xlogid, xrecoff} (native order: little-endian on amd64 and arm64), ..., pd_upper at 14.
    const hi = page.readUInt32LE(0);
    const lo = page.readUInt32LE(4);
    const isNew = page.readUInt16LE(14) === 0;
    const changed = hi > this.since[0] || (hi === this.since[0] && lo >= this.since[1]);
    if (!isNew && !changed && !m.all) return;
    this.pagesKept++;
    this.push(pageHead(m.blockNo));
    this.push(Buffer.from(page));
    const blocks = m.file.blocks!;
    const last = blocks[blocks.length - 1];
    if (last && last[1] === m.blockNo - 1) last[1] = m.blockNo;
    else blocks.push([m.blockNo, m.blockNo]);
  }

  private finishMember(): void {
    const m = this.member;
    if (!m) return;
    if (m.paged) this.push(pageHead(END_OF_PAGES));
    this.member = undefined;
  }
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

function parseOctal(b: Buffer): number {
  if (b[0] & 0x80) {
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i];
    return n;
  }
  const s = cString(b).trim();
  return s ? parseInt(s, 8) : 0;
}
