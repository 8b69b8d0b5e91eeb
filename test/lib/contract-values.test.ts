/**
 * Defaults and allowed values shared by the constructs and the agent live in lib/contract (defaults.ts). These
 * tests hold the constructs to them: what a cluster renders when its props leave a setting out, what synth
 * refuses, and that the `@default` a user reads in the prop's JSDoc is the contract's value.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  BACKUP_DEFAULTS,
  BACKUP_ENV,
  COMPRESSIONS,
  DEFAULT_FAILOVER_MAX_LAG_BYTES,
  ENV,
  LEASE,
  SHUTDOWN,
  SHUTDOWN_ENV,
  WAL_MAX_PARALLEL_RANGE,
  shutdownTimeoutSeconds,
} from '../../lib/contract';
import { Chart, Testing } from 'cdk8s';
import { BackupStore, PostgresCluster, PostgresClusterProps } from '../../lib';
import { baseProps, byKind, envOf, synthCluster } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');

/** The text after `@default` in the JSDoc of `prop` in `file`. */
function jsdocDefault(file: string, prop: string): string {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const m = new RegExp(`@default ([^\\n]*)\\n\\s*\\*/\\n\\s*readonly ${prop}\\?:`).exec(text);
  if (!m) throw new Error(`no @default for ${prop} in ${file}`);
  return m[1].trim();
}

/** A cluster with backups, the given backup props over none. */
function withBackup(backup: Record<string, unknown> = {}): any[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ns' });
  const store = new BackupStore(chart, 'store', { endpoint: 'http://s3:80', bucket: 'backups', credentials: { secretName: 's' } });
  new PostgresCluster(chart, 'cluster', { ...baseProps, backup: { store, ...backup } } as PostgresClusterProps);
  return Testing.synth(chart);
}

describe('the constructs render the contract values when props leave them out', () => {
  test('failover and shutdown', () => {
    const sts = byKind(synthCluster().objects, 'StatefulSet');
    const env = envOf(sts.spec.template.spec.containers[0]);
    expect(env[ENV.leaseDuration]).toBe(String(LEASE.defaultDurationSeconds));
    expect(env[ENV.failoverMaxLagBytes]).toBe(String(DEFAULT_FAILOVER_MAX_LAG_BYTES));
    expect(sts.spec.template.spec.terminationGracePeriodSeconds).toBe(SHUTDOWN.defaultGracePeriodSeconds);
    expect(env[SHUTDOWN_ENV]).toBe(String(SHUTDOWN.defaultGracePeriodSeconds - SHUTDOWN.immediateMarginSeconds));
    expect(shutdownTimeoutSeconds(3)).toBe(1);
  });

  test('backup compression and WAL parallelism', () => {
    const env = envOf(byKind(withBackup(), 'StatefulSet').spec.template.spec.containers[0]);
    expect(env[BACKUP_ENV.compression]).toBe(BACKUP_DEFAULTS.compression);
    expect(env[BACKUP_ENV.walCompression]).toBe(BACKUP_DEFAULTS.walCompression);
    expect(env[BACKUP_ENV.walMaxParallel]).toBe(String(BACKUP_DEFAULTS.walMaxParallel));
  });
});

describe('synth refuses what the contract does not allow, naming its bounds', () => {
  test.each([
    [{ failover: { leaseDurationSeconds: LEASE.minDurationSeconds - 1 } }, /failover\.leaseDurationSeconds: 4 is outside 5\.\.300/],
    [{ failover: { leaseDurationSeconds: LEASE.maxDurationSeconds + 1 } }, /failover\.leaseDurationSeconds: 301 is outside 5\.\.300/],
    [{ terminationGracePeriodSeconds: SHUTDOWN.minGracePeriodSeconds - 1 }, /terminationGracePeriodSeconds: 9 is below 10 seconds/],
  ])('%j', (props, message) => {
    expect(() => synthCluster(props as any)).toThrow(message);
  });

  test('every contract compression is accepted, anything else refused with the list', () => {
    for (const c of COMPRESSIONS) expect(() => withBackup({ compression: c, walCompression: c })).not.toThrow();
    expect(() => withBackup({ walCompression: 'bzip2' })).toThrow(/backup\.walCompression: "bzip2" is not supported.*gzip, zstd, lz4, none/);
    expect(() => withBackup({ walMaxParallel: WAL_MAX_PARALLEL_RANGE.max + 1 })).toThrow(/outside 1\.\.32/);
  });
});

describe("the props' @default tags say the contract's values", () => {
  test.each([
    ['lib/cluster/props.ts', 'leaseDurationSeconds', String(LEASE.defaultDurationSeconds)],
    ['lib/cluster/props.ts', 'maxLagBytes', String(DEFAULT_FAILOVER_MAX_LAG_BYTES)],
    ['lib/cluster/props.ts', 'terminationGracePeriodSeconds', String(SHUTDOWN.defaultGracePeriodSeconds)],
    ['lib/backup/cluster-backup.ts', 'compression', `'${BACKUP_DEFAULTS.compression}'`],
    ['lib/backup/cluster-backup.ts', 'walCompression', `'${BACKUP_DEFAULTS.walCompression}'`],
    ['lib/backup/cluster-backup.ts', 'walMaxParallel', String(BACKUP_DEFAULTS.walMaxParallel)],
    ['lib/monitoring/cluster-monitoring.ts', 'replicationLagBytes', String(DEFAULT_FAILOVER_MAX_LAG_BYTES)],
  ])('%s %s', (file, prop, value) => {
    expect(jsdocDefault(file, prop).split(' ')[0]).toBe(value);
  });
});
