/**
 * The canary's configuration from its environment (see CANARY_ENV in lib/contract/canary.ts): where the database
 * is and with which credentials, the HTTP port and the optional heartbeat. The connection prefers the app Secret's
 * `uri`; without it the parts (host, port, dbname, user, password) are used.
 */
import { CANARY_AUTH_ENV, CANARY_ENV, CANARY_HTTP_PORT, ENV } from '../../../lib/contract';
import { BasicAuthCredentials } from './guard';
import { optionalEnv, intEnv } from '../common/env';
import { AgentError } from '../common/errors';

export interface DbTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  /** From the URI's sslmode: require (no verification) or verify (against the system CAs). */
  ssl?: 'require' | 'verify';
}

export interface CanaryConfig {
  target: DbTarget;
  httpPort: number;
  heartbeatSeconds?: number;
  /** Cluster name for the page title (PGC_CLUSTER), when the manifest gives it. */
  cluster?: string;
  /** HTTP basic auth for everything but /healthz, when the manifest gives it. */
  auth?: BasicAuthCredentials;
}

export function readCanaryConfig(env: NodeJS.ProcessEnv = process.env): CanaryConfig {
  const uri = optionalEnv(CANARY_ENV.uri, env);
  const target = uri ? targetFromUri(uri) : targetFromParts(env);
  const heartbeat = optionalEnv(CANARY_ENV.heartbeatSeconds, env);
  return {
    target,
    httpPort: intEnv(CANARY_ENV.httpPort, env, CANARY_HTTP_PORT),
    heartbeatSeconds: heartbeat === undefined ? undefined : intEnv(CANARY_ENV.heartbeatSeconds, env),
    cluster: optionalEnv(ENV.cluster, env),
    auth: readAuth(env),
  };
}

/** Both variables or neither: one alone is a broken Secret reference, and must not silently open the page. */
function readAuth(env: NodeJS.ProcessEnv): BasicAuthCredentials | undefined {
  const username = env[CANARY_AUTH_ENV.username];
  const password = env[CANARY_AUTH_ENV.password];
  if (username === undefined && password === undefined) return undefined;
  if (!username || !password) {
    throw new AgentError(
      `basic auth is half configured: ${username ? CANARY_AUTH_ENV.password : CANARY_AUTH_ENV.username} is empty or missing`,
      "Put both the user name and the password in the Secret the CanaryApp's basicAuth names (keys username and password by default).",
      { variables: [CANARY_AUTH_ENV.username, CANARY_AUTH_ENV.password] },
    );
  }
  return { username, password };
}

/** Parses a libpq URI (`postgresql://user:password@host:port/dbname?sslmode=…`). Never echoes the URI itself. */
export function targetFromUri(uri: string): DbTarget {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new AgentError(
      `${CANARY_ENV.uri} is not a valid URI`,
      'Point it at the app Secret\'s "uri" key, which has the form postgresql://user:password@host:5432/dbname.',
      { variable: CANARY_ENV.uri },
    );
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
    throw new AgentError(
      `${CANARY_ENV.uri} has the scheme "${u.protocol}", not postgresql:`,
      'Point it at the app Secret\'s "uri" key (not "jdbc-uri").',
      { variable: CANARY_ENV.uri },
    );
  }
  const host = u.searchParams.get('host') ?? u.hostname.replace(/^\[(.*)\]$/, '$1');
  const user = decodeURIComponent(u.username) || u.searchParams.get('user') || '';
  if (!host || !user) {
    throw new AgentError(
      `${CANARY_ENV.uri} names no ${host ? 'user' : 'host'}`,
      'Point it at the app Secret\'s "uri" key, which has the form postgresql://user:password@host:5432/dbname.',
      { variable: CANARY_ENV.uri },
    );
  }
  const sslmode = u.searchParams.get('sslmode') ?? 'disable';
  return {
    host,
    port: u.port ? Number(u.port) : Number(u.searchParams.get('port') ?? 5432),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || u.searchParams.get('dbname') || user,
    user,
    password: u.password ? decodeURIComponent(u.password) : (u.searchParams.get('password') ?? undefined),
    ssl: sslmode === 'require' ? 'require' : sslmode === 'verify-ca' || sslmode === 'verify-full' ? 'verify' : undefined,
  };
}

function targetFromParts(env: NodeJS.ProcessEnv): DbTarget {
  const missing = [CANARY_ENV.host, CANARY_ENV.dbname, CANARY_ENV.user].filter(n => optionalEnv(n, env) === undefined);
  if (missing.length > 0) {
    throw new AgentError(
      `no database to connect to: ${CANARY_ENV.uri} is not set, nor ${missing.join(', ')}`,
      'Fill them from the app Secret (keys uri, or host, port, dbname, user and password); the CanaryApp construct renders this.',
      { missing },
    );
  }
  return {
    host: optionalEnv(CANARY_ENV.host, env)!,
    port: intEnv(CANARY_ENV.port, env, 5432),
    database: optionalEnv(CANARY_ENV.dbname, env)!,
    user: optionalEnv(CANARY_ENV.user, env)!,
    password: optionalEnv(CANARY_ENV.password, env),
  };
}

/** `host:port/database` as a person would say it; never the password. */
export function describeTarget(t: DbTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${host}:${t.port}/${t.database}`;
}
