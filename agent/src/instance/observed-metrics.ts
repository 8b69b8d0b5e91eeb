/**
 * The /metrics series beyond the instance's own state (http.ts): what an operator asks of a database, read in the
 * background (every 10 s from PostgreSQL, every minute from the backup store on the primary) so a scrape never
 * waits on a query. Names and their CloudNativePG counterparts: docs/monitoring.md.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BACKUP_ID, BackupInfo } from '../catalog/backup-info';
import { listBackupFolders, readBackupInfo } from '../catalog/catalog';
import { log } from '../common/log';
import { openS3Bucket } from '../s3/bucket';
import { StoreConfig } from '../store/config';
import { readDrillResults } from '../verify/drill-result';
import { InstanceConfig } from './config';
import { localConnection, withClient } from './sql';
import { incrementalLayout, isBackupInfoKey } from '../../../lib/contract';
import { iteratePrefix } from '../s3/objects';
import { incrementalAsBackupInfo, readIncrementalInfo } from '../incremental/catalog';

const STATS_EVERY_MS = 10_000;
const BACKUPS_EVERY_MS = 60_000;
/** Connection states that always have a series (0 when none), so dashboards and alerts never see gaps. */
const CONNECTION_STATES = ['active', 'idle', 'idle in transaction', 'idle in transaction (aborted)'];

export interface ObservedStats {
  timeline: number;
  /** Replica: seconds since the last replayed transaction while WAL waits for replay (0 when caught up). */
  replayLagSeconds?: number;
  /** Primary: per standby, seconds its replay is behind (grows while it is silent) and its sync state. */
  standbys: Array<{ name: string; lagSeconds: number; syncState: string }>;
  archiver: { lastArchivedTime?: number; lastFailedTime?: number };
  /** Segments PostgreSQL has handed to the archiver and not yet seen archived (pg_wal/archive_status/*.ready). */
  readyFiles: number;
  databases: Array<{ name: string; sizeBytes: number; xidAge: number }>;
  connections: Record<string, number>;
  maxConnections: number;
}

export interface ObservedBackups {
  /** Complete (DONE) base backups in the store. */
  count: number;
  lastCompletedTime?: number;
  /** The newest complete backup's duration (end - begin) and its stored size (backup.info `size`). */
  lastCompletedDurationSeconds?: number;
  lastCompletedSizeBytes?: number;
  /** The end of the oldest complete backup: the earliest point a restore can reach. */
  firstRecoverabilityPoint?: number;
  lastFailedTime?: number;
  /** The restore drill's last success and failure (Unix seconds), from `<server>/restore-drill.json`. */
  drillSucceededTime?: number;
  drillFailedTime?: number;
}

