/**
 * `bootstrap.import`: the first instance of a new cluster runs initdb, then copies roles and databases from a running
 * PostgreSQL server of the same or an older major version (pg_dumpall --roles-only, pg_dump -Fd, pg_restore).
 */
import { CloneSourceSpec } from './env';

export const IMPORT_ENV = {
  /** JSON {@link ImportSpec}. */
  spec: 'PGC_IMPORT',
  /** The source user's password (secretKeyRef into the Secret the user names). */
  password: 'PGC_IMPORT_PASSWORD',
} as const;

/** Which roles of the source come along. */
export type ImportRoles = 'all' | 'none' | 'withoutPasswords';
export const IMPORT_ROLES: readonly ImportRoles[] = ['all', 'none', 'withoutPasswords'];

export interface ImportSpec {
  /** Where the source is reached (host, port, user, sslmode, CA file). */
  readonly source: CloneSourceSpec;
  /** The databases to take; absent: every database of the source that is not a template and not `postgres`. */
  readonly databases?: string[];
  readonly roles: ImportRoles;
  /** pg_dump -j / pg_restore -j. */
  readonly jobs: number;
}

/** Defaults the constructs render and the agent checks against. */
export const IMPORT_DEFAULTS = {
  user: 'postgres',
  roles: 'withoutPasswords' as ImportRoles,
  jobs: 2,
  maxJobs: 16,
} as const;
