/**
 * The harness's pod root (test/support/pod-root.ts) holds the pod to what its manifest says: an instance of
 * dist/shared-apps.k8s.yaml runs every process (agent, postmaster, backends) as the securityContext's user with no
 * privileges, sees a read-only root with only its volumes writable, and goes as a whole when the pod is killed.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ClusterHarness, query } from '../support/cluster-harness';
import { podSpecOf } from '../support/manifests';
import { podExecCommand, podSecurity, processEnv } from '../support/pod-root';

jest.setTimeout(120000);

/** The fields of /proc/<pid>/status that say who a process is and what it may do. */
function status(pid: number): Record<string, string> {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Object.fromEntries(text.split('\n').map(l => l.split(/:\s*/, 2) as [string, string]));
}

describe('pod root: shared-pg-0 as its manifest runs it', () => {
  const h = new ClusterHarness('shared-apps.k8s.yaml', 'shared-pg', { podRoot: true });
  const container = podSpecOf(h.statefulSet).containers[0];
  const sec = podSecurity(h.statefulSet, container.name);
  /** Runs a shell line in the running pod as its user (`kubectl exec shared-pg-0 -- sh -c ...`). */
  const exec = (line: string) => {
    const pid = h.pods[0].process!.child.pid!;
    const { command, args } = podExecCommand(pid, sec, ['/bin/sh', '-c', line]);
    // The container's environment, as kubectl exec gives it.
    const r = spawnSync(command, args, { encoding: 'utf8', env: processEnv(pid) });
    return { code: r.status, out: `${r.stdout}${r.stderr}`.trim() };
  };

  beforeAll(async () => {
    await h.start();
    h.seedSecret('rook-ceph-object-user-rgw-bulk-cnpg-backup-shared', { AccessKey: 'unused-here', SecretKey: 'unused-here' });
    expect(await (await h.runSecretsJob()).exited).toBe(0);
    h.startInstance(0);
    await h.waitReady(0, 90000);
  });
  afterAll(async () => {
    await h.stop();
  });

  test('the rendered securityContext is what the pod root applies (uid 999, read-only root)', () => {
    expect(h.statefulSet.spec.template.spec.securityContext).toMatchObject({ runAsUser: 999, runAsGroup: 999, fsGroup: 999 });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(sec).toEqual({
      uid: 999,
      gid: 999,
      groups: [999],
      fsGroup: 999,
      readOnlyRootFilesystem: true,
      noNewPrivs: true,
      dropCapabilities: ['ALL'],
    });
  });

  test('every process of the pod (agent, postmaster, backends) runs as uid 999 without privileges', async () => {
    const su = h.secretData('shared-pg-superuser')!.password;
    // A backend of our own, alive while we look.
    const [{ pid: backend }] = await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT pg_backend_pid() AS pid');
    expect(backend).toBeGreaterThan(0);
    const pids = h.pods[0].process!.pod.pids();
    const postmaster = Number(fs.readFileSync(path.join(h.pods[0].dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(pids).toContain(h.pods[0].process!.child.pid);
    expect(pids).toContain(postmaster);
    expect(pids.length).toBeGreaterThanOrEqual(5); // the agent, the postmaster and its checkpointer, walwriter...
    for (const pid of pids) {
      let s: Record<string, string>;
      try {
        s = status(pid);
      } catch {
        continue; // ended meanwhile
      }
      expect({
        pid,
        uid: s.Uid.split(/\s+/),
        gid: s.Gid.split(/\s+/),
        groups: s.Groups.trim(),
        nnp: s.NoNewPrivs,
        eff: s.CapEff,
        bnd: s.CapBnd,
      }).toEqual({
        pid,
        uid: ['999', '999', '999', '999'],
        gid: ['999', '999', '999', '999'],
        groups: '999',
        nnp: '1',
        eff: '0000000000000000',
        bnd: '0000000000000000',
      });
    }
    // Its files on the data volume are 999's, group 999 (the fsGroup's setgid directory).
    const stat = fs.statSync(path.join(h.pods[0].dataDir, 'pgdata', 'PG_VERSION'));
    expect({ uid: stat.uid, gid: stat.gid }).toEqual({ uid: 999, gid: 999 });
    // In the pod, uid 999 is the image's postgres user.
    expect(exec('id -u; id -un; echo $HOME')).toEqual({ code: 0, out: '999\npostgres\n/var/lib/postgresql' });
  });

  test('a write outside a volume fails (read-only root); the volumes are writable, the ConfigMap is not', () => {
    for (const file of ['/probe', '/etc/probe', '/usr/local/bin/probe', '/var/lib/postgresql/probe', '/opt/pg-agent/probe']) {
      const r = exec(`echo x > ${file}`);
      expect({ file, code: r.code, out: r.out }).toEqual({ file, code: expect.any(Number), out: expect.stringMatching(/Read-only file system/) });
      expect(r.code).not.toBe(0);
    }
    expect(exec('echo x > /etc/pg-agent/config/probe').out).toMatch(/Read-only file system/);
    for (const dir of ['/var/lib/postgresql/data', '/run/postgresql', '/tmp', '/dev/shm']) {
      expect({ dir, ...exec(`echo x > ${dir}/probe && rm ${dir}/probe`) }).toEqual({ dir, code: 0, out: '' });
    }
    // The data volume is the pod's data directory on this machine; the agent is the image's launcher and bundle.
    expect(exec('echo seen > /var/lib/postgresql/data/from-the-pod').code).toBe(0);
    expect(fs.readFileSync(path.join(h.pods[0].dataDir, 'from-the-pod'), 'utf8')).toBe('seen\n');
    expect(exec('cat /usr/local/bin/pg-agent; ls /opt/pg-agent/pg-agent.mjs').out).toBe(
      '#!/bin/sh\nexec node $PGC_NODE_FLAGS /opt/pg-agent/pg-agent.mjs "$@"\n/opt/pg-agent/pg-agent.mjs',
    );
    // The launcher put the manifest's node flags on node's command line: the instance runs without the JIT, and the
    // agent's log stays JSON (no V8 warning line).
    const agentCmdline = h.pods[0]
      .process!.pod.pids()
      .map(pid => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        } catch {
          return [];
        }
      })
      .find(argv => argv.includes('/opt/pg-agent/pg-agent.mjs') && argv.includes('instance'));
    expect(agentCmdline?.slice(0, 6)).toEqual([
      'node',
      '--max-semi-space-size=1',
      '--expose-gc',
      '--jitless',
      '--no-expose-wasm',
      '/opt/pg-agent/pg-agent.mjs',
    ]);
    for (const line of h.pods[0].process!.lines) expect(() => JSON.parse(line)).not.toThrow();
  });

  test('nothing the secrets Job, the agent or postgres logged hit the read-only root or a permission error', () => {
    const lines = h.processes.flatMap(p => p.lines);
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.filter(l => /EROFS|read-only file system|EACCES|permission denied/i.test(l))).toEqual([]);
  });

  test('killing the pod ends all of its processes at once', async () => {
    const p = h.pods[0].process!;
    const pids = p.pod.pids();
    expect(pids.length).toBeGreaterThanOrEqual(5);
    p.killPod();
    await p.waitPodGone(10000);
    expect(pids.filter(pid => fs.existsSync(`/proc/${pid}`) && status(pid).State?.[0] !== 'Z')).toEqual([]);
    expect(await p.exited).toBeNull();
  });
});
