import { Chart, Testing } from 'cdk8s';
import { BackupStore, PostgresCluster, PostgresClusterProps, RestoreDrill, contract } from '../../lib';
import { baseProps, byKind, envOf } from './helpers';

const { CLONE_ENV, RECOVERY_ENV } = contract;

/** A cluster in a fresh chart, with stores made in that chart. */
function synth(make: (chart: Chart) => Partial<PostgresClusterProps>): any[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ns' });
  new PostgresCluster(chart, 'cluster', { ...baseProps, ...make(chart) } as PostgresClusterProps);
  return Testing.synth(chart);
}

const store = (chart: Chart, id: string, ca?: boolean) =>
  new BackupStore(chart, id, {
    endpoint: 'https://rgw.example:443',
    bucket: 'backups',
    credentials: { secretName: `${id}-keys` },
    ...(ca ? { caBundle: { configMapName: `${id}-ca` } } : {}),
  });

const podSpec = (objects: any[]) => byKind(objects, 'StatefulSet').spec.template.spec;

describe('bootstrap.pgBasebackup', () => {
  const source = { host: 'postgres.nomad.home.arpa', passwordSecret: { name: 'nomad-replicator' } };

  test('renders the source, the follow flag and the password by reference only', () => {
    const objects = synth(() => ({ bootstrap: { pgBasebackup: { ...source, follow: true } } }));
    const env = envOf(podSpec(objects).containers[0]);
    expect(JSON.parse(env[CLONE_ENV.source])).toEqual({ host: 'postgres.nomad.home.arpa', port: 5432, user: 'streaming_replica', sslmode: 'prefer' });
    expect(env[CLONE_ENV.follow]).toBe('true');
    expect(env[CLONE_ENV.password]).toEqual({ secretKeyRef: { name: 'nomad-replicator', key: 'password' } });
    expect(JSON.stringify(objects)).not.toMatch(/"password":"[^"]/);
  });

  test('follow defaults to false: promote as soon as the clone is consistent', () => {
    const env = envOf(podSpec(synth(() => ({ bootstrap: { pgBasebackup: source } }))).containers[0]);
    expect(env[CLONE_ENV.follow]).toBe('false');
  });

  test('verify-full mounts the CA certificate and points libpq at it', () => {
    const spec = podSpec(
      synth(() => ({
        bootstrap: { pgBasebackup: { ...source, sslmode: 'verify-full', caCertificate: { secretName: 'nomad-ca', key: 'root.pem' } } },
      })),
    );
    const c = spec.containers[0];
    expect(JSON.parse(envOf(c)[CLONE_ENV.source])).toMatchObject({ sslmode: 'verify-full', sslRootCert: '/etc/pg-agent/clone-source-ca/root.pem' });
    expect(spec.volumes).toContainEqual({
      name: 'clone-source-ca',
      secret: { secretName: 'nomad-ca', items: [{ key: 'root.pem', path: 'root.pem' }] },
    });
    expect(c.volumeMounts).toContainEqual({ name: 'clone-source-ca', mountPath: '/etc/pg-agent/clone-source-ca', readOnly: true });
  });

  const bad: Array<[string, any, RegExp]> = [
    ['host with a port', { ...source, host: 'db:5432' }, /^bootstrap\.pgBasebackup\.host: "db:5432" is not a host name\. .*the port goes in `port`/],
    ['port out of range', { ...source, port: 70000 }, /^bootstrap\.pgBasebackup\.port: 70000 is not a TCP port/],
    ['bad user', { ...source, user: 'a b' }, /^bootstrap\.pgBasebackup\.user: "a b" is not a role name/],
    ['no password Secret', { host: 'db' }, /^bootstrap\.pgBasebackup\.passwordSecret\.name: is missing/],
    ['unknown sslmode', { ...source, sslmode: 'on' }, /^bootstrap\.pgBasebackup\.sslmode: "on" is not a libpq sslmode\. Use one of disable/],
    ['verify-full without CA', { ...source, sslmode: 'verify-full' }, /^bootstrap\.pgBasebackup\.caCertificate: is needed for sslmode verify-full/],
    [
      'CA from two places',
      { ...source, caCertificate: { secretName: 'a', configMapName: 'b' } },
      /^bootstrap\.pgBasebackup\.caCertificate: needs exactly one of secretName and configMapName/,
    ],
  ];
  test.each(bad)('%s is refused at synth', (_name, pgBasebackup, message) => {
    expect(() => synth(() => ({ bootstrap: { pgBasebackup } }))).toThrow(message);
  });

  test('recovery and pgBasebackup together are refused', () => {
    expect(() => synth(chart => ({ bootstrap: { pgBasebackup: source, recovery: { store: store(chart, 's'), serverName: 'old' } } }))).toThrow(
      /^bootstrap: sets both recovery and pgBasebackup\. Choose one/,
    );
  });
});

