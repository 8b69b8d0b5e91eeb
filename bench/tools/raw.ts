/**
 * The machine's physical limit for a base backup: plain pg_basebackup (the same options the agent gives it: tar
 * format, no WAL, fast checkpoint, same replication user over loopback) into a local directory (with its final
 * fsync, as pg_basebackup does by default) and into /dev/null (the server's side alone).
 */
import * as fs from 'fs';
import * as path from 'path';
import { REPLICATION_USER } from '../../lib/contract';
import { measure } from '../lib/proc';
import { BackupResult, Ctx, baseEnv } from './common';

export async function rawBaseBackup(ctx: Ctx, variant: string, to: 'local' | 'devnull'): Promise<BackupResult> {
  const common = ['-h', '127.0.0.1', '-p', String(ctx.src.port), '-U', REPLICATION_USER, '--no-password', '-Ft', '-X', 'none', '--checkpoint=fast'];
  const env = baseEnv(ctx, { PGPASSWORD: ctx.src.replicationPassword });
  if (to === 'devnull') {
    const fd = fs.openSync('/dev/null', 'w');
    try {
      const m = await measure('pg_basebackup', [...common, '-D', '-'], {
        env,
        user: ctx.user,
        scratchDir: ctx.work,
        stdoutFd: fd,
        timeoutMs: 30 * 60_000,
      });
      if (m.code !== 0) throw new Error(`${variant}: pg_basebackup exited ${m.code}: ${m.stderr.slice(-2000)}`);
      return { variant, ref: '-', measured: m, storedBytes: 0, storedObjects: 0 };
    } finally {
      fs.closeSync(fd);
    }
  }
  const dir = fs.mkdtempSync(path.join(ctx.work, 'raw-'));
  fs.chownSync(dir, ctx.user.uid, ctx.user.gid);
  try {
    const m = await measure('pg_basebackup', [...common, '-D', path.join(dir, 'out')], {
      env,
      user: ctx.user,
      scratchDir: ctx.work,
      timeoutMs: 30 * 60_000,
    });
    if (m.code !== 0) throw new Error(`${variant}: pg_basebackup exited ${m.code}: ${m.stderr.slice(-2000)}`);
    const bytes = fs.readdirSync(path.join(dir, 'out')).reduce((n, f) => n + fs.statSync(path.join(dir, 'out', f)).size, 0);
    return { variant, ref: '-', measured: m, storedBytes: bytes, storedObjects: fs.readdirSync(path.join(dir, 'out')).length };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
