/**
 * One base backup, start to finish: STARTED backup.info (kept fresh), pg_basebackup's tar streamed through the
 * compressor into a multipart upload (bounded memory, never on local disk), the WAL it needs checked in the
 * archive, and backup.info with status DONE written last. Any failure leaves no DONE backup.info: the upload is
 * aborted, what was stored is removed, and backup.info says FAILED with the reason (as barman-cloud does).
 */
import { pipeline } from 'stream';
import { PATHS, s3Layout } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { PutResult, deleteObject, putObject, uploadStream } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { Coalesce } from '../store/chunks';
import { compressStream } from '../store/compression';
import { BackupInfo } from '../catalog/backup-info';
import { writeBackupInfo } from '../catalog/catalog';
import { parseLsn, requiredSegments, walFileName, walOffset } from '../postgres/wal';
import { Heartbeat } from './heartbeat';
import { manifestWalEnd, parseBackupLabel } from './label';
import { startBaseBackup } from './pg-basebackup';
import { ByteCounter, startProgressLog } from './progress';
import { SourceIdentity } from './source';
import { TarScan } from './tar-scan';
import { waitForWal } from './wal-check';

/** Multipart part size and parts in flight: memory is about (QUEUE + 1) x PART, whatever the database size. */
export const PART_SIZE = 8 * 1024 * 1024;
const QUEUE = 2;

export interface RunOptions {
  /** How long the WAL up to the end may take to reach the archive. @default 2 min from a primary, 10 min from a standby */
  walWaitMs?: number;
  /** Registers a way to stop the backup (SIGTERM); called with the stopper. */
  onStop?: (stop: (why: string) => void) => void;
  /**
   * Store `relation-files.json` beside the tar, for incrementals built on this backup (with `backup.incremental`
   * only: a store without incrementals keeps barman-cloud's layout exactly). @default false
   */
  recordRelationFiles?: boolean;
}

