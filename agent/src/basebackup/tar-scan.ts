/**
 * Watches the tar stream of a base backup go by, unchanged: counts its bytes and keeps the few members whose
 * content the backup's metadata needs (backup_label, tablespace_map, the tail of backup_manifest). Reads the
 * 512-byte ustar headers pg_basebackup writes; never buffers more than one header and the members it keeps.
 */
import { Transform, TransformCallback } from 'stream';
import { RELATION_MAIN_FORK } from '../postgres/relation-files';

/** Members kept whole (small), and the one kept by its tail only (can be large: one line per file). */
const KEEP_WHOLE = new Set(['backup_label', 'tablespace_map']);
const KEEP_TAIL = 'backup_manifest';
const TAIL_BYTES = 64 * 1024;

export class TarScan extends Transform {
  /** Bytes of tar seen so far. */
  bytes = 0;
  /** Names of the regular files seen. */
  files = 0;
  /**
   * The relation files (main forks) of the backup, by path: what a first incremental on this full backup needs to
   * tell a relation file new since then (stored whole) from one whose unchanged pages this backup holds.
   */
  readonly relationFiles: string[] = [];
  readonly kept = new Map<string, string>();
  private header = Buffer.alloc(0);
  /** Bytes of the current member's content (and padding) still to come. */
  private remaining = 0;
  private padding = 0;
  private current?: { name: string; chunks: Buffer[]; size: number; tail: boolean };
  private ended = false;

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    try {
      this.scan(chunk);
    } catch (e) {
      return done(e as Error);
    }
    done(null, chunk);
  }

  private scan(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.ended) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - off);
        if (this.current) this.keep(chunk.subarray(off, off + take));
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
      this.header = Buffer.concat([this.header, chunk.subarray(off, off + take)]);
      off += take;
      if (this.header.length === 512) {
        this.onHeader(this.header);
        this.header = Buffer.alloc(0);
      }
    }
  }

  private onHeader(h: Buffer): void {
    if (h.every(b => b === 0)) {
      this.ended = true; // end-of-archive blocks (a second member may not follow in pg_basebackup's stream)
      return;
    }
    const name = cString(h.subarray(0, 100));
    const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(h.subarray(345, 500)) : '';
    const fullName = prefix ? `${prefix}/${name}` : name;
    const size = parseOctal(h.subarray(124, 136));
    const type = String.fromCharCode(h[156] || 0x30);
    if (type === '0' || type === '\0') this.files++;
    this.remaining = size;
    this.padding = (512 - (size % 512)) % 512;
    const base = fullName.replace(/^\.\//, '');
    if ((type === '0' || type === '\0') && RELATION_MAIN_FORK.test(base)) this.relationFiles.push(base);
    if ((type === '0' || type === '\0') && (KEEP_WHOLE.has(base) || base === KEEP_TAIL)) {
      this.current = { name: base, chunks: [], size: 0, tail: base === KEEP_TAIL };
    }
    if (this.remaining === 0) this.finishMember();
  }

  private keep(part: Buffer): void {
    const c = this.current!;
    c.chunks.push(Buffer.from(part));
    c.size += part.length;
    if (c.tail && c.size > 2 * TAIL_BYTES) {
      const all = Buffer.concat(c.chunks);
      c.chunks = [all.subarray(all.length - TAIL_BYTES)];
      c.size = TAIL_BYTES;
    }
  }

  private finishMember(): void {
    if (this.current) {
      this.kept.set(this.current.name, Buffer.concat(this.current.chunks).toString('utf8'));
      this.current = undefined;
    }
  }
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

/** A ustar numeric field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function parseOctal(b: Buffer): number {
  if (b[0] & 0x80) {
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i];
    return n;
  }
  const s = cString(b).trim();
  return s ? parseInt(s, 8) : 0;
}
