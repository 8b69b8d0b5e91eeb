/**
 * The pod's own root: what a container runtime gives the agent's process and a plain process does not. Each pod's
 * processes run in a private mount namespace (`unshare --mount`) whose root is the image: an overlay of a small
 * image layer (the agent bundle where agent/Dockerfile puts it, the launcher at the manifest's `command`, the
 * image's `postgres` user) over this machine's root, read-only when the manifest's `readOnlyRootFilesystem` says so.
 * Only the manifest's volumes are mounted on it (emptyDir, `medium: Memory`, the data PVC, ConfigMap and Secret
 * volumes read-only), owned as the kubelet leaves them for the pod's `fsGroup`; the processes run as the
 * `runAsUser`/`runAsGroup` of the rendered securityContext, with `no_new_privs` and the dropped capabilities.
 *
 * Everything here is read from the manifest (securityContext, volumes, volumeMounts) and from agent/Dockerfile;
 * a manifest this cannot run faithfully (a volume type it does not know, added capabilities) fails the test.
 * docs/testing.md says what it covers and what it does not.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, podSpecOf, KubeObject } from './manifests';

/** The ServiceAccount token's directory in every pod that mounts one (the harness puts the kubeconfig there). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The user of the official postgres image (agent/Dockerfile: `USER 999`, the image's `postgres`). */
const IMAGE_USER = { name: 'postgres', home: '/var/lib/postgresql' };

