/**
 * decideRollout (agent/src/decide/rollout.ts): who replaces its own pod in an OnDelete rollout, and who waits.
 * Replicas first, one pod at a time, lowest ordinal first; the primary last, only when every replica runs the new
 * template and one streams from it (its stop hands the lease over); a single instance replaces itself.
 * And the take-over of that hand-over: when the target may skip archive lookups while it promotes.
 */
import { RolloutFacts, RolloutPeer, decideArchiveLookupsOnTakeOver, decideRollout } from '../../agent/src/decide';

const OLD = 'pg-aaa';
const NEW = 'pg-bbb';
const peer = (ordinal: number, o: Partial<RolloutPeer> = {}): RolloutPeer => ({
  name: `pg-${ordinal}`,
  ordinal,
  exists: true,
  revision: OLD,
  ready: true,
  terminating: false,
  primary: false,
  ...o,
});
const replica = (ordinal: number, peers: RolloutPeer[], o: Partial<RolloutFacts> = {}): RolloutFacts => ({
  strategy: 'OnDelete',
  me: `pg-${ordinal}`,
  ordinal,
  role: 'replica',
  myRevision: OLD,
  updateRevision: NEW,
  peers,
  streaming: [],
  ...o,
});
const primary = (ordinal: number, peers: RolloutPeer[], o: Partial<RolloutFacts> = {}): RolloutFacts => ({
  strategy: 'OnDelete',
  me: `pg-${ordinal}`,
  ordinal,
  role: 'primary',
  myRevision: OLD,
  updateRevision: NEW,
  peers,
  streaming: peers.map(p => p.name),
  ...o,
});

type Row = [string, RolloutFacts, 'none' | 'wait' | 'replace-own-pod', RegExp?];
const table: Row[] = [
  [
    'RollingUpdate (an escape hatch): the controller replaces pods, the agents do not',
    replica(1, [peer(0, { primary: true })], { strategy: 'RollingUpdate' }),
    'none',
  ],
  ['up to date: nothing to do', replica(1, [peer(0, { primary: true })], { myRevision: NEW }), 'none'],
  ['no StatefulSet revision known (API double without a controller, old API): nothing', replica(1, [peer(0)], { updateRevision: undefined }), 'none'],
  ['a pod without a revision label (not made by a StatefulSet): nothing', replica(1, [peer(0)], { myRevision: undefined }), 'none'],
  ['outdated replica, the primary ready: replaces itself', replica(1, [peer(0, { primary: true })]), 'replace-own-pod'],
  [
    'outdated replica on ordinal 0 with the primary on 1: replaces itself (the primary is last, whatever its ordinal)',
    replica(0, [peer(1, { primary: true })]),
    'replace-own-pod',
  ],
  ['outdated replica while the primary is not ready: waits', replica(1, [peer(0, { primary: true, ready: false })]), 'wait', /pg-0 is not ready/],
  [
    'outdated replica while another pod is stopping: waits',
    replica(2, [peer(0, { primary: true }), peer(1, { terminating: true })]),
    'wait',
    /pg-1 is stopping/,
  ],
  [
    'outdated replica while another pod is being recreated: waits',
    replica(2, [peer(0, { primary: true }), peer(1, { exists: false, revision: undefined, ready: false })]),
    'wait',
    /pg-1 is being recreated/,
  ],
  ['two outdated replicas: the lower ordinal goes first', replica(2, [peer(0, { primary: true }), peer(1)]), 'wait', /pg-1 is replaced first/],
  ['two outdated replicas: the lower ordinal does not wait for the higher', replica(1, [peer(0, { primary: true }), peer(2)]), 'replace-own-pod'],
  ['the second replica after the first was replaced', replica(2, [peer(0, { primary: true }), peer(1, { revision: NEW })]), 'replace-own-pod'],
  ['outdated primary while a replica is outdated: replicas first', primary(0, [peer(1)]), 'wait', /replicas first \(pg-1/],
  [
    'outdated primary, every replica updated and streaming: replaces itself (hand-over on stop)',
    primary(0, [peer(1, { revision: NEW })]),
    'replace-own-pod',
    /pg-1 streams/,
  ],
  ['outdated primary on ordinal 1, replica 0 updated and streaming', primary(1, [peer(0, { revision: NEW })]), 'replace-own-pod'],
  [
    'outdated primary, the updated replica not streaming yet: waits (no hand-over target)',
    primary(0, [peer(1, { revision: NEW })], { streaming: [] }),
    'wait',
    /no updated replica streams/,
  ],
  ['outdated primary, the updated replica not ready: waits', primary(0, [peer(1, { revision: NEW, ready: false })]), 'wait', /pg-1 is not ready/],
  ['a single instance replaces itself (downtime unavoidable, said in the log)', primary(0, []), 'replace-own-pod', /only instance/],
  ['three instances: primary waits until both replicas are updated', primary(0, [peer(1, { revision: NEW }), peer(2)]), 'wait', /pg-2/],
];

test.each(table)('%s', (...[, facts, action, why]: Row) => {
  const d = decideRollout(facts);
  expect(d.action).toBe(action);
  if (why) expect('why' in d ? d.why : '').toMatch(why);
});

test('at most one pod of a cluster replaces itself at any moment (every pod asks with the same view)', () => {
  // Three instances, all outdated and ready, primary on 1: only pg-0 (the lowest replica) may go.
  const all = [0, 1, 2].map(i => peer(i, { primary: i === 1 }));
  const decisions = all.map(me => {
    const peers = all.filter(p => p.name !== me.name);
    return me.primary ? decideRollout(primary(me.ordinal, peers)) : decideRollout(replica(me.ordinal, peers));
  });
  expect(decisions.map(d => d.action)).toEqual(['replace-own-pod', 'wait', 'wait']);
});

describe('decideArchiveLookupsOnTakeOver: may a switchover target skip archive lookups while it promotes?', () => {
  type LookupRow = [string, { localNewestTimeline: number; archivedHistories?: string[] }, 'pause' | 'keep'];
  const rows: LookupRow[] = [
    ['the archive could not be listed: keep (a timeline ID must never be reused)', { localNewestTimeline: 1, archivedHistories: undefined }, 'keep'],
    ['no history file archived, on timeline 1: pause (the promotion takes 2)', { localNewestTimeline: 1, archivedHistories: [] }, 'pause'],
    [
      "the archive holds this replica's own timeline history: pause",
      { localNewestTimeline: 3, archivedHistories: ['00000002.history', '00000003.history'] },
      'pause',
    ],
    [
      'the archive holds a higher timeline (an abandoned promotion elsewhere): keep',
      { localNewestTimeline: 2, archivedHistories: ['00000002.history', '00000004.history'] },
      'keep',
    ],
    ['hexadecimal timelines compare as numbers', { localNewestTimeline: 10, archivedHistories: ['0000000A.history'] }, 'pause'],
    ['hexadecimal timelines compare as numbers (above)', { localNewestTimeline: 10, archivedHistories: ['0000000B.history'] }, 'keep'],
  ];
  test.each(rows)('%s', (...[, facts, action]: LookupRow) => {
    expect(decideArchiveLookupsOnTakeOver(facts).action).toBe(action);
  });
});
