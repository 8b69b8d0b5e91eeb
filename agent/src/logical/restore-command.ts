/**
 * `pg-agent restore-database <db> --from <backup id | time | latest> [--into <name>] [--overwrite [--discard-existing-data]]`:
 * restores one database's logical dump into the running cluster's primary.
 *
 * 1. Picks the dump: the id, or the newest complete dump that ended at or before the time.
 * 2. Downloads it into the pod's temporary directory, computing its SHA-256, and refuses it (nothing created) when
 *    size or SHA-256 differ from the metadata.
 * 3. Decides the target ({@link decideDatabaseRestore}): a new database by default (`<db>_restored_<backup id>`).
 * 4. Restores into a side database `pgc_restoring_<stamp>` owned by the database's declared owner (CONNECT for the
 *    owner only, as the instances set the declared databases), with
 *    `pg_restore --no-owner --role=<owner>` (every object then belongs to the owner), logging progress.
 * 5. Only then renames: an existing target aside (kept, never dropped), the side database into the target. A failed
 *    restore drops only its own side database.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import { Transform } from 'stream';
import { DATABASE_NAME, LogicalBackupMeta, backupIdFor } from '../../../lib/contract';
import { decideDatabaseRestore } from '../decide/logical';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { writePassfile } from '../common/passfile';
import { withClient } from '../instance/sql';
import { createS3Client } from '../s3/client';
import { getObject } from '../s3/objects';
import { clientConfig, libpqEnv, PrimaryConnection, readLogicalConfigWithPassword } from './config';
import { listLogicalDumps } from './store';
import { runPgRestore } from './pg-restore';

export interface RestoreDatabaseOptions {
  from: string;
  into?: string;
  overwrite?: boolean;
  discardExistingData?: boolean;
}

const PROGRESS_MS = 5000;

export async function restoreDatabaseCommand(database: string, opts: RestoreDatabaseOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (!DATABASE_NAME.test(database))
    throw new AgentError(`"${database}" is not a database name`, 'Give a database name of lowercase letters, digits and "_".');
  if (opts.into !== undefined && !DATABASE_NAME.test(opts.into))
    throw new AgentError(`--into "${opts.into}" is not a database name`, 'Use lowercase letters, digits and "_", at most 63 characters.');
  if (opts.discardExistingData && !opts.overwrite)
    throw new AgentError('--discard-existing-data needs --overwrite', 'Give both to replace a database that holds data, or neither.');
  const cfg = await readLogicalConfigWithPassword(env);
  const s3 = createS3Client(cfg.store.s3);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-agent-restore-'));
  try {
    const dumps = (await listLogicalDumps(s3, cfg.store, database)).find(d => d.database === database)?.dumps ?? [];
    const meta = pickDump(
      database,
      opts.from,
      dumps.flatMap(d => (d.meta ? [d.meta] : [])),
    );
    const owner = cfg.databases.find(d => d.name === database)?.owner ?? meta.owner;
    const target = opts.into ?? `${database}_restored_${meta.backupId.toLowerCase()}`;
    const stamp = backupIdFor(new Date()).toLowerCase();
    log.info(
      { database, backupId: meta.backupId, target, owner, size: meta.size },
      `restore-database: restoring ${database} from ${meta.backupId} into ${target}`,
    );

    // 2. The dump, checked before anything is created.
    const file = path.join(tmp, 'dump');
    await download(s3, meta, file);

    // 3. Where it may go.
    const passfile = cfg.primary.password ? writePassfile(path.join(tmp, 'pgpass'), cfg.primary as Required<PrimaryConnection>) : undefined;
    const facts = await withClient(clientConfig(cfg.primary, 'postgres'), async c => {
      const exists = (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [target])).rowCount! > 0;
      const ownerExists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [owner])).rowCount! > 0;
      return { exists, ownerExists };
    });
    if (!facts.ownerExists)
      throw new AgentError(
        `role "${owner}", the owner of ${database}, does not exist`,
        `Declare ${database} with its owner in the cluster's databases.`,
      );
    const targetRelations = facts.exists ? await countRelations(cfg.primary, target) : 0;
    const asideName = `${target.slice(0, 40)}_before_${stamp}`;
    const decision = decideDatabaseRestore({
      target,
      targetExists: facts.exists,
      targetRelations,
      overwrite: !!opts.overwrite,
      discardExistingData: !!opts.discardExistingData,
      asideName,
    });
    if (decision.action === 'wait')
      throw new AgentError(`restore-database refused: ${decision.why}`, decision.fix, { invariant: decision.invariant, target });
    log.info({ target, decision: decision.action, why: decision.why }, 'restore-database: target decided');

    // 4. Into a side database.
    const side = `pgc_restoring_${stamp}`;
    await withClient(clientConfig(cfg.primary, 'postgres'), async c => {
      await c.query(`CREATE DATABASE ${c.escapeIdentifier(side)} OWNER ${c.escapeIdentifier(owner)}`);
      // As the instances close the declared databases: apps sharing a cluster must not reach each other's data.
      await c.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${c.escapeIdentifier(side)} FROM PUBLIC`);
      await c.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${c.escapeIdentifier(side)} TO ${c.escapeIdentifier(owner)}`);
    });
    try {
      await pgRestore(file, side, owner, cfg.primary, passfile);
    } catch (e) {
      await withClient(clientConfig(cfg.primary, 'postgres'), c => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(side)}`)).catch(
        () => undefined,
      );
      throw e;
    }

    // 5. Into place.
    await withClient(clientConfig(cfg.primary, 'postgres'), async c => {
      if (decision.action === 'replace') {
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [target]);
        await c.query(`ALTER DATABASE ${c.escapeIdentifier(target)} RENAME TO ${c.escapeIdentifier(asideName)}`);
        log.info({ target, keptAs: asideName }, `restore-database: the former ${target} is kept as ${asideName}; drop it when no longer needed`);
      }
      await c.query(`ALTER DATABASE ${c.escapeIdentifier(side)} RENAME TO ${c.escapeIdentifier(target)}`);
    });
    log.info({ database, backupId: meta.backupId, target, owner }, `restore-database: ${database} from ${meta.backupId} restored into ${target}`);
    return 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    s3.destroy();
  }
}

/** The dump `from` names: a backup id, `latest`, or an ISO time (the newest complete dump that ended by then). */
export function pickDump(database: string, from: string, complete: LogicalBackupMeta[]): LogicalBackupMeta {
  const sorted = [...complete].sort((a, b) => (a.endTime < b.endTime ? -1 : 1));
  const fix = `List the dumps with \`pg-agent list --logical\`; give --from <backup id>, latest, or a time such as 2026-12-01T10:00:00Z.`;
  if (sorted.length === 0) throw new AgentError(`no complete logical backup of database "${database}" in the store`, fix, { database });
  if (from === 'latest') return sorted[sorted.length - 1];
  if (/^\d{8}T\d{6}$/.test(from)) {
    const m = sorted.find(d => d.backupId === from);
    if (!m) throw new AgentError(`no complete logical backup ${from} of database "${database}"`, fix, { database });
    return m;
  }
  const t = Date.parse(from);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(from) || Number.isNaN(t)) throw new AgentError(`--from "${from}" is neither a backup id nor a time`, fix);
  const m = sorted.filter(d => Date.parse(d.endTime) <= t).at(-1);
  if (!m)
    throw new AgentError(`no logical backup of database "${database}" ended by ${from} (the oldest ended ${sorted[0].endTime})`, fix, { database });
  return m;
}

