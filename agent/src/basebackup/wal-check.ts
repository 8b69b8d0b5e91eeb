/**
 * A base backup restores only with the WAL from its start to its end. From a primary, the server itself waits
 * until the last of those segments is archived before the backup ends (pg_basebackup without `-X` lets the
 * server wait, and archive_command acks only once the segment is in S3); a standby does too, since every instance
 * archives (archive_mode=always), once the primary has finished the end segment (it fills, or archive_timeout).
 * Either way, every segment is looked for in S3 before the backup is declared DONE.
 */
import { s3Layout } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { listPrefix } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { historyFileName } from '../postgres/wal';

/** Extensions a segment may have in the archive (ours and barman-cloud's). */
const EXTENSIONS = /\.(gz|zst|lz4|bz2|xz|snappy)$/;

/** The names among `segments` (and the timeline's history file, after timeline 1) that are not archived yet. */
export async function missingWal(s3: S3Bucket, store: StoreConfig, segments: string[], timeline: number): Promise<string[]> {
  const root = s3Layout.walsRoot(store.prefix, store.serverName);
  const dirs = [...new Set(segments.map(s => s.slice(0, 16)))];
  const present = new Set<string>();
  for (const dir of dirs) {
    for (const o of await listPrefix(s3, `${root}${dir}/`)) present.add(o.key.split('/').pop()!.replace(EXTENSIONS, ''));
  }
  const missing = segments.filter(s => !present.has(s));
  if (timeline > 1) {
    const history = historyFileName(timeline);
    const found = (await listPrefix(s3, `${root}${history}`)).length > 0;
    if (!found) missing.push(history);
  }
  return missing;
}

/** Waits until every segment is archived; fails after `timeoutMs` naming what is missing. */
export async function waitForWal(
  s3: S3Bucket,
  store: StoreConfig,
  segments: string[],
  timeline: number,
  opts: { timeoutMs: number; pollMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let logged = false;
  for (;;) {
    const missing = await missingWal(s3, store, segments, timeline);
    if (missing.length === 0) {
      if (logged) log.info({ segments: segments.length }, 'the WAL of the backup is archived');
      return;
    }
    if (Date.now() >= deadline) {
      throw new AgentError(
        `the WAL the backup needs is not in the archive after ${Math.round(opts.timeoutMs / 1000)} s (missing ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}); the backup is not usable and is not marked complete`,
        'Check WAL archiving on the primary (its log, pg_stat_archiver); backups from a standby also wait for archive_timeout on the primary.',
        { missing: missing.length },
      );
    }
    if (!logged) {
      logged = true;
      log.info(
        { missing: missing.slice(0, 3), waitingUpTo: `${Math.round(opts.timeoutMs / 1000)} s` },
        'waiting for the primary to archive the WAL up to the end of the backup',
      );
    }
    await new Promise(r => setTimeout(r, opts.pollMs ?? 2000));
  }
}
