// The Kubernetes API test double, driven by the real @kubernetes/client-node 1.4 client: the double must answer
// what a real API server answers, or tests of the agent against it prove nothing.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { CoordinationV1Api, CoreV1Api, V1Lease, V1Pod } from '@kubernetes/client-node';
import { KubeApiDouble, loadClientNode } from './support/kube-api-double';

const k8s = loadClientNode();
const NS = 'testsetup';

/** The Status body of a failed call, with its HTTP code (client-node 1.x throws ApiException with a text body). */
async function failure(call: Promise<unknown>): Promise<{ code: number; status: any }> {
  try {
    await call;
  } catch (e: any) {
    if (typeof e?.code !== 'number') throw e;
    return { code: e.code, status: e.body ? JSON.parse(e.body) : undefined };
  }
  throw new Error('expected the call to fail');
}

/** Clients for a token, loaded the way the agent loads them: KUBECONFIG + KubeConfig.loadFromDefault(). */
function clientsFor(double: KubeApiDouble, dir: string, token: string, namespace = NS) {
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = double.writeKubeconfig(dir, token, namespace);
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromDefault();
    return { kc, core: kc.makeApiClient(k8s.CoreV1Api) as CoreV1Api, coordination: kc.makeApiClient(k8s.CoordinationV1Api) as CoordinationV1Api };
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
}

const mergePatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

function pod(name: string, labels: Record<string, string> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels },
    spec: { containers: [{ name: 'postgres', image: 'postgres:17-bookworm' }] },
  };
}

function lease(holder: string, renewTime: Date): V1Lease {
  return { metadata: { name: 'keycloak-pg-cluster' }, spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime: renewTime as any } };
}

