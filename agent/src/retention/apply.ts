/**
 * Applies retention to the store: lists the backups and the archived WAL, plans with {@link planRetention}, logs
 * the plan (one line per backup), and unless it is a dry run deletes, in this order:
 *   1. the `backup.info` of every removed backup, so each stops being a backup at once (a restore or a listing
 *      that runs meanwhile never sees half a backup as complete);
 *   2. the other objects of those backups (data tars, tablespace tars);
 *   3. the WAL that no kept backup needs (see the WAL rules in plan.ts).
 * Deletes go in batches of 1,000 keys (DeleteObjects). Right before deleting, the backups are listed again and
 * planned again with the same clock: if anything in the plan changed (a backup appeared, finished or vanished),
 * nothing is deleted and the run fails; the next run starts from the new view.
 *
 * Folders under `base/` that the catalog does not report (no `backup.info`: a backup still uploading, or the
 * leftovers of one that died) are planned as incomplete backups, whose last activity is the newest object in
 * them: kept within the grace period, removed after it (the same holds for a STARTED backup.info; a FAILED one
 * counts from its own times). Folders whose name is not a backup id are never touched. A backup.info that cannot
 * be read stops the run before anything is deleted (the catalog leaves such a backup out of its list; retention
 * must not take it for a leftover).
 */
import { RetentionSpec, isBackupInfoKey, s3Layout } from '../../../lib/contract';
import { BACKUP_ID, timeOfBackupId, type BackupInfo } from '../catalog/backup-info';
import { AgentError } from '../common/errors';
import { log as agentLog, type Logger } from '../common/log';
import type { S3Bucket } from '../s3/client';
import { deleteObjects, iteratePrefix, type ListedObject } from '../s3/objects';
import { listBackupFolders, listBackups, readBackupInfo } from '../catalog/catalog';
import type { StoreConfig } from '../store/config';
import { DEFAULT_GRACE_MS, planRetention, planRows, planWalRemoval, type KeepReason, type RetentionPlan } from './plan';
import { formatBytes } from '../common/format';
import { incrementalLayout } from '../../../lib/contract';
import { incrementalAsBackupInfo, listIncrementals } from '../incremental/catalog';

/** Lists the backups of the store's server (the catalog's `listBackups`). */
export type BackupLister = (s3: S3Bucket, store: StoreConfig) => Promise<BackupInfo[]>;

export interface ApplyOptions {
  /** The clock of the plan. @default new Date() */
  readonly now?: Date;
  /** Plan, log and report, delete nothing. @default false */
  readonly dryRun?: boolean;
  /** Incomplete backups idle for less than this are kept. @default 24 h */
  readonly graceMs?: number;
  /** How to list the backups. @default the catalog's listBackups */
  readonly listBackups?: BackupLister;
  readonly log?: Logger;
}

export interface BackupReportEntry {
  readonly backupId: string;
  readonly status: string;
  readonly beginTime: string;
  readonly endTime?: string;
  readonly action: 'keep' | 'remove';
  /** For kept backups: every rule that keeps it. */
  readonly reasons?: KeepReason[];
  /** For removed backups: why. */
  readonly why?: string;
  /** Objects under its folder, and their bytes. */
  readonly objects: number;
  readonly bytes: number;
}

export interface RetentionReport {
  readonly dryRun: boolean;
  readonly now: string;
  readonly spec: RetentionSpec;
  readonly graceMs: number;
  /** `now - recoveryWindow`, when there is a window. */
  readonly windowStart?: string;
  /** Newest first. */
  readonly backups: BackupReportEntry[];
  readonly kept: number;
  readonly removed: number;
  readonly wal: {
    /** First WAL name kept (everything at or after it stays); undefined: no WAL is removed. */
    readonly boundary?: string;
    readonly boundaryWhy: string;
    /** WAL objects in the store, and their bytes. */
    readonly objects: number;
    readonly bytes: number;
    /** WAL objects removed (or, in a dry run, that would be). */
    readonly removed: number;
    readonly removedBytes: number;
  };
  /** Objects removed in all (backups and WAL) and bytes freed; in a dry run, what a real run would remove. */
  readonly objectsRemoved: number;
  readonly bytesFreed: number;
}

