/**
 * The formats of base backups, without a server: barman's backup.info (checked against barman 3.4's own Python
 * code, reading ours and writing theirs), Python literals, LSN arithmetic, backup_label and manifest parsing, the
 * tar scanner, the safe tar extractor, and the compressions (buffers and streams, interoperable with the gzip,
 * zstd and lz4 command-line tools, failing on corrupted data).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough, Readable } from 'stream';
import { pipeline } from 'stream/promises';
import * as tar from 'tar-stream';
import { BackupInfo, formatPythonTime, parseBackupInfo, parsePythonTime, serializeBackupInfo } from '../../agent/src/catalog/backup-info';
import { PyTuple, pyLiteral, pyRepr } from '../../agent/src/catalog/python-literal';
import {
  compareLsn,
  formatLsn,
  historyFileName,
  historyFileTimeline,
  lsnDiff,
  nextSegmentInLog,
  parseLsn,
  parseSizeSetting,
  previousSegmentInLog,
  requiredSegments,
  timelineOfWalFile,
  walFileName,
  walOffset,
} from '../../agent/src/postgres/wal';
import { manifestWalEnd, parseBackupLabel } from '../../agent/src/basebackup/label';
import { TarScan } from '../../agent/src/basebackup/tar-scan';
import { startProgressLog } from '../../agent/src/basebackup/progress';
import { extractTar } from '../../agent/src/restore/tar-extract';
import { compressBuffer, compressStream, decompressBuffer, decompressStream } from '../../agent/src/store/compression';
import { Compression } from '../../lib/contract';

/** backup.info as barman-cloud-backup 3.4 wrote it (PostgreSQL 15, gzip data, this machine). */
const BARMAN_INFO = `backup_label='START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\\nCHECKPOINT LOCATION: 0/2000060\\nBACKUP METHOD: streamed\\nBACKUP FROM: primary\\nSTART TIME: 2026-11-27 03:07:11 UTC\\nLABEL: Barman backup cloud 20261127T030708\\nSTART TIMELINE: 1\\n'
begin_offset=40
begin_time=2026-11-27 03:07:08.756634+00:00
begin_wal=000000010000000000000002
begin_xlog=0/2000028
compression=None
config_file=/tmp/scratch-pg/data/postgresql.conf
copy_stats={'total_time': 7.989275, 'number_of_workers': 2, 'analysis_time': 0, 'analysis_time_per_item': {'data': 0}, 'copy_time_per_item': {'data': 0.137402}, 'serialized_copy_time_per_item': {'data': 0.120038}, 'copy_time': 0.137402, 'serialized_copy_time': 0.120038}
deduplicated_size=None
end_offset=256
end_time=2026-11-27 03:07:14.419136+00:00
end_wal=000000010000000000000002
end_xlog=0/2000100
error=None
hba_file=/tmp/scratch-pg/data/pg_hba.conf
ident_file=/tmp/scratch-pg/data/pg_ident.conf
included_files=None
mode=None
pgdata=/tmp/scratch-pg/data
server_name=cloud
size=None
status=DONE
systemid=7712682475832059532
tablespaces=None
timeline=1
version=150020
xlog_segment_size=16777216
`;

const LABEL =
  'START WAL LOCATION: 0/9000028 (file 000000010000000000000009)\nCHECKPOINT LOCATION: 0/9000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-11-27 03:26:50 UTC\nLABEL: pg-agent keycloak-pg-cluster 20261127T032650\nSTART TIMELINE: 1\n';

