/**
 * Issue 15, managed roles, extensions, schemas and pgHba rules at synth: what lands in the ConfigMap, the Secrets
 * the secrets Job generates and the instances may read, and every bad input refused with the prop and the fix.
 */
import { Chart, Size, Testing } from 'cdk8s';
import { PostgresCluster, PostgresClusterProps } from '../../lib';
import { MANAGED_OBJECTS_KEY, ManagedObjectsSpec } from '../../lib/contract';
import { baseProps, byKind, envOf, synthCluster } from './helpers';
import { rolesChart } from '../../examples/roles-and-extensions';

const databases = [
  {
    name: 'keycloak',
    owner: 'keycloak',
    extensions: [{ name: 'postgis' }, { name: 'vector', version: '0.7.0', schema: 'search' }],
    schemas: [{ name: 'search' }],
  },
  { name: 'wiki', owner: 'wiki' },
];
const roles: PostgresClusterProps['roles'] = [
  { name: 'reporting', inRoles: ['pg_read_all_data'], connectionLimit: 5, validUntil: '2027-01-31', databases: ['keycloak', 'wiki'] },
  { name: 'analysts', login: false },
  { name: 'alice', inRoles: ['analysts'], passwordSecret: 'alice-password' },
  { name: 'old_app', ensure: 'absent' },
];
const pgHba: PostgresClusterProps['pgHba'] = [
  { address: '10.42.0.0/16', users: ['reporting'], databases: ['keycloak'], method: 'scram-sha-256' },
  { address: 'fd00::/8', method: 'reject' },
];

describe('managed objects in the manifests', () => {
  const { objects } = synthCluster({ databases, roles, pgHba });
  const spec: ManagedObjectsSpec = JSON.parse(byKind(objects, 'ConfigMap', 'pg-config').data[MANAGED_OBJECTS_KEY]);

  test('roles, database objects and pg_hba lines are rendered into the ConfigMap, not the pod template', () => {
    expect(spec.roles.map(r => [r.name, r.ensure, r.login, r.passwordSecret])).toEqual([
      ['reporting', 'present', true, 'pg-reporting-role'],
      ['analysts', 'present', false, undefined],
      ['alice', 'present', true, 'alice-password'],
      ['old_app', 'absent', true, undefined],
    ]);
    expect(spec.roles[0]).toMatchObject({
      connectionLimit: 5,
      validUntil: '2027-01-31T00:00:00.000Z',
      inRoles: ['pg_read_all_data'],
      databases: ['keycloak', 'wiki'],
    });
    expect(spec.roles[1]).toMatchObject({ connectionLimit: -1, validUntil: 'infinity', databases: ['keycloak'] });
    expect(spec.databases).toEqual([
      {
        name: 'keycloak',
        schemas: [{ name: 'search', owner: 'keycloak' }],
        extensions: [{ name: 'postgis' }, { name: 'vector', version: '0.7.0', schema: 'search' }],
      },
    ]);
    expect(spec.pgHba).toEqual(['hostssl keycloak reporting 10.42.0.0/16 scram-sha-256', 'hostssl all all fd00::/8 reject']);
    const env = envOf(byKind(objects, 'StatefulSet').spec.template.spec.containers[0]);
    expect(JSON.stringify(env)).not.toMatch(/reporting/);
  });

  test("a generated role Secret is made by the secrets Job (CloudNativePG keys, its first database) and readable by the instances, not the user's", () => {
    const jobSpecs = JSON.parse(envOf(byKind(objects, 'Job', 'pg-secrets').spec.template.spec.containers[0]).PGC_SECRETS);
    expect(jobSpecs.find((s: any) => s.username === 'reporting')).toMatchObject({
      names: ['pg-reporting-role'],
      dbname: 'keycloak',
      host: 'pg-rw',
      port: 5432,
    });
    expect(jobSpecs.some((s: any) => s.username === 'alice' || s.username === 'analysts')).toBe(false);
    const instanceRules = byKind(objects, 'Role', 'pg').rules.filter((r: any) => r.resources.includes('secrets') && r.verbs.includes('get'));
    const readable = instanceRules.flatMap((r: any) => r.resourceNames);
    expect(readable).toEqual(expect.arrayContaining(['pg-reporting-role', 'alice-password']));
    // The instances' environment (pod template) does not change when a role is added: the ConfigMap carries it.
    const plain = synthCluster({ databases: databases.map(d => ({ name: d.name, owner: d.owner })) }).objects;
    expect(byKind(plain, 'StatefulSet').spec.template).toEqual(byKind(objects, 'StatefulSet').spec.template);
    expect(byKind(plain, 'ConfigMap', 'pg-config').data[MANAGED_OBJECTS_KEY]).toBeUndefined();
  });

  test('a role Secret name that another cluster makes is refused at synth (App-wide name check)', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'c', { namespace: 'ns' });
    new PostgresCluster(chart, 'a', { name: 'a', storage: { size: Size.gibibytes(1) }, roles: [{ name: 'b_x' }] });
    new PostgresCluster(chart, 'ab', { name: 'a-b', storage: { size: Size.gibibytes(1) }, roles: [{ name: 'x' }] });
    expect(() => Testing.synth(chart)).toThrow(/Secret "ns\/a-b-x-role": made twice, by c\/a \(the Secret of role "b_x"/);
  });
});

