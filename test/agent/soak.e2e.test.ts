/**
 * A short random-kill soak (about 3 minutes of faults; `npm run soak` runs the 5-minute and longer ones): whole pods
 * killed with kill -9 or frozen, primary and replicas, a writer on -rw. See test/support/soak.ts.
 */
import { printSoak, runSoak } from '../support/soak';
import { ensureS3 } from '../support/s3';

jest.setTimeout(900000);

test('random whole-pod kills and freezes: no acknowledged row lost, live or in a restore to latest; never two writers; one initdb', async () => {
  const seed = Number(process.env.PGC_SOAK_SEED ?? Date.now() % 100000);
  const figures = await runSoak({
    ep: await ensureS3(),
    durationMs: Number(process.env.PGC_SOAK_MS ?? 180000),
    faultEveryMs: [20000, 35000],
    seed,
    // eslint-disable-next-line no-console
    log: line => console.log(`[soak seed ${seed}] ${line}`),
  });
  // eslint-disable-next-line no-console
  console.log(printSoak(figures));
  expect(figures.faults.length).toBeGreaterThanOrEqual(3); // freezes last up to 30 s: 3-5 faults in 3 minutes
  expect(figures.acknowledged).toBeGreaterThan(300); // synchronous required: commits wait for the replica (2166 at load 1.4, 772 at load 10)
  expect(figures.lostLive).toEqual([]);
  expect(figures.lostInRestore).toEqual([]);
  expect(figures.splitBrainSamples).toBe(0);
  expect(figures.initdbs).toBe(1);
  expect(figures.wipesWithoutClone).toBe(0);
});
