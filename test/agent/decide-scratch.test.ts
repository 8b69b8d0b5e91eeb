/**
 * decide/scratch.ts: may `pg-agent verify` use (and delete pgdata/ and tablespaces/ in) this scratch directory?
 * A table of observed facts → decision, then the fact gathering of verify/scratch-dir.ts on real directories.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ScratchFacts, decideScratch } from '../../agent/src/decide/scratch';
import { INVARIANTS } from '../../agent/src/decide/invariants';
import { scratchFacts, takeScratch } from '../../agent/src/verify/scratch-dir';
import { PATHS, VERIFY_SCRATCH_MARKER } from '../../lib/contract';

const PGDATA = '/var/lib/postgresql/data/pgdata';
const manifestPaths = [
  { path: PATHS.pgdata, source: 'the PGDATA of the manifests' },
  { path: PATHS.dataMount, source: 'the data volume mount of the manifests' },
];
const envPgdata = (p: string) => ({ path: p, source: 'PGDATA (environment)' });

/** An empty, new scratch on its own device, in a pod whose PGDATA is a live data directory on device 1. */
const base: ScratchFacts = {
  scratch: '/tmp/verify',
  dataPaths: [envPgdata(PGDATA), ...manifestPaths],
  exists: false,
  entries: [],
  hasMarker: false,
  scratchDevice: 2,
  pgdataDevice: { path: PGDATA, device: 1 },
};

type Row = [string, 'use' | 'refuse', Partial<ScratchFacts>, RegExp];
const table: Row[] = [
  // Usable: verify's own.
  ['a new directory off the data volume', 'use', {}, /^a new directory/],
  ['an empty directory', 'use', { exists: true }, /^an empty directory/],
  ['an empty new ext4 volume (lost+found only, left out by the facts)', 'use', { exists: true, entries: [] }, /^an empty directory/],
  [
    "verify's own scratch with a restore left by a killed run",
    'use',
    { exists: true, entries: [VERIFY_SCRATCH_MARKER, 'pgdata'], hasMarker: true },
    /^verify's own scratch directory/,
  ],
  [
    'no PGDATA known (the RestoreDrill pod): device not compared',
    'use',
    { dataPaths: manifestPaths, pgdataDevice: undefined, scratchDevice: 1 },
    /^a new directory/,
  ],
  [
    "the RestoreDrill's scratch mount next to the data mount",
    'use',
    { scratch: '/var/lib/postgresql/scratch', dataPaths: manifestPaths, pgdataDevice: undefined, exists: true },
    /^an empty directory/,
  ],
  // The live data, by path.
  [
    'PGDATA itself (environment)',
    'refuse',
    { scratch: '/data/pg', dataPaths: [envPgdata('/data/pg')], exists: true, entries: ['PG_VERSION'] },
    /^it is PGDATA \(environment\) \/data\/pg, the live data$/,
  ],
  [
    "the manifests' data mount",
    'refuse',
    { scratch: PATHS.dataMount, exists: true, entries: ['pgdata'] },
    /^it contains PGDATA \(environment\) \/var\/lib\/postgresql\/data\/pgdata, the live data$/,
  ],
  [
    "the manifests' data mount, PGDATA not set",
    'refuse',
    { scratch: PATHS.dataMount, dataPaths: manifestPaths, pgdataDevice: undefined },
    /^it contains the PGDATA of the manifests/,
  ],
  ['inside PGDATA', 'refuse', { scratch: `${PGDATA}/base` }, /^it is inside PGDATA \(environment\) /],
  ['a parent of PGDATA', 'refuse', { scratch: '/var/lib/postgresql' }, /^it contains PGDATA/],
  ['the root directory', 'refuse', { scratch: '/' }, /^it contains PGDATA/],
  [
    'a sibling whose name starts like PGDATA is not inside it',
    'use',
    { scratch: `${PGDATA}-verify`, dataPaths: [envPgdata(PGDATA)] },
    /^a new directory/,
  ],
  // The live data, by what is there.
  [
    'a data directory of another path (PG_VERSION in it)',
    'refuse',
    { scratch: '/srv/pg', dataPaths: [], pgdataDevice: undefined, exists: true, entries: ['PG_VERSION'], insideDataDir: '/srv/pg' },
    /^it is a PostgreSQL data directory/,
  ],
  [
    'inside a data directory',
    'refuse',
    { scratch: '/srv/pg/x', dataPaths: [], pgdataDevice: undefined, insideDataDir: '/srv/pg' },
    /^it is inside the PostgreSQL data directory \/srv\/pg$/,
  ],
  [
    'a directory that holds a data directory',
    'refuse',
    { scratch: '/srv', dataPaths: [], pgdataDevice: undefined, exists: true, entries: ['pg'], containsDataDir: '/srv/pg' },
    /^it contains the PostgreSQL data directory \/srv\/pg$/,
  ],
  [
    'a data directory even with the marker in it',
    'refuse',
    {
      scratch: '/srv',
      dataPaths: [],
      pgdataDevice: undefined,
      exists: true,
      hasMarker: true,
      entries: [VERIFY_SCRATCH_MARKER, 'old'],
      containsDataDir: '/srv/old',
    },
    /^it contains the PostgreSQL data directory/,
  ],
  // The data volume, by device.
  [
    "a new directory on PGDATA's filesystem",
    'refuse',
    { scratch: '/pv/verify', dataPaths: [envPgdata('/pv/pgdata')], scratchDevice: 1 },
    /^it is on the data volume: the same filesystem \(device 1\) as PGDATA /,
  ],
  [
    "verify's own marked scratch on PGDATA's filesystem",
    'refuse',
    { scratch: '/elsewhere', exists: true, hasMarker: true, entries: [VERIFY_SCRATCH_MARKER], scratchDevice: 1 },
    /^it is on the data volume/,
  ],
  // Somebody else's directory.
  [
    'a non-empty directory without the marker',
    'refuse',
    { exists: true, entries: ['pgdata', 'notes.txt'] },
    /^it is not empty and has no \.pg-agent-verify-scratch marker, so verify did not make it \(it holds notes\.txt, pgdata\)$/,
  ],
  ['many entries are shortened', 'refuse', { exists: true, entries: ['a', 'b', 'c', 'd'] }, /\(it holds a, b, c, …\)$/],
  ['a file', 'refuse', { exists: true, notADirectory: true }, /^it is not a directory$/],
];

