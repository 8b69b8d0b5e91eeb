/**
 * Managed roles, extensions and schemas (issue 15), reconciled by the primary from the cluster's ConfigMap
 * (managed-spec.ts), and the user's pg_hba rules kept current on every instance. Followed every
 * CREDENTIALS_POLL_SECONDS without a restart: the kubelet refreshes the mounted ConfigMap after an apply.
 *
 * Roles are created and altered to match (attributes, memberships, CONNECT on the cluster's databases, the password
 * of their Secret); a role is dropped only when declared `absent` and only when nothing depends on it
 * (decideRoleDrop). Extensions are created when the image has them (decideExtension); a missing one is one error
 * line and the rest goes on. Roles and schemas not declared are never touched, nothing here is ever dropped but an
 * `absent` role.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Client } from 'pg';
import { CREDENTIALS_POLL_SECONDS, ManagedObjectsSpec, ManagedRoleSpec } from '../../../lib/contract';
import { log } from '../common/log';
import { pollSerially } from '../common/poll';
import { decideExtension, decideRoleDrop } from '../decide/roles';
import { KubeClient } from '../k8s/client';
import { ensureSecrets, passwordOf } from '../secrets/command';
import { InstanceConfig } from './config';
import { verifierMatches } from './passwords';
import { scramVerifier } from './scram';
import { localConnection, withClient } from './sql';
import { EMPTY_MANAGED, readManagedObjects, withManagedHbaRules } from './managed-spec';

/** Something the reconcile could not do, logged once (error level) with the fix. */
export interface ManagedProblem {
  msg: string;
  fix: string;
  fields?: Record<string, unknown>;
}

/** One reconcile's outcome: what changed (for the log line) and what was refused or failed. */
export interface ManagedReport {
  changes: string[];
  problems: ManagedProblem[];
}

/** The role's attributes as the agent sets them: never superuser, createdb, createrole, replication or bypassrls. */
function attributes(c: Client, r: ManagedRoleSpec): string {
  return [
    r.login ? 'LOGIN' : 'NOLOGIN',
    'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT',
    `CONNECTION LIMIT ${Number(r.connectionLimit)}`,
    `VALID UNTIL ${c.escapeLiteral(r.validUntil)}`,
  ].join(' ');
}

interface ActualRole {
  oid: number;
  login: boolean;
  connlimit: number;
  /** Seconds since the epoch; null (no limit) or Infinity for `infinity`. */
  validUntil: number | null;
  elevated: boolean;
  inherit: boolean;
  password: string | null;
}

/** True when the role's attributes (not its password) differ from the declaration. */
export function attributesDiffer(want: ManagedRoleSpec, have: ActualRole): boolean {
  const wantUntil = want.validUntil === 'infinity' ? Infinity : Date.parse(want.validUntil) / 1000;
  const haveUntil = have.validUntil === null ? Infinity : have.validUntil;
  const untilDiffers = wantUntil === Infinity ? haveUntil !== Infinity : Math.abs(haveUntil - wantUntil) > 0.001;
  return have.login !== want.login || have.connlimit !== want.connectionLimit || have.elevated || !have.inherit || untilDiffers;
}

async function actualRoles(c: Client, names: string[]): Promise<Map<string, ActualRole>> {
  const rows = (
    await c.query(
      `SELECT oid::int AS oid, rolname, rolcanlogin, rolconnlimit, extract(epoch FROM rolvaliduntil)::float8 AS until,
        (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls) AS elevated, rolinherit, rolpassword
       FROM pg_authid WHERE rolname = ANY($1)`,
      [names],
    )
  ).rows;
  return new Map(
    rows.map(r => [
      String(r.rolname),
      {
        oid: Number(r.oid),
        login: r.rolcanlogin,
        connlimit: Number(r.rolconnlimit),
        validUntil: r.until === null ? null : Number(r.until),
        elevated: r.elevated,
        inherit: r.rolinherit,
        password: r.rolpassword,
      },
    ]),
  );
}

/**
 * Makes the primary match `spec`; `passwords` holds each login role's Secret password (a role whose Secret is
 * missing is left as it is, or not created yet). Throws only when the instance cannot be reached at all.
 */
