/**
 * The environment contract between the constructs (which write it into manifests) and the agent (which reads it).
 * Every variable the agent reads is named here once; both sides import these constants.
 */
export const ENV = {
  /** Cluster name (metadata.name prefix of every object). */
  cluster: 'PGC_CLUSTER',
  /** Namespace of the pod (downward API). */
  namespace: 'PGC_NAMESPACE',
  /** Name of this pod, `<cluster>-<ordinal>` (downward API). */
  podName: 'PGC_POD_NAME',
  /** Data directory. PostgreSQL's own name, so `pg_ctl` and friends pick it up too. */
  pgdata: 'PGDATA',
  /** Port PostgreSQL listens on. */
  port: 'PGC_PORT',
  /** Port of the agent's HTTP server (/healthz, /readyz, /metrics). */
  httpPort: 'PGC_HTTP_PORT',
  /** Directory for PostgreSQL's unix socket (an emptyDir: the root filesystem is read-only). */
  socketDir: 'PGC_SOCKET_DIR',
  /** Host name of the `-rw` Service: where replicas clone and stream from (`host` or `host:port`). */
  primaryHost: 'PGC_PRIMARY_HOST',
  /**
   * Number of instances, as manifests before the claim objects wrote it into the pod template. No longer rendered:
   * the agent reads the StatefulSet's spec.replicas (scaling must not restart pods) and uses this only as a
   * fallback when it may not read the StatefulSet.
   */
  instances: 'PGC_INSTANCES',
  /** JSON array of {@link DatabaseSpec}. */
  databases: 'PGC_DATABASES',
  /**
   * JSON object of user-given PostgreSQL parameters (agent-owned ones are rejected at synth). Manifests of this
   * version pass them in the cluster ConfigMap ({@link configDir}) instead; read only when that is unset.
   */
  parameters: 'PGC_PARAMETERS',
  /** Directory where the cluster's ConfigMap is mounted (CLUSTER_CONFIG.mountPath): watched for changes. */
  configDir: 'PGC_CONFIG_DIR',
  /**
   * Name of the Secret with the `postgres` superuser's password (key `password`). The instances read it through the
   * API (never as an environment variable) and follow its changes.
   */
  superuserSecret: 'PGC_SUPERUSER_SECRET',
  /** Name of the Secret with the `streaming_replica` role's password (key `password`), read like the superuser's. */
  replicationSecret: 'PGC_REPLICATION_SECRET',
  /** Password of the `streaming_replica` role for the backup Jobs (secretKeyRef into the replication Secret). */
  replicationPassword: 'PGC_REPLICATION_PASSWORD',
  /** JSON array of {@link SecretSpec}: what the `secrets` command creates (and an instance recreates when deleted). */
  secrets: 'PGC_SECRETS',
  /** Seconds a primary's Lease stays valid without renewal (the failover clock). */
  leaseDuration: 'PGC_LEASE_DURATION',
  /** A replica further behind the last known primary position than this is never promoted (bytes). */
  failoverMaxLagBytes: 'PGC_FAILOVER_MAX_LAG_BYTES',
  /** JSON {@link SynchronousSpec}, or unset for asynchronous replication. */
  synchronous: 'PGC_SYNCHRONOUS',
  /** Log level: debug, info, warn, error. */
  logLevel: 'PGC_LOG_LEVEL',
} as const;

/**
 * How often an instance reads its credential Secrets (seconds): a changed password reaches the role within about
 * this time plus one SQL statement; a deleted generated Secret is recreated as soon.
 */
export const CREDENTIALS_POLL_SECONDS = 10;

/** One application database, as the agent receives it. */
export interface DatabaseSpec {
  readonly name: string;
  readonly owner: string;
  /** Name of the app Secret holding the owner's password (key `password`). */
  readonly secretName: string;
}

