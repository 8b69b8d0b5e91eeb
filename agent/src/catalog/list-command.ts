/**
 * `pg-agent list [--json]`: the backups of the cluster's folder in the store (ours and barman-cloud's), oldest
 * first, as a table on stdout or one JSON array. Only DONE backups are complete; the others are listed with
 * their status so a running, killed or failed backup is visible but never mistaken for a usable one.
 */
import { createS3Client } from '../s3/client';
import { StoreConfig, readStoreConfig } from '../store/config';
import { BackupInfo } from './backup-info';
import { listBackups } from './catalog';

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
}

export function toListed(b: BackupInfo): ListedBackup {
  const stored = b.storedSize ?? 0;
  return {
    backupId: b.backupId, status: b.status, complete: b.status === 'DONE',
    beginTime: b.beginTime.toISOString(), endTime: b.endTime?.toISOString(),
    beginLsn: b.beginLsn, endLsn: b.endLsn, beginWal: b.beginWal, endWal: b.endWal, timeline: b.timeline,
    size: b.size, storedSize: stored, ratio: b.size && stored ? Number((b.size / stored).toFixed(2)) : undefined,
    compression: b.compression, writer: b.writer, systemIdentifier: b.systemIdentifier, pgVersion: b.pgVersion, error: b.error,
  };
}

export async function listCommand(opts: { json?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const store = readStoreConfig(env);
  const s3 = createS3Client(store.s3);
  try {
    const backups = (await listBackups(s3, store)).map(toListed);
    process.stdout.write(opts.json ? `${JSON.stringify(backups, null, 2)}\n` : formatTable(backups, store));
    return 0;
  } finally {
    s3.destroy();
  }
}

const time = (iso?: string) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

export function formatBytes(n: number): string {
  if (!n) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatTable(rows: ListedBackup[], store: StoreConfig): string {
  const head = ['BACKUP ID', 'STATUS', 'START', 'END', 'BEGIN LSN', 'END LSN', 'TL', 'SIZE', 'STORED', 'RATIO', 'COMPRESSION', 'WRITER'];
  const cells = rows.map(r => [
    r.backupId, r.status, time(r.beginTime), time(r.endTime), r.beginLsn || '-', r.endLsn ?? '-', String(r.timeline || '-'),
    formatBytes(r.size), formatBytes(r.storedSize), r.ratio ? `${r.ratio.toFixed(2)}x` : '-', r.compression, r.writer ?? '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map(c => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  const where = `s3://${store.s3.bucket}/${store.prefix}${store.serverName}/`;
  const done = rows.filter(r => r.complete).length;
  const footer = `${rows.length} backups in ${where}, ${done} complete (DONE)${rows.length > done ? '; the others are running, killed or failed and cannot be restored' : ''}`;
  return [line(head), ...cells.map(line), footer].join('\n') + '\n';
}
