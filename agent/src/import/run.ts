/**
 * `bootstrap.import`, carried out: into the side directory `<pgdata>.partial` of every bootstrap, which becomes the
 * data directory only when every step succeeded (bootstrap.ts `finish`), so a failed or interrupted import leaves
 * nothing that could be started, and the instance becomes ready, primary and archiving only afterwards.
 *
 * 1. The source is asked (read only) for its version and databases; {@link planImport} refuses a newer major or a
 *    database without a declared owner before anything is dumped.
 * 2. initdb into the side directory, then a private server on it (a unix socket in a 0700 directory, no TCP, no
 *    archiving, wal_level minimal: the first base backup covers what it wrote).
 * 3. Roles: `pg_dumpall --roles-only` (`--no-role-passwords` unless roles: 'all'), filtered (filters.ts).
 * 4. Per database: CREATE DATABASE owned by the declared owner, the source's extensions created by the superuser,
 *    `pg_dump -Fd -j N` into `<pgdata>.import-dump` on the volume, `pg_restore -j N --no-owner --role=<owner>`
 *    (every object belongs to the owner), ANALYZE (statistics do not travel).
 *
 * Every connection to the source runs with `default_transaction_read_only=on` (PGOPTIONS for the tools, `options`
 * for node pg), on top of pg_dump's own read-only snapshot transaction.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Client, ClientConfig } from 'pg';
import { SUPERUSER } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { execTool } from '../common/exec';
import { log } from '../common/log';
import { writePassfile } from '../common/passfile';
import { pgSslFromEnv } from '../common/pg-tls';
import { startProgress } from '../common/progress';
import { withoutSecrets } from '../common/secret-env';
import { ImportTarget, planImport } from '../decide/import';
import { clearPartial, initdbInto, partialDir } from '../instance/bootstrap';
import { describeSource } from '../instance/clone-source';
import { InstanceConfig } from '../instance/config';
import { withClient } from '../instance/sql';
import { runPgRestore } from '../logical/pg-restore';
import { ImportConfig } from './config';
import { filterRoleScript, filterTableOfContents } from './filters';

const READ_ONLY = '-c default_transaction_read_only=on';
/** The fix of a failure of a tool reading the source: replaced by what classifyImportFailure makes of its message. */
export const SOURCE_TOOL_FIX = 'See the message about the import source.';

export function dumpDir(cfg: InstanceConfig): string {
  return `${cfg.pgdata}.import-dump`;
}

/** Removes what an interrupted import left beside the data (the dump); the side directory goes with clearPartial. */
export function clearImportLeftovers(cfg: InstanceConfig): void {
  if (fs.existsSync(dumpDir(cfg))) {
    log.warn({ dir: dumpDir(cfg) }, 'removing the dump of an interrupted import');
    fs.rmSync(dumpDir(cfg), { recursive: true, force: true });
  }
}

/** libpq variables of the tools that read the source (the password only in a 0600 passfile). */
function sourceEnv(imp: ImportConfig, passfile: string): NodeJS.ProcessEnv {
  const s = imp.spec.source;
  return {
    PGHOST: s.host,
    PGPORT: String(s.port),
    PGUSER: s.user,
    PGPASSFILE: passfile,
    PGSSLMODE: s.sslmode,
    ...(s.sslRootCert ? { PGSSLROOTCERT: s.sslRootCert } : {}),
    PGCONNECT_TIMEOUT: '10',
    PGAPPNAME: 'cdk8s-postgres-import',
    PGOPTIONS: READ_ONLY,
  };
}

