/**
 * The one place that decides what an instance is. Bootstrap uses it now; failover and switchover (driven by the
 * cluster's Lease) must go through it too, so that every path applies the same rule.
 */
import { DataState } from './pgdata';

export type InstanceRole = 'primary' | 'replica';

export type StartPlan =
  | { action: 'initdb'; role: 'primary' }
  | { action: 'clone'; role: 'replica' }
  | { action: 'start'; role: InstanceRole };

/**
 * - existing data: its own state says the role (standby.signal = replica);
 * - empty volume: ordinal 0 creates the cluster, unless a primary already answers on the `-rw` Service (the cluster
 *   exists and this volume was lost): then it clones, like every other ordinal. Never two initdbs for one cluster.
 */
export function planStart(state: DataState, ordinal: number, primaryReachable: boolean): StartPlan {
  if (state.kind === 'initialized') return { action: 'start', role: state.standby ? 'replica' : 'primary' };
  if (ordinal === 0 && !primaryReachable) return { action: 'initdb', role: 'primary' };
  return { action: 'clone', role: 'replica' };
}
