/**
 * The decision module's role and destructive decisions (agent/src/decide): start plan, failover, primary tick,
 * hand-over and take-over of a switchover, rejoin after a failed pg_rewind, room for a clone aside. Each row is a
 * set of observed facts and the answer the invariant demands; the e2e tests run the same functions in the agent.
 */
import {
  FailoverFacts,
  HandOverFacts,
  INVARIANTS,
  StartFacts,
  classifyRewindFailure,
  decideCloneAside,
  decideFailover,
  decideHandOver,
  decidePrimaryTick,
  decideTakeOver,
  mustFence,
  planStart,
} from '../../agent/src/decide';

const MiB = 1024 * 1024;

describe('planStart (I1 one identity)', () => {
  const base: StartFacts = {
    data: { kind: 'empty' },
    ordinal: 0,
    me: 'pg-0',
    origin: 'initdb',
    followingSource: false,
    leaseExists: false,
    primaryAnswers: false,
    namespace: 'db',
    leaseName: 'pg-primary',
  };
  const data = (systemIdentifier: string, standby = false) => ({ kind: 'initialized' as const, systemIdentifier, standby });
  type Row = [string, Partial<StartFacts>, string, Partial<Record<'role' | 'stepAside', unknown>>?];
  const table: Row[] = [
    ['a new cluster: ordinal 0 creates it', {}, 'initdb', { role: 'primary' }],
    ['a new cluster from a backup', { origin: 'recovery' }, 'restore'],
    ['a new cluster from an external server', { origin: 'clone-source' }, 'clone-source'],
    ['a new cluster: other ordinals clone', { ordinal: 1, me: 'pg-1' }, 'clone', { role: 'replica', stepAside: false }],
    ['existing primary data starts as primary', { data: data('7') }, 'start', { role: 'primary' }],
    ['existing standby data starts as replica', { data: data('7', true) }, 'start', { role: 'replica' }],
    ['a standby of the external source is the primary-to-be', { data: data('7', true), followingSource: true }, 'start', { role: 'primary' }],
    ["data of this cluster's system", { data: data('7'), clusterIdentity: '7', leaseExists: true }, 'start'],
    ['data of another system is never started', { data: data('8'), clusterIdentity: '7', leaseExists: true }, 'wait'],
    // The drill of issue 12 item 1: the primary's pod came back within its own lease with an empty volume.
    [
      'empty volume, own lease, a replica holds the data: step aside and clone',
      { leaseExists: true, leaseHolder: 'pg-0', clusterIdentity: '7', peerWithData: 'pg-1' },
      'clone',
      { stepAside: true },
    ],
    ['empty volume, another pod holds the lease', { leaseExists: true, leaseHolder: 'pg-1', clusterIdentity: '7' }, 'clone', { stepAside: false }],
    ['empty volume, a primary answers on -rw', { primaryAnswers: true }, 'clone'],
    [
      'empty volume, the lease exists but nobody holds the data: never initdb',
      { leaseExists: true, leaseHolder: 'pg-0', clusterIdentity: '7' },
      'wait',
    ],
    ['empty volume, lease lost, a peer reports the identity and data', { clusterIdentity: '7', peerWithData: 'pg-1' }, 'clone'],
    ['empty volume, lease lost, only a stale peer report of the identity', { clusterIdentity: '7' }, 'wait'],
    ['empty volume with bootstrap.recovery once the cluster exists: no second restore', { origin: 'recovery', leaseExists: true }, 'wait'],
    [
      'empty replica volume of an existing cluster holding the lease steps aside',
      { ordinal: 1, me: 'pg-1', leaseExists: true, leaseHolder: 'pg-1' },
      'clone',
      { stepAside: true },
    ],
  ];
  // A rest parameter: jest takes a declared parameter beyond a row's length for a `done` callback.
  test.each(table)('%s', (...[, facts, action, extra]: Row) => {
    const plan = planStart({ ...base, ...facts });
    expect(plan.action).toBe(action);
    for (const [k, v] of Object.entries(extra ?? {})) expect((plan as any)[k]).toBe(v);
    if (plan.action === 'wait') {
      expect(plan.invariant).toBe(INVARIANTS.ONE_IDENTITY);
      expect(plan.fix).toMatch(/Nothing was (created|touched)/);
    }
  });
  test('initdb is reachable only when no trace of the cluster exists', () => {
    // Every combination of the facts that say "the cluster exists": none of them may ever give initdb.
    for (const leaseExists of [false, true])
      for (const clusterIdentity of [undefined, '7'])
        for (const primaryAnswers of [false, true])
          for (const leaseHolder of [undefined, 'pg-0', 'pg-1'])
            for (const peerWithData of [undefined, 'pg-1']) {
              const plan = planStart({ ...base, leaseExists, clusterIdentity, primaryAnswers, leaseHolder, peerWithData });
              const exists = leaseExists || !!clusterIdentity || primaryAnswers;
              expect(plan.action === 'initdb').toBe(!exists);
            }
  });
  test('the refusal names the way back', () => {
    const plan = planStart({ ...base, leaseExists: true, clusterIdentity: '7' });
    expect(plan.action === 'wait' && plan.fix).toMatch(/bootstrap\.recovery/);
    expect(plan.action === 'wait' && plan.fix).toContain('kubectl -n db delete lease pg-primary');
  });
});

