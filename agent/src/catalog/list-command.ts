/**
 * `pg-agent list [--json]`: the backups of the cluster's folder in the store (ours and barman-cloud's), oldest
 * first, as a table on stdout or one JSON array. Only DONE backups are complete; the others are listed with
 * their status so a running, killed or failed backup is visible but never mistaken for a usable one.
 *
 * Per complete backup, like pgBackRest's `info`: the continuous WAL range in the archive from the backup's first
 * segment along the newest timeline descending from it (what a restore to `latest` replays), or the first missing
 * segment (a gap: a restore from it stops there). Exit 0 either way; the gap is flagged in the table and the JSON.
 */
import { createS3Client } from '../s3/client';
import { StoreConfig, readStoreConfig } from '../store/config';
import { log } from '../common/log';
import { ArchiveListing, backupContinuity, readArchiveContents } from './archive-contents';
import { BackupInfo } from './backup-info';
import { listBackups } from './catalog';
import { formatLogicalTable, listLogical } from '../logical/list';
import { formatBytes } from '../common/format';
import { incrementalAsBackupInfo, listIncrementals } from '../incremental/catalog';

/** The WAL a backup can recover to: a continuous range, or the first missing segment (a gap). */
export interface ListedWalRange {
  continuous: boolean;
  /** The newest timeline descending from the backup's. */
  timeline: number;
  from: string;
  /** The last segment of the continuous part. */
  to?: string;
  /** The first missing segment (a gap), and the last segment recovery would need beyond it. */
  missing?: string;
  end?: string;
}

export interface ListedBackup {
  backupId: string;
  status: string;
  complete: boolean;
  beginTime: string;
  endTime?: string;
  beginLsn: string;
  endLsn?: string;
  beginWal: string;
  endWal?: string;
  timeline: number;
  /** Bytes of PGDATA (0 when the writer did not say: barman-cloud). */
  size: number;
  storedSize: number;
  /** size / storedSize, when both are known. */
  ratio?: number;
  compression: string;
  writer?: string;
  systemIdentifier: string;
  pgVersion: number;
  error?: string;
  /** Complete backups: the WAL range the archive holds for it. */
  wal?: ListedWalRange;
  /** Incremental backups only (full ones have neither): their kind and the backup they build on. */
  kind?: 'incremental';
  parent?: string;
}

export function toListed(b: BackupInfo, archive?: ArchiveListing): ListedBackup {
  const stored = b.storedSize ?? 0;
  return {
    backupId: b.backupId,
    status: b.status,
    complete: b.status === 'DONE',
    beginTime: b.beginTime.toISOString(),
    endTime: b.endTime?.toISOString(),
    beginLsn: b.beginLsn,
    endLsn: b.endLsn,
    beginWal: b.beginWal,
    endWal: b.endWal,
    timeline: b.timeline,
    size: b.size,
    storedSize: stored,
    ratio: b.size && stored ? Number((b.size / stored).toFixed(2)) : undefined,
    compression: b.compression,
    writer: b.writer,
    systemIdentifier: b.systemIdentifier,
    pgVersion: b.pgVersion,
    error: b.error,
    wal: archive && b.status === 'DONE' ? walRange(archive, b) : undefined,
  };
}

function walRange(archive: ArchiveListing, b: BackupInfo): ListedWalRange | undefined {
  const c = backupContinuity(archive, b);
  if (!c) return undefined;
  return c.continuous
    ? { continuous: true, timeline: c.timeline, from: c.from, to: c.to }
    : { continuous: false, timeline: c.timeline, from: c.from, to: c.to, missing: c.missing, end: c.end };
}

