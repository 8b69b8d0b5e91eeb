/**
 * decideBackupKind and resolveChain (agent/src/decide/backup-chain.ts): full or incremental for the next scheduled
 * backup, and the chain a restore applies, refused with the missing piece named.
 */
import { ChainLink, decideBackupKind, resolveChain } from '../../agent/src/decide/backup-chain';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 2);
const SYS = '7400000000000000001';
const SOURCE = { timeline: 1, systemIdentifier: SYS, pgVersion: 150020 };

function link(id: string, day: number, over: Partial<ChainLink> = {}): ChainLink {
  return {
    id,
    kind: over.parent ? 'incremental' : 'full',
    status: 'DONE',
    beginTime: new Date(T0 + day * DAY),
    beginLsn: `0/${(day + 2).toString(16).toUpperCase()}000028`,
    timeline: 1,
    systemIdentifier: SYS,
    pgVersion: 150020,
    writer: 'pg-agent',
    ...(over.parent ? {} : { listsRelationFiles: true }),
    ...over,
  };
}

const F0 = link('F0', 0);
const I1 = link('I1', 1, { parent: 'F0' });
const I2 = link('I2', 2, { parent: 'I1' });
const CHAIN = [F0, I1, I2];
const WEEK = 7 * DAY;
const at = (day: number) => new Date(T0 + day * DAY + 3600_000);

describe('decideBackupKind', () => {
  test.each<[string, Parameters<typeof decideBackupKind>[0], string, string | undefined]>([
    ['off', { now: at(3), links: CHAIN, source: SOURCE }, 'full', undefined],
    ['nothing to build on', { fullEveryMs: WEEK, now: at(3), links: [], source: SOURCE }, 'full', undefined],
    ['on the newest backup of the chain', { fullEveryMs: WEEK, now: at(3), links: CHAIN, source: SOURCE }, 'incremental', 'I2'],
    ['on a full backup', { fullEveryMs: WEEK, now: at(1), links: [F0], source: SOURCE }, 'incremental', 'F0'],
    [
      "on a full backup that did not record its relation files (an older agent's): a full one",
      { fullEveryMs: WEEK, now: at(1), links: [{ ...F0, listsRelationFiles: false }], source: SOURCE },
      'full',
      undefined,
    ],
    [
      'on an incremental whose full did not record its relation files: its own manifest is the list',
      { fullEveryMs: WEEK, now: at(3), links: [{ ...F0, listsRelationFiles: false }, I1, I2], source: SOURCE },
      'incremental',
      'I2',
    ],
    ['the full is fullEvery old', { fullEveryMs: WEEK, now: at(7), links: CHAIN, source: SOURCE }, 'full', undefined],
    ['just younger than fullEvery', { fullEveryMs: WEEK, now: new Date(T0 + WEEK - 1), links: CHAIN, source: SOURCE }, 'incremental', 'I2'],
    [
      'the newest failed: on the one before',
      { fullEveryMs: WEEK, now: at(3), links: [F0, I1, { ...I2, status: 'FAILED' }], source: SOURCE },
      'incremental',
      'I1',
    ],
    [
      'a link lost its data',
      { fullEveryMs: WEEK, now: at(3), links: [F0, { ...I1, status: 'MISSING_DATA' }, I2], source: SOURCE },
      'full',
      undefined,
    ],
    ['a parent is gone', { fullEveryMs: WEEK, now: at(3), links: [I1, I2], source: SOURCE }, 'full', undefined],
    ['another timeline (a failover)', { fullEveryMs: WEEK, now: at(3), links: CHAIN, source: { ...SOURCE, timeline: 2 } }, 'full', undefined],
    ['another major version', { fullEveryMs: WEEK, now: at(3), links: CHAIN, source: { ...SOURCE, pgVersion: 170002 } }, 'full', undefined],
    ['a minor version is no reason', { fullEveryMs: WEEK, now: at(3), links: CHAIN, source: { ...SOURCE, pgVersion: 150021 } }, 'incremental', 'I2'],
    [
      'another system: its backups are not ours',
      { fullEveryMs: WEEK, now: at(3), links: CHAIN, source: { ...SOURCE, systemIdentifier: '1' } },
      'full',
      undefined,
    ],
    [
      "barman-cloud's backups are not parents",
      { fullEveryMs: WEEK, now: at(1), links: [{ ...F0, writer: 'barman-cloud' }], source: SOURCE },
      'full',
      undefined,
    ],
  ])('%s', (_name, facts, kind, parent) => {
    const d = decideBackupKind(facts);
    expect(d.kind).toBe(kind);
    expect(d.why).toEqual(expect.any(String));
    if (d.kind === 'incremental') {
      expect(d.parent.id).toBe(parent);
      expect(d.chain[0].kind).toBe('full');
      expect(d.chain[d.chain.length - 1].id).toBe(parent);
    }
  });
});

describe('resolveChain', () => {
  test('the full backup first, the wanted one last', () => {
    expect(resolveChain(CHAIN, 'I2')).toEqual({ ok: true, chain: CHAIN });
    expect(resolveChain(CHAIN, 'F0')).toEqual({ ok: true, chain: [F0] });
  });
  test.each<[string, ChainLink[], string, string, RegExp]>([
    ['unknown backup', CHAIN, 'X', 'X', /there is no backup X/],
    ['a parent is gone', [F0, I2], 'I2', 'I1', /backup I1, the parent of incremental backup I2, is not in the store/],
    [
      'a link is not complete',
      [F0, { ...I1, status: 'MISSING_DATA' }, I2],
      'I2',
      'I1',
      /incremental backup I1, a link of the chain of I2, is not complete \(status MISSING_DATA\)/,
    ],
    ['the full is not complete', [{ ...F0, status: 'FAILED' }, I1, I2], 'I2', 'F0', /full backup F0.* is not complete/],
    ['a parent younger than its child', [F0, { ...I1, beginTime: at(5) }, I2], 'I2', 'I1', /I1 does not start before its child I2/],
    ['no parent named', [F0, { ...I1, parent: undefined, kind: 'incremental' }], 'I1', 'I1', /names no parent/],
  ])('refused: %s', (_name, links, id, missing, why) => {
    const r = resolveChain(links, id);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.missing).toBe(missing);
      expect(r.why).toMatch(why);
    }
  });
});
