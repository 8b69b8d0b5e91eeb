/**
 * `pg-agent instance`: PID 1 of a Postgres pod. Bootstraps the data directory once, writes the configuration on
 * every start, supervises postgres, reconciles roles and databases on the primary, labels the pod with its role
 * and serves health, readiness and metrics.
 */
import * as fs from 'fs';
import { Server } from 'http';
import { log } from '../common/log';
import { connectKube } from '../k8s/client';
import { clearPartial, clone, initdb, primaryAnswers } from './bootstrap';
import { InstanceConfig, readInstanceConfig } from './config';
import { writeConfigFiles } from './config-files';
import { renderMetrics, serveHttp } from './http';
import { checkFreeSpace, checkOwnership, inspectDataDir, readSystemIdentifier } from './pgdata';
import { WalArchiver, archiverSocketPath } from '../wal/archiver';
import { RoleLabeler } from './pod-label';
import { InstanceRole, planStart } from './role';
import { InstanceStatus, readStatus, reconcilePrimary } from './sql';
import { PostgresSupervisor } from './supervisor';

/** A replica further behind than this is not ready (its reads would be stale). */
const MAX_READY_LAG_BYTES = 64 * 1024 * 1024;
const STATUS_INTERVAL_MS = 2000;

export async function instanceCommand(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cfg = readInstanceConfig(env);
  log.info({ pod: cfg.podName, cluster: cfg.cluster, instances: cfg.instances }, 'instance starting');
  fs.mkdirSync(cfg.socketDir, { recursive: true });
  const kube = await connectKube(cfg.namespace);

  checkFreeSpace(cfg.pgdata);
  clearPartial(cfg);
  const state = inspectDataDir(cfg.pgdata);
  checkOwnership(state, cfg.cluster, cfg.pgdata);
  const plan = planStart(state, cfg.ordinal, state.kind === 'empty' && cfg.ordinal === 0 ? await primaryAnswers(cfg) : false);
  log.info({ plan: plan.action, role: plan.role }, 'start plan');
  if (plan.action === 'initdb') await initdb(cfg);
  if (plan.action === 'clone') await clone(cfg);

  const instance = new Instance(cfg, plan.role, new RoleLabeler(kube, cfg.podName));
  return instance.run();
}

class Instance {
  private status?: InstanceStatus;
  private statusError = 'starting';
  private reconciled = false;
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private readonly supervisor: PostgresSupervisor;
  private archiver?: WalArchiver;

  constructor(private readonly cfg: InstanceConfig, private role: InstanceRole, private readonly labeler: RoleLabeler) {
    this.supervisor = new PostgresSupervisor({ pgdata: cfg.pgdata, shutdownTimeoutSeconds: cfg.shutdownTimeoutSeconds, onExit: () => { this.reconciled = false; } });
  }

  async run(): Promise<number> {
    writeConfigFiles(this.cfg, this.role);
    if (this.cfg.archiving) {
      const systemIdentifier = readSystemIdentifier(this.cfg.pgdata);
      this.archiver = new WalArchiver(this.cfg.archiving, this.cfg.pgdata, archiverSocketPath(this.cfg.socketDir), () => ({ systemIdentifier, cluster: this.cfg.cluster }));
      await this.archiver.start();
    }
    this.server = await serveHttp(this.cfg.httpPort, {
      alive: () => true,
      ready: () => this.readiness(),
      metrics: () => renderMetrics({
        cluster: this.cfg.cluster, pod: this.cfg.podName, role: this.labeler.current, up: !!this.status,
        restarts: this.supervisor.restarts, status: this.status,
      }),
    });
    this.supervisor.start();

    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutdown requested');
      if (this.timer) clearTimeout(this.timer);
      void this.supervisor.stop();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));

    const tick = async () => {
      await this.refresh();
      if (!stopping) this.timer = setTimeout(tick, STATUS_INTERVAL_MS);
    };
    this.timer = setTimeout(tick, 200);

    const outcome = await this.supervisor.done;
    if (this.timer) clearTimeout(this.timer);
    this.server.close();
    await this.archiver?.stop();
    log.info({ outcome }, 'instance exiting');
    return outcome === 'stopped' ? 0 : 1;
  }

  /** One status tick: read PostgreSQL's state, reconcile the primary once per postgres start, fix the label. */
  private async refresh(): Promise<void> {
    try {
      this.status = await readStatus(this.cfg);
      this.statusError = '';
    } catch (e) {
      this.status = undefined;
      this.statusError = `postgres not accepting connections: ${(e as Error).message}`;
      return;
    }
    this.role = this.status.inRecovery ? 'replica' : 'primary';
    if (this.role === 'primary' && !this.reconciled) {
      try {
        await reconcilePrimary(this.cfg);
        this.reconciled = true;
        log.info({ databases: this.cfg.databases.map(d => d.name) }, 'roles, databases and replication slots reconciled');
      } catch (e) {
        log.error({ err: (e as Error).message }, 'reconciling roles and databases failed; retrying');
        return;
      }
    }
    await this.labeler.ensure(this.role);
  }

  private readiness(): { ok: boolean; reason: string } {
    const s = this.status;
    if (!s) return { ok: false, reason: this.statusError };
    // The Services select by the role label: not ready until the pod carries the right one.
    if (this.labeler.current !== this.role) return { ok: false, reason: `pod not labelled ${this.role} yet` };
    if (this.role === 'primary') return this.reconciled ? { ok: true, reason: 'primary accepting connections' } : { ok: false, reason: 'primary not reconciled yet' };
    if (s.receiver !== 'streaming') return { ok: false, reason: `replica not streaming (${s.receiver ?? 'no WAL receiver'})` };
    if (s.replayLagBytes > MAX_READY_LAG_BYTES) return { ok: false, reason: `replica ${s.replayLagBytes} bytes behind (limit ${MAX_READY_LAG_BYTES})` };
    return { ok: true, reason: 'replica streaming' };
  }
}
