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
