import { Chart, Testing } from 'cdk8s';
import {
  BackupStore,
  DatabaseRestore,
  DatabaseRestoreProps,
  LogicalBackup,
  LogicalBackupProps,
  PostgresCluster,
  PostgresClusterProps,
  contract,
} from '../../lib';
import { baseProps, byKind, envOf } from './helpers';

const { LOGICAL_ENV, BACKUP_ENV, ENV } = contract;

/** A 3-database cluster with backups (or without, `backup: false`), and what `make` adds to its chart. */
function synth(
  make: (cluster: PostgresCluster, chart: Chart) => void,
  opts: { backup?: boolean; cluster?: Partial<PostgresClusterProps> } = {},
): any[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ns' });
  const store = new BackupStore(chart, 'store', { endpoint: 'https://rgw.example:443', bucket: 'backups', credentials: { secretName: 'keys' } });
  const cluster = new PostgresCluster(chart, 'cluster', {
    ...baseProps,
    databases: [
      { name: 'mastodon', owner: 'mastodon' },
      { name: 'nextcloud', owner: 'nc' },
      { name: 'gitea', owner: 'gitea' },
    ],
    ...(opts.backup === false ? {} : { backup: { store } }),
    ...opts.cluster,
  } as PostgresClusterProps);
  make(cluster, chart);
  return Testing.synth(chart);
}

describe('LogicalBackup', () => {
  test('a CronJob running pg-agent logical-backup against -rw as the superuser (by reference), every database with its owner, its own retention', () => {
    const objects = synth(
      (cluster, chart) => new LogicalBackup(chart, 'dumps', { cluster, schedule: '0 0 4 * * *', retention: { recoveryWindow: '7d', weekly: 4 } }),
    );
    const cron = byKind(objects, 'CronJob', 'pg-logical-backup');
    expect(cron.spec.schedule).toBe('0 4 * * *');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const pod = cron.spec.jobTemplate.spec.template.spec;
    // The superuser's password is read through the API, from that one Secret: in no environment variable.
    expect(pod.serviceAccountName).toBe('pg-logical-backup');
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(byKind(objects, 'Role', 'pg-logical-backup').rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['pg-superuser'] },
    ]);
    expect(byKind(objects, 'RoleBinding', 'pg-logical-backup').subjects).toEqual([{ kind: 'ServiceAccount', name: 'pg-logical-backup' }]);
    const c = pod.containers[0];
    expect(c.args).toEqual(['logical-backup']);
    const env = envOf(c);
    expect(env.PGC_PRIMARY_HOST).toBe('pg-rw');
    expect(env[ENV.superuserSecret]).toBe('pg-superuser');
    expect(env[LOGICAL_ENV.superuserPassword]).toBeUndefined();
    expect(JSON.stringify(c.env)).not.toMatch(/secretKeyRef":\{"key":"password"/);
    expect(JSON.parse(env[LOGICAL_ENV.databases])).toEqual([
      { name: 'mastodon', owner: 'mastodon' },
      { name: 'nextcloud', owner: 'nc' },
      { name: 'gitea', owner: 'gitea' },
    ]);
    expect(JSON.parse(env[LOGICAL_ENV.retention])).toEqual({ recoveryWindow: '7d', weekly: 4 });
    expect(env[BACKUP_ENV.retention]).toBeUndefined();
    expect(env[BACKUP_ENV.serverName]).toBe('pg');
    // The pods carry the cluster label, which the network policies let in.
    expect(cron.spec.jobTemplate.spec.template.metadata.labels['postgres.cdk8s.io/cluster']).toBe('pg');
    expect(JSON.stringify(objects)).not.toMatch(/"value":"[^"]*password/i);
  });

  test('databases picks some; defaults: 02:00 daily, a 30-day window; suspended with the cluster hibernating', () => {
    const objects = synth((cluster, chart) => new LogicalBackup(chart, 'dumps', { cluster, databases: ['gitea'] }), { cluster: { hibernate: true } });
    const cron = byKind(objects, 'CronJob', 'pg-logical-backup');
    const env = envOf(cron.spec.jobTemplate.spec.template.spec.containers[0]);
    expect(JSON.parse(env[LOGICAL_ENV.databases])).toEqual([{ name: 'gitea', owner: 'gitea' }]);
    expect(JSON.parse(env[LOGICAL_ENV.retention])).toEqual({ recoveryWindow: '30d' });
    expect(cron.spec.schedule).toBe('0 2 * * *');
    expect(cron.spec.suspend).toBe(true);
  });

  test.each<[string, Partial<LogicalBackupProps>, RegExp, boolean?]>([
    ['a cluster without backup', {}, /^LogicalBackupProps\.cluster: cluster "pg" has no backup\. Set backup on the PostgresCluster/, false],
    ['a bad schedule', { schedule: 'nightly' }, /^LogicalBackupProps\.schedule: "nightly" has 1 fields\. Use 5 cron fields/],
    ['an invalid cron field', { schedule: '0 25 * * *' }, /^LogicalBackupProps\.schedule: "0 25 \* \* \*" is not a valid cron expression/],
    [
      'a database not in the cluster',
      { databases: ['mastodon', 'keycloak'] },
      /^LogicalBackupProps\.databases\[1\]: "keycloak" is not a database of cluster "pg"\. Use one of mastodon, nextcloud, gitea/,
    ],
    ['a database twice', { databases: ['gitea', 'gitea'] }, /^LogicalBackupProps\.databases\[1\]: "gitea" is listed twice/],
    ['no database', { databases: [] }, /^LogicalBackupProps\.databases: is empty/],
    [
      'a bad window',
      { retention: { recoveryWindow: '2 weeks' } },
      /^LogicalBackupProps\.retention\.recoveryWindow: "2 weeks" is not a window\. Write a number and a unit/,
    ],
    ['a negative count', { retention: { daily: -1 } }, /^LogicalBackupProps\.retention\.daily: -1 is not a whole number of backups/],
    ['a retention that keeps nothing', { retention: {} }, /^LogicalBackupProps\.retention: keeps nothing\. Set a recoveryWindow/],
    ['a short deadline', { activeDeadlineSeconds: 60 }, /^LogicalBackupProps\.activeDeadlineSeconds: 60 is below 300/],
  ])('%s is refused at synth, naming the prop and the fix', (_what, props, message, backup = true) => {
    expect(() => synth((cluster, chart) => new LogicalBackup(chart, 'dumps', { cluster, ...props }), { backup })).toThrow(message);
  });
});

