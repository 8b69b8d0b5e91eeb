/**
 * Parameters that need a restart (`pending_restart` after a reload) are applied by a coordinated restart that never
 * costs more than one switchover: replicas restart postgres in place one at a time (lowest ordinal first, the next
 * only once the previous streams again), then the primary hands over to a replica that already runs the new
 * parameters, and restarts as a replica on its way back (the rejoin writes the new postgresql.conf).
 * Lowering a parameter a hot standby needs at least as high as its primary (max_connections and the like) turns
 * the order round: a standby with a lower value than its primary refuses to start, so the primary restarts in
 * place first (a brief write pause, no switchover) and the replicas follow once they stream its new settings.
 * Each instance decides for itself from what every instance publishes on its own pod.
 */
import { INVARIANTS, Invariant } from './invariants';

/** What another instance published on its pod (CONFIG_ANNOTATIONS) and its role label. */
export interface ParameterPeer {
  name: string;
  ordinal: number;
  role?: 'primary' | 'replica';
  /** Hash of the parameters it runs with, everything applied. */
  appliedHash?: string;
  /** Hash of the parameters it waits to restart for. */
  pendingRestartHash?: string;
}

export interface RestartFacts {
  me: string;
  ordinal: number;
  role: 'primary' | 'replica';
  instances: number;
  /** Hash of the parameters this instance has written and reloaded. */
  wantedHash: string;
  /** This instance's postgres reports `pending_restart` for some of them. */
  pendingRestart: boolean;
  /** The pending change lowers a parameter a standby needs at least as high as its primary (max_connections…). */
  lowersStandbyMinimums: string[];
  /** A replica: its WAL receiver streams (a restart now would not stack on another outage). */
  streaming: boolean;
  /** The other instances (a pod that cannot be read is left out). */
  peers: ParameterPeer[];
  /** On the primary: the replicas streaming from it (pg_stat_replication), the candidates to hand over to. */
  streamingReplicas: string[];
}

export type RestartDecision =
  | { action: 'none'; why: string }
  | { action: 'restart-in-place'; why: string }
  | { action: 'hand-over'; target: string; why: string }
  | { action: 'wait'; why: string; fix: string; invariant: Invariant };

export function decideParameterRestart(f: RestartFacts): RestartDecision {
  if (!f.pendingRestart) return { action: 'none', why: 'no parameter waits for a restart' };
  const wait = (why: string, fix: string): RestartDecision => ({ action: 'wait', why, fix, invariant: INVARIANTS.NO_LOST_ACK });
  if (f.role === 'replica') {
    if (!f.streaming)
      return wait(
        'a restart for new parameters waits until this replica streams again',
        'Nothing to do: it restarts once replication is back (see /readyz).',
      );
    const primary = f.peers.find(p => p.role === 'primary');
    if (f.lowersStandbyMinimums.length && (!primary || primary.appliedHash !== f.wantedHash)) {
      return wait(
        `the primary restarts first: a standby cannot start with a lower ${f.lowersStandbyMinimums.join(', ')} than its primary`,
        'Nothing to do: the replicas restart once the primary runs the new values.',
      );
    }
    // One replica at a time, in ordinal order: a replica clears its pending flag only once it streams again.
    const before = f.peers.filter(p => p.role !== 'primary' && p.pendingRestartHash && p.ordinal < f.ordinal).map(p => p.name);
    if (before.length)
      return wait(
        `${before.join(', ')} restart${before.length > 1 ? '' : 's'} for new parameters first`,
        'Nothing to do: replicas restart one at a time.',
      );
    return { action: 'restart-in-place', why: 'a replica restarts postgres in place for new parameters (the primary keeps serving writes)' };
  }
  if (f.instances === 1)
    return {
      action: 'restart-in-place',
      why: 'a single instance has nobody to hand over to: postgres restarts in place (writes pause for the restart)',
    };
  if (f.lowersStandbyMinimums.length) {
    return {
      action: 'restart-in-place',
      why: `the primary restarts in place first (writes pause for the restart, no switchover): ${f.lowersStandbyMinimums.join(', ')} goes down, and no standby could run with less than its primary`,
    };
  }
  const replicasPending = f.peers.filter(p => p.role !== 'primary' && p.pendingRestartHash).map(p => p.name);
  if (replicasPending.length)
    return wait(
      `the primary restarts for new parameters after the replicas (${replicasPending.join(', ')} not restarted yet)`,
      'Nothing to do: the replicas restart first, then this primary hands over.',
    );
  // The target must run the very parameters the primary waits for: otherwise it would restart again as primary.
  const ready = f.peers.filter(p => p.appliedHash === f.wantedHash && f.streamingReplicas.includes(p.name)).sort((a, b) => a.ordinal - b.ordinal);
  if (!ready.length) {
    const behind = f.peers.filter(p => p.appliedHash !== f.wantedHash).map(p => p.name);
    return wait(
      behind.length
        ? `the primary hands over for new parameters once a replica runs them (${behind.join(', ')} not yet: the kubelet refreshes a ConfigMap within about a minute)`
        : 'the primary hands over for new parameters once a replica that runs them streams from it',
      'Nothing to do if the replicas are healthy; otherwise check that every pod mounts the same ConfigMap and streams (/readyz).',
    );
  }
  return {
    action: 'hand-over',
    target: ready[0].name,
    why: `${ready[0].name} streams and runs the new parameters: switching over to it, then this instance restarts as a replica`,
  };
}
