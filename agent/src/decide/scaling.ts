/**
 * Scaling down (issue 13): the primary keeps a replication slot per other ordinal, and a slot nobody consumes
 * holds WAL forever, so the slot of a removed instance is dropped. Dropping is destructive for that instance's
 * catch-up (scaled up again, it must then fetch old WAL from the archive or be cloned anew), so it happens only
 * when the StatefulSet has said for a while that the ordinal is gone and nothing streams through the slot.
 */
import { compareLsn } from '../postgres/wal';
import { INVARIANTS, Invariant } from './invariants';

export interface SlotFacts {
  /** This cluster's physical slots on this primary (`<cluster>_<ordinal>`), with whether a walsender uses them. */
  slots: Array<{ slot: string; ordinal: number; active: boolean }>;
  /** The StatefulSet's spec.replicas as last read from the API; undefined when it could not be read. */
  replicas?: number;
  /** How long `replicas` has been seen unchanged by this agent (its own monotonic clock). */
  replicasStableMs: number;
  /** How long the count must stay unchanged before a slot is dropped (a scale-down undone in the meantime keeps it). */
  stableBoundMs: number;
}

export type SlotDecision =
  | { action: 'drop'; slot: string; why: string; invariant: Invariant }
  | { action: 'wait'; slot: string; why: string; fix: string; invariant: Invariant };

/** What to do with each slot of a removed ordinal; slots of ordinals the StatefulSet still runs are not listed. */
export function decideSlotCleanup(f: SlotFacts): SlotDecision[] {
  // Unknown count, or 0 (hibernation: every pod, this primary included, is stopping and comes back on its volume).
  if (f.replicas === undefined || f.replicas < 1) return [];
  const invariant = INVARIANTS.VERIFY_BEFORE_DESTROY;
  const out: SlotDecision[] = [];
  for (const s of f.slots) {
    if (s.ordinal < f.replicas) continue;
    const base = `replication slot ${s.slot} of ordinal ${s.ordinal}, beyond the StatefulSet's ${f.replicas} replicas`;
    if (s.active) {
      out.push({
        action: 'wait',
        slot: s.slot,
        invariant,
        why: `${base}, is still streaming: kept`,
        fix: 'Nothing to do: it is dropped once that pod has stopped.',
      });
    } else if (f.replicasStableMs < f.stableBoundMs) {
      out.push({
        action: 'wait',
        slot: s.slot,
        invariant,
        why: `${base}: dropped once the count has stayed ${f.replicas} for ${Math.round(f.stableBoundMs / 1000)} s`,
        fix: 'Nothing to do.',
      });
    } else {
      out.push({
        action: 'drop',
        slot: s.slot,
        invariant,
        why: `${base}, unused for ${Math.round(f.replicasStableMs / 1000)} s: dropping it so WAL does not pile up (its volume is kept; scaled up again, the instance catches up from the archive or is cloned)`,
      });
    }
  }
  return out;
}

export type ResumeDecision = { action: 'go-on' } | { action: 'wait'; why: string; fix: string; invariant: Invariant };

/**
 * A replica of a hibernated cluster, before any failover decision: the primary stopped keeping its lease and
 * published its final WAL position (its shutdown checkpoint). A replica that stopped before it may lack the last
 * acknowledged commits, which failover.maxLagBytes would otherwise forgive: it takes over only if it received past
 * that position, and else waits for the primary to come back on its volume.
 */
export function decideResumeFailover(f: { hibernatedLsn?: string; receivedLsn?: string; namespace: string; leaseName: string }): ResumeDecision {
  if (!f.hibernatedLsn) return { action: 'go-on' };
  // The checkpoint record starts at hibernatedLsn: having received it means being past it.
  if (f.receivedLsn && compareLsn(f.receivedLsn, f.hibernatedLsn) > 0) return { action: 'go-on' };
  return {
    action: 'wait',
    invariant: INVARIANTS.NO_LOST_ACK,
    why: `no failover: the primary stopped for hibernation at ${f.hibernatedLsn} and this replica received only ${f.receivedLsn ?? 'nothing'}; it waits for the primary to come back`,
    fix: `Start the old primary's pod (the lease holder) on its volume. Only if that volume is lost for good, accept losing the commits after ${f.receivedLsn ?? "this replica's position"}: kubectl -n ${f.namespace} delete lease ${f.leaseName}.`,
  };
}

export type StopHandOverScope = { handOver: true; instances: string[] } | { handOver: false; why: string };

/**
 * Which instances a primary asked to stop may hand the lease to: only those the StatefulSet keeps (ordinals below
 * its spec.replicas), since the others are being stopped too. Scaled to 0 (hibernation) every pod stops at once:
 * no hand-over; the primary keeps its lease and comes back as primary on its volume.
 */
export function stopHandOverScope(f: {
  cluster: string;
  podName: (ordinal: number) => string;
  instances: number;
  replicas?: number;
}): StopHandOverScope {
  if (f.replicas === 0) {
    return {
      handOver: false,
      why: 'the StatefulSet is scaled to 0 (hibernation): every instance is stopping, so no hand-over; this pod keeps the primary lease and is primary again when the cluster resumes',
    };
  }
  const n = f.replicas === undefined ? f.instances : Math.min(f.instances, f.replicas);
  return { handOver: true, instances: Array.from({ length: n }, (_, i) => f.podName(i)) };
}