describe('decideScratch', () => {
  test.each(table)('%s → %s', (_name, action, facts, why) => {
    const d = decideScratch({ ...base, ...facts });
    expect(d.action).toBe(action);
    expect(d.why).toMatch(why);
    expect(d.invariant).toBe(INVARIANTS.VERIFY_BEFORE_DESTROY);
    if (d.action === 'refuse') {
      expect(d.fix).toMatch(/--scratch \(or PGC_VERIFY_SCRATCH\)/);
      expect(d.fix).toMatch(/nothing was deleted\.$/);
    }
  });

  test("a new or empty directory is marked before use; verify's own is not marked again", () => {
    expect(decideScratch(base)).toMatchObject({ action: 'use', mark: true });
    expect(decideScratch({ ...base, exists: true })).toMatchObject({ action: 'use', mark: true });
    expect(decideScratch({ ...base, exists: true, hasMarker: true, entries: [VERIFY_SCRATCH_MARKER] })).toMatchObject({ action: 'use', mark: false });
  });
});

describe('scratchFacts (real directories)', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-scratch-facts-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  const mkDataDir = (dir: string) => {
    fs.mkdirSync(path.join(dir, 'global'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'PG_VERSION'), '15\n');
  };

  test('the PGDATA of the environment, a data directory around or below, the same device, lost+found', () => {
    const pgdata = path.join(root, 'data', 'pgdata');
    mkDataDir(pgdata);
    const env = { PGDATA: pgdata };
    expect(decideScratch(scratchFacts(path.join(root, 'data'), env))).toMatchObject({
      action: 'refuse',
      why: expect.stringMatching(/^it contains PGDATA \(environment\)/),
    });
    expect(decideScratch(scratchFacts(path.join(pgdata, 'base'), env))).toMatchObject({
      action: 'refuse',
      why: expect.stringMatching(/^it is inside PGDATA/),
    });
    // Same filesystem as the live PGDATA (everything here is under one tmp directory).
    expect(decideScratch(scratchFacts(path.join(root, 'verify'), env))).toMatchObject({
      action: 'refuse',
      why: expect.stringMatching(/^it is on the data volume/),
    });
    // Without PGDATA in the environment: found by looking.
    expect(decideScratch(scratchFacts(path.join(root, 'data'), {}))).toMatchObject({
      action: 'refuse',
      why: `it contains the PostgreSQL data directory ${pgdata}`,
    });
    expect(decideScratch(scratchFacts(path.join(pgdata, 'global'), {}))).toMatchObject({
      action: 'refuse',
      why: `it is inside the PostgreSQL data directory ${pgdata}`,
    });
    // A symbolic link does not hide PGDATA.
    fs.symlinkSync(pgdata, path.join(root, 'link'));
    expect(decideScratch(scratchFacts(path.join(root, 'link'), env))).toMatchObject({
      action: 'refuse',
      why: expect.stringMatching(/^it is PGDATA/),
    });
    // A new volume's lost+found does not make it non-empty.
    const fresh = path.join(root, 'fresh');
    fs.mkdirSync(path.join(fresh, 'lost+found'), { recursive: true });
    expect(decideScratch(scratchFacts(fresh, {}))).toMatchObject({ action: 'use', mark: true });
  });

  test('taken once, a scratch with a restore left by a killed run stays usable; a foreign file does not', () => {
    const scratch = path.join(root, 'scratch');
    const first = decideScratch(scratchFacts(scratch, {}));
    expect(first).toMatchObject({ action: 'use', mark: true });
    takeScratch(scratch, true);
    expect(fs.existsSync(path.join(scratch, VERIFY_SCRATCH_MARKER))).toBe(true);
    mkDataDir(path.join(scratch, 'pgdata'));
    expect(decideScratch(scratchFacts(scratch, {}))).toMatchObject({ action: 'use', mark: false });
    const other = path.join(root, 'other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'keep'), '');
    expect(decideScratch(scratchFacts(other, {}))).toMatchObject({ action: 'refuse', why: expect.stringMatching(/^it is not empty/) });
  });
});
