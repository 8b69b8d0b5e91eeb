/**
 * Restores a base backup's files from the store into a data directory: ours (data.tar[.gz|.zst|.lz4]) and
 * barman-cloud's (data.tar[.gz], data_NNNN.tar parts, <oid>.tar tablespaces). Objects are read with parallel
 * ranged GETs, decompressed and unpacked as they stream (nothing staged), several at once, and each object's
 * bytes are checked against what was stored: our SHA-256 from backup.info, else the ETag when it is an MD5
 * (barman's single-part uploads). WAL is not part of it: recovery fetches it (restore_command = wal-fetch).
 * On failure the partly restored directory is removed: a half-restored PGDATA must never be started.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Transform, TransformCallback, pipeline } from 'stream';
import { Compression, s3Layout } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { startProgress } from '../common/progress';
import { S3Bucket } from '../s3/client';
import { ListedObject, listPrefix } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { Slice } from '../store/chunks';
import { decompressStream } from '../store/compression';
import { BackupInfo } from '../catalog/backup-info';
import { forEachLimit, readBackupInfo, tarCompression } from '../catalog/catalog';
import { rangedObjectStream } from './ranged-read';
import { extractTar } from './tar-extract';
import { readIncrementalInfo } from '../incremental/catalog';
import { restoreChain } from '../incremental/restore';

export interface RestoreOptions {
  /** Tablespace name -> directory to restore it into. @default where it was (backup.info's tablespaces) */
  tablespaces?: Record<string, string>;
  /** Objects restored at once. @default 2 */
  parallel?: number;
  /** Ranged GETs in flight per object. @default 4 */
  rangesPerObject?: number;
  /** Restore a backup that is not DONE (to inspect it; never to recover from). @default false */
  allowIncomplete?: boolean;
  /** The progress lines' message. @default 'restore in progress' */
  progressMessage?: string;
}

export interface RestoredObject {
  key: string;
  compression: string;
  storedBytes: number;
  files: number;
  bytes: number;
  /** How the stored bytes were checked: our SHA-256, the MD5 ETag (single-part upload), or not at all. */
  verified: 'sha256' | 'md5' | 'none';
}

export interface RestoreResult {
  backup: BackupInfo;
  objects: RestoredObject[];
  files: number;
  bytes: number;
  seconds: number;
}

/** A data or tablespace tar of a backup folder, as barman-cloud names them. */
interface TarObject {
  object: ListedObject;
  /** undefined for PGDATA, else the tablespace oid. */
  oid?: number;
  compression: ReturnType<typeof tarCompression>;
}

function tarsOf(objects: ListedObject[], dir: string, info: BackupInfo): TarObject[] {
  const out: TarObject[] = [];
  const oids = new Set((info.tablespaces ?? []).map(t => t.oid));
  for (const o of objects) {
    const m = /^(data|\d+)(_\d{4})?\.tar(\.[a-z0-9]+)?$/.exec(o.key.slice(dir.length));
    if (!m) continue;
    const oid = m[1] === 'data' ? undefined : Number(m[1]);
    if (oid !== undefined && !oids.has(oid)) continue;
    out.push({ object: o, oid, compression: tarCompression(o.key) });
  }
  return out;
}

/** MD5 of the stored object when its ETag says it (single PUT, or a multipart upload of one part). */
function etagCheck(etag: string): ((md5: Buffer) => boolean) | undefined {
  if (/^[0-9a-f]{32}$/.test(etag)) return md5 => md5.toString('hex') === etag;
  const one = /^([0-9a-f]{32})-1$/.exec(etag);
  if (one) return md5 => createHash('md5').update(md5).digest('hex') === one[1];
  return undefined;
}