/** node pg towards the source, read only; `prefer`/`allow` fall back to plain TCP when the server has no TLS. */
async function withSource<T>(imp: ImportConfig, database: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const s = imp.spec.source;
  const base: ClientConfig = {
    host: s.host,
    port: s.port,
    user: s.user,
    password: imp.password,
    database,
    options: READ_ONLY,
    connectionTimeoutMillis: 10000,
    application_name: 'cdk8s-postgres-import',
  };
  const ssl = pgSslFromEnv({ PGSSLMODE: s.sslmode, ...(s.sslRootCert ? { PGSSLROOTCERT: s.sslRootCert } : {}) });
  try {
    return await withClient({ ...base, ...(ssl !== undefined ? { ssl } : {}) }, fn);
  } catch (e) {
    if ((s.sslmode === 'prefer' || s.sslmode === 'allow') && /does not support SSL/i.test((e as Error).message))
      return withClient({ ...base, ssl: false }, fn);
    throw e;
  }
}

/** The private server on the side directory. */
class ImportServer {
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  private output = '';
  readonly socketDir: string;

  constructor(private readonly cfg: InstanceConfig) {
    this.socketDir = path.join(cfg.socketDir, 'import');
  }

  connection(database = 'postgres'): ClientConfig {
    return { host: this.socketDir, port: this.cfg.port, user: SUPERUSER, database, connectionTimeoutMillis: 3000 };
  }

  /** libpq variables of pg_restore towards it. */
  env(): NodeJS.ProcessEnv {
    return { PGHOST: this.socketDir, PGPORT: String(this.cfg.port), PGUSER: SUPERUSER, PGSSLMODE: 'disable' };
  }

  async start(): Promise<void> {
    fs.rmSync(this.socketDir, { recursive: true, force: true });
    fs.mkdirSync(this.socketDir, { mode: 0o700 });
    // Only this pod's user reaches the 0700 socket directory, and the server listens on nothing else.
    const hba = path.join(this.socketDir, 'pg_hba.conf');
    fs.writeFileSync(hba, 'local all all trust\n', { mode: 0o600 });
    const settings = [
      'listen_addresses=',
      `unix_socket_directories=${this.socketDir}`,
      `port=${this.cfg.port}`,
      `hba_file=${hba}`,
      'archive_mode=off',
      'wal_level=minimal',
      'max_wal_senders=0',
      'logging_collector=off',
      ...(this.cfg.parameters.shared_buffers ? [`shared_buffers=${this.cfg.parameters.shared_buffers}`] : []),
    ];
    const child = spawn('postgres', ['-D', partialDir(this.cfg), ...settings.flatMap(s => ['-c', s])], {
      env: withoutSecrets(process.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-8000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise(resolve => {
      child.on('exit', code => resolve(code));
      child.on('error', () => resolve(-1));
    });
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the import's server stopped at start: ${this.errorLines()}`);
      try {
        await withClient(this.connection(), c => c.query('SELECT 1'));
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`the import's server did not start within 120 s: ${(e as Error).message}`, { cause: e });
        await new Promise(r => setTimeout(r, 300));
      }
    }
  }

  errorLines(): string {
    return (
      this.output
        .split('\n')
        .filter(l => /FATAL|PANIC|ERROR/.test(l))
        .slice(-3)
        .join(' | ') || this.output.trim().split('\n').slice(-3).join(' | ')
    );
  }

  /** A fast shutdown (a clean checkpoint): the data directory then starts like any other. */
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGINT');
    const code = await this.exited;
    if (code !== 0) throw new Error(`the import's server did not stop cleanly (exit ${code}): ${this.errorLines()}`);
  }

