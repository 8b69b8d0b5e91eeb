/**
 * decide/parameters.ts: who restarts for parameters that wait for a restart (`pending_restart`), who waits and why.
 * Replicas first, one at a time in ordinal order; the primary last, by handing over to a replica that streams and
 * already runs the new parameters (at most one switchover); a single instance restarts in place.
 */
import { RestartFacts, decideParameterRestart } from '../../agent/src/decide/parameters';
import { INVARIANTS } from '../../agent/src/decide/invariants';
import { loweredStandbyMinimums } from '../../agent/src/instance/cluster-config';

const NEW = 'new0000hash1';
const OLD = 'old0000hash0';

/** pg-1 of a 3-instance cluster whose primary is pg-0, everyone on the new parameters and pending a restart. */
const replica: RestartFacts = {
  me: 'pg-1',
  ordinal: 1,
  role: 'replica',
  instances: 3,
  wantedHash: NEW,
  pendingRestart: true,
  lowersStandbyMinimums: [],
  streaming: true,
  peers: [
    { name: 'pg-0', ordinal: 0, role: 'primary', pendingRestartHash: NEW },
    { name: 'pg-2', ordinal: 2, role: 'replica', pendingRestartHash: NEW },
  ],
  streamingReplicas: [],
};

/** pg-0, the primary, once both replicas restarted and run the new parameters. */
const primary: RestartFacts = {
  me: 'pg-0',
  ordinal: 0,
  role: 'primary',
  instances: 3,
  wantedHash: NEW,
  pendingRestart: true,
  lowersStandbyMinimums: [],
  streaming: false,
  peers: [
    { name: 'pg-1', ordinal: 1, role: 'replica', appliedHash: NEW },
    { name: 'pg-2', ordinal: 2, role: 'replica', appliedHash: NEW },
  ],
  streamingReplicas: ['pg-1', 'pg-2'],
};

