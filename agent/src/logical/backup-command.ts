/**
 * `pg-agent logical-backup`: one `pg_dump -Fc` per database over the network from the primary (the `-rw`
 * Service, as the superuser), streamed into the store as `<server>/logical/<db>/<id>.dump` (SHA-256 and size
 * computed on the way, the stored object verified), then `<id>.json` with the metadata, written last: a dump
 * without it is not complete. Then retention of the dumps ({@link planLogicalRetention}). The barman-compatible
 * `base/` and `wals/` folders are never touched.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LOGICAL_FORMAT, LogicalBackupMeta, backupIdFor, logicalLayout } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { execTool } from '../common/exec';
import { log } from '../common/log';
import { writePassfile } from '../common/passfile';
import { withClient } from '../instance/sql';
import { withoutSecrets } from '../common/secret-env';
import { createS3Client, S3Bucket } from '../s3/client';
import { deleteObject, putObject, uploadStream } from '../s3/objects';
import { clientConfig, libpqEnv, LogicalConfig, PrimaryConnection, readLogicalConfigWithPassword } from './config';
import { applyLogicalRetention } from './retention';

/** How long the Job waits for the primary to answer (a CronJob may start while a failover is under way). */
const WAIT_PRIMARY_MS = 5 * 60_000;

export async function logicalBackupCommand(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cfg = await readLogicalConfigWithPassword(env);
  if (cfg.databases.length === 0)
    throw new AgentError('no database to dump', 'Re-synthesize the manifests: the LogicalBackup construct lists the databases.');
  const s3 = createS3Client(cfg.store.s3);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-agent-logical-'));
  try {
    const passfile = cfg.primary.password ? writePassfile(path.join(tmp, 'pgpass'), cfg.primary as Required<PrimaryConnection>) : undefined;
    const serverVersion = await waitForPrimary(cfg.primary);
    const pgDump = (await execTool('pg_dump', ['--version'], { fix: 'pg_dump is in the agent image.' })).stdout.trim();
    const backupId = backupIdFor(new Date());
    log.info({ backupId, databases: cfg.databases.map(d => d.name), serverVersion }, 'logical backup: starting');
    for (const db of cfg.databases) {
      const meta = await dumpDatabase(s3, cfg, db, backupId, { serverVersion, pgDump, passfile });
      log.info({ backupId, database: db.name, size: meta.size, sha256: meta.sha256, key: meta.key }, `logical backup: ${db.name} stored`);
    }
    if (cfg.retention) await applyLogicalRetention(s3, cfg.store, cfg.retention, new Date());
    log.info({ backupId, databases: cfg.databases.length }, 'logical backup: done');
    return 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    s3.destroy();
  }
}

async function waitForPrimary(p: PrimaryConnection): Promise<number> {
  const deadline = Date.now() + WAIT_PRIMARY_MS;
  for (;;) {
    try {
      return await withClient(clientConfig(p, 'postgres'), async c => {
        const r = await c.query("SELECT current_setting('server_version_num')::int AS v, pg_is_in_recovery() AS standby");
        if (r.rows[0].standby) throw new Error(`${p.host}:${p.port} is a standby`);
        return r.rows[0].v as number;
      });
    } catch (e) {
      const msg = (e as Error).message;
      if (/password authentication failed|role .* does not exist/.test(msg))
        throw new AgentError(
          `the primary refused the superuser: ${msg}`,
          'Check that the superuser Secret matches the cluster (the instances apply it).',
        );
      if (Date.now() >= deadline)
        throw new AgentError(
          `the primary at ${p.host}:${p.port} did not answer for ${WAIT_PRIMARY_MS / 1000} s: ${msg}`,
          'Check that the cluster is running and ready (kubectl get pods); the next scheduled run tries again.',
        );
      log.info({ error: msg }, 'logical backup: waiting for the primary');
      await new Promise(r => setTimeout(r, 3000));
    }
  }
}

async function dumpDatabase(
  s3: S3Bucket,
  cfg: LogicalConfig,
  db: { name: string; owner: string },
  backupId: string,
  tool: { serverVersion: number; pgDump: string; passfile?: string },
): Promise<LogicalBackupMeta> {
  const { prefix, serverName } = cfg.store;
  const key = logicalLayout.dump(prefix, serverName, db.name, backupId);
  const startTime = new Date();
  // -Fc: pg_restore can pick objects and restore in parallel; compressed by pg_dump itself (gzip, level 6).
  const child = spawn('pg_dump', ['-Fc', '-Z', '6', '--no-password', '-d', db.name], {
    env: { ...withoutSecrets(process.env), ...libpqEnv(cfg.primary, tool.passfile) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', d => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', code => resolve(code ?? 1));
  });
  let put;
  try {
    put = await uploadStream(s3, key, child.stdout, { contentType: 'application/octet-stream' });
  } catch (e) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    throw e;
  }
  const code = await exited;
  if (code !== 0) {
    // pg_dump's output ended early: what was stored is not a dump. Without its metadata nothing would use it, but
    // it would take space until retention's grace period passed.
    await deleteObject(s3, key).catch(() => undefined);
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    throw new AgentError(`pg_dump of database "${db.name}" failed (exit ${code}): ${tail}`, 'Fix what pg_dump says; the next run dumps again.', {
      database: db.name,
    });
  }
  const meta: LogicalBackupMeta = {
    format: LOGICAL_FORMAT,
    backupId,
    database: db.name,
    owner: db.owner,
    key,
    size: put.size,
    sha256: put.sha256,
    serverVersion: tool.serverVersion,
    pgDump: tool.pgDump,
    startTime: startTime.toISOString(),
    endTime: new Date().toISOString(),
  };
  await putObject(s3, logicalLayout.meta(prefix, serverName, db.name, backupId), Buffer.from(JSON.stringify(meta, null, 2) + '\n'), {
    contentType: 'application/json',
  });
  return meta;
}
