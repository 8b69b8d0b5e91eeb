import { Chart, Size, Testing } from 'cdk8s';
import { PostgresCluster, PostgresClusterProps, PriorityClass } from '../../lib';
import { baseProps } from './helpers';

const build = (props: Partial<PostgresClusterProps>) => () =>
  new PostgresCluster(new Chart(Testing.app(), 'c'), 'pg', { ...baseProps, ...props } as PostgresClusterProps);

/** [case, props, the prop the message must name, a word of the fix] */
const cases: Array<[string, Partial<PostgresClusterProps>, RegExp]> = [
  ['zero instances', { instances: 0 }, /^instances: 0 is not a whole number of at least 1\. Use 1/],
  ['fractional instances', { instances: 1.5 }, /^instances: /],
  ['too many instances', { instances: 12 }, /^instances: 12 is more than 9/],
  ['uppercase name', { name: 'Keycloak' }, /^name: "Keycloak" is not a DNS-1123 label\. Use lowercase/],
  ['name with underscore', { name: 'key_cloak' }, /^name: .*DNS-1123/],
  ['name too long for derived names', { name: 'a'.repeat(38) }, /^name: .* is 38 characters long, the limit is 37/],
  [
    'reserved parameter',
    { parameters: { archive_command: 'cp %p /x' } },
    /^parameters\.archive_command: is owned by the agent \(the agent archives WAL/,
  ],
  ['reserved parameter in other case', { parameters: { Port: '5433' } }, /^parameters\.Port: is owned by the agent/],
  [
    'non-string parameter',
    { parameters: { max_connections: 200 as any } },
    /^parameters\.max_connections: has a number value\. Write the value as a string, e\.g\. "200"/,
  ],
  ['parameter with newline', { parameters: { work_mem: '4MB\narchive_mode = off' } }, /^parameters\.work_mem: contains a line break/],
  ['database without owner', { databases: [{ name: 'keycloak' } as any] }, /^databases\[0\]\.owner: is missing for database "keycloak"/],
  [
    'duplicate database',
    {
      databases: [
        { name: 'a', owner: 'a' },
        { name: 'a', owner: 'b' },
      ],
    },
    /^databases\[1\]\.name: "a" is declared twice/,
  ],
  ['invalid database name', { databases: [{ name: 'My-DB', owner: 'x' }] }, /^databases\[0\]\.name: "My-DB" is not a valid database name/],
  ['system database', { databases: [{ name: 'postgres', owner: 'x' }] }, /^databases\[0\]\.name: "postgres" is a system database/],
  ['reserved owner', { databases: [{ name: 'a', owner: 'streaming_replica' }] }, /^databases\[0\]\.owner: "streaming_replica" is reserved/],
  // Issue 12 item 6: reserved roles, parameters that bypass or override the agent, labels under our own prefix.
  ...['public', 'none', 'current_user', 'session_user', 'current_role', 'postgres', 'pg_monitor', 'pg_anything'].map(
    (owner): [string, Partial<PostgresClusterProps>, RegExp] => [
      `reserved owner ${owner}`,
      { databases: [{ name: 'app', owner }] },
      new RegExp(
        `^databases\\[0\\]\\.owner: "${owner}" is reserved for the agent or PostgreSQL \\(.+\\)\\. Use an application role such as the database name, e\\.g\\. \\{ name: "app", owner: "app" \\}\\.$`,
      ),
    ],
  ),
  ...['include', 'include_dir', 'include_if_exists', 'Include_Dir'].map((p): [string, Partial<PostgresClusterProps>, RegExp] => [
    `${p} in parameters`,
    { parameters: { [p]: '/etc/postgresql/extra.conf' } },
    new RegExp(
      `^parameters\\.${p}: is owned by the agent \\(postgresql\\.conf is written by the agent, and an included (file|directory) would set parameters past the agent-owned list\\)\\. Remove it from parameters\\.$`,
    ),
  ]),
  [
    'password_encryption in parameters',
    { parameters: { password_encryption: 'md5' } },
    /^parameters\.password_encryption: is owned by the agent \(the agent sets scram-sha-256: pg_hba\.conf accepts SCRAM only.*\)\. Remove it from parameters\.$/,
  ],
  ...['postgres.cdk8s.io/cluster', 'postgres.cdk8s.io/role', 'postgres.cdk8s.io/component', 'postgres.cdk8s.io/team'].map(
    (key): [string, Partial<PostgresClusterProps>, RegExp] => [
      `label ${key}`,
      { labels: { [key]: 'x' } },
      new RegExp(
        `^labels\\["${key.replace(/\./g, '\\.')}"\\]: is under postgres\\.cdk8s\\.io/, which cdk8s-postgres owns .*\\. Use a key under your own prefix, e\\.g\\. "homelab/part-of"\\.$`,
      ),
    ],
  ),
  [
    'bad existing secret',
    { databases: [{ name: 'a', owner: 'a', existingSecret: 'My Secret' }] },
    /^databases\[0\]\.existingSecret: "My Secret" is not a DNS-1123 label/,
  ],
  ['empty databases', { databases: [] }, /^databases: is empty/],
  ['tiny storage', { storage: { size: Size.mebibytes(10) } }, /^storage\.size: 10 MiB/],
  ['missing storage', { storage: undefined as any }, /^storage\.size: is missing/],
  ['bad storage class', { storage: { size: Size.gibibytes(1), storageClass: 'RBD Fast' } }, /^storage\.storageClass: /],
  ['invalid memory quantity', { resources: { requests: { memory: '128MB' } } }, /^resources\.requests\.memory: "128MB" is not a Kubernetes quantity/],
  ['invalid cpu quantity', { resources: { limits: { cpu: 'two' } } }, /^resources\.limits\.cpu: "two" is not a Kubernetes quantity/],
  [
    'request above limit',
    { resources: { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } } },
    /^resources\.requests\.memory: 2Gi exceeds the limit 1Gi/,
  ],
  ['tuning without memory', { tuning: { workload: 'web' } }, /^tuning: needs a memory figure/],
  ['invalid priority class name', { priorityClass: 'HL Critical' }, /^priorityClass: "HL Critical" is not a DNS-1123 label/],
  ['unsupported postgres version', { postgresVersion: 11 }, /^postgresVersion: 11 is not a supported major/],
  ['image without tag', { image: 'ghcr.io/me/agent' }, /^image: "ghcr.io\/me\/agent" has no tag or digest/],
  ['bad label value', { labels: { team: 'a b' } }, /^labels\["team"\]: value "a b" is not a valid label value/],
  ['bad label key', { labels: { 'Bad Key/x': 'y' } }, /^labels\["Bad Key\/x"\]: is not a valid label key/],
  ['short grace period', { terminationGracePeriodSeconds: 2 }, /^terminationGracePeriodSeconds: 2 is below 10 seconds/],
  [
    'allow-all network rule',
    { networkPolicy: { allowFrom: [{ podLabels: {} }] } },
    /^networkPolicy\.allowFrom\[0\]\.podLabels: is empty, which would allow every pod/,
  ],
  ['no policy kind', { networkPolicy: { cilium: false, kubernetes: false } }, /^networkPolicy: has both cilium and kubernetes turned off/],
  ['bad anti-affinity', { antiAffinity: 'sometimes' as any }, /^antiAffinity: "sometimes" is not known/],
  // Issue 13: names checked against the major's real list (lib/cluster/postgres-parameter-names.ts).
  [
    'misspelt parameter',
    { parameters: { shared_bufers: '128MB' } },
    /^parameters\.shared_bufers: is not a parameter of PostgreSQL 15 \(postgres would refuse to start\)\. Did you mean shared_buffers\?/,
  ],
  [
    'parameter of a later major',
    { postgresVersion: 15, parameters: { io_combine_limit: '128kB' } },
    /^parameters\.io_combine_limit: is not a parameter of PostgreSQL 15/,
  ],
  [
    'parameter removed in 17',
    { postgresVersion: 17, parameters: { old_snapshot_threshold: '1h' } },
    /^parameters\.old_snapshot_threshold: is not a parameter of PostgreSQL 17/,
  ],
  [
    'unknown parameter, nothing near',
    { parameters: { frobnicate_everything: 'on' } },
    /^parameters\.frobnicate_everything: is not a parameter of PostgreSQL 15 .*Check the name in the PostgreSQL documentation/,
  ],
];

