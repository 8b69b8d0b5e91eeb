/**
 * Password rotation on the primary: the Secrets are the source of truth, so every role whose stored SCRAM verifier
 * does not match its Secret's password gets a new verifier (`ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'`, computed
 * here, so the plain password never appears in SQL or logs). Comparing with the stored verifier (same salt and
 * iterations) makes this idempotent: a matching role costs one catalog read and writes no WAL, and a password the
 * primary missed while it was down, or one changed by hand, converges on the next check.
 */
import { REPLICATION_USER, SUPERUSER } from '../../../lib/contract';
import { log } from '../common/log';
import { InstanceConfig } from './config';
import { scramVerifier } from './scram';
import { localConnection, withClient } from './sql';

/** True when `stored` (pg_authid.rolpassword) is the SCRAM-SHA-256 verifier of `password`. */
export function verifierMatches(stored: string | null | undefined, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$[^:]+:.+$/.exec(stored ?? '');
  if (!m) return false;
  return scramVerifier(password, Number(m[1]), Buffer.from(m[2], 'base64')) === stored;
}

/** Each login role the agent manages with the Secret its password comes from (the first database wins for a shared owner). */
export function managedRoles(cfg: InstanceConfig): Array<{ role: string; secret: string; password: () => string }> {
  const c = cfg.credentials;
  const roles = [
    { role: SUPERUSER, secret: c.sources.superuserSecret, password: () => c.superuser },
    { role: REPLICATION_USER, secret: c.sources.replicationSecret, password: () => c.replication },
    ...cfg.databases.map(db => ({ role: db.owner, secret: db.secretName, password: () => c.database(db) })),
  ];
  return roles.filter((r, i) => roles.findIndex(x => x.role === r.role) === i);
}

/**
 * Applies every Secret's password whose role does not have it yet; returns the roles changed. Roles that do not
 * exist yet are left to the reconcile, which creates them.
 */
export async function applyPasswords(cfg: InstanceConfig): Promise<string[]> {
  const roles = managedRoles(cfg);
  return withClient(localConnection(cfg), async c => {
    // Re-applied by whichever instance is primary: no need to wait for a synchronous replica.
    await c.query('SET synchronous_commit = local');
    const stored = new Map(
      (await c.query('SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1)', [roles.map(r => r.role)])).rows.map(r => [
        String(r.rolname),
        r.rolpassword as string | null,
      ]),
    );
    const changed: string[] = [];
    for (const r of roles) {
      if (!stored.has(r.role)) continue;
      const password = r.password();
      if (verifierMatches(stored.get(r.role), password)) continue;
      await c.query(`ALTER ROLE ${c.escapeIdentifier(r.role)} WITH PASSWORD ${c.escapeLiteral(scramVerifier(password))}`);
      log.info({ role: r.role, secret: r.secret }, "password rotated: the role has its Secret's password now");
      changed.push(r.role);
    }
    return changed;
  });
}
