/**
 * The safety invariants. Every decision function in this folder says which of them it protects; docs/safety.md
 * lists them with the tests that prove them. A decision that cannot show it keeps them waits and says why.
 */
export const INVARIANTS = {
  /** A cluster has one identity (its system identifier), recorded outside any one volume; an empty volume never
   *  runs initdb when the cluster has one, and data of another system never runs under the cluster's Services. */
  ONE_IDENTITY: 'I1 one identity',
  /** Nothing is deleted, overwritten or re-initialized before its replacement is verified. */
  VERIFY_BEFORE_DESTROY: 'I2 verify before destroy',
  /** A replica is promoted only when it holds every acknowledged write it can know of. */
  NO_LOST_ACK: 'I3 no acknowledged write lost',
  /** Every WAL segment any primary wrote reaches the archive; a restore or verify that cannot reach the end of the
   *  archive fails, naming the missing segment. */
  CONTINUOUS_ARCHIVE: 'I4 continuous archive',
  /** At most one writable primary. */
  ONE_WRITER: 'I5 one writer',
  /** Rendered object names never collide within an App. */
  UNIQUE_NAMES: 'I6 unique names',
} as const;

export type Invariant = (typeof INVARIANTS)[keyof typeof INVARIANTS];

/** What a decision function returns: the action, or a wait with the reason and the fix (one log line). */
export type Decision<A extends string> =
  { action: A; why: string; invariant?: Invariant } | { action: 'wait'; why: string; fix: string; invariant: Invariant };
