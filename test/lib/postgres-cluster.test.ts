import { Chart, Size, Testing } from 'cdk8s';
import { PACKAGE_VERSION, PostgresCluster, PriorityClass, pgtune } from '../../lib';
import { appSecretData, APP_SECRET_KEYS, CLUSTER_CONFIG, ENV, LABELS, SecretSpec } from '../../lib/contract';
import { byKind, envOf, synthCluster } from './helpers';

describe('PostgresCluster', () => {
  test('renders a StatefulSet with stable names, the agent command and the volume claim', () => {
    const { objects } = synthCluster({ name: 'keycloak-pg-cluster', instances: 2, storage: { size: Size.gibibytes(2), storageClass: 'rbd-fast' } });
    const sts = byKind(objects, 'StatefulSet');
    expect(sts.metadata.name).toBe('keycloak-pg-cluster');
    expect(sts.spec.replicas).toBe(2);
    expect(sts.spec.serviceName).toBe('keycloak-pg-cluster-pods');
    const c = sts.spec.template.spec.containers[0];
    expect(c.command).toEqual(['/usr/local/bin/pg-agent']);
    expect(c.args).toEqual(['instance']);
    expect(c.image).toBe(`ghcr.io/cdk8s-postgres/agent:${PACKAGE_VERSION}-pg15`);
    const claim = sts.spec.volumeClaimTemplates[0];
    expect(claim.metadata.name).toBe('pgdata');
    expect(claim.spec.storageClassName).toBe('rbd-fast');
    // The template keeps a fixed size; storage.size is on the claim objects (test/lib/storage.test.ts).
    expect(claim.spec.resources.requests.storage).toBe('64Mi');
    expect(byKind(objects, 'PersistentVolumeClaim', 'pgdata-keycloak-pg-cluster-1').spec.resources.requests.storage).toBe('2Gi');
    expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
  });

  test('object names do not depend on the construct id or path', () => {
    const names = (id: string) => {
      const chart = new Chart(Testing.app(), 'c');
      new PostgresCluster(chart, id, { name: 'pg', storage: { size: Size.gibibytes(1) } });
      return Testing.synth(chart)
        .map(o => `${o.kind}/${o.metadata.name}`)
        .sort();
    };
    expect(names('first-id')).toEqual(names('renamed-construct'));
  });

  test('runs as the postgres uid with fsGroup and without privilege escalation', () => {
    const sts = byKind(synthCluster().objects, 'StatefulSet');
    const pod = sts.spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsUser: 999,
      runAsGroup: 999,
      fsGroup: 999,
      runAsNonRoot: true,
      fsGroupChangePolicy: 'OnRootMismatch',
    });
    const sc = pod.containers[0].securityContext;
    expect(sc).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    // A read-only root needs writable mounts for the socket, temp files and shared memory.
    expect(
      pod.containers[0].volumeMounts
        .filter((m: any) => !m.readOnly)
        .map((m: any) => m.mountPath)
        .sort(),
    ).toEqual(['/dev/shm', '/run/postgresql', '/tmp', '/var/lib/postgresql/data']);
  });

  test('renders only the resources the user set (no cdk8s-plus defaults)', () => {
    const none = byKind(synthCluster().objects, 'StatefulSet').spec.template.spec.containers[0];
    expect(none.resources).toBeUndefined();
    const some = byKind(synthCluster({ resources: { requests: { memory: '128Mi', cpu: '100m' } } }).objects, 'StatefulSet').spec.template.spec
      .containers[0];
    expect(some.resources).toEqual({ requests: { memory: '128Mi', cpu: '100m' } });
  });

  test('probes ask the agent, with no startup kill during crash recovery', () => {
    const c = byKind(synthCluster().objects, 'StatefulSet').spec.template.spec.containers[0];
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.startupProbe).toBeUndefined();
    expect(c.ports.map((p: any) => [p.name, p.containerPort])).toEqual([
      ['postgresql', 5432],
      ['http', 8000],
    ]);
  });

  test('spreads instances across nodes and sets the priority class', () => {
    const chart = new Chart(Testing.app(), 'c');
    const pc = new PriorityClass(chart, 'pc', { name: 'hl-critical', value: 500000000 });
    new PostgresCluster(chart, 'pg', { name: 'pg', instances: 3, storage: { size: Size.gibibytes(1) }, priorityClass: pc });
    const objects = Testing.synth(chart);
    const pod = byKind(objects, 'StatefulSet').spec.template.spec;
    expect(pod.priorityClassName).toBe('hl-critical');
    const pref = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0];
    expect(pref.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(pref.podAffinityTerm.labelSelector.matchLabels).toEqual({ [LABELS.cluster]: 'pg', [LABELS.component]: 'instance' });
    expect(byKind(objects, 'PriorityClass')).toMatchObject({ metadata: { name: 'hl-critical' }, value: 500000000, globalDefault: false });
    const required = byKind(synthCluster({ antiAffinity: 'required' }).objects, 'StatefulSet').spec.template.spec.affinity;
    expect(required.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    expect(byKind(synthCluster({ antiAffinity: 'none' }).objects, 'StatefulSet').spec.template.spec.affinity).toBeUndefined();
  });

  test('PodDisruptionBudget only when there are replicas', () => {
    expect(synthCluster({ instances: 1 }).objects.filter(o => o.kind === 'PodDisruptionBudget')).toHaveLength(0);
    const pdb = byKind(synthCluster({ instances: 2 }).objects, 'PodDisruptionBudget');
    expect(pdb.spec.maxUnavailable).toBe(1);
  });

  test('Services: -rw selects the primary, -ro the replicas, -r every instance, plus a headless one', () => {
    const { objects } = synthCluster({ name: 'kc' });
    const svc = (n: string) => byKind(objects, 'Service', n).spec;
    expect(svc('kc-rw').selector).toEqual({ [LABELS.cluster]: 'kc', [LABELS.role]: 'primary' });
    expect(svc('kc-ro').selector).toEqual({ [LABELS.cluster]: 'kc', [LABELS.role]: 'replica' });
    expect(svc('kc-r').selector).toEqual({ [LABELS.cluster]: 'kc', [LABELS.component]: 'instance' });
    expect(svc('kc-pods')).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    for (const n of ['kc-rw', 'kc-ro', 'kc-r'])
      expect(svc(n).ports).toEqual([{ name: 'postgresql', port: 5432, targetPort: 'postgresql', protocol: 'TCP' }]);
  });

  test('several databases: one app Secret per database, the first also as <cluster>-app, passwords by reference', () => {
    const { objects } = synthCluster({
      name: 'shared',
      databases: [
        { name: 'mastodon', owner: 'mastodon' },
        { name: 'next_cloud', owner: 'nextcloud' },
      ],
    });
    const job = byKind(objects, 'Job', 'shared-secrets');
    const container = job.spec.template.spec.containers[0];
    expect(container.args).toEqual(['secrets']);
    const specs: SecretSpec[] = JSON.parse(envOf(container)[ENV.secrets]);
    expect(specs.map(s => [s.names, s.username, s.dbname])).toEqual([
      [['shared-mastodon-app', 'shared-app'], 'mastodon', 'mastodon'],
      [['shared-next-cloud-app'], 'nextcloud', 'next_cloud'],
      [['shared-superuser'], 'postgres', '*'],
      [['shared-replication'], 'streaming_replica', 'replication'],
    ]);
    const env = envOf(byKind(objects, 'StatefulSet').spec.template.spec.containers[0]);
    expect(JSON.parse(env[ENV.databases])).toEqual([
      { name: 'mastodon', owner: 'mastodon', secretName: 'shared-mastodon-app' },
      { name: 'next_cloud', owner: 'nextcloud', secretName: 'shared-next-cloud-app' },
    ]);
    // Secret names only: the agent reads the passwords through the API (rotation without a restart).
    expect(env[ENV.superuserSecret]).toBe('shared-superuser');
    expect(env[ENV.replicationSecret]).toBe('shared-replication');
    expect(JSON.parse(env[ENV.secrets])).toEqual(specs);
    const instance = byKind(objects, 'StatefulSet').spec.template.spec.containers[0];
    expect(instance.env.filter((e: any) => e.valueFrom?.secretKeyRef || /PASSWORD/.test(e.name))).toEqual([]);
    expect(objects.filter(o => o.kind === 'Secret')).toHaveLength(0);
  });

  test('user-managed Secrets are referenced and not generated', () => {
    const { objects } = synthCluster({ databases: [{ name: 'app', owner: 'app', existingSecret: 'sealed-app' }], superuserSecret: 'sealed-su' });
    const specs: SecretSpec[] = JSON.parse(envOf(byKind(objects, 'Job').spec.template.spec.containers[0])[ENV.secrets]);
    expect(specs.map(s => s.names[0])).toEqual(['pg-replication']);
    const env = envOf(byKind(objects, 'StatefulSet').spec.template.spec.containers[0]);
    expect(JSON.parse(env[ENV.databases])[0].secretName).toBe('sealed-app');
    expect(env[ENV.superuserSecret]).toBe('sealed-su');
    // Readable by the instances, never created by them: only the generated replication Secret is theirs to recreate.
    expect(JSON.parse(env[ENV.secrets]).map((s: SecretSpec) => s.names)).toEqual([['pg-replication']]);
    expect(byKind(objects, 'Role', 'pg').rules.filter((r: any) => r.resources.includes('secrets'))).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['pg-replication', 'sealed-app', 'sealed-su'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      // TLS: read the certificate, the CA copy and the CA key; replace the certificate (renewal) and the CA copy.
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['pg-ca', 'pg-ca-key', 'pg-server'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['update'], resourceNames: ['pg-ca', 'pg-server'] },
    ]);
  });

  test('the secrets Job has least-privilege RBAC: create Secrets, read only its own', () => {
    const { objects } = synthCluster({ name: 'kc', databases: [{ name: 'keycloak', owner: 'keycloak' }] });
    const role = byKind(objects, 'Role', 'kc-secrets');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['kc-keycloak-app', 'kc-app', 'kc-superuser', 'kc-replication'], verbs: ['get'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['kc-ca', 'kc-ca-key', 'kc-server'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['update'], resourceNames: ['kc-ca', 'kc-server'] },
    ]);
    expect(byKind(objects, 'Job', 'kc-secrets').spec.template.spec.serviceAccountName).toBe('kc-secrets');
    const instanceRole = byKind(objects, 'Role', 'kc');
    expect(instanceRole.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch', 'delete'], resourceNames: ['kc-0'] },
      { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get'], resourceNames: ['kc'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'], resourceNames: ['kc-primary'] },
      // Events on their pods (failover, switchover, fencing): create only.
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
      // Their own credential Secrets by name (polled for rotation), and create to recreate a deleted generated one.
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['kc-app', 'kc-keycloak-app', 'kc-replication', 'kc-superuser'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      // TLS (generated): read the certificate and the CA; renew the certificate and keep the public CA copy.
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['kc-ca', 'kc-ca-key', 'kc-server'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['update'], resourceNames: ['kc-ca', 'kc-server'] },
    ]);
    expect(byKind(objects, 'RoleBinding', 'kc').subjects).toEqual([{ kind: 'ServiceAccount', name: 'kc' }]);
  });

  test('app Secret keys and formats match CloudNativePG (reference story), URL-encoding the password', () => {
    const spec = { username: 'keycloak', dbname: 'keycloak', host: 'keycloak-pg-cluster-rw', port: 5432, clusterDomain: 'cluster.local' };
    const pw = '6yitavmmX1OP5lDuRC1iL3epmujnWczqKNnnS7lM7Ez4CLGqzqYb1ikTmWGo5EyJ';
    const data = appSecretData(spec, pw, 'testsetup');
    expect(Object.keys(data).sort()).toEqual([...APP_SECRET_KEYS].sort());
    expect(data).toEqual({
      dbname: 'keycloak',
      host: 'keycloak-pg-cluster-rw',
      port: '5432',
      user: 'keycloak',
      username: 'keycloak',
      password: pw,
      pgpass: `keycloak-pg-cluster-rw:5432:keycloak:keycloak:${pw}\n`,
      // CloudNativePG's format plus sslmode=verify-full (TLS is always on; the CA is in Secret <cluster>-ca).
      uri: `postgresql://keycloak:${pw}@keycloak-pg-cluster-rw.testsetup:5432/keycloak?sslmode=verify-full`,
      'jdbc-uri': `jdbc:postgresql://keycloak-pg-cluster-rw.testsetup:5432/keycloak?password=${pw}&user=keycloak&sslmode=verify-full`,
      'fqdn-uri': `postgresql://keycloak:${pw}@keycloak-pg-cluster-rw.testsetup.svc.cluster.local:5432/keycloak?sslmode=verify-full`,
      'fqdn-jdbc-uri': `jdbc:postgresql://keycloak-pg-cluster-rw.testsetup.svc.cluster.local:5432/keycloak?password=${pw}&user=keycloak&sslmode=verify-full`,
    });
    expect(appSecretData(spec, 'a/b@c', 'ns').uri).toBe(
      'postgresql://keycloak:a%2Fb%40c@keycloak-pg-cluster-rw.ns:5432/keycloak?sslmode=verify-full',
    );
  });

  test('inherited labels reach every object and every pod template', () => {
    const { objects } = synthCluster(
      { inheritedLabels: ['homelab/*'], labels: { team: 'infra' } },
      { 'homelab/part-of': 'keycloak-test', other: 'x' },
    );
    for (const o of objects) {
      expect(o.metadata.labels).toMatchObject({ 'homelab/part-of': 'keycloak-test', team: 'infra' });
      const tpl = o.spec?.template ?? o.spec?.jobTemplate?.spec?.template;
      if (tpl) expect(tpl.metadata.labels).toMatchObject({ 'homelab/part-of': 'keycloak-test', team: 'infra' });
    }
    const sts = byKind(objects, 'StatefulSet');
    // Chart labels that do not match the pattern stay on top-level objects only (cdk8s behaviour).
    expect(sts.spec.template.metadata.labels.other).toBeUndefined();
    expect(sts.spec.volumeClaimTemplates[0].metadata.labels['homelab/part-of']).toBe('keycloak-test');
  });

  test('user parameters and the pgtune preset reach the agent; user values win', () => {
    const { cluster } = synthCluster({
      resources: { requests: { memory: '1Gi', cpu: '4' } },
      tuning: { workload: 'web' },
      parameters: { work_mem: '4MB' },
    });
    expect(cluster.parameters.work_mem).toBe('4MB');
    expect(cluster.parameters.shared_buffers).toBe('256MB');
    expect(cluster.parameters.max_worker_processes).toBe('4');
    const { objects } = synthCluster({ parameters: { max_connections: '200' } });
    const configMap = byKind(objects, 'ConfigMap', 'pg-config');
    expect(JSON.parse(configMap.data[CLUSTER_CONFIG.parametersKey])).toEqual({ max_connections: '200' });
    const pod = byKind(objects, 'StatefulSet').spec.template.spec;
    // Mounted as a whole volume (a subPath mount would never see the kubelet's updates), its path in the environment.
    expect(pod.volumes).toContainEqual({ name: CLUSTER_CONFIG.volumeName, configMap: { name: 'pg-config' } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: CLUSTER_CONFIG.volumeName, mountPath: CLUSTER_CONFIG.mountPath, readOnly: true });
    expect(pod.containers[0].volumeMounts.some((m: any) => m.subPath)).toBe(false);
    expect(envOf(pod.containers[0])[ENV.configDir]).toBe(CLUSTER_CONFIG.mountPath);
    expect(envOf(pod.containers[0])[ENV.parameters]).toBeUndefined();
  });

  test('a parameter change alters only the ConfigMap: the StatefulSet is byte-identical, so no pod restarts', () => {
    const render = (parameters: Record<string, string>) =>
      Testing.synth(synthCluster({ instances: 2, parameters }).chart).map(o => JSON.stringify(o));
    const before = render({ work_mem: '4MB' });
    const after = render({ work_mem: '16MB', shared_buffers: '256MB' });
    expect(after).toHaveLength(before.length);
    const changed = before.map((o, i) => (o === after[i] ? undefined : JSON.parse(o))).filter(Boolean);
    expect(changed.map(o => `${o.kind}/${o.metadata.name}`)).toEqual(['ConfigMap/pg-config']);
    expect(before.find(o => o.includes('"kind":"StatefulSet"'))).toBe(after.find(o => o.includes('"kind":"StatefulSet"')));
  });

  test("pgtune reproduces the reference story's parameters for 128Mi (mixed workload, SAN storage, 200 connections)", () => {
    expect(pgtune({ memoryBytes: 128 * 2 ** 20, workload: 'mixed', storage: 'san', maxConnections: 200 })).toMatchObject({
      max_connections: '200',
      shared_buffers: '32MB',
      effective_cache_size: '96MB',
      maintenance_work_mem: '8MB',
      checkpoint_completion_target: '0.9',
      wal_buffers: '983kB',
      default_statistics_target: '100',
      random_page_cost: '1.1',
      effective_io_concurrency: '300',
      work_mem: '81kB',
      huge_pages: 'off',
    });
    expect(pgtune({ memoryBytes: 64 * 2 ** 30, storage: 'hdd' })).toMatchObject({
      shared_buffers: '16GB',
      wal_buffers: '16MB',
      random_page_cost: '4',
      huge_pages: 'try',
    });
  });

  test("network policies: the cluster's own pods and the named apps on 5432, nothing else", () => {
    const { objects } = synthCluster({
      name: 'kc',
      networkPolicy: {
        cilium: true,
        kubernetes: true,
        allowFrom: [{ podLabels: { app: 'keycloak' } }, { podLabels: { app: 'x' }, namespace: 'other' }],
      },
    });
    const cnp = byKind(objects, 'CiliumNetworkPolicy');
    expect(cnp.spec.endpointSelector.matchLabels).toEqual({ [LABELS.cluster]: 'kc', [LABELS.component]: 'instance' });
    expect(cnp.spec.ingress[0].fromEndpoints).toEqual([{ matchLabels: { [LABELS.cluster]: 'kc' } }]);
    expect(cnp.spec.ingress[1]).toEqual({
      fromEndpoints: [{ matchLabels: { app: 'keycloak' } }],
      toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }],
    });
    expect(cnp.spec.ingress[2].fromEndpoints[0].matchLabels).toEqual({ app: 'x', 'io.kubernetes.pod.namespace': 'other' });
    const np = byKind(objects, 'NetworkPolicy');
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toHaveLength(3);
    expect(np.spec.ingress[2].from[0].namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'other' });
    expect(np.spec.ingress[1].ports).toEqual([{ port: 5432, protocol: 'TCP' }]);
    // Jobs of the cluster (backup, secrets) carry the cluster label, so the first rule admits them.
    expect(byKind(objects, 'Job').spec.template.metadata.labels[LABELS.cluster]).toBe('kc');
    expect(synthCluster({ networkPolicy: { allowFrom: [] } }).objects.filter(o => o.kind === 'NetworkPolicy')).toHaveLength(1);
    expect(synthCluster().objects.filter(o => /NetworkPolicy/.test(o.kind))).toHaveLength(0);
  });

  test('the shutdown timeout leaves the agent time before the kubelet kills the pod', () => {
    const sts = byKind(synthCluster({ terminationGracePeriodSeconds: 120 }).objects, 'StatefulSet');
    expect(sts.spec.template.spec.terminationGracePeriodSeconds).toBe(120);
    expect(envOf(sts.spec.template.spec.containers[0]).PGC_SHUTDOWN_TIMEOUT).toBe('115');
  });
});
