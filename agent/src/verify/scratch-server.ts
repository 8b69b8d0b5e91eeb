/**
 * A throw-away PostgreSQL server on a restored data directory: recovery through this agent's `wal-fetch` from the
 * cluster's own store (read only), then promotion, on a unix socket only. Its configuration replaces the
 * restored one: the source's settings (memory, archiving, replication) must not apply in a drill pod.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClientConfig } from 'pg';
import { SUPERUSER, VerifyReplay } from '../../../lib/contract';
import { execTool } from '../common/exec';
import { agentCommand } from '../common/self-command';
import { withClient } from '../instance/sql';

export const SCRATCH_PORT = 5432;

export interface ScratchServer {
  readonly pgdata: string;
  readonly socketDir: string;
  readonly port: number;
  /** The server log (PostgreSQL's own lines about the recovery). */
  log(): string;
  stop(): Promise<void>;
}

export function writeScratchConfig(pgdata: string, socketDir: string, replay: VerifyReplay): void {
  const lines = [
    '# Written by pg-agent verify: a scratch copy, reachable on its unix socket only, archiving nothing.',
    "listen_addresses = ''",
    `port = ${SCRATCH_PORT}`,
    `unix_socket_directories = '${socketDir}'`,
    "shared_buffers = '64MB'",
    'max_connections = 20',
    "archive_mode = 'off'",
    // Not a hot standby: replay needs no settings as large as the source's (max_connections…).
    "hot_standby = 'off'",
    `restore_command = '${agentCommand('wal-fetch %f %p').replace(/'/g, "''")}'`,
    "recovery_target_timeline = 'latest'",
    ...(replay === 'backup-end' ? ["recovery_target = 'immediate'", "recovery_target_action = 'promote'"] : []),
    "logging_collector = 'off'",
    `hba_file = '${path.join(pgdata, 'pg_hba.conf')}'`,
    `ident_file = '${path.join(pgdata, 'pg_ident.conf')}'`,
    '',
  ];
  fs.writeFileSync(path.join(pgdata, 'postgresql.conf'), lines.join('\n'), { mode: 0o600 });
  fs.writeFileSync(path.join(pgdata, 'postgresql.auto.conf'), '# cleared by pg-agent verify\n', { mode: 0o600 });
  // Only this pod's processes reach the socket directory (an emptyDir of the drill pod).
  fs.writeFileSync(path.join(pgdata, 'pg_hba.conf'), 'local all all trust\n', { mode: 0o600 });
  fs.writeFileSync(path.join(pgdata, 'pg_ident.conf'), '', { mode: 0o600 });
  fs.rmSync(path.join(pgdata, 'standby.signal'), { force: true });
  fs.writeFileSync(path.join(pgdata, 'recovery.signal'), '', { mode: 0o600 });
}

/**
 * Starts the server and waits until recovery has ended and it accepts writes. pg_ctl -w returns at the consistent
 * point already (without hot standby the postmaster then reports "standby"), so the end of replay is awaited here:
 * a connection that answers `pg_is_in_recovery() = false`, or the server's exit, whose log tail is the reason.
 */
export async function startScratchServer(pgdata: string, socketDir: string, timeoutSeconds: number): Promise<ScratchServer> {
  const logFile = path.join(path.dirname(pgdata), 'postgres.log');
  const readLog = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  const server: ScratchServer = {
    pgdata,
    socketDir,
    port: SCRATCH_PORT,
    log: readLog,
    async stop() {
      await execTool('pg_ctl', ['-D', pgdata, '-m', 'immediate', '-w', 'stop'], { fix: 'The scratch server is removed with its volume.' }).catch(
        () => undefined,
      );
    },
  };
  const failed = async (e: Error) => {
    await server.stop();
    const tail = readLog()
      .trim()
      .split('\n')
      .filter(l => /FATAL|PANIC|ERROR/.test(l))
      .slice(-4)
      .join(' | ');
    return Object.assign(e, { serverLog: tail });
  };
  try {
    await execTool('pg_ctl', ['-D', pgdata, '-l', logFile, '-w', '-t', String(timeoutSeconds), 'start'], { fix: 'See the server log lines above.' });
  } catch (e) {
    throw await failed(e as Error);
  }
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    if (await promoted(socketDir)) return server;
    if (!fs.existsSync(path.join(pgdata, 'postmaster.pid'))) throw await failed(new Error('the server stopped during recovery'));
    if (Date.now() > deadline) throw await failed(new Error(`recovery did not finish within ${timeoutSeconds} s`));
    await new Promise(r => setTimeout(r, 500));
  }
}

/** The scratch server's unix socket, as its superuser (trust: only this pod reaches the socket directory). */
export function scratchConnection(server: Pick<ScratchServer, 'socketDir' | 'port'>, database = 'postgres'): ClientConfig {
  return { host: server.socketDir, port: server.port, user: SUPERUSER, database, connectionTimeoutMillis: 3000 };
}

async function promoted(socketDir: string): Promise<boolean> {
  try {
    return await withClient(
      scratchConnection({ socketDir, port: SCRATCH_PORT }),
      async c => (await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r === false,
    );
  } catch {
    return false; // "the database system is not accepting connections" while it replays
  }
}

/** What PostgreSQL said about the end of recovery: where redo stopped and the last transaction it replayed. */
export function recoveryOutcome(log: string): { redoDoneAt?: string; lastTransactionAt?: string; timeline?: number } {
  const redo = /redo done at ([0-9A-F]+\/[0-9A-F]+)/.exec(log)?.[1];
  const last = /last completed transaction was at log time (.+?)\s*$/m.exec(log)?.[1];
  const timeline = /selected new timeline ID: (\d+)/.exec(log)?.[1];
  return {
    redoDoneAt: redo,
    lastTransactionAt: last ? new Date(last.replace(' ', 'T').replace(/\+00$/, 'Z')).toISOString() : undefined,
    timeline: timeline ? Number(timeline) : undefined,
  };
}
