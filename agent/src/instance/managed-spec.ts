/**
 * The managed roles, extensions, schemas and pg_hba rules of the cluster's ConfigMap (lib/contract/managed.ts), as
 * the agent reads them, and the user's pg_hba rules merged into the agent's pg_hba.conf.
 */
import * as fs from 'fs';
import * as path from 'path';
import { MANAGED_OBJECTS_KEY, ManagedObjectsSpec } from '../../../lib/contract';

export const EMPTY_MANAGED: ManagedObjectsSpec = { roles: [], databases: [], pgHba: [] };

/**
 * Reads the spec from the mounted ConfigMap; nothing declared (or manifests without a ConfigMap) is the empty spec.
 * Throws on a file that is not the rendered JSON.
 */
export function readManagedObjects(configDir: string | undefined): ManagedObjectsSpec {
  if (!configDir) return EMPTY_MANAGED;
  const file = path.join(configDir, MANAGED_OBJECTS_KEY);
  if (!fs.existsSync(file)) return EMPTY_MANAGED;
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as ManagedObjectsSpec;
  if (!Array.isArray(parsed?.roles) || !Array.isArray(parsed?.databases) || !Array.isArray(parsed?.pgHba)) {
    throw new Error(`${file} is not a managed objects spec (roles, databases, pgHba)`);
  }
  return parsed;
}

/** The same, or the empty spec (with the error) when the file cannot be read: pg_hba.conf is written at every start. */
export function readManagedObjectsOrEmpty(configDir: string | undefined): { spec: ManagedObjectsSpec; error?: string } {
  try {
    return { spec: readManagedObjects(configDir) };
  } catch (e) {
    return { spec: EMPTY_MANAGED, error: (e as Error).message };
  }
}

const BEGIN = '# pgHba rules from the manifest (PostgresCluster pgHba): after the agent rules, before the catch-all';
const END = '# end of the pgHba rules';
/** The final catch-all line of the agent's pg_hba.conf (`host`, or `hostssl` once TLS is on). */
const CATCH_ALL = /^(host|hostssl)\s+all\s+all\s+all\s+\S+.*$/;

/**
 * `hba` (the agent's pg_hba.conf text) with the user's rules in place of any earlier ones: before the final
 * catch-all rule (after it they would never match: pg_hba.conf is first-match), after the agent's own rules (its
 * peer login, replication), and after one rule that keeps the agents' own TCP logins (pg_rewind, backups) on
 * passwords whatever the user's rules say. Without rules the text is returned unchanged.
 */
export function withManagedHbaRules(hba: string, rules: readonly string[]): string {
  const lines = hba.split('\n');
  const begin = lines.indexOf(BEGIN);
  const end = lines.indexOf(END);
  if (begin >= 0 && end > begin) lines.splice(begin, end - begin + 1);
  const safe = rules.filter(r => /^hostssl\s/.test(r) && !/[\r\n]/.test(r));
  if (!safe.length) return lines.join('\n');
  const section = [BEGIN, 'hostssl all             postgres,streaming_replica all     scram-sha-256', ...safe, END];
  let at = -1;
  lines.forEach((l, i) => {
    if (CATCH_ALL.test(l)) at = i;
  });
  if (at < 0) at = lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  lines.splice(at, 0, ...section);
  return lines.join('\n');
}

/** pg_hba.conf of `cfg` with the rules the mounted ConfigMap has now (used wherever the agent writes the file). */
export function hbaWithManagedRules(hba: string, configDir: string | undefined): string {
  return withManagedHbaRules(hba, readManagedObjectsOrEmpty(configDir).spec.pgHba);
}
