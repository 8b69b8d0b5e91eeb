/**
 * Managed roles and extensions (issue 15): the drop of a role declared `absent` is destructive (its objects would go
 * with DROP OWNED, or change hands with REASSIGN OWNED), so the agent drops a role only when PostgreSQL records
 * nothing that depends on it; otherwise it waits and names the databases and the fix. Which extension statement to
 * run is decided here too, from what the image offers and what the database has.
 */
import { INVARIANTS, Invariant } from './invariants';

/** What pg_shdepend records about a role, per database (`database` undefined: cluster-wide, e.g. a database it owns). */
export interface RoleDependencies {
  database?: string;
  /** Objects it owns. */
  owned: number;
  /** Privileges granted to it (ACL entries, default privileges, policies). */
  privileges: number;
}

export interface RoleDropFacts {
  role: string;
  exists: boolean;
  dependencies: RoleDependencies[];
}

export type RoleDropDecision =
  | { action: 'none'; why: string }
  | { action: 'drop'; why: string; invariant: Invariant }
  | { action: 'wait'; why: string; fix: string; invariant: Invariant };

/** Drop only a role nothing depends on: the agent never runs DROP OWNED or REASSIGN OWNED on its own. */
export function decideRoleDrop(f: RoleDropFacts): RoleDropDecision {
  const invariant = INVARIANTS.VERIFY_BEFORE_DESTROY;
  if (!f.exists) return { action: 'none', why: `role ${f.role} is declared absent and does not exist` };
  const deps = f.dependencies.filter(d => d.owned > 0 || d.privileges > 0);
  if (!deps.length) return { action: 'drop', invariant, why: `role ${f.role} is declared absent and owns nothing: dropping it` };
  const where = (d: RoleDependencies) => (d.database === undefined ? 'cluster-wide (a database or tablespace)' : `in database ${d.database}`);
  const parts = deps.map(
    d =>
      [d.owned ? `owns ${d.owned} object(s)` : '', d.privileges ? `holds ${d.privileges} privilege(s)` : ''].filter(Boolean).join(' and ') +
      ` ${where(d)}`,
  );
  const dbs = deps.filter(d => d.database !== undefined).map(d => d.database!);
  return {
    action: 'wait',
    invariant,
    why: `role ${f.role} is declared absent but ${parts.join('; ')}: not dropped (its objects would be lost or change hands)`,
    fix:
      `Decide what happens to them: in each of ${dbs.length ? dbs.join(', ') : 'the databases named'} run ` +
      `REASSIGN OWNED BY ${f.role} TO <new owner>; DROP OWNED BY ${f.role}; ` +
      `${deps.some(d => d.database === undefined) ? `give any database it owns another owner (ALTER DATABASE … OWNER TO …); ` : ''}` +
      `the agent drops it at its next check. Or declare it ensure: 'present' again.`,
  };
}

export interface ExtensionFacts {
  database: string;
  name: string;
  /** Declared version and schema (undefined: the image's default version, the extension's own schema). */
  version?: string;
  schema?: string;
  /** What the image offers (pg_available_extensions); undefined when it does not have the extension at all. */
  available?: { defaultVersion: string; versions: string[] };
  /** What the database has (pg_extension). */
  installed?: { version: string; schema: string };
}

export type ExtensionDecision =
  | { action: 'none'; why: string }
  | { action: 'create'; version?: string; schema?: string; why: string }
  | { action: 'update'; version: string; why: string }
  | { action: 'refuse'; why: string; fix: string };

/** Create, update to the declared version, or refuse with the reason (never drops, never moves an extension). */
export function decideExtension(f: ExtensionFacts): ExtensionDecision {
  const what = `extension ${f.name} in database ${f.database}`;
  if (!f.installed && !f.available) {
    return {
      action: 'refuse',
      why: `${what}: the image does not have it (not in pg_available_extensions)`,
      fix: `Use an image that carries ${f.name} for this PostgreSQL major (the agent image has pgvector as "vector" and PostGIS as "postgis"), or remove it from databases[].extensions; the rest is reconciled.`,
    };
  }
  if (f.version && f.available && !f.available.versions.includes(f.version) && f.installed?.version !== f.version) {
    return {
      action: 'refuse',
      why: `${what}: version ${f.version} is not in the image (it has ${f.available.versions.join(', ')})`,
      fix: `Declare one of those versions, or leave version out for the image's default (${f.available.defaultVersion}).`,
    };
  }
  if (!f.installed) {
    return { action: 'create', version: f.version, schema: f.schema, why: `${what}: creating it` };
  }
  if (f.schema && f.installed.schema !== f.schema) {
    return {
      action: 'refuse',
      why: `${what} is installed in schema ${f.installed.schema}, declared ${f.schema}: not moved`,
      fix: `Move it yourself (ALTER EXTENSION ${f.name} SET SCHEMA ${f.schema}, if the extension allows it) or declare schema "${f.installed.schema}".`,
    };
  }
  if (f.version && f.installed.version !== f.version) {
    return { action: 'update', version: f.version, why: `${what}: updating from ${f.installed.version} to ${f.version}` };
  }
  return { action: 'none', why: `${what} is installed (${f.installed.version})` };
}
