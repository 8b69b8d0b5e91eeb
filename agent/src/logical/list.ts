/** `pg-agent list --logical` and the logical section of `pg-agent list`: every database's dumps, oldest first. */
import { S3Bucket } from '../s3/client';
import { StoreConfig } from '../store/config';
import { listLogicalDumps } from './store';

export interface ListedLogicalBackup {
  database: string;
  backupId: string;
  /** The metadata exists: the dump is stored and verified. */
  complete: boolean;
  startTime?: string;
  endTime?: string;
  size?: number;
  sha256?: string;
  serverVersion?: number;
  owner?: string;
  key?: string;
}

export async function listLogical(s3: S3Bucket, store: StoreConfig): Promise<ListedLogicalBackup[]> {
  return (await listLogicalDumps(s3, store)).flatMap(({ database, dumps }) =>
    dumps.map(d => ({
      database,
      backupId: d.backupId,
      complete: !!d.meta,
      startTime: d.meta?.startTime,
      endTime: d.meta?.endTime,
      size: d.meta?.size,
      sha256: d.meta?.sha256,
      serverVersion: d.meta?.serverVersion,
      owner: d.meta?.owner,
      key: d.meta?.key ?? d.keys[0],
    })),
  );
}

export function formatLogicalTable(rows: ListedLogicalBackup[], formatBytes: (n: number) => string): string {
  const head = ['DATABASE', 'BACKUP ID', 'STATUS', 'END', 'SIZE', 'SHA-256'];
  const cells = rows.map(r => [
    r.database,
    r.backupId,
    r.complete ? 'DONE' : 'INCOMPLETE',
    r.endTime?.replace('T', ' ').replace(/\.\d+Z$/, 'Z') ?? '-',
    formatBytes(r.size ?? 0),
    r.sha256 ? `${r.sha256.slice(0, 16)}…` : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map(c => c[i].length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const done = rows.filter(r => r.complete).length;
  return [line(head), ...cells.map(line), `${rows.length} logical backups, ${done} complete`].join('\n') + '\n';
}
