/** Object names derived from the cluster name. Stable: they never depend on construct paths. */
export const names = {
  statefulSet: (c: string) => c,
  headlessService: (c: string) => `${c}-pods`,
  rwService: (c: string) => `${c}-rw`,
  roService: (c: string) => `${c}-ro`,
  rService: (c: string) => `${c}-r`,
  pod: (c: string, ordinal: number) => `${c}-${ordinal}`,
  pvc: (c: string, ordinal: number) => `pgdata-${c}-${ordinal}`,
  appSecret: (c: string) => `${c}-app`,
  dbAppSecret: (c: string, db: string) => `${c}-${db}-app`,
  superuserSecret: (c: string) => `${c}-superuser`,
  replicationSecret: (c: string) => `${c}-replication`,
  /** A managed login role's generated Secret: `-role` never ends an app Secret (`-app`) or another object's name. */
  roleSecret: (c: string, role: string) => `${c}-${role.replace(/_/g, '-')}-role`,
  secretsJob: (c: string) => `${c}-secrets`,
  serviceAccount: (c: string) => c,
  role: (c: string) => c,
  pdb: (c: string) => c,
  lease: (c: string) => `${c}-primary`,
  backupCronJob: (c: string) => `${c}-backup`,
  immediateBackupJob: (c: string) => `${c}-backup-initial`,
  restoreDrillCronJob: (c: string) => `${c}-restore-drill`,
  networkPolicy: (c: string) => c,
  podMonitor: (c: string) => c,
  prometheusRule: (c: string) => c,
  dashboardConfigMap: (c: string) => `${c}-dashboard`,
  configMap: (c: string) => `${c}-config`,
} as const;

/** Longest derived suffix; the cluster name must leave room for it within 63 characters. */
export const NAME_SUFFIX_BUDGET = '-backup-initial'.length;

/** The replication role agents create and use. */
export const REPLICATION_USER = 'streaming_replica';
export const SUPERUSER = 'postgres';

/**
 * Role names a database owner may not take, with the reason: the agent's own roles, and what PostgreSQL reserves
 * (CREATE ROLE refuses them, or they mean something else in GRANT and ALTER … OWNER TO), so reconciling the owner
 * would fail on every start. Names starting with {@link RESERVED_ROLE_PREFIX} are PostgreSQL's as well.
 */
export const RESERVED_ROLES: Record<string, string> = {
  [SUPERUSER]: 'it is the superuser the agent runs as',
  [REPLICATION_USER]: 'it is the replication role the agents use',
  public: 'PostgreSQL reserves it: PUBLIC means every role',
  none: 'PostgreSQL reserves it (role name "none" is reserved)',
  current_user: 'it is a keyword of PostgreSQL (the current role), not a role name',
  current_role: 'it is a keyword of PostgreSQL (the current role), not a role name',
  session_user: 'it is a keyword of PostgreSQL (the session role), not a role name',
};
export const RESERVED_ROLE_PREFIX = 'pg_';

/** Why `role` cannot be a database owner, or undefined when it can. */
export function reservedRoleReason(role: string): string | undefined {
  const lower = role.toLowerCase();
  if (Object.prototype.hasOwnProperty.call(RESERVED_ROLES, lower)) return RESERVED_ROLES[lower];
  if (lower.startsWith(RESERVED_ROLE_PREFIX)) return `PostgreSQL reserves the "${RESERVED_ROLE_PREFIX}" prefix for its own roles`;
  return undefined;
}

/** The instance pods' container (the one running `pg-agent instance`; `kubectl exec -c`). */
export const INSTANCE_CONTAINER = 'postgres';
