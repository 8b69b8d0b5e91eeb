/**
 * `npm run bench:rollout [-- --rollouts N --strategy OnDelete|RollingUpdate|both]`: the rollout scenario of issue 13.
 * A 2-instance cluster with backups under a writer on -rw, run by the StatefulSet controller simulation
 * (test/support/statefulset-controller.ts); N template changes (`kubectl rollout restart`; the primary alternates
 * between the ordinals, as it does after each rollout) and one drain of the primary's node, for each strategy:
 * `OnDelete` (what the constructs render: the agents replace their pods, replicas first) and `RollingUpdate` (the
 * controller replaces the highest ordinal first; for comparison). Prints the write-gap distribution, switchovers,
 * lease-expiry failovers and lost rows, with the load average; writes bench/results/rollout.json.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ChangeFigures, RolloutDrill, printChange } from '../test/support/rollout-drill';
import { ensureS3, stopS3 } from '../test/support/s3';
import { KubeObject } from '../test/support/manifests';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};

async function scenario(strategy: string, rollouts: number): Promise<ChangeFigures[]> {
  const setStrategy = (objects: KubeObject[]) => {
    for (const o of objects) if (o.kind === 'StatefulSet') o.spec.updateStrategy = { type: strategy };
  };
  const d = new RolloutDrill(strategy === 'OnDelete' ? 'ondel' : 'rolling', {}, setStrategy);
  const out: ChangeFigures[] = [];
  try {
    await d.start(await ensureS3());
    for (let i = 0; i < rollouts; i++) {
      const at = d.primaryOrdinal();
      const f = await d.underLoad(`${strategy} rollout ${i + 1}, primary on ${at}`, async () => {
        await d.templateChange();
      });
      console.log(printChange(f));
      out.push(f);
    }
    const primary = d.primaryOrdinal();
    const f = await d.underLoad(`${strategy} drain of the primary's node (pod away 20 s)`, async () => {
      if (!d.ctl.evict(d.h.pods[primary].name, 20000)) throw new Error('eviction refused');
      await d.ctl.waitRolledOut(120000);
    });
    console.log(printChange(f));
    out.push(f);
  } finally {
    await d.stop();
  }
  return out;
}

function summary(strategy: string, figures: ChangeFigures[]): string {
  const gaps = figures.map(f => f.gapMs / 1000).sort((a, b) => a - b);
  const q = (p: number) => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))].toFixed(2);
  const sum = (k: keyof ChangeFigures) => figures.reduce((s, f) => s + (f[k] as number), 0);
  return `| ${strategy} | ${figures.length} | ${q(0)} / ${q(0.5)} / ${q(0.9)} / ${gaps[gaps.length - 1].toFixed(2)} | ${sum('switchovers')} | ${sum('expiryFailovers')} | ${sum('lost')} of ${sum('acknowledged')} | ${Math.max(...figures.map(f => f.loadAverage))} |`;
}

async function main(): Promise<void> {
  // A test client whose connection the drain cuts can emit an error after its promise settled: report, go on.
  process.on('uncaughtException', e => console.error(`[rollout] harness client error (ignored): ${e.message}`));
  const rollouts = Number(arg('rollouts') ?? 5);
  const which = arg('strategy') ?? 'both';
  const strategies = which === 'both' ? ['OnDelete', 'RollingUpdate'] : [which];
  const results: Record<string, ChangeFigures[]> = {};
  for (const s of strategies) results[s] = await scenario(s, rollouts);
  const table = [
    `rollout bench: ${rollouts} template changes and 1 drain per strategy, 2 instances, writer on -rw (${os.cpus().length} cores)`,
    '| strategy | changes | write gap s (min / median / p90 / max) | switchovers | lease-expiry failovers | rows lost | max load |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...strategies.map(s => summary(s, results[s])),
  ].join('\n');
  console.log(table);
  fs.writeFileSync(path.join(__dirname, 'results', 'rollout.json'), JSON.stringify({ at: new Date().toISOString(), rollouts, results }, null, 2));
  if (process.env.PGC_KEEP_RGW !== '1') await stopS3();
  const broken = strategies.some(s => results[s].some(f => f.lost > 0));
  process.exit(broken ? 1 : 0);
}
void main();
