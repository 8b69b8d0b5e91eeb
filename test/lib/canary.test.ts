import { Chart, Size, Testing } from 'cdk8s';
import { CanaryApp, CanaryAppProps, PACKAGE_VERSION, PostgresCluster, PostgresClusterProps } from '../../lib';
import { CANARY_ENV, LABELS, PATHS } from '../../lib/contract';
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

  test("the credentials come from the database's app Secret: uri preferred, the password for the parts", () => {
    const { objects } = synth();
    const env = envOf(byKind(objects, 'Deployment').spec.template.spec.containers[0]);
    expect(env[CANARY_ENV.uri]).toEqual({ secretKeyRef: { name: 'keycloak-pg-cluster-keycloak-app', key: 'uri', optional: true } });
    expect(env[CANARY_ENV.password]).toEqual({ secretKeyRef: { name: 'keycloak-pg-cluster-keycloak-app', key: 'password' } });
    expect(env[CANARY_ENV.host]).toBe('keycloak-pg-cluster-rw');
    expect(env[CANARY_ENV.port]).toBe('5432');
    expect(env[CANARY_ENV.dbname]).toBe('keycloak');
    expect(env[CANARY_ENV.user]).toBe('keycloak');
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
    expect(env[CANARY_ENV.uri].secretKeyRef.name).toBe('grafana-db');
    expect(env[CANARY_ENV.password]).toEqual({ secretKeyRef: { name: 'grafana-db', key: 'password' } });
    expect(env[CANARY_ENV.dbname]).toBe('grafana');
    expect(env[CANARY_ENV.user]).toBe('grafana_owner');
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
    const np = byKind(objects, 'NetworkPolicy');
    const rule = np.spec.ingress.find((r: any) => r.from.some((f: any) => matches(f.podSelector.matchLabels, podLabels) && !f.namespaceSelector));
    expect(rule).toBeDefined();
    expect(rule.ports.map((p: any) => p.port)).toContain(5432);
    // CiliumNetworkPolicy: same namespace (no namespace label) and the cluster label.
    const cnp = byKind(objects, 'CiliumNetworkPolicy');
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
  ])('rejects %s, naming the prop', (_what, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  test('rejects a cluster that is not a PostgresCluster', () => {
    const chart = new Chart(Testing.app(), 'test');
    expect(() => new CanaryApp(chart, 'canary', { cluster: { name: 'x' } as any })).toThrow(/^cluster: is not a PostgresCluster/);
  });
});
