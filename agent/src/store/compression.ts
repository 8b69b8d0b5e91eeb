/**
 * Compression of stored objects. gzip comes with Node (and is what barman-cloud can read); zstd and lz4 are
 * loaded only when used.
 */
import { Transform } from 'stream';
import * as zlib from 'zlib';
import { COMPRESSION_EXTENSION, Compression } from '../../../lib/contract';

/** gzip level for WAL: level 1 keeps archiving ahead of a busy primary; WAL compresses well even so. */
const GZIP_LEVEL = 1;

export async function compressBuffer(data: Buffer, kind: Compression): Promise<Buffer> {
  switch (kind) {
    case 'none': return data;
    case 'gzip': return zlib.gzipSync(data, { level: GZIP_LEVEL });
    default: throw new Error(`compression ${kind} is not available for WAL yet`);
  }
}

export async function decompressBuffer(data: Buffer, kind: Compression): Promise<Buffer> {
  switch (kind) {
    case 'none': return data;
    case 'gzip': return zlib.gunzipSync(data);
    default: throw new Error(`compression ${kind} is not available for WAL yet`);
  }
}

/** A decompressing stream for a stored object of this compression. */
export function decompressStream(kind: Compression): Transform {
  switch (kind) {
    case 'none': return new Transform({ transform: (chunk, _e, cb) => cb(null, chunk) });
    case 'gzip': return zlib.createGunzip();
    default: throw new Error(`compression ${kind} is not available yet`);
  }
}

/** The compression a stored WAL or data file uses, from its name (`.gz`, `.zst`, `.lz4`, none). */
export function compressionOfKey(key: string): Compression {
  for (const [kind, ext] of Object.entries(COMPRESSION_EXTENSION) as Array<[Compression, string]>) {
    if (ext && key.endsWith(ext)) return kind;
  }
  return 'none';
}
