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
  secretsJob: (c: string) => `${c}-secrets`,
  serviceAccount: (c: string) => c,
  role: (c: string) => c,
  pdb: (c: string) => c,
  lease: (c: string) => `${c}-primary`,
  backupCronJob: (c: string) => `${c}-backup`,
  immediateBackupJob: (c: string) => `${c}-backup-initial`,
  restoreDrillCronJob: (c: string) => `${c}-restore-drill`,
  networkPolicy: (c: string) => c,
} as const;

/** Longest derived suffix; the cluster name must leave room for it within 63 characters. */
export const NAME_SUFFIX_BUDGET = '-backup-initial'.length;

/** The replication role agents create and use. */
export const REPLICATION_USER = 'streaming_replica';
export const SUPERUSER = 'postgres';
