/**
 * What an instance does with its volume when it starts: start what is there, create the cluster, clone a peer, or
 * wait. The only place that may decide to create a database (initdb, restore, clone of an external source, initdb
 * and import).
 */
import { Decision, INVARIANTS } from './invariants';

export type InstanceRole = 'primary' | 'replica';

/** How the first instance creates the cluster's data. */
export type Origin = 'initdb' | 'recovery' | 'clone-source' | 'import';

export interface StartFacts {
  /** What is on this instance's volume. */
  data: { kind: 'empty' } | { kind: 'initialized'; systemIdentifier: string; standby: boolean };
  ordinal: number;
  /** This pod's name. */
  me: string;
  origin: Origin;
  /** The data directory is a standby of the external source that bootstrap.pgBasebackup still follows. */
  followingSource: boolean;
  /** The Lease exists: a primary bootstrapped this cluster once (only a primary creates it). */
  leaseExists: boolean;
  leaseHolder?: string;
  /** The cluster's system identifier as the API records it (the Lease, else a peer pod's annotation). */
  clusterIdentity?: string;
  /** Another instance that reported recently that it holds this cluster's data. */
  peerWithData?: string;
  /** A PostgreSQL server answers on the -rw Service. */
  primaryAnswers: boolean;
  /** For the fix texts. */
  namespace: string;
  leaseName: string;
}

export type StartPlan =
  | { action: 'initdb' | 'restore' | 'clone-source' | 'import'; role: 'primary'; why: string }
  | { action: 'clone'; role: 'replica'; why: string; /** this pod holds the Lease and must give it up first */ stepAside: boolean }
  | { action: 'start'; role: InstanceRole; why: string }
  | Extract<Decision<never>, { action: 'wait' }>;

const CREATE = { initdb: 'initdb', recovery: 'restore', 'clone-source': 'clone-source', import: 'import' } as const;

export function planStart(f: StartFacts): StartPlan {
  if (f.data.kind === 'initialized') {
    if (f.clusterIdentity && f.clusterIdentity !== f.data.systemIdentifier) {
      return {
        action: 'wait',
        invariant: INVARIANTS.ONE_IDENTITY,
        why: `the data directory holds database system ${f.data.systemIdentifier}, but this cluster is system ${f.clusterIdentity} (recorded on lease ${f.leaseName}): refusing to start another system under the cluster's Services`,
        fix: "Nothing was touched. Attach this instance's own volume. If this volume's content is expendable, delete its PVC and the pod, so the instance clones a peer.",
      };
    }
    const role = f.data.standby && !f.followingSource ? 'replica' : 'primary';
    return { action: 'start', role, why: f.data.standby ? 'the data directory is a standby' : 'the data directory was a primary' };
  }
  const stepAside = f.leaseHolder === f.me;
  const clusterExists = f.leaseExists || !!f.clusterIdentity || f.primaryAnswers;
  if (f.ordinal !== 0) return { action: 'clone', role: 'replica', stepAside, why: 'an empty volume of a replica: it clones the primary' };
  if (!clusterExists) return { action: CREATE[f.origin], role: 'primary', why: 'an empty volume and no trace of the cluster: creating it' };
  const holder = f.leaseHolder && f.leaseHolder !== f.me ? f.leaseHolder : undefined;
  const source = f.primaryAnswers
    ? 'a primary answers on the -rw Service'
    : holder
      ? `${holder} holds the primary lease`
      : f.peerWithData
        ? `${f.peerWithData} holds the data`
        : undefined;
  if (source) {
    return {
      action: 'clone',
      role: 'replica',
      stepAside,
      why: `this volume is empty but the cluster exists and ${source}: cloning it${stepAside ? ' after giving up the lease this pod held' : ''}, never initdb`,
    };
  }
  return {
    action: 'wait',
    invariant: INVARIANTS.ONE_IDENTITY,
    why: `this volume is empty, but the cluster exists (${f.clusterIdentity ? `system identifier ${f.clusterIdentity}` : 'its lease exists'}) and no other instance holds its data: refusing to create a new, empty database in its place`,
    fix:
      `Nothing was created. If another instance may come back, wait: this one clones it then. To get the data back, restore it into a new cluster with bootstrap.recovery from this cluster's backups. ` +
      `To start over with an empty database on purpose: kubectl -n ${f.namespace} delete lease ${f.leaseName}, delete every instance's PVC, and restart the pods.`,
  };
}

/**
 * The role of a running instance, from its server's state: in recovery means replica, except for the lease holder
 * of a cluster that still follows its external source (bootstrap.pgBasebackup): the primary-to-be, as at start.
 */
export function currentRole(inRecovery: boolean, followingSource: boolean): InstanceRole {
  return inRecovery && !followingSource ? 'replica' : 'primary';
}
