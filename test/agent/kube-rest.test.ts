/**
 * The agent's own Kubernetes client (agent/src/k8s/rest.ts, client.ts), which replaced @kubernetes/client-node:
 * credentials from a kubeconfig or the pod's ServiceAccount files, the API's answers as KubeErrors with their codes
 * (404, 409, 403, unreachable, no answer), a rotated token picked up, and TLS verified against the CA it was given.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import { AddressInfo } from 'net';
import * as path from 'path';
import { Chart, Size, Testing } from 'cdk8s';
import { PostgresCluster } from '../../lib';
import { connectKube, KubeClient, KubeError } from '../../agent/src/k8s/client';
import { fromKubeconfig, kubeRest, loadKubeEndpoint, MicroTime, NoKubeCredentials } from '../../agent/src/k8s/rest';
import { KubeApiDouble } from '../support/kube-api-double';
import { tempDir } from '../support/pod-runner';

const NS = 'apps';
const dir = tempDir('kube-rest');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};

describe('credentials', () => {
  test('a kubeconfig: the current context picks the cluster and user; files are relative to the kubeconfig', async () => {
    write('ca.pem', 'CA-FROM-FILE');
    write('token', 'token-from-file\n');
    const file = write(
      'kubeconfig.yaml',
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: b',
        'clusters:',
        '  - { name: a, cluster: { server: "https://a.example:6443" } }',
        '  - { name: b, cluster: { server: "https://b.example:6443", certificate-authority: ca.pem } }',
        'users:',
        '  - { name: u, user: { tokenFile: token } }',
        `  - { name: v, user: { client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key-data: ${Buffer.from('KEY').toString('base64')} } }`,
        'contexts:',
        '  - { name: a, context: { cluster: a, user: v } }',
        '  - { name: b, context: { cluster: b, user: u, namespace: apps } }',
      ].join('\n'),
    );
    const e = await fromKubeconfig(file);
    expect(e.server).toBe('https://b.example:6443');
    expect(e.ca?.toString()).toBe('CA-FROM-FILE');
    expect(e.tokenFile).toBe(path.join(dir, 'token'));
    expect(e.namespace).toBe('apps');
    expect(e.clientCert).toBeUndefined();
  });

  test('a kubeconfig with an exec plugin or without a server is refused with the reason', async () => {
    const exec = write(
      'exec.yaml',
      'current-context: c\nclusters: [{ name: c, cluster: { server: "https://x" } }]\nusers: [{ name: u, user: { exec: { command: aws } } }]\ncontexts: [{ name: c, context: { cluster: c, user: u } }]\n',
    );
    await expect(fromKubeconfig(exec)).rejects.toThrow(/exec and auth-provider credentials are not supported/);
    const empty = write('empty.yaml', 'apiVersion: v1\nkind: Config\n');
    await expect(fromKubeconfig(empty)).rejects.toThrow(NoKubeCredentials);
  });

  test("in a pod: the ServiceAccount's token file and CA, the API's Service address (IPv6 in brackets)", async () => {
    const sa = path.join(dir, 'sa');
    fs.mkdirSync(sa);
    fs.writeFileSync(path.join(sa, 'token'), 'pod-token');
    fs.writeFileSync(path.join(sa, 'ca.crt'), 'CLUSTER-CA');
    const e = await loadKubeEndpoint({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443', HOME: dir }, sa);
    expect(e).toMatchObject({ server: 'https://[fd00::1]:443', tokenFile: path.join(sa, 'token') });
    expect(e.ca?.toString()).toBe('CLUSTER-CA');
    await expect(loadKubeEndpoint({ HOME: dir }, sa)).rejects.toThrow(/no KUBECONFIG, no ServiceAccount token/);
  });

  test('Lease times are sent with six fractional digits (metav1.MicroTime)', () => {
    expect(JSON.stringify({ t: new MicroTime(Date.UTC(2026, 11, 3, 16, 0, 0, 123)) })).toBe('{"t":"2026-12-03T16:00:00.123000Z"}');
  });
});

describe('against the API double (RBAC from the manifests)', () => {
  const chart = new Chart(Testing.app(), 'c', { namespace: NS });
  new PostgresCluster(chart, 'pg', { name: 'pg', storage: { size: Size.gibibytes(1) }, databases: [{ name: 'app', owner: 'app' }] });
  const objects = Testing.synth(chart) as any[];
  const api = new KubeApiDouble();
  let kube: KubeClient;
  const connectAs = async (token: string): Promise<KubeClient> => {
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = api.writeKubeconfig(fs.mkdtempSync(path.join(dir, 'kc-')), token, NS);
    try {
      return await connectKube(NS);
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  };
  beforeAll(async () => {
    await api.start();
    api.applyRbac(objects);
    kube = await connectAs(api.token(NS, 'pg'));
  });
  afterAll(() => api.stop());

  test('404 reads as undefined; a second create is a 409; a stale resourceVersion is a 409', async () => {
    expect(await kube.getLease('pg-primary')).toBeUndefined();
    const at = kube.microTime(new Date());
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'pg-primary' },
      spec: { holderIdentity: 'pg-0', leaseDurationSeconds: 15, acquireTime: at, renewTime: at },
    };
    const lease = await kube.createLease(body);
    expect(lease.spec?.renewTime).toMatch(/\.\d{6}Z$/);
    const dup = await kube.createLease(body).catch(e => e);
    expect(dup).toBeInstanceOf(KubeError);
    expect(dup.code).toBe(409);
    const renewed = await kube.replaceLease({ ...lease, spec: { ...lease.spec, renewTime: kube.microTime(new Date()) } });
    expect(renewed.metadata?.resourceVersion).not.toBe(lease.metadata?.resourceVersion);
    const stale = await kube.replaceLease(lease).catch(e => e);
    expect(stale.code).toBe(409);
  });

  test("what the Role does not allow is a 403 with the API's message; an unknown token a 401", async () => {
    // The instance Role may delete its pods: the 404 says RBAC let it through to a pod that does not exist.
    expect((await kube.deletePod('pg-0').catch(e => e)).code).toBe(404);
    const rest = kubeRest({ server: api.url, token: api.token(NS, 'pg') });
    const other = (await rest('GET', '/api/v1/namespaces/kube-system/secrets/x', 'get secret x', { timeoutMs: 5000 }).catch(e => e)) as KubeError;
    expect(other.code).toBe(403);
    expect(other.message).toMatch(/^get secret x: 403 .*forbidden/);
    const stranger = await connectAs('not-a-token');
    expect((await stranger.getLease('pg-primary').catch(x => x)).code).toBe(401);
  });

  test('an unreachable API is code 0 naming the call; a hanging one fails at the timeout', async () => {
    api.setUnavailable('all', true, { mode: 'reset' });
    try {
      const e = await kube.getPod('pg-0').catch(x => x);
      expect(e.code).toBe(0);
      expect(e.message).toMatch(/^get pod pg-0: Kubernetes API unreachable/);
    } finally {
      api.setUnavailable('all', false);
    }
    api.setUnavailable('all', true, { mode: 'hang' });
    try {
      const e = await kube.getPod('pg-0').catch(x => x);
      expect(e.code).toBe(0);
      expect(e.message).toMatch(/no answer from the Kubernetes API within 5000 ms/);
    } finally {
      api.setUnavailable('all', false);
    }
  });

  test('a rotated token file is read again (the kubelet rotates projected tokens)', async () => {
    const tokenFile = path.join(dir, 'rotating-token');
    fs.writeFileSync(tokenFile, api.token(NS, 'pg'));
    const rest = kubeRest({ server: api.url, tokenFile }, { tokenRereadMs: 0 });
    const get = () => rest('GET', `/api/v1/namespaces/${NS}/secrets/pg-app`, 'get secret pg-app', { timeoutMs: 5000 }).catch(e => e.code);
    expect(await get()).toBe(404);
    fs.writeFileSync(tokenFile, 'revoked');
    expect(await get()).toBe(401);
  });
});

describe('TLS', () => {
  let server: https.Server;
  let url: string;
  let ca: Buffer;
  beforeAll(async () => {
    const key = path.join(dir, 'tls.key');
    const crt = path.join(dir, 'tls.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=kube-api',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        crt,
      ],
      { stdio: 'ignore' },
    );
    ca = fs.readFileSync(crt);
    server = https.createServer({ key: fs.readFileSync(key), cert: ca }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'Pod', metadata: { name: 'p' }, auth: req.headers.authorization }));
    });
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise(r => server.close(r)));

  test('the server certificate is checked against the given CA; without it the call fails', async () => {
    const ok = await kubeRest({ server: url, ca, token: 't' })<{ auth: string }>('GET', '/api/v1/x', 'get', { timeoutMs: 5000 });
    expect(ok.auth).toBe('Bearer t');
    const e = (await kubeRest({ server: url, token: 't' })('GET', '/api/v1/x', 'get pod p', { timeoutMs: 5000 }).catch(x => x)) as KubeError;
    expect(e.code).toBe(0);
    expect(e.message).toMatch(/get pod p: Kubernetes API unreachable \(self[- ]signed certificate/);
  });
});
