/**
 * Who is primary, decided through the cluster's coordination.k8s.io Lease (as Patroni on Kubernetes and
 * CloudNativePG 1.30 do). The holder renews it; others watch it. Expiry is judged like client-go's leader
 * election: by how long this agent has seen the record unchanged on its own monotonic clock, so clock skew
 * between nodes does not matter. The holder fences itself after two thirds of the duration without a successful
 * renewal, which is before any other agent can consider the lease expired. The holder counts from the moment it
 * *sent* its last successful renewal (never later than when the API wrote it, so never later than when an
 * observer can have seen it), so a slow answer cannot stretch its fence deadline past anyone's expiry.
 */
import type { V1Lease } from '@kubernetes/client-node';
import { ANNOTATIONS, LEASE } from '../../../lib/contract';
import { mustFence } from '../decide';
import { KubeClient, KubeError } from '../k8s/client';

export interface LeaseView {
  holder?: string;
  resourceVersion?: string;
  transitions: number;
  /** The primary's WAL position at its last renewal. */
  primaryLsn?: string;
  /** A switchover request: the pod that should take over. */
  switchoverTo?: string;
  /** The old primary's final WAL position, published when it released the lease for a switchover. */
  switchoverFinalLsn?: string;
  /** How the last switchover ended (`<target> done|refused: …`). */
  switchoverResult?: string;
  /** The cluster's identity: the system identifier its primary published. */
  systemIdentifier?: string;
  /** The final WAL position of a primary that stopped for hibernation, keeping the lease. */
  hibernatedLsn?: string;
}

const now = () => performance.now();

export class Election {
  private lease?: V1Lease;
  private observedKey?: string;
  private observedAt = now();
  /** Monotonic time at which this agent sent its last successful renewal (or acquisition). */
  lastRenewal = -Infinity;
  /** The system identifier of this instance's data, published on the Lease with every acquisition and renewal. */
  systemIdentifier?: string;

  constructor(
    private readonly kube: KubeClient,
    readonly leaseName: string,
    readonly identity: string,
    readonly durationSeconds: number,
  ) {}

  get renewDeadlineMs(): number {
    return this.durationSeconds * 1000 * LEASE.fenceAfterFraction;
  }

  /** Reads the Lease; notes when its content last changed. Throws KubeError when the API cannot be reached. */
  async observe(): Promise<LeaseView | undefined> {
    this.lease = await this.kube.getLease(this.leaseName);
    const key = this.lease ? `${this.lease.metadata?.resourceVersion}` : 'absent';
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = now();
    }
    return this.view();
  }

  view(): LeaseView | undefined {
    if (!this.lease) return undefined;
    const a = this.lease.metadata?.annotations ?? {};
    return {
      holder: this.lease.spec?.holderIdentity ?? undefined,
      resourceVersion: this.lease.metadata?.resourceVersion,
      transitions: this.lease.spec?.leaseTransitions ?? 0,
      primaryLsn: a[ANNOTATIONS.primaryLsn],
      switchoverTo: a[ANNOTATIONS.switchoverTo],
      switchoverFinalLsn: a[ANNOTATIONS.switchoverFinalLsn],
      switchoverResult: a[ANNOTATIONS.switchoverResult],
      systemIdentifier: a[ANNOTATIONS.systemIdentifier],
      hibernatedLsn: a[ANNOTATIONS.hibernatedLsn],
    };
  }

  /** True when nobody holds the lease, or its record has not changed for a whole lease duration. */
  expired(): boolean {
    const v = this.view();
    if (!v || !v.holder) return true;
    return now() - this.observedAt > this.durationSeconds * 1000;
  }

  heldByMe(): boolean {
    return this.view()?.holder === this.identity;
  }

  /** Milliseconds since this agent sent its last successful renewal. */
  msSinceRenewal(): number {
    return now() - this.lastRenewal;
  }

  /** Seconds since the Lease was renewed: by this agent when it holds it, else since its record last changed. */
  renewAgeSeconds(): number {
    return (this.heldByMe() ? this.msSinceRenewal() : now() - this.observedAt) / 1000;
  }

  /** The holder has not renewed for long enough that it must stop accepting writes. */
  mustFence(): boolean {
    return mustFence(this.msSinceRenewal(), this.renewDeadlineMs);
  }

  /**
   * Takes the lease (creates it, or replaces the observed version). Returns false when another agent won the
   * race (409): optimistic concurrency on resourceVersion guarantees one winner.
   */
  async acquire(primaryLsn?: string, extraAnnotations: Record<string, string | undefined> = {}): Promise<boolean> {
    const sentAt = now();
    const at = this.kube.microTime(new Date());
    const current = this.lease;
    const annotations: Record<string, string> = {
      ...(current?.metadata?.annotations ?? {}),
      ...(primaryLsn ? { [ANNOTATIONS.primaryLsn]: primaryLsn } : {}),
      ...(this.systemIdentifier ? { [ANNOTATIONS.systemIdentifier]: this.systemIdentifier } : {}),
    };
    for (const [k, v] of Object.entries(extraAnnotations)) {
      if (v === undefined) delete annotations[k];
      else annotations[k] = v;
    }
    const changesHands = current?.spec?.holderIdentity !== this.identity;
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...(current?.metadata ?? { name: this.leaseName }), annotations },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: this.durationSeconds,
        acquireTime: changesHands ? at : (current?.spec?.acquireTime ?? at),
        renewTime: at,
        leaseTransitions: (current?.spec?.leaseTransitions ?? 0) + (current && changesHands ? 1 : 0),
      },
    };
    try {
      this.lease = current ? await this.kube.replaceLease(body) : await this.kube.createLease(body);
    } catch (e) {
      if (e instanceof KubeError && e.code === 409) return false;
      throw e;
    }
    this.observedKey = `${this.lease.metadata?.resourceVersion}`;
    this.observedAt = now();
    this.lastRenewal = sentAt;
    return true;
  }

  /** Renews a lease this agent holds; false when it turned out to be someone else's. */
  async renew(primaryLsn?: string): Promise<boolean> {
    if (!this.heldByMe()) return false;
    return this.acquire(primaryLsn);
  }

  /** Changes annotations of the Lease without taking it (a refused switchover). False on a conflict. */
  async annotate(annotations: Record<string, string | undefined>): Promise<boolean> {
    if (!this.lease) return false;
    const meta = { ...(this.lease.metadata?.annotations ?? {}) };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === undefined) delete meta[k];
      else meta[k] = v;
    }
    try {
      this.lease = await this.kube.replaceLease({ ...this.lease, metadata: { ...this.lease.metadata, annotations: meta } });
      return true;
    } catch (e) {
      if (e instanceof KubeError && e.code === 409) return false;
      throw e;
    }
  }

  /** Gives the lease up (planned switchover, an empty volume stepping aside): clears the holder so another can take it at once. */
  async release(annotations: Record<string, string | undefined> = {}): Promise<boolean> {
    if (!this.lease || !this.heldByMe()) return false;
    const body: V1Lease = { ...this.lease, spec: { ...this.lease.spec, holderIdentity: undefined } };
    const meta = { ...(this.lease.metadata?.annotations ?? {}) };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === undefined) delete meta[k];
      else meta[k] = v;
    }
    body.metadata = { ...this.lease.metadata, annotations: meta };
    try {
      this.lease = await this.kube.replaceLease(body);
      return true;
    } catch (e) {
      if (e instanceof KubeError && e.code === 409) return false;
      throw e;
    }
  }
}
