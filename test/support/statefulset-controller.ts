/**
 * A simulation of the StatefulSet controller and the kubelet for one cluster of the harness, with the semantics a
 * rollout depends on:
 * - revisions: `status.updateRevision` is `<sts>-<hash of the template>`; each pod carries the revision it was made
 *   from (`controller-revision-hash`) and runs that revision's container (command, args, env);
 * - `updateStrategy`: `OnDelete` replaces nothing by itself; `RollingUpdate` deletes the highest outdated ordinal once
 *   every pod is Running and Ready, one at a time (maxUnavailable 1), and waits for its successor to be Ready;
 * - graceful deletion (through the API, `kubectl delete pod`, or an eviction the PodDisruptionBudget allows): the pod
 *   keeps its object with `deletionTimestamp`, its container gets SIGTERM and, after
 *   `terminationGracePeriodSeconds`, the whole pod is killed; the object goes once every process is gone and the
 *   controller recreates the pod (same name, same volume) from the update revision; a node drain can hold the
 *   recreation (the pod scheduled elsewhere, its image pulled);
 * - a container that exits while its pod is not being deleted is restarted in place (restartPolicy Always, back-off
 *   1 s doubling to 10 s), as the kubelet does;
 * - status: replicas, readyReplicas, updatedReplicas, currentRevision, updateRevision, observedGeneration.
 */
import { createHash } from 'crypto';
import { LABELS } from '../../lib/contract';
import { ClusterHarness, sleep } from './cluster-harness';
import { KubeObject } from './manifests';

export interface ControllerEvent {
  /** ms since the controller started. */
  at: number;
  pod: string;
  what: 'created' | 'deleting' | 'sigterm' | 'killed after the grace period' | 'gone' | 'container restarted' | 'eviction refused';
  revision?: string;
}

export class StatefulSetController {
  readonly events: ControllerEvent[] = [];
  private spec: KubeObject;
  private readonly revisions = new Map<string, KubeObject>();
  private readonly podRevision = new Map<string, string>();
  /** Pods being created (a hold for a drain) or stopped: the reconcile loop leaves them alone. */
  private readonly busy = new Set<string>();
  private readonly holds = new Map<string, number>();
  private generation = 1;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly t0 = Date.now();

  constructor(private readonly h: ClusterHarness) {
    this.spec = JSON.parse(JSON.stringify(h.statefulSet));
  }

  get name(): string {
    return this.spec.metadata.name;
  }

  get strategy(): string {
    return this.spec.spec.updateStrategy?.type ?? 'RollingUpdate';
  }

  /** The revision of the current template. */
  get updateRevision(): string {
    return revisionOf(this.spec);
  }

  /** The revision pod `name` was made from (undefined while it does not exist). */
  revisionOf(name: string): string | undefined {
    return this.podRevision.get(name);
  }

  /** Call after `h.start()` and the secrets Job: creates the pods (all at once: podManagementPolicy Parallel). */
  start(): void {
    this.revisions.set(this.updateRevision, this.spec);
    this.writeStatefulSet();
    this.h.api.setPodTerminator(pod => void this.terminate(pod as any));
    for (const pod of this.h.pods) this.create(pod.ordinal);
    this.timer = setInterval(() => this.reconcile(), 200);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.h.api.setPodTerminator(undefined);
  }

  /** GitOps applies a new StatefulSet (e.g. from a new synth): a template change makes a new update revision. */
  apply(next: KubeObject): void {
    this.spec = JSON.parse(JSON.stringify(next));
    this.generation++;
    this.revisions.set(this.updateRevision, this.spec);
    this.writeStatefulSet();
  }

  /** `kubectl rollout restart`: a template annotation with the time, so every pod is outdated. */
  rolloutRestart(): string {
    const next = JSON.parse(JSON.stringify(this.spec));
    next.spec.template.metadata.annotations = {
      ...(next.spec.template.metadata.annotations ?? {}),
      'kubectl.kubernetes.io/restartedAt': new Date().toISOString(),
    };
    this.apply(next);
    return this.updateRevision;
  }

  /** `kubectl delete pod`. */
  deletePod(name: string): void {
    this.h.api.deletePod(this.h.namespace, name);
  }

  /**
   * An eviction (`kubectl drain`): refused with 429 as the API does when the PodDisruptionBudget (maxUnavailable 1)
   * would be violated; else a graceful delete. `holdMs` keeps the pod away that long before it is recreated (it is
   * scheduled on another node and its image pulled).
   */
  evict(name: string, holdMs = 0): boolean {
    const othersDisrupted = this.h.pods.some(p => p.name !== name && (this.busy.has(p.name) || !this.h.isReady(p.name)));
    if (othersDisrupted) {
      this.note(name, 'eviction refused');
      return false;
    }
    if (holdMs) this.holds.set(name, holdMs);
    this.deletePod(name);
    return true;
  }

