/**
 * Who is in synchronous_standby_names, decided on the primary from what pg_stat_replication showed over time.
 *
 * `required` lists every other instance, always: a commit waits until `number` of them have it, even when none
 * streams (I3, no acknowledged write lost). `preferred` lists only standbys that keep up: a standby that owes WAL
 * and has not flushed more of it for `silentAfterMs` (frozen, partitioned, its node or disk stalled) is dropped,
 * so commits stop waiting for it long before PostgreSQL's wal_sender_timeout (60 s) would end its connection. It is
 * listed again once it streams, replies and is within `catchUpBytes` of the primary: adding a standby that is far
 * behind would make every commit wait until it caught up. Progress is the flush position, not reply_time: a
 * reply that flushes nothing releases no commit, and an idle standby that owes nothing is never silent.
 */
import { lsnDiff } from '../postgres/wal';
import { INVARIANTS, Invariant } from './invariants';

/** One row of pg_stat_replication. */
export interface StandbyRow {
  /** application_name: the standby's pod name. */
  name: string;
  /** `streaming`, `catchup`, `startup`, `backup`, `stopping`. */
  state: string;
  /** What the standby reported as flushed to its disk; absent before its first reply. */
  flushLsn?: string;
}

/** What the decision remembers between observations, per standby. */
export interface StandbyMemory {
  flushLsn?: string;
  /** It owed WAL at that observation. */
  owed: boolean;
  /** Monotonic ms of the observation where it last flushed more, or first owed WAL after being caught up. */
  lastProgressMs: number;
}

export interface SynchronousMemory {
  /** The standbys listed now (preferred only; required lists every peer). */
  members: string[];
  standbys: Record<string, StandbyMemory>;
}

export const NO_SYNCHRONOUS_MEMORY: SynchronousMemory = { members: [], standbys: {} };

export interface SynchronousFacts {
  number: number;
  dataDurability: 'required' | 'preferred';
  /** The cluster's other instances (pod names), in ordinal order. */
  peers: string[];
  /** pg_current_wal_lsn() on the primary; absent for `required` (not needed) or while it is not known. */
  currentLsn?: string;
  standbys: StandbyRow[];
  /** Monotonic clock of the observation (ms). */
  nowMs: number;
  /** A standby that owes WAL and flushes nothing more for this long no longer holds commits (preferred). */
  silentAfterMs: number;
  /** A standby is listed again only within this many bytes of the primary (preferred). */
  catchUpBytes: number;
}

/** One standby that joined or left the synchronous set, with the reason (one log line). */
export interface SynchronousChange {
  standby: string;
  change: 'dropped' | 'added';
  why: string;
  /** What to do, for a dropped standby (it comes back on its own when it catches up). */
  fix?: string;
}

const DROPPED_FIX =
  'Nothing while it comes back: it is listed again once it streams within reach of the primary. ' +
  'Until then the newest commits are on this primary only; if it stays away, look at its pod and log. ' +
  'For commits that always wait, use synchronous dataDurability: required.';

export interface SynchronousDecision {
  /** The value for synchronous_standby_names: `ANY n ("a", "b")`, or '' (asynchronous). */
  value: string;
  members: string[];
  changes: SynchronousChange[];
  memory: SynchronousMemory;
  invariant?: Invariant;
}

/** `ANY n ("a", "b")` for the given members (in peer order), or '' when there are none. */
export function synchronousStandbyNames(number: number, members: string[]): string {
  return members.length ? `ANY ${Math.min(number, members.length)} (${members.map(m => `"${m}"`).join(', ')})` : '';
}

export function decideSynchronousStandbys(f: SynchronousFacts, previous: SynchronousMemory): SynchronousDecision {
  if (f.dataDurability === 'required') {
    return {
      value: synchronousStandbyNames(f.number, f.peers),
      members: [...f.peers],
      changes: [],
      memory: previous,
      invariant: INVARIANTS.NO_LOST_ACK,
    };
  }
  const standbys: Record<string, StandbyMemory> = {};
  const members: string[] = [];
  const changes: SynchronousChange[] = [];
  for (const peer of f.peers) {
    const row = f.standbys.find(s => s.name === peer);
    const wasMember = previous.members.includes(peer);
    if (!row) {
      if (wasMember)
        changes.push({
          standby: peer,
          change: 'dropped',
          why: `${peer} is not connected to this primary: commits no longer wait for it`,
          fix: DROPPED_FIX,
        });
      continue;
    }
    const before = previous.standbys[peer];
    const owedBytes = f.currentLsn && row.flushLsn ? Math.max(0, lsnDiff(f.currentLsn, row.flushLsn)) : undefined;
    const owed = owedBytes !== 0;
    // Silence is counted from the first look at which it owed WAL: an idle standby is not judged by how long ago it
    // last had something to flush.
    const progressed = !before || !before.owed || before.flushLsn !== row.flushLsn;
    const memory = { flushLsn: row.flushLsn, owed, lastProgressMs: progressed ? f.nowMs : before.lastProgressMs };
    standbys[peer] = memory;
    const silentMs = f.nowMs - memory.lastProgressMs;
    const silent = silentMs >= f.silentAfterMs;
    if (wasMember) {
      if (row.state !== 'streaming') {
        changes.push({
          standby: peer,
          change: 'dropped',
          why: `${peer} is ${row.state}, not streaming: commits no longer wait for it`,
          fix: DROPPED_FIX,
        });
      } else if (silent) {
        changes.push({
          standby: peer,
          change: 'dropped',
          why: `${peer} has flushed nothing for ${(silentMs / 1000).toFixed(1)} s while ${owedBytes ?? 'an unknown number of'} bytes are not on its disk: commits no longer wait for it (synchronous: preferred)`,
          fix: DROPPED_FIX,
        });
      } else {
        members.push(peer);
      }
      continue;
    }
    if (row.state === 'streaming' && !silent && owedBytes !== undefined && owedBytes <= f.catchUpBytes) {
      members.push(peer);
      changes.push({ standby: peer, change: 'added', why: `${peer} streams and is ${owedBytes} bytes behind: commits wait for it again` });
    }
  }
  return { value: synchronousStandbyNames(f.number, members), members, changes, memory: { members, standbys } };
}
