/**
 * Removes what incomplete backups left: the objects under `base/<id>/` of a backup without a DONE backup.info,
 * and the unfinished multipart uploads under it (the parts of a data tar whose upload was killed). Only for
 * backups older than the running one and idle for STALE_AFTER_MS (a running backup keeps its backup.info fresh).
 * A DONE backup is never touched; neither is a folder whose backup.info cannot be read.
 */
import { isBackupInfoKey, s3Layout } from '../../../lib/contract';
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { abortMultipartUpload, deleteObjects, listMultipartUploads } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { BackupInfo } from '../catalog/backup-info';
import { listBackupFolders, readBackupInfo } from '../catalog/catalog';
import { STALE_AFTER_MS } from './heartbeat';

export interface CleanupResult {
  /** Backup ids whose leftovers were removed. */
  readonly removed: string[];
  /** Incomplete backups left alone because they may still be running. */
  readonly running: string[];
}

export async function cleanLeftovers(s3: S3Bucket, store: StoreConfig, currentId: string, now = new Date()): Promise<CleanupResult> {
  const root = s3Layout.baseRoot(store.prefix, store.serverName);
  const folders = await listBackupFolders(s3, store);
  const uploads = await listMultipartUploads(s3, root);
  const idOf = (key: string) => key.slice(root.length).split('/')[0];
  const ids = new Set([...folders.keys(), ...uploads.map(u => idOf(u.key))]);
  const result: CleanupResult = { removed: [], running: [] };
  for (const id of [...ids].sort()) {
    if (!(id < currentId)) continue; // ours, or newer: not ours to judge
    const objects = folders.get(id) ?? [];
    const pending = uploads.filter(u => idOf(u.key) === id);
    let info: BackupInfo | undefined;
    if (objects.some(o => isBackupInfoKey(o.key))) {
      try {
        info = await readBackupInfo(s3, store, id);
      } catch (e) {
        log.warn({ backupId: id, err: (e as Error).message }, 'backup.info unreadable; leaving this backup folder alone');
        continue;
      }
    }
    if (info?.status === 'DONE') continue;
    const times = [...objects.map(o => o.lastModified), ...pending.map(u => u.initiated)].filter((d): d is Date => !!d).map(d => d.getTime());
    const lastActivity = times.length ? Math.max(...times) : 0;
    if (now.getTime() - lastActivity < STALE_AFTER_MS) {
      log.info(
        { backupId: id, status: info?.status ?? 'no backup.info', idleSeconds: Math.round((now.getTime() - lastActivity) / 1000) },
        'an incomplete backup was active moments ago (may still be running); not cleaning it up',
      );
      result.running.push(id);
      continue;
    }
    for (const u of pending) await abortMultipartUpload(s3, u.key, u.uploadId);
    // backup.info last: an interrupted cleanup leaves a folder the next run still recognizes.
    const keys = objects.map(o => o.key).sort((a, b) => Number(isBackupInfoKey(a)) - Number(isBackupInfoKey(b)));
    const data = keys.filter(k => !isBackupInfoKey(k));
    if (data.length) await deleteObjects(s3, data);
    if (data.length < keys.length) await deleteObjects(s3, keys.slice(data.length));
    log.info(
      { backupId: id, status: info?.status ?? 'no backup.info', objects: keys.length, uploadsAborted: pending.length },
      'removed the leftovers of an incomplete backup',
    );
    result.removed.push(id);
  }
  return result;
}
