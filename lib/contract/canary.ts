/**
 * The restore canary's half of the environment contract: what the `canary` Deployment's container gets and the
 * agent's `canary` command reads.
 */
export const CANARY_ENV = {
  /** libpq URI of the database (the app Secret's `uri` key). Preferred when set. */
  uri: 'PGC_CANARY_DB_URI',
  /** The parts, used when `uri` is not set (a Secret you manage may not carry it). */
  host: 'PGC_CANARY_DB_HOST',
  port: 'PGC_CANARY_DB_PORT',
  dbname: 'PGC_CANARY_DB_NAME',
  user: 'PGC_CANARY_DB_USER',
  password: 'PGC_CANARY_DB_PASSWORD',
  /** Port of the canary's web server. */
  httpPort: 'PGC_CANARY_HTTP_PORT',
  /** When set, one record is written every this many seconds (so after a PITR the newest record shows the recovery point). */
  heartbeatSeconds: 'PGC_CANARY_HEARTBEAT_SECONDS',
} as const;

/** The table the canary owns in its database. */
export const CANARY_TABLE = 'pgc_canary';

export const CANARY_HTTP_PORT = 8080;

/** The canary's optional HTTP basic auth: both from the user's Secret (secretKeyRef), both or neither. */
export const CANARY_AUTH_ENV = {
  username: 'PGC_CANARY_AUTH_USERNAME',
  password: 'PGC_CANARY_AUTH_PASSWORD',
} as const;

/**
 * A canary's own database role, which may only read and insert into {@link CANARY_TABLE} of its database. The
 * constructs list these in the cluster ConfigMap under {@link CANARY_ROLES_KEY}; the primary's agent creates the
 * role, the table and the grants (agent/src/instance/canary-role.ts), with the password of `secretName`, which the
 * secrets Job generates.
 */
export interface CanaryRoleSpec {
  readonly role: string;
  readonly database: string;
  /** Secret with the role's password (key `password`), in the app Secret format. */
  readonly secretName: string;
}

/** Key of the cluster ConfigMap (CLUSTER_CONFIG) with the JSON array of {@link CanaryRoleSpec}; absent without a canary. */
export const CANARY_ROLES_KEY = 'canary-roles.json';

/** The Secret of a canary's role: `<canary name>-db`. */
export const canarySecretName = (canary: string) => `${canary}-db`;
