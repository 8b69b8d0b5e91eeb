/**
 * `pg-agent wal-fetch <name> <target>`: PostgreSQL's restore_command. A segment that an earlier call prefetched is
 * moved into place from the spool (a process start and a rename). Anything else is asked of the instance's agent
 * over its unix socket (./fetch-server: it has the S3 client loaded already, so no process loads the AWS SDK per
 * file), or, where no agent listens (a restore drill's scratch server, a person's shell), fetched from the store by
 * this process (./fetch-remote), which also prefetches the segments that follow. The file is written next to the
 * target and renamed into place, so PostgreSQL never reads a partial file. Exit 1 only when the file is not in the
 * archive (normal at the end of recovery): a listing says so, this call's or one of less than MISSING_FRESH_MS ago
 * (the segment right after the prefetched ones, history files). Any error exits 255, so that recovery never ends
 * early on one; so does a hole: a missing segment that must exist (./missing-wal, decide/archive's walFetchAnswer).
 */
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { ENV, WAL_FILE } from '../../../lib/contract';
import { log } from '../common/log';
import { answerMissing } from './missing-wal';
import { MISSING_FRESH_MS, SEGMENT, WalSpool, storeTag } from './wal-spool';

export interface WalFetchOptions {
  recoverySource?: boolean;
  standby?: boolean;
}

export async function walFetchCommand(
  name: string,
  target: string,
  opts: WalFetchOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (!WAL_FILE.test(name)) {
    log.error({ wal: name }, `wal-fetch: ${name} is not a WAL file name`);
    return 1;
  }
  const fromSpool = answerFromSpool(name, target, opts, env);
  if (fromSpool !== undefined) return fromSpool;
  const failedMark = path.join(env[ENV.socketDir] ?? os.tmpdir(), '.wal-fetch-store-failed');
  if (opts.standby && failedRecently(failedMark)) {
    log.info({ wal: name }, 'not fetched: the store failed moments ago (a replica answers "not there" and keeps streaming)');
    return 1;
  }
  // %p is relative to PGDATA (PostgreSQL's working directory): the agent needs the whole path.
  const viaAgent = env[ENV.socketDir] ? await askInstanceAgent(fetchSocketPath(env[ENV.socketDir]!), name, path.resolve(target), opts) : undefined;
  if (viaAgent !== undefined) log.info({ wal: name, code: viaAgent }, 'answered by the instance agent');
  const code = viaAgent ?? (await fetchWithStore(name, target, opts, env));
  if (opts.standby && code === 255) {
    try {
      fs.writeFileSync(failedMark, new Date().toISOString());
    } catch {
      /* no mark: the next call asks the store again */
    }
  }
  return code;
}

/** The spool's answer for `name` (served, or known missing moments ago), or undefined when the store must be asked. */
export function answerFromSpool(name: string, target: string, opts: WalFetchOptions, env: NodeJS.ProcessEnv): number | undefined {
  const spool = new WalSpool(path.dirname(target), storeTag(env, !!opts.recoverySource));
  try {
    if (SEGMENT.test(name) && spool.serve(name, target)) {
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
  return undefined;
}

/** Asks the store (loads the S3 client): the instance's agent does this for wal-fetch, or wal-fetch itself. */
export async function fetchWithStore(name: string, target: string, opts: WalFetchOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const spool = new WalSpool(path.dirname(target), storeTag(env, !!opts.recoverySource));
  const { fetchFromArchive } = await import('./fetch-remote');
  return fetchFromArchive(name, target, spool, opts, env);
}

/** The instance agent's wal-fetch socket, on the socket emptyDir beside the archiver's. */
export function fetchSocketPath(socketDir: string): string {
  return path.join(socketDir, '.pg-agent-fetch.sock');
}

/** A fetch can wait for the store's retries and its rechecks of an upload in flight; the agent answers within this. */
const AGENT_ANSWER_MS = 10 * 60 * 1000;

/**
 * The instance agent's answer (an exit code), or undefined when no agent listens (no socket, refused) or it could
 * not answer: then this process fetches by itself, as before the socket existed.
 */
export function askInstanceAgent(socket: string, name: string, target: string, opts: WalFetchOptions): Promise<number | undefined> {
  return new Promise(resolve => {
    const conn = net.connect(socket);
    let reply = '';
    let settled = false;
    const done = (code: number | undefined) => {
      if (settled) return;
      settled = true;
      conn.destroy();
      resolve(code);
    };
    conn.setTimeout(AGENT_ANSWER_MS, () => done(undefined));
    conn.on('connect', () => conn.write(JSON.stringify({ name, target, recoverySource: !!opts.recoverySource }) + '\n'));
    conn.on('data', d => {
      reply += d.toString();
    });
    conn.on('error', () => done(undefined));
    conn.on('end', () => {
      try {
        const code = JSON.parse(reply).code;
        done(typeof code === 'number' ? code : undefined);
      } catch {
        done(undefined);
      }
    });
  });
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
