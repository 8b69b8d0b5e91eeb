/**
 * `npm run bench:memory -- [--dist DIR ...] [--rounds N] [--idle-seconds N]`: the instance agent's memory, idle and
 * under a WAL load, for one or more agent bundles side by side (paired: the bundles alternate within each round, so
 * the machine's load hits them alike). The agent is the primary of dist/keycloak.k8s.yaml, run by `pg-agent
 * instance` as in a pod, archiving to the bench's own Ceph RGW. Writes bench/results/agent-memory.json.
 *
 * `--wal-clients N` (default 2): pgbench clients of the WAL load. `--out FILE`: where the results go.
 * `--dist DIR+OPTIONS` runs DIR's bundle with NODE_OPTIONS=OPTIONS instead of the manifest's (V8 flags side by side).
 *
 * Without --dist it builds the current sources. To compare with an older commit, build it first:
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && ln -s $PWD/node_modules . && PGC_AGENT_DIST=/tmp/dist-before node agent/build.mjs)
 *   npm run bench:memory -- --dist /tmp/dist-before --dist agent/dist
 */
import './env';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { storeEnvRewrite } from '../test/support/backup';
import { describeMachine, load1 } from './lib/machine';
import { commOf, descendants, pssKiB, round, sleep, statusKiB } from './lib/proc';
import { median } from './lib/stats';

const ROOT = path.resolve(__dirname, '..');
const CLUSTER = 'keycloak-pg-cluster';
const DATABASE = 'keycloak';
const STORE_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak';

interface Sample {
  phase: string;
  agentRssMiB: number;
  agentAnonMiB: number;
  agentPssMiB: number;
  agentHwmMiB: number;
  postgresPssMiB: number;
  /** The pod's figure of the target: agent PSS + PostgreSQL PSS. */
  podPssMiB: number;
  /** CPU seconds (user + system) the agent used during the phase: what V8 flags trade memory against. */
  agentCpuSeconds: number;
  /** WAL segments the agent archived during the phase (pg_stat_archiver): what the CPU was spent on. */
  walSegmentsArchived: number;
  load1: number;
}