type Row = [string, RestartFacts, string, RegExp];
const table: Row[] = [
  ['nothing pending', { ...replica, pendingRestart: false }, 'none', /^no parameter waits/],
  ['nothing pending on the primary', { ...primary, pendingRestart: false }, 'none', /^no parameter waits/],
  // Replicas.
  ['the lowest pending replica restarts in place', replica, 'restart-in-place', /^a replica restarts postgres in place/],
  [
    'a replica after a lower one that is still pending waits',
    { ...replica, me: 'pg-2', ordinal: 2, peers: [replica.peers[0], { name: 'pg-1', ordinal: 1, role: 'replica', pendingRestartHash: NEW }] },
    'wait',
    /^pg-1 restarts for new parameters first/,
  ],
  [
    'a replica whose lower peer restarted (applied) goes next',
    { ...replica, me: 'pg-2', ordinal: 2, peers: [replica.peers[0], { name: 'pg-1', ordinal: 1, role: 'replica', appliedHash: NEW }] },
    'restart-in-place',
    /^a replica restarts/,
  ],
  [
    'a pending primary does not hold a replica back',
    { ...replica, peers: [{ name: 'pg-0', ordinal: 0, role: 'primary', pendingRestartHash: NEW }] },
    'restart-in-place',
    /^a replica restarts/,
  ],
  [
    'a replica that does not stream waits (no restart stacked on an outage)',
    { ...replica, streaming: false },
    'wait',
    /^a restart for new parameters waits until this replica streams again/,
  ],
  [
    'an unlabelled lower peer that is pending goes first',
    { ...replica, me: 'pg-2', ordinal: 2, peers: [{ name: 'pg-1', ordinal: 1, pendingRestartHash: NEW }] },
    'wait',
    /^pg-1 restarts/,
  ],
  // The primary.
  [
    'the primary hands over to the lowest streaming replica that runs the new parameters',
    primary,
    'hand-over',
    /^pg-1 streams and runs the new parameters/,
  ],
  [
    'the primary waits while a replica is still pending',
    { ...primary, peers: [primary.peers[0], { name: 'pg-2', ordinal: 2, role: 'replica', pendingRestartHash: NEW }] },
    'wait',
    /^the primary restarts for new parameters after the replicas \(pg-2 not restarted yet\)/,
  ],
  [
    'the primary waits for a replica the kubelet has not refreshed yet',
    {
      ...primary,
      peers: [
        { name: 'pg-1', ordinal: 1, role: 'replica', appliedHash: OLD },
        { name: 'pg-2', ordinal: 2, role: 'replica', appliedHash: OLD },
      ],
    },
    'wait',
    /once a replica runs them \(pg-1, pg-2 not yet/,
  ],
  [
    'a replica on the new parameters that does not stream is no target',
    { ...primary, streamingReplicas: ['pg-1'], peers: [{ name: 'pg-1', ordinal: 1, role: 'replica', appliedHash: OLD }, primary.peers[1]] },
    'wait',
    /once a replica runs them \(pg-1 not yet/,
  ],
  ['the only fitting target is the streaming one', { ...primary, streamingReplicas: ['pg-2'] }, 'hand-over', /^pg-2 streams/],
  ['no replica streams', { ...primary, streamingReplicas: [] }, 'wait', /once a replica that runs them streams from it/],
  [
    'a single instance restarts in place',
    { ...primary, instances: 1, peers: [], streamingReplicas: [] },
    'restart-in-place',
    /^a single instance has nobody to hand over to/,
  ],
  // Lowering max_connections & co: a standby cannot start below its primary, so the primary goes first, in place.
  [
    'lowered max_connections: the primary restarts in place first, with replicas still pending',
    {
      ...primary,
      lowersStandbyMinimums: ['max_connections'],
      peers: replica.peers.slice(1).concat({ name: 'pg-1', ordinal: 1, role: 'replica', pendingRestartHash: NEW }),
    },
    'restart-in-place',
    /^the primary restarts in place first .*max_connections goes down/,
  ],
  [
    'lowered max_connections: a replica waits while the primary is pending',
    { ...replica, lowersStandbyMinimums: ['max_connections'] },
    'wait',
    /^the primary restarts first: a standby cannot start with a lower max_connections than its primary/,
  ],
  [
    'lowered max_connections: a replica waits while the primary runs other parameters',
    { ...replica, lowersStandbyMinimums: ['max_connections'], peers: [{ name: 'pg-0', ordinal: 0, role: 'primary', appliedHash: OLD }] },
    'wait',
    /^the primary restarts first/,
  ],
  [
    'lowered max_connections: once the primary runs them, the lowest replica restarts',
    {
      ...replica,
      lowersStandbyMinimums: ['max_connections'],
      peers: [{ name: 'pg-0', ordinal: 0, role: 'primary', appliedHash: NEW }, replica.peers[1]],
    },
    'restart-in-place',
    /^a replica restarts/,
  ],
  [
    'lowered max_connections: the replicas still go one at a time',
    {
      ...replica,
      me: 'pg-2',
      ordinal: 2,
      lowersStandbyMinimums: ['max_connections'],
      peers: [
        { name: 'pg-0', ordinal: 0, role: 'primary', appliedHash: NEW },
        { name: 'pg-1', ordinal: 1, role: 'replica', pendingRestartHash: NEW },
      ],
    },
    'wait',
    /^pg-1 restarts/,
  ],
];

describe('loweredStandbyMinimums', () => {
  test("only a lower value of a standby-limited parameter counts, with PostgreSQL's default for a missing one", () => {
    expect(loweredStandbyMinimums({ max_connections: '200' }, { max_connections: '100' })).toEqual(['max_connections']);
    expect(loweredStandbyMinimums({}, { max_connections: '50', max_worker_processes: '16' })).toEqual(['max_connections']);
    expect(loweredStandbyMinimums({ max_locks_per_transaction: '128' }, {})).toEqual(['max_locks_per_transaction']);
    expect(loweredStandbyMinimums({ max_connections: '100' }, { max_connections: '200', shared_buffers: '1MB' })).toEqual([]);
  });
});

describe('decideParameterRestart', () => {
  test.each(table)('%s', (_name, facts, action, why) => {
    const d = decideParameterRestart(facts);
    expect(d.action).toBe(action);
    expect(d.why).toMatch(why);
    if (d.action === 'wait') {
      expect(d.invariant).toBe(INVARIANTS.NO_LOST_ACK);
      expect(d.fix).toBeTruthy();
    }
    if (d.action === 'hand-over') expect(facts.streamingReplicas).toContain(d.target);
  });

  test('a whole round: each replica restarts alone, then the primary hands over once, and nobody restarts twice', () => {
    // Simulate 3 instances: each step, every instance decides; a restart or hand-over clears its pending flag.
    const state = [
      { name: 'pg-0', role: 'primary' as const, pending: true },
      { name: 'pg-1', role: 'replica' as const, pending: true },
      { name: 'pg-2', role: 'replica' as const, pending: true },
    ];
    const actions: string[] = [];
    for (let round = 0; round < 5 && state.some(s => s.pending); round++) {
      const decisions = state.map((s, i) =>
        decideParameterRestart({
          me: s.name,
          ordinal: i,
          role: s.role,
          instances: 3,
          wantedHash: NEW,
          pendingRestart: s.pending,
          lowersStandbyMinimums: [],
          streaming: true,
          peers: state
            .filter(p => p !== s)
            .map(p => ({
              name: p.name,
              ordinal: state.indexOf(p),
              role: p.role,
              appliedHash: p.pending ? undefined : NEW,
              pendingRestartHash: p.pending ? NEW : undefined,
            })),
          streamingReplicas: ['pg-1', 'pg-2'],
        }),
      );
      const acting = decisions.map((d, i) => [d, i] as const).filter(([d]) => d.action === 'restart-in-place' || d.action === 'hand-over');
      expect(acting.length).toBeLessThanOrEqual(1); // one instance at a time
      for (const [d, i] of acting) {
        actions.push(`${state[i].name}:${d.action}`);
        state[i].pending = false;
      }
    }
    expect(actions).toEqual(['pg-1:restart-in-place', 'pg-2:restart-in-place', 'pg-0:hand-over']);
  });
});
