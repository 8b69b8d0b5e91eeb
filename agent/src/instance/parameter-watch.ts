/**
 * Watches the cluster's ConfigMap (mounted at PGC_CONFIG_DIR; the kubelet swaps its `..data` symlink when the
 * ConfigMap changes) and applies new parameters without a restart: check them with the postgres binary, write
 * postgresql.conf, pg_reload_conf(), then report what took effect and what waits for a restart. It publishes the
 * outcome on the pod (CONFIG_ANNOTATIONS) and gathers the peers' for the coordinated restart (decide/parameters).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CLUSTER_CONFIG, CONFIG_ANNOTATIONS, LABELS, names } from '../../../lib/contract';
import { log } from '../common/log';
import { ParameterPeer, RestartFacts } from '../decide';
import { KubeClient } from '../k8s/client';
import {
  Parameters,
  changedNames,
  loweredStandbyMinimums,
  checkParameters,
  invalidParametersFix,
  parametersHash,
  readParametersFile,
  saveLastGood,
} from './cluster-config';
import { InstanceConfig } from './config';
import { renderPostgresqlConf } from './config-files';
import { InstanceStatus, localConnection, withClient } from './sql';

/** How often the mounted file is read (the kubelet itself takes up to a minute or so to refresh it). */
const POLL_MS = 2000;
/** How long to wait for the postmaster to process a reload before reporting anyway. */
const RELOAD_WAIT_MS = 5000;

export class ParameterWatcher {
  private lastPoll = 0;
  private lastRaw?: string;
  private rejectedHash?: string;
  private busy = false;
  /** Names postgres reports `pending_restart` for (read on every poll). */
  pendingRestart: string[] = [];
  /** Standby-limited parameters the last applied change lowered (decide/parameters: the primary restarts first). */
  private lowered: string[] = [];
  private published?: string;
  private keptAsLastGood = false;

  constructor(
    private readonly cfg: InstanceConfig,
    private readonly kube: KubeClient,
  ) {}

  get wantedHash(): string {
    return parametersHash(this.cfg.parameters);
  }

  /**
   * Once every POLL_MS while postgres runs: applies a changed, valid ConfigMap, refreshes the pending-restart list
   * and publishes both on the pod. Returns false when it did not run (too early, or already running).
   */
  async poll(role: 'primary' | 'replica', status: InstanceStatus): Promise<boolean> {
    if (!this.cfg.configDir || this.busy || Date.now() - this.lastPoll < POLL_MS) return false;
    this.busy = true;
    this.lastPoll = Date.now();
    try {
      if (!this.keptAsLastGood) {
        saveLastGood(this.cfg, this.cfg.parameters); // postgres runs with them: good for a start with a bad ConfigMap
        this.keptAsLastGood = true;
      }
      const next = this.readChange();
      const applied = next ? await this.apply(next, role) : false;
      // Only a reload can make a parameter pending and only a restart clears it: no query while nothing is pending.
      if (applied || this.pendingRestart.length) this.pendingRestart = await pendingRestartNames(this.cfg);
      await this.publish(role === 'primary' || status.receiver === 'streaming');
      return true;
    } finally {
      this.busy = false;
    }
  }

  /** The ConfigMap's parameters when they differ from the ones in use and were not rejected before. */
  private readChange(): Parameters | undefined {
    const file = path.join(this.cfg.configDir!, CLUSTER_CONFIG.parametersKey);
    let raw: string;
    try {
      raw = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if (this.lastRaw !== '') log.warn({ file, err: (e as Error).message }, "cannot read the cluster's parameters; keeping the ones in use");
      this.lastRaw = '';
      return undefined;
    }
    if (raw === this.lastRaw) return undefined;
    this.lastRaw = raw;
    let next: Parameters;
    try {
      next = readParametersFile(this.cfg.configDir!);
    } catch (e) {
      log.error(
        { err: (e as Error).message, fix: invalidParametersFix(this.cfg) },
        "the cluster's parameters cannot be read; keeping the ones in use",
      );
      return undefined;
    }
    const hash = parametersHash(next);
    if (hash === this.wantedHash || hash === this.rejectedHash) return undefined;
    return next;
  }

