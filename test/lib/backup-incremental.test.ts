/** `backup.incremental`: validated at synth, rendered into the backup Jobs only (the instances do not read it). */
import { Chart, Size, Testing } from 'cdk8s';
import { BackupStore, PostgresCluster } from '../../lib';
import { INCREMENTAL_ENV, fullEveryMs } from '../../lib/contract';
import { byKind, envOf } from './helpers';

function synth(backup: Record<string, unknown> = {}) {
  const chart = new Chart(Testing.app(), 'c', { namespace: 'testsetup' });
  const store = new BackupStore(chart, 'store', { endpoint: 'http://s3.example:80', bucket: 'backups', credentials: { secretName: 's3' } });
  new PostgresCluster(chart, 'pg', { name: 'pg', instances: 2, storage: { size: Size.gibibytes(1) }, backup: { store, immediate: true, ...backup } });
  return Testing.synth(chart);
}
const backupEnv = (objects: any[], kind: 'CronJob' | 'Job') => {
  const o = byKind(objects, kind, kind === 'CronJob' ? 'pg-backup' : 'pg-backup-initial');
  return envOf((kind === 'CronJob' ? o.spec.jobTemplate.spec : o.spec).template.spec.containers[0]);
};

describe('backup.incremental', () => {
  test('off unless set: no variable anywhere', () => {
    const objects = synth();
    expect(backupEnv(objects, 'CronJob')[INCREMENTAL_ENV.spec]).toBeUndefined();
    expect(backupEnv(objects, 'Job')[INCREMENTAL_ENV.spec]).toBeUndefined();
  });
  test('set: the backup Jobs get the spec, with fullEvery defaulting to 7d; the instances do not', () => {
    const objects = synth({ incremental: {} });
    expect(JSON.parse(backupEnv(objects, 'CronJob')[INCREMENTAL_ENV.spec])).toEqual({ fullEvery: '7d' });
    expect(JSON.parse(backupEnv(objects, 'Job')[INCREMENTAL_ENV.spec])).toEqual({ fullEvery: '7d' });
    expect(JSON.parse(backupEnv(synth({ incremental: { fullEvery: '36h' } }), 'CronJob')[INCREMENTAL_ENV.spec])).toEqual({ fullEvery: '36h' });
    expect(envOf(byKind(objects, 'StatefulSet').spec.template.spec.containers[0])[INCREMENTAL_ENV.spec]).toBeUndefined();
  });
  test.each(['7', '7 days', '0d', '1m', '-1d', '1.5d'])('bad fullEvery %j: named with the fix', v => {
    expect(() => synth({ incremental: { fullEvery: v } })).toThrow(
      new RegExp(`^backup\\.incremental\\.fullEvery: "${v.replace('.', '\\.')}" is not a duration\\. Write a whole number and a unit: h, d or w`),
    );
  });
  test('fullEveryMs: the agent reads the same units', () => {
    expect(fullEveryMs('7d')).toBe(7 * 86_400_000);
    expect(fullEveryMs('2w')).toBe(14 * 86_400_000);
    expect(fullEveryMs('36h')).toBe(36 * 3_600_000);
    expect(fullEveryMs('1m')).toBeUndefined();
  });
});

describe('examples/incremental-backups.ts', () => {
  test('synthesizes, with incrementals on the backup CronJob', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { incrementalChart } = require('../../examples/incremental-backups') as typeof import('../../examples/incremental-backups');
    const objects = Testing.synth(incrementalChart(Testing.app()));
    const cron = byKind(objects, 'CronJob', 'app-pg-backup');
    expect(JSON.parse(envOf(cron.spec.jobTemplate.spec.template.spec.containers[0])[INCREMENTAL_ENV.spec])).toEqual({ fullEvery: '7d' });
  });
});
