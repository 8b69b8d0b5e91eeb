/**
 * The configuration the agent writes on every start: postgresql.conf (agent-owned settings, then the user's),
 * pg_hba.conf (scram-sha-256 only), and for replicas standby.signal plus a passfile outside the data volume.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { REPLICATION_USER } from '../../../lib/contract';
import { writePassfile } from '../common/passfile';
import { agentCommand } from '../common/self-command';
import { InstanceConfig } from './config';
import { recoveryParameters } from '../restore/recovery';
import { isFollowingSource, rolesPending, sourceConninfo } from './clone-source';
import { archiveMode } from '../decide/archive';
import { primaryTlsConninfo, tlsParameters } from './tls';
import { hbaWithManagedRules } from './managed-spec';

/** The physical replication slot the primary keeps for the instance with this ordinal. */
export function slotName(cluster: string, ordinal: number): string {
  return `${cluster.replace(/-/g, '_')}_${ordinal}`;
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** The path of the libpq passfile with the replication password (on the socket emptyDir, never on the volume). */
export function passfilePath(cfg: InstanceConfig): string {
  return path.join(cfg.socketDir, '.pgpass-replication');
}

/** How PostgreSQL archives WAL: through this very agent's `wal-push`, started the way this process was started. */
export function archiveCommand(): string {
  return agentCommand('wal-push %p');
}

export function agentParameters(cfg: InstanceConfig, role: 'primary' | 'replica'): Record<string, string> {
  const params: Record<string, string> = {
    listen_addresses: '*',
    port: String(cfg.port),
    unix_socket_directories: cfg.socketDir,
    cluster_name: cfg.podName,
    wal_level: 'replica',
    hot_standby: 'on',
    wal_log_hints: 'on',
    full_page_writes: 'on',
    max_wal_senders: String(Math.max(10, cfg.instances + 4)),
    max_replication_slots: String(Math.max(10, cfg.instances + 4)),
    password_encryption: 'scram-sha-256',
    logging_collector: 'off',
    log_destination: 'stderr',
    hba_file: path.join(cfg.pgdata, 'pg_hba.conf'),
    ...tlsParameters(cfg),
  };
  if (role === 'primary' && isRecovering(cfg)) {
    // Still recovering from the source's archive: its WAL comes from the source store, up to the target.
    Object.assign(params, recoveryParameters(cfg.recovery!.target, agentCommand('wal-fetch --recovery-source %f %p')));
  }
  if (cfg.archiving) {
    // `always`, replicas too (decide/archive: a failover must not leave the old primary's unarchived WAL behind).
    params.archive_mode = archiveMode({ recoveringFromSource: isRecovering(cfg), followingSource: followsSource(cfg, role) }).mode;
    params.archive_command = archiveCommand();
  }
  if (followsSource(cfg, role)) {
    // The first instance of a migrating cluster streams from the external source, without a slot there.
    params.primary_conninfo = sourceConninfo(cfg.socketDir, cfg.clone!, cfg.podName);
  } else if (role === 'replica') {
    const conninfo = [
      `host=${cfg.primary.host}`,
      `port=${cfg.primary.port}`,
      `user=${REPLICATION_USER}`,
      `passfile=${passfilePath(cfg)}`,
      `application_name=${cfg.podName}`,
      ...primaryTlsConninfo(cfg),
      'connect_timeout=5',
    ].join(' ');
    params.primary_conninfo = conninfo;
    params.primary_slot_name = slotName(cfg.cluster, cfg.ordinal);
    // WAL the primary no longer has comes from the archive, and pg_rewind --restore-target-wal runs this too.
    if (cfg.archiving) params.restore_command = agentCommand('wal-fetch --standby %f %p');
  }
  return params;
}

export function renderPostgresqlConf(cfg: InstanceConfig, role: 'primary' | 'replica'): string {
  const lines = ['# Written by the cdk8s-postgres agent on every start. Edits are lost: set parameters on the construct.', ''];
  // Defaults the user may override (their section comes later, and the last setting wins).
  lines.push('# defaults', `archive_timeout = ${quote('5min')}`, '', '# agent-owned');
  for (const [k, v] of Object.entries(agentParameters(cfg, role))) lines.push(`${k} = ${quote(v)}`);
  lines.push('', '# from the manifest (PostgresCluster parameters)');
  for (const [k, v] of Object.entries(cfg.parameters)) lines.push(`${k} = ${quote(v)}`);
  return lines.join('\n') + '\n';
}

/** The pg_ident.conf map that lets the agent's OS user (uid 999, `postgres` in the image) log in as `postgres`. */
export const AGENT_IDENT_MAP = 'agent';

/** pg_hba.conf; with TLS every TCP rule is `hostssl`, so a plaintext TCP connection matches none and is refused. */
export function pgHba(cfg: Pick<InstanceConfig, 'tls'>): string {
  return cfg.tls ? PG_HBA.replace(/^host /gm, 'hostssl') : PG_HBA;
}

export const PG_HBA = [
  '# Written by the cdk8s-postgres agent: password authentication (SCRAM) only, no trust, no md5; and the agent',
  '# itself as postgres by peer authentication on its private socket (no password to rotate, none in the pod).',
  `local   all             postgres                peer map=${AGENT_IDENT_MAP}`,
  'local   all             all                     scram-sha-256',
  `host    replication     ${REPLICATION_USER}       all     scram-sha-256`,
  'host    all             all             all     scram-sha-256',
  '',
].join('\n');

/**
 * While a restored cluster recovers, its roles still have the source cluster's passwords, so the agent could not
 * log in with this cluster's Secret. Until the first reconcile sets them, the `postgres` OS user (the agent, uid
 * 999, on a socket in the pod's own emptyDir) may log in as `postgres` by peer authentication.
 */
const RECOVERY_HBA =
  "# until the restored roles get this cluster's passwords (removed by the agent after that)\nlocal   all             postgres                peer\n";

export function isRecovering(cfg: InstanceConfig): boolean {
  return !!cfg.recovery && fs.existsSync(path.join(cfg.pgdata, 'recovery.signal'));
}

/** The instance that holds the lease of a cluster still following its external source (bootstrap.pgBasebackup). */
export function followsSource(cfg: InstanceConfig, role: 'primary' | 'replica'): boolean {
  return role === 'primary' && !!cfg.clone && isFollowingSource(cfg.pgdata);
}

/**
 * pg_ident.conf: the OS user the agent runs as (and so postgres, and whoever has a shell in the container, who can
 * read the data directory anyway) may log in as `postgres` over the socket, which lives in the pod's own emptyDir.
 */
export function renderPgIdent(osUser: string = agentOsUser()): string {
  return `# Written by the cdk8s-postgres agent: the agent's OS user may log in as postgres on the local socket.\n${AGENT_IDENT_MAP}   ${osUser}   postgres\n`;
}

function agentOsUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'postgres'; // no passwd entry for the uid: the image's user
  }
}

