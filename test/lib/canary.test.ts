import { ApiObject, Chart, Size, Testing } from 'cdk8s';
import { CanaryApp, CanaryAppProps, PACKAGE_VERSION, PostgresCluster, PostgresClusterProps } from '../../lib';
import { CANARY_AUTH_ENV, CANARY_ENV, CANARY_ROLES_KEY, ENV, LABELS, PATHS } from '../../lib/contract';
import { loadValidator } from '../support/schemas';
import { byKind, envOf } from './helpers';

function synth(
  canary: Partial<CanaryAppProps> = {},
  cluster: Partial<PostgresClusterProps> = {},
): { objects: any[]; app: CanaryApp; cluster: PostgresCluster } {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'testsetup', labels: { 'homelab/part-of': 'keycloak-test' } });
  const pg = new PostgresCluster(chart, 'pg', {
    name: 'keycloak-pg-cluster',
    storage: { size: Size.gibibytes(2) },
    inheritedLabels: ['homelab/*'],
    databases: [
      { name: 'keycloak', owner: 'keycloak' },
      { name: 'grafana', owner: 'grafana_owner' },
    ],
    networkPolicy: { cilium: true, kubernetes: true, allowFrom: [{ podLabels: { app: 'keycloak' } }] },
    ...cluster,
  });
  const app = new CanaryApp(chart, 'canary', { cluster: pg, ...canary });
  return { objects: Testing.synth(chart), app, cluster: pg };
}

let strict: ReturnType<typeof loadValidator> | undefined;
/** The strict schemas (Kubernetes 1.28 and Cilium, unknown fields refused), loaded once: it takes seconds. */
const strictValidator = () => (strict ??= loadValidator());

