/**
 * Incremental backups in the store: `incremental/<id>/incremental.json` (written last), `manifest.json` and
 * `data.pgci[.gz|.zst|.lz4]`. The listing that the decisions and `pg-agent list` read, fulls and incrementals alike.
 */
import { Compression, incrementalLayout } from '../../../lib/contract';
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { getObjectBuffer, iteratePrefix, putObject } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { BackupInfo } from '../catalog/backup-info';
import { forEachLimit, listBackups } from '../catalog/catalog';
import { ChainLink } from '../decide/backup-chain';
import { IncrementalManifest } from './filter';

export interface IncrementalInfo {
  version: 1;
  backupId: string;
  /** DONE is complete; MISSING_DATA is what the listing says of a DONE one whose data or manifest is gone. */
  status: 'DONE' | 'FAILED' | 'MISSING_DATA';
  /** The backup whose start LSN the pages were compared with, and the full backup its chain starts from. */
  parent: string;
  full: string;
  systemIdentifier: string;
  timeline: number;
  pgVersion: number;
  beginTime: string;
  endTime: string;
  beginLsn: string;
  endLsn: string;
  beginWal: string;
  endWal: string;
  walSegmentSize: number;
  backupLabel: string;
  compression: Compression;
  /** Bytes of the source (the tar pg_basebackup sent) and of the stored data object. */
  size: number;
  dataKey: string;
  dataSize: number;
  dataSha256: string;
  manifestSize: number;
  manifestSha256: string;
  pagesSeen: number;
  pagesStored: number;
  files: number;
  writer: 'pg-agent';
  error?: string;
}

export async function readIncrementalInfo(s3: S3Bucket, store: StoreConfig, id: string): Promise<IncrementalInfo | undefined> {
  const body = await getObjectBuffer(s3, incrementalLayout.info(store.prefix, store.serverName, id));
  return body ? (JSON.parse(body.toString('utf8')) as IncrementalInfo) : undefined;
}

export async function writeIncrementalInfo(s3: S3Bucket, store: StoreConfig, info: IncrementalInfo): Promise<void> {
  await putObject(s3, incrementalLayout.info(store.prefix, store.serverName, info.backupId), Buffer.from(JSON.stringify(info, null, 1), 'utf8'), {
    contentType: 'application/json',
  });
}

export async function readManifest(s3: S3Bucket, key: string): Promise<{ manifest: IncrementalManifest; raw: Buffer } | undefined> {
  const raw = await getObjectBuffer(s3, key);
  return raw ? { manifest: JSON.parse(raw.toString('utf8')) as IncrementalManifest, raw } : undefined;
}

/** Every incremental with an incremental.json, oldest first, with the bytes stored under its folder. */
export async function listIncrementals(s3: S3Bucket, store: StoreConfig): Promise<Array<IncrementalInfo & { storedSize: number }>> {
  const root = incrementalLayout.root(store.prefix, store.serverName);
  const sizes = new Map<string, number>();
  const names = new Map<string, Set<string>>();
  for await (const o of iteratePrefix(s3, root)) {
    const [id, name] = o.key.slice(root.length).split('/');
    if (!name) continue;
    sizes.set(id, (sizes.get(id) ?? 0) + o.size);
    if (!names.has(id)) names.set(id, new Set());
    names.get(id)!.add(name);
  }
  const out: Array<IncrementalInfo & { storedSize: number }> = [];
  const withInfo = [...names.keys()].filter(id => names.get(id)!.has('incremental.json'));
  await forEachLimit(withInfo, 8, async id => {
    try {
      const info = await readIncrementalInfo(s3, store, id);
      if (!info) return;
      // A DONE incremental whose data or manifest is gone is no link of a chain: listed as MISSING_DATA.
      const here = names.get(id)!;
      const status = info.status === 'DONE' && !(here.has(info.dataKey) && here.has('manifest.json')) ? 'MISSING_DATA' : info.status;
      out.push({ ...info, status, storedSize: sizes.get(id) ?? 0 });
    } catch (e) {
      log.warn({ backupId: id, err: (e as Error).message }, 'cannot read this incremental.json; leaving the backup out of the list');
    }
  });
  return out.sort((a, b) => a.beginTime.localeCompare(b.beginTime) || a.backupId.localeCompare(b.backupId));
}

export function fullLink(b: BackupInfo): ChainLink {
  return {
    id: b.backupId,
    kind: 'full',
    status: b.status,
    beginTime: b.beginTime,
    beginLsn: b.beginLsn,
    timeline: b.timeline,
    systemIdentifier: b.systemIdentifier,
    pgVersion: b.pgVersion,
    writer: b.writer,
    listsRelationFiles: typeof b.copyStats?.relation_files_key === 'string',
  };
}

export function incrementalLink(i: IncrementalInfo): ChainLink {
  return {
    id: i.backupId,
    kind: 'incremental',
    status: i.status,
    beginTime: new Date(i.beginTime),
    beginLsn: i.beginLsn,
    timeline: i.timeline,
    systemIdentifier: i.systemIdentifier,
    pgVersion: i.pgVersion,
    writer: i.writer,
    parent: i.parent,
  };
}

/** The store's backups, full and incremental, as chain links; with the full backups' infos for the callers that need them. */
export async function listChainLinks(
  s3: S3Bucket,
  store: StoreConfig,
): Promise<{ links: ChainLink[]; fulls: BackupInfo[]; incrementals: IncrementalInfo[] }> {
  const [fulls, incrementals] = await Promise.all([listBackups(s3, store), listIncrementals(s3, store)]);
  return { links: [...fulls.map(fullLink), ...incrementals.map(incrementalLink)], fulls, incrementals };
}

/** Metadata of an incremental in the shape the restore's callers read (BackupInfo). */
export function incrementalAsBackupInfo(i: IncrementalInfo): BackupInfo {
  return {
    backupId: i.backupId,
    status: i.status === 'DONE' ? 'DONE' : 'FAILED',
    serverName: '',
    systemIdentifier: i.systemIdentifier,
    timeline: i.timeline,
    beginTime: new Date(i.beginTime),
    endTime: new Date(i.endTime),
    beginWal: i.beginWal,
    endWal: i.endWal,
    beginLsn: i.beginLsn,
    endLsn: i.endLsn,
    pgVersion: i.pgVersion,
    size: i.size,
    compression: i.compression,
    backupLabel: i.backupLabel,
    writer: 'pg-agent',
    walSegmentSize: i.walSegmentSize,
  };
}

/**
 * Every backup a restore can start from, oldest first: the full ones (listBackups: ours and barman-cloud's) and the
 * incrementals, as BackupInfo (an incremental restores its chain: restoreBaseBackup takes either id).
 */
export async function listRestorableBackups(s3: S3Bucket, store: StoreConfig): Promise<BackupInfo[]> {
  const [fulls, incrementals] = await Promise.all([listBackups(s3, store), listIncrementals(s3, store)]);
  return [...fulls, ...incrementals.map(i => ({ ...incrementalAsBackupInfo(i), storedSize: i.storedSize }))].sort(
    (a, b) => a.beginTime.getTime() - b.beginTime.getTime() || (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0),
  );
}