export async function listCommand(opts: { json?: boolean; logical?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const store = readStoreConfig(env);
  const s3 = createS3Client(store.s3);
  try {
    // Logical backups (per-database dumps, issue 18): on their own with --logical, else a second table after the base backups.
    // (`list --json` stays the base backups' array, as before.)
    const logical = opts.logical || !opts.json ? await listLogical(s3, store) : [];
    if (opts.logical) {
      process.stdout.write(opts.json ? `${JSON.stringify(logical, null, 2)}\n` : formatLogicalTable(logical, formatBytes));
      return 0;
    }
    const archive = await readArchiveContents(s3, store);
    const incrementals = (await listIncrementals(s3, store)).map(i => ({
      ...toListed({ ...incrementalAsBackupInfo(i), storedSize: i.storedSize }, archive),
      status: i.status,
      kind: 'incremental' as const,
      parent: i.parent,
    }));
    const backups = [...(await listBackups(s3, store)).map(b => toListed(b, archive)), ...incrementals].sort(
      (a, b) => a.beginTime.localeCompare(b.beginTime) || a.backupId.localeCompare(b.backupId),
    );
    for (const b of backups.filter(x => x.wal && !x.wal.continuous)) {
      log.warn(
        { backupId: b.backupId, missing: b.wal!.missing, fix: 'See `pg-agent verify`; the backups after the gap restore past it.' },
        `backup ${b.backupId}: WAL file ${b.wal!.missing} is missing from the archive; a restore from it stops at ${b.wal!.to ?? 'its start'}, before ${b.wal!.end}`,
      );
    }
    process.stdout.write(opts.json ? `${JSON.stringify(backups, null, 2)}\n` : formatTable(backups, store));
    if (!opts.json && logical.length > 0) process.stdout.write(`\n${formatLogicalTable(logical, formatBytes)}`);
    return 0;
  } finally {
    s3.destroy();
  }
}

const time = (iso?: string) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

/** A size in the table: `-` when unknown (0). */
const sizeOrDash = (n: number) => (n ? formatBytes(n) : '-');

export function formatTable(rows: ListedBackup[], store: StoreConfig): string {
  const head = [
    'BACKUP ID',
    'STATUS',
    'START',
    'END',
    'BEGIN LSN',
    'END LSN',
    'TL',
    'SIZE',
    'STORED',
    'RATIO',
    'COMPRESSION',
    'WRITER',
    'WAL (RECOVERABLE TO)',
  ];
  // The KIND column only when the store holds incrementals: the table of a store without any stays as it was.
  const incremental = rows.some(r => r.kind === 'incremental');
  if (incremental) head.splice(12, 0, 'KIND');
  const cells = rows.map(r => [
    r.backupId,
    r.status,
    time(r.beginTime),
    time(r.endTime),
    r.beginLsn || '-',
    r.endLsn ?? '-',
    String(r.timeline || '-'),
    sizeOrDash(r.size),
    sizeOrDash(r.storedSize),
    r.ratio ? `${r.ratio.toFixed(2)}x` : '-',
    r.compression,
    r.writer ?? '-',
    !r.wal
      ? '-'
      : r.wal.continuous
        ? `${r.wal.from}..${r.wal.to} (TL ${r.wal.timeline})`
        : `GAP: ${r.wal.missing} missing (continuous to ${r.wal.to ?? '-'})`,
  ]);
  if (incremental) cells.forEach((c, i) => c.splice(12, 0, rows[i].kind === 'incremental' ? `incr of ${rows[i].parent}` : 'full'));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map(c => c[i].length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const where = `s3://${store.s3.bucket}/${store.prefix}${store.serverName}/`;
  const done = rows.filter(r => r.complete).length;
  const footer = `${rows.length} backups in ${where}, ${done} complete (DONE)${rows.length > done ? '; the others are running, killed or failed and cannot be restored' : ''}`;
  const gaps = rows
    .filter(r => r.wal && !r.wal.continuous)
    .map(
      r =>
        `GAP: backup ${r.backupId} recovers only to ${r.wal!.to ?? 'nothing past its start'}: WAL file ${r.wal!.missing} is missing from the archive (the archive goes on to ${r.wal!.end})`,
    );
  return [line(head), ...cells.map(line), footer, ...gaps].join('\n') + '\n';
}
