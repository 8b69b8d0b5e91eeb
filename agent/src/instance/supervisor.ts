/**
 * Runs `postgres` as a child: forwards its log lines as JSON, restarts it with backoff when it dies unasked,
 * and stops it with a fast shutdown (SIGINT), escalating to an immediate one (SIGQUIT) near the pod's deadline.
 * It can be stopped and started again (fencing, demotion) without ending the agent.
 */
import { ChildProcess, spawn } from 'child_process';
import * as readline from 'readline';
import { log } from '../common/log';

export interface SupervisorOptions {
  pgdata: string;
  /** PostgreSQL's environment (without secrets: common/secret-env.ts); the agent's own by default. */
  env?: NodeJS.ProcessEnv;
  /** Seconds between SIGINT and SIGQUIT on shutdown. */
  shutdownTimeoutSeconds: number;
  /** Give up after this many failed starts in a row. */
  maxConsecutiveFailures?: number;
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
  /** Called once when the supervisor gives up: postgres cannot run. */
  onGiveUp?: () => void;
}

export class PostgresSupervisor {
  private child?: ChildProcess;
  private stopping = false;
  private consecutiveFailures = 0;
  private startedAt = 0;
  private restartTimer?: NodeJS.Timeout;
  private exitWaiters: Array<() => void> = [];
  restarts = 0;

  constructor(private readonly opts: SupervisorOptions) {}

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    this.stopping = false;
    this.startedAt = Date.now();
    const child = spawn('postgres', ['-D', this.opts.pgdata], { stdio: ['ignore', 'pipe', 'pipe'], env: this.opts.env });
    this.child = child;
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', line => log.info({ source: 'postgres' }, line));
    }
    child.on('error', err => log.error({ err: err.message }, 'cannot start postgres'));
    child.on('exit', (code, signal) => this.exited(code, signal));
    log.info({ pid: child.pid }, 'postgres started');
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.opts.onExit?.(code, signal);
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    waiters.forEach(w => w());
    if (this.stopping) {
      log.info({ code, signal }, 'postgres stopped');
      return;
    }
    // A run that lasted a minute was a real run: the next crash starts the backoff afresh.
    if (Date.now() - this.startedAt > 60000) this.consecutiveFailures = 0;
    this.consecutiveFailures++;
    const max = this.opts.maxConsecutiveFailures ?? 10;
    if (this.consecutiveFailures >= max) {
      log.error(
        {
          code,
          signal,
          failures: this.consecutiveFailures,
          fix: 'Read the postgres lines above for the cause; the pod will be restarted by Kubernetes.',
        },
        'postgres keeps failing; giving up',
      );
      this.opts.onGiveUp?.();
      return;
    }
    const delay = Math.min(30000, 500 * 2 ** (this.consecutiveFailures - 1));
    log.warn(
      { code, signal, restartInMs: delay, restarts: this.restarts + 1 },
      'postgres exited unexpectedly; restarting (crash recovery replays WAL, no committed data is lost)',
    );
    this.restartTimer = setTimeout(() => {
      this.restarts++;
      this.start();
    }, delay);
  }

  /** Fast shutdown, then immediate shutdown after `timeoutSeconds`. Resolves once postgres has exited. */
  async stop(timeoutSeconds = this.opts.shutdownTimeoutSeconds): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (!this.running) return;
    log.info({ timeoutSeconds }, 'stopping postgres (fast shutdown)');
    const exited = new Promise<void>(r => this.exitWaiters.push(r));
    this.child!.kill('SIGINT');
    const escalate = setTimeout(() => {
      log.warn({}, 'fast shutdown took too long; immediate shutdown (crash recovery will run on next start)');
      this.child?.kill('SIGQUIT');
    }, timeoutSeconds * 1000);
    await exited;
    clearTimeout(escalate);
  }
}
