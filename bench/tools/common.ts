/**
 * What every tool's driver shares: the source database, the S3 endpoint, the bench's scratch directory, and the
 * restore drill (restore the files, start PostgreSQL with the tool's restore_command, wait until recovery is over
 * and `SELECT 1` answers: that wall time is the RTO).
 */
import * as fs from 'fs';
import * as path from 'path';
import { startRestored } from '../../test/support/backup';
import type { S3Endpoint } from '../../test/support/s3';
import { S3Bucket, createS3Client } from '../../agent/src/s3/client';
import { deleteObjects, listPrefix } from '../../agent/src/s3/objects';
import { Source, sql } from '../lib/pg';
import { Measured, User, round, sleep } from '../lib/proc';

export interface Ctx {
  root: string;
  /** Scratch directory, owned by the postgres user (tools run as it). */
  work: string;
  user: User;
  ep: S3Endpoint;
  /** The RGW CA certificate, copied where the postgres user can read it. */
  caFile: string;
  src: Source;
  pgBin: string;
  /** Rows pgbench_accounts must have in a restored copy. */
  expectedAccounts: () => number;
  log: (msg: string) => void;
}

export interface BackupResult {
  variant: string;
  /** The tool's name for the backup (backup id, pgBackRest label). */
  ref: string;
  measured: Measured;
  storedBytes: number;
  storedObjects: number;
}

export interface RestoreResult {
  variant: string;
  /** Restore started -> `SELECT 1` answered on the promoted server. */
  rtoSeconds: number;
  /** The tool's restore of the files (the part the tool alone does). */
  filesSeconds: number;
  /** PostgreSQL start, WAL replay through the tool's restore_command, promotion. */
  recoverySeconds: number;
  measured: Measured;
  rowsOk: boolean;
}

export function s3Client(ctx: Ctx, bucket: string): S3Bucket {
  return createS3Client({
    endpoint: ctx.ep.endpoint,
    region: ctx.ep.region,
    bucket,
    accessKeyId: ctx.ep.accessKeyId,
    secretAccessKey: ctx.ep.secretAccessKey,
    maxAttempts: 3,
  });
}

export async function storedUnder(ctx: Ctx, bucket: string, prefix: string): Promise<{ bytes: number; objects: number; keys: string[] }> {
  const s3 = s3Client(ctx, bucket);
  try {
    const objects = await listPrefix(s3, prefix);
    return { bytes: objects.reduce((n, o) => n + o.size, 0), objects: objects.length, keys: objects.map(o => o.key) };
  } finally {
    s3.destroy();
  }
}

export async function deleteUnder(ctx: Ctx, bucket: string, prefix: string): Promise<void> {
  const s3 = s3Client(ctx, bucket);
  try {
    const keys = (await listPrefix(s3, prefix)).map(o => o.key);
    if (keys.length) await deleteObjects(s3, keys);
  } finally {
    s3.destroy();
  }
}

/** An empty directory for a restore, owned by the postgres user, removed by the caller. */
export function restoreTarget(ctx: Ctx, name: string): string {
  const dir = fs.mkdtempSync(path.join(ctx.work, `restore-${name}-`));
  fs.chownSync(dir, ctx.user.uid, ctx.user.gid);
  const target = path.join(dir, 'pgdata');
  fs.mkdirSync(target, { mode: 0o700 });
  fs.chownSync(target, ctx.user.uid, ctx.user.gid);
  return target;
}

/** Polls until the restored server has left recovery and answers SELECT 1. */
async function waitUsable(port: number, password: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const c = { host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 2000 };
      const [r] = await sql(c, 'SELECT pg_is_in_recovery() AS r');
      if (!r.r) {
        await sql(c, 'SELECT 1');
        return;
      }
      last = 'in recovery';
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`restored server not usable after ${timeoutMs / 1000} s (${last})`);
    await sleep(100);
  }
}

/**
 * The RTO drill. `restoreFiles` puts the base backup into `target` (and may write recovery settings of its own);
 * then PostgreSQL starts with `restoreCommand` and recovers to the end of the archive, as a real restore would.
 */
export async function timedRestore(
  ctx: Ctx,
  variant: string,
  target: string,
  restoreFiles: () => Promise<Measured>,
  restoreCommand: string,
): Promise<RestoreResult> {
  const t0 = process.hrtime.bigint();
  const secs = () => Number(process.hrtime.bigint() - t0) / 1e9;
  const measured = await restoreFiles();
  if (measured.code !== 0)
    throw new Error(`${variant}: restore exited ${measured.code}:\n${measured.stderr.slice(-3000)}\n${measured.stdout.slice(-1500)}`);
  const filesSeconds = secs();
  const server = await startRestored(target, restoreCommand);
  try {
    await waitUsable(server.port, ctx.src.superuserPassword, 600_000).catch(e => {
      throw new Error(`${variant}: ${(e as Error).message}\n${server.log().split('\n').slice(-30).join('\n')}`);
    });
    const rtoSeconds = secs();
    const c = {
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      password: ctx.src.superuserPassword,
      database: ctx.src.database,
      connectionTimeoutMillis: 5000,
    };
    const [r] = await sql(c, 'SELECT count(*)::bigint AS n FROM pgbench_accounts');
    const rowsOk = Number(r.n) === ctx.expectedAccounts();
    if (!rowsOk) ctx.log(`${variant}: restored copy has ${r.n} pgbench_accounts rows, expected ${ctx.expectedAccounts()}`);
    return {
      variant,
      rtoSeconds: round(rtoSeconds, 3),
      filesSeconds: round(filesSeconds, 3),
      recoverySeconds: round(rtoSeconds - filesSeconds, 3),
      measured,
      rowsOk,
    };
  } finally {
    await server.stop();
    fs.rmSync(path.dirname(target), { recursive: true, force: true });
  }
}

/** Shell-quotes one word. */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Writes an executable script owned by the postgres user. */
export function script(ctx: Ctx, name: string, lines: string[]): string {
  const file = path.join(ctx.work, name);
  fs.writeFileSync(file, ['#!/bin/sh', ...lines, ''].join('\n'), { mode: 0o700 });
  fs.chownSync(file, ctx.user.uid, ctx.user.gid);
  return file;
}

/** The environment tools run with: no inherited secrets or npm variables, PostgreSQL's binaries first. */
export function baseEnv(ctx: Ctx, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: `${ctx.pgBin}:/usr/local/bin:/usr/bin:/bin`, HOME: ctx.work, LANG: 'C.UTF-8', TMPDIR: ctx.work, ...extra };
}
