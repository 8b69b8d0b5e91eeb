/** bootstrap.import at synth: the rendered environment (password by reference only), defaults and every refusal. */
import { App, Testing } from 'cdk8s';
import { ImportProps, contract } from '../../lib';
import { majorUpgradeChart } from '../../examples/major-upgrade';
import { byKind, envOf, synthCluster } from './helpers';

const { IMPORT_ENV } = contract;
const source: ImportProps = { host: 'gitea-pg-rw', passwordSecret: { name: 'gitea-pg-superuser' } };
const databases = [{ name: 'gitea', owner: 'gitea' }];
const podSpec = (objects: any[]) => byKind(objects, 'StatefulSet').spec.template.spec;

describe('bootstrap.import', () => {
  test('renders the source, the defaults (roles withoutPasswords, 2 jobs, all databases) and the password by reference', () => {
    const { objects } = synthCluster({ databases, bootstrap: { import: source } });
    const env = envOf(podSpec(objects).containers[0]);
    expect(JSON.parse(env[IMPORT_ENV.spec])).toEqual({
      source: { host: 'gitea-pg-rw', port: 5432, user: 'postgres', sslmode: 'prefer' },
      roles: 'withoutPasswords',
      jobs: 2,
    });
    expect(env[IMPORT_ENV.password]).toEqual({ secretKeyRef: { name: 'gitea-pg-superuser', key: 'password' } });
    expect(JSON.stringify(objects)).not.toMatch(/"password":"[^"]/);
  });

  test('verify-full with the CA Secret mounts it; databases, roles and jobs as given', () => {
    const { objects } = synthCluster({
      databases,
      bootstrap: {
        import: {
          ...source,
          port: 5433,
          user: 'migrator',
          sslmode: 'verify-full',
          caCertificate: { secretName: 'gitea-pg-ca' },
          databases: ['gitea'],
          roles: 'all',
          jobs: 4,
        },
      },
    });
    const spec = podSpec(objects);
    expect(JSON.parse(envOf(spec.containers[0])[IMPORT_ENV.spec])).toEqual({
      source: { host: 'gitea-pg-rw', port: 5433, user: 'migrator', sslmode: 'verify-full', sslRootCert: '/etc/pg-agent/import-source-ca/ca.crt' },
      databases: ['gitea'],
      roles: 'all',
      jobs: 4,
    });
    expect(spec.volumes).toContainEqual({
      name: 'import-source-ca',
      secret: { secretName: 'gitea-pg-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'import-source-ca', mountPath: '/etc/pg-agent/import-source-ca', readOnly: true });
  });

  test('the postgres database may be listed without being declared (owned by the superuser)', () => {
    const { objects } = synthCluster({ databases, bootstrap: { import: { ...source, databases: ['gitea', 'postgres'] } } });
    expect(JSON.parse(envOf(podSpec(objects).containers[0])[IMPORT_ENV.spec]).databases).toEqual(['gitea', 'postgres']);
  });

  test.each<[string, Partial<ImportProps> & Record<string, unknown>, RegExp]>([
    ['host with a port', { host: 'db:5432' }, /^bootstrap\.import\.host: "db:5432" is not a host name\. .*the port goes in `port`/],
    ['port out of range', { port: 0 }, /^bootstrap\.import\.port: 0 is not a TCP port/],
    ['bad user', { user: 'a b' }, /^bootstrap\.import\.user: "a b" is not a role name\. .*pg_read_all_data/],
    ['no password Secret', { passwordSecret: undefined }, /^bootstrap\.import\.passwordSecret\.name: is missing/],
    ['verify-ca without CA', { sslmode: 'verify-ca' }, /^bootstrap\.import\.caCertificate: is needed for sslmode verify-ca/],
    ['unknown roles', { roles: 'some' as never }, /^bootstrap\.import\.roles: "some" is not a choice\. Use one of 'all', 'none', 'withoutPasswords'/],
    ['zero jobs', { jobs: 0 }, /^bootstrap\.import\.jobs: 0 is not a number of parallel jobs\. Give a whole number from 1 to 16/],
    ['fractional jobs', { jobs: 1.5 }, /^bootstrap\.import\.jobs: 1\.5 is not/],
    ['empty databases', { databases: [] }, /^bootstrap\.import\.databases: is empty\. List the databases to import, or leave it out/],
    ['a bad database name', { databases: ['Gitea'] }, /^bootstrap\.import\.databases: "Gitea" is not a database name/],
    ['a database twice', { databases: ['gitea', 'gitea'] }, /^bootstrap\.import\.databases: lists "gitea" twice/],
    [
      'an undeclared database',
      { databases: ['wiki'] },
      /^bootstrap\.import\.databases: imports "wiki", which is not declared in databases\. Declare it with its owner, e\.g\. databases: \[\{ name: 'wiki', owner: 'wiki' \}\]/,
    ],
  ])('refuses %s', (_name, change, message) => {
    expect(() => synthCluster({ databases, bootstrap: { import: { ...source, ...change } as ImportProps } })).toThrow(message);
  });

  test('is exclusive with the other bootstraps', () => {
    expect(() => synthCluster({ databases, bootstrap: { import: source, pgBasebackup: { host: 'db', passwordSecret: { name: 's' } } } })).toThrow(
      /^bootstrap: sets both pgBasebackup and import\. Choose one/,
    );
  });
});

describe('examples/major-upgrade.ts', () => {
  test('the new major imports the old cluster through its -rw Service, its superuser Secret and its CA', () => {
    const objects = Testing.synth(majorUpgradeChart(new App()));
    const sets = objects.filter(o => o.kind === 'StatefulSet');
    expect(sets.map(s => [s.metadata.name, s.spec.template.spec.containers[0].image.replace(/.*-pg/, 'pg')])).toEqual([
      ['gitea-pg', 'pg15'],
      ['gitea-pg17', 'pg17'],
    ]);
    const env = envOf(sets[1].spec.template.spec.containers[0]);
    expect(JSON.parse(env[IMPORT_ENV.spec]).source).toEqual({
      host: 'gitea-pg-rw',
      port: 5432,
      user: 'postgres',
      sslmode: 'verify-full',
      sslRootCert: '/etc/pg-agent/import-source-ca/ca.crt',
    });
    expect(env[IMPORT_ENV.password]).toEqual({ secretKeyRef: { name: 'gitea-pg-superuser', key: 'password' } });
    expect(objects.some(o => o.kind === 'Secret' && o.metadata.name === 'gitea-pg-superuser')).toBe(false);
  });
});