/** Extensions barman-cloud and the agent give compressed WAL. */
const WAL_EXTENSIONS = /\.(gz|bz2|snappy|lz4|xz|zst)$/;

interface View {
  readonly backups: BackupInfo[];
  /** Objects of each folder under base/, by folder name. */
  readonly folders: Map<string, ListedObject[]>;
  readonly plan: RetentionPlan;
}

/** Lists, plans, logs, and (unless dryRun) deletes. Returns what it did (or would do). */
export async function applyRetention(s3: S3Bucket, store: StoreConfig, spec: RetentionSpec, options: ApplyOptions = {}): Promise<RetentionReport> {
  const log = options.log ?? agentLog;
  const now = options.now ?? new Date();
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const dryRun = options.dryRun ?? false;
  const lister = options.listBackups ?? listBackups;
  const server = { prefix: store.prefix, serverName: store.serverName };

  const view = await look(s3, store, spec, now, graceMs, lister);
  const { plan } = view;
  const wal = await listWal(s3, s3Layout.walsRoot(store.prefix, store.serverName), plan);

  const entries: BackupReportEntry[] = [];
  for (const row of planRows(plan)) {
    const b = row.backup;
    const objs = view.folders.get(b.backupId) ?? [];
    entries.push({
      backupId: b.backupId,
      status: b.status,
      beginTime: b.beginTime.toISOString(),
      endTime: b.endTime?.toISOString(),
      action: row.action,
      reasons: row.reasons,
      why: row.why,
      objects: objs.length,
      bytes: objs.reduce((n, o) => n + o.size, 0),
    });
    log.info({ ...server, backupId: b.backupId, status: b.status, action: row.action, reasons: row.reasons, why: row.why }, `retention: ${row.line}`);
  }
  const removedBackups = entries.filter(e => e.action === 'remove');
  const backupBytes = removedBackups.reduce((n, e) => n + e.bytes, 0);
  const backupObjects = removedBackups.reduce((n, e) => n + e.objects, 0);
  const report: RetentionReport = {
    dryRun,
    now: now.toISOString(),
    spec,
    graceMs,
    windowStart: plan.windowStart?.toISOString(),
    backups: entries,
    kept: plan.keep.length,
    removed: plan.remove.length,
    wal: {
      boundary: plan.walBoundary,
      boundaryWhy: plan.walBoundaryWhy,
      objects: wal.objects,
      bytes: wal.bytes,
      removed: wal.remove.length,
      removedBytes: wal.removeBytes,
    },
    objectsRemoved: backupObjects + wal.remove.length,
    bytesFreed: backupBytes + wal.removeBytes,
  };
  const summary = {
    ...server,
    dryRun,
    kept: report.kept,
    removed: report.removed,
    walBoundary: plan.walBoundary,
    walRemoved: wal.remove.length,
    objectsRemoved: report.objectsRemoved,
    bytesFreed: report.bytesFreed,
  };
  log.info(
    { ...summary, walBoundaryWhy: plan.walBoundaryWhy },
    dryRun
      ? `retention (dry run): would keep ${report.kept} backups, remove ${report.removed} and ${wal.remove.length} WAL files, freeing ${formatBytes(report.bytesFreed)}`
      : `retention: keeping ${report.kept} backups, removing ${report.removed} and ${wal.remove.length} WAL files (${formatBytes(report.bytesFreed)})`,
  );
  if (dryRun || report.objectsRemoved === 0) return report;

  // Never delete on a stale view: look again, and go on only if the plan is the same.
  const fresh = await look(s3, store, spec, now, graceMs, lister);
  const change = planChange(plan, fresh.plan);
  if (change) {
    throw new AgentError(
      `retention: the store changed while retention was planning (${change}); nothing was deleted`,
      'Nothing to do: the next retention run (after the next backup) plans again from the new state.',
      { ...server, change },
    );
  }

  const removeIds = plan.remove.map(r => r.backup.backupId);
  // Newest first (children before their parents), and the metadata first: no DONE incremental ever has a deleted parent.
  const infoKeys = removeIds.flatMap(id => [
    s3Layout.backupInfo(store.prefix, store.serverName, id),
    incrementalLayout.info(store.prefix, store.serverName, id),
  ]);
  const present = new Set(removeIds.flatMap(id => (fresh.folders.get(id) ?? []).map(o => o.key)));
  const infos = infoKeys.filter(k => present.has(k));
  if (infos.length > 0) {
    await deleteObjects(s3, infos);
    log.info({ ...server, objects: infos.length }, `retention: removed the backup.info of ${infos.length} backups (they are no longer backups)`);
  }
  const infoSet = new Set(infoKeys);
  const rest = removeIds.flatMap(id => (fresh.folders.get(id) ?? []).map(o => o.key)).filter(k => !infoSet.has(k));
  if (rest.length > 0) {
    await deleteObjects(s3, rest);
    log.info({ ...server, objects: rest.length }, `retention: removed the other ${rest.length} objects of ${removeIds.length} backups`);
  }
  if (wal.remove.length > 0) {
    await deleteObjects(s3, wal.remove);
    log.info(
      { ...server, objects: wal.remove.length, walBoundary: plan.walBoundary },
      `retention: removed ${wal.remove.length} WAL files before ${plan.walBoundary}`,
    );
  }
  log.info(summary, `retention done: ${report.removed} backups and ${wal.remove.length} WAL files removed, ${formatBytes(report.bytesFreed)} freed`);
  return report;
}