describe('KubeApiDouble with @kubernetes/client-node 1.4', () => {
  const double = new KubeApiDouble();
  let dir: string;
  let admin: ReturnType<typeof clientsFor>;

  beforeAll(async () => {
    await double.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-api-double-'));
    admin = clientsFor(double, dir, double.adminToken);
  });

  afterAll(async () => {
    await double.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the kubeconfig points loadFromDefault() at the double, with the token and the namespace', () => {
    expect(admin.kc.getCurrentCluster()?.server).toBe(double.url);
    expect(admin.kc.getCurrentUser()?.token).toBe(double.adminToken);
    expect(admin.kc.getContextObject(admin.kc.getCurrentContext())?.namespace).toBe(NS);
  });

  test('create fills the system fields, folds stringData into data; a second create is 409 AlreadyExists', async () => {
    const before = Number(double.resourceVersion);
    const created = await admin.core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'db-app' }, stringData: { password: 's3cret' }, data: { user: Buffer.from('app').toString('base64') } },
    });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.namespace).toBe(NS);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(Number(created.metadata?.resourceVersion)).toBe(before + 1);
    expect(created.type).toBe('Opaque');
    expect(created.data).toEqual({ password: Buffer.from('s3cret').toString('base64'), user: Buffer.from('app').toString('base64') });
    expect(created.stringData).toBeUndefined();
    expect(double.secretValue(NS, 'db-app', 'password')).toBe('s3cret');

    const again = await failure(
      admin.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'db-app' }, stringData: { password: 'other' } } }),
    );
    expect(again).toEqual({
      code: 409,
      status: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'secrets "db-app" already exists',
        reason: 'AlreadyExists',
        details: { name: 'db-app', kind: 'secrets' },
        code: 409,
      },
    });
    expect(double.secretValue(NS, 'db-app', 'password')).toBe('s3cret');
    expect(double.resourceVersion).toBe(created.metadata?.resourceVersion);
  });

  test('reading, replacing, patching or deleting a missing object is 404 NotFound', async () => {
    const secret = await failure(admin.core.readNamespacedSecret({ name: 'absent', namespace: NS }));
    expect(secret).toEqual({
      code: 404,
      status: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'secrets "absent" not found',
        reason: 'NotFound',
        details: { name: 'absent', kind: 'secrets' },
        code: 404,
      },
    });
    const leaseRead = await failure(admin.coordination.readNamespacedLease({ name: 'absent', namespace: NS }));
    expect(leaseRead.status).toMatchObject({
      message: 'leases.coordination.k8s.io "absent" not found',
      details: { name: 'absent', group: 'coordination.k8s.io', kind: 'leases' },
    });
    expect(
      (await failure(admin.core.replaceNamespacedConfigMap({ name: 'absent', namespace: NS, body: { metadata: { name: 'absent' } } }))).code,
    ).toBe(404);
    expect(
      (await failure(admin.core.patchNamespacedPod({ name: 'absent', namespace: NS, body: { metadata: { labels: { a: 'b' } } } }, mergePatch())))
        .code,
    ).toBe(404);
    expect((await failure(admin.core.deleteNamespacedSecret({ name: 'absent', namespace: NS }))).code).toBe(404);
  });

  test('replace with a stale resourceVersion is 409 Conflict; with the current one it succeeds and bumps the version', async () => {
    const v1 = await admin.core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'tuning' }, data: { shared_buffers: '128MB' } },
    });
    const v2 = await admin.core.replaceNamespacedConfigMap({
      name: 'tuning',
      namespace: NS,
      body: { ...v1, data: { shared_buffers: '256MB' } },
    });
    expect(Number(v2.metadata?.resourceVersion)).toBeGreaterThan(Number(v1.metadata?.resourceVersion));
    expect(v2.metadata?.uid).toBe(v1.metadata?.uid);

    const stale = await failure(
      admin.core.replaceNamespacedConfigMap({ name: 'tuning', namespace: NS, body: { ...v1, data: { shared_buffers: '1GB' } } }),
    );
    expect(stale).toEqual({
      code: 409,
      status: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'Operation cannot be fulfilled on configmaps "tuning": the object has been modified; please apply your changes to the latest version and try again',
        reason: 'Conflict',
        details: { name: 'tuning', kind: 'configmaps' },
        code: 409,
      },
    });
    expect(double.get('ConfigMap', NS, 'tuning')?.data).toEqual({ shared_buffers: '256MB' });

    const v3 = await admin.core.replaceNamespacedConfigMap({ name: 'tuning', namespace: NS, body: { ...v2, data: { shared_buffers: '512MB' } } });
    expect(Number(v3.metadata?.resourceVersion)).toBeGreaterThan(Number(v2.metadata?.resourceVersion));
    expect(v3.metadata?.resourceVersion).toBe(double.resourceVersion);

    // Without a resourceVersion the update is unconditional, as for these kinds in a real cluster.
    const unconditional = await admin.core.replaceNamespacedConfigMap({
      name: 'tuning',
      namespace: NS,
      body: { metadata: { name: 'tuning' }, data: { shared_buffers: '1GB' } },
    });
    expect(unconditional.data).toEqual({ shared_buffers: '1GB' });
    // An update that changes nothing writes nothing: the version stays (etcd3 storage skips identical bytes).
    const noop = await admin.core.replaceNamespacedConfigMap({ name: 'tuning', namespace: NS, body: unconditional });
    expect(noop.metadata?.resourceVersion).toBe(unconditional.metadata?.resourceVersion);
  });

  test("a merge patch of pod labels adds and removes labels and keeps the others; status is the kubelet's", async () => {
    double.seed({
      ...pod('keycloak-pg-cluster-0', { app: 'keycloak-pg-cluster', role: 'replica', stale: 'x' }),
      status: { phase: 'Running' },
    } as any);
    const before = double.get('pods', NS, 'keycloak-pg-cluster-0')!;
    double.clearRequests();

    const patched = await admin.core.patchNamespacedPod(
      { name: 'keycloak-pg-cluster-0', namespace: NS, body: { metadata: { labels: { role: 'primary', stale: null } }, status: { phase: 'Failed' } } },
      mergePatch(),
    );
    expect(patched.metadata?.labels).toEqual({ app: 'keycloak-pg-cluster', role: 'primary' });
    expect(patched.status?.phase).toBe('Running');
    expect(Number(patched.metadata?.resourceVersion)).toBeGreaterThan(Number(before.metadata.resourceVersion));
    expect(double.requests).toEqual([
      expect.objectContaining({
        method: 'PATCH',
        path: `/api/v1/namespaces/${NS}/pods/keycloak-pg-cluster-0`,
        identity: 'kubernetes-admin',
        status: 200,
        verb: 'patch',
        contentType: 'application/merge-patch+json',
      }),
    ]);

    // Without the header client-node 1.4 sends application/json-patch+json, and an object is not a JSON patch.
    const noHeader = await failure(
      admin.core.patchNamespacedPod({ name: 'keycloak-pg-cluster-0', namespace: NS, body: { metadata: { labels: { role: 'replica' } } } }),
    );
    expect(noHeader.code).toBe(400);
    expect(double.requests[1].contentType).toBe('application/json-patch+json');

    // A patch that carries a stale resourceVersion is a conditional update: 409.
    const stale = await failure(
      admin.core.patchNamespacedPod(
        {
          name: 'keycloak-pg-cluster-0',
          namespace: NS,
          body: { metadata: { resourceVersion: before.metadata.resourceVersion, labels: { role: 'replica' } } },
        },
        mergePatch(),
      ),
    );
    expect(stale.code).toBe(409);
    expect(stale.status.reason).toBe('Conflict');
    expect(double.get('pods', NS, 'keycloak-pg-cluster-0')?.metadata.labels?.role).toBe('primary');
  });

  test('strategic merge patch and JSON patch (test op) of the same pod', async () => {
    double.seed(pod('keycloak-pg-cluster-1', { role: 'replica' }) as any);
    const smp = await admin.core.patchNamespacedPod(
      {
        name: 'keycloak-pg-cluster-1',
        namespace: NS,
        body: { metadata: { labels: { role: 'primary' } }, spec: { containers: [{ name: 'postgres', image: 'postgres:17.6-bookworm' }] } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    expect(smp.metadata?.labels).toEqual({ role: 'primary' });
    expect(smp.spec?.containers).toEqual([{ name: 'postgres', image: 'postgres:17.6-bookworm' }]);

    // client-node's default patch type: a JSON patch guarded by a test operation, which fails on a changed label.
    const guarded = (expected: string) => [
      { op: 'test', path: '/metadata/labels/role', value: expected },
      { op: 'replace', path: '/metadata/labels/role', value: 'replica' },
    ];
    const failed = await failure(admin.core.patchNamespacedPod({ name: 'keycloak-pg-cluster-1', namespace: NS, body: guarded('replica') }));
    expect(failed).toMatchObject({ code: 422, status: { reason: 'Invalid' } });
    const applied = await admin.core.patchNamespacedPod({ name: 'keycloak-pg-cluster-1', namespace: NS, body: guarded('primary') });
    expect(applied.metadata?.labels?.role).toBe('replica');

    // The pod spec is immutable apart from images and a few fields: 422, as in a cluster.
    const immutable = await failure(
      admin.core.patchNamespacedPod({ name: 'keycloak-pg-cluster-1', namespace: NS, body: { spec: { restartPolicy: 'Never' } } }, mergePatch()),
    );
    expect(immutable.status).toMatchObject({ code: 422, reason: 'Invalid', details: { name: 'keycloak-pg-cluster-1', kind: 'Pod' } });
  });

  test('RBAC: get/patch on pods restricted to resourceNames [a] → 403 on pod b, on list, on create and on secrets', async () => {
    const ns = 'rbac';
    double.seed({ ...pod('a'), metadata: { name: 'a', namespace: ns } } as any);
    double.seed({ ...pod('b'), metadata: { name: 'b', namespace: ns } } as any);
    double.seed({ kind: 'Secret', metadata: { name: 's', namespace: ns }, stringData: { k: 'v' } });
    double.grantRole(ns, 'instance', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'instance', namespace: ns },
      rules: [{ apiGroups: [''], resources: ['pods'], resourceNames: ['a'], verbs: ['get', 'patch'] }],
    } as any);
    const sa = clientsFor(double, dir, double.token(ns, 'instance'), ns);
    const user = 'system:serviceaccount:rbac:instance';

    expect((await sa.core.readNamespacedPod({ name: 'a', namespace: ns })).metadata?.name).toBe('a');
    const labelled = await sa.core.patchNamespacedPod(
      { name: 'a', namespace: ns, body: { metadata: { labels: { role: 'primary' } } } },
      mergePatch(),
    );
    expect(labelled.metadata?.labels).toEqual({ role: 'primary' });

    expect(await failure(sa.core.readNamespacedPod({ name: 'b', namespace: ns }))).toEqual({
      code: 403,
      status: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `pods "b" is forbidden: User "${user}" cannot get resource "pods" in API group "" in the namespace "rbac"`,
        reason: 'Forbidden',
        details: { name: 'b', kind: 'pods' },
        code: 403,
      },
    });
    expect(
      (await failure(sa.core.patchNamespacedPod({ name: 'b', namespace: ns, body: { metadata: { labels: { role: 'primary' } } } }, mergePatch())))
        .code,
    ).toBe(403);
    expect(double.get('pods', ns, 'b')?.metadata.labels).toBeUndefined();
    expect((await failure(sa.core.readNamespacedSecret({ name: 's', namespace: ns }))).status.message).toBe(
      `secrets "s" is forbidden: User "${user}" cannot get resource "secrets" in API group "" in the namespace "rbac"`,
    );
    // resourceNames never match requests without a name.
    expect((await failure(sa.core.listNamespacedPod({ namespace: ns }))).status.message).toBe(
      `pods is forbidden: User "${user}" cannot list resource "pods" in API group "" in the namespace "rbac"`,
    );
    // Neither do creates: a rule allowing `create` on resourceNames [c] does not allow creating c.
    double.grantRole(ns, 'instance', { rules: [{ apiGroups: [''], resources: ['pods'], resourceNames: ['c'], verbs: ['create'] }] });
    expect((await failure(sa.core.createNamespacedPod({ namespace: ns, body: { ...pod('c'), metadata: { name: 'c' } } }))).status.message).toBe(
      `pods is forbidden: User "${user}" cannot create resource "pods" in API group "" in the namespace "rbac"`,
    );
    expect(double.get('pods', ns, 'c')).toBeUndefined();
    // Authorization comes before existence: a missing pod outside the grant is 403, not 404.
    expect((await failure(sa.core.readNamespacedPod({ name: 'zz', namespace: ns }))).code).toBe(403);
    // The grant is namespaced.
    expect((await failure(sa.core.readNamespacedPod({ name: 'a', namespace: NS }))).code).toBe(403);
    // A token the server does not know is 401.
    const stranger = clientsFor(double, path.join(dir, 'stranger'), 'kad.not-a-token', ns);
    expect((await failure(stranger.core.readNamespacedPod({ name: 'a', namespace: ns }))).code).toBe(401);
    expect(double.requests.filter(r => r.identity === user).map(r => r.status)).toEqual([200, 200, 403, 403, 403, 403, 403, 403, 403]);
  });

  test('RBAC from manifests: a RoleBinding grants its Role to its ServiceAccount subjects', async () => {
    const ns = 'manifests';
    double.seed({ kind: 'Secret', metadata: { name: 'app', namespace: ns }, stringData: { password: 'p' } });
    double.applyRbac([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'secrets', namespace: ns },
        rules: [
          { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
          { apiGroups: [''], resources: ['secrets'], resourceNames: ['app'], verbs: ['get'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'secrets', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secrets' },
        subjects: [{ kind: 'ServiceAccount', name: 'secrets-job', namespace: ns }],
      },
    ]);
    const job = clientsFor(double, dir, double.token(ns, 'secrets-job'), ns);
    expect(double.secretValue(ns, 'app', 'password')).toBe('p');
    expect((await job.core.readNamespacedSecret({ name: 'app', namespace: ns })).data?.password).toBe(Buffer.from('p').toString('base64'));
    const created = await job.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'superuser' }, stringData: { password: 'q' } },
    });
    expect(created.metadata?.name).toBe('superuser');
    // Allowed to create it, not to read it back: the rule with resourceNames names only 'app'.
    expect((await failure(job.core.readNamespacedSecret({ name: 'superuser', namespace: ns }))).code).toBe(403);
    expect((await failure(job.core.deleteNamespacedSecret({ name: 'app', namespace: ns }))).code).toBe(403);
  });

  test('lease: two candidates racing with the same resourceVersion — exactly one wins', async () => {
    const ns = 'leases';
    const role = { rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }] };
    double.grantRole(ns, 'pod-0', role);
    double.grantRole(ns, 'pod-1', role);
    const a = clientsFor(double, dir, double.token(ns, 'pod-0'), ns);
    const b = clientsFor(double, dir, double.token(ns, 'pod-1'), ns);

    // Creation race: one 201, one 409 AlreadyExists.
    const creations = await Promise.allSettled([
      a.coordination.createNamespacedLease({ namespace: ns, body: lease('pod-0', new k8s.V1MicroTime()) }),
      b.coordination.createNamespacedLease({ namespace: ns, body: lease('pod-1', new k8s.V1MicroTime()) }),
    ]);
    expect(creations.filter(c => c.status === 'fulfilled')).toHaveLength(1);
    const lost = creations.find(c => c.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason.code).toBe(409);
    expect(JSON.parse(lost.reason.body).reason).toBe('AlreadyExists');

    // Update race from the same read: both send the same resourceVersion.
    const seenByA = await a.coordination.readNamespacedLease({ name: 'keycloak-pg-cluster', namespace: ns });
    const seenByB = await b.coordination.readNamespacedLease({ name: 'keycloak-pg-cluster', namespace: ns });
    expect(seenByA.metadata?.resourceVersion).toBe(seenByB.metadata?.resourceVersion);
    const takeOver = (client: typeof a, seen: V1Lease, holder: string) =>
      client.coordination.replaceNamespacedLease({
        name: 'keycloak-pg-cluster',
        namespace: ns,
        body: {
          ...seen,
          spec: { ...seen.spec, holderIdentity: holder, renewTime: new k8s.V1MicroTime(), leaseTransitions: (seen.spec?.leaseTransitions ?? 0) + 1 },
        },
      });
    const updates = await Promise.allSettled([takeOver(a, seenByA, 'pod-0'), takeOver(b, seenByB, 'pod-1')]);
    const won = updates.filter(u => u.status === 'fulfilled') as PromiseFulfilledResult<V1Lease>[];
    const rejected = updates.filter(u => u.status === 'rejected') as PromiseRejectedResult[];
    expect(won).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0].reason.code).toBe(409);
    expect(JSON.parse(rejected[0].reason.body).reason).toBe('Conflict');
    const stored = double.get('Lease', ns, 'keycloak-pg-cluster')!;
    expect(stored.spec.holderIdentity).toBe(won[0].value.spec?.holderIdentity);
    expect(stored.spec.leaseTransitions).toBe(1);
    expect(stored.metadata.resourceVersion).toBe(won[0].value.metadata?.resourceVersion);
    // client-node 1.x reads MicroTime back as the string the server sent, six fractional digits.
    expect(String(won[0].value.spec?.renewTime)).toMatch(/\.\d{6}Z$/);
  });

  test('lease times must be MicroTime: a plain Date (milliseconds) is refused with 400, as by a real API server', async () => {
    const refused = await failure(
      admin.coordination.createNamespacedLease({ namespace: NS, body: lease('x', new Date('2025-01-01T00:00:00.123Z')) }),
    );
    expect(refused.code).toBe(400);
    expect(refused.status.reason).toBe('BadRequest');
    expect(refused.status.message).toContain('Lease in version "v1" cannot be handled as a Lease');
    expect(refused.status.message).toContain('parsing time "2025-01-01T00:00:00.123Z" as "2006-01-02T15:04:05.000000Z07:00"');
  });

  test('decoding and validation errors: secret data that is not base64 (400), a bad label value (422)', async () => {
    const notBase64 = await failure(
      admin.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'bad' }, data: { password: 'not base64!' } } }),
    );
    expect(notBase64.status).toMatchObject({
      code: 400,
      reason: 'BadRequest',
      message: 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3',
    });
    const badLabel = await failure(
      admin.core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'cm', labels: { role: 'primary:yes' } } } }),
    );
    expect(badLabel.status).toMatchObject({
      code: 422,
      reason: 'Invalid',
      details: { name: 'cm', kind: 'ConfigMap', causes: [{ reason: 'FieldValueInvalid', field: 'metadata.labels' }] },
    });
    expect(double.get('secrets', NS, 'bad')).toBeUndefined();
  });

  test('list: label selector, the list resourceVersion, items without kind', async () => {
    const ns = 'listing';
    double.seed({
      ...pod('p-0', { cluster: 'c1', role: 'primary' }),
      metadata: { name: 'p-0', namespace: ns, labels: { cluster: 'c1', role: 'primary' } },
    } as any);
    double.seed({
      ...pod('p-1', { cluster: 'c1', role: 'replica' }),
      metadata: { name: 'p-1', namespace: ns, labels: { cluster: 'c1', role: 'replica' } },
    } as any);
    double.seed({ ...pod('q-0', { cluster: 'c2' }), metadata: { name: 'q-0', namespace: ns, labels: { cluster: 'c2' } } } as any);
    const all = await admin.core.listNamespacedPod({ namespace: ns });
    expect(all.items.map(p => p.metadata?.name)).toEqual(['p-0', 'p-1', 'q-0']);
    expect(all.metadata?.resourceVersion).toBe(double.resourceVersion);
    expect(all.items[0].kind).toBeUndefined();
    const replicas = await admin.core.listNamespacedPod({ namespace: ns, labelSelector: 'cluster=c1,role=replica' });
    expect(replicas.items.map(p => p.metadata?.name)).toEqual(['p-1']);
    const notPrimary = await admin.core.listNamespacedPod({ namespace: ns, labelSelector: 'cluster in (c1,c2),role!=primary' });
    expect(notPrimary.items.map(p => p.metadata?.name)).toEqual(['p-1', 'q-0']);
  });

  test('fault injection: 503, dropped connection, hanging request, latency — per identity', async () => {
    const ns = 'faults';
    const role = { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] };
    double.grantRole(ns, 'victim', role);
    double.grantRole(ns, 'bystander', role);
    double.seed({ kind: 'ConfigMap', metadata: { name: 'c', namespace: ns }, data: {} });
    const victimToken = double.token(ns, 'victim');
    const victim = clientsFor(double, dir, victimToken, ns);
    const bystander = clientsFor(double, dir, double.token(ns, 'bystander'), ns);
    const read = (c: typeof victim) => c.core.readNamespacedConfigMap({ name: 'c', namespace: ns });

    double.setUnavailable(victimToken, true, { mode: 'refuse' });
    expect(await failure(read(victim))).toMatchObject({ code: 503, status: { reason: 'ServiceUnavailable' } });
    expect((await read(bystander)).metadata?.name).toBe('c');

    double.setUnavailable(victimToken, true, { mode: 'reset' });
    await expect(read(victim)).rejects.toThrow(/socket hang up|ECONNRESET/);

    double.setUnavailable('all', true, { mode: 'hang' });
    const hanging = read(bystander).then(
      () => 'answered',
      () => 'dropped',
    );
    const first = await Promise.race([hanging, new Promise(resolve => setTimeout(() => resolve('still waiting'), 300))]);
    expect(first).toBe('still waiting');
    double.setUnavailable('all', false);
    expect(await hanging).toBe('dropped');

    double.setUnavailable(victimToken, false);
    double.setLatency(250, victimToken);
    const started = Date.now();
    expect((await read(victim)).metadata?.name).toBe('c');
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    double.setLatency(0, victimToken);

    const victimLog = double.requests.filter(r => r.identity === 'system:serviceaccount:faults:victim');
    expect(victimLog.map(r => [r.status, r.fault])).toEqual([
      [503, 'refuse'],
      [0, 'reset'],
      [200, undefined],
    ]);
  });

  test('raw HTTP: 401 and 415 bodies, discovery', async () => {
    const res = await fetch(`${double.url}/api/v1/namespaces/${NS}/secrets`, { headers: { Authorization: 'Bearer nope' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    const apply = await fetch(`${double.url}/api/v1/namespaces/${NS}/secrets/db-app`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${double.adminToken}`, 'Content-Type': 'application/apply-patch+yaml' },
      body: '{}',
    });
    expect(apply.status).toBe(415);
    const discovery: any = await (
      await fetch(`${double.url}/apis/coordination.k8s.io/v1`, { headers: { Authorization: `Bearer ${double.adminToken}` } })
    ).json();
    expect(discovery.resources).toEqual([expect.objectContaining({ name: 'leases', kind: 'Lease', namespaced: true })]);
  });
});
