/**
 * The prefetch spool of `wal-fetch` (pgBackRest's archive-get queue): WAL segments fetched ahead of PostgreSQL's
 * requests, in a folder inside pg_wal (pg_basebackup never copies pg_wal's contents, PostgreSQL ignores names that
 * are not WAL). A file gets its final name only once it is complete, checked and fsynced, so a name in the spool is
 * always a whole segment as the archive holds it. The folder is named after the store it came from, so a segment
 * fetched from one store (bootstrap.recovery's source) is never handed out for another.
 *
 * The spool also remembers, for MISSING_FRESH_MS, what the last listings said is *not* in the archive: the segment
 * after the prefetched ones and the timeline history files. PostgreSQL asks for those several times at the end of
 * recovery; pgBackRest's asynchronous archive-get answers such requests from its queue the same way.
 *
 * No AWS SDK here: answering from the spool costs a process start and a file copy.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { BACKUP_ENV, RECOVERY_ENV } from '../../../lib/contract';
import { HISTORY_NAME, SEGMENT_NAME } from '../postgres/wal';

const SPOOL_PREFIX = '.pg-agent-prefetch-';
const HISTORY_LIST = '.history-list';

/** How long a "not in the archive" seen by a listing is trusted. */
export const MISSING_FRESH_MS = 10_000;

/** Identifies the store wal-fetch reads, from the variables that say where it is (never the credentials). */
export function storeTag(env: NodeJS.ProcessEnv, recoverySource: boolean): string {
  const where = recoverySource ? [RECOVERY_ENV.source] : [BACKUP_ENV.endpoint, BACKUP_ENV.bucket, BACKUP_ENV.prefix, BACKUP_ENV.serverName];
  const text = JSON.stringify([recoverySource, ...where.map(name => env[name] ?? '')]);
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

const fresh = (file: string): boolean => {
  try {
    const age = Date.now() - fs.statSync(file).mtimeMs;
    return age >= 0 && age < MISSING_FRESH_MS;
  } catch {
    return false;
  }
};

export class WalSpool {
  readonly dir: string;

  /** `walDir`: where PostgreSQL asks wal-fetch to write (the directory of %p, i.e. pg_wal). */
  constructor(walDir: string, tag: string) {
    this.dir = path.join(walDir, SPOOL_PREFIX + tag);
  }

  /**
   * Copies a spooled segment to `target` (through a temporary file and a rename), and drops the older ones. The
   * segment itself stays: at the end of recovery PostgreSQL reads the last segment again. False when not spooled.
   */
  serve(name: string, target: string): boolean {
    const tmp = path.join(path.dirname(target), `.${path.basename(target)}.fetching`);
    try {
      fs.copyFileSync(path.join(this.dir, name), tmp);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    fs.renameSync(tmp, target);
    for (const older of this.names().filter(n => n < name)) fs.rmSync(path.join(this.dir, older), { force: true });
    return true;
  }

  /**
   * Records that the listing just made shows `name` (a segment) absent from the archive, and `later`, the first
   * segment after it that the listing shows there (then `name` is a hole, not the end).
   */
  markMissing(name: string, later?: string): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(this.dir, `.${name}.missing`), JSON.stringify({ at: new Date().toISOString(), later }));
  }

  /** The segment after `name` that the listing which found `name` missing showed in the archive, if any. */
  missingLater(name: string): string | undefined {
    try {
      const later = JSON.parse(fs.readFileSync(path.join(this.dir, `.${name}.missing`), 'utf8')).later;
      return typeof later === 'string' && SEGMENT_NAME.test(later) ? later : undefined;
    } catch {
      return undefined;
    }
  }

  /** Keeps a timeline history file read from the archive (for wal-fetch's hole check; PostgreSQL's own are in pg_wal). */
  keepHistory(name: string, text: string): void {
    if (!HISTORY_NAME.test(name)) return;
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(this.dir, `.${name}`), text);
  }

  /** The history files kept by {@link keepHistory}: name -> text. */
  keptHistories(): Map<string, string> {
    const out = new Map<string, string>();
    let entries: string[];
    try {
      entries = fs.readdirSync(this.dir);
    } catch {
      return out;
    }
    for (const e of entries) {
      if (!e.startsWith('.') || !HISTORY_NAME.test(e.slice(1))) continue;
      try {
        out.set(e.slice(1), fs.readFileSync(path.join(this.dir, e), 'utf8'));
      } catch {
        // removed meanwhile
      }
    }
    return out;
  }

  /** Records the timeline history files the archive holds, as a listing just showed them. */
  recordHistoryFiles(names: string[]): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(this.dir, HISTORY_LIST), JSON.stringify(names));
  }

  /** True when a listing of less than MISSING_FRESH_MS ago showed `name` absent from the archive. */
  knownMissing(name: string): boolean {
    if (SEGMENT_NAME.test(name)) return fresh(path.join(this.dir, `.${name}.missing`));
    const list = path.join(this.dir, HISTORY_LIST);
    if (!HISTORY_NAME.test(name) || !fresh(list)) return false;
    try {
      return !(JSON.parse(fs.readFileSync(list, 'utf8')) as string[]).includes(name);
    } catch {
      return false;
    }
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

  /** Gives a complete temporary file its final name, after fsync: a crash never leaves a partial file named. */
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
}

/** Removes every store's spool in `walDir` (once recovery is over, none of them is needed). */
export function clearAllSpools(walDir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(walDir);
  } catch {
    return;
  }
  for (const e of entries) if (e.startsWith(SPOOL_PREFIX)) fs.rmSync(path.join(walDir, e), { recursive: true, force: true });
}
