/**
 * The part of `wal-fetch` that talks to S3 (loaded only when the spool cannot answer): looks a segment up with one
 * listing, downloads it and, in parallel, the next PREFETCH segments into the spool, so that PostgreSQL's next
 * requests are served without a process that loads the AWS SDK (pgBackRest's asynchronous archive-get). It also
 * notes in the spool what the listings show absent (the segment after those, the history files that do not exist).
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
import { openS3Bucket, type S3Bucket } from '../s3/bucket';
import { S3Error } from '../s3/errors';
import { getObject } from '../s3/objects';
import { Slice } from '../store/chunks';
import { decompressStream } from '../store/compression';
import { StoreConfig, readStoreConfig } from '../store/config';
import { HISTORY_NAME, SEGMENT_NAME, previousSegmentInLog, walSegmentSizeOfHeader } from '../postgres/wal';
import { ArchivedWal, listHistoryFiles, lookupWal } from './archive-lookup';
import { firstBytesOf } from './identity';
import { answerMissing, segmentSizeAt } from './missing-wal';
import { WalSpool } from './wal-spool';

/** Segments fetched ahead: 128 MiB of 16 MiB segments in pg_wal at most, pgBackRest's default queue size. */
export const PREFETCH = 8;

/** A segment missing before a later archived one is looked up again this many times, this far apart (an upload in flight). */
const LATER_RECHECKS = 5;
const LATER_RECHECK_MS = 2000;

/** Exit codes: 0 restored, 1 not in the archive (PostgreSQL ends recovery), 255 error or a hole (PostgreSQL retries). */
export async function fetchFromArchive(
  name: string,
  target: string,
  spool: WalSpool,
  opts: { recoverySource?: boolean },
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const store: StoreConfig = opts.recoverySource ? readRecoveryConfig(env).source : readStoreConfig(env);
  const s3 = openS3Bucket(store.s3);
  try {
    return SEGMENT_NAME.test(name) ? await fetchSegment(s3, store, name, target, spool) : await fetchOther(s3, store, name, target, spool);
  } catch (e) {
    // Not "missing": an error. Above 125 PostgreSQL stops recovery instead of taking the archive for finished,
    // which would end a point-in-time recovery early. The agent restarts postgres, which asks again.
    log.error({ wal: name, err: (e as Error).message, fix: 'Check the S3 store; recovery resumes when it answers.' }, 'wal-fetch failed');
    return 255;
  } finally {
    s3.destroy();
  }
}

/** A segment: looked up with the ones after it, which are prefetched into the spool while it downloads. */
async function fetchSegment(s3: S3Bucket, store: StoreConfig, name: string, target: string, spool: WalSpool): Promise<number> {
  // What the spool holds was fetched for another place in the WAL (or another timeline): start afresh.
  spool.clear();
  const history = recordHistory(s3, store, spool, path.dirname(target));
  try {
    let found = await lookupWal(s3, store, name, PREFETCH);
    // A later segment archived but not this one: a hole, or an upload still in flight (the archiver uploads
    // segments in parallel). Looked up again for a while before the answer stops recovery.
    for (let i = 0; !found.wal && found.later && i < LATER_RECHECKS; i++) {
      await new Promise(r => setTimeout(r, LATER_RECHECK_MS));
      found = await lookupWal(s3, store, name, PREFETCH);
    }
    if (!found.wal) {
      await history; // the archive's newest history file, kept in the spool: the hole check reads it
      const walDir = path.dirname(target);
      const size = segmentSizeAt(walDir, spool) ?? (await archivedSegmentSize(s3, store, [found.later, previousSegmentInLog(name)]));
      return answerMissing(name, walDir, spool, found.later, '', size);
    }
    if (found.absent) spool.markMissing(found.absent, found.later);
    const ahead = Promise.allSettled(found.next.map(w => prefetch(s3, w, spool)));
    try {
      // Through the spool, like the others: PostgreSQL may ask for this segment again at the end of recovery.
      await prefetch(s3, found.wal, spool);
      if (!spool.serve(name, target)) throw new Error(`${name} vanished from the spool ${spool.dir}`);
    } finally {
      const settled = await ahead;
      const spooled = settled.filter(r => r.status === 'fulfilled').length;
      if (found.next.length > 0) log.debug({ wal: name, spooled, asked: found.next.length }, 'prefetched the next WAL segments');
    }
    log.info({ wal: name, key: found.wal.key }, 'restored WAL file');
    return 0;
  } finally {
    await history;
  }
}

