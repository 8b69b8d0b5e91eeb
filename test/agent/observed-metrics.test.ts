/**
 * observed-metrics.ts: the text Prometheus reads, for a primary and a replica (the values a running agent reports
 * are checked in metrics-scrape.e2e.test.ts).
 */
import { ObservedStats, countReadyFiles, renderObserved } from '../../agent/src/instance/observed-metrics';
import { renderMetrics } from '../../agent/src/instance/http';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const L = 'cluster="pg",pod="pg-0"';
const primary: ObservedStats = {
  timeline: 3,
  standbys: [{ name: 'pg-1', lagSeconds: 1.5, syncState: 'quorum' }],
  archiver: { lastArchivedTime: 1700000000.25 },
  readyFiles: 2,
  databases: [{ name: 'app "x"', sizeBytes: 8000000, xidAge: 1234 }],
  connections: { active: 1, idle: 4, 'idle in transaction': 0, 'idle in transaction (aborted)': 0 },
  maxConnections: 100,
};

describe('renderObserved', () => {
  test('a primary: per-replica lag, streaming replicas, archiver times (0 for never), escaped label values, backups', () => {
    const text = renderObserved(
      L,
      primary,
      {
        count: 2,
        lastCompletedTime: 1700000100,
        lastCompletedDurationSeconds: 42.5,
        lastCompletedSizeBytes: 31457280,
        firstRecoverabilityPoint: 1690000000,
      },
      1,
    ).join('\n');
    expect(text).toContain(`pgc_timeline_id{${L}} 3`);
    expect(text).toContain(`pgc_replication_lag_seconds{${L},replica="pg-1"} 1.5`);
    expect(text).toContain(`pgc_streaming_replicas{${L}} 1`);
    expect(text).toContain(`pgc_wal_last_archived_timestamp_seconds{${L}} 1700000000.25`);
    expect(text).toContain(`pgc_wal_last_failed_timestamp_seconds{${L}} 0`);
    expect(text).toContain(`pgc_wal_archive_ready_files{${L}} 2`);
    expect(text).toContain(`pgc_database_size_bytes{${L},datname="app \\"x\\""} 8000000`);
    expect(text).toContain(`pgc_connections{${L},state="idle in transaction (aborted)"} 0`);
    expect(text).toContain(`pgc_synchronous_standbys{${L}} 1`);
    expect(text).toContain(`pgc_base_backups{${L}} 2`);
    expect(text).toContain(`pgc_last_base_backup_duration_seconds{${L}} 42.5`);
    expect(text).toContain(`pgc_last_base_backup_size_bytes{${L}} 31457280`);
    expect(text).toContain(`pgc_last_failed_base_backup_timestamp_seconds{${L}} 0`);
    // No drill result in the store: both drill times 0, so the drill alert compares 0 with 0 and stays quiet.
    expect(text).toContain(`pgc_restore_drill_last_succeeded_timestamp_seconds{${L}} 0`);
    expect(text).toContain(`pgc_restore_drill_last_failed_timestamp_seconds{${L}} 0`);
    // Every sample has its HELP and TYPE.
    const names = new Set(
      text
        .split('\n')
        .filter(l => !l.startsWith('#'))
        .map(l => l.split('{')[0]),
    );
    for (const n of names) expect(text).toContain(`# TYPE ${n} gauge`);
  });

  test("a primary with the drill's results: the last success and the last failure", () => {
    const text = renderObserved(L, primary, { count: 1, drillSucceededTime: 1700000000.5, drillFailedTime: 1700600000 }, undefined).join('\n');
    expect(text).toContain(`pgc_restore_drill_last_succeeded_timestamp_seconds{${L}} 1700000000.5`);
    expect(text).toContain(`pgc_restore_drill_last_failed_timestamp_seconds{${L}} 1700600000`);
  });

  test('a replica: its own lag without a replica label, no primary-only series', () => {
    const text = renderObserved(L, { ...primary, replayLagSeconds: 0, standbys: [] }, undefined, undefined).join('\n');
    expect(text).toContain(`pgc_replication_lag_seconds{${L}} 0`);
    expect(text).not.toContain('pgc_streaming_replicas');
    expect(text).not.toContain('pgc_synchronous_standbys');
    expect(text).not.toContain('pgc_base_backups');
    expect(text).not.toContain('pgc_restore_drill');
  });

  test('nothing read yet: no series rather than wrong ones', () => {
    expect(renderObserved(L, undefined, undefined, undefined)).toEqual([]);
  });

  test('.ready files are counted in pg_wal/archive_status; a missing directory counts 0', () => {
    const pgdata = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-ready-'));
    expect(countReadyFiles(pgdata)).toBe(0);
    fs.mkdirSync(path.join(pgdata, 'pg_wal', 'archive_status'), { recursive: true });
    for (const f of ['000000010000000000000001.done', '000000010000000000000002.ready', '000000010000000000000003.ready']) {
      fs.writeFileSync(path.join(pgdata, 'pg_wal', 'archive_status', f), '');
    }
    expect(countReadyFiles(pgdata)).toBe(2);
    fs.rmSync(pgdata, { recursive: true, force: true });
  });
});

describe('renderMetrics: the Lease as each instance sees it', () => {
  const base = { cluster: 'pg', pod: 'pg-0', up: true, restarts: 0 };
  test('the holder: held 1, its own renewal age; a replica: held 0, the holder named, the age of the record', () => {
    const holder = renderMetrics({ ...base, lease: { holder: 'pg-0', heldByMe: true, renewAgeSeconds: 1.234 } });
    expect(holder).toContain(`pgc_lease_held{${L}} 1`);
    expect(holder).toContain(`pgc_lease_holder_info{${L},holder="pg-0"} 1`);
    expect(holder).toContain(`pgc_lease_renew_age_seconds{${L}} 1.2`);
    const replica = renderMetrics({ ...base, pod: 'pg-1', lease: { holder: 'pg-0', heldByMe: false, renewAgeSeconds: 31 } });
    expect(replica).toContain('pgc_lease_held{cluster="pg",pod="pg-1"} 0');
    expect(replica).toContain('pgc_lease_holder_info{cluster="pg",pod="pg-1",holder="pg-0"} 1');
    expect(replica).toContain('pgc_lease_renew_age_seconds{cluster="pg",pod="pg-1"} 31');
  });

  test('no Lease seen yet, or nobody holding it: no holder series; never an unparseable value', () => {
    expect(renderMetrics(base)).not.toContain('pgc_lease');
    const released = renderMetrics({ ...base, lease: { heldByMe: false, renewAgeSeconds: 2 } });
    expect(released).toContain(`pgc_lease_held{${L}} 0`);
    expect(released).not.toContain('pgc_lease_holder_info');
    expect(renderMetrics({ ...base, lease: { holder: 'pg-0', heldByMe: true, renewAgeSeconds: Infinity } })).not.toContain('Infinity');
  });
});
