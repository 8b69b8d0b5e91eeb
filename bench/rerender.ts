/**
 * `npx ts-node --transpile-only bench/rerender.ts [bench/results/results.json]`: rewrites results.md and chart.svg
 * from a results.json, after a change to bench/lib/report.ts, without measuring again.
 */
import * as path from 'path';
import { rerender } from './lib/report';

const file = path.resolve(process.argv[2] ?? path.join(__dirname, 'results', 'results.json'));
process.stdout.write(`${rerender(file).join('\n')}\n`);
