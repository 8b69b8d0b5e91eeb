/**
 * PostgreSQL parameters the agent owns. A user value would break archiving, replication, recovery or the pod's
 * networking, so the constructs reject them at synth with the reason below.
 */
export const AGENT_OWNED_PARAMETERS: Record<string, string> = {
  archive_mode: 'the agent turns archiving on when a backup store is configured',
  archive_command: 'the agent archives WAL with its own wal-push command',
  archive_library: 'the agent archives WAL with its own wal-push command',
  restore_command: 'the agent restores WAL with its own wal-fetch command',
  archive_cleanup_command: 'retention decides which WAL may go',
  recovery_end_command: 'recovery is driven by the agent',
  primary_conninfo: 'the agent points replicas at the current primary',
  primary_slot_name: 'the agent manages one replication slot per replica',
  promote_trigger_file: 'promotion is decided by the agent',
  listen_addresses: 'the pod listens on all addresses; restrict access with networkPolicy',
  port: 'the port is fixed by the Services; set `port` on the cluster instead',
  wal_level: 'replication and archiving need wal_level=replica or higher, set by the agent',
  hot_standby: 'replicas must accept reads; set by the agent',
  data_directory: 'the data directory is the volume the StatefulSet mounts',
  hba_file: 'pg_hba.conf is written by the agent (scram-sha-256 only)',
  ident_file: 'the agent writes the configuration files',
  config_file: 'the agent writes the configuration files',
  external_pid_file: 'the agent supervises postgres itself',
  unix_socket_directories: 'the socket lives on an emptyDir the agent knows',
  cluster_name: 'set by the agent to the pod name',
  synchronous_standby_names: 'set by the agent from the `synchronous` prop',
  recovery_target: 'set through bootstrap.recovery.target',
  recovery_target_time: 'set through bootstrap.recovery.target',
  recovery_target_lsn: 'set through bootstrap.recovery.target',
  recovery_target_xid: 'set through bootstrap.recovery.target',
  recovery_target_name: 'set through bootstrap.recovery.target',
  recovery_target_inclusive: 'set through bootstrap.recovery.target',
  recovery_target_timeline: 'set by the agent',
  recovery_target_action: 'set by the agent',
  wal_log_hints: 'pg_rewind after failover needs it on; set by the agent',
  full_page_writes: 'turning it off risks corruption after a crash',
  logging_collector: 'logs go to the container output, as Kubernetes expects',
  log_destination: 'logs go to the container output, as Kubernetes expects',
  max_wal_senders: 'sized by the agent from the number of instances and backups',
  max_replication_slots: 'sized by the agent from the number of instances',
  password_encryption: 'the agent sets scram-sha-256: pg_hba.conf accepts SCRAM only, so a password stored otherwise could not log in',
  // Directives, not parameters: the file they name would set parameters past this list.
  include: 'postgresql.conf is written by the agent, and an included file would set parameters past the agent-owned list',
  include_dir: 'postgresql.conf is written by the agent, and an included directory would set parameters past the agent-owned list',
  include_if_exists: 'postgresql.conf is written by the agent, and an included file would set parameters past the agent-owned list',
};

/** Parameters the agent always writes (not reserved: shown for reference in docs and tests). */
export function isAgentOwned(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(AGENT_OWNED_PARAMETERS, name.toLowerCase());
}
