/**
 * A planned switchover loses nothing: the primary hands over only to a replica that streams from it, stops
 * accepting writes (clean shutdown), publishes its final WAL position, and the target promotes only once it has
 * replayed past that position. Otherwise the switchover is refused with the reason and the old primary resumes.
 */
import { compareLsn, timelineOfWalFile } from '../postgres/wal';
import { INVARIANTS, Invariant } from './invariants';

export interface HandOverFacts {
  me: string;
  target: string;
  /** The cluster's instance pods. */
  instances: string[];
  /** pg_stat_replication on this primary. */
  replicas: Array<{ name: string; state: string; lagBytes: number }>;
  /** The target must be this close before the primary stops (it then has to catch up the rest after the stop). */
  maxLagBytes: number;
  /** This cluster still follows its external source: it has nobody to hand over to. */
  followingSource: boolean;
}

export type HandOverDecision = { action: 'hand-over'; why: string } | { action: 'refuse'; why: string; fix: string; invariant: Invariant };

/** On the primary, before it stops accepting writes. */
export function decideHandOver(f: HandOverFacts): HandOverDecision {
  const refuse = (why: string, fix: string): HandOverDecision => ({
    action: 'refuse',
    why: `switchover to ${f.target} refused: ${why}`,
    fix,
    invariant: INVARIANTS.NO_LOST_ACK,
  });
  if (!f.instances.includes(f.target) || f.target === f.me)
    return refuse(`${f.target} is not a replica of this cluster`, `Name one of ${f.instances.filter(i => i !== f.me).join(', ')}.`);
  if (f.followingSource) return refuse('the cluster follows its external source', 'Set bootstrap.pgBasebackup.follow: false first.');
  const r = f.replicas.find(x => x.name === f.target);
  if (!r || r.state !== 'streaming') {
    return refuse(
      `${f.target} is not streaming from this primary (${r ? r.state : 'not connected'}); promoting it could lose acknowledged writes`,
      `Wait until ${f.target} is ready (its /readyz), then ask again.`,
    );
  }
  if (r.lagBytes > f.maxLagBytes) {
    return refuse(`${f.target} is ${r.lagBytes} bytes behind (more than ${f.maxLagBytes})`, `Wait until ${f.target} has caught up, then ask again.`);
  }
  return { action: 'hand-over', why: `${f.target} streams, ${r.lagBytes} bytes behind` };
}

export interface TakeOverFacts {
  /** The old primary's final WAL position (its shutdown checkpoint), published when it released the lease. */
  finalLsn?: string;
  /** This replica's replay position; undefined when its postgres is not running. */
  replayLsn?: string;
  /** How long this replica has been waiting to catch up, and the bound. */
  waitedMs: number;
  boundMs: number;
}

export type TakeOverDecision =
  { action: 'promote'; why: string } | { action: 'wait'; why: string } | { action: 'refuse'; why: string; fix: string; invariant: Invariant };

/** On the target, once the old primary released the lease. */
export function decideTakeOver(f: TakeOverFacts): TakeOverDecision {
  const refuse = (why: string): TakeOverDecision => ({
    action: 'refuse',
    invariant: INVARIANTS.NO_LOST_ACK,
    why,
    fix: "The old primary takes its lease back and resumes. Look at this replica's replication (its log, /readyz) and ask again.",
  });
  if (!f.finalLsn) return refuse('the old primary published no final WAL position: this replica cannot know it has every write');
  // replay_lsn is the end of the last record replayed: past the shutdown checkpoint's start means it replayed it.
  if (f.replayLsn && compareLsn(f.replayLsn, f.finalLsn) > 0)
    return { action: 'promote', why: `replayed ${f.replayLsn}, past the old primary's final position ${f.finalLsn}` };
  if (f.waitedMs > f.boundMs)
    return refuse(
      `this replica replayed only ${f.replayLsn ?? 'nothing'} of the old primary's final position ${f.finalLsn} within ${Math.round(f.boundMs / 1000)} s`,
    );
  return { action: 'wait', why: `catching up to the old primary's final position ${f.finalLsn} (at ${f.replayLsn ?? 'nothing'})` };
}

export type StopHandOverDecision = { action: 'hand-over'; target: string; why: string } | { action: 'stop'; why: string };

/**
 * A primary asked to stop (a rollout's SIGTERM, a drain's eviction, a pod delete) hands the lease to the most
 * caught-up streaming replica, so the cluster does not wait for the lease to expire; with none, it just stops (and
 * takes its lease back when it returns within the lease).
 */
export function decideStopHandOver(f: Omit<HandOverFacts, 'target'>): StopHandOverDecision {
  const candidates = f.replicas
    .filter(r => r.state === 'streaming' && f.instances.includes(r.name) && r.name !== f.me)
    .sort((a, b) => a.lagBytes - b.lagBytes || f.instances.indexOf(a.name) - f.instances.indexOf(b.name));
  if (!candidates.length) return { action: 'stop', why: 'no replica streams from this primary: stopping without a hand-over' };
  const d = decideHandOver({ ...f, target: candidates[0].name });
  if (d.action === 'refuse') return { action: 'stop', why: `${d.why}: stopping without a hand-over` };
  return { action: 'hand-over', target: candidates[0].name, why: d.why };
}

export type ArchiveLookupsDecision = { action: 'pause'; why: string } | { action: 'keep'; why: string };

/**
 * A switchover target about to promote: may its restore_command be paused? During a promotion PostgreSQL calls it
 * for the segment after the last one received and for the timeline history files, each a process start (0.1-2 s on
 * a loaded node), and every call delays the promotion while writes wait. Its one use there is choosing a timeline
 * ID nobody used: PostgreSQL takes one above every history file it finds, locally and in the archive. So the
 * lookups may be skipped only when the archive was listed just now and holds no history file above this replica's
 * newest local one; otherwise (listing failed, or a higher timeline archived, e.g. by an abandoned promotion
 * elsewhere) they stay and the promotion is slower but cannot reuse a timeline ID.
 */
export function decideArchiveLookupsOnTakeOver(f: { localNewestTimeline: number; archivedHistories?: string[] }): ArchiveLookupsDecision {
  if (!f.archivedHistories) return { action: 'keep', why: "the archive's history files could not be listed" };
  const higher = f.archivedHistories.map(timelineOfWalFile).filter(t => t > f.localNewestTimeline);
  if (higher.length)
    return { action: 'keep', why: `the archive holds timeline ${Math.max(...higher)}, above this replica's ${f.localNewestTimeline}` };
  return { action: 'pause', why: `no timeline above ${f.localNewestTimeline} in the archive: the new timeline ID is free without asking it again` };
}
