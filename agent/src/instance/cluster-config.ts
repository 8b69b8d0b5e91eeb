/**
 * The parameters of the cluster's ConfigMap (lib/contract/cluster-config.ts), as the agent reads, checks and keeps
 * them. A value postgres would refuse (`work_mem = 'lots'`) must never reach postgresql.conf: postgres refuses to
 * start with a bad file, so a bad value would stop the next restart. Every candidate is therefore checked first by
 * the server binary itself (`postgres -C`, which parses a configuration file exactly as a start does), and the
 * last parameters that passed are kept beside the data directory for a start with a bad ConfigMap.
 */
import { spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CLUSTER_CONFIG, names } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { InstanceConfig } from './config';

export type Parameters = Record<string, string>;

/** Reads the parameters from the mounted ConfigMap (through the kubelet's `..data` symlink). */
export function readParametersFile(dir: string): Parameters {
  const file = path.join(dir, CLUSTER_CONFIG.parametersKey);
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new AgentError(
      `cannot read the cluster's parameters (${file}): ${(e as Error).message}`,
      "Apply the manifests with the cluster's ConfigMap <cluster>-config (it is rendered with the StatefulSet).",
      { file },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new AgentError(
      `the cluster's parameters (${file}) are not valid JSON (${(e as Error).message})`,
      'Re-synthesize the manifests and apply the ConfigMap <cluster>-config as rendered; do not edit it by hand.',
      { file },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.values(parsed).some(v => typeof v !== 'string')) {
    throw new AgentError(
      `the cluster's parameters (${file}) are not an object of string values`,
      'Re-synthesize the manifests and apply the ConfigMap <cluster>-config as rendered; do not edit it by hand.',
      { file },
    );
  }
  return parsed as Parameters;
}

/** A short, order-independent fingerprint of a parameter set (published on the pod, compared between peers). */
export function parametersHash(params: Parameters): string {
  const sorted = Object.keys(params)
    .sort()
    .map(k => [k, params[k]]);
  return crypto.createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 12);
}

/** Names whose value differs between two sets (added, changed or removed). */
export function changedNames(before: Parameters, after: Parameters): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(k => before[k] !== after[k]).sort();
}

/**
 * Parameters a hot standby must have at least as high as its primary (with PostgreSQL's defaults): a standby with a
 * lower value refuses to start. Raising them is safe replicas first; lowering them must start with the primary.
 * (max_wal_senders, the fifth, is the agent's.)
 */
export const STANDBY_MINIMUMS: Record<string, number> = {
  max_connections: 100,
  max_prepared_transactions: 0,
  max_locks_per_transaction: 64,
  max_worker_processes: 8,
};

/** The standby-limited parameters whose value goes down from `before` to `after`. */
export function loweredStandbyMinimums(before: Parameters, after: Parameters): string[] {
  const value = (p: Parameters, name: string) => Number(p[name] ?? STANDBY_MINIMUMS[name]);
  return Object.keys(STANDBY_MINIMUMS).filter(n => value(after, n) < value(before, n));
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * Asks the postgres binary whether it would start with these parameters: `postgres -C` reads a configuration file
 * the way a start does and exits non-zero, naming the parameter, on an unknown name or a bad value. Runs in a
 * scratch directory on the socket emptyDir, never in the data directory. Returns the server's complaints.
 */
export async function checkParameters(params: Parameters, scratchParent: string): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(scratchParent, '.pgc-conf-check-'));
  try {
    fs.writeFileSync(
      path.join(dir, 'postgresql.conf'),
      Object.entries(params)
        .map(([k, v]) => `${k} = ${quote(v)}\n`)
        .join(''),
      { mode: 0o600 },
    );
    const { code, stderr } = await run('postgres', ['-C', 'work_mem', '-D', dir]);
    if (code === 0) return [];
    const problems = stderr
      .split('\n')
      .map(l => l.replace(/^.*?\b(LOG|FATAL|ERROR|DETAIL|HINT):\s+/, ''))
      .filter(l => l && !/^skipping missing configuration file/.test(l) && !/contains errors$/.test(l));
    return problems.length ? problems : [`postgres -C exited ${code}`];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function run(program: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise(resolve => {
    const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', d => {
      stderr += d;
    });
    child.on('error', err => resolve({ code: -1, stderr: `cannot run ${program}: ${err.message}` }));
    child.on('exit', code => resolve({ code, stderr }));
  });
}

/** Beside the data directory, on the same volume: the last parameters that passed the check. */
function lastGoodFile(cfg: InstanceConfig): string {
  return path.join(path.dirname(cfg.pgdata), 'pgc-parameters.last-good.json');
}

export function saveLastGood(cfg: InstanceConfig, params: Parameters): void {
  const file = lastGoodFile(cfg);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(params), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

function loadLastGood(cfg: InstanceConfig): Parameters | undefined {
  try {
    return JSON.parse(fs.readFileSync(lastGoodFile(cfg), 'utf8')) as Parameters;
  } catch {
    return undefined;
  }
}

/** The fix for a rejected parameter set: where the bad value lives. */
export function invalidParametersFix(cfg: InstanceConfig): string {
  return `Correct the value in the cluster's parameters (PostgresCluster parameters or tuning), re-synthesize and apply: the ConfigMap ${names.configMap(cfg.cluster)} is watched, no restart needed. Until then the instance runs with its last valid parameters.`;
}

/**
 * The parameters to start with: the ConfigMap's when postgres accepts them; otherwise the last ones that passed
 * (none on a first start), so a bad value in git never keeps postgres from starting.
 */
export async function startupParameters(cfg: InstanceConfig): Promise<Parameters> {
  const problems = await checkParameters(cfg.parameters, cfg.socketDir);
  // Nothing is written here: the start checks (ownership, free space) come first; the watcher keeps the parameters
  // as last good once postgres runs with them.
  if (!problems.length) return cfg.parameters;
  const fallback = loadLastGood(cfg) ?? {};
  log.error(
    { invalid: problems, fix: invalidParametersFix(cfg), using: parametersHash(fallback) },
    "the cluster's parameters are not valid for this postgres: starting with the last valid ones instead",
  );
  return fallback;
}
