/**
 * Managed roles, extensions, schemas and pg_hba rules: what the constructs render into the cluster's ConfigMap
 * (key {@link MANAGED_OBJECTS_KEY}) and the agents reconcile. In the ConfigMap, not the pod template, so that a
 * change in git reaches the running primary without a restart (the kubelet refreshes the mounted volume).
 */
import { SecretSpec } from './env';

/** ConfigMap key (beside CLUSTER_CONFIG.parametersKey): JSON {@link ManagedObjectsSpec}; absent when nothing is declared. */
export const MANAGED_OBJECTS_KEY = 'managed.json';

/** One role as the agent receives it. */
export interface ManagedRoleSpec {
  readonly name: string;
  /** `absent`: dropped when it exists and owns nothing; the other fields are then ignored. */
  readonly ensure: 'present' | 'absent';
  readonly login: boolean;
  /** Roles it is a member of; memberships not listed here are revoked. */
  readonly inRoles: string[];
  /** -1: no limit. */
  readonly connectionLimit: number;
  /** ISO 8601 timestamp or `infinity`. */
  readonly validUntil: string;
  /** Cluster databases it may connect to (GRANT CONNECT); CONNECT on the cluster's other databases is revoked. */
  readonly databases: string[];
  /** Secret with the password under `password` (login roles only). */
  readonly passwordSecret?: string;
  /** When the cluster generates that Secret: how (the secrets Job's spec; the primary recreates a deleted one). */
  readonly generated?: SecretSpec;
}

export interface ManagedExtensionSpec {
  readonly name: string;
  readonly version?: string;
  readonly schema?: string;
}

export interface ManagedSchemaSpec {
  readonly name: string;
  readonly owner: string;
}

export interface ManagedDatabaseObjects {
  /** A database of the cluster (`databases`). */
  readonly name: string;
  readonly schemas: ManagedSchemaSpec[];
  readonly extensions: ManagedExtensionSpec[];
}

export interface ManagedObjectsSpec {
  readonly roles: ManagedRoleSpec[];
  readonly databases: ManagedDatabaseObjects[];
  /** pg_hba.conf lines (hostssl only, validated at synth), placed before the final catch-all rule. */
  readonly pgHba: string[];
}

/**
 * PostgreSQL's predefined roles a managed role may be a member of, with the first major that has them. The ones
 * that reach the server's files or programs (pg_read_server_files, pg_write_server_files,
 * pg_execute_server_program) are left out on purpose: they make a role as strong as the superuser.
 */
export const GRANTABLE_PREDEFINED_ROLES: Record<string, number> = {
  pg_read_all_data: 14,
  pg_write_all_data: 14,
  pg_monitor: 10,
  pg_read_all_settings: 10,
  pg_read_all_stats: 10,
  pg_stat_scan_tables: 10,
  pg_signal_backend: 9,
  pg_checkpoint: 15,
  pg_use_reserved_connections: 16,
  pg_create_subscription: 16,
  pg_maintain: 17,
};

/** Predefined roles refused in `inRoles`, with the reason. */
export const REFUSED_PREDEFINED_ROLES: Record<string, string> = {
  pg_read_server_files: "it reads any file the server can, the agent's credentials included",
  pg_write_server_files: 'it writes any file the server can, the data directory included',
  pg_execute_server_program: 'it runs programs as the server user, which is as strong as the superuser',
  pg_database_owner: 'it is an implicit role (the owner of the current database); nobody can be granted it',
};
