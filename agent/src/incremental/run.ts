/**
 * One incremental backup: the same pg_basebackup stream as a full backup, filtered as it goes by (./filter.ts),
 * compressed and uploaded to `incremental/<id>/data.pgci…`; then manifest.json; then, once the WAL from its start to
 * its end is archived, incremental.json with status DONE, written last. A failure leaves no DONE incremental.json.
 */
import { createHash } from 'crypto';
import { pipeline } from 'stream';
import { incrementalLayout, s3Layout } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { PutResult, deleteObject, getObjectBuffer, putObject, uploadStream } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { Coalesce } from '../store/chunks';
import { compressStream } from '../store/compression';
import { ChainLink } from '../decide/backup-chain';
import { parseLsn, requiredSegments, walFileName } from '../postgres/wal';
import { manifestWalEnd, parseBackupLabel } from '../basebackup/label';
import { startBaseBackup } from '../basebackup/pg-basebackup';
import { ByteCounter, startProgressLog } from '../basebackup/progress';
import { SourceIdentity } from '../basebackup/source';
import { TarScan } from '../basebackup/tar-scan';
import { waitForWal } from '../basebackup/wal-check';
import { PART_SIZE } from '../basebackup/run';
import { IncrementalFilter } from './filter';
import { IncrementalInfo, readManifest, writeIncrementalInfo } from './catalog';

export interface IncrementalRunOptions {
  walWaitMs?: number;
  onStop?: (stop: (why: string) => void) => void;
}

export async function runIncrementalBackup(
  s3: S3Bucket,
  store: StoreConfig,
  source: SourceIdentity,
  password: string,
  backupId: string,
  beginTime: Date,
  parent: ChainLink,
  full: ChainLink,
  opts: IncrementalRunOptions = {},
): Promise<IncrementalInfo> {
  const dataKey = incrementalLayout.data(store.prefix, store.serverName, backupId, store.compression);
  const manifestKey = incrementalLayout.manifest(store.prefix, store.serverName, backupId);
  const scan = new TarScan();
  // The parent's relation files: one it did not have is stored whole (see IncrementalFilter).
  const parentFiles = await readParentFiles(s3, store, parent);
  const filter = new IncrementalFilter(parent.beginLsn, parentFiles && new Set(parentFiles));
  const started = Date.now();
  const pgbb = startBaseBackup(source.source, password, `pg-agent ${store.serverName} ${backupId} incremental`);
  let stoppedBy: string | undefined;
  opts.onStop?.(why => {
    stoppedBy = why;
    log.warn({ why }, 'stopping the backup; it will not be marked complete');
    pgbb.kill('SIGTERM');
  });
  const stored = new ByteCounter();
  const stopProgress = startProgressLog(() => ({ done: scan.bytes, stored: stored.bytes, estimate: pgbb.estimatedBytes() }));
  const written: string[] = [];
  try {
    const body = pipeline(pgbb.tar, scan, filter, new Coalesce(), compressStream(store.compression, { threads: 1 }), stored, () => undefined);
    const [upload, copy] = await Promise.allSettled([
      uploadStream(s3, dataKey, body, { partSize: PART_SIZE, queueSize: 2, contentType: 'application/octet-stream' }),
      pgbb.done,
    ]);
    if (copy.status === 'rejected') throw copy.reason;
    if (upload.status === 'rejected') throw upload.reason;
    const put: PutResult = upload.value;
    written.push(dataKey);
    const labelText = scan.kept.get('backup_label');
    if (!labelText) throw new AgentError('the backup has no backup_label', 'Run the backup again; report it if it persists.');
    const label = parseBackupLabel(labelText);
    const end =
      manifestWalEnd(scan.kept.get('backup_manifest')) ??
      (copy.value.endLsn ? { endLsn: copy.value.endLsn, timeline: label.startTimeline } : undefined);
    if (!end) throw new AgentError('the backup does not say where it ends', 'Run the backup again; report it if it persists.');
    if (end.timeline !== label.startTimeline || label.startTimeline !== parent.timeline)
      throw new AgentError(
        `the source changed timeline (parent ${parent.timeline}, start ${label.startTimeline}, end ${end.timeline})`,
        'A standby was promoted; the next backup is a full one.',
      );
    const manifest = Buffer.from(JSON.stringify(filter.manifest), 'utf8');
    await putObject(s3, manifestKey, manifest, { contentType: 'application/json' });
    written.push(manifestKey);
    const begin = parseLsn(label.startLsn);
    const endLsn = parseLsn(end.endLsn);
    await waitForWal(s3, store, requiredSegments(end.timeline, begin, endLsn, source.walSegmentSize), end.timeline, {
      timeoutMs: opts.walWaitMs ?? (label.backupFrom === 'standby' ? 10 * 60_000 : 2 * 60_000),
    });
    const info: IncrementalInfo = {
      version: 1,
      backupId,
      status: 'DONE',
      parent: parent.id,
      full: full.id,
      systemIdentifier: source.systemIdentifier,
      timeline: end.timeline,
      pgVersion: source.pgVersion,
      beginTime: beginTime.toISOString(),
      endTime: new Date().toISOString(),
      beginLsn: label.startLsn,
      endLsn: end.endLsn,
      beginWal: label.startWal,
      endWal: walFileName(end.timeline, endLsn, source.walSegmentSize),
      walSegmentSize: source.walSegmentSize,
      backupLabel: labelText,
      compression: store.compression,
      size: scan.bytes,
      dataKey: dataKey.split('/').pop()!,
      dataSize: put.size,
      dataSha256: put.sha256,
      manifestSize: manifest.length,
      manifestSha256: createHash('sha256').update(manifest).digest('hex'),
      pagesSeen: filter.pagesSeen,
      pagesStored: filter.pagesKept,
      files: filter.files,
      writer: 'pg-agent',
    };
    stopProgress();
    await writeIncrementalInfo(s3, store, info);
    log.info(
      {
        backupId,
        parent: parent.id,
        full: full.id,
        seconds: (Date.now() - started) / 1000,
        pagesSeen: info.pagesSeen,
        pagesStored: info.pagesStored,
      },
      'incremental backup stored',
    );
    return info;
  } catch (e) {
    stopProgress();
    pgbb.kill('SIGTERM');
    const err = stoppedBy
      ? new AgentError(
          `the backup was stopped (${stoppedBy}) before it completed; it is not marked complete`,
          'Nothing to do: the next scheduled backup runs.',
        )
      : (e as Error);
    // Nothing of a failed incremental is kept: without a DONE incremental.json it is not a backup.
    for (const key of written) await deleteObject(s3, key).catch(() => undefined);
    throw err;
  }
}

/** The relation files of the parent: an incremental's manifest, or the list a full backup stored beside its tar. */
async function readParentFiles(s3: S3Bucket, store: StoreConfig, parent: ChainLink): Promise<string[] | undefined> {
  if (parent.kind === 'incremental') {
    const m = await readManifest(s3, incrementalLayout.manifest(store.prefix, store.serverName, parent.id));
    if (!m) throw new AgentError(`the manifest of parent backup ${parent.id} is missing`, 'Nothing to do: the next backup is a full one.');
    return m.manifest.files.map(f => f.path);
  }
  const key = s3Layout.relationFiles(store.prefix, store.serverName, parent.id);
  const body = await getObjectBuffer(s3, key);
  if (!body) {
    log.warn({ key }, `the list of relation files of full backup ${parent.id} is missing: this incremental stores every relation page`);
    return undefined;
  }
  return JSON.parse(body.toString('utf8')) as string[];
}