/** utime + stime of a process in seconds (/proc/<pid>/stat, in clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function sample(phase: string, agentPid: number, seconds: number, archivedCount: () => number): Promise<Sample> {
  const archivedBefore = archivedCount();
  const rss: number[] = [],
    anon: number[] = [],
    pss: number[] = [],
    pg: number[] = [];
  const cpuBefore = cpuSeconds(agentPid);
  for (let i = 0; i < seconds * 2; i++) {
    rss.push(statusKiB(agentPid, 'VmRSS') / 1024);
    anon.push(statusKiB(agentPid, 'RssAnon') / 1024);
    pss.push(pssKiB(agentPid) / 1024);
    const postgres = descendants(agentPid).filter(p => p !== agentPid && commOf(p) === 'postgres');
    pg.push(postgres.reduce((n, p) => n + pssKiB(p), 0) / 1024);
    await sleep(500);
  }
  return {
    phase,
    agentRssMiB: round(median(rss), 1),
    agentAnonMiB: round(median(anon), 1),
    agentPssMiB: round(median(pss), 1),
    agentHwmMiB: round(statusKiB(agentPid, 'VmHWM') / 1024, 1),
    postgresPssMiB: round(median(pg), 1),
    podPssMiB: round(median(pss) + median(pg), 1),
    agentCpuSeconds: round(cpuSeconds(agentPid) - cpuBefore, 2),
    walSegmentsArchived: archivedCount() - archivedBefore,
    load1: round(load1(), 2),
  };
}

/** One measurement of the bundle in PGC_AGENT_DIST (a child process: the harness reads the bundle's path on load). */
async function measureOne(idleSeconds: number): Promise<void> {
  const { ClusterHarness } = await import('../test/support/cluster-harness');
  const { createBucket, ensureS3 } = await import('../test/support/s3');
  const ep = await ensureS3();
  const bucket = `memory-${Date.now().toString(36)}`;
  await createBucket(bucket);
  const h = new ClusterHarness('keycloak.k8s.yaml', CLUSTER);
  try {
    await h.start();
    h.seedSecret(STORE_SECRET, { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    const secrets = await h.runSecretsJob();
    if ((await secrets.exited) !== 0) throw new Error(`secrets Job failed:\n${secrets.lines.slice(-10).join('\n')}`);
    const nodeOptions = process.env.PGC_MEMORY_NODE_OPTIONS;
    const instance = h.startInstance(0, { NODE_PATH: path.join(ROOT, 'node_modules'), ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) });
    await h.waitReady(0, 180_000);
    const pid = instance.child.pid!;
    await sleep(10_000);
    const pod = h.pods[0];
    const env = {
      ...process.env,
      PGHOST: '127.0.0.1',
      PGPORT: String(pod.pgPort),
      PGUSER: 'postgres',
      PGDATABASE: DATABASE,
      PGPASSWORD: h.secretData(`${CLUSTER}-superuser`)!.password,
    };
    const pgBin = process.env.PGC_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
    const archivedCount = () =>
      Number(execFileSync(path.join(pgBin, 'psql'), ['-Atc', 'SELECT archived_count FROM pg_stat_archiver'], { env }).toString().trim());
    const idle = await sample('idle', pid, idleSeconds, archivedCount);
    // A WAL load: pgbench writes while the agent archives every segment.
    const walClients = process.env.PGC_MEMORY_WAL_CLIENTS ?? '2';
    const pgbench = path.join(pgBin, 'pgbench');
    execFileSync(pgbench, ['-i', '-s', '5', '-q'], { env, stdio: 'ignore' });
    const load = import('child_process').then(
      cp =>
        new Promise<void>(resolve => {
          const p = cp.spawn(pgbench, ['-c', walClients, '-T', String(idleSeconds + 5), '-n'], { env, stdio: 'ignore' });
          p.on('exit', () => resolve());
        }),
    );
    await sleep(3000);
    const wal = await sample(`WAL load (pgbench -c ${walClients})`, pid, idleSeconds, archivedCount);
    await load;
    // A WAL burst (about 10 segments at once): the archiver's CPU per segment, where V8 flags would show.
    const burst = import('child_process').then(
      cp =>
        new Promise<void>(resolve => {
          const sql = 'CREATE TABLE burst AS SELECT g, md5(g::text) AS m FROM generate_series(1, 1500000) g; SELECT pg_switch_wal()';
          const p = cp.spawn(path.join(pgBin, 'psql'), ['-c', sql], { env, stdio: 'ignore' });
          p.on('exit', () => resolve());
        }),
    );
    const burstSample = await sample('WAL burst (1.5M rows at once)', pid, idleSeconds, archivedCount);
    await burst;
    process.stdout.write(`${JSON.stringify({ dist: process.env.PGC_AGENT_DIST, samples: [idle, wal, burstSample] })}\n`);
  } finally {
    await h.stop();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const idleSeconds = Number(argv[argv.indexOf('--idle-seconds') + 1] || 15);
  if (process.env.PGC_MEMORY_CHILD) return measureOne(argv.includes('--idle-seconds') ? idleSeconds : 15);
  const dists = argv.flatMap((a, i) => {
    if (a !== '--dist') return [];
    const [dir, ...options] = argv[i + 1].split('+');
    return [path.resolve(dir) + (options.length ? `+${options.join('+')}` : '')];
  });
  const walClients = argv.includes('--wal-clients') ? argv[argv.indexOf('--wal-clients') + 1] : '2';
  const rounds = argv.includes('--rounds') ? Number(argv[argv.indexOf('--rounds') + 1]) : 2;
  if (dists.length === 0) {
    execFileSync('node', ['agent/build.mjs'], { cwd: ROOT, env: { ...process.env, PGC_AGENT_DIST: '/tmp/bench-dist' }, stdio: 'inherit' });
    dists.push('/tmp/bench-dist');
  }
  const results: Array<{ round: number; dist: string; samples: Sample[] }> = [];
  for (let round = 1; round <= rounds; round++) {
    for (const dist of round % 2 ? dists : [...dists].reverse()) {
      const out = execFileSync('npx', ['ts-node', '--transpile-only', __filename, ...argv], {
        cwd: ROOT,
        env: {
          ...process.env,
          PGC_MEMORY_WAL_CLIENTS: walClients,
          PGC_AGENT_DIST: dist.split('+')[0],
          PGC_MEMORY_NODE_OPTIONS: dist.split('+')[1] ?? '',
          PGC_MEMORY_CHILD: '1',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 64 * 1024 * 1024,
      }).toString();
      const line = out.trim().split('\n').pop()!;
      const r = JSON.parse(line) as { samples: Sample[] };
      results.push({ round, dist, samples: r.samples });
      for (const s of r.samples)
        process.stderr.write(
          `[memory] round ${round} ${dist} ${s.phase}: agent RSS ${s.agentRssMiB} MiB (anonymous ${s.agentAnonMiB}, PSS ${s.agentPssMiB}, HWM ${s.agentHwmMiB}); postgres PSS ${s.postgresPssMiB} MiB; pod PSS ${s.podPssMiB} MiB; agent CPU ${s.agentCpuSeconds} s for ${s.walSegmentsArchived} segments; load ${s.load1}\n`,
        );
    }
  }
  const outFile = argv.includes('--out') ? path.resolve(argv[argv.indexOf('--out') + 1]) : path.join(ROOT, 'bench', 'results', 'agent-memory.json');
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `${JSON.stringify({ machine: describeMachine(ROOT, '/usr/lib/postgresql/15/bin'), results }, null, 2)}\n`);
  process.stderr.write(`[memory] wrote ${outFile}\n`);
}

main().catch(e => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
