import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Client, ClientConfig } from 'pg';
import { CA_MOUNT, CLUSTER_CONFIG, LABELS, TLS_ENV, TlsSpec, tlsNames } from '../../lib/contract';
import { writeConfigMapVolume } from './config-map-volume';
import { KubeApiDouble } from './kube-api-double';
import { KubeObject, findObject, loadDist, podSpecOf } from './manifests';
import { AgentProcess, ContainerLaunch, PodMapping, containerLaunch, mapPath, podUser, tempDir } from './pod-runner';
import { PodRoots } from './pod-volumes';
import { ServiceProxy } from './service-proxy';

/**
 * Address plan: each pod gets its own PostgreSQL and HTTP port on loopback (free ports the kernel hands out);
 * each Service its own loopback IP with the real port (5432), in a /16 of 127/8 per jest worker.
 */
let serviceCounter = 0;
function nextServiceIp(): string {
  serviceCounter++;
  return `127.${10 + (process.pid % 240)}.${serviceCounter >> 8}.${serviceCounter & 255 || 1}`;
}
/**
 * A port for a pod's PostgreSQL or HTTP server, below the kernel's ephemeral range (32768-60999): a port the
 * kernel hands out for `listen(0)` is just as likely to be taken next as the local port of some outbound
 * connection (a walreceiver, an S3 request) before the agent binds it. Each jest worker (and each other process)
 * draws from its own stretch of 20000-32767, checking that the port is free on every address.
 */
