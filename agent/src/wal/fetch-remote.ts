/**
 * The part of `wal-fetch` that talks to S3 (loaded only when the spool does not have the file): looks the file up
 * with one listing, downloads it and, in parallel, the next PREFETCH segments into the spool, so that PostgreSQL's
 * next requests are served without a process that loads the AWS SDK (pgBackRest's asynchronous archive-get).
 * Every file is checked before it gets its name: the compression's own checksum (gzip CRC32, zstd and lz4 content
 * checksums), the MD5 of the stored bytes against their ETag, and the size the archiver recorded.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Transform, TransformCallback } from 'stream';
import { pipeline } from 'stream/promises';
import { log } from '../common/log';
import { readRecoveryConfig } from '../restore/recovery';
import { S3Bucket, S3Error, createS3Client } from '../s3/client';
import { getObject } from '../s3/objects';
import { Slice } from '../store/chunks';
import { decompressStream } from '../store/compression';
import { StoreConfig, readStoreConfig } from '../store/config';
import { ArchivedWal, lookupWal } from './archive-lookup';
import { SEGMENT, WalSpool } from './wal-spool';

/** Segments fetched ahead: 128 MiB of 16 MiB segments in pg_wal at most, pgBackRest's default queue size. */
export const PREFETCH = 8;

/** Exit codes: 0 restored, 1 not in the archive (PostgreSQL ends recovery), 255 error (PostgreSQL retries). */
export async function fetchFromArchive(name: string, target: string, spool: WalSpool, opts: { recoverySource?: boolean }, env: NodeJS.ProcessEnv): Promise<number> {
  const store: StoreConfig = opts.recoverySource ? readRecoveryConfig(env).source : readStoreConfig(env);
  const s3 = createS3Client(store.s3);
  try {
    // What the spool holds was fetched for another place in the WAL (or another timeline): start afresh.
    spool.clear();
    const found = await lookupWal(s3, store, name, SEGMENT.test(name) ? PREFETCH : 0);
    if (!found.wal) {
      // The end of the archive: recovery ends or waits for streaming; nothing spooled will be asked for.
      spool.clearAll();
      log.info({ wal: name }, 'WAL file not in the archive');
      return 1;
    }
    const ahead = Promise.allSettled(found.next.map(w => prefetch(s3, w, spool)));
    if (found.absent) spool.markMissing(found.absent);
    try {
      const tmp = path.join(path.dirname(target), `.${path.basename(target)}.fetching`);
      await download(s3, found.wal, tmp);
      fs.renameSync(tmp, target);
    } finally {
      const settled = await ahead;
      const spooled = settled.filter(r => r.status === 'fulfilled').length;
      if (found.next.length > 0) log.debug({ wal: name, spooled, asked: found.next.length }, 'prefetched the next WAL segments');
    }
    log.info({ wal: name, key: found.wal.key }, 'restored WAL file');
    return 0;
  } catch (e) {
    // Not "missing": an error. Above 125 PostgreSQL stops recovery instead of taking the archive for finished,
    // which would end a point-in-time recovery early. The agent restarts postgres, which asks again.
    log.error({ wal: name, err: (e as Error).message, fix: 'Check the S3 store; recovery resumes when it answers.' }, 'wal-fetch failed');
    return 255;
  } finally {
    s3.destroy();
  }
}

async function prefetch(s3: S3Bucket, wal: ArchivedWal, spool: WalSpool): Promise<void> {
  const tmp = spool.tempPath(wal.name);
  try {
    await download(s3, wal, tmp);
    spool.commit(tmp, wal.name);
  } catch (e) {
    // Only a missed shortcut: PostgreSQL's request for this segment fetches it again (and reports any error).
    fs.rmSync(tmp, { force: true });
    log.debug({ wal: wal.name, err: (e as Error).message }, 'prefetch failed');
    throw e;
  }
}

/** Downloads, checks and decompresses one archived file into `file` (removed again on any failure). */
async function download(s3: S3Bucket, wal: ArchivedWal, file: string): Promise<void> {
  try {
    const got = await getObject(s3, wal.key);
    if (!got) throw new S3Error(`get s3://${s3.bucket}/${wal.key}: listed, then gone`, 'Something deleted the WAL during recovery (retention?); check the store.', 'NoSuchKey', 404, { key: wal.key });
    const md5 = new Md5Tap();
    let raw = 0;
    const count = new Transform({ transform(c: Buffer, _e, done) { raw += c.length; done(null, c); } });
    await pipeline(got.body, md5, new Slice(), decompressStream(wal.compression), count, fs.createWriteStream(file, { mode: 0o600 }));
    const digest = md5.hex();
    if (/^[0-9a-f]{32}$/.test(got.info.etag) && digest !== got.info.etag) {
      throw new S3Error(`${wal.key}: the bytes read have MD5 ${digest}, not the ETag ${got.info.etag}`, 'Retry; if it persists, the archived file is damaged.', 'VerifyFailed', undefined, { key: wal.key });
    }
    const recorded = Number(got.info.metadata.rawsize);
    if (recorded > 0 && raw !== recorded) {
      throw new S3Error(`${wal.key}: decompressed to ${raw} bytes, the archiver stored ${recorded}`, 'The archived file is damaged.', 'VerifyFailed', undefined, { key: wal.key });
    }
  } catch (e) {
    fs.rmSync(file, { force: true });
    throw e;
  }
}

class Md5Tap extends Transform {
  private readonly hash = createHash('md5');
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
  hex(): string {
    return this.hash.digest('hex');
  }
}