export async function reconcileManagedObjects(cfg: InstanceConfig, spec: ManagedObjectsSpec, passwords: Map<string, string>): Promise<ManagedReport> {
  const report: ManagedReport = { changes: [], problems: [] };
  const clusterDbs = cfg.databases.map(d => d.name);
  await withClient(localConnection(cfg), async c => {
    // Re-applied by whichever instance is primary: no need to wait for a synchronous replica (as reconcilePrimary).
    await c.query('SET synchronous_commit = local');
    const ident = (n: string) => c.escapeIdentifier(n);
    const step = async (what: string, fix: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        report.problems.push({ msg: `${what} failed: ${(e as Error).message}`, fix });
      }
    };
    const present = spec.roles.filter(r => r.ensure === 'present');
    let actual = await actualRoles(
      c,
      spec.roles.map(r => r.name),
    );

    // 1. Create or alter each present role (memberships come after: a role may be a member of another declared one).
    for (const r of present) {
      const have = actual.get(r.name);
      const password = r.login ? passwords.get(r.name) : undefined;
      await step(`reconciling role ${r.name}`, 'Check the role in PostgreSQL; the agent retries at its next check.', async () => {
        if (!have) {
          if (r.login && password === undefined) return; // its Secret is missing: reported by the caller
          const pw = password === undefined ? '' : ` PASSWORD ${c.escapeLiteral(scramVerifier(password))}`;
          await c.query(`CREATE ROLE ${ident(r.name)} WITH ${attributes(c, r)}${pw}`);
          report.changes.push(`created role ${r.name}`);
          return;
        }
        if (attributesDiffer(r, have)) {
          await c.query(`ALTER ROLE ${ident(r.name)} WITH ${attributes(c, r)}`);
          report.changes.push(`altered role ${r.name}`);
        }
        if (password !== undefined && !verifierMatches(have.password, password)) {
          await c.query(`ALTER ROLE ${ident(r.name)} WITH PASSWORD ${c.escapeLiteral(scramVerifier(password))}`);
          report.changes.push(`set the password of role ${r.name} from its Secret`);
        } else if (!r.login && have.password !== null) {
          await c.query(`ALTER ROLE ${ident(r.name)} WITH PASSWORD NULL`);
          report.changes.push(`removed the password of role ${r.name} (login: false)`);
        }
      });
    }
    actual = await actualRoles(
      c,
      spec.roles.map(r => r.name),
    );

    // 2. Memberships and CONNECT, exactly as declared.
    for (const r of present) {
      const have = actual.get(r.name);
      if (!have) continue;
      await step(
        `granting role ${r.name} its memberships`,
        `Check that every role in roles[].inRoles of ${r.name} exists (a declared role that failed to be created is reported above).`,
        async () => {
          const member = (
            await c.query('SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = $1', [have.oid])
          ).rows.map(x => String(x.rolname));
          for (const g of r.inRoles.filter(g => !member.includes(g))) {
            await c.query(`GRANT ${ident(g)} TO ${ident(r.name)}`);
            report.changes.push(`granted ${g} to ${r.name}`);
          }
          for (const g of member.filter(g => !r.inRoles.includes(g))) {
            await c.query(`REVOKE ${ident(g)} FROM ${ident(r.name)}`);
            report.changes.push(`revoked ${g} from ${r.name}`);
          }
        },
      );
      await step(`granting role ${r.name} CONNECT`, 'Check the databases of the cluster; the agent retries at its next check.', async () => {
        const connect = await explicitConnect(c, have.oid);
        for (const db of r.databases.filter(d => !connect.includes(d))) {
          await c.query(`GRANT CONNECT ON DATABASE ${ident(db)} TO ${ident(r.name)}`);
          report.changes.push(`granted CONNECT on ${db} to ${r.name}`);
        }
        for (const db of connect.filter(d => clusterDbs.includes(d) && !r.databases.includes(d))) {
          await c.query(`REVOKE CONNECT ON DATABASE ${ident(db)} FROM ${ident(r.name)}`);
          report.changes.push(`revoked CONNECT on ${db} from ${r.name}`);
        }
      });
    }

    // 3. Roles declared absent: the agent's own CONNECT grants go, then the role, if nothing else depends on it.
    for (const r of spec.roles.filter(x => x.ensure === 'absent')) {
      await step(`dropping role ${r.name}`, 'Check the role in PostgreSQL; the agent retries at its next check.', async () => {
        const have = actual.get(r.name);
        if (have) {
          for (const db of (await explicitConnect(c, have.oid)).filter(d => clusterDbs.includes(d))) {
            await c.query(`REVOKE CONNECT ON DATABASE ${ident(db)} FROM ${ident(r.name)}`);
          }
        }
        const decision = decideRoleDrop({ role: r.name, exists: !!have, dependencies: have ? await dependencies(c, have.oid) : [] });
        if (decision.action === 'drop') {
          await c.query(`DROP ROLE ${ident(r.name)}`);
          report.changes.push(`dropped role ${r.name}`);
        } else if (decision.action === 'wait') {
          report.problems.push({ msg: decision.why, fix: decision.fix, fields: { role: r.name, invariant: decision.invariant } });
        }
      });
    }
  });

  // 4. Per database: schemas, then extensions (one may go into a declared schema).
  for (const db of spec.databases) {
    try {
      await withClient(localConnection(cfg, db.name), async c => {
        await c.query('SET synchronous_commit = local');
        for (const s of db.schemas) {
          try {
            const row = (await c.query('SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1', [s.name])).rows[0];
            if (!row) {
              await c.query(`CREATE SCHEMA ${c.escapeIdentifier(s.name)} AUTHORIZATION ${c.escapeIdentifier(s.owner)}`);
              report.changes.push(`created schema ${s.name} in ${db.name}`);
            } else if (row.owner !== s.owner) {
              await c.query(`ALTER SCHEMA ${c.escapeIdentifier(s.name)} OWNER TO ${c.escapeIdentifier(s.owner)}`);
              report.changes.push(`gave schema ${s.name} in ${db.name} to ${s.owner}`);
            }
          } catch (e) {
            report.problems.push({
              msg: `schema ${s.name} in database ${db.name}: ${(e as Error).message}`,
              fix: `Check that role ${s.owner} exists (a role declared in roles is created first); the agent retries at its next check.`,
              fields: { database: db.name, schema: s.name },
            });
          }
        }
        for (const e of db.extensions) {
          try {
            const avail = (await c.query('SELECT default_version FROM pg_available_extensions WHERE name = $1', [e.name])).rows[0];
            const versions = (await c.query('SELECT version FROM pg_available_extension_versions WHERE name = $1', [e.name])).rows.map(x =>
              String(x.version),
            );
            const inst = (
              await c.query('SELECT e.extversion, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1', [
                e.name,
              ])
            ).rows[0];
            const d = decideExtension({
              database: db.name,
              name: e.name,
              version: e.version,
              schema: e.schema,
              available: avail ? { defaultVersion: String(avail.default_version), versions } : undefined,
              installed: inst ? { version: String(inst.extversion), schema: String(inst.nspname) } : undefined,
            });
            if (d.action === 'create') {
              const schema = d.schema ? ` SCHEMA ${c.escapeIdentifier(d.schema)}` : '';
              const version = d.version ? ` VERSION ${c.escapeLiteral(d.version)}` : '';
              await c.query(`CREATE EXTENSION IF NOT EXISTS ${c.escapeIdentifier(e.name)} WITH${schema}${version} CASCADE`);
              report.changes.push(`created extension ${e.name} in ${db.name}`);
            } else if (d.action === 'update') {
              await c.query(`ALTER EXTENSION ${c.escapeIdentifier(e.name)} UPDATE TO ${c.escapeLiteral(d.version)}`);
              report.changes.push(`updated extension ${e.name} in ${db.name} to ${d.version}`);
            } else if (d.action === 'refuse') {
              report.problems.push({ msg: d.why, fix: d.fix, fields: { database: db.name, extension: e.name } });
            }
          } catch (err) {
            report.problems.push({
              msg: `extension ${e.name} in database ${db.name}: ${(err as Error).message}`,
              fix: 'Check the declared schema and version (a schema declared in schemas is created first); the agent retries at its next check.',
              fields: { database: db.name, extension: e.name },
            });
          }
        }
      });
    } catch (e) {
      report.problems.push({
        msg: `cannot reconcile the schemas and extensions of database ${db.name}: ${(e as Error).message}`,
        fix: 'The agent retries at its next check; the database is created by the reconcile of databases.',
        fields: { database: db.name },
      });
    }
  }
  return report;
}

