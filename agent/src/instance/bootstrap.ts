/**
 * First start on an empty volume: initdb (ordinal 0) or a clone of the primary with pg_basebackup (the others).
 * Both work in a sibling directory and rename it into place only when complete, so an interrupted bootstrap
 * leaves no half-made data directory that a later start could mistake for a real one.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { REPLICATION_USER, SUPERUSER } from '../../../lib/contract';
import { execTool } from '../common/exec';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { InstanceConfig } from './config';
import { slotName, writeReplicationPassfile } from './config-files';
import { readSystemIdentifier, writeMarker } from './pgdata';
import { primaryTlsEnv } from './tls';

export function partialDir(cfg: InstanceConfig): string {
  return `${cfg.pgdata}.partial`;
}

/** Removes what an interrupted bootstrap left (never the data directory itself). */
export function clearPartial(cfg: InstanceConfig): void {
  const partial = partialDir(cfg);
  if (fs.existsSync(partial)) {
    log.warn({ dir: partial }, 'removing the leftovers of an interrupted bootstrap');
    fs.rmSync(partial, { recursive: true, force: true });
  }
}

export function finish(cfg: InstanceConfig, how: string): void {
  if (fs.existsSync(cfg.pgdata)) fs.rmdirSync(cfg.pgdata); // empty: inspectDataDir said so
  fs.renameSync(partialDir(cfg), cfg.pgdata);
  const systemIdentifier = readSystemIdentifier(cfg.pgdata);
  writeMarker(cfg.pgdata, {
    cluster: cfg.cluster,
    systemIdentifier,
    bootstrappedBy: `${cfg.podName} (${how})`,
    bootstrappedAt: new Date().toISOString(),
  });
  log.info({ systemIdentifier, how }, 'data directory ready');
}

export async function initdb(cfg: InstanceConfig): Promise<void> {
  await initdbInto(cfg);
  finish(cfg, 'initdb');
}

