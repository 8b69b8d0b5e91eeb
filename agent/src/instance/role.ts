/**
 * The one place that decides what an instance is. Bootstrap uses it now; failover and switchover (driven by the
 * cluster's Lease) must go through it too, so that every path applies the same rule.
 */
import { DataState } from './pgdata';

export type InstanceRole = 'primary' | 'replica';

export type StartPlan =
  | { action: 'initdb'; role: 'primary' }
  | { action: 'restore'; role: 'primary' }
  | { action: 'clone'; role: 'replica' }
  | { action: 'start'; role: InstanceRole };

/**
 * - existing data: its own state says the role (standby.signal = replica);
 * - with bootstrap.recovery, "creates the cluster" means restoring the source's backup;
 * - empty volume: ordinal 0 creates the cluster, unless a primary already answers on the `-rw` Service (the cluster
 *   exists and this volume was lost): then it clones, like every other ordinal. Never two initdbs for one cluster.
 */
export function planStart(state: DataState, ordinal: number, primaryReachable: boolean, recovery = false): StartPlan {
  if (state.kind === 'initialized') return { action: 'start', role: state.standby ? 'replica' : 'primary' };
  if (ordinal === 0 && !primaryReachable) return recovery ? { action: 'restore', role: 'primary' } : { action: 'initdb', role: 'primary' };
  return { action: 'clone', role: 'replica' };
}