/**
 * The backups (the lister's, plus folders it did not report), their objects, and the plan. The folders are listed
 * after the backups, so a backup.info the lister did not see (written in between) is read here; one that cannot
 * be read stops the run: retention never decides about a backup it cannot read.
 */
async function look(s3: S3Bucket, store: StoreConfig, spec: RetentionSpec, now: Date, graceMs: number, lister: BackupLister): Promise<View> {
  const listed = await lister(s3, store);
  const folders = await listBackupFolders(s3, store);
  const known = new Set(listed.map(b => b.backupId));
  const backups = [...listed];
  // A backup that may still be uploading is active as long as objects keep arriving (plan ignores it for FAILED).
  const lastActivity = new Map<string, Date>();
  for (const [folder, objs] of folders) {
    const newest = Math.max(...objs.map(o => o.lastModified?.getTime() ?? 0));
    if (newest > 0) lastActivity.set(folder, new Date(newest));
    if (known.has(folder) || !BACKUP_ID.test(folder)) continue; // not a backup folder: never touched
    if (objs.some(o => isBackupInfoKey(o.key))) {
      let info: BackupInfo | undefined;
      try {
        info = await readBackupInfo(s3, store, folder);
      } catch (e) {
        throw new AgentError(
          `retention: cannot read the backup.info of backup ${folder} (${(e as Error).message}); nothing was deleted`,
          'Look at that backup.info (a newer barman version, or a damaged file). Fix or remove that backup by hand, then run retention again.',
          { prefix: store.prefix, serverName: store.serverName, backupId: folder },
        );
      }
      if (info) {
        backups.push(info);
        continue;
      }
    }
    backups.push({
      backupId: folder,
      status: 'STARTED',
      serverName: store.serverName,
      systemIdentifier: '',
      timeline: 0,
      beginTime: timeOfBackupId(folder),
      beginWal: '',
      beginLsn: '',
      pgVersion: 0,
      size: 0,
      compression: store.compression,
      error: 'no backup.info',
    });
  }
  // Incremental backups (incremental/<id>/): planned with the others, each keeping the chain it needs.
  const parents = await addIncrementals(s3, store, backups, folders, lastActivity);
  const plan = planRetention(backups, spec, now, { graceMs, lastActivity, parents });
  return { backups, folders, plan };
}

