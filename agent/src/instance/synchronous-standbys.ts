/**
 * Keeps synchronous_standby_names on the primary as decideSynchronousStandbys says. With `preferred` it looks at
 * pg_stat_replication five times a second on a connection of its own, apart from the instance's tick (which can
 * wait seconds on the Kubernetes API): a frozen standby must stop holding commits within about 2 s.
 */
import { performance } from 'perf_hooks';
import { Client } from 'pg';
import { names } from '../../../lib/contract';
import { log } from '../common/log';
import { NO_SYNCHRONOUS_MEMORY, StandbyRow, SynchronousMemory, decideSynchronousStandbys } from '../decide/synchronous';
import { InstanceConfig } from './config';
import { localConnection } from './sql';

/** How often `preferred` looks at the standbys. */
export const SYNCHRONOUS_POLL_MS = 200;
/** A standby that owes WAL and flushes nothing more for this long stops holding commits (`preferred`). */
// Below a second so that, with the poll's slack on a loaded node, commits resume within about 2 s; a healthy standby
// flushes within milliseconds of receiving WAL, and a false drop only weakens `preferred` until it is listed again.
export const SILENT_AFTER_MS = 800;
/** A dropped standby holds commits again once it is this close to the primary (`preferred`). */
export const CATCH_UP_BYTES = 1024 * 1024;

export class SynchronousStandbys {
  private memory: SynchronousMemory = NO_SYNCHRONOUS_MEMORY;
  private client?: Client;
  private running?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private lastError = '';
  /** The standbys commits wait for now (for /metrics). */
  members: string[] = [];

  constructor(private readonly cfg: InstanceConfig) {}

  /** With `preferred`: polls while `isPrimary()` says this instance is the cluster's writable primary. */
  start(isPrimary: () => boolean): void {
    if (this.cfg.synchronous?.dataDurability !== 'preferred') return;
    this.timer = setInterval(() => {
      if (isPrimary()) void this.step();
    }, SYNCHRONOUS_POLL_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.disconnect();
  }

  /**
   * Observes and applies once; concurrent calls share the one in flight. `required` may run before a promotion
   * (in recovery): its setting does not depend on what streams.
   */
  step(): Promise<void> {
    if (!this.cfg.synchronous) return Promise.resolve();
    this.running ??= this.observeAndApply().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async observeAndApply(): Promise<void> {
    const spec = this.cfg.synchronous!;
    try {
      const c = await this.connection();
      const [head, rows] = await Promise.all([
        c.query(`SELECT pg_is_in_recovery() AS rec, current_setting('synchronous_standby_names') AS current,
          CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_flush_lsn()::text END AS lsn`),
        c.query('SELECT application_name AS name, state, flush_lsn::text AS flush FROM pg_stat_replication'),
      ]);
      const { rec, current, lsn } = head.rows[0];
      if (rec && spec.dataDurability === 'preferred') return; // only a primary knows who streams from it
      const standbys: StandbyRow[] = rows.rows.map(r => ({ name: r.name, state: r.state, flushLsn: r.flush ?? undefined }));
      const peers = Array.from({ length: this.cfg.instances }, (_, i) => names.pod(this.cfg.cluster, i)).filter(p => p !== this.cfg.podName);
      const d = decideSynchronousStandbys(
        {
          number: spec.number,
          dataDurability: spec.dataDurability,
          peers,
          currentLsn: lsn ?? undefined,
          standbys,
          nowMs: performance.now(),
          silentAfterMs: SILENT_AFTER_MS,
          catchUpBytes: CATCH_UP_BYTES,
        },
        this.memory,
      );
      if (d.value !== current) {
        await c.query(`ALTER SYSTEM SET synchronous_standby_names = ${c.escapeLiteral(d.value)}`);
        await c.query('SELECT pg_reload_conf()');
        for (const ch of d.changes)
          (ch.change === 'dropped' ? log.warn : log.info).call(
            log,
            { standby: ch.standby, change: ch.change, ...(ch.fix ? { fix: ch.fix } : {}) },
            ch.why,
          );
        log.info({ synchronous_standby_names: d.value }, 'synchronous replication set');
      }
      // Remembered only once applied: a failed ALTER is decided (and logged) again at the next poll.
      this.memory = d.memory;
      this.members = d.members;
      this.lastError = '';
    } catch (e) {
      this.disconnect();
      const err = (e as Error).message;
      if (err !== this.lastError) log.warn({ err }, 'cannot set synchronous replication yet');
      this.lastError = err;
    }
  }

  private async connection(): Promise<Client> {
    if (this.client) return this.client;
    // A hung server must not hold the poll: the next one retries on a new connection.
    const c = new Client({ ...localConnection(this.cfg), statement_timeout: 2000, application_name: 'pg-agent synchronous' });
    c.on('error', () => {
      if (this.client === c) this.client = undefined;
    });
    await c.connect();
    this.client = c;
    return c;
  }

  private disconnect(): void {
    const c = this.client;
    this.client = undefined;
    void c?.end().catch(() => undefined);
  }
}
