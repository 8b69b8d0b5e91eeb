/**
 * The end of every fault drill: restore the oldest kept base backup and replay the archive to its end, as a user's
 * `bootstrap.recovery` to `latest` would, and read the rows back. A row acknowledged to a client and missing here
 * is a hole in the backup chain.
 */
import * as fs from 'fs';
import * as path from 'path';
import { listBackups } from '../../agent/src/catalog/catalog';
import { restoreBaseBackup } from '../../agent/src/restore/base-backup';
import { readStoreConfig } from '../../agent/src/store/config';
import { startRestored, storeEnv, waitPromoted, walFetchScript } from './backup';
import { query } from './cluster-harness';
import { podUser, tempDir } from './pod-runner';
import { S3Endpoint, s3For } from './s3';

export interface RestoredRows {
  backupId: string;
  /** Timeline the restored server ended on, and how long the restore and replay took. */
  timeline: number;
  seconds: number;
  ids: Set<number>;
}

/** Restores the oldest complete backup of `serverName` to the end of its archive and returns `SELECT id FROM table`. */
export async function restoreOldestToLatest(opts: {
  ep: S3Endpoint;
  bucket: string;
  serverName: string;
  superuserPassword: string;
  database: string;
  table?: string;
}): Promise<RestoredRows> {
  const env = storeEnv(opts.ep, opts.bucket, opts.serverName);
  const store = readStoreConfig(env);
  const s3 = await s3For(opts.bucket);
  const dir = tempDir('restore-latest', podUser());
  const started = Date.now();
  try {
    const done = (await listBackups(s3, store)).filter(b => b.status === 'DONE').sort((a, b) => a.beginTime.getTime() - b.beginTime.getTime());
    if (!done.length) throw new Error(`no complete backup of ${opts.serverName} in ${opts.bucket}`);
    const oldest = done[0];
    const target = path.join(dir, 'pgdata');
    await restoreBaseBackup(s3, store, oldest.backupId, target);
    const server = await startRestored(target, walFetchScript(env));
    try {
      await waitPromoted(server, 'postgres', opts.superuserPassword, 300000);
      const conn = { host: '127.0.0.1', port: server.port, user: 'postgres', password: opts.superuserPassword, database: opts.database };
      const rows = await query(conn, `SELECT id::text FROM ${opts.table ?? 'events'}`);
      const [{ tli }] = await query(conn, 'SELECT timeline_id AS tli FROM pg_control_checkpoint()');
      return { backupId: oldest.backupId, timeline: Number(tli), seconds: (Date.now() - started) / 1000, ids: new Set(rows.map(r => Number(r.id))) };
    } finally {
      await server.stop();
    }
  } finally {
    s3.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
