/**
 * Bad input and faults at start: each must end the agent with one clear error line (what is wrong, what to do)
 * and a non-zero exit, without touching existing data.
 */
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { KubeApiDouble } from '../support/kube-api-double';
import { findObject, loadDist } from '../support/manifests';
import { AgentProcess, ContainerLaunch, PG_BIN, containerLaunch, podUser, tempDir } from '../support/pod-runner';
import { writeConfigMapVolume } from '../support/config-map-volume';
import { CLUSTER_CONFIG } from '../../lib/contract';

jest.setTimeout(60000);

const objects = loadDist('keycloak.k8s.yaml');
const sts = findObject(objects, 'StatefulSet', 'keycloak-pg-cluster');
const configMap = findObject(objects, 'ConfigMap', 'keycloak-pg-cluster-config');
const user = podUser();
const api = new KubeApiDouble();
let kubeconfig: string;

beforeAll(async () => {
  await api.start();
  const dir = tempDir('kube-faults', user);
  kubeconfig = api.writeKubeconfig(dir, api.token('testsetup', 'keycloak-pg-cluster'), 'testsetup');
  if (user) fs.chownSync(kubeconfig, user.uid, user.gid);
});
afterAll(() => api.stop());

/** The cluster ConfigMap's volume as the kubelet projects it, with the rendered data or `data`. */
function configVolume(data: Record<string, string> = configMap.data): string {
  const dir = tempDir('fault-config', user);
  writeConfigMapVolume(dir, data, user);
  return dir;
}

function launchFor(
  dataDir: string,
  runDir: string,
  edit: (env: Record<string, string>) => void = () => undefined,
  configDir = configVolume(),
): ContainerLaunch {
  const launch = containerLaunch(sts, 'postgres', {
    podName: 'keycloak-pg-cluster-0',
    namespace: 'testsetup',
    paths: { '/var/lib/postgresql/data': dataDir, '/run/postgresql': runDir, '/tmp': runDir, [CLUSTER_CONFIG.mountPath]: configDir },
    // Every Secret the pod references exists (the S3 keys are not used: these runs stop before archiving).
    secret: () => 'pw-for-tests-only',
    extraEnv: { KUBECONFIG: kubeconfig },
    rewriteEnv: (name, value) =>
      name === 'PGC_PORT' ? '21991' : name === 'PGC_HTTP_PORT' ? '21992' : name === 'PGC_PRIMARY_HOST' ? '127.0.0.1:21993' : value,
  });
  edit(launch.env);
  return launch;
}

/** Runs the agent to its exit; returns the code and its error lines. */
async function runToExit(launch: ContainerLaunch): Promise<{ code: number | null; errors: any[] }> {
  const p = new AgentProcess(launch, { user });
  const code = await p.exited;
  return { code, errors: p.logs().filter(l => l.level === 'error' || l.level === 'fatal') };
}

/** A fingerprint of every file (path, size, content hash) under a directory. */
function fingerprint(dir: string): string {
  const h = crypto.createHash('sha256');
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(`${path.relative(dir, p)}:${fs.readFileSync(p).toString('base64')}\n`);
    }
  };
  walk(dir);
  return h.digest('hex');
}

function dirs(): { dataDir: string; runDir: string } {
  return { dataDir: tempDir('fault-data', user), runDir: tempDir('fault-run', user) };
}