/** initdb into the side directory only: the caller finishes it (bootstrap.import fills it first). */
export async function initdbInto(cfg: InstanceConfig): Promise<void> {
  clearPartial(cfg);
  const pwfile = path.join(cfg.socketDir, '.initdb-pw');
  fs.writeFileSync(pwfile, cfg.credentials.superuser + '\n', { mode: 0o600 });
  try {
    log.info({ pgdata: cfg.pgdata }, 'initializing a new cluster (initdb, data checksums on)');
    await execTool(
      'initdb',
      [
        '-D',
        partialDir(cfg),
        '--data-checksums',
        '--encoding=UTF8',
        '--locale=C',
        `--username=${SUPERUSER}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
      ],
      { fix: 'Check the volume is writable by uid 999 (fsGroup) and has free space.' },
    );
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
}

/**
 * True when a PostgreSQL server answers at the primary's address: it must reply to an SSLRequest with 'S' or 'N'.
 * A bare TCP accept is not enough (a Service without endpoints may accept and close, depending on the proxy).
 */
export async function primaryAnswers(cfg: InstanceConfig, timeoutMs = 3000): Promise<boolean> {
  return (await primarySslAnswer(cfg, timeoutMs)) !== undefined;
}

/** The primary's answer to an SSLRequest: true ('S', it offers TLS), false ('N'), undefined when nothing answers. */
export function primarySslAnswer(cfg: InstanceConfig, timeoutMs = 3000): Promise<boolean | undefined> {
  return new Promise(resolve => {
    const socket = net.connect({ host: cfg.primary.host, port: cfg.primary.port });
    const done = (answer: boolean | undefined) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('connect', () => {
      const sslRequest = Buffer.alloc(8);
      sslRequest.writeInt32BE(8, 0);
      sslRequest.writeInt32BE(80877103, 4);
      socket.write(sslRequest);
    });
    socket.once('data', d => done(d[0] === 0x53 ? true : d[0] === 0x4e ? false : undefined));
    socket.once('close', () => done(undefined));
    socket.once('error', () => done(undefined));
  });
}

/** Clones the primary into the empty data directory; retries while it is not up yet (replica pods start in parallel with the primary). */
export async function clone(cfg: InstanceConfig, opts: { deadlineMs?: number; retryMs?: number } = {}): Promise<void> {
  await cloneIntoPartial(cfg, opts);
  finish(cfg, 'pg_basebackup');
}

/**
 * Runs pg_basebackup into the side directory (`<pgdata>.partial`) until it completes. The data directory is not
 * touched: the caller puts the result in place (finish() for an empty volume, swapInClone() to replace data).
 */
export async function cloneIntoPartial(cfg: InstanceConfig, opts: { deadlineMs?: number; retryMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.deadlineMs ?? 10 * 60 * 1000);
  for (let attempt = 1; ; attempt++) {
    clearPartial(cfg);
    // Written again each attempt: a rotated replication password may have arrived meanwhile.
    const passfile = writeReplicationPassfile(cfg);
    try {
      log.info({ primary: `${cfg.primary.host}:${cfg.primary.port}`, attempt }, 'cloning the primary with pg_basebackup');
      await execTool(
        'pg_basebackup',
        [
          '-h',
          cfg.primary.host,
          '-p',
          String(cfg.primary.port),
          '-U',
          REPLICATION_USER,
          '-D',
          partialDir(cfg),
          '-X',
          'stream',
          '-S',
          slotName(cfg.cluster, cfg.ordinal),
          '--checkpoint=fast',
          '--no-password',
          '--progress',
        ],
        {
          env: { PGPASSFILE: passfile, PGCONNECT_TIMEOUT: '5', ...primaryTlsEnv(cfg) },
          fix: 'Check that the primary is up and the replication Secret matches on both pods.',
        },
      );
      return;
    } catch (e) {
      if (Date.now() > deadline) {
        clearPartial(cfg);
        throw new AgentError(
          `cannot clone the primary at ${cfg.primary.host}:${cfg.primary.port}: ${(e as Error).message}`,
          'Check that the primary pod is running and ready; this pod restarts and tries again.',
        );
      }
      log.warn({ attempt, err: (e as Error).message }, 'primary not ready for cloning yet; retrying');
      await new Promise(r => setTimeout(r, opts.retryMs ?? 2000));
    }
  }
}

/** Where replaced data waits during the swap, until the new data is in place. */
export function replacedDir(cfg: InstanceConfig): string {
  return `${cfg.pgdata}.replaced`;
}

/**
 * Puts a complete clone (in the side directory) in place of the existing data: rename the old data aside, rename
 * the clone in, then delete the old data. Renames on one volume are atomic; an interruption between them is
 * repaired by recoverInterruptedSwap() at the next start.
 */
export function swapInClone(cfg: InstanceConfig, how: string): void {
  const replaced = replacedDir(cfg);
  fs.rmSync(replaced, { recursive: true, force: true });
  fs.renameSync(cfg.pgdata, replaced);
  fs.renameSync(partialDir(cfg), cfg.pgdata);
  const systemIdentifier = readSystemIdentifier(cfg.pgdata);
  writeMarker(cfg.pgdata, {
    cluster: cfg.cluster,
    systemIdentifier,
    bootstrappedBy: `${cfg.podName} (${how})`,
    bootstrappedAt: new Date().toISOString(),
  });
  fs.rmSync(replaced, { recursive: true, force: true });
  log.info({ systemIdentifier, how }, 'replaced the data directory with a complete clone');
}

/**
 * At start, before anything reads the data directory: a swap interrupted after the old data was moved aside puts
 * the old data back (the clone was never verified in place); one interrupted after the new data is in place only
 * has the old copy left to delete.
 */
export function recoverInterruptedSwap(cfg: InstanceConfig): void {
  const replaced = replacedDir(cfg);
  if (!fs.existsSync(replaced)) return;
  const current = fs.existsSync(cfg.pgdata) ? fs.readdirSync(cfg.pgdata) : [];
  if (current.includes('PG_VERSION')) {
    log.warn({ dir: replaced }, 'a data swap finished before a restart: removing the replaced data');
    fs.rmSync(replaced, { recursive: true, force: true });
    return;
  }
  log.warn({ dir: replaced, pgdata: cfg.pgdata }, 'a data swap was interrupted before the clone was in place: putting the previous data back');
  if (fs.existsSync(cfg.pgdata)) fs.rmdirSync(cfg.pgdata);
  fs.renameSync(replaced, cfg.pgdata);
}