function ours(): BackupInfo {
  return {
    backupId: '20261127T032650',
    status: 'DONE',
    serverName: 'keycloak-pg-cluster',
    systemIdentifier: '7712687312465773880',
    timeline: 1,
    beginTime: new Date('2026-11-27T03:26:50.123Z'),
    endTime: new Date('2026-11-27T03:26:53Z'),
    beginWal: '000000010000000000000009',
    endWal: '000000010000000000000009',
    beginLsn: '0/9000028',
    endLsn: '0/9000138',
    beginOffset: 40,
    endOffset: 312,
    pgVersion: 150020,
    size: 188598784,
    compression: 'gzip',
    backupLabel: LABEL,
    writer: 'pg-agent',
    mode: 'postgres',
    pgdata: '/var/lib/postgresql/data/pgdata',
    configFile: '/var/lib/postgresql/data/pgdata/postgresql.conf',
    hbaFile: '/var/lib/postgresql/data/pgdata/pg_hba.conf',
    identFile: '/var/lib/postgresql/data/pgdata/pg_ident.conf',
    walSegmentSize: 16777216,
    copyStats: {
      writer: 'pg-agent',
      total_time: 3.1,
      copy_time: 2.9,
      analysis_time: 0,
      number_of_workers: 1,
      data_sha256: 'ab'.repeat(32),
      data_size: 13449231,
      part_size: 8388608,
    },
  };
}

/** Runs Python with barman 3.4's modules (Debian's python3-barman), or undefined when barman is not installed. */
function barmanPython(script: string, input = ''): string {
  return execFileSync('/usr/bin/python3', ['-c', script], { input }).toString();
}

