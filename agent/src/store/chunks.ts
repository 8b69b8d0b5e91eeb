/**
 * Chunk sizes in the streaming pipelines. Compressors pay a fixed cost per write (a call into native code, a
 * thread-pool task, a few objects for the GC), so they get large chunks; decompressors produce many times their
 * input in one write, before backpressure can act, so they get small ones. Both transforms pass bytes unchanged.
 */
import { Transform, TransformCallback } from 'stream';

const MiB = 1024 * 1024;

/** Chunk size fed to compressors (pg_basebackup's pipe gives 64 KiB). */
export const COMPRESS_CHUNK = MiB;
/**
 * Largest compressed chunk fed to a decompressor: at pgbench's ratio (~20x) one write makes about 5 MiB of output,
 * which the next stream's backpressure then holds, instead of the 160 MiB an 8 MiB ranged GET would make.
 */
export const DECOMPRESS_CHUNK = 256 * 1024;

/** Gathers small chunks into chunks of at least `size` bytes (the last one may be smaller). */
export class Coalesce extends Transform {
  private chunks: Buffer[] = [];
  private length = 0;

  constructor(private readonly size = COMPRESS_CHUNK) {
    super();
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.length < this.size) return done();
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length);
    this.chunks = [];
    this.length = 0;
    done(null, all);
  }

  override _flush(done: TransformCallback): void {
    if (this.length > 0) this.push(Buffer.concat(this.chunks, this.length));
    this.chunks = [];
    done();
  }
}

/** Cuts chunks larger than `size` bytes into slices of `size` (views, no copy). */
export class Slice extends Transform {
  constructor(private readonly size = DECOMPRESS_CHUNK) {
    super({ readableHighWaterMark: size });
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    for (let off = 0; off < chunk.length; off += this.size) this.push(chunk.subarray(off, off + this.size));
    done();
  }
}
