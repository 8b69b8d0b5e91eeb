/**
 * Unfinished multipart uploads of incremental backups killed mid-way (a pod killed has no time to abort its upload;
 * S3 keeps the parts, and bills them, until someone does). The objects of such a backup are not a backup (no
 * incremental.json) and retention removes them after its grace period; the uploads are not objects, so they are
 * aborted here, by the next backup, once idle as long as the full backups' leftovers are (STALE_AFTER_MS).
 */
import { incrementalLayout } from '../../../lib/contract';
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { abortMultipartUpload, listMultipartUploads } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { STALE_AFTER_MS } from '../basebackup/heartbeat';

export async function abortStaleIncrementalUploads(s3: S3Bucket, store: StoreConfig, currentId: string, now = new Date()): Promise<number> {
  const root = incrementalLayout.root(store.prefix, store.serverName);
  let aborted = 0;
  for (const u of await listMultipartUploads(s3, root)) {
    const id = u.key.slice(root.length).split('/')[0];
    if (!(id < currentId) || !u.initiated || now.getTime() - u.initiated.getTime() < STALE_AFTER_MS) continue;
    await abortMultipartUpload(s3, u.key, u.uploadId);
    aborted++;
    log.info({ backupId: id, key: u.key }, 'aborted the unfinished upload of an incremental backup that did not complete');
  }
  return aborted;
}