describe('instance refuses to run on bad input, with one clear line', () => {
  test('a missing environment variable names the variable', async () => {
    const { dataDir, runDir } = dirs();
    const r = await runToExit(
      launchFor(dataDir, runDir, env => {
        delete env.PGC_DATABASES;
      }),
    );
    expect(r.code).toBe(2);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].msg).toBe('environment variable PGC_DATABASES is missing');
    expect(r.errors[0].fix).toMatch(/manifest/);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  test('malformed JSON in the environment names the variable', async () => {
    const { dataDir, runDir } = dirs();
    const r = await runToExit(
      launchFor(dataDir, runDir, env => {
        env.PGC_DATABASES = '[{"name": ';
      }),
    );
    expect(r.code).toBe(2);
    expect(r.errors[0].msg).toMatch(/^environment variable PGC_DATABASES is not valid JSON/);
  });

  test('a mangled ConfigMap names its file and the fix', async () => {
    const { dataDir, runDir } = dirs();
    const r = await runToExit(launchFor(dataDir, runDir, undefined, configVolume({ [CLUSTER_CONFIG.parametersKey]: '{"work_mem": ' })));
    expect(r.code).toBe(2);
    expect(r.errors[0].msg).toMatch(/^the cluster's parameters \(.*parameters\.json\) are not valid JSON/);
    expect(r.errors[0].fix).toMatch(/ConfigMap <cluster>-config/);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  test('a credential Secret without its password key: no CreateContainerConfigError; the agent waits, alive and not ready, and goes on once it is fixed', async () => {
    const { dataDir, runDir } = dirs();
    // Passwords are no longer environment variables: the kubelet has nothing to refuse for them.
    const env = sts.spec.template.spec.containers[0].env as any[];
    expect(env.filter(e => e.valueFrom?.secretKeyRef && e.valueFrom.secretKeyRef.key === 'password')).toEqual([]);
    api.applyRbac(loadDist('keycloak.k8s.yaml'));
    api.seed({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'keycloak-pg-cluster-superuser', namespace: 'testsetup' },
      data: { username: Buffer.from('postgres').toString('base64') },
    } as any);
    const p = new AgentProcess(launchFor(dataDir, runDir), { user });
    try {
      const line = await p.waitForLog(l => l.level === 50 || l.level === 'error', 30000);
      expect(line.msg).toBe('waiting for credentials: Secret keycloak-pg-cluster-superuser exists but has no "password" key');
      expect(line.fix).toMatch(/Add a "password" key to keycloak-pg-cluster-superuser/);
      const http = async (u: string) => (await fetch(`http://127.0.0.1:21992${u}`)).status;
      expect(await http('/healthz')).toBe(200);
      expect(await http('/readyz')).toBe(503);
      expect(fs.readdirSync(dataDir)).toEqual([]); // nothing initialized without the password
      // The other credential Secrets were missing: generated, as the secrets Job would.
      expect(api.secretValue('testsetup', 'keycloak-pg-cluster-replication', 'password')).toMatch(/^[A-Za-z0-9]{48}$/);
      api.seed({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'keycloak-pg-cluster-superuser', namespace: 'testsetup' },
        data: { password: Buffer.from('now-it-has-one').toString('base64') },
      } as any);
      await p.waitForLog(l => l.msg === 'initializing a new cluster (initdb, data checksums on)', 30000);
    } finally {
      p.killPod();
      await p.waitPodGone();
    }
  });

  test('a data directory of another cluster is refused and left untouched', async () => {
    const { dataDir, runDir } = dirs();
    const pgdata = path.join(dataDir, 'pgdata');
    execFileSync(path.join(PG_BIN, 'initdb'), ['-D', pgdata, '--auth=trust', '-U', 'postgres'], {
      uid: user?.uid,
      gid: user?.gid,
      stdio: 'pipe',
      env: { PATH: process.env.PATH, LANG: 'C' },
    });
    fs.writeFileSync(
      path.join(pgdata, 'cdk8s-postgres.json'),
      JSON.stringify({ cluster: 'mastodon-pg', systemIdentifier: '1234', bootstrappedBy: 'x', bootstrappedAt: 'y' }),
    );
    const before = fingerprint(dataDir);
    const r = await runToExit(launchFor(dataDir, runDir));
    expect(r.code).toBe(2);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].msg).toMatch(
      /^data directory .*pgdata belongs to cluster "mastodon-pg" \(system identifier 1234\), not to "keycloak-pg-cluster"/,
    );
    expect(r.errors[0].fix).toMatch(/Nothing was touched/);
    expect(fingerprint(dataDir)).toBe(before);
  });

  test('a volume holding something else than PostgreSQL data is refused and left untouched', async () => {
    const { dataDir, runDir } = dirs();
    fs.mkdirSync(path.join(dataDir, 'pgdata'));
    fs.writeFileSync(path.join(dataDir, 'pgdata', 'important.txt'), 'do not delete');
    const before = fingerprint(dataDir);
    const r = await runToExit(launchFor(dataDir, runDir));
    expect(r.code).toBe(2);
    expect(r.errors[0].msg).toMatch(/is not empty but holds no PostgreSQL data directory/);
    expect(fingerprint(dataDir)).toBe(before);
  });

  test('a full disk at start is reported before anything is written', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a small tmpfs and must run as root (CI does)');
    const { runDir } = dirs();
    const mount = tempDir('fault-tmpfs');
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=40m,uid=${user?.uid ?? 0},gid=${user?.gid ?? 0}`, 'tmpfs', mount]);
    try {
      fs.writeFileSync(path.join(mount, 'filler'), Buffer.alloc(20 * 1024 * 1024));
      const before = fingerprint(mount);
      const r = await runToExit(launchFor(mount, runDir));
      expect(r.code).toBe(2);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0].msg).toMatch(/^only \d+ MiB free on the volume of .*; at least 64 MiB are needed to start$/);
      expect(r.errors[0].fix).toMatch(/Grow the PersistentVolumeClaim/);
      expect(fingerprint(mount)).toBe(before);
    } finally {
      execFileSync('umount', [mount]);
    }
  });
});
