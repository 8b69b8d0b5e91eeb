/**
 * `pg-agent wal-fetch <name> <target>`: PostgreSQL's restore_command. A segment that an earlier call prefetched is
 * moved into place from the spool (no AWS SDK loaded: a process start and a rename); anything else is fetched from
 * the store (./fetch-remote), which also prefetches the segments that follow. The file is written next to the
 * target and renamed into place, so PostgreSQL never reads a partial file. Exit 1 only when the file is not in the
 * archive (normal at the end of recovery): a listing says so, this call's or, for the segment right after the
 * prefetched ones, the prefetch's of less than MISSING_FRESH_MS ago. Any error exits 255, so that recovery never
 * ends early on one.
 */
import * as path from 'path';
import { WAL_FILE } from '../../../lib/contract';
import { log } from '../common/log';
import { SEGMENT, WalSpool, storeTag } from './wal-spool';

export async function walFetchCommand(name: string, target: string, opts: { recoverySource?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (!WAL_FILE.test(name)) {
    log.error({ wal: name }, `wal-fetch: ${name} is not a WAL file name`);
    return 1;
  }
  const spool = new WalSpool(path.dirname(target), storeTag(env, !!opts.recoverySource));
  try {
    if (SEGMENT.test(name) && spool.take(name, target)) {
      log.info({ wal: name }, 'restored WAL file (prefetched)');
      return 0;
    }
    if (SEGMENT.test(name) && spool.takeMissing(name)) {
      spool.clearAll();
      log.info({ wal: name }, 'WAL file not in the archive (listed by the prefetch moments ago)');
      return 1;
    }
  } catch (e) {
    log.warn({ wal: name, err: (e as Error).message }, 'could not use the prefetched WAL file; fetching it from the store');
  }
  const { fetchFromArchive } = await import('./fetch-remote');
  return fetchFromArchive(name, target, spool, opts, env);
}
