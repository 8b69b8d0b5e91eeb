/**
 * The incremental backup's filter and its application, without a server: a tar as pg_basebackup writes it
 * (ustar, made with tar-stream) goes through IncrementalFilter; the records are applied onto a directory holding
 * the parent's files. Pages are kept by LSN; a shrunk relation file is cut, a grown one extended; a file the source
 * no longer has is removed; files that are not relation main forks are stored whole.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import * as tar from 'tar-stream';
import { IncrementalFilter } from '../../agent/src/incremental/filter';
import { applyIncremental } from '../../agent/src/incremental/restore';

const P = 8192;

/** A heap-like page: pd_lsn (little-endian halves), pd_upper non-zero, a fill byte after the header. */
function page(lsnHi: number, lsnLo: number, fill: number): Buffer {
  const b = Buffer.alloc(P, fill);
  b.writeUInt32LE(lsnHi, 0);
  b.writeUInt32LE(lsnLo, 4);
  b.writeUInt16LE(24, 12); // pd_lower
  b.writeUInt16LE(8000, 14); // pd_upper
  return b;
}
const newPage = () => Buffer.alloc(P);

async function tarOf(entries: Array<{ name: string; body?: Buffer; type?: 'directory' }>): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory', mode: 0o700 });
    else pack.entry({ name: e.name, mode: 0o600 }, e.body!);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The relation files of the parent in the first test (what its manifest or relation-files.json lists). */
const PARENT_FILES = new Set(['base/5/16384', 'base/5/16390', 'base/5/16399']);

async function filtered(
  t: Buffer,
  since: string,
  chunk = 1000,
  /** null: no list (a full backup that did not record one). */
  parentFiles: ReadonlySet<string> | null = PARENT_FILES,
): Promise<{ data: Buffer; filter: IncrementalFilter }> {
  const filter = new IncrementalFilter(since, parentFiles ?? undefined);
  // Odd chunk sizes: headers and pages split across chunks.
  const parts: Buffer[] = [];
  for (let i = 0; i < t.length; i += chunk) parts.push(t.subarray(i, i + chunk));
  const out: Buffer[] = [];
  Readable.from(parts).pipe(filter);
  for await (const c of filter as AsyncIterable<Buffer>) out.push(c);
  return { data: Buffer.concat(out), filter };
}