export async function readObservedStats(cfg: InstanceConfig): Promise<ObservedStats> {
  return withClient(localConnection(cfg), async c => {
    const head = (
      await c.query(`SELECT pg_is_in_recovery() AS rec,
      coalesce((SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1), (SELECT timeline_id FROM pg_control_checkpoint())) AS replica_tli,
      (SELECT timeline_id FROM pg_control_checkpoint()) AS tli,
      CASE WHEN pg_is_in_recovery() THEN CASE WHEN coalesce(pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn(), true) THEN 0
        ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END END AS replay_lag,
      current_setting('max_connections')::int AS max_connections`)
    ).rows[0];
    // replay_lag stops changing while a standby is silent: the age of its last reply tells how stale it is then.
    const standbys = head.rec
      ? []
      : (
          await c.query(`SELECT application_name AS name, sync_state,
      CASE WHEN coalesce(replay_lsn < pg_current_wal_lsn(), true)
        THEN greatest(coalesce(extract(epoch FROM replay_lag), 0), coalesce(extract(epoch FROM now() - reply_time), 0)) ELSE 0 END AS lag
      FROM pg_stat_replication`)
        ).rows.map(r => ({ name: r.name, syncState: r.sync_state, lagSeconds: Number(r.lag) }));
    const a = (
      await c.query(`SELECT extract(epoch FROM last_archived_time) AS archived, extract(epoch FROM last_failed_time) AS failed FROM pg_stat_archiver`)
    ).rows[0];
    const databases = (
      await c.query(
        `SELECT datname, pg_database_size(oid) AS size, age(datfrozenxid) AS xid_age FROM pg_database WHERE datallowconn ORDER BY datname`,
      )
    ).rows.map(r => ({ name: r.datname, sizeBytes: Number(r.size), xidAge: Number(r.xid_age) }));
    const connections: Record<string, number> = Object.fromEntries(CONNECTION_STATES.map(s => [s, 0]));
    for (const r of (
      await c.query(
        `SELECT coalesce(state, 'unknown') AS state, count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1`,
      )
    ).rows) {
      connections[r.state] = r.n;
    }
    return {
      timeline: Number(head.rec ? head.replica_tli : head.tli),
      replayLagSeconds: head.rec ? Number(head.replay_lag) : undefined,
      standbys,
      archiver: {
        lastArchivedTime: a.archived === null ? undefined : Number(a.archived),
        lastFailedTime: a.failed === null ? undefined : Number(a.failed),
      },
      readyFiles: countReadyFiles(cfg.pgdata),
      databases,
      connections,
      maxConnections: Number(head.max_connections),
    };
  });
}

export function countReadyFiles(pgdata: string): number {
  try {
    return fs.readdirSync(path.join(pgdata, 'pg_wal', 'archive_status')).filter(f => f.endsWith('.ready')).length;
  } catch {
    return 0;
  }
}

/**
 * The store's complete and failed base backups. One LIST a minute: a backup.info is read again only when its ETag
 * changed (a running backup rewrites it, a finished one never does), so a long retention costs no more requests.
 */
export class BackupCatalogReader {
  private readonly infos = new Map<string, { etag: string; info?: BackupInfo }>();

  constructor(private readonly store: StoreConfig) {}

  async read(): Promise<ObservedBackups> {
    const s3 = openS3Bucket(this.store.s3);
    const folders = await listBackupFolders(s3, this.store);
    const seen = new Set<string>();
    for (const [id, objects] of folders) {
      const info = objects.find(o => isBackupInfoKey(o.key));
      if (!BACKUP_ID.test(id) || !info) continue;
      seen.add(id);
      if (this.infos.get(id)?.etag === info.etag) continue;
      this.infos.set(id, { etag: info.etag, info: await readBackupInfo(s3, this.store, id).catch(() => undefined) });
    }
    // Incremental backups (incremental/<id>/incremental.json) are backups too: the newest may be one.
    const incrementalRoot = incrementalLayout.root(this.store.prefix, this.store.serverName);
    for await (const o of iteratePrefix(s3, incrementalRoot)) {
      const [id, name] = o.key.slice(incrementalRoot.length).split('/');
      if (name !== 'incremental.json' || !BACKUP_ID.test(id)) continue;
      seen.add(id);
      if (this.infos.get(id)?.etag === o.etag) continue;
      const info = await readIncrementalInfo(s3, this.store, id).catch(() => undefined);
      this.infos.set(id, { etag: o.etag, info: info && incrementalAsBackupInfo(info) });
    }
    for (const id of [...this.infos.keys()]) if (!seen.has(id)) this.infos.delete(id);
    const backups = [...this.infos.values()].map(v => v.info).filter((b): b is BackupInfo => !!b);
    const done = backups.filter(b => b.status === 'DONE' && b.endTime).sort((x, y) => x.endTime!.getTime() - y.endTime!.getTime());
    const ended = done.map(b => b.endTime!.getTime());
    const newest = done[done.length - 1];
    const failed = backups
      .filter(b => b.status === 'FAILED')
      .map(b => (b.endTime ?? b.beginTime).getTime())
      .sort((x, y) => x - y);
    // One small GET more a minute: the drill's result (drill-result.ts).
    const drill = await readDrillResults(s3, this.store).catch(e => {
      log.debug({ err: (e as Error).message }, 'cannot read the restore drill result for /metrics');
      return undefined;
    });
    return {
      drillSucceededTime: drill?.lastSucceeded?.time,
      drillFailedTime: drill?.lastFailed?.time,
      count: ended.length,
      lastCompletedTime: ended.length ? ended[ended.length - 1] / 1000 : undefined,
      lastCompletedDurationSeconds: newest ? (newest.endTime!.getTime() - newest.beginTime.getTime()) / 1000 : undefined,
      lastCompletedSizeBytes: newest?.size,
      firstRecoverabilityPoint: ended.length ? ended[0] / 1000 : undefined,
      lastFailedTime: failed.length ? failed[failed.length - 1] / 1000 : undefined,
    };
  }
}

