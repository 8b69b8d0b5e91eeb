import { Chart, Size, Testing } from 'cdk8s';
import { BackupStore, BackupStoreProps, PostgresCluster, s3BucketPolicy } from '../../lib';
import { BACKUP_ENV, backupIdFor, s3Layout } from '../../lib/contract';
import { byKind, envOf } from './helpers';

const storeProps: BackupStoreProps = {
  endpoint: 'http://rook-ceph-rgw-rgw-bulk.rook-cluster.svc:80',
  bucket: 'backup-cnpg',
  credentials: { secretName: 'rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak' },
};

function synth(backup: Record<string, unknown> = {}, store: Partial<BackupStoreProps> = {}, instances = 2) {
  const chart = new Chart(Testing.app(), 'c', { namespace: 'testsetup' });
  const s = new BackupStore(chart, 'store', { ...storeProps, ...store });
  new PostgresCluster(chart, 'pg', { name: 'keycloak-pg-cluster', instances, storage: { size: Size.gibibytes(2) }, backup: { store: s, ...backup } });
  return Testing.synth(chart);
}

describe('backups', () => {
  test('a CronJob that takes base backups with Forbid, history limits and deadlines', () => {
    const objects = synth({ schedule: '0 0 0 * * *' });
    const cron = byKind(objects, 'CronJob');
    expect(cron.metadata.name).toBe('keycloak-pg-cluster-backup');
    expect(cron.spec).toMatchObject({
      schedule: '0 0 * * *',
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      startingDeadlineSeconds: 3600,
    });
    expect(cron.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 21600 });
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    // The API only to record Events on its pod: a Role with that right alone.
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(byKind(objects, 'Role', 'keycloak-pg-cluster-backup').rules).toEqual([
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
    ]);
    expect(byKind(objects, 'RoleBinding', 'keycloak-pg-cluster-backup').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'keycloak-pg-cluster-backup' },
    ]);
    const c = pod.containers[0];
    expect(c.args).toEqual(['backup']);
    const env = envOf(c);
    expect(env[BACKUP_ENV.endpoint]).toBe('http://rook-ceph-rgw-rgw-bulk.rook-cluster.svc:80');
    expect(env[BACKUP_ENV.bucket]).toBe('backup-cnpg');
    expect(env[BACKUP_ENV.prefix]).toBe('');
    expect(env[BACKUP_ENV.serverName]).toBe('keycloak-pg-cluster');
    expect(env[BACKUP_ENV.forcePathStyle]).toBe('true');
    expect(env[BACKUP_ENV.accessKeyId]).toEqual({ secretKeyRef: { name: 'rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak', key: 'AccessKey' } });
    expect(env[BACKUP_ENV.secretAccessKey]).toEqual({
      secretKeyRef: { name: 'rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak', key: 'SecretKey' },
    });
    expect(env[BACKUP_ENV.sourceHost]).toBe('keycloak-pg-cluster-rw');
    expect(JSON.parse(env[BACKUP_ENV.retention])).toEqual({ recoveryWindow: '30d' });
    expect(env[BACKUP_ENV.compression]).toBe('gzip');
    expect(objects.filter(o => o.kind === 'Job' && /backup/.test(o.metadata.name))).toHaveLength(0);
  });

  test('the instances get the store settings for WAL archiving', () => {
    const env = envOf(byKind(synth(), 'StatefulSet').spec.template.spec.containers[0]);
    expect(env[BACKUP_ENV.bucket]).toBe('backup-cnpg');
    expect(env[BACKUP_ENV.walCompression]).toBe('gzip');
    expect(env[BACKUP_ENV.walMaxParallel]).toBe('4');
    expect(env[BACKUP_ENV.accessKeyId].secretKeyRef.key).toBe('AccessKey');
  });

  test('immediate adds a one-off Job; backupFromStandby reads from the -ro Service when there are replicas', () => {
    const objects = synth({ immediate: true, backupFromStandby: true });
    const job = byKind(objects, 'Job', 'keycloak-pg-cluster-backup-initial');
    expect(job.spec.backoffLimit).toBe(6);
    expect(envOf(job.spec.template.spec.containers[0])[BACKUP_ENV.sourceHost]).toBe('keycloak-pg-cluster-ro');
    expect(
      envOf(byKind(synth({ backupFromStandby: true }, {}, 1), 'CronJob').spec.jobTemplate.spec.template.spec.containers[0])[BACKUP_ENV.sourceHost],
    ).toBe('keycloak-pg-cluster-rw');
  });

  test('a CA bundle is mounted into instances and backup pods', () => {
    const objects = synth({}, { endpoint: 'https://s3.example.com', caBundle: { configMapName: 'homelab-ca' } });
    for (const spec of [byKind(objects, 'StatefulSet').spec.template.spec, byKind(objects, 'CronJob').spec.jobTemplate.spec.template.spec]) {
      expect(spec.volumes).toContainEqual({ name: 's3-ca', configMap: { name: 'homelab-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
      expect(envOf(spec.containers[0])[BACKUP_ENV.caFile]).toBe('/etc/pg-agent/s3-ca/ca.crt');
    }
  });

  test("the S3 layout is barman-cloud's", () => {
    expect(s3Layout.walKey('', 'keycloak-pg-cluster', '000000010000000000000003', 'gzip')).toBe(
      'keycloak-pg-cluster/wals/0000000100000000/000000010000000000000003.gz',
    );
    expect(s3Layout.backupInfo('pg/', 'c', '20261127T000000')).toBe('pg/c/base/20261127T000000/backup.info');
    expect(s3Layout.dataTar('', 'c', 'X', 'none')).toBe('c/base/X/data.tar');
    expect(backupIdFor(new Date('2026-11-27T01:02:03.456Z'))).toBe('20261127T010203');
  });

  test("s3BucketPolicy renders the reference story's policy", () => {
    const policy = JSON.parse(
      s3BucketPolicy({
        bucket: 'backup-cnpg',
        clusters: [{ prefix: 'keycloak-pg-cluster', user: 'cnpg-backup-keycloak' }],
        readOnlyUsers: ['extern-backups-s3'],
      }),
    );
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Action: ['s3:GetObject', 's3:DeleteObject', 's3:PutObject', 's3:ListBucket', 's3:GetBucketLocation'],
          Effect: 'Allow',
          Resource: ['arn:aws:s3:::backup-cnpg/keycloak-pg-cluster/*', 'arn:aws:s3:::backup-cnpg/keycloak-pg-cluster', 'arn:aws:s3:::backup-cnpg'],
          Principal: { AWS: ['arn:aws:iam:::user/cnpg-backup-keycloak'] },
        },
        {
          Action: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation'],
          Effect: 'Allow',
          Resource: ['arn:aws:s3:::backup-cnpg/*', 'arn:aws:s3:::backup-cnpg'],
          Principal: { AWS: ['arn:aws:iam:::user/extern-backups-s3'] },
        },
      ],
    });
  });

  const bad: Array<[string, Record<string, unknown>, Partial<BackupStoreProps>, RegExp]> = [
    ['invalid cron', { schedule: '0 25 * * *' }, {}, /^backup\.schedule: "0 25 \* \* \*" is not a valid cron expression/],
    ['cron with too many fields', { schedule: '0 0 0 0 * * *' }, {}, /^backup\.schedule: "0 0 0 0 \* \* \*" has 7 fields/],
    [
      '6-field cron with seconds',
      { schedule: '30 0 0 * * *' },
      {},
      /^backup\.schedule: .* starts at second "30"\. Kubernetes CronJobs run at whole minutes/,
    ],
    [
      'retention window',
      { retention: { recoveryWindow: '90 days' } },
      {},
      /^backup\.retention\.recoveryWindow: "90 days" is not a window\. Write a number and a unit/,
    ],
    ['retention count', { retention: { monthly: -1 } }, {}, /^backup\.retention\.monthly: -1 is not a whole number/],
    ['empty retention', { retention: {} }, {}, /^backup\.retention: keeps nothing/],
    ['unknown compression', { compression: 'brotli' }, {}, /^backup\.compression: "brotli" is not supported/],
    ['endpoint not a URL', {}, { endpoint: 'rook-ceph-rgw' }, /^BackupStoreProps\.endpoint: "rook-ceph-rgw" is not a URL/],
    ['endpoint with path', {}, { endpoint: 'http://s3.example.com/backup-cnpg' }, /^BackupStoreProps\.endpoint: .* without path/],
    ['bucket as s3 URL', {}, { bucket: 's3://backup-cnpg/' }, /^BackupStoreProps\.bucket: "s3:\/\/backup-cnpg\/" is not a valid S3 bucket name/],
    ['bucket uppercase', {}, { bucket: 'Backups' }, /^BackupStoreProps\.bucket:/],
    ['path with leading slash', {}, { path: '/pg' }, /^BackupStoreProps\.path: "\/pg" is not a key prefix/],
    ['walMaxParallel', { walMaxParallel: 0 }, {}, /^backup\.walMaxParallel: 0 is outside 1\.\.32/],
  ];
  test.each(bad)('bad input: %s', (_n, backup, store, message) => {
    expect(() => synth(backup, store)).toThrow(message);
  });
});
