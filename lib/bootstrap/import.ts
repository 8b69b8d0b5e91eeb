import { k8s } from 'cdk8s-plus-28';
import { CloneSourceSpec, DATABASE_NAME, IMPORT_DEFAULTS, IMPORT_ENV, IMPORT_ROLES, ImportRoles, ImportSpec, SUPERUSER } from '../contract';
import { ValidationError } from '../validation';
import { resolveSourceConnection } from './source-connection';

/** Where the CA certificate of the import source is mounted (for sslmode verify-ca / verify-full). */
export const IMPORT_CA_MOUNT_PATH = '/etc/pg-agent/import-source-ca';

/**
 * Bootstrap a new cluster by a logical copy of a running PostgreSQL server of the same or an older major version
 * (a major upgrade, or a move off a server that is not ours): the first instance runs initdb, then imports the
 * source's roles (`pg_dumpall --roles-only`, no superuser attribute), creates each database owned by its declared
 * owner with the source's extensions, and restores it (`pg_dump -Fd -j` / `pg_restore -j --no-owner
 * --role=<declared owner>`: every object belongs to the database's declared owner). All of this happens in a side
 * directory: the instance starts, becomes ready and archives only once every database was imported; a failed
 * import leaves nothing behind and is retried every 30 s. The source is only read (every connection runs with
 * `default_transaction_read_only=on`). See docs/major-upgrade.md.
 */
export interface ImportProps {
  /** Host name or address of the source server, as seen from the pods (e.g. the old cluster's `-rw` Service). */
  readonly host: string;
  /**
   * Port of the source server.
   * @default 5432
   */
  readonly port?: number;
  /**
   * A role of the source that can read every database to import: a superuser, or (PostgreSQL 14 and later) a member
   * of `pg_read_all_data`. `roles: 'all'` needs a superuser (the password hashes are in `pg_authid`).
   * @default 'postgres'
   */
  readonly user?: string;
  /** The Secret (in this namespace) with that role's password. Never written into the manifests. */
  readonly passwordSecret: {
    readonly name: string;
    /** @default 'password' */
    readonly key?: string;
  };
  /**
   * libpq sslmode towards the source. `verify-ca` and `verify-full` need `caCertificate`.
   * @default 'prefer'
   */
  readonly sslmode?: CloneSourceSpec['sslmode'];
  /** The CA certificate (PEM) that signed the source's server certificate, from a Secret or a ConfigMap. */
  readonly caCertificate?: { readonly secretName?: string; readonly configMapName?: string; /** @default 'ca.crt' */ readonly key?: string };
  /**
   * The source's databases to import. Each must be declared in the cluster's `databases` (its owner there owns
   * every imported object); `postgres` may be listed too (imported into the cluster's own, owned by the superuser).
   * @default - every database of the source but templates and `postgres`; each must be declared in `databases`
   */
  readonly databases?: string[];
  /**
   * The source's roles: `all` (with their password hashes: needs a superuser on the source), `withoutPasswords`
   * (the roles, attributes and memberships, no password: a role logs in once it is given one, e.g. as a managed
   * `roles` entry), or `none` (then privileges are not imported either). Never the SUPERUSER or REPLICATION
   * attribute, never the cluster's own roles.
   * @default 'withoutPasswords' - no credential leaves the old server, and a non-superuser source role suffices;
   * the declared owners get this cluster's passwords (their app Secrets) anyway
   */
  readonly roles?: ImportRoles;
  /**
   * Parallel jobs of pg_dump and pg_restore (per database).
   * @default 2
   */
  readonly jobs?: number;
}

export interface ResolvedImport {
  readonly env: k8s.EnvVar[];
  readonly ca?: { volume: k8s.Volume; mount: k8s.VolumeMount };
}

/** Checks the props at synth (against the cluster's declared databases) and renders the agent's environment. */
export function resolveImport(p: ImportProps, declared: ReadonlyArray<{ name: string; owner: string }>): ResolvedImport {
  const field = (f: string) => `bootstrap.import.${f}`;
  const { source, password, ca } = resolveSourceConnection(p, {
    prefix: 'bootstrap.import',
    defaultUser: IMPORT_DEFAULTS.user,
    userHint: 'Give a role of the source that can read every database to import (a superuser, or a member of pg_read_all_data).',
    volumeName: 'import-source-ca',
    caMountPath: IMPORT_CA_MOUNT_PATH,
  });
  const roles = p.roles ?? IMPORT_DEFAULTS.roles;
  if (!IMPORT_ROLES.includes(roles))
    throw new ValidationError(field('roles'), `"${roles}" is not a choice`, `Use one of ${IMPORT_ROLES.map(r => `'${r}'`).join(', ')}.`);
  const jobs = p.jobs ?? IMPORT_DEFAULTS.jobs;
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > IMPORT_DEFAULTS.maxJobs)
    throw new ValidationError(
      field('jobs'),
      `${jobs} is not a number of parallel jobs`,
      `Give a whole number from 1 to ${IMPORT_DEFAULTS.maxJobs}, about the CPU cores the pod may use.`,
    );
  let databases: string[] | undefined;
  if (p.databases !== undefined) {
    if (!Array.isArray(p.databases) || p.databases.length === 0)
      throw new ValidationError(field('databases'), 'is empty', 'List the databases to import, or leave it out to import all of them.');
    const seen = new Set<string>();
    for (const db of p.databases) {
      if (!DATABASE_NAME.test(db ?? ''))
        throw new ValidationError(
          field('databases'),
          `"${db}" is not a database name`,
          'Use lowercase letters, digits and "_", at most 63 characters.',
        );
      if (seen.has(db)) throw new ValidationError(field('databases'), `lists "${db}" twice`, 'List each database once.');
      seen.add(db);
      if (db !== SUPERUSER && !declared.some(d => d.name === db))
        throw new ValidationError(
          field('databases'),
          `imports "${db}", which is not declared in databases`,
          `Declare it with its owner, e.g. databases: [{ name: '${db}', owner: '${db}' }]: the owner owns every imported object and gets the app Secret.`,
        );
    }
    databases = [...p.databases];
  }
  const spec: ImportSpec = { source, ...(databases ? { databases } : {}), roles, jobs };
  return {
    ca,
    env: [
      { name: IMPORT_ENV.spec, value: JSON.stringify(spec) },
      { name: IMPORT_ENV.password, valueFrom: password },
    ],
  };
}
