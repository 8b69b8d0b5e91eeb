/**
 * The backups in the store: every `base/<id>/backup.info` under the server folder, ours and barman-cloud's, with
 * what the listing adds (stored bytes, last activity, the data tar's compression). Read-only except
 * {@link writeBackupInfo}, which the backup command uses for its own backup.
 */
import { COMPRESSION_EXTENSION, Compression, isBackupInfoKey, s3Layout } from '../../../lib/contract';
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { ListedObject, getObjectBuffer, iteratePrefix, putObject } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { BACKUP_ID, BackupInfo, parseBackupInfo, serializeBackupInfo } from './backup-info';

/** The objects of each backup folder `base/<id>/`, by id (folders with or without a backup.info). */
export async function listBackupFolders(s3: S3Bucket, store: StoreConfig): Promise<Map<string, ListedObject[]>> {
  const root = s3Layout.baseRoot(store.prefix, store.serverName);
  const folders = new Map<string, ListedObject[]>();
  for await (const o of iteratePrefix(s3, root)) {
    const id = o.key.slice(root.length).split('/')[0];
    if (!o.key.slice(root.length).includes('/')) continue; // a stray object directly in base/
    if (!folders.has(id)) folders.set(id, []);
    folders.get(id)!.push(o);
  }
  return folders;
}

/** One backup's backup.info, or undefined when there is none. Throws when it cannot be parsed. */
export async function readBackupInfo(s3: S3Bucket, store: StoreConfig, backupId: string): Promise<BackupInfo | undefined> {
  const body = await getObjectBuffer(s3, s3Layout.backupInfo(store.prefix, store.serverName, backupId));
  return body ? parseBackupInfo(body.toString('utf8'), backupId) : undefined;
}

/** Writes a backup.info (a small verified PUT: Content-MD5 checked by the server, ETag compared). */
export async function writeBackupInfo(s3: S3Bucket, store: StoreConfig, info: BackupInfo): Promise<void> {
  await putObject(s3, s3Layout.backupInfo(store.prefix, store.serverName, info.backupId), Buffer.from(serializeBackupInfo(info), 'utf8'), {
    contentType: 'text/plain; charset=utf-8',
  });
}

/** Compression of a data tar key (`data.tar.gz`, `data_0001.tar.zst`, `16385.tar`), or the raw suffix when not ours to read. */
export function tarCompression(key: string): Compression | 'bzip2' | 'snappy' | undefined {
  const m = /\.tar(\.[a-z0-9]+)?$/.exec(key);
  if (!m) return undefined;
  if (m[1] === '.bz2') return 'bzip2';
  if (m[1] === '.snappy') return 'snappy';
  const found = (Object.entries(COMPRESSION_EXTENSION) as Array<[Compression, string]>).find(([, ext]) => ext === (m[1] ?? ''));
  return found?.[0];
}

/**
 * Every backup that has a backup.info, oldest first (by begin time, then id). Not only DONE ones: a backup whose
 * status is anything else (STARTED: running or killed; FAILED) is listed with that status, and is not complete.
 * A backup.info that cannot be read is left out with a warning, as barman-cloud-backup-list does.
 */
export async function listBackups(s3: S3Bucket, store: StoreConfig): Promise<BackupInfo[]> {
  const folders = await listBackupFolders(s3, store);
  const ids = [...folders.keys()].filter(id => BACKUP_ID.test(id) && folders.get(id)!.some(o => isBackupInfoKey(o.key)));
  const out: BackupInfo[] = [];
  await forEachLimit(ids, 8, async id => {
    let info: BackupInfo | undefined;
    try {
      info = await readBackupInfo(s3, store, id);
    } catch (e) {
      log.warn({ backupId: id, err: (e as Error).message }, 'cannot read this backup.info; leaving the backup out of the list');
      return;
    }
    if (!info) return; // deleted between the listing and the read
    const objects = folders.get(id)!;
    info.storedSize = objects.reduce((n, o) => n + o.size, 0);
    info.lastModified = objects.reduce<Date | undefined>((d, o) => (o.lastModified && (!d || o.lastModified > d) ? o.lastModified : d), undefined);
    if (info.writer !== 'pg-agent') {
      // barman-cloud writes compression=None whatever the data tar is; its extension tells.
      const data = objects.find(o => /\/data\.tar(\.[a-z0-9]+)?$/.test(o.key));
      const kind = data && tarCompression(data.key);
      if (kind && kind !== 'bzip2' && kind !== 'snappy') info.compression = kind;
    }
    out.push(info);
  });
  return out.sort((a, b) => a.beginTime.getTime() - b.beginTime.getTime() || (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0));
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
