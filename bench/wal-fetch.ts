/**
 * `npm run bench:wal-fetch -- [--runs N]`: how long one restore_command call takes for a segment the spool does not
 * hold, with the instance agent answering over its socket and with wal-fetch fetching by itself (loading the AWS
 * SDK), paired and alternating in one run against the bench's Ceph RGW. Each call gets a fresh pg_wal, so neither
 * is served from a prefetch. Writes bench/results/wal-fetch.json.
 */
import './env';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ENV } from '../lib/contract';
import { putObject } from '../agent/src/s3/objects';
import { compressBuffer } from '../agent/src/store/compression';
import { WalFetchServer } from '../agent/src/wal/fetch-server';
import { storeEnv } from '../test/support/backup';
import { createBucket, ensureS3, s3For, uniqueBucketName } from '../test/support/s3';
import { load1 } from './lib/machine';
import { round } from './lib/proc';
import { median } from './lib/stats';

const ROOT = path.resolve(__dirname, '..');
const SERVER = 'wal-fetch-bench';
const segment = (n: number) => `0000000100000001${n.toString(16).toUpperCase().padStart(8, '0')}`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const runs = argv.includes('--runs') ? Number(argv[argv.indexOf('--runs') + 1]) : 10;
  spawnSync('node', ['agent/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  const bundle = path.join(process.env.PGC_AGENT_DIST!, 'pg-agent.mjs');
  const ep = await ensureS3();
  const bucket = uniqueBucketName('walfetch');
  await createBucket(bucket);
  const s3 = await s3For(bucket);
  const raw = Buffer.alloc(16 * 1024 * 1024);
  for (let off = 0; off < raw.length / 2; off += 8192) raw.write(`record at ${off} `.repeat(40), off);
  const stored = await compressBuffer(raw, 'gzip');
  for (let n = 1; n <= runs * 2; n++) await putObject(s3, `${SERVER}/wals/${segment(n).slice(0, 16)}/${segment(n)}.gz`, stored);
  s3.destroy();

  const env = storeEnv(ep, bucket, SERVER);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-fetch-bench-'));
  const socketDir = path.join(work, 'run');
  fs.mkdirSync(socketDir);
  const server = new WalFetchServer(socketDir, env, work);
  await server.start();
  const times: Record<'agent' | 'itself', number[]> = { agent: [], itself: [] };
  try {
    for (let i = 0; i < runs * 2; i++) {
      const way = i % 2 === 0 ? 'agent' : 'itself';
      const walDir = path.join(work, `pgdata-${i}`, 'pg_wal');
      fs.mkdirSync(walDir, { recursive: true });
      const started = process.hrtime.bigint();
      // Not spawnSync: the agent's side runs in this process and must answer while wal-fetch waits.
      const r = await runProcess(process.execPath, [bundle, 'wal-fetch', segment(i + 1), path.join(walDir, 'RECOVERYXLOG')], {
        PATH: process.env.PATH,
        HOME: '/tmp',
        ...env,
        ...(way === 'agent' ? { [ENV.socketDir]: socketDir } : {}),
      });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (r.code !== 0) throw new Error(`wal-fetch ${way} exited ${r.code}: ${r.output}`);
      times[way].push(ms);
    }
  } finally {
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const result = {
    runs,
    load1: round(load1(), 2),
    agentMedianMs: round(median(times.agent), 0),
    itselfMedianMs: round(median(times.itself), 0),
    agent: times.agent.map(t => round(t, 0)),
    itself: times.itself.map(t => round(t, 0)),
  };
  process.stderr.write(
    `[wal-fetch] ${runs} calls each, load ${result.load1}: through the instance agent median ${result.agentMedianMs} ms, by itself ${result.itselfMedianMs} ms\n`,
  );
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', 'wal-fetch.json'), `${JSON.stringify(result, null, 2)}\n`);
}

function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise(resolve => {
    const child = spawn(cmd, args, { env });
    let output = '';
    child.stdout.on('data', d => (output += d));
    child.stderr.on('data', d => (output += d));
    child.on('exit', code => resolve({ code, output }));
  });
}

main().then(
  () => process.exit(0),
  e => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
