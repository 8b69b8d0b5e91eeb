/**
 * What `pg-agent status` reads from the pod's own PostgreSQL (the superuser on the private socket, peer auth):
 * its role and timeline, and on the primary the replicas' lag (pg_stat_replication) and the archiver's last
 * success and failure (pg_stat_archiver).
 */
import type { ReplicaStatus, StatusReport } from '../../../lib/status/report';
import { countReadyFiles } from '../instance/observed-metrics';
import { InstanceConfig } from '../instance/config';
import { localConnection, withClient } from '../instance/sql';

export interface LocalFacts {
  postgres: Exclude<StatusReport['postgres'], { unavailable: string }>;
  /** Primary only. */
  replicas?: ReplicaStatus[];
  archiving?: Exclude<StatusReport['archiving'], { unavailable: string }>;
}

const iso = (v: Date | null | undefined) => (v ? new Date(v).toISOString() : undefined);

export async function readLocalFacts(cfg: Pick<InstanceConfig, 'socketDir' | 'port' | 'pgdata'>): Promise<LocalFacts> {
  return withClient(localConnection(cfg as InstanceConfig), async c => {
    const head = (
      await c.query(`SELECT pg_is_in_recovery() AS rec, current_setting('server_version') AS version,
        (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
        coalesce((SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1), (SELECT timeline_id FROM pg_control_checkpoint())) AS replica_tli,
        (SELECT timeline_id FROM pg_control_checkpoint()) AS tli,
        CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0')::text ELSE pg_current_wal_lsn()::text END AS lsn`)
    ).rows[0];
    const postgres: LocalFacts['postgres'] = {
      role: head.rec ? 'replica' : 'primary',
      timeline: Number(head.rec ? head.replica_tli : head.tli),
      lsn: head.lsn,
      systemIdentifier: head.sysid,
      version: head.version,
    };
    if (head.rec) return { postgres };
    // Lag in seconds as /metrics reports it: replay_lag stops changing while a standby is silent, so the age of its
    // last reply counts while it is behind.
    const replicas = (
      await c.query(`SELECT application_name AS name, state, sync_state,
        coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0) AS lag_bytes,
        CASE WHEN coalesce(replay_lsn < pg_current_wal_lsn(), true)
          THEN greatest(coalesce(extract(epoch FROM replay_lag), 0), coalesce(extract(epoch FROM now() - reply_time), 0)) ELSE 0 END AS lag_seconds
        FROM pg_stat_replication ORDER BY application_name`)
    ).rows.map(r => ({
      name: String(r.name),
      state: String(r.state),
      syncState: String(r.sync_state),
      lagBytes: Number(r.lag_bytes),
      lagSeconds: Number(Number(r.lag_seconds).toFixed(1)),
    }));
    const a = (await c.query('SELECT * FROM pg_stat_archiver')).rows[0];
    const lastArchived = a.last_archived_time ? new Date(a.last_archived_time).getTime() : undefined;
    const lastFailed = a.last_failed_time ? new Date(a.last_failed_time).getTime() : undefined;
    return {
      postgres,
      replicas,
      archiving: {
        lastArchivedWal: a.last_archived_wal ?? undefined,
        lastArchivedTime: iso(a.last_archived_time),
        lastFailedWal: a.last_failed_wal ?? undefined,
        lastFailedTime: iso(a.last_failed_time),
        // PostgreSQL's own reading of pg_stat_archiver: failing while the last failure is newer than the last success.
        failing: lastFailed !== undefined && (lastArchived === undefined || lastFailed > lastArchived),
        archivedCount: Number(a.archived_count),
        failedCount: Number(a.failed_count),
        readyFiles: countReadyFiles(cfg.pgdata),
      },
    };
  });
}
