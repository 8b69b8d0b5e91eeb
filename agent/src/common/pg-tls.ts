/**
 * node `pg` does not read PGSSLROOTCERT: the TLS options for our own node clients from the same libpq variables the
 * manifests give our Jobs (PGSSLMODE=verify-full, PGSSLROOTCERT=<cluster>-ca mounted), so that node and
 * pg_basebackup verify the server alike.
 */
import * as fs from 'fs';
import { ConnectionOptions } from 'tls';

export function pgSslFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionOptions | false | undefined {
  const mode = env.PGSSLMODE;
  if (!mode) return undefined; // pg's own default
  if (mode === 'disable') return false;
  if (mode === 'verify-full' || mode === 'verify-ca') {
    const ca = env.PGSSLROOTCERT ? fs.readFileSync(env.PGSSLROOTCERT, 'utf8') : undefined;
    // verify-ca: the chain only (no host name check), as libpq does.
    return { ca, rejectUnauthorized: true, ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}) };
  }
  return { rejectUnauthorized: false }; // require / prefer: encrypted, not verified (libpq's meaning)
}
