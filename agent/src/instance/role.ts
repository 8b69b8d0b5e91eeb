/**
 * The one place that decides what an instance is. Bootstrap uses it now; failover and switchover (driven by the
 * cluster's Lease) must go through it too, so that every path applies the same rule.
 */
import { DataState } from './pgdata';

export type InstanceRole = 'primary' | 'replica';

export type StartPlan =
  | { action: 'initdb'; role: 'primary' }
  | { action: 'restore'; role: 'primary' }
  | { action: 'clone-source'; role: 'primary' }
  | { action: 'clone'; role: 'replica' }
  | { action: 'start'; role: InstanceRole };

/** How the first instance creates the cluster's data. */
export type Origin = 'initdb' | 'recovery' | 'clone-source';

/**
 * - existing data: its own state says the role (standby.signal = replica), except that a standby of an external
 *   source (bootstrap.pgBasebackup, following) is this cluster's primary-to-be: it holds the lease;
 * - with bootstrap.recovery, "creates the cluster" means restoring the source's backup; with pgBasebackup,
 *   cloning the external source;
 * - empty volume: ordinal 0 creates the cluster, unless a primary already answers on the `-rw` Service (the cluster
 *   exists and this volume was lost): then it clones, like every other ordinal. Never two initdbs for one cluster.
 */
export function planStart(state: DataState, ordinal: number, primaryReachable: boolean, origin: Origin = 'initdb', followingSource = false): StartPlan {
  if (state.kind === 'initialized') return { action: 'start', role: state.standby && !followingSource ? 'replica' : 'primary' };
  if (ordinal === 0 && !primaryReachable) {
    if (origin === 'recovery') return { action: 'restore', role: 'primary' };
    if (origin === 'clone-source') return { action: 'clone-source', role: 'primary' };
    return { action: 'initdb', role: 'primary' };
  }
  return { action: 'clone', role: 'replica' };
}

/**
 * The role of a running instance, from its server's state: in recovery means replica, except for the lease holder
 * of a cluster that still follows its external source (bootstrap.pgBasebackup): the primary-to-be, as at start.
 */
export function currentRole(inRecovery: boolean, followingSource: boolean): InstanceRole {
  return inRecovery && !followingSource ? 'replica' : 'primary';
}
