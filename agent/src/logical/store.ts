/** The logical dumps in the store: `<server>/logical/<db>/<id>.dump` and, written last, `<id>.json`. */
import { LOGICAL_FORMAT, LogicalBackupMeta, logicalLayout } from '../../../lib/contract';
import type { StoredDump } from '../decide/logical';
import { S3Bucket } from '../s3/client';
import { getObjectBuffer, listPrefix } from '../s3/objects';
import { StoreConfig } from '../store/config';

const NAME = /^(\d{8}T\d{6})\.(dump|json)$/;

export interface DatabaseDumps {
  readonly database: string;
  /** Oldest first. */
  readonly dumps: StoredDump[];
}

/** Every database folder under `logical/` and its dumps (metadata read and checked). */
export async function listLogicalDumps(s3: S3Bucket, store: StoreConfig, onlyDatabase?: string): Promise<DatabaseDumps[]> {
  const root = logicalLayout.root(store.prefix, store.serverName);
  const objects = await listPrefix(s3, onlyDatabase ? logicalLayout.databaseRoot(store.prefix, store.serverName, onlyDatabase) : root);
  const byDb = new Map<string, Map<string, { keys: string[]; lastModified?: Date; metaKey?: string }>>();
  for (const o of objects) {
    const rest = o.key.slice(root.length).split('/');
    if (rest.length !== 2) continue;
    const m = NAME.exec(rest[1]);
    if (!m) continue;
    const dumps = byDb.get(rest[0]) ?? new Map();
    byDb.set(rest[0], dumps);
    const d = dumps.get(m[1]) ?? { keys: [] };
    dumps.set(m[1], d);
    d.keys.push(o.key);
    if (o.lastModified && (!d.lastModified || o.lastModified > d.lastModified)) d.lastModified = o.lastModified;
    if (m[2] === 'json') d.metaKey = o.key;
  }
  const out: DatabaseDumps[] = [];
  for (const [database, dumps] of [...byDb].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const list: StoredDump[] = [];
    for (const [backupId, d] of [...dumps].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const meta = d.metaKey ? parseMeta(await getObjectBuffer(s3, d.metaKey)) : undefined;
      list.push({ backupId, keys: d.keys.sort(), lastModified: d.lastModified, meta });
    }
    out.push({ database, dumps: list });
  }
  return out;
}

function parseMeta(buf: Buffer | undefined): LogicalBackupMeta | undefined {
  if (!buf) return undefined;
  try {
    const m = JSON.parse(buf.toString('utf8')) as LogicalBackupMeta;
    return m.format === LOGICAL_FORMAT && typeof m.sha256 === 'string' && typeof m.key === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}
