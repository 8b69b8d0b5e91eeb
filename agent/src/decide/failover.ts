/**
 * Who may become primary when the primary's lease expired, and what a primary does each tick (renew, fence,
 * demote, hand over). Pure functions of what the agent observed; the instance loop executes the answer.
 */
import { compareLsn, lsnDiff } from '../postgres/wal';
import { INVARIANTS, Invariant } from './invariants';

export interface PeerPosition {
  name: string;
  ordinal: number;
  /** The received LSN the peer last published on its pod, and how long ago. */
  receivedLsn?: string;
  reportedAgeMs?: number;
}

export interface FailoverFacts {
  me: string;
  ordinal: number;
  leaseExpired: boolean;
  holder?: string;
  /** The cluster follows its external source (bootstrap.pgBasebackup.follow): no failover. */
  followingSource: boolean;
  /** What this replica received; undefined when its postgres is not running. */
  receivedLsn?: string;
  /** The primary's position at its last renewal (on the Lease). */
  primaryLsn?: string;
  maxLagBytes: number;
  peers: PeerPosition[];
  /** A peer's report older than this is ignored (a dead peer must not block the failover). */
  freshnessMs: number;
  namespace: string;
  leaseName: string;
}

export type FailoverDecision =
  | { action: 'none' }
  | { action: 'promote'; why: string }
  | { action: 'wait'; why: string; fix: string; invariant: Invariant; fields?: Record<string, unknown> };

export function decideFailover(f: FailoverFacts): FailoverDecision {
  if (!f.leaseExpired) return { action: 'none' };
  if (f.followingSource) {
    return {
      action: 'wait',
      invariant: INVARIANTS.ONE_WRITER,
      why: 'no failover: the cluster follows its external source (bootstrap.pgBasebackup.follow); the first instance comes back as its standby',
      fix: 'Set follow: false to promote the cluster.',
    };
  }
  const mine = f.receivedLsn;
  if (!mine)
    return {
      action: 'wait',
      invariant: INVARIANTS.NO_LOST_ACK,
      why: 'no failover by this replica: postgres is not running here',
      fix: 'It takes part once its postgres runs.',
    };
  if (f.primaryLsn && lsnDiff(f.primaryLsn, mine) > f.maxLagBytes) {
    const lagBytes = lsnDiff(f.primaryLsn, mine);
    return {
      action: 'wait',
      invariant: INVARIANTS.NO_LOST_ACK,
      why: `no failover: this replica is ${lagBytes} bytes behind the last known primary position ${f.primaryLsn} (received ${mine}), more than failover.maxLagBytes ${f.maxLagBytes}; promoting it would lose committed data`,
      fix:
        `This replica keeps waiting: when the old primary (${f.holder}) comes back it takes its lease again and this replica catches up. ` +
        `To promote it anyway and lose what it has not received: make sure the old primary is gone for good, then delete the lease ` +
        `(kubectl -n ${f.namespace} delete lease ${f.leaseName}), or raise failover.maxLagBytes.`,
      fields: { lagBytes, maxLagBytes: f.maxLagBytes, primaryLsn: f.primaryLsn, receivedLsn: mine },
    };
  }
  for (const p of f.peers) {
    if (p.name === f.me || p.name === f.holder || !p.receivedLsn || p.reportedAgeMs === undefined || p.reportedAgeMs > f.freshnessMs) continue;
    const cmp = compareLsn(p.receivedLsn, mine);
    if (cmp > 0 || (cmp === 0 && p.ordinal < f.ordinal)) {
      return {
        action: 'wait',
        invariant: INVARIANTS.NO_LOST_ACK,
        why: `no failover by this replica: ${p.name} is at least as far (${p.receivedLsn} vs ${mine}) and goes first`,
        fix: `${p.name} is promoted; this replica follows it.`,
      };
    }
  }
  return {
    action: 'promote',
    why: `the primary lease expired; this replica received ${mine}${f.primaryLsn ? ` (primary last published ${f.primaryLsn})` : ''} and no fresher peer reported`,
  };
}

export interface PrimaryTickFacts {
  me: string;
  holder?: string;
  switchoverTo?: string;
  msSinceRenewal: number;
  renewDeadlineMs: number;
}

export type PrimaryTick =
  | { action: 'renew' }
  | { action: 'demote'; why: string }
  | { action: 'hand-over'; target: string }
  | { action: 'fence'; why: string; invariant: Invariant };

/** A primary's tick after reading the Lease. */
export function decidePrimaryTick(f: PrimaryTickFacts): PrimaryTick {
  if (f.holder && f.holder !== f.me) return { action: 'demote', why: `${f.holder} holds the primary lease` };
  if (f.switchoverTo && f.switchoverTo !== f.me) return { action: 'hand-over', target: f.switchoverTo };
  return { action: 'renew' };
}

/** A primary that has not renewed for two thirds of the lease stops accepting writes before anyone may take over. */
export function mustFence(msSinceRenewal: number, renewDeadlineMs: number): boolean {
  return msSinceRenewal > renewDeadlineMs;
}