  kill(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** The size of the files of a directory-format dump so far. */
function dumpBytes(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir).reduce((sum, f) => sum + (fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
}

async function clusterMajor(): Promise<number> {
  const out = (await execTool('postgres', ['--version'], { fix: 'The PostgreSQL server binaries must be on PATH (they are in the agent image).' }))
    .stdout;
  const m = /\(PostgreSQL\) (\d+)/.exec(out);
  if (!m) throw new Error(`cannot read the server's major version from "${out.trim()}"`);
  return Number(m[1]);
}

/**
 * Runs the whole import into the side directory. On success the caller renames it into place; on any failure the
 * side directory and the dump are removed before the error is thrown.
 */
export async function importIntoPartial(cfg: InstanceConfig, imp: ImportConfig): Promise<void> {
  const source = describeSource(imp.spec.source);
  const passfile = writePassfile(path.join(cfg.socketDir, '.pgpass-import-source'), { ...imp.spec.source, password: imp.password });
  const env = sourceEnv(imp, passfile);

  // 1. Ask the source, decide.
  const facts = await withSource(imp, 'postgres', async c => {
    const v = (await c.query("SELECT current_setting('server_version_num')::int AS v")).rows[0].v as number;
    const dbs = (await c.query('SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname')).rows.map(r =>
      String(r.datname),
    );
    return { v, dbs };
  });
  const plan = planImport({
    source,
    sourceVersionNum: facts.v,
    clusterMajor: await clusterMajor(),
    sourceDatabases: facts.dbs,
    requested: imp.spec.databases,
    declared: cfg.databases,
  });
  if (plan.action === 'wait') throw new AgentError(plan.why, plan.fix, { invariant: plan.invariant });
  log.info({ source, databases: plan.databases, roles: imp.spec.roles, jobs: imp.spec.jobs }, `import: ${plan.why}`);

  const server = new ImportServer(cfg);
  try {
    // 2. A fresh cluster in the side directory, and its private server.
    await initdbInto(cfg);
    await server.start();

    // 3. Roles.
    if (imp.spec.roles !== 'none') {
      const args = ['--roles-only', '--no-password', ...(imp.spec.roles === 'withoutPasswords' ? ['--no-role-passwords'] : [])];
      const dump = (await execTool('pg_dumpall', args, { env: { ...withoutSecrets(process.env), ...env }, fix: SOURCE_TOOL_FIX })).stdout;
      const script = filterRoleScript(dump);
      await withClient(server.connection(), async c => {
        await c.query('BEGIN');
        for (const st of script.statements) await c.query(st);
        await c.query('COMMIT');
      });
      for (const s of script.skipped) log.info({ statement: s.statement, why: s.why }, 'import: role statement left out');
      log.info({ roles: script.roles, passwords: imp.spec.roles === 'all' }, `import: ${script.roles.length} role(s) imported`);
    }
    await withClient(server.connection(), async c => {
      for (const owner of new Set(plan.databases.map(d => d.owner))) {
        const exists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [owner])).rowCount! > 0;
        // The instance gives it LOGIN and the app Secret's password at its first reconcile.
        if (!exists) await c.query(`CREATE ROLE ${c.escapeIdentifier(owner)}`);
      }
    });

    // 4. The databases, one after the other.
    for (const db of plan.databases) await importDatabase(cfg, imp, env, server, db);

    await server.stop();
  } catch (e) {
    server.kill();
    clearImportLeftovers(cfg);
    clearPartial(cfg);
    throw e;
  } finally {
    fs.rmSync(passfile, { force: true });
    fs.rmSync(server.socketDir, { recursive: true, force: true });
  }
  clearImportLeftovers(cfg);
  log.info({ source, databases: plan.databases.map(d => d.name) }, 'import: every database imported');
}

async function importDatabase(cfg: InstanceConfig, imp: ImportConfig, env: NodeJS.ProcessEnv, server: ImportServer, db: ImportTarget): Promise<void> {
  const started = Date.now();
  const { extensions, sourceBytes } = await withSource(imp, db.name, async c => ({
    extensions: (
      await c.query(
        "SELECT e.extname AS name, n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql' ORDER BY e.oid",
      )
    ).rows as Array<{ name: string; schema: string }>,
    sourceBytes: Number((await c.query('SELECT pg_database_size(current_database()) AS b')).rows[0].b),
  }));

  // The database, owned by its declared owner and closed to others as the instance closes declared databases;
  // then the extensions, created by the superuser (the owner may not), in their schemas.
  const preCreatedSchemas: string[] = [];
  await withClient(server.connection(), async c => {
    const q = (n: string) => c.escapeIdentifier(n);
    if (db.name !== SUPERUSER) await c.query(`CREATE DATABASE ${q(db.name)} OWNER ${q(db.owner)}`);
  });
  await withClient(server.connection(db.name), async c => {
    const q = (n: string) => c.escapeIdentifier(n);
    const available = new Set((await c.query('SELECT name FROM pg_available_extensions')).rows.map(r => String(r.name)));
    const missing = extensions.filter(e => !available.has(e.name)).map(e => e.name);
    if (missing.length)
      throw new AgentError(
        `database ${db.name} of the source uses extension(s) ${missing.join(', ')}, which this cluster's image does not have`,
        'Use an image with these extensions (image), or drop them on the source if they are unused; nothing of the import was kept.',
        { database: db.name },
      );
    for (const e of extensions) {
      const schemaExists = (await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [e.schema])).rowCount! > 0;
      if (!schemaExists) {
        await c.query(`CREATE SCHEMA ${q(e.schema)} AUTHORIZATION ${q(db.owner)}`);
        preCreatedSchemas.push(e.schema);
      }
      await c.query(`CREATE EXTENSION IF NOT EXISTS ${q(e.name)} WITH SCHEMA ${q(e.schema)} CASCADE`);
    }
  });
  if (extensions.length) log.info({ database: db.name, extensions: extensions.map(e => e.name) }, 'import: extensions created');

