/**
 * What the WAL archive holds, for the continuity check (decide/archive's archiveContinuity): every file name under
 * `wals/` (compression extension dropped) from one paged listing, and the timeline history files, read (they are a
 * few hundred bytes each). Read-only.
 */
import { s3Layout } from '../../../lib/contract';
import { Continuity, archiveContinuity } from '../decide/archive';
import { S3Bucket } from '../s3/client';
import { getObjectBuffer, iteratePrefix } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { decompressBuffer, compressionOfKey } from '../store/compression';
import { BackupInfo } from './backup-info';
import { ARCHIVED_WAL, TimelineSwitch, historyFileTimeline, parseTimelineHistory } from '../postgres/wal';

export interface ArchiveListing {
  readonly names: Set<string>;
  readonly histories: Map<number, TimelineSwitch[]>;
}

export async function readArchiveContents(s3: S3Bucket, store: StoreConfig): Promise<ArchiveListing> {
  const root = s3Layout.walsRoot(store.prefix, store.serverName);
  const names = new Set<string>();
  const historyKeys = new Map<number, string>();
  for await (const o of iteratePrefix(s3, root)) {
    const m = ARCHIVED_WAL.exec(o.key.split('/').pop()!);
    if (!m) continue;
    names.add(m[1]);
    const tli = historyFileTimeline(m[1]);
    if (tli !== undefined && !historyKeys.has(tli)) historyKeys.set(tli, o.key);
  }
  const histories = new Map<number, TimelineSwitch[]>();
  for (const [tli, key] of historyKeys) {
    const body = await getObjectBuffer(s3, key);
    if (!body) continue;
    histories.set(tli, parseTimelineHistory((await decompressBuffer(body, compressionOfKey(key))).toString('utf8')));
  }
  return { names, histories };
}

/** The continuous WAL range a backup can recover to along the newest timeline (or the first missing segment). */
export function backupContinuity(
  archive: ArchiveListing,
  backup: Pick<BackupInfo, 'timeline' | 'beginWal' | 'walSegmentSize'>,
): Continuity | undefined {
  if (!backup.beginWal || !backup.timeline) return undefined;
  return archiveContinuity({ ...archive, segmentSize: backup.walSegmentSize }, { timeline: backup.timeline, beginWal: backup.beginWal });
}
