/**
 * The instance's credentials: read from the cluster's Secrets through the API with the Role the manifests render
 * (the API double enforces it), a rotation seen as a change, a missing generated Secret created with the secrets
 * Job's code (only when allowed), a missing or broken Secret reported with the fix; and the SCRAM verifier check the
 * primary uses to find roles whose password differs from their Secret.
 */
import * as fs from 'fs';
import { Chart, Size, Testing } from 'cdk8s';
import { PostgresCluster } from '../../lib';
import { ENV } from '../../lib/contract';
import { connectKube, KubeClient } from '../../agent/src/k8s/client';
import { Credentials, readCredentialSources } from '../../agent/src/instance/credentials';
import { verifierMatches } from '../../agent/src/instance/passwords';
import { scramVerifier } from '../../agent/src/instance/scram';
import { KubeApiDouble } from '../support/kube-api-double';
import { tempDir } from '../support/pod-runner';

const NS = 'apps';
const chart = new Chart(Testing.app(), 'c', { namespace: NS });
new PostgresCluster(chart, 'pg', {
  name: 'pg',
  storage: { size: Size.gibibytes(1) },
  databases: [
    { name: 'app', owner: 'app' },
    { name: 'wiki', owner: 'wiki', existingSecret: 'wiki-db' },
  ],
});
const objects = Testing.synth(chart) as any[];
const env = Object.fromEntries(
  (objects.find(o => o.kind === 'StatefulSet').spec.template.spec.containers[0].env as any[])
    .filter(e => e.value !== undefined)
    .map(e => [e.name, e.value]),
);

const api = new KubeApiDouble();
let kube: KubeClient;
const dir = tempDir('credentials');
beforeAll(async () => {
  await api.start();
  api.applyRbac(objects);
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = api.writeKubeconfig(dir, api.token(NS, 'pg'), NS);
  try {
    kube = await connectKube(NS);
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});
afterAll(async () => {
  await api.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const secret = (name: string, data: Record<string, string>) =>
  api.seed({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NS },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  } as any);

describe('credentials from the Secrets', () => {
  const credentials = () => new Credentials(readCredentialSources(JSON.parse(env[ENV.databases]), env));

  test('the manifest names the Secrets and never carries a password', () => {
    expect(env[ENV.superuserSecret]).toBe('pg-superuser');
    expect(env[ENV.replicationSecret]).toBe('pg-replication');
    expect(JSON.parse(env[ENV.secrets]).map((s: any) => s.names)).toEqual([['pg-app-app', 'pg-app'], ['pg-superuser'], ['pg-replication']]);
  });

  test('missing Secrets: generated ones are created only when allowed; one the user manages is reported with the fix', async () => {
    const c = credentials();
    const readOnly = await c.refresh(kube, false);
    expect(readOnly.created).toEqual([]);
    expect(readOnly.missing.map(m => m.secret)).toEqual(['pg-superuser', 'pg-replication', 'pg-app-app', 'wiki-db']);
    expect(api.get('secrets', NS, 'pg-superuser')).toBeUndefined();

    const r = await c.refresh(kube);
    expect(r.created.sort()).toEqual(['pg-app', 'pg-app-app', 'pg-replication', 'pg-superuser']);
    expect(r.missing).toEqual([
      {
        secret: 'wiki-db',
        why: 'Secret wiki-db does not exist',
        fix: expect.stringMatching(/^Create Secret wiki-db with the role's password under the key "password"/),
      },
    ]);
    expect(c.superuser).toBe(api.secretValue(NS, 'pg-superuser', 'password'));
    expect(c.superuser).toMatch(/^[A-Za-z0-9]{48}$/);
    // Both Secrets of the first database carry the same password.
    expect(api.secretValue(NS, 'pg-app', 'password')).toBe(api.secretValue(NS, 'pg-app-app', 'password'));
    expect(() => c.database({ secretName: 'wiki-db' })).toThrow(/has not been read yet/);
  });

  test('a rotation is a change; a Secret that loses its password key keeps the last known one', async () => {
    secret('wiki-db', { password: 'wiki-1' });
    const c = credentials();
    expect((await c.refresh(kube)).missing).toEqual([]);
    expect((await c.refresh(kube)).changed).toEqual([]);
    secret('wiki-db', { password: 'wiki-2' });
    secret('pg-replication', { password: 'repl-2' });
    expect((await c.refresh(kube)).changed.sort()).toEqual(['pg-replication', 'wiki-db']);
    expect(c.database({ secretName: 'wiki-db' })).toBe('wiki-2');
    expect(c.replication).toBe('repl-2');
    secret('wiki-db', { username: 'wiki' });
    const r = await c.refresh(kube);
    expect(r.missing).toEqual([
      { secret: 'wiki-db', why: 'Secret wiki-db exists but has no "password" key', fix: expect.stringMatching(/Add a "password" key to wiki-db/) },
    ]);
    expect(c.database({ secretName: 'wiki-db' })).toBe('wiki-2');
    // `<cluster>-app`, the copy of the first database's Secret, comes back with the same password.
    api.remove('secrets', NS, 'pg-app');
    expect((await c.refresh(kube)).created).toEqual(['pg-app']);
    expect(api.secretValue(NS, 'pg-app', 'password')).toBe(c.database({ secretName: 'pg-app-app' }));
  });

  test('the Role lets the instances read only their credential Secrets', async () => {
    secret('someone-elses', { password: 'x' });
    await expect(kube.getSecret('someone-elses')).rejects.toThrow(/403/);
  });
});

describe('SCRAM verifier check', () => {
  test.each([
    ['the verifier of the password', scramVerifier('s3cret'), 's3cret', true],
    ['another password', scramVerifier('s3cret'), 'other', false],
    ['the same password with other iterations', scramVerifier('s3cret', 8192), 's3cret', true],
    ['no password set', null, 's3cret', false],
    ['an md5 hash', 'md5a3556571e93b0d20722ba62be61e8c2d', 's3cret', false],
  ])('%s', (_, stored, password, matches) => {
    expect(verifierMatches(stored, password)).toBe(matches);
  });
});
