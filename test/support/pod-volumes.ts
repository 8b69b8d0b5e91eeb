/**
 * The pod roots of one cluster harness (see ./pod-root.ts for the mechanism): the volumes of each pod as the
 * kubelet would make them from the pod spec, and the options that start a container of the manifests in its root.
 * The instances keep their data, run and config directories across restarts (the harness's PodHandle); every other
 * volume of an instance is kept per pod, and a Job's pod gets fresh ones.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { writeConfigMapVolume } from './config-map-volume';
import { KubeObject, ROOT, findObject, podSpecOf } from './manifests';
import { AGENT_BUNDLE, ContainerLaunch, PG_BIN, tempDir } from './pod-runner';
import {
  PodMount,
  PodRootPlan,
  SERVICE_ACCOUNT_DIR,
  VolumeKind,
  imagePath,
  podRootStage,
  podExecCommand,
  podRootUnavailable,
  podSecurity,
  prepareVolumeDir,
  processEnv,
  volumeKind,
} from './pod-root';

/** The home of the image's postgres user: HOME as the runtime sets it from the image's /etc/passwd. */
const IMAGE_HOME = '/var/lib/postgresql';

export interface PodRootLaunch {
  podRoot: Omit<PodRootPlan, 'argv'>;
  baseEnv: NodeJS.ProcessEnv;
}

export class PodRoots {
  /** Volume directories by `<pod>/<volume>` (instances), removed by {@link removeVolumes}. */
  private readonly dirs = new Map<string, string>();
  private readonly created: string[] = [];
  /** Host directory of the kubeconfig of each pod's last launch (mounted as the ServiceAccount token's). */
  private readonly serviceAccountDirs = new Map<string, string>();

  constructor(
    private readonly objects: KubeObject[],
    private readonly secretData: (name: string) => Record<string, string> | undefined,
  ) {
    const why = podRootUnavailable();
    if (why) throw new Error(why);
  }

  /** The pod user of a workload's first container (the harness chowns what it hands the pods to it). */
  user(obj: KubeObject): { uid: number; gid: number } {
    const sec = podSecurity(obj, podSpecOf(obj).containers[0].name);
    return { uid: sec.uid, gid: sec.gid };
  }

  /** Owner of ConfigMap/Secret volume files: root, group fsGroup (what the kubelet writes). */
  configOwner(obj: KubeObject): { uid: number; gid: number } {
    return { uid: 0, gid: podSecurity(obj, podSpecOf(obj).containers[0].name).fsGroup ?? 0 };
  }

  /** Gives an instance's data, run and config directories the kubelet's owner and mode. */
  prepareInstanceVolumes(statefulSet: KubeObject, dirs: Record<string, string>): void {
    const fsGroup = podSecurity(statefulSet, podSpecOf(statefulSet).containers[0].name).fsGroup;
    for (const [name, dir] of Object.entries(dirs)) {
      if (this.declares(statefulSet, name)) prepareVolumeDir(dir, volumeKind(statefulSet, name), fsGroup);
    }
  }

  /** Records where the kubeconfig of `podName` lives and returns its path inside the pod. */
  kubeconfigPath(hostFile: string, podName: string): string {
    this.serviceAccountDirs.set(podName, path.dirname(hostFile));
    return path.posix.join(SERVICE_ACCOUNT_DIR, path.basename(hostFile));
  }

