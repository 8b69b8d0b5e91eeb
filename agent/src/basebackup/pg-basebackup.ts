/**
 * pg_basebackup as a stream: one tar of PGDATA on stdout (`-D - -Ft`), no WAL (`-X none`: the archive has it),
 * over the replication protocol. Its stdout ends before its exit code is known, so the stream handed out ends
 * only after a zero exit: a failed pg_basebackup turns into a stream error, which aborts the upload, and a
 * truncated tar is never stored as if whole. stderr gives progress (`-P`) and the WAL positions (`-v`).
 */
import { ChildProcess, spawn } from 'child_process';
import { PassThrough, Readable } from 'stream';
import { REPLICATION_USER } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';

export interface BaseBackupSource {
  host: string;
  port: number;
}

export interface RunningBaseBackup {
  /** The tar; fails if pg_basebackup does. */
  readonly tar: Readable;
  /** pg_basebackup's own estimate of the bytes to send (updated with progress), 0 until known. */
  estimatedBytes(): number;
  /** Resolves with what pg_basebackup reported once it exited 0; rejects otherwise. */
  readonly done: Promise<Reported>;
  /** Stops pg_basebackup (the stream then fails). */
  kill(signal?: NodeJS.Signals): void;
}

/** What pg_basebackup and the server said on stderr. */
export interface Reported {
  startLsn?: string;
  startTimeline?: number;
  endLsn?: string;
  /**
   * The server's word on WAL archiving at the end of the backup: `waited` when it held the backup until the last
   * segment was archived ("all required WAL segments have been archived"; a standby too, with archive_mode=always),
   * `not-waited` when it could not ("WAL archiving is not enabled": a standby of an older agent, archive_mode=on).
   */
  archiving?: 'waited' | 'not-waited';
}

export function startBaseBackup(source: BaseBackupSource, password: string, label: string): RunningBaseBackup {
  const args = [
    '-h',
    source.host,
    '-p',
    String(source.port),
    '-U',
    REPLICATION_USER,
    '--no-password',
    '-D',
    '-',
    '-Ft',
    '-X',
    'none',
    '--checkpoint=fast',
    '--no-sync',
    '-l',
    label,
    '-P',
    '-v',
  ];
  const child: ChildProcess = spawn('pg_basebackup', args, {
    // The password goes in the environment of the child only; messages in English so they can be read below.
    env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'pg-agent backup', LC_MESSAGES: 'C', LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let estimate = 0;
  let stderrTail: string[] = [];
  const reported: Reported = {};
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split(/[\r\n]/);
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      const progress = /(\d+)\/(\d+) kB \(\d+%\)/.exec(line);
      if (progress) {
        estimate = Number(progress[2]) * 1024;
        continue;
      }
      const start = /write-ahead log start point: ([0-9A-F]+\/[0-9A-F]+) on timeline (\d+)/.exec(line);
      if (start) [reported.startLsn, reported.startTimeline] = [start[1], Number(start[2])];
      const end = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/.exec(line);
      if (end) reported.endLsn = end[1];
      if (/all required WAL segments have been archived/.test(line)) reported.archiving = 'waited';
      if (/WAL archiving is not enabled/.test(line)) reported.archiving = 'not-waited';
      stderrTail = [...stderrTail.slice(-9), line.replace(/^pg_basebackup: /, '')];
      log.debug({ pgBasebackup: line }, 'pg_basebackup');
    }
  });

  const tar = new PassThrough({ highWaterMark: 1024 * 1024 });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', e =>
      reject(
        new AgentError(`cannot run pg_basebackup: ${e.message}`, 'The PostgreSQL client binaries must be on PATH (they are in the agent image).'),
      ),
    );
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
  });
  const failure = (code: number | null) =>
    new AgentError(
      `pg_basebackup failed (exit ${code}): ${
        stderrTail
          .filter(l => !/^(initiating|checkpoint|write-ahead log|waiting)/.test(l))
          .slice(-3)
          .join(' | ') || stderrTail.slice(-3).join(' | ')
      }`,
      explain(stderrTail.join('\n')),
      { source: `${source.host}:${source.port}` },
    );
  // stdout -> tar, but the tar's end waits for the exit code.
  child.stdout!.on('data', (d: Buffer) => {
    if (!tar.write(d)) {
      child.stdout!.pause();
      tar.once('drain', () => child.stdout!.resume());
    }
  });
  const stdoutEnded = new Promise<void>(resolve => child.stdout!.once('end', () => resolve()));
  const done = exited.then(async code => {
    if (code !== 0) throw failure(code);
    await stdoutEnded; // after a zero exit the rest of the tar is still in the pipe
    return reported;
  });
  // The failure reaches the caller through `done`; the stream's own 'error' must not crash the process when it
  // fires before a consumer is attached (pg_basebackup can fail at once).
  tar.on('error', () => undefined);
  done.then(
    () => tar.end(),
    e => tar.destroy(e as Error),
  );
  // The consumer gave up (the upload failed): stop pg_basebackup rather than leave it blocked on a full pipe.
  tar.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  return {
    tar,
    estimatedBytes: () => estimate,
    done,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
    },
  };
}

/** What to do about a pg_basebackup failure, from its messages. */
function explain(stderr: string): string {
  if (/password authentication failed|no password supplied/.test(stderr))
    return "The replication password does not match the server's: check the <cluster>-replication Secret and that the instance reconciled it.";
  if (/can only write single tablespace to stdout/.test(stderr))
    return 'The database has tablespaces besides pg_default; backups stream one tar and do not support extra tablespaces yet. Move the objects to pg_default.';
  if (/number of requested standby connections exceeds|too many connections|remaining connection slots/.test(stderr))
    return 'The server has no free WAL sender or connection slot: raise max_wal_senders or wait for other backups/replicas.';
  if (/could not connect|Connection refused|timeout expired|could not translate host name/.test(stderr))
    return 'The source instance is not reachable: check that the cluster is running and the Service has a ready pod.';
  if (/recovery ended|promoted|the standby was promoted/.test(stderr))
    return 'The source standby was promoted during the backup; run the backup again.';
  return 'See the pg_basebackup messages above; the backup was not stored as complete. The next run tries again.';
}