describe('decideFailover (I3 no acknowledged write lost, I5 one writer)', () => {
  const base: FailoverFacts = {
    me: 'pg-1',
    ordinal: 1,
    leaseExpired: true,
    holder: 'pg-0',
    followingSource: false,
    receivedLsn: '0/5000000',
    primaryLsn: '0/5000100',
    maxLagBytes: 16 * MiB,
    peers: [],
    freshnessMs: 45000,
    namespace: 'db',
    leaseName: 'pg-primary',
  };
  type Row = [string, Partial<FailoverFacts>, string, RegExp?];
  const table: Row[] = [
    ['lease held and fresh: nothing to do', { leaseExpired: false }, 'none'],
    ['expired, close enough, no peer: promote', {}, 'promote'],
    ['expired, but postgres is not running here', { receivedLsn: undefined }, 'wait', /not running/],
    ['expired, but further behind than maxLagBytes', { primaryLsn: '0/7000000', receivedLsn: '0/5000000' }, 'wait', /33554432 bytes behind/],
    ['exactly maxLagBytes behind still promotes', { primaryLsn: '0/6000000', receivedLsn: '0/5000000' }, 'promote'],
    ['following the external source: never', { followingSource: true }, 'wait', /follows its external source/],
    [
      'a fresher peer goes first',
      { peers: [{ name: 'pg-2', ordinal: 2, receivedLsn: '0/5000008', reportedAgeMs: 1000 }] },
      'wait',
      /pg-2 is at least as far/,
    ],
    [
      'an equal peer with a lower ordinal goes first',
      { me: 'pg-2', ordinal: 2, peers: [{ name: 'pg-1', ordinal: 1, receivedLsn: '0/5000000', reportedAgeMs: 1000 }] },
      'wait',
    ],
    [
      'an equal peer with a higher ordinal does not',
      { peers: [{ name: 'pg-2', ordinal: 2, receivedLsn: '0/5000000', reportedAgeMs: 1000 }] },
      'promote',
    ],
    ['a stale peer report does not block', { peers: [{ name: 'pg-2', ordinal: 2, receivedLsn: '0/9000000', reportedAgeMs: 60000 }] }, 'promote'],
    ["the old holder's own report is ignored", { peers: [{ name: 'pg-0', ordinal: 0, receivedLsn: '0/9000000', reportedAgeMs: 10 }] }, 'promote'],
    ['no published primary position: the peers decide', { primaryLsn: undefined }, 'promote'],
  ];
  test.each(table)('%s', (...[, facts, action, why]: Row) => {
    const d = decideFailover({ ...base, ...facts });
    expect(d.action).toBe(action);
    if (why && d.action !== 'none') expect(d.why).toMatch(why);
  });
  test('the max-lag refusal says what to do', () => {
    const d = decideFailover({ ...base, primaryLsn: '0/7000000' });
    expect(d.action === 'wait' && d.fix).toContain('kubectl -n db delete lease pg-primary');
  });
});

describe('primary tick and fencing (I5 one writer)', () => {
  test.each([
    ['renews its own lease', { holder: 'pg-0' }, 'renew'],
    ['demotes when another pod holds it', { holder: 'pg-1' }, 'demote'],
    ['hands over on a switchover request', { holder: 'pg-0', switchoverTo: 'pg-1' }, 'hand-over'],
    ['a request naming itself is nothing to do', { holder: 'pg-0', switchoverTo: 'pg-0' }, 'renew'],
    ['demotion wins over a switchover request', { holder: 'pg-1', switchoverTo: 'pg-1' }, 'demote'],
  ] as const)('%s', (_n, facts, action) => {
    expect(decidePrimaryTick({ me: 'pg-0', msSinceRenewal: 0, renewDeadlineMs: 10000, ...facts }).action).toBe(action);
  });
  test('fences after two thirds of the lease without renewal, not before', () => {
    expect(mustFence(9999, 10000)).toBe(false);
    expect(mustFence(10001, 10000)).toBe(true);
  });
});

