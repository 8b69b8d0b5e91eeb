#!/usr/bin/env node
/**
 * `cdk8s-postgres status <cluster> [-n <namespace>] [-o json]`: the cluster's one-screen status from a laptop with a
 * kubeconfig. It runs `pg-agent status -o json` in a ready instance pod (the primary when it is ready) through
 * `kubectl exec`, and renders the JSON here. Why exec: the report is gathered where the facts are (the local
 * PostgreSQL by peer authentication, the store with the pod's credentials, the API with its ServiceAccount), none
 * of which leaves the pod, and the cluster's network policy keeps the agents' port closed to everyone but the
 * named Prometheus; the person needs only the right to exec into the pods, which kubectl already uses.
 * No dependency beyond Node: the package must not pull in the agent's runtime.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { LABELS, COMPONENTS } from '../contract/labels';
import { INSTANCE_CONTAINER } from '../contract/names';
import { PATHS } from '../contract/env';
import { ListedPod, NoReadyPodError, pickPod } from './pick-pod';
import { renderStatus } from './render';
import { StatusReport } from './report';

export const USAGE = `Usage: cdk8s-postgres status <cluster> [-n <namespace>] [-o json] [--context <name>] [--kubeconfig <file>]

Shows one screen about a cdk8s-postgres cluster: the primary, the replicas and their lag, the Lease, timeline,
WAL archiving, the last and next base backup, retention, the recoverable range and the last restore drill.
It runs \`pg-agent status -o json\` in a ready pod of the cluster with kubectl exec (the primary when ready).

Options:
  -n, --namespace <ns>   the cluster's namespace (default: the kubeconfig's current namespace)
  -o, --output json      print the report as JSON instead of the screen
      --context <name>   kubeconfig context to use
      --kubeconfig <f>   kubeconfig file to use
  -h, --help             this text

Environment: KUBECTL, the kubectl binary to run (default: kubectl on PATH).
`;

export class CliError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export interface StatusArgs {
  cluster: string;
  namespace?: string;
  output: 'text' | 'json';
  context?: string;
  kubeconfig?: string;
}

/** The command line, or `help`; a CliError names the wrong argument. */
export function parseCommandLine(argv: string[]): StatusArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        output: { type: 'string', short: 'o' },
        context: { type: 'string' },
        kubeconfig: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new CliError((e as Error).message, 'See `cdk8s-postgres --help`.');
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0 || positionals[0] === 'help') return 'help';
  const [command, cluster, ...rest] = positionals;
  if (command !== 'status')
    throw new CliError(`unknown command "${command}"`, 'The one command is `cdk8s-postgres status <cluster> -n <namespace>`.');
  if (!cluster)
    throw new CliError('status needs the cluster name', 'Run `cdk8s-postgres status <cluster> -n <namespace>` (the PostgresCluster `name`).');
  if (rest.length) throw new CliError(`unexpected argument "${rest[0]}"`, 'Give one cluster name.');
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json')
    throw new CliError(`-o ${output} is not an output format`, 'Use -o json, or leave -o out for the screen.');
  return { cluster, namespace: values.namespace, output, context: values.context, kubeconfig: values.kubeconfig };
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runKubectl(kubectl: string, args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => (stdout += d));
    child.stderr.on('data', d => (stderr += d));
    child.on('error', e => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        reject(
          new CliError(
            `kubectl not found (looked for "${kubectl}"${kubectl.includes('/') ? '' : ' on PATH'})`,
            'Install kubectl (https://kubernetes.io/docs/tasks/tools/) or set KUBECTL to its path.',
          ),
        );
      else reject(e);
    });
    child.on('close', code => resolve({ code, stdout, stderr }));
  });
}

export async function statusCli(args: StatusArgs, io: CliIo): Promise<void> {
  const kubectl = io.env.KUBECTL || 'kubectl';
  const common = [
    ...(args.kubeconfig ? ['--kubeconfig', args.kubeconfig] : []),
    ...(args.context ? ['--context', args.context] : []),
    ...(args.namespace ? ['-n', args.namespace] : []),
  ];
  const where = args.namespace ? `namespace ${args.namespace}` : 'the current namespace';
  const selector = `${LABELS.cluster}=${args.cluster},${LABELS.component}=${COMPONENTS.instance}`;
  const listed = await runKubectl(kubectl, [...common, 'get', 'pods', '-l', selector, '-o', 'json'], io.env);
  if (listed.code !== 0) throw new CliError(`kubectl get pods failed: ${listed.stderr.trim()}`, 'Check the kubeconfig, context and namespace.');
  const pods = (JSON.parse(listed.stdout).items ?? []) as ListedPod[];
  let pod: string;
  try {
    pod = pickPod(pods, args.cluster, args.namespace ?? '(current)');
  } catch (e) {
    if (e instanceof NoReadyPodError)
      throw new CliError(e.message.replace('namespace (current)', where), 'kubectl get pods and kubectl logs tell why.');
    throw e;
  }
  const exec = await runKubectl(kubectl, [...common, 'exec', pod, '-c', INSTANCE_CONTAINER, '--', PATHS.agentBinary, 'status', '-o', 'json'], io.env);
  let report: StatusReport;
  try {
    report = JSON.parse(exec.stdout) as StatusReport;
  } catch {
    throw new CliError(
      `pg-agent status in pod ${pod} did not answer with a report (exit ${exec.code}): ${(exec.stderr || exec.stdout).trim().split('\n').slice(-3).join(' | ')}`,
      'An agent image older than this package has no status command: upgrade the image; otherwise the pod log says why.',
    );
  }
  io.stdout(args.output === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderStatus(report));
}

/** The bin's entry: exit 0, or 1 with the error and its fix on stderr. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  try {
    const args = parseCommandLine(argv);
    if (args === 'help') {
      io.stdout(USAGE);
      return 0;
    }
    await statusCli(args, io);
    return 0;
  } catch (e) {
    const fix = e instanceof CliError ? `\nfix: ${e.fix}` : '';
    io.stderr(`cdk8s-postgres: ${(e as Error).message}${fix}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2), { env: process.env, stdout: s => process.stdout.write(s), stderr: s => process.stderr.write(s) }).then(code => {
    process.exitCode = code;
  });
}