/** A history (or other) file: small, fetched straight to the target. */
async function fetchOther(s3: S3Bucket, store: StoreConfig, name: string, target: string, spool: WalSpool): Promise<number> {
  if (HISTORY_NAME.test(name)) {
    const names = await recordHistory(s3, store, spool);
    // A complete listing answers at once; without one (too many entries, an error) the lookup below decides.
    if (names && !names.includes(name)) {
      log.info({ wal: name }, 'WAL file not in the archive');
      return 1;
    }
  }
  const found = await lookupWal(s3, store, name, 0);
  if (!found.wal) {
    log.info({ wal: name }, 'WAL file not in the archive');
    return 1;
  }
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.fetching`);
  await download(s3, found.wal, tmp);
  fs.renameSync(tmp, target);
  log.info({ wal: name, key: found.wal.key }, 'restored WAL file');
  return 0;
}

/**
 * Lists the history files into the spool, for the requests PostgreSQL makes at the end of recovery, and keeps the
 * newest one (it names every switch point of its ancestry) for the hole check, unless pg_wal has it already.
 */
async function recordHistory(s3: S3Bucket, store: StoreConfig, spool: WalSpool, walDir?: string): Promise<string[] | undefined> {
  try {
    const names = await listHistoryFiles(s3, store);
    if (names) spool.recordHistoryFiles(names);
    const newest = names?.at(-1);
    if (newest && walDir && !fs.existsSync(path.join(walDir, newest))) await keepHistory(s3, store, spool, newest);
    return names;
  } catch (e) {
    log.debug({ err: (e as Error).message }, 'could not list the history files');
    return undefined;
  }
}

/**
 * The WAL segment size, from the long header of an archived segment (one of `names`, decompressed only that far):
 * the hole check compares a segment with LSNs, which needs it when no segment is at hand (pg_wal, the spool).
 */
async function archivedSegmentSize(s3: S3Bucket, store: StoreConfig, names: Array<string | undefined>): Promise<number | undefined> {
  for (const name of names) {
    if (!name) continue;
    try {
      const found = await lookupWal(s3, store, name, 0);
      if (!found.wal) continue;
      const size = walSegmentSizeOfHeader(await firstBytesOf(s3, found.wal.key, 40));
      if (size) return size;
    } catch (e) {
      log.debug({ wal: name, err: (e as Error).message }, 'could not read a segment header for the WAL segment size');
    }
  }
  return undefined;
}

/** Keeps one history file of the archive in the spool (for the hole check); a failure only leaves it out. */
async function keepHistory(s3: S3Bucket, store: StoreConfig, spool: WalSpool, name: string): Promise<void> {
  const tmp = spool.tempPath(name);
  try {
    const found = await lookupWal(s3, store, name, 0);
    if (!found.wal) return;
    await download(s3, found.wal, tmp);
    spool.keepHistory(name, fs.readFileSync(tmp, 'utf8'));
  } catch (e) {
    log.warn({ history: name, err: (e as Error).message }, 'could not read the newest timeline history file; the hole check uses those in pg_wal');
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Downloads one archived segment into the spool (checked, fsynced, then named). */
async function prefetch(s3: S3Bucket, wal: ArchivedWal, spool: WalSpool): Promise<void> {
  const tmp = spool.tempPath(wal.name);
  try {
    await download(s3, wal, tmp);
    spool.commit(tmp, wal.name);
  } catch (e) {
    // For a prefetched segment only a missed shortcut: PostgreSQL's request for it fetches it again.
    fs.rmSync(tmp, { force: true });
    log.debug({ wal: wal.name, err: (e as Error).message }, 'prefetch failed');
    throw e;
  }
}

/** Downloads, checks and decompresses one archived file into `file` (removed again on any failure). */
async function download(s3: S3Bucket, wal: ArchivedWal, file: string): Promise<void> {
  try {
    const got = await getObject(s3, wal.key);
    if (!got)
      throw new S3Error(
        `get s3://${s3.bucket}/${wal.key}: listed, then gone`,
        'Something deleted the WAL during recovery (retention?); check the store.',
        'NoSuchKey',
        404,
        { key: wal.key },
      );
    const md5 = new Md5Tap();
    let raw = 0;
    const count = new Transform({
      transform(c: Buffer, _e, done) {
        raw += c.length;
        done(null, c);
      },
    });
    await pipeline(got.body, md5, new Slice(), decompressStream(wal.compression), count, fs.createWriteStream(file, { mode: 0o600 }));
    const digest = md5.hex();
    if (/^[0-9a-f]{32}$/.test(got.info.etag) && digest !== got.info.etag) {
      throw new S3Error(
        `${wal.key}: the bytes read have MD5 ${digest}, not the ETag ${got.info.etag}`,
        'Retry; if it persists, the archived file is damaged.',
        'VerifyFailed',
        undefined,
        { key: wal.key },
      );
    }
    const recorded = Number(got.info.metadata.rawsize);
    if (recorded > 0 && raw !== recorded) {
      throw new S3Error(
        `${wal.key}: decompressed to ${raw} bytes, the archiver stored ${recorded}`,
        'The archived file is damaged.',
        'VerifyFailed',
        undefined,
        { key: wal.key },
      );
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