describe('switchover (I3 no acknowledged write lost)', () => {
  const base: HandOverFacts = {
    me: 'pg-0',
    target: 'pg-1',
    instances: ['pg-0', 'pg-1', 'pg-2'],
    replicas: [{ name: 'pg-1', state: 'streaming', lagBytes: 0 }],
    maxLagBytes: 16 * MiB,
    followingSource: false,
  };
  test.each([
    ['a streaming target: hand over', {}, 'hand-over'],
    ['the target is not connected (primary just restarted): refuse', { replicas: [] }, 'refuse'],
    ['the target is catching up, not streaming: refuse', { replicas: [{ name: 'pg-1', state: 'catchup', lagBytes: 0 }] }, 'refuse'],
    ['the target is far behind: refuse', { replicas: [{ name: 'pg-1', state: 'streaming', lagBytes: 20 * MiB }] }, 'refuse'],
    ['not an instance of this cluster', { target: 'other-1' }, 'refuse'],
    ['itself', { target: 'pg-0' }, 'refuse'],
    ['following the external source', { followingSource: true }, 'refuse'],
  ] as const)('hand-over: %s', (_n, facts, action) => {
    const d = decideHandOver({ ...base, ...facts } as HandOverFacts);
    expect(d.action).toBe(action);
    if (d.action === 'refuse') expect(d.why).toMatch(/^switchover to .* refused: /);
  });
  test.each([
    ['replayed past the final position: promote', { replayLsn: '0/5063A98' }, 'promote'],
    // The drill of issue 12 item 2: the target was at 0/5000028 while the old primary had WAL to 0/5063A28.
    ['behind the final position, within the bound: wait', { replayLsn: '0/5000028' }, 'wait'],
    ["exactly at the checkpoint's start has not replayed it: wait", { replayLsn: '0/5063A28' }, 'wait'],
    ['behind after the bound: refuse', { replayLsn: '0/5000028', waitedMs: 31000 }, 'refuse'],
    ['postgres not running after the bound: refuse', { replayLsn: undefined, waitedMs: 31000 }, 'refuse'],
    ['no final position published: refuse at once', { finalLsn: undefined }, 'refuse'],
  ] as const)('take-over: %s', (_n, facts, action) => {
    expect(decideTakeOver({ finalLsn: '0/5063A28', waitedMs: 0, boundMs: 30000, ...facts }).action).toBe(action);
  });
});

describe('rejoin after pg_rewind failed (I2 verify before destroy)', () => {
  // Messages as pg_rewind 15 prints them.
  test.each([
    ['pg_rewind: error: could not connect to server: Connection refused', 'unreachable'],
    ['connection to server at "10.0.0.1", port 5432 failed: FATAL:  the database system is starting up', 'unreachable'],
    ['connection to server at "10.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "postgres"', 'blocked'],
    ['pg_rewind: error: source and target clusters are from different systems', 'blocked'],
    ['pg_rewind: error: could not write file "base/5/1259": No space left on device', 'blocked'],
    ['pg_rewind: error: could not open file "/pgdata/global/pg_control" for reading: Permission denied', 'blocked'],
    ['pg_rewind: error: must be superuser to run this function', 'blocked'],
    ['pg_rewind: error: something nobody has seen before', 'blocked'],
    ['pg_rewind: error: could not find previous WAL record at 0/3000060', 'diverged'],
    ['pg_rewind: error: could not open file "/pgdata/pg_wal/000000010000000000000003": No such file or directory', 'diverged'],
    ['pg_rewind: error: could not restore file "000000010000000000000003" from archive', 'diverged'],
    ['pg_rewind: error: target server needs to use either data checksums or "wal_log_hints = on"', 'diverged'],
  ] as const)('%s → %s', (message, kind) => {
    const f = classifyRewindFailure(message);
    expect(f.kind).toBe(kind);
    if (f.kind === 'blocked') {
      expect(f.invariant).toBe(INVARIANTS.VERIFY_BEFORE_DESTROY);
      expect(f.fix.length).toBeGreaterThan(20);
    }
  });
  test('nothing unclassified is ever cloned over', () => {
    for (const m of ['', 'error', 'pg_rewind: fatal: out of memory', 'could not read file "base/1/2": Input/output error']) {
      expect(classifyRewindFailure(m).kind).toBe('blocked');
    }
  });
  test.each([
    ['room for a copy beside the data', 5000 * MiB, 1000 * MiB, 'clone-aside'],
    ['not enough room: the data is kept', 1000 * MiB, 1000 * MiB, 'wait'],
    ['a small database on a mostly empty volume', 1800 * MiB, 60 * MiB, 'clone-aside'],
  ] as const)('clone aside: %s', (_n, freeBytes, neededBytes, action) => {
    const d = decideCloneAside({ freeBytes, neededBytes });
    expect(d.action).toBe(action);
    if (d.action === 'wait') expect(d.fix).toMatch(/storage\.size/);
  });
});
