import { SecretSpec } from './env';

/**
 * The keys of an app Secret, formatted exactly as CloudNativePG does, so applications move over unchanged:
 * `dbname host port user username password pgpass uri jdbc-uri fqdn-uri fqdn-jdbc-uri`.
 * The constructs never call this with a password (no secret in dist/); the agent's `secrets` command does.
 */
export function appSecretData(
  spec: Pick<SecretSpec, 'username' | 'dbname' | 'host' | 'port' | 'clusterDomain'>,
  password: string,
  namespace: string,
): Record<string, string> {
  const user = encodeURIComponent(spec.username);
  const pw = encodeURIComponent(password);
  const db = spec.dbname;
  const hostNs = `${spec.host}.${namespace}`;
  const fqdn = `${spec.host}.${namespace}.svc.${spec.clusterDomain}`;
  return {
    dbname: db,
    host: spec.host,
    port: String(spec.port),
    user: spec.username,
    username: spec.username,
    password,
    pgpass: `${spec.host}:${spec.port}:${db}:${spec.username}:${password}\n`,
    // TLS is always on: verify the server. libpq and pgJDBC read the CA from ~/.postgresql/root.crt unless told
    // otherwise (PGSSLROOTCERT, or &sslrootcert=<file>): mount key ca.crt of Secret <cluster>-ca there.
    uri: `postgresql://${user}:${pw}@${hostNs}:${spec.port}/${db}?sslmode=verify-full`,
    'jdbc-uri': `jdbc:postgresql://${hostNs}:${spec.port}/${db}?password=${pw}&user=${user}&sslmode=verify-full`,
    'fqdn-uri': `postgresql://${user}:${pw}@${fqdn}:${spec.port}/${db}?sslmode=verify-full`,
    'fqdn-jdbc-uri': `jdbc:postgresql://${fqdn}:${spec.port}/${db}?password=${pw}&user=${user}&sslmode=verify-full`,
  };
}

/** The exact key set of an app Secret. */
export const APP_SECRET_KEYS = [
  'dbname',
  'host',
  'port',
  'user',
  'username',
  'password',
  'pgpass',
  'uri',
  'jdbc-uri',
  'fqdn-uri',
  'fqdn-jdbc-uri',
] as const;
