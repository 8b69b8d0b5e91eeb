/**
 * `bootstrap.import`: whether the source may be imported into this cluster, which databases go where, and what a
 * failed import tells the user. The import itself runs in the side directory of every bootstrap (`<pgdata>.partial`),
 * so nothing half-imported is ever started; a failure discards that directory and waits 30 s before starting over.
 */
import { SUPERUSER } from '../../../lib/contract';
import { Decision, INVARIANTS } from './invariants';

export interface ImportSourceFacts {
  /** `user@host:port`, for the texts. */
  source: string;
  /** The source's server_version_num (e.g. 150010). */
  sourceVersionNum: number;
  /** The major of this cluster's server binaries. */
  clusterMajor: number;
  /** The source's databases that accept connections and are not templates. */
  sourceDatabases: string[];
  /** bootstrap.import.databases, when given. */
  requested?: string[];
  /** The cluster's declared databases and owners. */
  declared: ReadonlyArray<{ name: string; owner: string }>;
}

export interface ImportTarget {
  name: string;
  /** Owns the database and every object pg_restore creates in it (pg_restore --no-owner --role=<owner>). */
  owner: string;
}

export type ImportPlan = (Decision<'import'> & { action: 'import'; databases: ImportTarget[] }) | Extract<Decision<never>, { action: 'wait' }>;

/** The major of a server_version_num: 150010 → 15, 170002 → 17 (90624, 9.6, counts as 9: older either way). */
export function majorOf(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}

/** Decided before anything is dumped: a newer source, or a database without a declared owner, is refused. */
export function planImport(f: ImportSourceFacts): ImportPlan {
  const invariant = INVARIANTS.VERIFY_BEFORE_DESTROY;
  const sourceMajor = majorOf(f.sourceVersionNum);
  if (sourceMajor > f.clusterMajor) {
    return {
      action: 'wait',
      invariant,
      why: `the import source ${f.source} runs PostgreSQL ${sourceMajor} (server_version_num ${f.sourceVersionNum}), newer than this cluster's ${f.clusterMajor}: an import goes to the same or a newer major only; nothing was dumped`,
      fix: `Set postgresVersion to ${sourceMajor} or later on this cluster, or import from a server of PostgreSQL ${f.clusterMajor} or older.`,
    };
  }
  const missing = (f.requested ?? []).filter(d => !f.sourceDatabases.includes(d));
  if (missing.length) {
    return {
      action: 'wait',
      invariant,
      why: `bootstrap.import.databases lists ${missing.join(', ')}, which the source ${f.source} does not have (it has ${f.sourceDatabases.join(', ') || 'none'}); nothing was dumped`,
      fix: 'List only databases of the source in bootstrap.import.databases (or leave it out to take all of them), and check host and port point at the right server.',
    };
  }
  const names = f.requested ?? f.sourceDatabases.filter(d => d !== SUPERUSER);
  const undeclared = names.filter(d => d !== SUPERUSER && !f.declared.some(x => x.name === d));
  if (undeclared.length) {
    return {
      action: 'wait',
      invariant,
      why: `the source ${f.source} has database(s) ${undeclared.join(', ')} that this cluster does not declare, so no owner is known for their objects; nothing was dumped`,
      fix: `Declare each in databases with its owner (e.g. { name: '${undeclared[0]}', owner: '${undeclared[0]}' }), or list the databases to take in bootstrap.import.databases.`,
    };
  }
  const databases = names.map(name => ({ name, owner: name === SUPERUSER ? SUPERUSER : f.declared.find(d => d.name === name)!.owner }));
  return {
    action: 'import',
    databases,
    why: `the source runs PostgreSQL ${sourceMajor}, this cluster ${f.clusterMajor}: importing ${databases.map(d => `${d.name} (owner ${d.owner})`).join(', ') || 'roles only (no database to take)'}`,
  };
}

export type ImportFailureKind = 'unreachable' | 'refused' | 'privileges' | 'other';

/** What an import failure means and what to do; every kind waits and starts over (nothing was kept). */
export function classifyImportFailure(message: string): { kind: ImportFailureKind; fix: string } {
  if (/password authentication failed|no pg_hba\.conf entry|role "[^"]*" does not exist|SCRAM|pg_hba/i.test(message))
    return {
      kind: 'refused',
      fix: "Check bootstrap.import.user and the password Secret (read at the pod's start: delete the pod after changing it), and that the source's pg_hba.conf lets that user in from the pods.",
    };
  if (
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ETIMEDOUT|timeout|could not connect|Connection refused|could not translate host|Connection terminated/i.test(
      message,
    )
  )
    return {
      kind: 'unreachable',
      fix: 'Check that the source answers from the pods (bootstrap.import host and port, NetworkPolicies on both sides); the import starts over every 30 s.',
    };
  if (/permission denied|must be superuser|must be a member/i.test(message))
    return {
      kind: 'privileges',
      fix: "Give the import user read access to everything (a superuser, or on PostgreSQL 14+ a member of pg_read_all_data); roles: 'all' needs a superuser, 'withoutPasswords' does not.",
    };
  return { kind: 'other', fix: 'Fix what the message says; nothing of the import was kept, it starts over every 30 s.' };
}