const build = (props: Partial<PostgresClusterProps>) => () =>
  new PostgresCluster(new Chart(Testing.app(), 'c'), 'pg', { ...baseProps, ...props } as PostgresClusterProps);

/** [case, props, the message: the prop first, then the problem and the fix] */
const cases: Array<[string, Partial<PostgresClusterProps>, RegExp]> = [
  [
    'role named like a predefined role',
    { roles: [{ name: 'pg_reader' }] },
    /^roles\[0\]\.name: "pg_reader" is reserved .*"pg_" prefix.*Choose another name/,
  ],
  ['role named postgres', { roles: [{ name: 'postgres' }] }, /^roles\[0\]\.name: "postgres" is reserved .*superuser/],
  ['role named like the replication role', { roles: [{ name: 'streaming_replica' }] }, /^roles\[0\]\.name: "streaming_replica" is reserved/],
  ['role named public', { roles: [{ name: 'public' }] }, /^roles\[0\]\.name: "public" is reserved/],
  ['role named like a database owner', { roles: [{ name: 'app' }] }, /^roles\[0\]\.name: "app" owns database "app".*Choose another name/],
  ['role declared twice', { roles: [{ name: 'r' }, { name: 'r' }] }, /^roles\[1\]\.name: "r" is declared twice/],
  ['invalid role name', { roles: [{ name: 'Read-Only' }] }, /^roles\[0\]\.name: "Read-Only" is not a valid role name/],
  [
    'unknown inRoles',
    { roles: [{ name: 'r', inRoles: ['pg_read_everything'] }] },
    /^roles\[0\]\.inRoles\[0\]: "pg_read_everything" is not a role this cluster knows\. Use a predefined role \(pg_read_all_data/,
  ],
  [
    'inRoles naming an absent role',
    {
      roles: [
        { name: 'g', ensure: 'absent' },
        { name: 'r', inRoles: ['g'] },
      ],
    },
    /^roles\[1\]\.inRoles\[0\]: "g" is not a role this cluster knows \("g" is declared absent\)/,
  ],
  [
    'inRoles giving server files',
    { roles: [{ name: 'r', inRoles: ['pg_execute_server_program'] }] },
    /^roles\[0\]\.inRoles\[0\]: "pg_execute_server_program" is refused: .*superuser\. Use a narrower role/,
  ],
  [
    'inRoles of a later major',
    { roles: [{ name: 'r', inRoles: ['pg_maintain'] }] },
    /^roles\[0\]\.inRoles\[0\]: "pg_maintain" exists from PostgreSQL 17 on, this cluster runs 15/,
  ],
  ['inRoles itself', { roles: [{ name: 'r', inRoles: ['r'] }] }, /^roles\[0\]\.inRoles\[0\]: "r" is the role itself/],
  ['bad ensure', { roles: [{ name: 'r', ensure: 'deleted' as any }] }, /^roles\[0\]\.ensure: "deleted" is not known\. Use "present"/],
  [
    'connection limit below -1',
    { roles: [{ name: 'r', connectionLimit: -5 }] },
    /^roles\[0\]\.connectionLimit: -5 is not a whole number of at least -1/,
  ],
  [
    'validUntil without a zone',
    { roles: [{ name: 'r', validUntil: '2027-01-31T10:00' }] },
    /^roles\[0\]\.validUntil: "2027-01-31T10:00" is not a time\. Give an ISO 8601 time with a zone/,
  ],
  [
    'role database not in the cluster',
    { roles: [{ name: 'r', databases: ['other'] }] },
    /^roles\[0\]\.databases\[0\]: "other" is not a database of this cluster\. Use one of app/,
  ],
  [
    'password for a group role',
    { roles: [{ name: 'r', login: false, passwordSecret: 's' }] },
    /^roles\[0\]\.passwordSecret: is set for a role that cannot log in/,
  ],
  [
    'bad extension name',
    { databases: [{ name: 'app', owner: 'app', extensions: [{ name: 'Post GIS' }] }] },
    /^databases\[0\]\.extensions\[0\]\.name: "Post GIS" is not an extension name/,
  ],
  [
    'bad extension version',
    { databases: [{ name: 'app', owner: 'app', extensions: [{ name: 'postgis', version: "3'; DROP" }] }] },
    /^databases\[0\]\.extensions\[0\]\.version: .* is not an extension version/,
  ],
  [
    'schema public',
    { databases: [{ name: 'app', owner: 'app', schemas: [{ name: 'public' }] }] },
    /^databases\[0\]\.schemas\[0\]\.name: "public" is a schema PostgreSQL makes or reserves/,
  ],
  [
    'schema owner unknown',
    { databases: [{ name: 'app', owner: 'app', schemas: [{ name: 's', owner: 'nobody' }] }] },
    /^databases\[0\]\.schemas\[0\]\.owner: "nobody" is neither the owner of database "app" nor a role declared present/,
  ],
  [
    'pgHba host',
    { pgHba: [{ type: 'host' as any, address: '10.0.0.0/8', method: 'scram-sha-256' }] },
    /^pgHba\[0\]\.type: "host" is refused: only hostssl rules are accepted.*Use type: "hostssl"/,
  ],
  [
    'pgHba trust',
    { pgHba: [{ address: '10.0.0.0/8', method: 'trust' as any }] },
    /^pgHba\[0\]\.method: "trust" is refused: trust lets anyone in without a password\. Use one of scram-sha-256, cert, reject/,
  ],
  ['pgHba md5', { pgHba: [{ address: '10.0.0.0/8', method: 'md5' as any }] }, /^pgHba\[0\]\.method: "md5" is refused/],
  [
    'pgHba bad CIDR',
    { pgHba: [{ address: '10.0.0.300/8', method: 'reject' }] },
    /^pgHba\[0\]\.address: "10\.0\.0\.300\/8" is not an address in CIDR notation\. Give a network in CIDR notation/,
  ],
  [
    'pgHba address without prefix',
    { pgHba: [{ address: '10.0.0.1', method: 'reject' }] },
    /^pgHba\[0\]\.address: "10\.0\.0\.1" is not an address in CIDR notation/,
  ],
  ['pgHba prefix too long', { pgHba: [{ address: '10.0.0.0/33', method: 'reject' }] }, /^pgHba\[0\]\.address: .* prefix longer than 32 bits/],
  [
    'pgHba host bits set',
    { pgHba: [{ address: '10.42.1.0/16', method: 'reject' }] },
    /^pgHba\[0\]\.address: "10\.42\.1\.0\/16" has bits set after the \/16 prefix.*"10\.42\.0\.0\/16"/,
  ],
  [
    'pgHba IPv6 host bits set',
    { pgHba: [{ address: 'fd00::1/64', method: 'reject' }] },
    /^pgHba\[0\]\.address: "fd00::1\/64" has bits set.*"fd00:0:0:0:0:0:0:0\/64"/,
  ],
  [
    'pgHba for the agent',
    { pgHba: [{ address: '10.0.0.0/8', users: ['postgres'], method: 'reject' }] },
    /^pgHba\[0\]\.users\[0\]: "postgres" is refused: the agents log in as postgres/,
  ],
  [
    'pgHba replication',
    { pgHba: [{ address: '10.0.0.0/8', databases: ['replication'], method: 'reject' }] },
    /^pgHba\[0\]\.databases\[0\]: "replication" is refused/,
  ],
  [
    'pgHba unknown database',
    { pgHba: [{ address: '10.0.0.0/8', databases: ['nope'], method: 'reject' }] },
    /^pgHba\[0\]\.databases\[0\]: "nope" is not a database of this cluster/,
  ],
];

describe('bad managed objects are refused at synth', () => {
  test.each(cases)('%s', (_name, props, message) => {
    expect(build(props)).toThrow(message);
  });

  test('good values pass, IPv6 included', () => {
    expect(
      build({
        roles: [{ name: 'r', inRoles: ['pg_monitor', 'app'], validUntil: new Date('2030-01-01T00:00:00Z') }],
        pgHba: [
          { address: '2001:db8::/32', users: ['+r'], method: 'cert' },
          { address: '192.168.1.7/32', method: 'reject' },
        ],
      }),
    ).not.toThrow();
  });
});

describe('examples/roles-and-extensions.ts', () => {
  test('synthesizes: the roles, extensions and pg_hba rule in its ConfigMap, the generated role Secret in its secrets Job', () => {
    const objects = Testing.synth(rolesChart(Testing.app()));
    const spec: ManagedObjectsSpec = JSON.parse(byKind(objects, 'ConfigMap', 'geo-pg-config').data[MANAGED_OBJECTS_KEY]);
    expect(spec.roles.map(r => `${r.name}:${r.ensure}`)).toEqual(['grafana:present', 'analysts:present', 'alice:present', 'legacy_etl:absent']);
    expect(spec.databases[0].extensions.map(e => e.name)).toEqual(['postgis', 'vector']);
    expect(spec.pgHba).toEqual(['hostssl all all 192.168.10.0/24 reject']);
    const jobSpecs = JSON.parse(envOf(byKind(objects, 'Job', 'geo-pg-secrets').spec.template.spec.containers[0]).PGC_SECRETS);
    expect(jobSpecs.map((s: any) => s.names[0])).toContain('geo-pg-grafana-role');
  });
});
