import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { NODE_FLAGS_ENV } from '../../lib/contract';
import { KubeObject, ROOT, podSpecOf } from './manifests';
import { PodProcesses } from './pod-cgroup';
import { PodRootPlan, podRootCommand, removePodRoot } from './pod-root';

/** The agent bundle the tests run in place of the image's `/usr/local/bin/pg-agent`. */
export const AGENT_BUNDLE = path.join(
  process.env.PGC_AGENT_DIST ? path.resolve(ROOT, process.env.PGC_AGENT_DIST) : path.join(ROOT, 'agent', 'dist'),
  'pg-agent.mjs',
);

export interface PodMapping {
  /** Value of metadata.name for the downward API (e.g. `keycloak-pg-cluster-0`). */
  podName: string;
  namespace: string;
  /** Container path prefix → host directory (volumes mapped to temporary directories). */
  paths: Record<string, string>;
  /** Resolves a secretKeyRef as the kubelet would (from the API double's Secrets). */
  secret?: (name: string, key: string) => string | undefined;
  /** Extra environment the pod would get from Kubernetes itself (e.g. KUBECONFIG standing in for the SA token). */
  extraEnv?: Record<string, string>;
  /** Environment values to rewrite, e.g. a Service host name to 127.0.0.1. */
  rewriteEnv?: (name: string, value: string) => string;
}

export interface ContainerLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** The container's `command[0]` in the manifest (what a pod root runs in place of the bundle). */
  manifestCommand?: string;
}

/** Maps a container path to its host directory using the longest matching prefix. */
export function mapPath(value: string, paths: Record<string, string>): string {
  const prefix = Object.keys(paths)
    .sort((a, b) => b.length - a.length)
    .find(p => value === p || value.startsWith(p + '/'));
  return prefix ? paths[prefix] + value.slice(prefix.length) : value;
}

/**
 * Turns a container of a synthesized manifest into the process the tests start: exactly its command, args and
 * env, with the image's agent binary replaced by the bundle, container paths by temporary directories, and
 * fieldRef/secretKeyRef resolved the way the kubelet does. A secretKeyRef that cannot be resolved fails, as the
 * kubelet would refuse to start the container.
 */
export function containerLaunch(obj: KubeObject, containerName: string, m: PodMapping): ContainerLaunch {
  const spec = podSpecOf(obj);
  const container = spec.containers.find((c: any) => c.name === containerName);
  if (!container) throw new Error(`${obj.kind}/${obj.metadata.name} has no container ${containerName}`);
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    let value: string | undefined;
    if (e.value !== undefined) value = e.value;
    else if (e.valueFrom?.fieldRef) {
      const field = e.valueFrom.fieldRef.fieldPath;
      value = field === 'metadata.name' ? m.podName : field === 'metadata.namespace' ? m.namespace : undefined;
      if (value === undefined) throw new Error(`unsupported fieldRef ${field}`);
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      value = m.secret?.(ref.name, ref.key);
      if (value === undefined) {
        if (ref.optional) continue;
        throw new Error(`CreateContainerConfigError: secret ${ref.name} key ${ref.key} not found (env ${e.name})`);
      }
    } else throw new Error(`unsupported env source for ${e.name}`);
    const mapped = mapPath(value as string, m.paths);
    env[e.name] = m.rewriteEnv ? m.rewriteEnv(e.name, mapped) : mapped;
  }
  const [command, ...commandArgs]: string[] = container.command ?? [];
  if (command !== '/usr/local/bin/pg-agent') throw new Error(`unexpected command ${command}`);
  return {
    command: process.execPath,
    args: [AGENT_BUNDLE, ...commandArgs, ...(container.args ?? [])],
    env: { ...env, ...(m.extraEnv ?? {}) },
    manifestCommand: command,
  };
}