/** Keeps the latest observations; render() is what /metrics appends. */
export class ObservedMetrics {
  stats?: ObservedStats;
  backups?: ObservedBackups;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private lastError = '';
  private readonly catalog?: BackupCatalogReader;
  private listing = false;

  constructor(
    private readonly cfg: InstanceConfig,
    private readonly isPrimary: () => boolean,
    private readonly synchronousMembers: () => number | undefined,
  ) {
    if (cfg.archiving) this.catalog = new BackupCatalogReader(cfg.archiving);
  }

  start(): void {
    // Until the first read succeeds (postgres still starting), again every 2 s; then every 10 s.
    const stats = () => {
      void readObservedStats(this.cfg)
        .then(
          s => {
            this.stats = s;
          },
          e => this.warn('cannot read the statistics for /metrics', e),
        )
        .finally(() => {
          if (!this.stopped) this.schedule(stats, this.stats ? STATS_EVERY_MS : 2_000);
        });
    };
    const backups = () => {
      if (this.catalog && this.isPrimary() && !this.listing) {
        this.listing = true;
        void this.catalog
          .read()
          .then(
            b => {
              this.backups = b;
            },
            e => this.warn('cannot list the base backups for /metrics', e),
          )
          .finally(() => {
            this.listing = false;
          });
      }
      this.schedule(backups, BACKUPS_EVERY_MS);
    };
    this.schedule(stats, 2_000);
    // The first backup listing once the instance had time to become primary.
    this.schedule(backups, 15_000);
  }

  private schedule(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
  }

  private warn(what: string, e: unknown): void {
    const err = (e as Error).message;
    if (err !== this.lastError) log.warn({ err }, what);
    this.lastError = err;
  }