export function writeConfigFiles(cfg: InstanceConfig, role: 'primary' | 'replica'): void {
  fs.writeFileSync(path.join(cfg.pgdata, 'postgresql.conf'), renderPostgresqlConf(cfg, role), { mode: 0o600 });
  fs.writeFileSync(path.join(cfg.pgdata, 'pg_ident.conf'), renderPgIdent(), { mode: 0o600 });
  const foreignRoles = isRecovering(cfg) || rolesPending(cfg.pgdata);
  fs.writeFileSync(path.join(cfg.pgdata, 'pg_hba.conf'), hbaWithManagedRules((foreignRoles ? RECOVERY_HBA : '') + pgHba(cfg), cfg.configDir), {
    mode: 0o600,
  });
  const signal = path.join(cfg.pgdata, 'standby.signal');
  if (followsSource(cfg, role)) {
    fs.writeFileSync(signal, '', { mode: 0o600 });
  } else if (role === 'replica') {
    fs.writeFileSync(signal, '', { mode: 0o600 });
    writeReplicationPassfile(cfg);
  } else if (fs.existsSync(signal)) {
    fs.rmSync(signal);
  }
}

/**
 * The same configuration with one agent-owned command emptied, until the next start writes it whole again:
 * - `archive_command` for an instance about to stop while the store fails, so that the shutdown does not spend
 *   seconds on PostgreSQL's final archiving retries (the segments stay `.ready`; the replica that takes over received
 *   them and archives them, archive_mode=always, and so does this instance when it returns);
 * - `restore_command` for a switchover target about to promote (decideArchiveLookupsOnTakeOver), so that the
 *   promotion does not wait on archive lookups; a refused or abandoned take-over writes it whole again.
 */
export function writeConfigWithout(cfg: InstanceConfig, role: 'primary' | 'replica', command: 'archive_command' | 'restore_command'): void {
  const conf = renderPostgresqlConf(cfg, role).replace(new RegExp(`^${command} = .*$`, 'm'), `${command} = ''`);
  fs.writeFileSync(path.join(cfg.pgdata, 'postgresql.conf'), conf, { mode: 0o600 });
}

/** Back to SCRAM only once the roles have this cluster's passwords. Returns true when it changed the file. */
export function restoreStrictHba(cfg: InstanceConfig): boolean {
  const file = path.join(cfg.pgdata, 'pg_hba.conf');
  const strict = hbaWithManagedRules(pgHba(cfg), cfg.configDir);
  if (fs.readFileSync(file, 'utf8') === strict) return false;
  fs.writeFileSync(file, strict, { mode: 0o600 });
  return true;
}

/** The replication role's passfile (replicas streaming and cloning from the primary). */
export function writeReplicationPassfile(cfg: InstanceConfig): string {
  return writePassfile(passfilePath(cfg), { user: REPLICATION_USER, password: cfg.credentials.replication });
}