export async function runBaseBackup(
  s3: S3Bucket,
  store: StoreConfig,
  source: SourceIdentity,
  password: string,
  backupId: string,
  beginTime: Date,
  opts: RunOptions = {},
): Promise<BackupInfo> {
  const info: BackupInfo = {
    backupId,
    status: 'STARTED',
    serverName: store.serverName,
    systemIdentifier: source.systemIdentifier,
    timeline: source.timeline,
    beginTime,
    beginWal: '',
    beginLsn: '',
    pgVersion: source.pgVersion,
    size: 0,
    compression: store.compression,
    writer: 'pg-agent',
    mode: 'postgres',
    pgdata: PATHS.pgdata,
    configFile: `${PATHS.pgdata}/postgresql.conf`,
    hbaFile: `${PATHS.pgdata}/pg_hba.conf`,
    identFile: `${PATHS.pgdata}/pg_ident.conf`,
    walSegmentSize: source.walSegmentSize,
    copyStats: { writer: 'pg-agent' },
  };
  const scan = new TarScan();
  // The heartbeat tells where the backup starts as soon as backup_label (the tar's first member) has gone by.
  const current = (): BackupInfo => {
    const label = scan.kept.get('backup_label');
    if (label && !info.beginWal) {
      const l = parseBackupLabel(label);
      Object.assign(info, { beginWal: l.startWal, beginLsn: l.startLsn, timeline: l.startTimeline, backupLabel: label });
    }
    return info;
  };
  const heartbeat = new Heartbeat(s3, store, current);
  await heartbeat.start();
  const key = s3Layout.dataTar(store.prefix, store.serverName, backupId, store.compression);
  const relationFilesKey = s3Layout.relationFiles(store.prefix, store.serverName, backupId);
  const started = Date.now();
  const pgbb = startBaseBackup(source.source, password, `pg-agent ${store.serverName} ${backupId}`);
  let stoppedBy: string | undefined;
  opts.onStop?.(why => {
    stoppedBy = why;
    log.warn({ why }, 'stopping the backup; it will not be marked complete');
    pgbb.kill('SIGTERM');
  });
  const stored = new ByteCounter();
  const stopProgress = startProgressLog(() => ({ done: scan.bytes, stored: stored.bytes, estimate: pgbb.estimatedBytes() }));
  let put: PutResult | undefined;
  try {
    // 1 MiB chunks into the compressor, and zstd on a worker thread of its own: the main thread keeps hashing and
    // uploading while it compresses.
    const body = pipeline(pgbb.tar, scan, new Coalesce(), compressStream(store.compression, { threads: 1 }), stored, () => undefined);
    const [upload, copy] = await Promise.allSettled([
      uploadStream(s3, key, body, { partSize: PART_SIZE, queueSize: QUEUE, contentType: 'application/x-tar' }),
      pgbb.done,
    ]);
    // pg_basebackup's own failure is the cause of an aborted upload: report it first.
    if (copy.status === 'rejected') throw copy.reason;
    if (upload.status === 'rejected') throw upload.reason;
    put = upload.value;
    const reported = copy.value;
    current();
    if (!info.beginWal) throw new AgentError('the backup has no backup_label', 'Run the backup again; report it if it persists.');
    const label = parseBackupLabel(info.backupLabel!);
    const end =
      manifestWalEnd(scan.kept.get('backup_manifest')) ?? (reported.endLsn ? { endLsn: reported.endLsn, timeline: label.startTimeline } : undefined);
    if (!end)
      throw new AgentError(
        'the backup does not say where it ends (no manifest in the tar, no end point from pg_basebackup)',
        'Run the backup again; report it if it persists.',
      );
    if (end.timeline !== label.startTimeline) {
      throw new AgentError(
        `the source changed timeline during the backup (${label.startTimeline} -> ${end.timeline})`,
        'A standby was promoted while it was being backed up; run the backup again.',
      );
    }
    if (reported.archiving === 'waited') log.info({ endLsn: end.endLsn }, 'the server held the backup until its last WAL segment was archived');
    // Before backup.info says DONE: an incremental on this backup relies on the list (decideBackupKind checks it).
    if (opts.recordRelationFiles)
      await putObject(s3, relationFilesKey, Buffer.from(JSON.stringify(scan.relationFiles)), { contentType: 'application/json' });
    const copySeconds = (Date.now() - started) / 1000;
    const begin = parseLsn(label.startLsn);
    const endLsn = parseLsn(end.endLsn);
    const segments = requiredSegments(end.timeline, begin, endLsn, source.walSegmentSize);
    await waitForWal(s3, store, segments, end.timeline, { timeoutMs: opts.walWaitMs ?? (label.backupFrom === 'standby' ? 10 * 60_000 : 2 * 60_000) });
    Object.assign(info, {
      status: 'DONE',
      endTime: new Date(),
      endLsn: end.endLsn,
      endWal: walFileName(end.timeline, endLsn, source.walSegmentSize),
      beginOffset: walOffset(begin, source.walSegmentSize),
      endOffset: walOffset(endLsn, source.walSegmentSize),
      size: scan.bytes,
      copyStats: {
        writer: 'pg-agent',
        total_time: round((Date.now() - started) / 1000),
        copy_time: round(copySeconds),
        analysis_time: 0,
        number_of_workers: 1,
        backup_from: label.backupFrom ?? (source.standby ? 'standby' : 'primary'),
        files: scan.files,
        server_waited_for_wal_archive: reported.archiving === 'waited',
        data_key: key.split('/').pop()!,
        ...(opts.recordRelationFiles ? { relation_files_key: relationFilesKey.split('/').pop()! } : {}),
        data_size: put.size,
        data_sha256: put.sha256,
        data_etag: put.etag,
        part_size: PART_SIZE,
      },
    } satisfies Partial<BackupInfo>);
    stopProgress();
    await heartbeat.stop();
    await writeBackupInfo(s3, store, info);
    return info;
  } catch (e) {
    stopProgress();
    pgbb.kill('SIGTERM');
    await heartbeat.stop();
    const err = stoppedBy
      ? new AgentError(
          `the backup was stopped (${stoppedBy}) before it completed; it is marked FAILED, not complete`,
          'Nothing to do: the next scheduled backup runs in full. If a deadline stopped it, raise backup.activeDeadlineSeconds.',
        )
      : (e as Error);
    await recordFailure(s3, store, info, [...(put ? [key] : []), ...(opts.recordRelationFiles ? [relationFilesKey] : [])], err);
    throw err;
  }
}

/** FAILED backup.info with the reason; the objects stored so far removed (never usable without DONE). */
async function recordFailure(s3: S3Bucket, store: StoreConfig, info: BackupInfo, stored: string[], err: Error): Promise<void> {
  Object.assign(info, { status: 'FAILED', endTime: new Date(), error: `failure uploading data (${err.message.split('\n')[0]})` });
  try {
    for (const key of stored) await deleteObject(s3, key);
    await writeBackupInfo(s3, store, info);
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'could not record the failed backup in S3; the next backup cleans up after it');
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;