/** Streams the WAL listing; keeps in memory only the keys to remove. */
async function listWal(
  s3: S3Bucket,
  walsRoot: string,
  plan: RetentionPlan,
): Promise<{ objects: number; bytes: number; remove: string[]; removeBytes: number }> {
  let objects = 0,
    bytes = 0,
    removeBytes = 0;
  const remove: string[] = [];
  for await (const o of iteratePrefix(s3, walsRoot)) {
    objects++;
    bytes += o.size;
    const name = o.key.slice(o.key.lastIndexOf('/') + 1).replace(WAL_EXTENSIONS, '');
    if (planWalRemoval([name], plan).length === 1) {
      remove.push(o.key);
      removeBytes += o.size;
    }
  }
  return { objects, bytes, remove, removeBytes };
}

/** What differs between two plans of the same clock, or undefined when they decide the same. */
function planChange(a: RetentionPlan, b: RetentionPlan): string | undefined {
  const ids = (p: RetentionPlan, which: 'keep' | 'remove') => p[which].map(x => x.backup.backupId).sort();
  const diff = (x: string[], y: string[]) => x.filter(v => !y.includes(v));
  const appeared = diff(ids(b, 'keep').concat(ids(b, 'remove')), ids(a, 'keep').concat(ids(a, 'remove')));
  if (appeared.length > 0) return `backup ${appeared.join(', ')} appeared`;
  const vanished = diff(ids(a, 'keep').concat(ids(a, 'remove')), ids(b, 'keep').concat(ids(b, 'remove')));
  if (vanished.length > 0) return `backup ${vanished.join(', ')} vanished`;
  const nowKept = diff(ids(b, 'keep'), ids(a, 'keep'));
  if (nowKept.length > 0) return `backup ${nowKept.join(', ')} is now kept`;
  const nowRemoved = diff(ids(b, 'remove'), ids(a, 'remove'));
  if (nowRemoved.length > 0) return `backup ${nowRemoved.join(', ')} is now removed`;
  if (a.walBoundary !== b.walBoundary) return `the WAL boundary moved from ${a.walBoundary ?? 'none'} to ${b.walBoundary ?? 'none'}`;
  return undefined;
}

/**
 * Adds the incremental backups to `backups` and their objects to `folders` (ids are unique across base/ and
 * incremental/: the backup command checks both); a folder without incremental.json is an incomplete backup.
 * Returns each incremental's parent.
 */
async function addIncrementals(
  s3: S3Bucket,
  store: StoreConfig,
  backups: BackupInfo[],
  folders: Map<string, ListedObject[]>,
  lastActivity: Map<string, Date>,
): Promise<Map<string, string>> {
  const root = incrementalLayout.root(store.prefix, store.serverName);
  const objects = new Map<string, ListedObject[]>();
  for await (const o of iteratePrefix(s3, root)) {
    const id = o.key.slice(root.length).split('/')[0];
    if (!BACKUP_ID.test(id)) continue; // not a backup folder: never touched
    if (!objects.has(id)) objects.set(id, []);
    objects.get(id)!.push(o);
  }
  const parents = new Map<string, string>();
  if (objects.size === 0) return parents;
  const listed = new Map((await listIncrementals(s3, store)).map(i => [i.backupId, i]));
  for (const [id, objs] of objects) {
    folders.set(id, [...(folders.get(id) ?? []), ...objs]);
    const newest = Math.max(...objs.map(o => o.lastModified?.getTime() ?? 0));
    if (newest > 0) lastActivity.set(id, new Date(newest));
    const info = listed.get(id);
    if (info) {
      backups.push({ ...incrementalAsBackupInfo(info), status: info.status === 'DONE' ? 'DONE' : 'FAILED' });
      parents.set(id, info.parent);
    } else {
      backups.push({
        backupId: id,
        status: 'STARTED',
        serverName: store.serverName,
        systemIdentifier: '',
        timeline: 0,
        beginTime: timeOfBackupId(id),
        beginWal: '',
        beginLsn: '',
        pgVersion: 0,
        size: 0,
        compression: store.compression,
        error: 'no incremental.json',
      });
    }
  }
  return parents;
}
