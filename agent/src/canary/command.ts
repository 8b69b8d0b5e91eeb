/**
 * `pg-agent canary`: the restore canary, a small web app that writes test records on a button press (and, with a
 * heartbeat, every N seconds) and shows them back with a verdict on their checksums, so a restore can be checked
 * by eye: are the records there, untouched, up to which point in time?
 */
import { Server } from 'http';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { CanaryConfig, describeTarget, readCanaryConfig } from './config';
import { CanaryDb } from './db';
import { createCanaryServer } from './server';

export async function canaryCommand(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cfg = readCanaryConfig(env);
  const db = new CanaryDb(cfg.target);
  const target = describeTarget(cfg.target);
  const server = createCanaryServer({
    db,
    title: `${cfg.cluster ?? cfg.target.host} / ${cfg.target.database}`,
    target,
    heartbeatSeconds: cfg.heartbeatSeconds,
    auth: cfg.auth,
  });
  await listen(server, cfg.httpPort);
  log.info(
    { port: cfg.httpPort, target, user: cfg.target.user, heartbeatSeconds: cfg.heartbeatSeconds ?? null, basicAuth: cfg.auth !== undefined },
    'canary listening',
  );

  // Say once at start whether the database answers; the page says it on every load.
  db.status().then(
    s => log.info({ role: s.role, lsn: s.lsn, database: s.database }, 'database reachable'),
    e => log.warn({ cause: (e as Error).message }, 'database not reachable yet'),
  );
  const heartbeat = cfg.heartbeatSeconds ? new Heartbeat(db, cfg) : undefined;
  heartbeat?.start();

  const signal = await new Promise<string>(resolve => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'canary stopping');
  heartbeat?.stop();
  await new Promise<void>(resolve => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await db.end();
  log.info('canary stopped');
  return 0;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new AgentError(
          `cannot listen on port ${port}: ${e.code ?? e.message}`,
          'Another process holds the port; the Deployment sets PGC_CANARY_HTTP_PORT, change it there.',
          { port },
        ),
      ),
    );
    server.listen(port, () => resolve());
  });
}

/** Writes one record every N seconds; logs when writing starts failing and when it works again, not every beat. */
class Heartbeat {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failing?: string;

  constructor(
    private readonly db: CanaryDb,
    private readonly cfg: CanaryConfig,
  ) {}

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.beat(), ms);
  }

  private async beat(): Promise<void> {
    const started = Date.now();
    try {
      const rec = await this.db.insert('heartbeat');
      if (this.failing !== undefined) log.info({ seq: rec.seq }, 'heartbeat writing again');
      else log.debug({ seq: rec.seq }, 'heartbeat record written');
      this.failing = undefined;
    } catch (e) {
      const cause = (e as Error).message;
      if (this.failing !== cause) log.warn({ cause }, 'heartbeat cannot write');
      this.failing = cause;
    }
    this.schedule(Math.max(0, this.cfg.heartbeatSeconds! * 1000 - (Date.now() - started)));
  }
}
