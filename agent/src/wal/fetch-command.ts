/**
 * `pg-agent wal-fetch <name> <target>`: PostgreSQL's restore_command. A segment that an earlier call prefetched is
 * moved into place from the spool (no AWS SDK loaded: a process start and a rename); anything else is fetched from
 * the store (./fetch-remote), which also prefetches the segments that follow. The file is written next to the
 * target and renamed into place, so PostgreSQL never reads a partial file. Exit 1 only when the file is not in the
 * archive (normal at the end of recovery): a listing says so, this call's or one of less than MISSING_FRESH_MS ago
 * (the segment right after the prefetched ones, history files). Any error exits 255, so that recovery never ends
 * early on one; so does a hole: a missing segment that must exist (./missing-wal, decide/archive's walFetchAnswer).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ENV, WAL_FILE } from '../../../lib/contract';
import { log } from '../common/log';
import { answerMissing } from './missing-wal';
import { MISSING_FRESH_MS, WalSpool, storeTag } from './wal-spool';
import { SEGMENT_NAME } from '../postgres/wal';

export async function walFetchCommand(
  name: string,
  target: string,
  opts: { recoverySource?: boolean; standby?: boolean } = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (!WAL_FILE.test(name)) {
    log.error({ wal: name }, `wal-fetch: ${name} is not a WAL file name`);
    return 1;
  }
  const spool = new WalSpool(path.dirname(target), storeTag(env, !!opts.recoverySource));
  try {
    if (SEGMENT_NAME.test(name) && spool.serve(name, target)) {
      log.info({ wal: name }, 'restored WAL file (prefetched)');
      return 0;
    }
    // Absent with a later segment archived: the store decides (it may be an upload in flight, or a hole).
    if (spool.knownMissing(name) && !spool.missingLater(name)) {
      return answerMissing(name, path.dirname(target), spool, undefined, ' (listed moments ago)');
    }
  } catch (e) {
    log.warn({ wal: name, err: (e as Error).message }, 'could not use the prefetch spool; asking the store');
  }
  const failedMark = path.join(env[ENV.socketDir] ?? os.tmpdir(), '.wal-fetch-store-failed');
  if (opts.standby && failedRecently(failedMark)) {
    log.info({ wal: name }, 'not fetched: the store failed moments ago (a replica answers "not there" and keeps streaming)');
    return 1;
  }
  const { fetchFromArchive } = await import('./fetch-remote');
  const code = await fetchFromArchive(name, target, spool, opts, env);
  if (opts.standby && code === 255) {
    try {
      fs.writeFileSync(failedMark, new Date().toISOString());
    } catch {
      /* no mark: the next call asks the store again */
    }
  }
  return code;
}

/**
 * A streaming replica's restore_command that just failed on the store answers "not there" at once for a few seconds
 * (what `--standby` answers to any failure anyway) instead of loading the S3 client to fail again: a promotion asks
 * for several files, and every slow failure delays it. The mark lives in the pod's run directory (an emptyDir).
 */
function failedRecently(mark: string): boolean {
  try {
    const age = Date.now() - fs.statSync(mark).mtimeMs;
    return age >= 0 && age < MISSING_FRESH_MS;
  } catch {
    return false;
  }
}
