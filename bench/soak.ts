/**
 * `npm run soak [-- --minutes N --seed S --synchronous required|preferred|async]`: the random-kill soak of test/support/soak.ts for as long as asked
 * (default 5 minutes, faults every 30-60 s), printing its figures; exits 1 when an invariant was broken.
 * Needs what the tests need (PostgreSQL 15, Ceph RGW: started here if not running).
 */
import { printSoak, runSoak } from '../test/support/soak';
import { ensureS3, stopS3 } from '../test/support/s3';

async function main(): Promise<void> {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const minutes = Number(arg('minutes') ?? 5);
  const seed = Number(arg('seed') ?? Date.now() % 100000);
  const synchronous = (arg('synchronous') ?? 'required') as 'async' | 'preferred' | 'required';
  const f = await runSoak({
    ep: await ensureS3(),
    durationMs: minutes * 60000,
    faultEveryMs: [30000, 60000],
    seed,
    synchronous,
    log: l => console.log(`[soak seed ${seed}] ${l}`),
  });
  console.log(printSoak(f));
  const broken = f.lostLive.length + f.lostInRestore.length + f.splitBrainSamples + f.wipesWithoutClone + (f.initdbs === 1 ? 0 : 1);
  if (process.env.PGC_KEEP_RGW !== '1') await stopS3();
  process.exit(broken ? 1 : 0);
}
void main();
