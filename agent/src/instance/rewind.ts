/**
 * Turning a former primary into a replica of the new one. pg_rewind first, reading WAL it no longer has on the
 * volume from the archive (--restore-target-wal); a fresh clone only when the decision module says the histories
 * cannot be rewound, and then into a side directory that replaces the data only once complete. Every other failure
 * keeps the data and is reported (RejoinBlocked) for the instance loop to wait on.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SUPERUSER } from '../../../lib/contract';
import { execTool } from '../common/exec';
import { log } from '../common/log';
import { writePassfile } from '../common/passfile';
import { Invariant, classifyRewindFailure, decideCloneAside } from '../decide';
import { cloneIntoPartial, clearPartial, swapInClone } from './bootstrap';
import { InstanceConfig } from './config';
import { writeConfigFiles } from './config-files';
import { freeBytes } from './pgdata';
import { primaryTlsConninfo } from './tls';

/** The rejoin cannot go on without someone's help; nothing was deleted. */
export class RejoinBlocked extends Error {
  constructor(
    readonly why: string,
    readonly fix: string,
    readonly invariant: Invariant,
    readonly detail: string,
  ) {
    super(`${why}: ${detail}`);
  }
}

function superuserPassfile(cfg: InstanceConfig): string {
  return writePassfile(path.join(cfg.socketDir, '.pgpass-superuser'), { user: SUPERUSER, password: cfg.credentials.superuser });
}

/** Bytes under `dir` (du), for the space a clone of the same data needs. */
export function directoryBytes(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += fs.statSync(p).size;
    }
  };
  walk(dir);
  return total;
}

/** Rewinds PGDATA (postgres must be stopped) onto the primary's history; a clone aside when it cannot be rewound. */
export async function rejoinAsReplica(cfg: InstanceConfig): Promise<'rewound' | 'cloned'> {
  const passfile = superuserPassfile(cfg);
  const source = `host=${cfg.primary.host} port=${cfg.primary.port} user=${SUPERUSER} dbname=postgres passfile=${passfile} connect_timeout=5 ${primaryTlsConninfo(cfg).join(' ')}`;
  // The replica's configuration carries the restore_command that --restore-target-wal runs (wal-fetch from the store).
  writeConfigFiles(cfg, 'replica');
  // …but no standby.signal yet: pg_rewind finishes an interrupted shutdown in single-user mode, which refuses standby mode.
  fs.rmSync(path.join(cfg.pgdata, 'standby.signal'), { force: true });
  const args = ['--target-pgdata', cfg.pgdata, '--source-server', source, '--progress', ...(cfg.archiving ? ['--restore-target-wal'] : [])];
  let diverged = '';
  for (let attempt = 1; attempt <= 5 && !diverged; attempt++) {
    try {
      const r = await execTool('pg_rewind', args, { env: { PGPASSFILE: passfile }, fix: 'See the rejoin decision that follows.' });
      log.info({ output: r.stderr.trim().split('\n').slice(-2).join(' | ') }, "rewound the former primary onto the new primary's history");
      return 'rewound';
    } catch (e) {
      const message = (e as Error).message;
      const failure = classifyRewindFailure(message);
      log.warn({ attempt, err: message, kind: failure.kind }, 'pg_rewind failed');
      if (failure.kind === 'unreachable') {
        // The new primary may still be coming up. Its data is never given up for that: the caller retries later.
        if (attempt < 5) {
          await new Promise(r => setTimeout(r, 2000));
          continue;
        }
        throw new Error(`the new primary cannot be reached for pg_rewind: ${message}`, { cause: e });
      }
      if (failure.kind === 'blocked') throw new RejoinBlocked(failure.why, failure.fix, failure.invariant, message);
      diverged = `${failure.why}: ${message}`;
    }
  }
  const space = decideCloneAside({ freeBytes: freeBytes(path.dirname(cfg.pgdata)), neededBytes: directoryBytes(cfg.pgdata) });
  if (space.action === 'wait') throw new RejoinBlocked(space.why, space.fix, space.invariant, diverged);
  log.warn(
    { pgdata: cfg.pgdata, reason: diverged, space: space.why },
    'cannot rewind: cloning the primary beside the current data, which is replaced only once the clone is complete',
  );
  try {
    await cloneIntoPartial(cfg, { deadlineMs: 2 * 60 * 1000 });
  } catch (e) {
    clearPartial(cfg);
    throw e;
  }
  swapInClone(cfg, 'pg_basebackup after a failed rewind');
  return 'cloned';
}