let portCursor = -1;
export async function freePort(): Promise<number> {
  const worker = Number(process.env.JEST_WORKER_ID ?? 0);
  const span = 1500;
  const base = 20000 + ((worker || (process.pid % 7) + 1) % 8) * span;
  if (portCursor < 0) portCursor = Math.floor(Math.random() * span);
  for (let tries = 0; tries < span; tries++) {
    portCursor = (portCursor + 1) % span;
    const port = base + portCursor;
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${base}-${base + span - 1}`);
}

/** True when nothing listens on `port` (IPv6 any, which also covers IPv4 on a dual-stack host, as the agent binds). */
function bindable(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}

export interface PodHandle {
  name: string;
  ordinal: number;
  pgPort: number;
  httpPort: number;
  dataDir: string;
  runDir: string;
  /** The cluster ConfigMap's volume, as the kubelet projects it (see {@link ClusterHarness.updateConfigMap}). */
  configDir: string;
  process?: AgentProcess;
}

/**
 * A cluster from dist/ brought up as processes: the Kubernetes API double (with the Roles of the manifests
 * enforced), Service proxies selecting pods by their labels in the double, and agent processes started with the
 * exact command, args and env of the manifests.
 */
export class ClusterHarness {
  readonly api = new KubeApiDouble();
  readonly objects: KubeObject[];
  readonly statefulSet: KubeObject;
  readonly secretsJob: KubeObject;
  readonly namespace: string;
  readonly pods: PodHandle[] = [];
  readonly services: Record<string, ServiceProxy> = {};
  readonly serviceIps: Record<string, string> = {};
  /** The pod's user on this machine: the manifest's runAsUser with {@link podRoot}, else the local postgres user. */
  readonly user: { uid: number; gid: number } | undefined;
  /**
   * Each pod in its own root (read-only image, only the manifest's volumes writable, the manifest's user; see
   * ./pod-root.ts): `opts.podRoot`, or PGC_POD_ROOT=1 for every harness.
   */
  readonly podRoot?: PodRoots;
  private readonly kubeconfigDir = tempDir('kube');
  readonly processes: AgentProcess[] = [];
  /**
   * Rewrites environment values of every container the harness starts (instances and Job pods), after its own
   * mapping of ports and Services: e.g. the backup store's endpoint to the test S3 and its bucket to a fresh one.
   */
  rewriteEnv?: (name: string, value: string) => string;
  private readonly jobDirs: string[] = [];

  /** `manifests`: a file of dist/, or objects a test synthesized itself (a variant the homelab does not render). */
  constructor(
    readonly manifests: string | KubeObject[],
    readonly cluster: string,
    opts: { podRoot?: boolean } = {},
  ) {
    this.objects = typeof manifests === 'string' ? loadDist(manifests) : manifests;
    this.statefulSet = findObject(this.objects, 'StatefulSet', cluster);
    this.secretsJob = findObject(this.objects, 'Job', `${cluster}-secrets`);
    this.namespace = this.statefulSet.metadata.namespace ?? 'default';
    if (opts.podRoot ?? process.env.PGC_POD_ROOT === '1') {
      this.podRoot = new PodRoots(this.objects, name => this.secretData(name));
      this.user = this.podRoot.user(this.statefulSet);
    } else this.user = podUser();
    if (this.user) fs.chownSync(this.kubeconfigDir, this.user.uid, this.user.gid);
  }

  async start(): Promise<void> {
    await this.api.start();
    // RBAC exactly as rendered: each ServiceAccount gets the Role bound to it in the manifests.
    for (const binding of this.objects.filter(o => o.kind === 'RoleBinding')) {
      const role = findObject(this.objects, 'Role', binding.spec?.roleRef?.name ?? (binding as any).roleRef.name);
      for (const subject of (binding as any).subjects) this.api.grantRole(this.namespace, subject.name, role);
    }
    // The StatefulSet as applied (the agents read its spec.replicas), and the Pods its controller would create.
    this.api.seed({ ...this.statefulSet, metadata: { ...this.statefulSet.metadata, namespace: this.namespace } });
    const replicas = this.statefulSet.spec.replicas;
    for (let i = 0; i < replicas; i++) await this.addPod(i);
    // The Services of the instances (other components, e.g. the canary's web Service on port 80, are not proxied).
    const component = (o: KubeObject) => o.spec.selector?.[LABELS.component] ?? 'instance';
    for (const svc of this.objects.filter(o => o.kind === 'Service' && o.spec.clusterIP !== 'None' && component(o) === 'instance')) {
      const ip = nextServiceIp();
      const selector: Record<string, string> = svc.spec.selector;
      const proxy = new ServiceProxy(ip, svc.spec.ports[0].port, () => this.endpointFor(selector));
      await proxy.start();
      this.services[svc.metadata.name] = proxy;
      this.serviceIps[svc.metadata.name] = ip;
    }
    this.pollReadiness();
  }

  /**
   * Seeds pod `ordinal` as the StatefulSet controller creates it (the template's labels) and gives it a volume and
   * ports; a pod already known keeps its volume (a scale-up after a scale-down finds its claim again).
   */
  async addPod(ordinal: number): Promise<PodHandle> {
    const name = `${this.cluster}-${ordinal}`;
    this.api.seed({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: this.namespace, labels: { ...this.statefulSet.spec.template.metadata.labels } },
      spec: {},
      status: { podIP: '127.0.0.1' },
    });
    if (this.pods[ordinal]) return this.pods[ordinal];
    const dataDir = tempDir(`data${ordinal}`, this.user);
    const runDir = tempDir(`run${ordinal}`, this.user);
    const configDir = tempDir(`config${ordinal}`, this.user);
    // In a pod root the kubelet's owners and modes (root, the fsGroup), not the pod user's.
    this.podRoot?.prepareInstanceVolumes(this.statefulSet, { pgdata: dataDir, run: runDir, [CLUSTER_CONFIG.volumeName]: configDir });
    writeConfigMapVolume(configDir, this.configMapData(), this.podRoot?.configOwner(this.statefulSet) ?? this.user);
    this.pods[ordinal] = { name, ordinal, pgPort: await freePort(), httpPort: await freePort(), dataDir, runDir, configDir };
    return this.pods[ordinal];
  }

  /**
   * `kubectl scale` (or a new `instances`/`hibernate` from git): sets the StatefulSet's spec.replicas in the API.
   * `manifests` (re-synthesized) grants their Role too, as GitOps applies it with the StatefulSet. Starting and
   * stopping pods stays with the test (the controller's part).
   */
  scaleStatefulSet(replicas: number, manifests?: KubeObject[]): void {
    const current = this.api.get('statefulsets', this.namespace, this.cluster)!;
    this.api.seed({ ...current, spec: { ...current.spec, replicas } });
    if (manifests) {
      for (const binding of manifests.filter(o => o.kind === 'RoleBinding')) {
        const role = findObject(manifests, 'Role', (binding as any).roleRef.name);
        for (const subject of (binding as any).subjects) this.api.grantRole(this.namespace, subject.name, role);
      }
    }
  }

  /** First pod whose labels (in the API double) match the selector and whose agent is running. */
  private endpointFor(selector: Record<string, string>): number | undefined {
    for (const pod of this.pods) {
      const obj = this.api.get('pods', this.namespace, pod.name) as KubeObject | undefined;
      const labels = obj?.metadata.labels ?? {};
      // As kube-proxy does: only Ready endpoints of pods matching the selector receive connections.
      if (
        pod.process &&
        pod.process.child.exitCode === null &&
        this.ready.get(pod.name) &&
        Object.entries(selector).every(([k, v]) => labels[k] === v)
      )
        return pod.pgPort;
    }
    return undefined;
  }

  /** Readiness as the kubelet sees it: each running pod's /readyz, polled a few times a second. */
  private readonly ready = new Map<string, boolean>();
  private readinessTimer?: NodeJS.Timeout;
  private pollReadiness(): void {
    const poll = async () => {
      await Promise.all(
        this.pods.map(async p => {
          const running = p.process && p.process.child.exitCode === null;
          const ready = !!running && (await this.httpGet(p.ordinal, '/readyz')).status === 200;
          this.ready.set(p.name, ready);
          this.reportReadiness(p.name, ready);
        }),
      );
      this.readinessTimer = setTimeout(poll, 250);
      this.readinessTimer.unref();
    };
    void poll();
  }

  /** The kubelet's part: the pod's Ready condition in the API, as peers and controllers read it. */
  private reportReadiness(name: string, ready: boolean): void {
    const obj = this.api.get('pods', this.namespace, name) as KubeObject | undefined;
    if (!obj) return;
    const status = ready ? 'True' : 'False';
    const conditions: any[] = obj.status?.conditions ?? [];
    if (conditions.find(c => c.type === 'Ready')?.status === status) return;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.api.seed({
      ...obj,
      status: {
        ...(obj.status ?? {}),
        conditions: [...conditions.filter(c => c.type !== 'Ready'), { type: 'Ready', status, lastTransitionTime: now }],
      },
    } as KubeObject);
  }

  /** Ready as the Services see it (the last readiness poll). */
  isReady(name: string): boolean {
    return !!this.ready.get(name);
  }

  /** The data of the ConfigMap the instances mount (as rendered, or as last updated). */
  configMapData(): Record<string, string> {
    const volume = this.statefulSet.spec.template.spec.volumes?.find((v: any) => v.name === CLUSTER_CONFIG.volumeName);
    // Manifests of constructs before the ConfigMap (parameters in PGC_PARAMETERS) mount nothing.
    return volume ? { ...findObject(this.objects, 'ConfigMap', volume.configMap.name).data } : {};
  }

  /**
   * `kubectl apply` of a changed ConfigMap, then the kubelet's refresh of each pod's volume (the atomic `..data`
   * swap); `ordinals` picks the pods refreshed now (the kubelet refreshes each pod on its own schedule).
   */
  updateConfigMap(data: Record<string, string>, ordinals: number[] = this.pods.map(p => p.ordinal)): void {
    const volume = this.statefulSet.spec.template.spec.volumes.find((v: any) => v.name === CLUSTER_CONFIG.volumeName);
    findObject(this.objects, 'ConfigMap', volume.configMap.name).data = { ...data };
    for (const i of ordinals) writeConfigMapVolume(this.pods[i].configDir, data, this.podRoot?.configOwner(this.statefulSet) ?? this.user);
  }

  /** Creates a Secret the user manages (e.g. the S3 credentials of a BackupStore), as kubectl would. */
  seedSecret(name: string, data: Record<string, string>): void {
    this.api.seed({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: this.namespace },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    } as any);
  }

  podLabels(name: string): Record<string, string> {
    return (this.api.get('pods', this.namespace, name) as KubeObject | undefined)?.metadata.labels ?? {};
  }

  secretData(name: string): Record<string, string> | undefined {
    const s = this.api.get('secrets', this.namespace, name) as any;
    if (!s) return undefined;
    return Object.fromEntries(Object.entries<string>(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  }

  /** A kubeconfig with a token bound to the pod (projected ServiceAccount token), so faults can cut off one pod. */
  private kubeconfigFor(serviceAccount: string, podName: string): string {
    return this.api.writeKubeconfig(
      fs.mkdtempSync(path.join(this.kubeconfigDir, 'sa-')),
      this.api.podToken(this.namespace, serviceAccount, podName),
      this.namespace,
    );
  }

  private mapping(podName: string, serviceAccount: string, extra: Partial<PodMapping> = {}): PodMapping {
    const kubeconfig = this.kubeconfigFor(serviceAccount, podName);
    if (this.user) {
      fs.chownSync(path.dirname(kubeconfig), this.user.uid, this.user.gid);
      fs.chownSync(kubeconfig, this.user.uid, this.user.gid);
    }
    return {
      podName,
      namespace: this.namespace,
      paths: {},
      secret: (name, key) => this.secretData(name)?.[key],
      // In a pod root the kubeconfig is where the ServiceAccount token would be mounted.
      extraEnv: { KUBECONFIG: this.podRoot ? this.podRoot.kubeconfigPath(kubeconfig, podName) : kubeconfig },
      ...extra,
      // In a pod root the container paths are the pod's own: nothing to map.
      ...(this.podRoot ? { paths: {} } : {}),
    };
  }

  /** Runs the secrets Job's container to completion. */
  async runSecretsJob(): Promise<AgentProcess> {
    const spec = this.secretsJob.spec.template.spec;
    const podName = `${this.cluster}-secrets-abcde`;
    const launch = containerLaunch(
      this.secretsJob,
      spec.containers[0].name,
      this.mapping(podName, spec.serviceAccountName, { rewriteEnv: (name, value) => this.loopbackTls(name, value) }),
    );
    const p = new AgentProcess(launch, {
      user: this.user,
      ...this.podRoot?.launchOptions(this.secretsJob, spec.containers[0].name, podName, launch),
    });
    this.processes.push(p);
    await p.exited;
    return p;
  }

  /**
   * Starts the instance pod with this ordinal: the StatefulSet's container, volumes on temp dirs.
   * `opts.pgBin` puts another directory of PostgreSQL server binaries first on PATH (the image of another major);
   * by default the agent finds those of PG_BIN, as before.
   */
  startInstance(
    ordinal: number,
    extraEnv: Record<string, string> = {},
    opts: {
      pgBin?: string;
      rewriteEnv?: (name: string, value: string) => string;
      /** The StatefulSet revision the pod was made from (the controller simulation's); the manifest's by default. */
      statefulSet?: KubeObject;
    } = {},
  ): AgentProcess {
    const pod = this.pods[ordinal];
    const launch = this.instanceLaunch(ordinal, opts.rewriteEnv, opts.statefulSet).launch;
    launch.env = { ...launch.env, ...extraEnv };
    const baseEnv = opts.pgBin ? { PATH: `${opts.pgBin}:${process.env.PATH}`, HOME: os.tmpdir(), LANG: 'C.UTF-8' } : undefined;
    pod.process = new AgentProcess(launch, { user: this.user, baseEnv, ...this.instanceRoot(ordinal, launch, opts.pgBin, opts.statefulSet) });
    this.processes.push(pod.process);
    return pod.process;
  }

  /** The pod root options of an instance container: the pod's volumes (data, run, config kept across restarts). */
  private instanceRoot(ordinal: number, launch: ContainerLaunch, pgBin?: string, statefulSet = this.statefulSet) {
    const pod = this.pods[ordinal];
    const volumes = { pgdata: pod.dataDir, run: pod.runDir, [CLUSTER_CONFIG.volumeName]: pod.configDir };
    return this.podRoot?.launchOptions(statefulSet, statefulSet.spec.template.spec.containers[0].name, pod.name, launch, { volumes, pgBin });
  }

  /** The instance container of pod `ordinal` as the manifest gives it, its volumes mapped to the pod's directories. */
  private instanceLaunch(
    ordinal: number,
    rewriteEnv?: (name: string, value: string) => string,
    statefulSet = this.statefulSet,
  ): { launch: ContainerLaunch; paths: Record<string, string> } {
    const pod = this.pods[ordinal];
    const spec = statefulSet.spec.template.spec;
    const container = spec.containers[0];
    const mountOf = (volume: string) => container.volumeMounts.find((m: any) => m.name === volume).mountPath;
    const rw = `${this.cluster}-rw`;
    const paths: Record<string, string> = { [mountOf('pgdata')]: pod.dataDir, [mountOf('run')]: pod.runDir, [mountOf('tmp')]: pod.runDir };
    if (container.volumeMounts.some((m: any) => m.name === CLUSTER_CONFIG.volumeName)) paths[mountOf(CLUSTER_CONFIG.volumeName)] = pod.configDir;
    const launch = containerLaunch(
      statefulSet,
      container.name,
      this.mapping(pod.name, spec.serviceAccountName, {
        paths,
        rewriteEnv: (name, value) => {
          if (name === 'PGC_PORT') return String(pod.pgPort);
          if (name === 'PGC_HTTP_PORT') return String(pod.httpPort);
          if (name === 'PGC_PRIMARY_HOST' && value === rw) return `${this.serviceIps[rw]}:5432`;
          return this.userRewrite(name, value, rewriteEnv);
        },
      }),
    );
    return { launch, paths };
  }

  /**
   * `kubectl exec <pod> -- pg-agent <args>`: another agent command in the instance container of pod `ordinal`, with
   * its environment and volumes; container paths in `args` are mapped like the volumes. Resolves when it exited.
   */
  async execInPod(ordinal: number, args: string[]): Promise<AgentProcess> {
    const { launch, paths } = this.instanceLaunch(ordinal);
    launch.args = [launch.args[0], ...args.map(a => (this.podRoot ? a : mapPath(a, paths)))];
    const p = new AgentProcess(launch, { user: this.user, label: 'exec', ...this.instanceRoot(ordinal, launch) });
    this.processes.push(p);
    await p.exited;
    return p;
  }

  /** The harness-wide hook, then a per-call one. */
  private userRewrite(name: string, value: string, extra?: (name: string, value: string) => string): string {
    const v = this.rewriteEnv ? this.rewriteEnv(name, this.loopbackTls(name, value)) : this.loopbackTls(name, value);
    return extra ? extra(name, v) : v;
  }

  /**
   * Starts the pod of a Job or CronJob of the manifests (by object or name) running `container` (the first by
   * default): its command, args and env exactly, with Service names (`<svc>` or `<svc>:<port>`) mapped to the
   * Services' loopback addresses, emptyDir volumes on temp dirs, then {@link rewriteEnv} and `opts.rewriteEnv`.
   */
  startJob(
    job: KubeObject | string,
    container?: string,
    opts: {
      rewriteEnv?: (name: string, value: string) => string;
      extraEnv?: Record<string, string>;
      /** Other agent args than the manifest's (a one-off Job made from this one, e.g. `list --json`). */
      args?: string[];
    } = {},
  ): AgentProcess {
    const obj =
      typeof job === 'string'
        ? (this.objects.find(o => (o.kind === 'Job' || o.kind === 'CronJob') && o.metadata.name === job) ?? findObject(this.objects, 'Job', job))
        : job;
    const spec = podSpecOf(obj);
    const c = container ? spec.containers.find((x: any) => x.name === container) : spec.containers[0];
    if (!c) throw new Error(`${obj.kind}/${obj.metadata.name} has no container ${container}`);
    const paths: Record<string, string> = {};
    // In a pod root the volumes are made from the pod spec (./pod-volumes.ts), not as one directory per mount.
    for (const m of this.podRoot ? [] : (c.volumeMounts ?? [])) {
      const dir = tempDir(`job-${m.name}`, this.user);
      this.jobDirs.push(dir);
      paths[m.mountPath] = dir;
      // The cluster CA, as the kubelet mounts the Secret volume.
      const ca = m.name === CA_MOUNT.volumeName && this.secretData(tlsNames.caSecret(this.cluster))?.['ca.crt'];
      if (ca) fs.writeFileSync(path.join(dir, 'ca.crt'), ca, { mode: 0o644 });
    }
    const suffix = Math.random().toString(36).slice(2, 7);
    const launch = containerLaunch(
      obj,
      c.name,
      this.mapping(`${obj.metadata.name}-${suffix}`, spec.serviceAccountName, {
        // A pod without its ServiceAccount token has no way to the API.
        ...(spec.automountServiceAccountToken === false ? { extraEnv: {} } : {}),
        paths,
        rewriteEnv: (name, value) => {
          const [host, port] = value.split(':');
          const mapped = this.serviceIps[host] && (port === undefined || /^\d+$/.test(port)) ? `${this.serviceIps[host]}:${port ?? 5432}` : value;
          return this.userRewrite(name, mapped, opts.rewriteEnv);
        },
      }),
    );
    launch.env = { ...launch.env, ...(opts.extraEnv ?? {}) };
    if (opts.args) launch.args = [launch.args[0], ...opts.args];
    const p = new AgentProcess(launch, { user: this.user, ...this.podRoot?.launchOptions(obj, c.name, `${obj.metadata.name}-${suffix}`, launch) });
    this.processes.push(p);
    return p;
  }

  /** {@link startJob}, waited for: resolves with the finished process (`await p.exited` gives its code). */
  async runJob(job: KubeObject | string, container?: string, opts: Parameters<ClusterHarness['startJob']>[2] = {}): Promise<AgentProcess> {
    const p = this.startJob(job, container, opts);
    await p.exited;
    return p;
  }

  async httpGet(ordinal: number, urlPath: string): Promise<{ status: number; body: string }> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.pods[ordinal].httpPort}${urlPath}`);
      return { status: res.status, body: await res.text() };
    } catch {
      return { status: 0, body: '' };
    }
  }

  async waitReady(ordinal: number, timeoutMs = 60000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = { status: 0, body: '' };
    while (Date.now() < deadline) {
      last = await this.httpGet(ordinal, '/readyz');
      // Ready as the Services see it: the kubelet's (this harness's) poll has seen it too, as Endpoints would.
      if (last.status === 200 && this.ready.get(this.pods[ordinal].name)) return;
      const p = this.pods[ordinal].process;
      if (p && p.child.exitCode !== null) throw new Error(`instance ${ordinal} exited ${p.child.exitCode}:\n${p.lines.slice(-30).join('\n')}`);
      await sleep(250);
    }
    const lines = this.pods[ordinal].process?.lines ?? [];
    const agent = lines.filter(l => !l.includes('"source":"postgres"')).slice(-25);
    const postgres = lines.filter(l => l.includes('"source":"postgres"')).slice(-8);
    throw new Error(`instance ${ordinal} not ready: ${last.status} ${last.body}\nagent:\n${agent.join('\n')}\npostgres:\n${postgres.join('\n')}`);
  }

  /**
   * The Services are loopback IPs here (not names a resolver knows), so the generated certificate also names them
   * and 127.0.0.1 (the pods' direct ports): the agents' verify-full then checks the same chain as in a cluster.
   */
  private loopbackTls(name: string, value: string): string {
    if (name !== TLS_ENV) return value;
    const spec = JSON.parse(value) as TlsSpec;
    if (!spec.generate) return value;
    const extraSans = [...spec.generate.extraSans, '127.0.0.1', ...Object.values(this.serviceIps).sort()];
    return JSON.stringify({ ...spec, generate: { ...spec.generate, extraSans } });
  }

  /** TLS for test clients: verified against the cluster CA once it exists (host names are loopback IPs here). */
  clientSsl(): ClientConfig['ssl'] {
    const ca = this.secretData(tlsNames.caSecret(this.cluster))?.['ca.crt'];
    return ca ? { ca } : { rejectUnauthorized: false };
  }

  /** A client config for an app Secret's `uri`, with the Service host resolved to its loopback IP. */
  connectionFromUri(uri: string): ClientConfig {
    const u = new URL(uri);
    const service = u.hostname.split('.')[0];
    return {
      host: this.serviceIps[service],
      port: Number(u.port),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database: u.pathname.slice(1),
      connectionTimeoutMillis: 5000,
      ssl: this.clientSsl(),
    };
  }

  /** Direct connection to one instance (as `kubectl port-forward` would give). */
  direct(ordinal: number, user: string, password: string, database: string): ClientConfig {
    return { host: '127.0.0.1', port: this.pods[ordinal].pgPort, user, password, database, connectionTimeoutMillis: 5000, ssl: this.clientSsl() };
  }

  async stop(): Promise<void> {
    if (this.readinessTimer) clearTimeout(this.readinessTimer);
    for (const p of this.processes) p.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.processes.map(p => p.exited)),
      new Promise(r => {
        timer = setTimeout(r, 30000);
      }),
    ]);
    clearTimeout(timer);
    // Whatever did not stop goes as a whole pod (postgres children included), and the pods' cgroups with it.
    for (const p of this.processes) {
      p.thawPod();
      p.killPod();
      await p.waitPodGone().catch(() => undefined);
      p.pod.release();
    }
    for (const s of Object.values(this.services)) await s.stop();
    await this.api.stop();
    for (const pod of this.pods) {
      fs.rmSync(pod.dataDir, { recursive: true, force: true });
      fs.rmSync(pod.runDir, { recursive: true, force: true });
      fs.rmSync(pod.configDir, { recursive: true, force: true });
    }
    fs.rmSync(this.kubeconfigDir, { recursive: true, force: true });
    for (const dir of this.jobDirs) fs.rmSync(dir, { recursive: true, force: true });
    this.podRoot?.removeVolumes();
  }
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export async function query<T = any>(conn: ClientConfig, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client(conn);
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 20000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (e) {
      lastErr = e;
      await sleep(intervalMs);
    }
  }
  throw lastErr;
}

export { LABELS };
