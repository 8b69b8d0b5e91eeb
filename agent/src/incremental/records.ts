/**
 * The data object of an incremental backup: a stream of records, written as pg_basebackup's tar goes by (no
 * member's size needs to be known before its content, unlike a tar of the filtered files), read back in order.
 *
 *   magic "PGCI1\n"
 *   record = type (1 byte) | name length (u16 BE) | name (utf8) | body
 *     'D' directory: mode (u32)
 *     'L' symlink:   target length (u16) | target
 *     'F' whole file: mode (u32) | size (u64) | size bytes
 *     'P' paged relation file: mode (u32) | size of the source file (u64) | pages | 0xFFFFFFFF
 *         page = block number (u32) | 8192 bytes
 *   'E' end (no name, no body)
 * Every file of the source has a record (a 'P' with no pages for an unchanged relation file), so the data alone
 * tells which files exist and how long they are; manifest.json says the same for reading without the data.
 */
import { PAGE_SIZE } from '../../../lib/contract';
import { AgentError } from '../common/errors';

export const MAGIC = Buffer.from('PGCI1\n', 'latin1');
export const END_OF_PAGES = 0xffffffff;

export type RecordHead =
  | { type: 'D'; name: string; mode: number }
  | { type: 'L'; name: string; target: string }
  | { type: 'F'; name: string; mode: number; size: number }
  | { type: 'P'; name: string; mode: number; size: number };

/** The bytes of a record's head (its body follows: the content of 'F', the pages and end mark of 'P'). */
export function encodeHead(r: RecordHead | { type: 'E' }): Buffer {
  if (r.type === 'E') return Buffer.from('E', 'latin1');
  const name = Buffer.from(r.name, 'utf8');
  const parts = [Buffer.from(r.type, 'latin1'), u16(name.length), name];
  if (r.type === 'D') parts.push(u32(r.mode));
  else if (r.type === 'L') {
    const t = Buffer.from(r.target, 'utf8');
    parts.push(u16(t.length), t);
  } else parts.push(u32(r.mode), u64(r.size));
  return Buffer.concat(parts);
}

export const pageHead = (blockNo: number) => u32(blockNo);

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Reads exact byte counts from an async stream of chunks. */
export class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  private done = false;
  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }
  private async fill(n: number): Promise<void> {
    const chunks: Buffer[] = [this.buf];
    let have = this.buf.length;
    while (have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        chunks.push(r.value);
        have += r.value.length;
      }
    }
    this.buf = chunks.length === 1 ? this.buf : Buffer.concat(chunks);
    if (this.buf.length < n) throw truncated();
  }
  async read(n: number): Promise<Buffer> {
    if (this.buf.length < n) await this.fill(n);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Up to `max` bytes (at least one), for copying a large file through. */
  async readSome(max: number): Promise<Buffer> {
    if (this.buf.length === 0) await this.fill(1);
    const out = this.buf.subarray(0, Math.min(max, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }
  /** True when nothing follows. */
  async atEnd(): Promise<boolean> {
    if (this.buf.length > 0) return false;
    try {
      await this.fill(1);
      return false;
    } catch {
      return true;
    }
  }
}

const truncated = () =>
  new AgentError('the incremental backup data ends in the middle of a record', 'The stored backup is damaged; restore another one.');

/** The next record's head, or 'E'. */
export async function readHead(r: ByteReader): Promise<RecordHead | { type: 'E' }> {
  const type = (await r.read(1)).toString('latin1');
  if (type === 'E') return { type };
  if (!'DLFP'.includes(type))
    throw new AgentError(`the incremental backup data holds an unknown record type "${type}"`, 'The stored backup is damaged; restore another one.');
  const name = (await r.read((await r.read(2)).readUInt16BE())).toString('utf8');
  if (type === 'D') return { type, name, mode: (await r.read(4)).readUInt32BE() };
  if (type === 'L') return { type, name, target: (await r.read((await r.read(2)).readUInt16BE())).toString('utf8') };
  const mode = (await r.read(4)).readUInt32BE();
  const size = Number((await r.read(8)).readBigUInt64BE());
  return { type: type as 'F' | 'P', name, mode, size };
}

/** The next page of a 'P' record: its block number and content, or undefined at the end of the record. */
export async function readPage(r: ByteReader): Promise<{ blockNo: number; page: Buffer } | undefined> {
  const blockNo = (await r.read(4)).readUInt32BE();
  if (blockNo === END_OF_PAGES) return undefined;
  return { blockNo, page: await r.read(PAGE_SIZE) };
}
