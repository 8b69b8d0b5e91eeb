/**
 * The source database as the bench sees it: SQL over loopback as the superuser, the archive_status backlog, and
 * which tool's archive_command is in force (ALTER SYSTEM over the agent's postgresql.conf, RESET to give it back).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Client, ClientConfig } from 'pg';
import { sleep } from './proc';

export interface Source {
  port: number;
  pgdata: string;
  socketDir: string;
  superuserPassword: string;
  replicationPassword: string;
  database: string;
}

export function conn(src: { port: number; superuserPassword: string }, database = 'postgres'): ClientConfig {
  return { host: '127.0.0.1', port: src.port, user: 'postgres', password: src.superuserPassword, database, connectionTimeoutMillis: 5000 };
}

export async function sql<T = any>(c: ClientConfig, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client(c);
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** WAL files waiting for archive_command (archive_status/*.ready). */
export function readyCount(pgdata: string): number {
  try {
    return fs.readdirSync(path.join(pgdata, 'pg_wal', 'archive_status')).filter(f => f.endsWith('.ready')).length;
  } catch {
    return 0;
  }
}

/** The current WAL position as a byte count. */
export async function walBytes(src: Source): Promise<number> {
  const [r] = await sql(conn(src), "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS b");
  return Number(r.b);
}

export async function archiverStats(src: Source): Promise<{ archived: number; failed: number; last: string | null }> {
  const [r] = await sql(
    conn(src),
    'SELECT archived_count::int AS archived, failed_count::int AS failed, last_archived_wal AS last FROM pg_stat_archiver',
  );
  return r;
}

/** Bytes of PGDATA a base backup reads (every file but pg_wal's contents). */
export function pgdataBytes(pgdata: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== path.join(pgdata, 'pg_wal')) walk(p);
      } else if (e.isFile()) {
        try {
          bytes += fs.statSync(p).size;
          files++;
        } catch {
          /* removed meanwhile */
        }
      }
    }
  };
  walk(pgdata);
  return { bytes, files };
}

/**
 * Which archive_command PostgreSQL runs. Switching waits until the current tool has archived every finished
 * segment (its backups need them), then sets the new command with ALTER SYSTEM and reloads. `null` gives the
 * agent's own command back (RESET: its postgresql.conf value).
 */
export class ArchiveSwitch {
  current: string | undefined = 'agent';

  constructor(
    private readonly src: Source,
    private readonly commands: Record<string, string | null>,
    private readonly log: (m: string) => void,
  ) {}

  async use(name: string, opts: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.current === name) return;
    if (!(name in this.commands)) throw new Error(`no archive command named ${name}`);
    const drained = await this.waitDrained(opts.drainTimeoutMs ?? 180_000);
    if (!drained) this.log(`archive backlog of ${this.current} not drained in time (${readyCount(this.src.pgdata)} .ready); switching anyway`);
    await this.set(this.commands[name]);
    this.current = name;
  }

  /** Archives nothing (/bin/true): drops a backlog that a measurement left behind. */
  async discardBacklog(timeoutMs = 120_000): Promise<void> {
    await this.set('/bin/true');
    this.current = undefined;
    if (!(await this.waitDrained(timeoutMs))) throw new Error(`archive backlog still ${readyCount(this.src.pgdata)} after switching to /bin/true`);
  }

  async waitDrained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (readyCount(this.src.pgdata) > 0) {
      if (Date.now() > deadline) return false;
      await sleep(200);
    }
    return true;
  }

  private async set(command: string | null): Promise<void> {
    const client = new Client(conn(this.src));
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(
        command === null ? 'ALTER SYSTEM RESET archive_command' : `ALTER SYSTEM SET archive_command = ${client.escapeLiteral(command)}`,
      );
      await client.query('SELECT pg_reload_conf()');
    } finally {
      await client.end().catch(() => undefined);
    }
    // The archiver process rereads its configuration between two files; give it a moment.
    await sleep(300);
  }
}