describe('DatabaseRestore', () => {
  test('a Job running restore-database with the flags given, into the primary as the superuser; never retried blindly', () => {
    const objects = synth(
      (cluster, chart) =>
        new DatabaseRestore(chart, 'restore', {
          cluster,
          database: 'nextcloud',
          from: '20261203T040000',
          into: 'nextcloud',
          overwrite: true,
          discardExistingData: true,
        }),
    );
    const job = byKind(objects, 'Job', 'pg-restore-nextcloud');
    expect(job.spec.backoffLimit).toBe(0);
    const c = job.spec.template.spec.containers[0];
    expect(c.args).toEqual([
      'restore-database',
      'nextcloud',
      '--from',
      '20261203T040000',
      '--into',
      'nextcloud',
      '--overwrite',
      '--discard-existing-data',
    ]);
    const env = envOf(c);
    expect(env[ENV.superuserSecret]).toBe('pg-superuser');
    expect(env[LOGICAL_ENV.superuserPassword]).toBeUndefined();
    expect(JSON.parse(env[LOGICAL_ENV.databases])).toContainEqual({ name: 'nextcloud', owner: 'nc' });
    expect(job.spec.template.spec.serviceAccountName).toBe('pg-restore-nextcloud');
    expect(byKind(objects, 'Role', 'pg-restore-nextcloud').rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['pg-superuser'] },
    ]);
  });

  test('by default into a new database (no --into, no overwrite flags); a time or latest as --from', () => {
    const objects = synth((cluster, chart) => {
      new DatabaseRestore(chart, 'a', { cluster, database: 'gitea', from: '2026-12-03T10:00:00Z' });
      new DatabaseRestore(chart, 'b', { cluster, database: 'mastodon', from: 'latest', name: 'undo-mastodon' });
    });
    expect(byKind(objects, 'Job', 'pg-restore-gitea').spec.template.spec.containers[0].args).toEqual([
      'restore-database',
      'gitea',
      '--from',
      '2026-12-03T10:00:00Z',
    ]);
    expect(byKind(objects, 'Job', 'undo-mastodon').spec.template.spec.containers[0].args).toEqual([
      'restore-database',
      'mastodon',
      '--from',
      'latest',
    ]);
  });

  test.each<[string, Partial<DatabaseRestoreProps>, RegExp, boolean?]>([
    ['a cluster without backup', {}, /^DatabaseRestoreProps\.cluster: cluster "pg" has no backup/, false],
    [
      'a database not in the cluster',
      { database: 'keycloak' },
      /^DatabaseRestoreProps\.database: "keycloak" is not a database of cluster "pg"\. Use one of mastodon, nextcloud, gitea/,
    ],
    [
      'a from that is neither',
      { from: 'yesterday' },
      /^DatabaseRestoreProps\.from: "yesterday" is neither a backup id, "latest" nor a time\. Give a backup id/,
    ],
    ['a time without a zone', { from: '2026-12-03T10:00:00' }, /^DatabaseRestoreProps\.from: /],
    ['a bad into', { into: 'Mastodon-Old' }, /^DatabaseRestoreProps\.into: "Mastodon-Old" is not a database name/],
    [
      'discardExistingData without overwrite',
      { discardExistingData: true },
      /^DatabaseRestoreProps\.discardExistingData: is set without overwrite\. Set overwrite: true/,
    ],
    ['a bad Job name', { name: 'Restore_It' }, /^DatabaseRestoreProps\.name: "Restore_It" is not a Job name/],
  ])('%s is refused at synth, naming the prop and the fix', (_what, props, message, backup = true) => {
    expect(() =>
      synth((cluster, chart) => new DatabaseRestore(chart, 'r', { cluster, database: 'gitea', from: 'latest', ...props }), { backup }),
    ).toThrow(message);
  });
});

describe('examples/restore-one-database.ts', () => {
  test('synthesizes: the logical backup CronJob and the restore Job of nextcloud into a new database', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { restoreOneDatabaseChart } = require('../../examples/restore-one-database') as typeof import('../../examples/restore-one-database');
    const objects = Testing.synth(restoreOneDatabaseChart(Testing.app()));
    expect(byKind(objects, 'CronJob', 'apps-pg-logical-backup').spec.schedule).toBe('0 3 * * *');
    expect(byKind(objects, 'Job', 'apps-pg-restore-nextcloud').spec.template.spec.containers[0].args).toEqual([
      'restore-database',
      'nextcloud',
      '--from',
      'latest',
    ]);
  });
});