/** PATH of the image: this major's server binaries first (agent/Dockerfile's `ENV PATH`), then the base image's. */
export function imagePath(pgBin: string): string {
  return `${pgBin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
}

/** The user, groups and privileges a container of the manifest runs with (pod securityContext, then container's). */
export interface PodSecurity {
  uid: number;
  gid: number;
  /** Supplementary groups: fsGroup and supplementalGroups, as the runtime adds them. */
  groups: number[];
  fsGroup?: number;
  readOnlyRootFilesystem: boolean;
  /** `allowPrivilegeEscalation: false`: the process and its children run with no_new_privs. */
  noNewPrivs: boolean;
  /** Capabilities dropped from the bounding set (`ALL` or names without `CAP_`). */
  dropCapabilities: string[];
}

export function podSecurity(obj: KubeObject, containerName: string): PodSecurity {
  const spec = podSpecOf(obj);
  const container = spec.containers.find((c: any) => c.name === containerName);
  const pod = spec.securityContext ?? {};
  const c = container?.securityContext ?? {};
  const uid = c.runAsUser ?? pod.runAsUser;
  const where = `${obj.kind}/${obj.metadata.name} container ${containerName}`;
  // The image says USER 999; a manifest that relies on that instead of saying it would run as 999 as well, but the
  // harness only runs what the manifest states.
  if (uid === undefined) throw new Error(`${where}: no runAsUser in the securityContext (the pod root runs what the manifest says)`);
  if ((c.runAsNonRoot ?? pod.runAsNonRoot) && uid === 0) throw new Error(`${where}: runAsNonRoot with runAsUser 0 (the kubelet refuses it)`);
  if (c.capabilities?.add?.length) throw new Error(`${where}: added capabilities are not supported by the pod root`);
  const fsGroup: number | undefined = pod.fsGroup;
  return {
    uid,
    gid: c.runAsGroup ?? pod.runAsGroup ?? uid,
    groups: [...new Set([...(fsGroup !== undefined ? [fsGroup] : []), ...(pod.supplementalGroups ?? [])])],
    fsGroup,
    readOnlyRootFilesystem: c.readOnlyRootFilesystem === true,
    noNewPrivs: c.allowPrivilegeEscalation === false,
    dropCapabilities: c.capabilities?.drop ?? [],
  };
}

/** One mount of the container: a host directory (or file) at a container path. */
export interface PodMount {
  containerPath: string;
  hostPath: string;
  readOnly: boolean;
}

/** What the kubelet makes of a volume the pod spec declares, given the directory the harness holds it in. */
export type VolumeKind = 'emptyDir' | 'memory' | 'claim' | 'configMap' | 'secret';

export function volumeKind(obj: KubeObject, name: string): VolumeKind {
  const spec = podSpecOf(obj);
  const volume = (spec.volumes ?? []).find((v: any) => v.name === name);
  if (!volume) {
    // A StatefulSet's volumeClaimTemplates give a PVC of that name.
    const claims = obj.kind === 'StatefulSet' ? (obj.spec.volumeClaimTemplates ?? []) : [];
    if (claims.some((t: any) => t.metadata?.name === name)) return 'claim';
    throw new Error(`${obj.kind}/${obj.metadata.name}: a volumeMount names volume ${name}, which the pod does not declare`);
  }
  if (volume.emptyDir) return volume.emptyDir.medium === 'Memory' ? 'memory' : 'emptyDir';
  if (volume.persistentVolumeClaim) return 'claim';
  if (volume.configMap) return 'configMap';
  if (volume.secret) return 'secret';
  throw new Error(`${obj.kind}/${obj.metadata.name}: volume ${name} has a type the pod root does not support (${Object.keys(volume).join(', ')})`);
}

/**
 * Gives a fresh volume directory the owner and mode the kubelet leaves for the pod: an emptyDir is world-writable
 * (0777), a new PVC's root is root's (0755); with an fsGroup both get that group, group rw and the setgid bit
 * (`fsGroupChangePolicy: OnRootMismatch` changes only a root that is not so yet).
 */
export function prepareVolumeDir(dir: string, kind: VolumeKind, fsGroup: number | undefined): void {
  const base = kind === 'claim' ? 0o755 : 0o777;
  if (fsGroup === undefined) {
    fs.chownSync(dir, 0, 0);
    fs.chmodSync(dir, base);
    return;
  }
  fs.chownSync(dir, 0, fsGroup);
  fs.chmodSync(dir, base | 0o070 | 0o2000);
}

/** The image facts the pod root reproduces, read from agent/Dockerfile so that the harness follows the image. */
export interface ImageLayout {
  /** The launcher's path and text (`printf '...' > /usr/local/bin/pg-agent`). */
  launcher: { path: string; text: string };
  /** Where the bundle is copied (`COPY --from=build /src/agent/dist/ /opt/pg-agent/`). */
  bundleDir: string;
  /** Where the native bindings go (`COPY --from=native /native/node_modules/ /opt/pg-agent/node_modules/`). */
  nodeModulesDir: string;
}

let layout: ImageLayout | undefined;
export function imageLayout(): ImageLayout {
  if (layout) return layout;
  const dockerfile = fs.readFileSync(path.join(ROOT, 'agent', 'Dockerfile'), 'utf8');
  const launcher = /printf '((?:[^'\\]|\\.)*)' > (\/\S+)/.exec(dockerfile);
  const bundle = /COPY --from=build \/src\/agent\/dist\/ (\/\S+?)\/?$/m.exec(dockerfile);
  const natives = /COPY --from=native \/native\/node_modules\/ (\/\S+?)\/?$/m.exec(dockerfile);
  if (!launcher || !bundle || !natives) {
    throw new Error('agent/Dockerfile: the pod root could not find the launcher (printf ... > path), the bundle COPY or the native bindings COPY');
  }
  // printf's escapes in the Dockerfile: \n and the shell's "$@".
  const text = launcher[1].replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
  layout = { launcher: { path: launcher[2], text }, bundleDir: bundle[1], nodeModulesDir: natives[1] };
  return layout;
}

/** Everything one pod root needs: the container's command line, its user, its mounts, the bundle to run. */
export interface PodRootPlan {
  /** The container's `command` and `args` as the manifest gives them. */
  argv: string[];
  security: PodSecurity;
  mounts: PodMount[];
  /** The agent bundle directory (agent/dist) and the node_modules its require() finds the native bindings in. */
  bundleDir: string;
  nodeModules: string;
  /** Host directory for this launch's image layer and mount point, removed by {@link removePodRoot}. */
  stage: string;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Overlay options are split at `,` and `:`; temporary paths never hold them, but say so if one does. */
function overlaySafe(p: string): string {
  if (/[,:]/.test(p)) throw new Error(`path ${p} cannot be an overlay layer (contains , or :)`);
  return p;
}

/**
 * Writes the image layer of one launch under `plan.stage` (on /dev/shm: a tmpfs, so that it may be an overlay layer
 * above the machine's root) and returns the command that builds the pod's root and runs the container in it.
 * The command keeps its PID through every step (unshare, sh, chroot and setpriv exec), so the process the harness
 * spawns is the agent itself and the pod's cgroup holds all of it.
 */
export function podRootCommand(plan: PodRootPlan): { command: string; args: string[] } {
  const image = imageLayout();
  const { stage, security: sec } = plan;
  const layer = path.join(stage, 'layer');
  const root = path.join(stage, 'root');
  fs.mkdirSync(root, { recursive: true });
  const inLayer = (p: string) => path.join(layer, p);
  // The launcher, as the image has it.
  fs.mkdirSync(path.dirname(inLayer(image.launcher.path)), { recursive: true });
  fs.writeFileSync(inLayer(image.launcher.path), image.launcher.text, { mode: 0o755 });
  // The image's user database: its postgres user is uid 999 (this machine's may be another uid, or none).
  fs.mkdirSync(inLayer('/etc'), { recursive: true });
  const keep = (file: string, id: number) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(l => l && !l.startsWith(`${IMAGE_USER.name}:`) && l.split(':')[2] !== String(id));
  fs.writeFileSync(
    inLayer('/etc/passwd'),
    [...keep('/etc/passwd', sec.uid), `${IMAGE_USER.name}:x:${sec.uid}:${sec.gid}::${IMAGE_USER.home}:/bin/bash`, ''].join('\n'),
    { mode: 0o644 },
  );
  fs.writeFileSync(inLayer('/etc/group'), [...keep('/etc/group', sec.gid), `${IMAGE_USER.name}:x:${sec.gid}:`, ''].join('\n'), { mode: 0o644 });
  // Mount points: the bundle's entries one by one (the image copies them into bundleDir, beside its node_modules),
  // then each volume's.
  const binds: PodMount[] = [];
  for (const entry of fs.readdirSync(plan.bundleDir)) {
    if (entry === 'node_modules') continue;
    binds.push({ containerPath: path.posix.join(image.bundleDir, entry), hostPath: path.join(plan.bundleDir, entry), readOnly: true });
  }
  binds.push({ containerPath: image.nodeModulesDir, hostPath: fs.realpathSync(plan.nodeModules), readOnly: true });
  binds.push(...plan.mounts);
  for (const m of binds) {
    const target = inLayer(m.containerPath);
    if (fs.existsSync(target)) continue;
    if (fs.statSync(m.hostPath).isDirectory()) fs.mkdirSync(target, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, '');
    }
  }

  const r = (p: string) => quote(path.join(root, p));
  const lines = ['set -eu'];
  // Without an upper layer an overlay is read-only; with one (readOnlyRootFilesystem false) writes go to /dev/shm.
  let options = `lowerdir=${overlaySafe(layer)}:/`;
  if (!sec.readOnlyRootFilesystem) {
    fs.mkdirSync(path.join(stage, 'upper'));
    fs.mkdirSync(path.join(stage, 'work'));
    options += `,upperdir=${overlaySafe(path.join(stage, 'upper'))},workdir=${overlaySafe(path.join(stage, 'work'))}`;
  }
  lines.push(`mount -t overlay pgc-pod-root -o ${quote(options)} ${quote(root)}`);
  lines.push(`mount --rbind /dev ${r('/dev')}`, `mount --rbind /proc ${r('/proc')}`, `mount --rbind /sys ${r('/sys')}`);
  lines.push(`mount -o remount,bind,ro ${r('/sys')}`);
  for (const m of binds) {
    lines.push(`mount --bind ${quote(m.hostPath)} ${r(m.containerPath)}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${r(m.containerPath)}`);
  }
  // chroot starts in the new root's /: the image sets no WORKDIR.
  lines.push(`exec chroot ${quote(root)} setpriv ${setprivArgs(sec).join(' ')} -- "$@"`);
  return { command: 'unshare', args: ['--mount', '--propagation', 'private', '/bin/sh', '-c', lines.join('\n'), 'pod-root', ...plan.argv] };
}

/** setpriv's arguments for the pod's user, groups, no_new_privs and dropped capabilities. */
function setprivArgs(sec: PodSecurity): string[] {
  const args = [`--reuid=${sec.uid}`, `--regid=${sec.gid}`, sec.groups.length ? `--groups=${sec.groups.join(',')}` : '--clear-groups'];
  if (sec.noNewPrivs) args.push('--no-new-privs');
  const drop = sec.dropCapabilities.map(c => (c.toUpperCase() === 'ALL' ? 'all' : c.toLowerCase().replace(/^cap_/, '')));
  if (drop.length) args.push(`--bounding-set=${drop.map(c => `-${c}`).join(',')}`, `--inh-caps=${drop.map(c => `-${c}`).join(',')}`);
  return args;
}

/**
 * `kubectl exec`: the command line that runs `argv` inside the running pod whose process is `pid` (its mount
 * namespace and root), as the pod's user with its privileges.
 */
export function podExecCommand(pid: number, sec: PodSecurity, argv: string[]): { command: string; args: string[] } {
  return { command: 'nsenter', args: [`--target=${pid}`, '--mount', '--root', '--wd', 'setpriv', ...setprivArgs(sec), '--', ...argv] };
}

/** The environment of a running process (a pod's, for an exec that gets the container's env as kubectl exec does). */
export function processEnv(pid: number): Record<string, string> {
  return Object.fromEntries(
    fs
      .readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** A fresh stage directory on /dev/shm for one launch. */
export function podRootStage(label: string): string {
  return fs.mkdtempSync(path.join('/dev/shm', `pgc-pod-${label.replace(/[^a-z0-9-]/gi, '')}-`));
}

/** Removes a stage once its pod is gone (its namespace, and the mounts in it, went with the pod's last process). */
export function removePodRoot(stage: string): void {
  fs.rmSync(stage, { recursive: true, force: true });
}

/** Why this machine cannot run pod roots, or undefined when it can (the tools are in ./system-tools.ts). */
export function podRootUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the pod root needs root (mount namespaces, bind mounts): run the tests as root, as .ci/run does';
  if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'the pod root needs overlayfs (modprobe overlay)';
  return undefined;
}
