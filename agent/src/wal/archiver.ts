/**
 * Asynchronous, parallel WAL archiving inside the instance process (pgBackRest's async model). PostgreSQL's
 * archive_command is the small `wal-push` client, which asks this archiver over a unix socket and exits 0 only
 * once the segment is durable in S3. When asked for one segment, the archiver also starts uploading the next
 * `.ready` ones, up to `walMaxParallel` at a time, so later calls find their segment already stored. One process
 * keeps the S3 client and its connections warm: no per-segment start-up cost.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { WAL_FILE, s3Layout } from '../../../lib/contract';
import { collectWhenIdle } from '../common/idle-gc';
import { serveJsonLines } from '../common/json-socket';
import { log } from '../common/log';
import { openS3Bucket, type S3Bucket } from '../s3/bucket';
import { getObject, headObject, putObject } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { compressFile, compressionOfKey, decompressStream } from '../store/compression';
import { Writable } from 'stream';
import { pipeline } from 'stream/promises';
import { claimArchive } from './identity';
import { clearAllSpools } from './wal-spool';
import { createHash } from 'crypto';
export { archiverSocketPath } from './archiver-socket';

export interface ArchiverStats {
  archived: number;
  failed: number;
  bytes: number;
  lastError?: string;
  lastArchivedAt?: Date;
}

export class WalArchiver {
  private readonly s3: S3Bucket;
  private readonly done = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private claimed?: Promise<void>;
  private server?: net.Server;
  readonly stats: ArchiverStats = { archived: 0, failed: 0, bytes: 0 };
  /** When uploads began to fail, none succeeding since (undefined: the store answers). */
  failingSince?: number;

  constructor(
    private readonly store: StoreConfig,
    private readonly pgdata: string,
    private readonly socketPath: string,
    private readonly identity: () => { systemIdentifier: string; cluster: string },
  ) {
    this.s3 = openS3Bucket(store.s3);
  }

  /** Listens for wal-push requests: one JSON line `{"wal": "<path>"}` in, one line `{"ok": bool, "error"?}` out. */
  async start(): Promise<void> {
    this.server = await serveJsonLines(
      this.socketPath,
      async request => {
        await this.push((request as { wal: string }).wal);
        return { ok: true };
      },
      e => ({ ok: false, error: e.message }),
    );
    collectWhenIdle(); // what the instance's start left behind
  }

  async stop(): Promise<void> {
    await new Promise<void>(r => (this.server ? this.server.close(() => r()) : r()));
    this.s3.destroy();
  }

  /** Archives one WAL file (path relative to PGDATA, as %p gives it) and starts on the next ready ones. */
  async push(walPath: string): Promise<void> {
    try {
      await this.pushOnce(walPath);
      this.failingSince = undefined;
    } catch (e) {
      this.failingSince ??= Date.now();
      throw e;
    }
  }

  private async pushOnce(walPath: string): Promise<void> {
    const name = path.basename(walPath);
    if (!WAL_FILE.test(name)) throw new Error(`${name} is not a WAL file name`);
    if (!this.claimed) this.claimed = this.claim();
    try {
      await this.claimed;
    } catch (e) {
      this.claimed = undefined; // try again on the next call (the S3 outage may be over)
      throw e;
    }
    const own = this.upload(name);
    this.prefetch(name);
    await own;
  }

  private async claim(): Promise<void> {
    // Archiving means recovery is over: the prefetch spools wal-fetch left in pg_wal are not needed any more.
    clearAllSpools(path.join(this.pgdata, 'pg_wal'));
    const id = this.identity();
    await claimArchive(this.s3, this.store, id.systemIdentifier, id.cluster);
  }

  /** Starts uploads for the oldest `.ready` files after `current`, keeping at most walMaxParallel in flight. */
  private prefetch(current: string): void {
    let ready: string[];
    try {
      ready = fs
        .readdirSync(path.join(this.pgdata, 'pg_wal', 'archive_status'))
        .filter(f => f.endsWith('.ready'))
        .map(f => f.slice(0, -'.ready'.length))
        .filter(n => n !== current && WAL_FILE.test(n) && !this.done.has(n) && !this.inFlight.has(n))
        .sort();
    } catch {
      return;
    }
    for (const name of ready) {
      if (this.inFlight.size >= this.store.walMaxParallel) break;
      // Errors surface when PostgreSQL asks for that segment; here they only free the slot.
      this.upload(name).catch(() => undefined);
    }
  }

  private upload(name: string): Promise<void> {
    if (this.done.has(name)) return Promise.resolve();
    const existing = this.inFlight.get(name);
    if (existing) return existing;
    const p = this.uploadOnce(name).then(
      () => {
        this.done.add(name);
        this.inFlight.delete(name);
        this.idle();
      },
      (e: Error) => {
        this.inFlight.delete(name);
        this.idle();
        this.stats.failed++;
        this.stats.lastError = e.message;
        log.warn({ wal: name, err: e.message }, 'WAL archiving failed; PostgreSQL keeps the segment and retries');
        throw e;
      },
    );
    this.inFlight.set(name, p);
    return p;
  }

  /** After a burst of uploads, the memory it used goes back once nothing is in flight. */
  private idle(): void {
    if (this.inFlight.size === 0) collectWhenIdle();
  }

  private async uploadOnce(name: string): Promise<void> {
    const started = Date.now();
    const file = path.join(this.pgdata, 'pg_wal', name);
    const key = s3Layout.walKey(this.store.prefix, this.store.serverName, name, this.store.walCompression);
    // Looked up first: every instance archives (archive_mode=always, so that no segment depends on one pod), and
    // the second one to come finds it stored; then a SHA-256 of the segment decides, without compressing it.
    const there = await headObject(this.s3, key);
    const raw = await sha256OfFile(file);
    if (there) {
      if (await this.sameContent(key, there, raw, file)) {
        log.debug({ wal: name }, 'WAL file already archived with identical content');
        return;
      }
      const err = new Error(`${key} already exists with different content; refusing to overwrite archived WAL`);
      log.error(
        {
          wal: name,
          key,
          fix: `Two histories wrote ${name}: find out which instance wrote the archived copy (compare it with pg_wal/${name} of each instance), keep the archive as it is, and take a new base backup.`,
        },
        err.message,
      );
      throw err;
    }
    const { body, rawSize } = await compressFile(file, this.store.walCompression);
    await putObject(this.s3, key, body, { metadata: { rawsize: String(rawSize), rawsha256: raw } });
    this.stats.archived++;
    this.stats.bytes += body.length;
    this.stats.lastArchivedAt = new Date();
    log.debug({ wal: name, bytes: body.length, ms: Date.now() - started }, 'archived WAL file');
  }

  /**
   * Whether the archived object holds the bytes of `file` (SHA-256 `raw`): the SHA-256 this archiver records at
   * upload; for an object without it (an older agent, barman-cloud), the same compressed bytes (ETag = MD5 of a
   * single-part upload), else the object read back and decompressed (another level or library version).
   */
  private async sameContent(key: string, there: { etag: string; metadata: Record<string, string> }, raw: string, file: string): Promise<boolean> {
    if (there.metadata.rawsha256) return there.metadata.rawsha256 === raw;
    const { body } = await compressFile(file, this.store.walCompression);
    if (there.etag === createHash('md5').update(body).digest('hex')) return true;
    const got = await getObject(this.s3, key);
    if (!got) return false;
    const hash = createHash('sha256');
    await pipeline(
      got.body,
      decompressStream(compressionOfKey(key)),
      new Writable({
        write(c: Buffer, _e, done) {
          hash.update(c);
          done();
        },
      }),
    );
    return hash.digest('hex') === raw;
  }
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(
    fs.createReadStream(file, { highWaterMark: 1024 * 1024 }),
    new Writable({
      write(c: Buffer, _e, done) {
        hash.update(c);
        done();
      },
    }),
  );
  return hash.digest('hex');
}