  /**
   * The AgentProcess options that run `container` of `obj` as pod `podName` in its root: `volumes` gives the
   * directories the harness keeps for some volumes (by name); the others are made here from the pod spec.
   */
  launchOptions(
    obj: KubeObject,
    containerName: string,
    podName: string,
    launch: ContainerLaunch,
    opts: { volumes?: Record<string, string>; pgBin?: string } = {},
  ): PodRootLaunch {
    const spec = podSpecOf(obj);
    const container = spec.containers.find((c: any) => c.name === containerName);
    const security = podSecurity(obj, containerName);
    const keep = obj.kind === 'StatefulSet';
    const mounts: PodMount[] = (container.volumeMounts ?? []).map((m: any) => {
      if (m.subPath || m.subPathExpr) throw new Error(`${obj.kind}/${obj.metadata.name}: subPath mounts are not supported by the pod root`);
      const kind = volumeKind(obj, m.name);
      const hostPath = opts.volumes?.[m.name] ?? this.volumeDir(obj, podName, m.name, kind, security.fsGroup, keep);
      // The kubelet mounts ConfigMap and Secret volumes read-only whatever the volumeMount says.
      return { containerPath: m.mountPath, hostPath, readOnly: m.readOnly === true || kind === 'configMap' || kind === 'secret' };
    });
    const serviceAccountDir = this.serviceAccountDirs.get(podName);
    if (launch.env.KUBECONFIG?.startsWith(SERVICE_ACCOUNT_DIR + '/') && serviceAccountDir) {
      mounts.push({ containerPath: SERVICE_ACCOUNT_DIR, hostPath: serviceAccountDir, readOnly: true });
    }
    return {
      podRoot: {
        security,
        mounts,
        bundleDir: path.dirname(AGENT_BUNDLE),
        nodeModules: path.join(ROOT, 'node_modules'),
        stage: podRootStage(podName),
      },
      // What the runtime and the image give the process: the image's PATH and its user's HOME, the pod's hostname.
      baseEnv: { PATH: imagePath(opts.pgBin ?? PG_BIN), HOME: IMAGE_HOME, HOSTNAME: podName, LANG: 'C.UTF-8' },
    };
  }

  /**
   * `kubectl exec`: runs `argv` in the running pod whose first process is `pid` (its root, its user, the container's
   * env plus `env`), e.g. a tool CloudNativePG would run next to PGDATA.
   */
  exec(
    obj: KubeObject,
    pid: number,
    argv: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const { command, args } = podExecCommand(pid, podSecurity(obj, podSpecOf(obj).containers[0].name), argv);
    return new Promise(resolve => {
      const child = spawn(command, args, { env: { ...processEnv(pid), ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', d => (stdout += d));
      child.stderr.on('data', d => (stderr += d));
      child.on('exit', code => resolve({ code, stdout, stderr }));
    });
  }

  /** Removes every volume directory made here (after the pods are gone). */
  removeVolumes(): void {
    for (const dir of this.created) fs.rmSync(dir, { recursive: true, force: true });
    this.created.length = 0;
    this.dirs.clear();
  }

  private declares(obj: KubeObject, name: string): boolean {
    try {
      volumeKind(obj, name);
      return true;
    } catch {
      return false;
    }
  }

  /** A volume's directory as the kubelet makes it: an emptyDir on disk or in memory, a projected ConfigMap/Secret. */
  private volumeDir(obj: KubeObject, podName: string, name: string, kind: VolumeKind, fsGroup: number | undefined, keep: boolean): string {
    const key = `${podName}/${name}`;
    if (keep && this.dirs.has(key)) return this.dirs.get(key)!;
    // A claim the harness does not hold (a one-off pod made from the StatefulSet's template) gets a new, empty volume.
    // medium: Memory is a tmpfs: /dev/shm is one.
    const dir = kind === 'memory' ? fs.mkdtempSync(path.join('/dev/shm', `pgc-${name}-`)) : tempDir(`vol-${name}`);
    prepareVolumeDir(dir, kind, fsGroup);
    const volume = podSpecOf(obj).volumes.find((v: any) => v.name === name);
    const owner = { uid: 0, gid: fsGroup ?? 0 };
    if (kind === 'configMap') {
      const data = findObject(this.objects, 'ConfigMap', volume.configMap.name).data ?? {};
      writeConfigMapVolume(dir, data, owner, volume.configMap.defaultMode ?? 0o644);
    }
    if (kind === 'secret') {
      const data = this.secretData(volume.secret.secretName);
      if (!data && !volume.secret.optional)
        throw new Error(`pod ${podName}: secret ${volume.secret.secretName} not found (the kubelet would not start it)`);
      writeConfigMapVolume(dir, data ?? {}, owner, volume.secret.defaultMode ?? 0o644);
    }
    this.created.push(dir);
    if (keep) this.dirs.set(key, dir);
    return dir;
  }
}