class Hasher extends Transform {
  readonly sha256 = createHash('sha256');
  readonly md5 = createHash('md5');
  bytes = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.sha256.update(chunk);
    this.md5.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

export async function restoreBaseBackup(
  s3: S3Bucket,
  store: StoreConfig,
  backupId: string,
  targetDir: string,
  opts: RestoreOptions = {},
): Promise<RestoreResult> {
  const started = Date.now();
  const where = `s3://${s3.bucket}/${s3Layout.backupDir(store.prefix, store.serverName, backupId)}`;
  const info = await readBackupInfo(s3, store, backupId);
  // An incremental backup (incremental/<id>/) restores its whole chain, this function restoring the chain's full backup.
  if (!info && (await readIncrementalInfo(s3, store, backupId))) return restoreChain(s3, store, backupId, targetDir, opts, restoreBaseBackup);
  if (!info)
    throw new AgentError(
      `there is no backup ${backupId} at ${where} (no backup.info)`,
      'List the backups with `pg-agent list` and pick one of them.',
      { backupId },
    );
  if (info.status !== 'DONE' && !opts.allowIncomplete) {
    throw new AgentError(
      `backup ${backupId} is not complete (status ${info.status}${info.error ? `: ${info.error}` : ''}); refusing to restore it`,
      'Pick a DONE backup (`pg-agent list`).',
      { backupId },
    );
  }
  const existed = fs.existsSync(targetDir);
  if (existed && fs.readdirSync(targetDir).length > 0) {
    throw new AgentError(`${targetDir} is not empty; a restore never writes over files`, 'Restore into an empty or new directory.', { targetDir });
  }
  const dir = s3Layout.backupDir(store.prefix, store.serverName, backupId);
  const tars = tarsOf(await listPrefix(s3, dir), dir, info);
  if (!tars.some(t => t.oid === undefined))
    throw new AgentError(`backup ${backupId} has no data tar at ${where}`, 'The backup is damaged; pick another one.', { backupId });
  for (const t of tars) {
    if (t.compression === undefined || t.compression === 'bzip2' || t.compression === 'snappy') {
      throw new AgentError(
        `backup ${backupId} stores ${path.basename(t.object.key)}, a compression this agent cannot read`,
        'Restore it with barman-cloud-restore (it reads bzip2 and snappy), or take a backup with gzip, zstd, lz4 or none.',
        { key: t.object.key },
      );
    }
  }
  const dirs = new Map<number | undefined, string>([[undefined, targetDir]]);
  for (const t of info.tablespaces ?? []) dirs.set(t.oid, opts.tablespaces?.[t.name] ?? t.location);
  const ours = info.copyStats;
  const created: string[] = [];
  try {
    for (const d of new Set(dirs.values())) {
      if (!fs.existsSync(d)) created.push(d);
      else if (d !== targetDir && fs.readdirSync(d).length > 0)
        throw new AgentError(`tablespace directory ${d} is not empty`, 'Map the tablespace to an empty directory.', { dir: d });
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    const results: RestoredObject[] = [];
    // Progress counts the stored (compressed) bytes read: their total is known before the first byte.
    const hashers: Hasher[] = [];
    const totalStored = tars.reduce((n, t) => n + t.object.size, 0);
    const stopProgress = startProgress(() => ({ done: hashers.reduce((n, h) => n + h.bytes, 0), total: totalStored }), {
      msg: opts.progressMessage ?? 'restore in progress',
    });
    try {
      await forEachLimit(tars, opts.parallel ?? 2, async t => {
        const name = path.basename(t.object.key);
        const hasher = new Hasher();
        hashers.push(hasher);
        const body = rangedObjectStream(s3, t.object.key, t.object.size, { parallel: opts.rangesPerObject });
        // pipeline: an error anywhere (S3, a corrupt compressed stream) fails the last stream, which fails the extract.
        // Slice: small compressed chunks, so that the decompressor's output stays bounded by backpressure. The hasher
        // after it counts bytes as the decompressor takes them (the progress), not as 8 MiB ranges arrive.
        const tarStream = pipeline(body, new Slice(), hasher, decompressStream(t.compression as Compression), () => undefined);
        const { files, bytes } = await extractTar(tarStream, dirs.get(t.oid)!);
        const sha256 = hasher.sha256.digest('hex');
        let verified: RestoredObject['verified'] = 'none';
        if (ours?.writer === 'pg-agent' && ours.data_key === name && typeof ours.data_sha256 === 'string') {
          if (sha256 !== ours.data_sha256)
            throw new AgentError(
              `${name} of backup ${backupId} does not match its checksum (SHA-256 ${sha256}, backup.info says ${ours.data_sha256})`,
              'The stored backup is damaged; restore another one.',
              { key: t.object.key },
            );
          verified = 'sha256';
        } else {
          const check = etagCheck(t.object.etag);
          if (check) {
            if (!check(hasher.md5.digest()))
              throw new AgentError(
                `${name} of backup ${backupId} does not match its ETag ${t.object.etag}`,
                'The stored backup is damaged; restore another one.',
                { key: t.object.key },
              );
            verified = 'md5';
          }
        }
        if (hasher.bytes !== t.object.size)
          throw new AgentError(`${name}: read ${hasher.bytes} bytes of ${t.object.size}`, 'Retry the restore.', { key: t.object.key });
        results.push({ key: t.object.key, compression: t.compression!, storedBytes: t.object.size, files, bytes, verified });
        log.info({ key: t.object.key, files, bytes, verified }, 'restored a backup archive');
      });
    } finally {
      stopProgress();
    }
    // Tablespaces: pg_tblspc/<oid> points at where each one was restored (barman-cloud-restore does the same).
    for (const t of info.tablespaces ?? []) {
      const link = path.join(targetDir, 'pg_tblspc', String(t.oid));
      fs.mkdirSync(path.dirname(link), { recursive: true, mode: 0o700 });
      fs.rmSync(link, { force: true });
      fs.symlinkSync(dirs.get(t.oid)!, link);
    }
    // barman-cloud's tar leaves pg_wal out; PostgreSQL needs it (and its archive_status) to start recovery.
    fs.mkdirSync(path.join(targetDir, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });
    fs.chmodSync(targetDir, 0o700);
    const files = results.reduce((n, r) => n + r.files, 0);
    const bytes = results.reduce((n, r) => n + r.bytes, 0);
    const seconds = (Date.now() - started) / 1000;
    log.info({ backupId, targetDir, files, bytes, seconds: Number(seconds.toFixed(1)) }, 'base backup restored (recovery fetches the WAL)');
    return { backup: info, objects: results, files, bytes, seconds };
  } catch (e) {
    for (const d of new Set(dirs.values())) {
      if (created.includes(d) || d === targetDir) {
        fs.rmSync(d, { recursive: true, force: true });
        if (d === targetDir && existed) fs.mkdirSync(d, { mode: 0o700 });
      }
    }
    throw e;
  }
}