/** Downloads the dump, refusing it when its size or SHA-256 differ from the metadata. */
async function download(s3: ReturnType<typeof createS3Client>, meta: LogicalBackupMeta, file: string): Promise<void> {
  const obj = await getObject(s3, meta.key);
  if (!obj)
    throw new AgentError(`the dump ${meta.key} is missing from the store`, 'Pick another backup (`pg-agent list --logical`).', { key: meta.key });
  const hash = createHash('sha256');
  let size = 0;
  let lastLog = Date.now();
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      if (Date.now() - lastLog > PROGRESS_MS) {
        lastLog = Date.now();
        log.info({ key: meta.key, bytes: size, of: meta.size }, 'restore-database: downloading');
      }
      cb(null, chunk);
    },
  });
  await pipeline(obj.body, meter, fs.createWriteStream(file, { mode: 0o600 }));
  const sha256 = hash.digest('hex');
  if (size !== meta.size || sha256 !== meta.sha256)
    throw new AgentError(
      `the dump ${meta.key} is damaged: ${size !== meta.size ? `${size} bytes, its metadata says ${meta.size}; ` : ''}sha256 ${sha256}, its metadata says ${meta.sha256}; nothing was restored`,
      'Restore from another backup (`pg-agent list --logical`), and find out what changed the object (the store, its lifecycle rules).',
      { key: meta.key, sha256, expected: meta.sha256 },
    );
  log.info({ key: meta.key, bytes: size, sha256 }, 'restore-database: dump downloaded, checksum verified');
}

async function countRelations(p: PrimaryConnection, database: string): Promise<number> {
  return withClient(clientConfig(p, database), async c => {
    const r = await c.query(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
    );
    return r.rows[0].n as number;
  });
}

/** pg_restore with progress (logical/pg-restore.ts), into the side database. */
async function pgRestore(file: string, database: string, owner: string, p: PrimaryConnection, passfile?: string): Promise<void> {
  const r = await runPgRestore({ archive: file, database, owner, env: libpqEnv(p, passfile), label: 'restore-database', progressMs: PROGRESS_MS });
  if (r.code !== 0)
    throw new AgentError(
      `pg_restore into ${database} failed (exit ${r.code}): ${r.errors}; the half-restored database was dropped`,
      'Fix what pg_restore says (e.g. an extension the owner may not create: create it in template1 or declare it), then run the restore again.',
      { database },
    );
  log.info({ database, items: r.done, of: r.items }, 'restore-database: pg_restore finished');
}