  /** Resolves when every pod runs the update revision and is Ready (the rollout is complete). */
  async waitRolledOut(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.h.pods.every(p => this.podRevision.get(p.name) === this.updateRevision && !this.busy.has(p.name) && this.h.isReady(p.name))) return;
      await sleep(250);
    }
    const state = this.h.pods.map(
      p => `${p.name}: ${this.podRevision.get(p.name) ?? 'absent'}${this.busy.has(p.name) ? ' (busy)' : ''}${this.h.isReady(p.name) ? ' ready' : ''}`,
    );
    throw new Error(`rollout to ${this.updateRevision} not complete after ${timeoutMs} ms: ${state.join('; ')}`);
  }

  private create(ordinal: number): void {
    const pod = this.h.pods[ordinal];
    const revision = this.updateRevision;
    const template = this.revisions.get(revision)!.spec.template;
    this.h.api.seed({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: pod.name,
        namespace: this.h.namespace,
        labels: { ...template.metadata.labels, [LABELS.revision]: revision, 'statefulset.kubernetes.io/pod-name': pod.name },
        annotations: { ...(template.metadata.annotations ?? {}) },
      },
      spec: { ...template.spec },
      status: { phase: 'Running', podIP: '127.0.0.1', conditions: [{ type: 'Ready', status: 'False' }] },
    } as KubeObject);
    this.podRevision.set(pod.name, revision);
    this.h.startInstance(ordinal, {}, { statefulSet: this.revisions.get(revision)! });
    this.restarts.delete(pod.name);
    this.note(pod.name, 'created', revision);
  }

  /** The kubelet stopping a deleted pod, then the controller making it again. */
  private async terminate(obj: any): Promise<void> {
    const name = obj.metadata.name!;
    if (this.busy.has(name) || this.stopped) return;
    this.busy.add(name);
    this.note(name, 'deleting', this.podRevision.get(name));
    const pod = this.h.pods.find(p => p.name === name)!;
    const proc = pod.process;
    const graceMs = 1000 * (obj.metadata.deletionGracePeriodSeconds ?? obj.spec?.terminationGracePeriodSeconds ?? 30);
    if (proc && proc.child.exitCode === null) {
      proc.kill('SIGTERM');
      this.note(name, 'sigterm');
      const exited = await Promise.race([proc.exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!exited) this.note(name, 'killed after the grace period');
    }
    if (proc) {
      proc.killPod(); // whatever the container left (postgres children) goes with the pod
      await proc.waitPodGone().catch(() => undefined);
    }
    this.h.api.remove('pods', this.h.namespace, name);
    this.podRevision.delete(name);
    this.note(name, 'gone');
    const hold = this.holds.get(name) ?? 0;
    this.holds.delete(name);
    if (hold) await sleep(hold);
    if (!this.stopped && pod.ordinal < this.spec.spec.replicas) this.create(pod.ordinal);
    this.busy.delete(name);
  }

  private reconcile(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const pod of this.h.pods) {
      const proc = pod.process;
      if (this.busy.has(pod.name) || !this.podRevision.has(pod.name) || !proc || proc.child.exitCode === null) continue;
      if ((this.h.api.get('pods', this.h.namespace, pod.name) as any)?.metadata.deletionTimestamp) continue;
      // The container exited on its own: restarted in place after a back-off that doubles while it keeps failing.
      let r = this.restarts.get(pod.name);
      if (r?.after !== proc) {
        const delay = r ? Math.min(10000, 2 * r.delay) : 1000;
        r = { after: proc, at: now + delay, delay };
        this.restarts.set(pod.name, r);
      }
      if (now < r.at) continue;
      this.h.startInstance(pod.ordinal, {}, { statefulSet: this.revisions.get(this.podRevision.get(pod.name)!)! });
      this.note(pod.name, 'container restarted', this.podRevision.get(pod.name));
    }
    if (this.strategy === 'RollingUpdate') this.rollingUpdateStep();
    this.writeStatefulSet();
  }

  /** Per pod: the container that exited, when it is restarted, the back-off used. */
  private readonly restarts = new Map<string, { after: object; at: number; delay: number }>();

  /** RollingUpdate: the highest outdated ordinal, once every pod is there and Ready. */
  private rollingUpdateStep(): void {
    const all = this.h.pods;
    if (all.some(p => this.busy.has(p.name) || !this.podRevision.has(p.name) || !this.h.isReady(p.name))) return;
    const outdated = [...all].reverse().find(p => this.podRevision.get(p.name) !== this.updateRevision);
    if (outdated) this.deletePod(outdated.name);
  }

  private writeStatefulSet(): void {
    const revisions = this.h.pods.map(p => this.podRevision.get(p.name));
    const updated = revisions.filter(r => r === this.updateRevision).length;
    const current = this.h.api.get('statefulsets', this.h.namespace, this.name) as any;
    const status = {
      observedGeneration: this.generation,
      replicas: revisions.filter(Boolean).length,
      readyReplicas: this.h.pods.filter(p => this.h.isReady(p.name)).length,
      updatedReplicas: updated,
      currentRevision: updated === this.h.pods.length ? this.updateRevision : (current?.status?.currentRevision ?? this.updateRevision),
      updateRevision: this.updateRevision,
    };
    if (current && JSON.stringify(current.status) === JSON.stringify(status) && current.metadata.generation === this.generation) return;
    this.h.api.seed({
      ...this.spec,
      metadata: { ...this.spec.metadata, namespace: this.h.namespace, generation: this.generation },
      status,
    } as KubeObject);
  }

  private note(pod: string, what: ControllerEvent['what'], revision?: string): void {
    this.events.push({ at: Date.now() - this.t0, pod, what, revision });
  }
}

/** `<sts>-<hash>` of the pod template, as the controller names its ControllerRevisions. */
export function revisionOf(sts: KubeObject): string {
  const hash = createHash('sha256').update(JSON.stringify(sts.spec.template)).digest('hex').slice(0, 10);
  return `${sts.metadata.name}-${hash}`;
}
