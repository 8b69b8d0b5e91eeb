/**
 * Turning a former primary into a replica of the new one: pg_rewind when its history diverged, a fresh clone
 * when rewinding is impossible. Never starts the old data as a second primary.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SUPERUSER } from '../../../lib/contract';
import { execTool } from '../common/exec';
import { log } from '../common/log';
import { writePassfile } from '../common/passfile';
import { clone } from './bootstrap';
import { InstanceConfig } from './config';

function superuserPassfile(cfg: InstanceConfig): string {
  return writePassfile(path.join(cfg.socketDir, '.pgpass-superuser'), { user: SUPERUSER, password: cfg.superuserPassword });
}

/** Rewinds PGDATA (postgres must be stopped) onto the primary's history; falls back to a fresh clone. */
export async function rejoinAsReplica(cfg: InstanceConfig): Promise<'rewound' | 'cloned'> {
  const passfile = superuserPassfile(cfg);
  const source = `host=${cfg.primary.host} port=${cfg.primary.port} user=${SUPERUSER} dbname=postgres passfile=${passfile} connect_timeout=5`;
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      const r = await execTool('pg_rewind', ['--target-pgdata', cfg.pgdata, '--source-server', source, '--progress'], {
        env: { PGPASSFILE: passfile }, fix: 'A fresh clone follows.',
      });
      log.info({ output: r.stderr.trim().split('\n').slice(-2).join(' | ') }, 'rewound the former primary onto the new primary\'s history');
      return 'rewound';
    } catch (e) {
      const message = (e as Error).message;
      log.warn({ attempt, err: message }, 'pg_rewind failed');
      // The new primary may still be coming up: retry a few times, and never give the data up merely because the
      // primary cannot be reached (a clone could not reach it either); the caller retries later.
      if (/could not connect|Connection refused|timeout expired|server closed the connection|shutting down|starting up/i.test(message)) {
        if (attempt < 5) {
          await new Promise(r => setTimeout(r, 2000));
          continue;
        }
        throw new Error(`the new primary cannot be reached for pg_rewind: ${message}`);
      }
      break;
    }
  }
  log.warn({ pgdata: cfg.pgdata }, 'cannot rewind; replacing this instance\'s data with a fresh clone of the primary');
  for (const entry of fs.readdirSync(cfg.pgdata)) fs.rmSync(path.join(cfg.pgdata, entry), { recursive: true, force: true });
  await clone(cfg);
  return 'cloned';
}
