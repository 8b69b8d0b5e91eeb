/**
 * The prefetch spool of `wal-fetch` (pgBackRest's archive-get queue): WAL segments fetched ahead of PostgreSQL's
 * requests, in a folder inside pg_wal (pg_basebackup never copies pg_wal's contents, PostgreSQL ignores names that
 * are not WAL). A file gets its final name only once it is complete, checked and fsynced, so a name in the spool is
 * always a whole segment as the archive holds it. The folder is named after the store it came from, so a segment
 * fetched from one store (bootstrap.recovery's source) is never handed out for another.
 *
 * No AWS SDK here: serving a segment from the spool costs a process start and a rename.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { BACKUP_ENV, RECOVERY_ENV } from '../../../lib/contract';

const SPOOL_PREFIX = '.pg-agent-prefetch-';

/** How long a "not in the archive" seen by the prefetch is trusted. */
export const MISSING_FRESH_MS = 10_000;

/** A plain WAL segment name (timeline, log, segment): the files PostgreSQL asks for in sequence. */
export const SEGMENT = /^[0-9A-F]{24}$/;

/** Identifies the store wal-fetch reads, from the variables that say where it is (never the credentials). */
export function storeTag(env: NodeJS.ProcessEnv, recoverySource: boolean): string {
  const where = recoverySource
    ? [RECOVERY_ENV.source]
    : [BACKUP_ENV.endpoint, BACKUP_ENV.bucket, BACKUP_ENV.prefix, BACKUP_ENV.serverName];
  const text = JSON.stringify([recoverySource, ...where.map(name => env[name] ?? '')]);
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

export class WalSpool {
  readonly dir: string;

  /** `walDir`: where PostgreSQL asks wal-fetch to write (the directory of %p, i.e. pg_wal). */
  constructor(private readonly walDir: string, tag: string) {
    this.dir = path.join(walDir, SPOOL_PREFIX + tag);
  }

  /** Moves a spooled segment to `target` (one rename, same file system); false when it is not in the spool. */
  take(name: string, target: string): boolean {
    try {
      fs.renameSync(path.join(this.dir, name), target);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /**
   * Records that the archive did not have `name` when the prefetch listed it (the end of the archive, as it was).
   * pgBackRest's asynchronous archive-get answers "not found" the same way; here the answer is used once, and only
   * while it is fresh, so a segment archived since is found by a real lookup.
   */
  markMissing(name: string): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(this.dir, `.${name}.missing`), new Date().toISOString());
  }

  /** True (once) when {@link markMissing} recorded `name` less than `maxAgeMs` ago. */
  takeMissing(name: string, maxAgeMs = MISSING_FRESH_MS): boolean {
    const marker = path.join(this.dir, `.${name}.missing`);
    let age: number;
    try {
      age = Date.now() - fs.statSync(marker).mtimeMs;
    } catch {
      return false;
    }
    fs.rmSync(marker, { force: true });
    return age >= 0 && age < maxAgeMs;
  }

  /** Names in the spool (complete files only). */
  names(): string[] {
    try {
      return fs.readdirSync(this.dir).filter(n => !n.startsWith('.'));
    } catch {
      return [];
    }
  }

  /** A temporary path in the spool for `name`, to be {@link commit}ted once complete. */
  tempPath(name: string): string {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return path.join(this.dir, `.${name}.part`);
  }

  /** Gives a complete, fsynced temporary file its final name. */
  commit(tmp: string, name: string): void {
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(this.dir, name));
  }

  /** Empties this store's spool. */
  clear(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Removes every store's spool in pg_wal (at the end of the archive, recovery needs none of them). */
  clearAll(): void {
    let entries: string[];
    try {
      entries = fs.readdirSync(this.walDir);
    } catch {
      return;
    }
    for (const e of entries) if (e.startsWith(SPOOL_PREFIX)) fs.rmSync(path.join(this.walDir, e), { recursive: true, force: true });
  }
}
