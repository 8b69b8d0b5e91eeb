/**
 * Compression of stored objects, for whole buffers (WAL segments) and streams (base backups, restores). gzip comes
 * with Node (and is what barman-cloud can read); zstd (zstd-napi) and lz4 (lz4-napi) are native bindings loaded
 * only when used. Every format is written with its integrity check on: gzip's CRC32, zstd's and lz4's content
 * checksums, so a corrupted object fails to decompress instead of restoring wrong bytes.
 */
import * as fs from 'fs';
import { PassThrough, Transform } from 'stream';
import { pipeline } from 'stream/promises';
import { promisify } from 'util';
import * as zlib from 'zlib';
import type * as Zstd from 'zstd-napi';
import { COMPRESSION_EXTENSION, Compression } from '../../../lib/contract';
import { COMPRESS_CHUNK } from './chunks';
import { Lz4CompressStream, Lz4DecompressStream, loadLz4, splitFrames } from './lz4-frames';

/** gzip level for WAL: level 1 keeps archiving ahead of a busy primary; WAL compresses well even so. */
const GZIP_LEVEL = 1;
/**
 * gzip level for base backups: 1 as well. Single-threaded zlib at level 6 runs at a fraction of what S3 takes
 * (barman-cloud's gzip, level 9, needed 3.5x longer than its uncompressed backup), for a few % of size.
 */
const GZIP_DATA_LEVEL = 1;
/** zstd's own default level: about gzip -6's ratio at several times gzip -1's speed. */
const ZSTD_LEVEL = 3;
const ZSTD_JOB_SIZE = 2 * 1024 * 1024;

let zstd: typeof Zstd | undefined;
function loadZstd(): typeof Zstd {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  zstd ??= require('zstd-napi') as typeof Zstd;
  return zstd;
}

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export async function compressBuffer(data: Buffer, kind: Compression): Promise<Buffer> {
  switch (kind) {
    case 'none':
      return data;
    case 'gzip':
      return gzip(data, { level: GZIP_LEVEL });
    case 'zstd': {
      const c = new (loadZstd().Compressor)();
      c.setParameters({ compressionLevel: ZSTD_LEVEL, checksumFlag: true });
      return c.compress(data);
    }
    case 'lz4':
      return loadLz4().compressFrame(data, { contentChecksum: true });
  }
}

export async function decompressBuffer(data: Buffer, kind: Compression): Promise<Buffer> {
  switch (kind) {
    case 'none':
      return data;
    case 'gzip':
      return gunzip(data);
    case 'zstd':
      return loadZstd().decompress(data);
    case 'lz4': {
      const frames = await Promise.all(splitFrames(data).map(f => loadLz4().decompressFrame(f)));
      return Buffer.concat(frames);
    }
  }
}

/**
 * Compresses a file (a WAL segment) read in 1 MiB chunks: only the compressed result is held whole (it is sent with
 * its MD5), never the raw file. The archiver runs inside the long-lived instance process, where a fresh 16 MiB of
 * buffers per segment, several segments at once, kept an idle agent at far more than its fresh size until V8 got
 * round to collecting them. So one read buffer is reused, for the compressors that have consumed a chunk when its
 * write completes (zlib, zstd); the others keep references to their input and get a copy.
 */
export async function compressFile(file: string, kind: Compression): Promise<{ body: Buffer; rawSize: number }> {
  const compressor = kind === 'gzip' ? zlib.createGzip({ level: GZIP_LEVEL, chunkSize: 256 * 1024 }) : compressStream(kind);
  const reusable = kind === 'gzip' || kind === 'zstd';
  const out: Buffer[] = [];
  const collected = pipeline(compressor, async function* (source: AsyncIterable<Buffer>) {
    for await (const c of source) out.push(c);
  });
  collected.catch(() => undefined); // awaited below; a failure while feeding surfaces there too
  const fh = await fs.promises.open(file, 'r');
  let rawSize = 0;
  try {
    const buf = Buffer.allocUnsafe(COMPRESS_CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      rawSize += bytesRead;
      const chunk = reusable ? buf.subarray(0, bytesRead) : Buffer.from(buf.subarray(0, bytesRead));
      await new Promise<void>((resolve, reject) => compressor.write(chunk, e => (e ? reject(e) : resolve())));
    }
    compressor.end();
  } catch (e) {
    compressor.destroy(e as Error);
    throw e;
  } finally {
    await fh.close();
  }
  await collected;
  return { body: out.length === 1 ? out[0] : Buffer.concat(out), rawSize };
}

/**
 * A compressing stream for a base backup. zstd may use `threads` worker threads of its own (zstd's multithreaded
 * mode; 0 = compress on the calling thread); lz4 compresses frames off the main thread, two at a time.
 */
export function compressStream(kind: Compression, opts: { threads?: number } = {}): Transform {
  switch (kind) {
    case 'none':
      return new PassThrough();
    // 1 MiB output chunks: zlib's 16 KiB default means tens of thousands of tiny writes per GiB (measured 2x slower).
    case 'gzip':
      return zlib.createGzip({ level: GZIP_DATA_LEVEL, chunkSize: 1024 * 1024 });
    case 'zstd': {
      const threads = opts.threads ?? 0;
      // 2 MiB jobs: about the speed of zstd's default job size (4x the window) with 10 MiB less memory per worker.
      const mt = threads > 0 ? { nbWorkers: threads, jobSize: ZSTD_JOB_SIZE } : {};
      return new (loadZstd().CompressStream)({ compressionLevel: ZSTD_LEVEL, checksumFlag: true, ...mt });
    }
    case 'lz4':
      return new Lz4CompressStream();
  }
}

/** A decompressing stream for a stored object of this compression (several gzip members or zstd/lz4 frames too). */
export function decompressStream(kind: Compression): Transform {
  switch (kind) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return zlib.createGunzip({ chunkSize: 1024 * 1024 });
    case 'zstd':
      return new (loadZstd().DecompressStream)();
    case 'lz4':
      return new Lz4DecompressStream();
  }
}

/** The compression a stored WAL or data file uses, from its name (`.gz`, `.zst`, `.lz4`, none). */
export function compressionOfKey(key: string): Compression {
  for (const [kind, ext] of Object.entries(COMPRESSION_EXTENSION) as Array<[Compression, string]>) {
    if (ext && key.endsWith(ext)) return kind;
  }
  return 'none';
}