  // pg_dump into the volume (a directory-format dump, in parallel), with progress.
  const dir = dumpDir(cfg);
  fs.rmSync(dir, { recursive: true, force: true });
  log.info({ database: db.name, sourceBytes, jobs: imp.spec.jobs }, `import: dumping ${db.name}`);
  const stopProgress = startProgress(() => ({ done: dumpBytes(dir), total: 0, extra: { sourceBytes } }), { msg: `import: dumping ${db.name}` });
  try {
    await execTool(
      'pg_dump',
      [
        '-Fd',
        '-j',
        String(imp.spec.jobs),
        '-f',
        dir,
        '--no-password',
        '--no-subscriptions',
        '--no-tablespaces',
        '--no-security-labels',
        '-d',
        db.name,
      ],
      { env: { ...withoutSecrets(process.env), ...env }, fix: SOURCE_TOOL_FIX },
    );
  } finally {
    stopProgress();
  }
  log.info({ database: db.name, dumpBytes: dumpBytes(dir) }, `import: ${db.name} dumped`);

  // pg_restore, without the extensions made above; every object belongs to the declared owner.
  const { list, left } = filterTableOfContents(
    (await execTool('pg_restore', ['-l', dir], { fix: 'The dump directory is damaged.' })).stdout,
    preCreatedSchemas,
  );
  const listFile = path.join(dir, 'import.list');
  fs.writeFileSync(listFile, list, { mode: 0o600 });
  const r = await runPgRestore({
    archive: dir,
    database: db.name,
    owner: db.owner,
    env: server.env(),
    label: 'import',
    jobs: imp.spec.jobs,
    listFile,
    extraArgs: imp.spec.roles === 'none' ? ['--no-privileges'] : [],
  });
  if (r.code !== 0)
    throw new AgentError(
      `pg_restore of ${db.name} failed (exit ${r.code}): ${r.errors}`,
      'Fix what pg_restore says; nothing of the import was kept.',
      {
        database: db.name,
      },
    );
  await withClient(server.connection(db.name), c => c.query('ANALYZE'));
  fs.rmSync(dir, { recursive: true, force: true });
  log.info(
    { database: db.name, owner: db.owner, items: r.done, of: r.items, leftOut: left, seconds: Math.round((Date.now() - started) / 1000) },
    `import: ${db.name} imported`,
  );
}