/** One Secret the `secrets` command must make sure exists. */
export interface SecretSpec {
  /**
   * Names of the Secrets that carry this role's credentials (the first database's Secret is also `<cluster>-app`).
   * All of them hold the same password: the first one that exists is the source, missing ones are created.
   */
  readonly names: string[];
  /** Role name; becomes `username`/`user`. */
  readonly username: string;
  /** Database name; `*` for the superuser, as CloudNativePG does. */
  readonly dbname: string;
  /** Service host (`<cluster>-rw`) and its namespace-qualified forms are derived from it. */
  readonly host: string;
  readonly port: number;
  /** Kubernetes cluster domain for the `fqdn-*` keys, e.g. `cluster.local`. */
  readonly clusterDomain: string;
  /** Labels to put on the Secret (inherited labels plus the cluster label). */
  readonly labels: Record<string, string>;
}

/** Synchronous replication: commits wait for `number` replicas. */
export interface SynchronousSpec {
  readonly number: number;
  /**
   * `required`: commits wait even when replicas are missing (no data loss, writes stop without replicas);
   * `preferred`: only streaming replicas are waited for (writes go on alone, data loss possible on failover).
   */
  readonly dataDurability: 'required' | 'preferred';
}

/** Well-known paths inside the agent image and pods. */
export const PATHS = {
  agentBinary: '/usr/local/bin/pg-agent',
  dataMount: '/var/lib/postgresql/data',
  pgdata: '/var/lib/postgresql/data/pgdata',
  socketDir: '/run/postgresql',
  tmpDir: '/tmp',
} as const;

export const DEFAULT_PORTS = { postgres: 5432, http: 8000 } as const;

/** Agent subcommands (the container `args[0]`). */
export type AgentCommand =
  'instance' | 'secrets' | 'wal-push' | 'wal-fetch' | 'backup' | 'restore' | 'verify' | 'list' | 'canary' | 'logical-backup' | 'restore-database';

/** Seconds the agent has for a clean shutdown (the pod's terminationGracePeriodSeconds less a margin). */
export const SHUTDOWN_ENV = 'PGC_SHUTDOWN_TIMEOUT';

/**
 * glibc malloc tunable the manifests set for the agent's own process (lib/pod/pod-security.ts says why); the
 * agent removes it from its environment at start, so PostgreSQL and the tools it runs keep glibc's defaults.
 */
export const MALLOC_MMAP_THRESHOLD_ENV = 'MALLOC_MMAP_THRESHOLD_';

/**
 * Node.js flags for the agent's own process, put on node's command line by the image's launcher
 * (`exec node $PGC_NODE_FLAGS …`): unlike NODE_OPTIONS, it takes every V8 flag (`--no-expose-wasm`, which keeps
 * `--jitless` from printing a plain-text warning into the JSON log). The agent removes it from its environment at
 * start, so the agent commands PostgreSQL runs (wal-push, wal-fetch) start with node's defaults.
 */
export const NODE_FLAGS_ENV = 'PGC_NODE_FLAGS';

/**
 * Bootstrap by streaming from a running PostgreSQL (`bootstrap.pgBasebackup`): the first instance clones it with
 * pg_basebackup, then follows it as a standby while {@link CLONE_ENV.follow} is `true`, and promotes when it is not.
 */
export const CLONE_ENV = {
  /** JSON {@link CloneSourceSpec}. */
  source: 'PGC_CLONE_SOURCE',
  /** The source user's password (secretKeyRef into the Secret the user names). */
  password: 'PGC_CLONE_PASSWORD',
  /** `true`: keep following the source (migration in progress); `false`: promote and become independent. */
  follow: 'PGC_CLONE_FOLLOW',
} as const;

/** A running PostgreSQL server to clone, as libpq connection settings. */
export interface CloneSourceSpec {
  readonly host: string;
  readonly port: number;
  /** A role with the REPLICATION attribute (and `replication` access in the source's pg_hba.conf). */
  readonly user: string;
  /** libpq sslmode. */
  readonly sslmode: 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
  /** Path of the CA certificate file for `verify-ca`/`verify-full` (a mounted Secret or ConfigMap). */
  readonly sslRootCert?: string;
}
