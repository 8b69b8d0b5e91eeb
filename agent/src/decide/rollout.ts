/**
 * Rollouts, driven by the agents. The StatefulSet uses `updateStrategy: OnDelete`: the controller never replaces a
 * pod by itself; each agent compares its pod's revision with the StatefulSet's and replaces its own pod (deletes it;
 * the controller recreates it from the new template on the same volume) when this function says so. The order is
 * CloudNativePG's: replicas first, one at a time, then the primary, whose stop hands the lease to an updated replica
 * (one switchover per rollout, never a lease-expiry failover). RollingUpdate cannot give that order: it replaces the
 * highest ordinal first, which is the primary half of the time, and then hands over twice.
 */
export interface RolloutPeer {
  name: string;
  ordinal: number;
  /** The pod object exists (false while the controller has not recreated it yet). */
  exists: boolean;
  /** Its `controller-revision-hash` label. */
  revision?: string;
  /** Its Ready condition (the kubelet's view of /readyz). */
  ready: boolean;
  /** It has a `deletionTimestamp`: it is being stopped. */
  terminating: boolean;
  /** Its role label says primary. */
  primary: boolean;
}

export interface RolloutFacts {
  /** The StatefulSet's `updateStrategy.type`: only `OnDelete` leaves the replacing to the agents. */
  strategy?: string;
  me: string;
  ordinal: number;
  role: 'primary' | 'replica';
  /** This pod's `controller-revision-hash` label. */
  myRevision?: string;
  /** The StatefulSet's `status.updateRevision`: the template every pod should run. */
  updateRevision?: string;
  /** The other pods of the StatefulSet (ordinals below `spec.replicas`). */
  peers: RolloutPeer[];
  /** Primary: the replicas streaming from it now (pg_stat_replication). */
  streaming: string[];
}

export type RolloutDecision = { action: 'none' } | { action: 'wait'; why: string } | { action: 'replace-own-pod'; why: string };

export function decideRollout(f: RolloutFacts): RolloutDecision {
  // RollingUpdate (e.g. set through an escape hatch): the controller replaces the pods; the agents must not as well.
  if (f.strategy !== 'OnDelete') return { action: 'none' };
  if (!f.updateRevision || !f.myRevision || f.myRevision === f.updateRevision) return { action: 'none' };
  const outdated = `this pod runs revision ${f.myRevision}, the StatefulSet's template is ${f.updateRevision}`;
  // One pod at a time: any peer away, stopping or not ready may be the one being replaced (or a failure to heal first).
  const busy = f.peers.find(p => !p.exists || p.terminating || !p.ready);
  if (busy) {
    const state = !busy.exists ? 'is being recreated' : busy.terminating ? 'is stopping' : 'is not ready';
    return { action: 'wait', why: `${outdated}; waiting: ${busy.name} ${state} (one pod at a time)` };
  }
  if (f.role === 'replica') {
    const first = f.peers.find(p => !p.primary && p.revision !== f.updateRevision && p.ordinal < f.ordinal);
    if (first) return { action: 'wait', why: `${outdated}; waiting: ${first.name} is replaced first (lowest ordinal first)` };
    return { action: 'replace-own-pod', why: `${outdated}: replacing this replica's pod (every other pod is ready)` };
  }
  const oldReplicas = f.peers.filter(p => p.revision !== f.updateRevision);
  if (oldReplicas.length) {
    return { action: 'wait', why: `${outdated}; waiting: replicas first (${oldReplicas.map(p => p.name).join(', ')} still on the old template)` };
  }
  if (f.peers.length === 0) {
    return {
      action: 'replace-own-pod',
      why: `${outdated}: replacing the only instance's pod (no replica to hand over to: writes stop until it is back)`,
    };
  }
  const streaming = f.peers.filter(p => f.streaming.includes(p.name)).map(p => p.name);
  if (!streaming.length) return { action: 'wait', why: `${outdated}; waiting: no updated replica streams from this primary yet` };
  return {
    action: 'replace-own-pod',
    why: `${outdated}: every replica runs the new template and ${streaming.join(', ')} streams from this primary: replacing the primary's pod, which hands the lease over as it stops`,
  };
}
