/**
 * LZ4 frames (the format of the `lz4` CLI and of python's lz4.frame) as streams. The native binding (lz4-napi)
 * compresses and decompresses whole frames only, so a stream is cut into frames of at most FRAME_INPUT bytes;
 * concatenated frames are a valid LZ4 stream (`lz4 -d` reads them). Decompression finds each frame's end from
 * the frame format itself, so any writer's frames are read, one frame in memory at a time.
 */
import { Transform, TransformCallback } from 'stream';
import type * as Lz4 from 'lz4-napi';

/**
 * Input bytes per frame we write. LZ4's window is 64 KiB, so 1 MiB frames compress as well as 4 MiB ones; and
 * lz4-napi's output buffers, native memory that V8 frees late, stay small (4 MiB frames: 418 MiB peak RSS in a
 * 337 MiB restore; 1 MiB: 285 MiB).
 */
export const FRAME_INPUT = 1024 * 1024;
/** Largest frame we accept to decode (python's lz4.frame writes a whole WAL segment as one frame). */
const MAX_FRAME = 256 * 1024 * 1024;
const MAGIC = 0x184d2204;

let lz4: typeof Lz4 | undefined;
/** The native binding, loaded on first use (wal-push and friends never pay for it). */
export function loadLz4(): typeof Lz4 {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  lz4 ??= require('lz4-napi') as typeof Lz4;
  return lz4;
}

/**
 * Length of the first complete frame (or skippable frame) at the start of `buf`; when more bytes are needed,
 * `{ atLeast }`: the buffer length at which it is worth looking again. Throws on bytes that are not an LZ4 frame.
 */
export function frameExtent(buf: Buffer): { length: number } | { atLeast: number } {
  if (buf.length < 8) return { atLeast: 8 };
  const magic = buf.readUInt32LE(0);
  if ((magic & 0xfffffff0) === 0x184d2a50) {
    const n = 8 + buf.readUInt32LE(4);
    return n <= buf.length ? { length: n } : { atLeast: n };
  }
  if (magic !== MAGIC) throw new Error('not LZ4 frame data (bad magic number)');
  const flg = buf[4];
  if (flg >> 6 !== 1) throw new Error('unsupported LZ4 frame version');
  const blockChecksum = (flg & 0x10) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  let pos = 4 + 2 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1; // magic, FLG, BD, size, dict id, HC
  for (;;) {
    if (pos + 4 > buf.length) return { atLeast: pos + 4 };
    const block = buf.readUInt32LE(pos) & 0x7fffffff;
    pos += 4;
    if (block === 0) break; // EndMark
    pos += block + (blockChecksum ? 4 : 0);
    if (pos > MAX_FRAME) throw new Error(`LZ4 frame larger than ${MAX_FRAME} bytes: too large to decode in bounded memory`);
  }
  pos += contentChecksum ? 4 : 0;
  return pos <= buf.length ? { length: pos } : { atLeast: pos };
}

/** Splits a buffer holding whole frames into them (skippable frames dropped). */
export function splitFrames(buf: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let rest = buf;
  while (rest.length > 0) {
    const x = frameExtent(rest);
    if (!('length' in x)) throw new Error('truncated LZ4 data (the last frame is incomplete)');
    const n = x.length;
    if (rest.readUInt32LE(0) === MAGIC) frames.push(rest.subarray(0, n));
    rest = rest.subarray(n);
  }
  return frames;
}

/** Runs the native (off-thread) work of up to `parallel` frames at once, pushing results in input order. */
abstract class OrderedFrameTransform extends Transform {
  private readonly pending: Promise<Buffer>[] = [];

  constructor(private readonly parallel: number) {
    super();
  }

  protected abstract work(frame: Buffer): Promise<Buffer>;

  /** Queues a frame; waits for the oldest result when `parallel` are already in flight. */
  protected async enqueue(frame: Buffer): Promise<void> {
    const p = this.work(frame);
    p.catch(() => undefined); // surfaced in order by drain()
    this.pending.push(p);
    if (this.pending.length >= this.parallel) await this.drain(1);
  }

  protected async drain(keep = 0): Promise<void> {
    while (this.pending.length > keep) this.push(await this.pending.shift()!);
  }
}

/** Raw bytes in, LZ4 frames (with content checksums) out. */
export class Lz4CompressStream extends OrderedFrameTransform {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(parallel = 2) {
    super(parallel);
  }

  protected work(frame: Buffer): Promise<Buffer> {
    return loadLz4().compressFrame(frame, { contentChecksum: true });
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < FRAME_INPUT) return done();
    const all = Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    const frames: Buffer[] = [];
    let off = 0;
    for (; all.length - off >= FRAME_INPUT; off += FRAME_INPUT) frames.push(all.subarray(off, off + FRAME_INPUT));
    if (off < all.length) {
      this.chunks.push(all.subarray(off));
      this.size = all.length - off;
    }
    (async () => {
      for (const f of frames) await this.enqueue(f);
    })().then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    (async () => {
      if (this.size > 0) await this.enqueue(Buffer.concat(this.chunks));
      await this.drain();
    })().then(() => done(), done);
  }
}

/** LZ4 frames in (any writer's), raw bytes out. */
export class Lz4DecompressStream extends OrderedFrameTransform {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes to gather before the frame boundary is worth looking for again (no quadratic re-scans). */
  private need = 8;

  constructor(parallel = 2) {
    super(parallel);
  }

  protected work(frame: Buffer): Promise<Buffer> {
    return loadLz4().decompressFrame(frame);
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < this.need) return done();
    let buf = Buffer.concat(this.chunks);
    (async () => {
      for (;;) {
        const x = frameExtent(buf);
        if (!('length' in x)) {
          this.need = x.atLeast;
          break;
        }
        const frame = buf.subarray(0, x.length);
        buf = buf.subarray(x.length);
        if (frame.readUInt32LE(0) === MAGIC) await this.enqueue(frame);
      }
      this.chunks = buf.length ? [buf] : [];
      this.size = buf.length;
    })().then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    if (this.size > 0) return done(new Error('truncated LZ4 data (the stream ends inside a frame)'));
    this.drain().then(() => done(), done);
  }
}