/** A running agent process with its output collected (JSON log lines). */
export class AgentProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  /** Its stdout alone (a command's output, e.g. `status -o json`; the log goes to stderr). */
  stdout = '';
  readonly exited: Promise<number | null>;
  /** Every process of the "pod" (the agent, postgres and all its children, whatever their session). */
  readonly pod: PodProcesses;
  /** The pod root's stage directory (see ./pod-root.ts), removed once the pod is gone. */
  private readonly podRootStage?: string;

  /**
   * `opts.podRoot`: runs the container in its own root (read-only image, the manifest's volumes, its user): the
   * plan's mounts and user replace `user` and the path mapping; `launch.args` after the bundle are the container's.
   */
  constructor(
    launch: ContainerLaunch,
    opts: {
      cwd?: string;
      baseEnv?: NodeJS.ProcessEnv;
      user?: { uid: number; gid: number };
      label?: string;
      podRoot?: Omit<PodRootPlan, 'argv'>;
    } = {},
  ) {
    const base = opts.baseEnv ?? { PATH: `${PG_BIN}:${process.env.PATH}`, HOME: os.tmpdir(), LANG: 'C.UTF-8' };
    let { command, args } = launch;
    if (opts.podRoot) {
      if (!launch.manifestCommand) throw new Error("a pod root runs the manifest's command: use containerLaunch()");
      ({ command, args } = podRootCommand({ ...opts.podRoot, argv: [launch.manifestCommand, ...launch.args.slice(1)] }));
      this.podRootStage = opts.podRoot.stage;
    } else if (launch.manifestCommand) {
      // As the image's launcher does (agent/Dockerfile): the agent's node flags go on node's command line.
      args = [...(launch.env[NODE_FLAGS_ENV] ?? '').split(' ').filter(Boolean), ...args];
    }
    const user = opts.podRoot ? undefined : opts.user;
    this.child = spawn(command, args, {
      env: { ...base, ...launch.env },
      cwd: opts.cwd ?? (opts.podRoot ? '/' : os.tmpdir()),
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: user?.uid,
      gid: user?.gid,
      // Its own process group, like a container: killPod() ends the agent and its postgres together.
      detached: true,
    });
    // Into the pod's cgroup before the agent (tens of milliseconds of Node start-up) can start anything.
    this.pod = new PodProcesses(this.child.pid!, opts.label ?? 'agent');
    const collect = (buf: Buffer) => {
      for (const l of buf.toString().split('\n')) if (l.trim()) this.lines.push(l);
    };
    this.child.stdout!.on('data', (buf: Buffer) => {
      this.stdout += buf.toString();
      collect(buf);
    });
    this.child.stderr!.on('data', collect);
    this.exited = new Promise(resolve => this.child.on('exit', code => resolve(code)));
  }

  /** True while any process of the pod lives (the agent may be gone while postgres children linger). */
  podAlive(): boolean {
    return this.pod.pids().length > 0;
  }

  /** Parsed JSON log entries (non-JSON lines, e.g. from postgres itself, are kept as `{ raw }`). */
  logs(): any[] {
    return this.lines.map(l => {
      try {
        return JSON.parse(l);
      } catch {
        return { raw: l };
      }
    });
  }

  async waitForLog(pred: (entry: any) => boolean, timeoutMs = 30000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.logs().find(pred);
      if (hit) return hit;
      if (this.child.exitCode !== null)
        throw new Error(`agent exited (${this.child.exitCode}) before the expected log line:\n${this.lines.slice(-20).join('\n')}`);
      await new Promise(r => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for a log line:\n${this.lines.slice(-20).join('\n')}`);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null) this.child.kill(signal);
  }

  /**
   * Kills every process of the "container" (the agent, postgres and every backend, walsender and walreceiver) at
   * once, as a container kill or a node failure would.
   */
  killPod(): void {
    this.pod.kill();
  }

  /** Freezes every process of the pod (a stalled node, `docker pause`); thawPod() resumes them. */
  freezePod(): void {
    this.pod.setFrozen(true);
  }

  thawPod(): void {
    this.pod.setFrozen(false);
  }

  /** Waits until no process of the pod is left (a kill is delivered asynchronously), then drops its cgroup. */
  async waitPodGone(timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.podAlive() && Date.now() < deadline) await new Promise(r => setTimeout(r, 20));
    if (this.podAlive()) throw new Error(`pod processes still alive after ${timeoutMs} ms: ${this.pod.pids().join(' ')}`);
    this.pod.release();
    if (this.podRootStage) removePodRoot(this.podRootStage);
  }
}

/** A fresh temporary directory under the OS temp dir, removed by the caller; owned by `user` when given. */
export function tempDir(prefix: string, user?: { uid: number; gid: number }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgc-${prefix}-`));
  if (user) fs.chownSync(dir, user.uid, user.gid);
  return dir;
}

/** The PostgreSQL server binaries, on PATH in the image; Debian keeps them here. */
export const PG_BIN = process.env.PGC_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * The user the pod runs as (uid 999 = postgres in the image). PostgreSQL refuses to run as root, so tests running
 * as root start the agent as the local `postgres` user; as any other user they run it as themselves.
 */
export function podUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find(l => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root needs a "postgres" user (apt-get install postgresql-15 creates it)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