describe('bootstrap.recovery', () => {
  test("the source store's CA bundle is mounted on its own path, beside the own store's", () => {
    const spec = podSpec(
      synth(chart => ({
        bootstrap: { recovery: { store: store(chart, 'old', true), serverName: 'keycloak-pg-cluster' } },
        backup: { store: store(chart, 'own', true) },
      })),
    );
    const c = spec.containers[0];
    expect(JSON.parse(envOf(c)[RECOVERY_ENV.source]).caFile).toBe('/etc/pg-agent/recovery-s3-ca/ca.crt');
    expect(envOf(c).PGC_S3_CA_FILE).toBe('/etc/pg-agent/s3-ca/ca.crt');
    expect(spec.volumes).toContainEqual({ name: 'recovery-s3-ca', configMap: { name: 'old-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(spec.volumes).toContainEqual({ name: 's3-ca', configMap: { name: 'own-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(c.volumeMounts.map((m: any) => m.mountPath)).toEqual(expect.arrayContaining(['/etc/pg-agent/recovery-s3-ca', '/etc/pg-agent/s3-ca']));
  });

  const bad: Array<[string, (chart: Chart) => any, RegExp]> = [
    [
      'bad folder',
      chart => ({ store: store(chart, 's'), serverName: 'Keycloak PG' }),
      /^bootstrap\.recovery\.serverName: "Keycloak PG" is not a folder name/,
    ],
    [
      'two targets',
      chart => ({ store: store(chart, 's'), serverName: 'a', target: { lsn: '0/1', xid: '5' } }),
      /^bootstrap\.recovery\.target: sets lsn and xid\. Choose one/,
    ],
    [
      'time without zone',
      chart => ({ store: store(chart, 's'), serverName: 'a', target: { time: '2026-11-27 10:00' } }),
      /^bootstrap\.recovery\.target\.time: .* is not a time with a zone/,
    ],
    [
      'bad lsn',
      chart => ({ store: store(chart, 's'), serverName: 'a', target: { lsn: 'x/1' } }),
      /^bootstrap\.recovery\.target\.lsn: "x\/1" is not an LSN/,
    ],
  ];
  test.each(bad)('%s is refused at synth', (_name, recovery, message) => {
    expect(() => synth(chart => ({ bootstrap: { recovery: recovery(chart) } }))).toThrow(message);
  });

  test('archiving into the folder it recovers from is refused', () => {
    expect(() =>
      synth(chart => {
        const s = store(chart, 's');
        return { name: 'pg', bootstrap: { recovery: { store: s, serverName: 'pg' } }, backup: { store: s } };
      }),
    ).toThrow(/^backup\.serverName: "pg" is the folder this cluster recovers from/);
  });
});

describe('RestoreDrill', () => {
  const withDrill = (drill: (cluster: PostgresCluster) => object, backup = true) => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'ns' });
    const cluster = new PostgresCluster(chart, 'cluster', {
      ...baseProps,
      databases: [{ name: 'keycloak', owner: 'keycloak' }],
      ...(backup ? { backup: { store: store(chart, 's', true), compression: 'zstd' } } : {}),
    } as PostgresClusterProps);
    new RestoreDrill(chart, 'drill', drill(cluster) as any);
    return Testing.synth(chart);
  };

  test("a weekly CronJob running `verify` with the cluster's store, checks and scratch space, API access for its Events only", () => {
    const objects = withDrill(cluster => ({ cluster, tables: [{ database: 'keycloak', table: 'user_entity' }] }));
    const cron = byKind(objects, 'CronJob', 'pg-restore-drill');
    expect(byKind(objects, 'Role', 'pg-restore-drill').rules).toEqual([{ apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] }]);
    expect(cron.spec.schedule).toBe('0 6 * * 0');
    expect(cron.spec.jobTemplate.spec.backoffLimit).toBe(0);
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(pod.serviceAccountName).toBe('pg-restore-drill');
    expect(pod.automountServiceAccountToken).toBe(true);
    const c = pod.containers[0];
    expect(c.args).toEqual(['verify']);
    const env = envOf(c);
    expect(JSON.parse(env[contract.VERIFY_ENV.checks])).toEqual({
      amcheck: true,
      tables: [{ database: 'keycloak', table: 'user_entity', minRows: 1 }],
    });
    expect(env[contract.VERIFY_ENV.replay]).toBe('latest');
    expect(env[contract.BACKUP_ENV.serverName]).toBe('pg');
    expect(env[contract.BACKUP_ENV.compression]).toBe('zstd');
    expect(pod.volumes).toContainEqual({ name: 'scratch', emptyDir: { sizeLimit: '1024Mi' } });
    expect(c.volumeMounts.map((m: any) => m.name)).toEqual(expect.arrayContaining(['scratch', 'run', 'tmp', 's3-ca']));
  });

  test('scratch space with a storage class is an ephemeral volume of that class', () => {
    const cron = byKind(
      withDrill(cluster => ({ cluster, scratch: { storageClass: 'rbd-fast' } })),
      'CronJob',
      'pg-restore-drill',
    );
    const scratch = cron.spec.jobTemplate.spec.template.spec.volumes.find((v: any) => v.name === 'scratch');
    expect(scratch.ephemeral.volumeClaimTemplate.spec).toMatchObject({
      storageClassName: 'rbd-fast',
      resources: { requests: { storage: '1024Mi' } },
    });
  });

  test("its own S3 credentials (e.g. a read-only user) replace the store's keys, by reference; the rest of the store stays", () => {
    const drillEnv = (credentials?: object) =>
      envOf(
        byKind(
          withDrill(cluster => ({ cluster, credentials })),
          'CronJob',
          'pg-restore-drill',
        ).spec.jobTemplate.spec.template.spec.containers[0],
      );
    const own = drillEnv({ secretName: 'drill-readonly', accessKeyIdKey: 'id' });
    expect(own[contract.BACKUP_ENV.accessKeyId]).toEqual({ secretKeyRef: { name: 'drill-readonly', key: 'id' } });
    expect(own[contract.BACKUP_ENV.secretAccessKey]).toEqual({ secretKeyRef: { name: 'drill-readonly', key: 'SecretKey' } });
    const store = drillEnv();
    expect(store[contract.BACKUP_ENV.accessKeyId].secretKeyRef.name).not.toBe('drill-readonly');
    for (const k of [contract.BACKUP_ENV.endpoint, contract.BACKUP_ENV.bucket, contract.BACKUP_ENV.serverName]) expect(own[k]).toEqual(store[k]);
  });

  const bad: Array<[string, (c: PostgresCluster) => object, RegExp, boolean?]> = [
    [
      'credentials with a bad Secret name',
      c => ({ cluster: c, credentials: { secretName: 'Drill_RO' } }),
      /^RestoreDrillProps\.credentials\.secretName: "Drill_RO" is not a DNS-1123 label/,
    ],
    [
      'credentials with a bad key',
      c => ({ cluster: c, credentials: { secretName: 'ro', secretAccessKeyKey: 'a/b' } }),
      /^RestoreDrillProps\.credentials\.secretAccessKeyKey: "a\/b" is not a Secret key/,
    ],
    ['a cluster without backup', c => ({ cluster: c }), /^RestoreDrillProps\.cluster: cluster "pg" has no backup\. Set backup/, false],
    [
      'an unknown database',
      c => ({ cluster: c, tables: [{ database: 'kc', table: 't' }] }),
      /^RestoreDrillProps\.tables\[0\]\.database: "kc" is not a database of cluster "pg"\. Use one of postgres, keycloak/,
    ],
    [
      'a quoted table name',
      c => ({ cluster: c, tables: [{ database: 'keycloak', table: 'a; DROP' }] }),
      /^RestoreDrillProps\.tables\[0\]\.table: "a; DROP" is not a table name/,
    ],
    [
      'negative minRows',
      c => ({ cluster: c, tables: [{ database: 'keycloak', table: 't', minRows: -1 }] }),
      /^RestoreDrillProps\.tables\[0\]\.minRows: -1/,
    ],
    ['an unknown replay', c => ({ cluster: c, replay: 'all' }), /^RestoreDrillProps\.replay: "all" is not known/],
    ['a bad schedule', c => ({ cluster: c, schedule: 'weekly' }), /^RestoreDrillProps\.schedule: /],
    [
      'too little memory',
      c => ({ cluster: c, resources: { limits: { memory: '32Mi' } } }),
      /^RestoreDrillProps\.resources\.limits\.memory: "32Mi" is below 64Mi/,
    ],
  ];
  test.each(bad)('%s is refused at synth', (_name, drill, message, backup = true) => {
    expect(() => withDrill(drill, backup)).toThrow(message);
  });
});