/** Cluster databases on which the role has CONNECT granted to it by name (not through PUBLIC or a membership). */
async function explicitConnect(c: Client, oid: number): Promise<string[]> {
  return (
    await c.query(`SELECT d.datname FROM pg_database d, aclexplode(d.datacl) a WHERE a.grantee = $1 AND a.privilege_type = 'CONNECT' ORDER BY 1`, [
      oid,
    ])
  ).rows.map(r => String(r.datname));
}

/** What pg_shdepend (shared across databases) records about the role: owned objects and privileges, per database. */
async function dependencies(c: Client, oid: number): Promise<Array<{ database?: string; owned: number; privileges: number }>> {
  const rows = (
    await c.query(
      `SELECT d.datname, count(*) FILTER (WHERE s.deptype = 'o')::int AS owned, count(*) FILTER (WHERE s.deptype <> 'o')::int AS privileges
       FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid
       WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = $1 AND s.deptype IN ('o', 'a', 'r', 'i')
       GROUP BY d.datname ORDER BY d.datname NULLS FIRST`,
      [oid],
    )
  ).rows;
  return rows.map(r => ({ database: r.datname ?? undefined, owned: Number(r.owned), privileges: Number(r.privileges) }));
}

/** The user's pg_hba rules into this instance's pg_hba.conf; reloads postgres when the file changed. */
async function syncHba(cfg: InstanceConfig, spec: ManagedObjectsSpec): Promise<void> {
  const file = path.join(cfg.pgdata, 'pg_hba.conf');
  if (!fs.existsSync(file)) return;
  const before = fs.readFileSync(file, 'utf8');
  const after = withManagedHbaRules(before, spec.pgHba);
  if (after === before) return;
  fs.writeFileSync(file, after, { mode: 0o600 });
  try {
    await withClient(localConnection(cfg), c => c.query('SELECT pg_reload_conf()'));
    log.info({ rules: spec.pgHba.length }, 'pg_hba.conf: the pgHba rules of the manifest applied by a reload');
  } catch {
    // Not running: the next start reads the file.
  }
}