const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('CanaryApp', () => {
  test("renders a Deployment running `pg-agent canary` with the cluster's image and a Service 80 -> 8080", () => {
    const { objects } = synth();
    const deploy = byKind(objects, 'Deployment', 'keycloak-pg-cluster-canary');
    expect(deploy.metadata.namespace).toBe('testsetup');
    expect(deploy.spec.replicas).toBe(1);
    const pod = deploy.spec.template.spec;
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0];
    expect(c.image).toBe(`ghcr.io/cdk8s-postgres/agent:${PACKAGE_VERSION}-pg15`);
    expect(c.command).toEqual([PATHS.agentBinary]);
    expect(c.args).toEqual(['canary']);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    for (const probe of [c.readinessProbe, c.livenessProbe]) expect(probe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.resources).toEqual({ requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '128Mi' } });
    // The same hardening as the other agent pods.
    const sts = byKind(objects, 'StatefulSet');
    expect(pod.securityContext).toEqual(sts.spec.template.spec.securityContext);
    expect(c.securityContext).toEqual(sts.spec.template.spec.containers[0].securityContext);
    expect(pod.automountServiceAccountToken).toBe(false);

    const svc = byKind(objects, 'Service', 'keycloak-pg-cluster-canary');
    expect(svc.spec.type).toBe('ClusterIP');
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    expect(svc.spec.selector).toEqual(deploy.spec.selector.matchLabels);
    expect(matches(svc.spec.selector, deploy.spec.template.metadata.labels)).toBe(true);
  });

  test("the credentials are the canary role's own Secret (never the owner's): uri preferred, the password for the parts", () => {
    const { objects } = synth();
    const env = envOf(byKind(objects, 'Deployment').spec.template.spec.containers[0]);
    expect(env[CANARY_ENV.uri]).toEqual({ secretKeyRef: { name: 'keycloak-pg-cluster-canary-db', key: 'uri', optional: true } });
    expect(env[CANARY_ENV.password]).toEqual({ secretKeyRef: { name: 'keycloak-pg-cluster-canary-db', key: 'password' } });
    expect(env[CANARY_ENV.host]).toBe('keycloak-pg-cluster-rw');
    expect(env[CANARY_ENV.port]).toBe('5432');
    expect(env[CANARY_ENV.dbname]).toBe('keycloak');
    expect(env[CANARY_ENV.user]).toBe('keycloak-pg-cluster-canary');
    expect(JSON.stringify(byKind(objects, 'Deployment'))).not.toContain('keycloak-pg-cluster-keycloak-app');
    expect(env[CANARY_ENV.httpPort]).toBe('8080');
    expect(env[CANARY_ENV.heartbeatSeconds]).toBeUndefined();
    expect(env.PGC_CLUSTER).toBe('keycloak-pg-cluster');
    // No literal secret anywhere in the manifest.
    expect(JSON.stringify(objects)).not.toMatch(/postgresql:\/\//);
  });

  test('database, name, heartbeat, image and replicas are honoured; an existingSecret is used as is', () => {
    const { objects, app } = synth(
      { database: 'grafana', name: 'grafana-canary', heartbeatSeconds: 30, image: 'registry.example/agent:15.1', replicas: 0 },
      {
        databases: [
          { name: 'keycloak', owner: 'keycloak' },
          { name: 'grafana', owner: 'grafana_owner', existingSecret: 'grafana-db' },
        ],
      },
    );
    expect(app.database).toBe('grafana');
    const deploy = byKind(objects, 'Deployment', 'grafana-canary');
    byKind(objects, 'Service', 'grafana-canary');
    expect(deploy.spec.replicas).toBe(0);
    const c = deploy.spec.template.spec.containers[0];
    expect(c.image).toBe('registry.example/agent:15.1');
    const env = envOf(c);
    expect(env[CANARY_ENV.heartbeatSeconds]).toBe('30');
    expect(env[CANARY_ENV.uri].secretKeyRef.name).toBe('grafana-canary-db');
    expect(env[CANARY_ENV.password]).toEqual({ secretKeyRef: { name: 'grafana-canary-db', key: 'password' } });
    expect(env[CANARY_ENV.dbname]).toBe('grafana');
    expect(env[CANARY_ENV.user]).toBe('grafana-canary');
    expect(JSON.parse(byKind(objects, 'ConfigMap', 'keycloak-pg-cluster-config').data[CANARY_ROLES_KEY])).toEqual([
      { role: 'grafana-canary', database: 'grafana', secretName: 'grafana-canary-db' },
    ]);
  });

  test("the pods carry the cluster's labels and component canary, so the network policies admit them", () => {
    const { objects } = synth();
    const podLabels = byKind(objects, 'Deployment').spec.template.metadata.labels;
    expect(podLabels).toEqual({
      [LABELS.cluster]: 'keycloak-pg-cluster',
      [LABELS.component]: 'canary',
      [LABELS.managedBy]: 'cdk8s-postgres',
      [LABELS.name]: 'pgc-canary',
      [LABELS.instance]: 'keycloak-pg-cluster-canary',
      'homelab/part-of': 'keycloak-test',
    });
    // Kubernetes NetworkPolicy: the first rule admits the cluster's pods on 5432.
    const np = byKind(objects, 'NetworkPolicy', 'keycloak-pg-cluster');
    const rule = np.spec.ingress.find((r: any) => r.from.some((f: any) => matches(f.podSelector.matchLabels, podLabels) && !f.namespaceSelector));
    expect(rule).toBeDefined();
    expect(rule.ports.map((p: any) => p.port)).toContain(5432);
    // CiliumNetworkPolicy: same namespace (no namespace label) and the cluster label.
    const cnp = byKind(objects, 'CiliumNetworkPolicy', 'keycloak-pg-cluster');
    const crule = cnp.spec.ingress.find((r: any) => r.fromEndpoints.some((e: any) => matches(e.matchLabels, podLabels)));
    expect(crule).toBeDefined();
    expect(crule.toPorts[0].ports.map((p: any) => p.port)).toContain('5432');
    // The canary is never taken for an instance: no instance Service, PDB or StatefulSet selects its pods (the role
    // label that -rw/-ro select on is set only by the instance agent on its own pod).
    expect(podLabels[LABELS.role]).toBeUndefined();
    for (const svc of objects.filter(o => o.kind === 'Service' && o.metadata.name !== 'keycloak-pg-cluster-canary')) {
      expect({ svc: svc.metadata.name, selected: matches(svc.spec.selector, podLabels) }).toEqual({ svc: svc.metadata.name, selected: false });
    }
    expect(matches(byKind(objects, 'StatefulSet').spec.selector.matchLabels, podLabels)).toBe(false);
  });

  test('the default database is the first one', () => {
    expect(synth().app.database).toBe('keycloak');
  });

  test.each<[string, Partial<CanaryAppProps>, RegExp]>([
    [
      'an unknown database',
      { database: 'nope' },
      /^database: "nope" is not a database of cluster keycloak-pg-cluster \(it has "keycloak", "grafana"\)/,
    ],
    ['an upper-case name', { name: 'Canary' }, /^name: "Canary" is not a DNS-1035 label/],
    ['a name starting with a digit', { name: '1canary' }, /^name: "1canary" is not a DNS-1035 label/],
    ['a name too long', { name: 'c'.repeat(64) }, /^name: "c+" is 64 characters long, the limit is 63/],
    ['a heartbeat of 0', { heartbeatSeconds: 0 }, /^heartbeatSeconds: 0 is not a whole number of seconds between 1 and 86400/],
    ['a fractional heartbeat', { heartbeatSeconds: 1.5 }, /^heartbeatSeconds: 1.5 /],
    ['an image without tag', { image: 'ghcr.io/cdk8s-postgres/agent' }, /^image: "ghcr.io\/cdk8s-postgres\/agent" has no tag or digest/],
    ['negative replicas', { replicas: -1 }, /^replicas: -1 is not a whole number between 0 and 3/],
    ['a name that is the superuser', { name: 'postgres' }, /^name: "postgres" cannot name the canary's database role: it is the superuser/],
    ['a name that owns a database', { name: 'keycloak' }, /^name: "keycloak" cannot name the canary's database role: it owns a database/],
    [
      'a peer without labels',
      { networkPolicy: { allowFrom: [{ podLabels: {} }] } },
      /^networkPolicy.allowFrom\[0\].podLabels: is empty, which would allow every pod/,
    ],
    [
      'a peer in a bad namespace',
      { networkPolicy: { allowFrom: [{ podLabels: { app: 'x' }, namespace: 'Ingress' }] } },
      /^networkPolicy.allowFrom\[0\].namespace: "Ingress" is not a DNS-1123 label/,
    ],
    ['both policy kinds off', { networkPolicy: { cilium: false, kubernetes: false } }, /^networkPolicy: has both cilium and kubernetes turned off/],
    ['a basic auth Secret with a bad name', { basicAuth: { secretName: 'My_Secret' } }, /^basicAuth.secretName: "My_Secret" is not a DNS-1123 label/],
    ['a basic auth key with a slash', { basicAuth: { secretName: 's', passwordKey: 'a/b' } }, /^basicAuth.passwordKey: "a\/b" is not a Secret key/],
  ])('rejects %s, naming the prop', (_what, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  test('rejects a cluster that is not a PostgresCluster', () => {
    const chart = new Chart(Testing.app(), 'test');
    expect(() => new CanaryApp(chart, 'canary', { cluster: { name: 'x' } as any })).toThrow(/^cluster: is not a PostgresCluster/);
  });

  test('refuses a canary whose role is also a managed role of the cluster (roles[])', () => {
    expect(() => synth({ name: 'reader' }, { roles: [{ name: 'reader', inRoles: ['pg_read_all_data'] }] })).toThrow(
      /^CanaryApp reader: its database role "reader" is also declared in roles\[\] of this cluster\. Give the CanaryApp another name/,
    );
  });

  test("the canary's role: its Secret generated by the secrets Job, readable by the instances, listed for the primary's agent", () => {
    const { objects } = synth();
    const job = byKind(objects, 'Job', 'keycloak-pg-cluster-secrets');
    const specs = JSON.parse(envOf(job.spec.template.spec.containers[0])[ENV.secrets]);
    expect(specs).toContainEqual(
      expect.objectContaining({
        names: ['keycloak-pg-cluster-canary-db'],
        username: 'keycloak-pg-cluster-canary',
        dbname: 'keycloak',
        host: 'keycloak-pg-cluster-rw',
      }),
    );
    expect(byKind(objects, 'Role', 'keycloak-pg-cluster-secrets').rules[1].resourceNames).toContain('keycloak-pg-cluster-canary-db');
    const instanceRole = byKind(objects, 'Role', 'keycloak-pg-cluster');
    const secretGet = instanceRole.rules.find((r: any) => r.resources.includes('secrets') && r.verbs.includes('get'));
    expect(secretGet.resourceNames).toContain('keycloak-pg-cluster-canary-db');
    const sts = byKind(objects, 'StatefulSet');
    expect(JSON.parse(envOf(sts.spec.template.spec.containers[0])[ENV.secrets]).map((s: any) => s.names[0])).toContain(
      'keycloak-pg-cluster-canary-db',
    );
    expect(JSON.parse(byKind(objects, 'ConfigMap', 'keycloak-pg-cluster-config').data[CANARY_ROLES_KEY])).toEqual([
      { role: 'keycloak-pg-cluster-canary', database: 'keycloak', secretName: 'keycloak-pg-cluster-canary-db' },
    ]);
  });

  test('a cluster without a canary renders no canary roles key', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'ns' });
    new PostgresCluster(chart, 'pg', { name: 'pg', storage: { size: Size.gibibytes(1) } });
    const cm = byKind(Testing.synth(chart), 'ConfigMap', 'pg-config');
    expect(Object.keys(cm.data)).toEqual(['parameters.json']);
  });

  test('network policies: ingress to 8080 only from the named peers, both kinds like the cluster, strict-schema valid', () => {
    const peer = { namespace: 'ingress-nginx', podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } };
    const { objects } = synth({ networkPolicy: { allowFrom: [peer] } });
    const selector = byKind(objects, 'Deployment', 'keycloak-pg-cluster-canary').spec.selector.matchLabels;
    const np = byKind(objects, 'NetworkPolicy', 'keycloak-pg-cluster-canary');
    expect(np.spec).toEqual({
      podSelector: { matchLabels: selector },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            { podSelector: { matchLabels: peer.podLabels }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
          ],
          ports: [{ port: 8080, protocol: 'TCP' }],
        },
      ],
    });
    const cnp = byKind(objects, 'CiliumNetworkPolicy', 'keycloak-pg-cluster-canary');
    expect(cnp.spec).toEqual({
      endpointSelector: { matchLabels: selector },
      ingress: [
        {
          fromEndpoints: [{ matchLabels: { ...peer.podLabels, 'io.kubernetes.pod.namespace': 'ingress-nginx' } }],
          toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
        },
      ],
    });
    for (const o of [np, cnp]) expect(strictValidator().validate(o)).toEqual([]);
  });

  test('without peers nothing is admitted; a cluster without policies still gets a Kubernetes NetworkPolicy for its canary', () => {
    const { objects } = synth({}, { networkPolicy: undefined });
    expect(objects.filter(o => o.kind === 'CiliumNetworkPolicy')).toEqual([]);
    const np = byKind(objects, 'NetworkPolicy', 'keycloak-pg-cluster-canary');
    expect(np.spec.ingress).toEqual([]);
    expect(strictValidator().validate(np)).toEqual([]);
    const cilium = synth({ networkPolicy: { cilium: true, kubernetes: false } }).objects;
    const cnp = byKind(cilium, 'CiliumNetworkPolicy', 'keycloak-pg-cluster-canary');
    expect(cnp.spec.ingress).toEqual([{}]);
    expect(strictValidator().validate(cnp)).toEqual([]);
    expect(cilium.filter(o => o.kind === 'NetworkPolicy' && o.metadata.name === 'keycloak-pg-cluster-canary')).toEqual([]);
  });

  test("basic auth: both values by reference to the user's Secret, default keys of a basic-auth Secret", () => {
    const env = envOf(byKind(synth({ basicAuth: { secretName: 'canary-login' } }).objects, 'Deployment').spec.template.spec.containers[0]);
    expect(env[CANARY_AUTH_ENV.username]).toEqual({ secretKeyRef: { name: 'canary-login', key: 'username' } });
    expect(env[CANARY_AUTH_ENV.password]).toEqual({ secretKeyRef: { name: 'canary-login', key: 'password' } });
    const none = envOf(byKind(synth().objects, 'Deployment').spec.template.spec.containers[0]);
    expect(none[CANARY_AUTH_ENV.username]).toBeUndefined();
  });

  test("the canary role's Secret may not collide with another object", () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'ns' });
    const pg = new PostgresCluster(chart, 'pg', { name: 'pg', storage: { size: Size.gibibytes(1) } });
    new CanaryApp(chart, 'canary', { cluster: pg, name: 'c' });
    new ApiObject(chart, 'mine', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'c-db' } });
    expect(() => Testing.synth(chart)).toThrow(/Secret "ns\/c-db": made twice/);
  });
});