  render(labels: string): string[] {
    return renderObserved(labels, this.stats, this.isPrimary() ? this.backups : undefined, this.synchronousMembers());
  }
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Prometheus text lines (HELP, TYPE, samples) of the observations. */
export function renderObserved(
  l: string,
  s: ObservedStats | undefined,
  b: ObservedBackups | undefined,
  synchronousMembers: number | undefined,
): string[] {
  const out: string[] = [];
  const metric = (name: string, help: string, type: string, samples: Array<[string, number | undefined]>) => {
    const present = samples.filter((x): x is [string, number] => x[1] !== undefined && Number.isFinite(x[1]));
    if (present.length) out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...present.map(([extra, v]) => `${name}{${l}${extra}} ${v}`));
  };
  if (s) {
    metric('pgc_timeline_id', 'Timeline of this instance (a failover or switchover starts a new one).', 'gauge', [['', s.timeline]]);
    metric(
      'pgc_replication_lag_seconds',
      'Replica: seconds since the last replayed transaction while WAL waits for replay. Primary: per replica, seconds its replay is behind.',
      'gauge',
      s.replayLagSeconds !== undefined ? [['', s.replayLagSeconds]] : s.standbys.map(r => [`,replica="${esc(r.name)}"`, r.lagSeconds]),
    );
    if (s.replayLagSeconds === undefined) {
      metric('pgc_streaming_replicas', 'Primary: replicas connected to it (pg_stat_replication).', 'gauge', [['', s.standbys.length]]);
    }
    // Timestamps are 0 for "never", so that alerts compare them without `absent()`.
    metric('pgc_wal_last_archived_timestamp_seconds', 'When the last WAL file was archived (pg_stat_archiver), Unix time; 0: never.', 'gauge', [
      ['', s.archiver.lastArchivedTime ?? 0],
    ]);
    metric('pgc_wal_last_failed_timestamp_seconds', 'When archiving a WAL file last failed (pg_stat_archiver), Unix time; 0: never.', 'gauge', [
      ['', s.archiver.lastFailedTime ?? 0],
    ]);
    metric('pgc_wal_archive_ready_files', 'WAL files waiting to be archived (pg_wal/archive_status/*.ready).', 'gauge', [['', s.readyFiles]]);
    metric(
      'pgc_database_size_bytes',
      'Size of each database.',
      'gauge',
      s.databases.map(d => [`,datname="${esc(d.name)}"`, d.sizeBytes]),
    );
    metric(
      'pgc_database_xid_age',
      "Transactions since each database's oldest unfrozen transaction ID (wraparound at 2^31; autovacuum freezes from 200 million).",
      'gauge',
      s.databases.map(d => [`,datname="${esc(d.name)}"`, d.xidAge]),
    );
    metric(
      'pgc_connections',
      'Client connections by state (pg_stat_activity).',
      'gauge',
      Object.entries(s.connections)
        .sort()
        .map(([state, n]) => [`,state="${esc(state)}"`, n]),
    );
    metric('pgc_max_connections', 'max_connections of this instance.', 'gauge', [['', s.maxConnections]]);
  }
  metric('pgc_synchronous_standbys', 'Primary: replicas its commits wait for now (in synchronous_standby_names).', 'gauge', [
    ['', synchronousMembers],
  ]);
  if (b) {
    metric('pgc_base_backups', 'Complete base backups in the store (primary).', 'gauge', [['', b.count]]);
    metric('pgc_last_base_backup_timestamp_seconds', 'When the newest complete base backup ended, Unix time; 0: none (primary).', 'gauge', [
      ['', b.lastCompletedTime ?? 0],
    ]);
    metric('pgc_last_base_backup_duration_seconds', 'How long the newest complete base backup took; 0: none (primary).', 'gauge', [
      ['', b.lastCompletedDurationSeconds ?? 0],
    ]);
    metric('pgc_last_base_backup_size_bytes', 'Size of the newest complete base backup (backup.info size); 0: none (primary).', 'gauge', [
      ['', b.lastCompletedSizeBytes ?? 0],
    ]);
    metric(
      'pgc_first_recoverability_point_seconds',
      'The earliest point a restore can reach: the end of the oldest complete base backup, Unix time; 0: none (primary).',
      'gauge',
      [['', b.firstRecoverabilityPoint ?? 0]],
    );
    metric(
      'pgc_last_failed_base_backup_timestamp_seconds',
      'When the newest failed base backup started or ended, Unix time; 0: never (primary).',
      'gauge',
      [['', b.lastFailedTime ?? 0]],
    );
    metric(
      'pgc_restore_drill_last_succeeded_timestamp_seconds',
      'When the last restore drill (pg-agent verify) that passed ended, Unix time; 0: never (primary).',
      'gauge',
      [['', b.drillSucceededTime ?? 0]],
    );
    metric(
      'pgc_restore_drill_last_failed_timestamp_seconds',
      'When the last restore drill (pg-agent verify) that failed ended, Unix time; 0: never (primary).',
      'gauge',
      [['', b.drillFailedTime ?? 0]],
    );
  }
  return out;
}