/**
 * Follows the ConfigMap every CREDENTIALS_POLL_SECONDS: the pg_hba rules on every instance, the roles, schemas and
 * extensions on the primary (`isPrimary`: reconciled and writable). A reconcile runs when the spec or a password
 * changed, on becoming primary, and every 30 s while something was refused (a role whose objects were since
 * reassigned is then dropped). Each problem is logged once, at error level, with its fix.
 */
export function startManagedObjects(
  kube: KubeClient,
  cfg: InstanceConfig,
  isPrimary: () => boolean,
  intervalMs = CREDENTIALS_POLL_SECONDS * 1000,
): () => void {
  let spec: ManagedObjectsSpec = EMPTY_MANAGED;
  let specError = '';
  let lastKey = '';
  let lastRun = 0;
  let logged = new Set<string>();
  let pending = false;

  const report = (problems: ManagedProblem[]) => {
    const now = new Set<string>();
    for (const p of problems) {
      now.add(p.msg);
      if (!logged.has(p.msg)) log.error({ ...(p.fields ?? {}), fix: p.fix }, p.msg);
    }
    logged = now;
    pending = problems.length > 0;
  };

  const tick = async () => {
    try {
      spec = readManagedObjects(cfg.configDir);
      specError = '';
    } catch (e) {
      const msg = `cannot read the managed roles and extensions: ${(e as Error).message}`;
      if (msg !== specError) log.error({ fix: 'Apply the ConfigMap <cluster>-config as rendered; the last readable one stays in use.' }, msg);
      specError = msg;
    }
    await syncHba(cfg, spec).catch(e => log.warn({ err: (e as Error).message }, 'cannot write the pgHba rules into pg_hba.conf yet; retrying'));
    if (!isPrimary()) {
      lastKey = '';
      return;
    }
    if (!spec.roles.length && !spec.databases.length) return;
    const problems: ManagedProblem[] = [];
    const passwords = await rolePasswords(kube, spec, problems);
    const key = crypto
      .createHash('sha256')
      .update(JSON.stringify([spec.roles, spec.databases, [...passwords.entries()].sort()]))
      .digest('hex');
    if (key === lastKey && !(pending && Date.now() - lastRun > 30000)) return;
    lastRun = Date.now();
    let r: ManagedReport;
    try {
      r = await reconcileManagedObjects(cfg, spec, passwords);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot reconcile the managed roles, extensions and schemas yet; retrying');
      return;
    }
    lastKey = key;
    if (r.changes.length) log.info({ changes: r.changes }, 'managed roles, schemas and extensions reconciled');
    report([...problems, ...r.problems]);
  };

  return pollSerially(intervalMs, () =>
    tick().catch(e => log.warn({ err: (e as Error).message }, 'managed roles and extensions: check failed; retrying')),
  );
}

/**
 * Each present login role's password from its Secret; a missing generated Secret is created (by the primary only,
 * as credentials.ts does for the app Secrets), a missing one the user manages is a problem.
 */
async function rolePasswords(kube: KubeClient, spec: ManagedObjectsSpec, problems: ManagedProblem[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of spec.roles.filter(x => x.ensure === 'present' && x.login && x.passwordSecret)) {
    const name = r.passwordSecret!;
    try {
      let secret = await kube.getSecret(name);
      if (!secret && r.generated) {
        const created = await ensureSecrets(kube, r.generated);
        if (created.length)
          log.warn({ secrets: created, user: r.name }, "a managed role's generated Secret was missing: created it with a new password");
        secret = await kube.getSecret(name);
      }
      if (!secret) {
        problems.push({
          msg: `role ${r.name}: its password Secret ${name} does not exist`,
          fix: `Create Secret ${name} with the password under the key "password"; the role is created (or keeps its password) until then.`,
          fields: { role: r.name, secret: name },
        });
        continue;
      }
      out.set(r.name, passwordOf(name, secret.data));
    } catch (e) {
      problems.push({
        msg: `role ${r.name}: cannot read its password Secret ${name}: ${(e as Error).message}`,
        fix: 'Check the Secret and the Role of the manifests (get on it).',
        fields: { role: r.name },
      });
    }
  }
  return out;
}