describe('incremental format: filter and apply', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-incr-format-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each([1000, 512, 8192 + 7, 1 << 20])('pages by LSN, sizes and deletions replayed (chunks of %i bytes)', async chunk => {
    // The parent's files (as the full backup restored them).
    fs.mkdirSync(path.join(dir, 'base/5'), { recursive: true });
    const parentRel = [page(0, 0x100, 1), page(0, 0x200, 2), page(0, 0x300, 3), page(0, 0x400, 4)];
    fs.writeFileSync(path.join(dir, 'base/5/16384'), Buffer.concat(parentRel));
    fs.writeFileSync(path.join(dir, 'base/5/16390'), Buffer.concat([page(0, 0x100, 9), page(0, 0x100, 9)]));
    fs.writeFileSync(path.join(dir, 'base/5/16399'), Buffer.concat([page(0, 0x100, 7)])); // dropped since
    fs.writeFileSync(path.join(dir, 'postgresql.conf'), 'old\n');

    // The source now: page 1 changed (LSN after the parent's start 0/1000), page 2 as before, a new page 4 (zero);
    // 16390 truncated to one page; 16399 dropped; a new relation; the fsm changed with an old LSN (stored whole).
    const sourceRel = [parentRel[0], page(1, 0x10, 20), parentRel[2], parentRel[3], newPage()];
    const fsm = page(0, 0x50, 6);
    const t = await tarOf([
      { name: 'backup_label', body: Buffer.from('START WAL LOCATION: 1/100\n') },
      { name: 'base', type: 'directory' },
      { name: 'base/5', type: 'directory' },
      { name: 'base/5/16384', body: Buffer.concat(sourceRel) },
      { name: 'base/5/16384_fsm', body: fsm },
      { name: 'base/5/16390', body: page(0, 0x100, 9) },
      { name: 'base/5/16500', body: Buffer.concat([page(1, 0x20, 30), newPage()]) },
      { name: 'postgresql.conf', body: Buffer.from('new\n') },
    ]);
    const { data, filter } = await filtered(t, '0/1000', chunk);
    expect({ seen: filter.pagesSeen, kept: filter.pagesKept }).toEqual({ seen: 5 + 1 + 2, kept: 2 + 2 });
    const byPath = Object.fromEntries(filter.manifest.files.map(f => [f.path, f]));
    expect(byPath['base/5/16384']).toMatchObject({
      size: 5 * P,
      blocks: [
        [1, 1],
        [4, 4],
      ],
    });
    expect(byPath['base/5/16390']).toMatchObject({ size: P, blocks: [] });
    expect(byPath['base/5/16500']).toMatchObject({ size: 2 * P, blocks: [[0, 1]] });
    expect(byPath['base/5/16384_fsm'].blocks).toBeUndefined();
    // Far smaller than the tar: 4 pages and the small files.
    expect(data.length).toBeLessThan(5 * P + 2000);

    const applied = await applyIncremental(Readable.from([data]), filter.manifest, dir);
    expect(applied.pages).toBe(4);
    expect(fs.readFileSync(path.join(dir, 'base/5/16384')).equals(Buffer.concat(sourceRel))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'base/5/16384_fsm')).equals(fsm)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'base/5/16390')).equals(page(0, 0x100, 9))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'base/5/16500')).equals(Buffer.concat([page(1, 0x20, 30), newPage()]))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'base/5/16399'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'postgresql.conf'), 'utf8')).toBe('new\n');
    expect(fs.readFileSync(path.join(dir, 'backup_label'), 'utf8')).toContain('1/100');
  });

  test('a relation file new since the parent comes whole: listed parent, or no list at all; a partial new file is refused', async () => {
    // CREATE DATABASE … STRATEGY FILE_COPY: the new database's files carry the template's old LSNs.
    const copied = Buffer.concat([page(0, 0x100, 1), page(0, 0x100, 2)]);
    const t = await tarOf([
      { name: 'base/5/16384', body: page(0, 0x100, 1) },
      { name: 'base/9', type: 'directory' },
      { name: 'base/9/1259', body: copied },
    ]);
    fs.mkdirSync(path.join(dir, 'base/5'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'base/5/16384'), page(0, 0x100, 1));
    // The parent's list names 16384 only: 1259 is new, stored whole; 16384's old page is not stored.
    const listed = await filtered(t, '0/1000', 1000, new Set(['base/5/16384']));
    expect(listed.filter.pagesKept).toBe(2);
    // No list (a full backup that did not record one): every relation page is stored.
    const unlisted = await filtered(t, '0/1000', 1000, null);
    expect(unlisted.filter.pagesKept).toBe(3);
    // A list that wrongly names the new file: nothing of it stored, and the restore refuses rather than leave zeros.
    const wrong = await filtered(t, '0/1000', 1000, new Set(['base/5/16384', 'base/9/1259']));
    expect(wrong.filter.pagesKept).toBe(0);
    await expect(applyIncremental(Readable.from([wrong.data]), wrong.filter.manifest, dir)).rejects.toThrow(
      /base\/9\/1259 is new since the parent backup, but the incremental stored only 0 of its 2 pages/,
    );
    for (const { data, filter } of [listed, unlisted]) {
      const into = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-incr-format-'));
      try {
        fs.mkdirSync(path.join(into, 'base/5'), { recursive: true });
        fs.writeFileSync(path.join(into, 'base/5/16384'), page(0, 0x100, 1));
        await applyIncremental(Readable.from([data]), filter.manifest, into);
        expect(fs.readFileSync(path.join(into, 'base/9/1259')).equals(copied)).toBe(true);
        expect(fs.readFileSync(path.join(into, 'base/5/16384')).equals(page(0, 0x100, 1))).toBe(true);
      } finally {
        fs.rmSync(into, { recursive: true, force: true });
      }
    }
  });

  test('damaged data is refused: truncated, or listing other files than the manifest', async () => {
    const t = await tarOf([{ name: 'PG_VERSION', body: Buffer.from('15\n') }]);
    const { data, filter } = await filtered(t, '0/1');
    await expect(applyIncremental(Readable.from([data.subarray(0, data.length - 3)]), filter.manifest, dir)).rejects.toThrow(
      /ends in the middle of a record/,
    );
    await expect(
      applyIncremental(Readable.from([data]), { ...filter.manifest, files: [...filter.manifest.files, { path: 'x', size: 1, mode: 0o600 }] }, dir),
    ).rejects.toThrow(/data and its manifest list different files/);
  });

  test('a name outside the data directory is refused', async () => {
    const t = await tarOf([{ name: 'PG_VERSION', body: Buffer.from('15\n') }]);
    const { data, filter } = await filtered(t, '0/1');
    const evil = Buffer.from(data.toString('latin1').replace('PG_VERSION', '../../x/'), 'latin1');
    await expect(applyIncremental(Readable.from([evil]), filter.manifest, dir)).rejects.toThrow(/outside the data directory/);
  });
});