describe("backup.info in barman 3.4's format", () => {
  test("barman-cloud's backup.info parses to what it says", () => {
    const b = parseBackupInfo(BARMAN_INFO, '20261127T030708');
    expect(b).toMatchObject({
      backupId: '20261127T030708',
      status: 'DONE',
      serverName: 'cloud',
      systemIdentifier: '7712682475832059532',
      timeline: 1,
      beginWal: '000000010000000000000002',
      endWal: '000000010000000000000002',
      beginLsn: '0/2000028',
      endLsn: '0/2000100',
      beginOffset: 40,
      endOffset: 256,
      pgVersion: 150020,
      size: 0,
      compression: 'none',
      writer: 'barman-cloud',
      mode: undefined,
      walSegmentSize: 16777216,
      pgdata: '/tmp/scratch-pg/data',
    });
    expect(b.beginTime.toISOString()).toBe('2026-11-27T03:07:08.756Z');
    expect(b.endTime!.toISOString()).toBe('2026-11-27T03:07:14.419Z');
    expect(parseBackupLabel(b.backupLabel!)).toMatchObject({
      startLsn: '0/2000028',
      startWal: '000000010000000000000002',
      startTimeline: 1,
      backupFrom: 'primary',
    });
    expect(b.copyStats).toMatchObject({ total_time: 7.989275, copy_time_per_item: { data: 0.137402 } });
  });

  test("ours is written in barman's field order with None for what is missing, and reads back the same", () => {
    const text = serializeBackupInfo(ours());
    const keys = text
      .trim()
      .split('\n')
      .map(l => l.split('=')[0]);
    expect(keys).toEqual([...keys].sort());
    expect(keys).toEqual(
      BARMAN_INFO.trim()
        .split('\n')
        .map(l => l.split('=')[0]),
    );
    expect(text).toContain('begin_time=2026-11-27 03:26:50.123000+00:00\n');
    expect(text).toContain('end_time=2026-11-27 03:26:53+00:00\n');
    expect(text).toContain('deduplicated_size=None\n');
    const back = parseBackupInfo(text, '20261127T032650');
    const { extra, ...rest } = back;
    expect(extra).toBeUndefined();
    expect(rest).toEqual(ours());
  });

  test("barman's own BackupInfo class loads ours (every field known, values typed) and its JSON is ours", () => {
    const out = barmanPython(
      [
        'import sys, json',
        'from barman.infofile import BackupInfo',
        'b = BackupInfo("20261127T032650")',
        'b.load(file_object=sys.stdin.buffer)',
        'j = b.to_json()',
        'j["label"] = b.backup_label',
        'print(json.dumps(j, default=str))',
      ].join('\n'),
      serializeBackupInfo(ours()),
    );
    const j = JSON.parse(out);
    expect(j).toMatchObject({
      backup_id: '20261127T032650',
      status: 'DONE',
      server_name: 'keycloak-pg-cluster',
      systemid: '7712687312465773880',
      timeline: 1,
      begin_wal: '000000010000000000000009',
      end_wal: '000000010000000000000009',
      begin_xlog: '0/9000028',
      end_xlog: '0/9000138',
      begin_offset: 40,
      end_offset: 312,
      version: 150020,
      size: 188598784,
      compression: 'gzip',
      label: LABEL,
      backup_label: pyRepr(LABEL),
      mode: 'postgres',
      xlog_segment_size: 16777216,
      copy_stats: expect.objectContaining({ writer: 'pg-agent', data_size: 13449231 }),
    });
    expect(j.end_time).toBe('Fri Nov 27 03:26:53 2026');
  });

  test('a backup.info barman writes with tablespaces and a backup name reads back', () => {
    const written = barmanPython(
      [
        'import sys, datetime',
        'from barman.infofile import BackupInfo, Tablespace',
        'b = BackupInfo("20260101T000000", status="FAILED", server_name="cloud", begin_time=datetime.datetime(2026,1,1,tzinfo=datetime.timezone.utc),',
        '  tablespaces=[Tablespace("tbs", 16385, "/srv/tbs\'1")], backup_name="before upgrade", error="failure uploading data (boom)", version=170002)',
        'b.save(file_object=sys.stdout.buffer)',
      ].join('\n'),
    );
    const b = parseBackupInfo(written, '20260101T000000');
    expect(b).toMatchObject({
      status: 'FAILED',
      tablespaces: [{ name: 'tbs', oid: 16385, location: "/srv/tbs'1" }],
      backupName: 'before upgrade',
      error: 'failure uploading data (boom)',
      pgVersion: 170002,
    });
    expect(b.beginTime.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    // and what we write from it, barman reads again
    const again = barmanPython(
      [
        'import sys',
        'from barman.infofile import BackupInfo',
        'b = BackupInfo("x")',
        'b.load(file_object=sys.stdin.buffer)',
        'print(b.tablespaces, b.backup_name)',
      ].join('\n'),
      serializeBackupInfo(b),
    );
    expect(again.trim()).toBe("[Tablespace(name='tbs', oid=16385, location=\"/srv/tbs'1\")] before upgrade");
  });

  test("times: Python's str(datetime) out, dateutil's forms in", () => {
    expect(formatPythonTime(new Date('2026-01-02T03:04:05Z'))).toBe('2026-01-02 03:04:05+00:00');
    expect(parsePythonTime('2026-01-02 03:04:05.5+01:00').toISOString()).toBe('2026-01-02T02:04:05.500Z');
    expect(parsePythonTime('2026-01-02T03:04:05Z').toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(() => parsePythonTime('yesterday')).toThrow(/not a time/);
  });
});

describe('Python literals (repr / ast.literal_eval)', () => {
  test('strings, numbers, None, booleans, lists, tuples and dicts round-trip, and Python agrees', () => {
    const value = {
      label: 'it\'s "quoted"\n\ttab \\ back',
      n: -1.5e-3,
      list: [1, null, true, false, new PyTuple(['a', 2])],
      one: new PyTuple([1]),
      empty: {},
    };
    const text = pyRepr(value);
    expect(pyLiteral(text)).toEqual(value);
    const fromPython = barmanPython('import ast, sys, json\nv = ast.literal_eval(sys.stdin.read())\nprint(repr(v))', text).trim();
    expect(fromPython).toBe(text);
  });

  test("Python's own escapes and prefixes are read; code is refused", () => {
    expect(pyLiteral("'\\x41\\u00e9\\101'")).toBe('Aé' + 'A');
    expect(pyLiteral("b'START'")).toBe('START');
    expect(pyLiteral('"a\'b"')).toBe("a'b");
    expect(() => pyLiteral("__import__('os')")).toThrow(/not a Python literal/);
    expect(() => pyLiteral("'unterminated")).toThrow(/unterminated/);
  });
});

describe('LSNs and WAL file names', () => {
  test('parse, format, segment names and offsets as PostgreSQL computes them', () => {
    expect(formatLsn(parseLsn('1/2000028'))).toBe('1/2000028');
    expect(walFileName(1, parseLsn('0/2000028'))).toBe('000000010000000000000002');
    expect(walFileName(3, parseLsn('1A/FF000000'))).toBe('000000030000001A000000FF');
    expect(walOffset(parseLsn('0/2000028'))).toBe(40);
    expect(walFileName(1, parseLsn('0/2000028'), 64 * 1024 * 1024)).toBe('000000010000000000000000');
    expect(() => parseLsn('nope')).toThrow(/not an LSN/);
  });

  test('the segments a backup needs: an end on a segment boundary needs nothing of the next one', () => {
    expect(requiredSegments(1, parseLsn('0/2000028'), parseLsn('0/2000100'))).toEqual(['000000010000000000000002']);
    expect(requiredSegments(1, parseLsn('0/16000028'), parseLsn('0/17000000'))).toEqual(['000000010000000000000016']);
    expect(requiredSegments(1, parseLsn('0/FF000028'), parseLsn('1/1000010'))).toEqual([
      '0000000100000000000000FF',
      '000000010000000100000000',
      '000000010000000100000001',
    ]);
    expect(parseSizeSetting('16MB')).toBe(16777216);
    expect(parseSizeSetting('1GB')).toBe(1073741824);
  });

  test('LSNs compare by value, not as text; neighbours and timelines of WAL file names', () => {
    expect(compareLsn('0/A000000', '0/9FFFFFF')).toBe(1);
    expect(compareLsn('1/0', 'FFFFFFFF/0')).toBe(-1);
    expect(compareLsn('0/3000028', '0/3000028')).toBe(0);
    expect(lsnDiff('1/0', '0/FFFFFFF0')).toBe(16);
    expect(nextSegmentInLog('00000002000000010000000F')).toBe('000000020000000100000010');
    expect(nextSegmentInLog('0000000200000001FFFFFFFF')).toBeUndefined();
    expect(previousSegmentInLog('000000020000000100000010')).toBe('00000002000000010000000F');
    expect(previousSegmentInLog('000000020000000100000000')).toBeUndefined();
    expect(timelineOfWalFile('0000001A0000000000000003.partial')).toBe(26);
    expect(historyFileName(26)).toBe('0000001A.history');
    expect(historyFileTimeline('0000001A.history')).toBe(26);
    expect(historyFileTimeline('0000001A0000000000000003')).toBeUndefined();
  });

  test("backup_label and the manifest's WAL ranges (newest timeline first)", () => {
    expect(parseBackupLabel(LABEL)).toEqual({
      startLsn: '0/9000028',
      startWal: '000000010000000000000009',
      startTimeline: 1,
      checkpointLsn: '0/9000060',
      backupFrom: 'primary',
      label: 'pg-agent keycloak-pg-cluster 20261127T032650',
    });
    expect(() => parseBackupLabel('nonsense')).toThrow(/START WAL LOCATION/);
    const tail =
      '"Path": "x"}\n],\n"WAL-Ranges": [\n{ "Timeline": 2, "Start-LSN": "0/3000000", "End-LSN": "0/3000100" },\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/3000000" }\n],\n"Manifest-Checksum": "abc"}\n';
    expect(manifestWalEnd(tail)).toEqual({ endLsn: '0/3000100', timeline: 2 });
    expect(manifestWalEnd(undefined)).toBeUndefined();
  });
});

describe('tar streams', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-tar-'));

  test("the scanner passes the tar through unchanged and keeps backup_label and the manifest's tail", async () => {
    const dir = tmp();
    try {
      fs.mkdirSync(path.join(dir, 'src', 'base', '1'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'src', 'backup_label'), LABEL);
      fs.writeFileSync(path.join(dir, 'src', 'base', '1', '1259'), Buffer.alloc(3 * 8192 + 17, 7));
      fs.writeFileSync(
        path.join(dir, 'src', 'backup_manifest'),
        `${'{"Path": "base/1/1259"},\n'.repeat(10000)}"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/9000028", "End-LSN": "0/9000138" }\n]}\n`,
      );
      const tarball = execFileSync('tar', ['--format=ustar', '-C', path.join(dir, 'src'), '-cf', '-', 'backup_label', 'base', 'backup_manifest']);
      const scan = new TarScan();
      const out: Buffer[] = [];
      await pipeline(Readable.from([tarball.subarray(0, 1000), tarball.subarray(1000, 5000), tarball.subarray(5000)]), scan, async function* (src) {
        for await (const c of src) out.push(c as Buffer);
      });
      expect(Buffer.concat(out).equals(tarball)).toBe(true);
      expect(scan.bytes).toBe(tarball.length);
      expect(scan.files).toBe(3);
      expect(scan.kept.get('backup_label')).toBe(LABEL);
      expect(scan.kept.get('backup_manifest')!.length).toBeLessThanOrEqual(2 * 64 * 1024);
      expect(manifestWalEnd(scan.kept.get('backup_manifest'))).toEqual({ endLsn: '0/9000138', timeline: 1 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  async function tarOf(
    entries: Array<{ name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string }>,
  ): Promise<Readable> {
    const pack = tar.pack();
    for (const e of entries) {
      const header = { name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: 0o600 } as const;
      if (header.type === 'file') pack.entry(header, e.body ?? '');
      else pack.entry(header);
    }
    pack.finalize();
    const out = new PassThrough();
    (pack as unknown as Readable).pipe(out);
    return out;
  }

  test('extraction writes files, directories and pg_tblspc symlinks, and refuses paths out of the directory', async () => {
    const dir = tmp();
    try {
      const ok = path.join(dir, 'ok');
      const r = await extractTar(
        await tarOf([
          { name: './base/', type: 'directory' },
          { name: 'base/1/1259', body: 'page' },
          { name: 'pg_tblspc/16385', type: 'symlink', linkname: '/srv/tbs' },
          { name: 'global/pg_control', body: 'old' },
          { name: 'global/pg_control', body: 'new' },
        ]),
        ok,
      );
      expect(r).toEqual({ files: 3, bytes: 10 });
      expect(fs.readFileSync(path.join(ok, 'base/1/1259'), 'utf8')).toBe('page');
      expect(fs.readFileSync(path.join(ok, 'global/pg_control'), 'utf8')).toBe('new');
      expect(fs.readlinkSync(path.join(ok, 'pg_tblspc/16385'))).toBe('/srv/tbs');
      await expect(extractTar(await tarOf([{ name: '../escape', body: 'x' }]), path.join(dir, 'a'))).rejects.toThrow(/outside the data directory/);
      expect(fs.existsSync(path.join(dir, 'escape'))).toBe(false);
      await expect(
        extractTar(
          await tarOf([
            { name: 'evil', type: 'symlink', linkname: dir },
            { name: 'evil/planted', body: 'x' },
          ]),
          path.join(dir, 'b'),
        ),
      ).rejects.toThrow(/through a symbolic link/);
      expect(fs.existsSync(path.join(dir, 'planted'))).toBe(false);
      await expect(extractTar(await tarOf([{ name: 'hard', type: 'link', linkname: 'base/1/1259' }]), path.join(dir, 'c'))).rejects.toThrow(
        /link entry/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('compression: gzip, zstd, lz4 (buffers and streams)', () => {
  // Something like PGDATA: compressible pages with some noise, several MiB so lz4 writes several frames.
  const data = Buffer.concat(
    Array.from({ length: 1200 }, (_, i) =>
      Buffer.concat([Buffer.alloc(6000, i % 251), Buffer.from(Array.from({ length: 2192 }, () => Math.floor(Math.random() * 256)))]),
    ),
  );
  const kinds: Compression[] = ['gzip', 'zstd', 'lz4', 'none'];
  const collect = async (src: Readable, t: NodeJS.ReadWriteStream) => {
    const out: Buffer[] = [];
    await pipeline(src, t, async function* (s) {
      for await (const c of s) out.push(c as Buffer);
    });
    return Buffer.concat(out);
  };
  const pieces = (buf: Buffer, size: number) =>
    Readable.from(
      (function* () {
        for (let o = 0; o < buf.length; o += size) yield buf.subarray(o, o + size);
      })(),
    );
  const cli: Record<Exclude<Compression, 'none'>, { compress: string[]; decompress: string[] }> = {
    gzip: { compress: ['gzip', '-c'], decompress: ['gzip', '-dc'] },
    zstd: { compress: ['zstd', '-q', '-c'], decompress: ['zstd', '-q', '-dc'] },
    lz4: { compress: ['lz4', '-q', '-c'], decompress: ['lz4', '-q', '-dc'] },
  };

  test.each(kinds)('%s: buffers and streams round-trip, in any chunking', async kind => {
    const packed = await compressBuffer(data, kind);
    expect((await decompressBuffer(packed, kind)).equals(data)).toBe(true);
    const streamed = await collect(pieces(data, 65536), compressStream(kind));
    if (kind !== 'none') expect(streamed.length).toBeLessThan(data.length);
    expect((await collect(pieces(streamed, 777), decompressStream(kind))).equals(data)).toBe(true);
    expect((await decompressBuffer(streamed, kind)).equals(data)).toBe(true);
  });

  test.each(['gzip', 'zstd', 'lz4'] as const)('%s: the command-line tool reads ours, and we read its output', async kind => {
    const streamed = await collect(pieces(data, 65536), compressStream(kind));
    const [cmd, ...args] = cli[kind].decompress;
    expect(execFileSync(cmd, args, { input: streamed, maxBuffer: 64 * 1024 * 1024 }).equals(data)).toBe(true);
    const [ccmd, ...cargs] = cli[kind].compress;
    const theirs = execFileSync(ccmd, cargs, { input: data, maxBuffer: 64 * 1024 * 1024 });
    expect((await collect(pieces(theirs, 4096), decompressStream(kind))).equals(data)).toBe(true);
    expect((await decompressBuffer(theirs, kind)).equals(data)).toBe(true);
  });

  test.each(['gzip', 'zstd', 'lz4'] as const)('%s: corrupted or truncated data fails instead of restoring wrong bytes', async kind => {
    const packed = await collect(pieces(data, 65536), compressStream(kind));
    const flipped = Buffer.from(packed);
    flipped[Math.floor(flipped.length / 2)] ^= 0x55;
    await expect(collect(pieces(flipped, 8192), decompressStream(kind))).rejects.toThrow();
    await expect(collect(pieces(packed.subarray(0, packed.length - 100), 8192), decompressStream(kind))).rejects.toThrow();
  });
});

describe('progress of a running backup', () => {
  test('every interval: bytes done and stored, rate, percent and ETA from the size estimate', async () => {
    const lines: Array<Record<string, number | undefined>> = [];
    let done = 0;
    const stop = startProgressLog(
      () => ({ done, stored: Math.floor(done / 10), estimate: 1024 * 1024 * 1024 }),
      200,
      f => lines.push(f),
    );
    for (let i = 0; i < 6; i++) {
      done += 10 * 1024 * 1024;
      await new Promise(r => setTimeout(r, 100));
    }
    stop();
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const last = lines[lines.length - 1];
    expect(last.doneBytes).toBeGreaterThan(0);
    expect(last.storedBytes).toBe(Math.floor(last.doneBytes! / 10));
    expect(last.percent).toBe(Math.round((last.doneBytes! / (1024 * 1024 * 1024)) * 100));
    expect(last.rateMiBps).toBeGreaterThan(0);
    expect(last.etaSeconds).toBeGreaterThan(0);
  });
});
