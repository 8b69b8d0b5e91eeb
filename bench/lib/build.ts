/**
 * Builds what the bench runs, from the current sources, into its own directories (never agent/dist, which other
 * work may rebuild at any moment): the agent bundle (agent/build.mjs with PGC_AGENT_DIST) and bench-restore.mjs.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { build } from 'esbuild';

export async function buildBundles(root: string, agentDist: string): Promise<{ agentBundle: string; restoreBundle: string }> {
  execFileSync(process.execPath, [path.join(root, 'agent', 'build.mjs')], {
    cwd: root,
    env: { ...process.env, PGC_AGENT_DIST: agentDist },
    stdio: 'inherit',
  });
  const restoreDir = `${agentDist.replace(/\/$/, '')}-restore`;
  fs.rmSync(restoreDir, { recursive: true, force: true });
  await build({
    entryPoints: { 'bench-restore': path.join(root, 'bench', 'agent-restore.ts') },
    outdir: restoreDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    logLevel: 'warning',
    banner: { js: "import { createRequire as __pgcRequire } from 'module'; const require = __pgcRequire(import.meta.url);" },
    external: ['pino-pretty', 'pg-native', 'zstd-napi', 'lz4-napi'],
  });
  return { agentBundle: path.join(agentDist, 'pg-agent.mjs'), restoreBundle: path.join(restoreDir, 'bench-restore.mjs') };
}