describe('synth-time validation', () => {
  test('real parameter names pass: any case, extension options with a dot, a 17-only name on 17, 16 from its neighbours', () => {
    expect(
      build({ parameters: { work_mem: '4MB', timezone: 'UTC', 'pg_stat_statements.max': '5000', 'auto_explain.log_min_duration': '1s' } }),
    ).not.toThrow();
    expect(build({ postgresVersion: 17, parameters: { io_combine_limit: '128kB', summarize_wal: 'on' } })).not.toThrow();
    expect(build({ postgresVersion: 16, parameters: { shared_buffers: '1GB', old_snapshot_threshold: '-1' } })).not.toThrow();
    expect(build({ postgresVersion: 16, parameters: { shared_bufers: '1GB' } })).toThrow(
      /^parameters\.shared_bufers: is not a parameter of PostgreSQL 16 .*Did you mean shared_buffers\?/,
    );
  });

  test.each(cases)('%s', (_name, props, message) => {
    expect(build(props)).toThrow(message);
  });

  test('PriorityClass values and names are checked', () => {
    const chart = new Chart(Testing.app(), 'c');
    expect(() => new PriorityClass(chart, 'a', { name: 'hl', value: 2000000000 })).toThrow(/^PriorityClassProps\.value: 2000000000 is outside/);
    expect(() => new PriorityClass(chart, 'b', { name: 'hl', value: 1.5 })).toThrow(/^PriorityClassProps\.value:/);
    expect(() => new PriorityClass(chart, 'c', { name: 'system-mine', value: 1 })).toThrow(
      /^PriorityClassProps\.name: "system-mine" uses the "system-" prefix/,
    );
  });

  test('inherited labels under postgres.cdk8s.io/ are refused, naming the pattern and the fix', () => {
    const chart = new Chart(Testing.app(), 'c', { labels: { 'homelab/part-of': 'kc', 'postgres.cdk8s.io/cluster': 'other' } });
    expect(() => new PostgresCluster(chart, 'pg', { ...baseProps, inheritedLabels: ['homelab/*', '*'] })).toThrow(
      /^inheritedLabels\[1\]: "\*" copies the chart label "postgres\.cdk8s\.io\/cluster", which is under postgres\.cdk8s\.io\/ .*\. Narrow the pattern to your own labels, e\.g\. "homelab\/\*", or move the chart label under your own prefix\.$/,
    );
    expect(() => new PostgresCluster(chart, 'pg2', { ...baseProps, name: 'pg2', inheritedLabels: ['homelab/*'] })).not.toThrow();
  });

  test('valid input does not throw', () => {
    expect(build({ instances: 3, name: 'a'.repeat(37), parameters: { work_mem: '4MB' } })).not.toThrow();
  });
});
