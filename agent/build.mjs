// Bundles the agent into one file (agent/dist/pg-agent.js) for the image and for the tests, which run it as a process.
import { build } from 'esbuild';

await build({
  entryPoints: ['agent/src/main.ts'],
  outfile: 'agent/dist/pg-agent.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  logLevel: 'warning',
  // Optional native helpers of pino and the AWS SDK that are not used at run time.
  external: ['pino-pretty', 'pg-native'],
});