  /** Returns true when the parameters were written and reloaded. */
  private async apply(next: Parameters, role: 'primary' | 'replica'): Promise<boolean> {
    const hash = parametersHash(next);
    const changed = changedNames(this.cfg.parameters, next);
    const invalid = await checkParameters(next, this.cfg.socketDir);
    if (invalid.length) {
      this.rejectedHash = hash;
      log.error(
        { invalid, changed, rejected: hash, running: this.wantedHash, fix: invalidParametersFix(this.cfg) },
        'new parameters rejected: postgres would not accept them, so they were not written; postgres keeps running with the previous ones',
      );
      return false;
    }
    this.lowered = loweredStandbyMinimums(this.cfg.parameters, next);
    this.cfg.parameters = next;
    fs.writeFileSync(path.join(this.cfg.pgdata, 'postgresql.conf'), renderPostgresqlConf(this.cfg, role), { mode: 0o600 });
    saveLastGood(this.cfg, next);
    const { pendingRestart, errors } = await reloadAndReport(this.cfg);
    const waiting = changed.filter(n => pendingRestart.includes(n));
    log.info(
      { hash, changed, reloaded: changed.filter(n => !waiting.includes(n)), pendingRestart: waiting, errors },
      waiting.length
        ? 'parameters applied by a reload; some wait for a coordinated restart (replicas first, then a switchover)'
        : 'parameters applied by a reload, no restart needed',
    );
    return true;
  }

  /** On the pod: the hash applied, or the hash waiting for a restart (a replica keeps that until it streams again). */
  private async publish(healthy: boolean): Promise<void> {
    const hash = this.wantedHash;
    const pending = this.pendingRestart.length > 0;
    const annotations = {
      [CONFIG_ANNOTATIONS.appliedHash]: pending ? null : hash,
      [CONFIG_ANNOTATIONS.pendingRestart]: pending ? hash : null,
    };
    if (!pending && !healthy) return;
    const key = JSON.stringify(annotations);
    if (key === this.published) return;
    try {
      await this.kube.patchPodAnnotations(this.cfg.podName, annotations);
      this.published = key;
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot publish the applied parameters on the pod yet');
    }
  }

  /** The facts of decideParameterRestart; the peers are read only when a restart is pending here. */
  async restartFacts(role: 'primary' | 'replica', status: InstanceStatus): Promise<RestartFacts> {
    return {
      me: this.cfg.podName,
      ordinal: this.cfg.ordinal,
      role,
      instances: this.cfg.instances,
      wantedHash: this.wantedHash,
      pendingRestart: this.pendingRestart.length > 0,
      lowersStandbyMinimums: this.pendingRestart.length ? this.lowered : [],
      streaming: status.receiver === 'streaming',
      peers: this.pendingRestart.length ? await this.readPeers() : [],
      streamingReplicas: status.replicas.filter(r => r.state === 'streaming').map(r => r.name),
    };
  }

  private async readPeers(): Promise<ParameterPeer[]> {
    const out: ParameterPeer[] = [];
    for (let i = 0; i < this.cfg.instances; i++) {
      if (i === this.cfg.ordinal) continue;
      const name = names.pod(this.cfg.cluster, i);
      try {
        const pod = await this.kube.getPod(name);
        const a = pod?.metadata?.annotations ?? {};
        const role = pod?.metadata?.labels?.[LABELS.role];
        out.push({
          name,
          ordinal: i,
          role: role === 'primary' || role === 'replica' ? role : undefined,
          appliedHash: a[CONFIG_ANNOTATIONS.appliedHash],
          pendingRestartHash: a[CONFIG_ANNOTATIONS.pendingRestart],
        });
      } catch {
        /* unreadable: it cannot vouch for anything */
      }
    }
    return out;
  }
}

async function pendingRestartNames(cfg: InstanceConfig): Promise<string[]> {
  return withClient(localConnection(cfg), async c =>
    (await c.query('SELECT name FROM pg_settings WHERE pending_restart ORDER BY name')).rows.map(r => String(r.name)),
  );
}

/**
 * pg_reload_conf() signals the postmaster, which re-reads the files on its own time: wait until a new session sees
 * a newer load time, then read what the reload left pending and any error postgres found in the file.
 */
async function reloadAndReport(cfg: InstanceConfig): Promise<{ pendingRestart: string[]; errors: string[] }> {
  const conn = localConnection(cfg);
  const before = await withClient(conn, async c => {
    const t = String((await c.query('SELECT pg_conf_load_time()::text AS t')).rows[0].t);
    await c.query('SELECT pg_reload_conf()');
    return t;
  });
  const deadline = Date.now() + RELOAD_WAIT_MS;
  while (Date.now() < deadline) {
    const now = await withClient(conn, async c => String((await c.query('SELECT pg_conf_load_time()::text AS t')).rows[0].t));
    if (now !== before) break;
    await new Promise(r => setTimeout(r, 100));
  }
  return withClient(conn, async c => ({
    pendingRestart: (await c.query('SELECT name FROM pg_settings WHERE pending_restart ORDER BY name')).rows.map(r => String(r.name)),
    errors: (
      await c.query(`SELECT name || ': ' || error AS e FROM pg_file_settings WHERE error IS NOT NULL AND error <> 'setting could not be applied'`)
    ).rows.map(r => String(r.e)),
  }));
}
