/**
 * `pg-agent instance`: PID 1 of a Postgres pod. Bootstraps the data directory once, writes the configuration on
 * every start, supervises postgres, takes part in the primary election through the cluster's Lease (renew and
 * fence as primary; fail over, follow or rejoin as replica), reconciles roles and databases on the primary, labels
 * the pod with its role and serves health, readiness and metrics.
 */
import * as fs from 'fs';
import { Server } from 'http';
import * as path from 'path';
import { ANNOTATIONS, LABELS, names } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { KubeClient, connectKube } from '../k8s/client';
import { InstanceEvents } from './events';
import { WalArchiver, archiverSocketPath } from '../wal/archiver';
import { WalFetchServer } from '../wal/fetch-server';
import { clearPartial, clone, finish, initdb, partialDir, primaryAnswers, recoverInterruptedSwap } from './bootstrap';
import { restoreForRecovery } from '../restore/recovery';
import { clearRolesPending, cloneSource, describeSource, isFollowingSource, markClonedFromSource, stopFollowingSource } from './clone-source';
import { InstanceConfig, readInstanceConfig } from './config';
import { followsSource, restoreStrictHba, writeConfigFiles, writeConfigWithout } from './config-files';
import { Election } from './election';
import { renderMetrics, serveHttp } from './http';
import { checkFreeSpace, checkOwnership, inspectDataDir, readControlData, readSystemIdentifier } from './pgdata';
import { RoleLabeler } from './pod-label';
import { RejoinBlocked, rejoinAsReplica } from './rewind';
import { archivingAtStop } from '../decide/archive';
import {
  InstanceRole,
  currentRole,
  decideArchiveLookupsOnTakeOver,
  decideFailover,
  decideHandOver,
  decideParameterRestart,
  decidePrimaryTick,
  decideStopHandOver,
  decideTakeOver,
  planStart,
} from '../decide';
import { startupParameters } from './cluster-config';
import { ParameterWatcher } from './parameter-watch';
import { readPeers, receivedLsnAnnotation } from './peers';
import { InstanceStatus, persistSlotReservations, promote, readStatus, reconcilePrimary, reloadConfig } from './sql';
import { SynchronousStandbys } from './synchronous-standbys';
import { ObservedMetrics } from './observed-metrics';
import { PostgresSupervisor } from './supervisor';
import { InstanceCount, ReplicaSlots } from './scaling';
import { DiskWatch } from './disk-usage';
import { decideResumeFailover, stopHandOverScope } from '../decide/scaling';
import { RolloutWatch } from './rollout';
import { loadCredentials } from './credentials';
import { startRotation } from './rotation';
import { loadTls, probePrimaryTls, startTlsWatch } from './tls';
import { startManagedObjects } from './managed-objects';
import { postgresEnvironment } from '../common/secret-env';
import { historyFileTimeline } from '../postgres/wal';

/** A replica further behind than this is not ready (its reads would be stale). */
const MAX_READY_LAG_BYTES = 64 * 1024 * 1024;
const TICK_MS = 1000;
/** How often a replica publishes its received LSN on its pod for the others to compare before a failover. */
const PUBLISH_LSN_MS = 3000;
/**
 * How often the fence deadline is checked, apart from the tick: a tick can be stuck for seconds in a request to an
 * API that does not answer (up to the client's timeout), and fencing must not wait for it.
 */
const FENCE_CHECK_MS = 200;
/** How long a switchover target may take to replay up to the old primary's final position before it refuses. */
const SWITCHOVER_CATCH_UP_MS = 30000;
/** The tick while a hand-over is under way here: the write gap of a switchover is counted in ticks. */
const FAST_TICK_MS = 100;

export async function instanceCommand(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cfg = readInstanceConfig(env);
  log.info({ pod: cfg.podName, cluster: cfg.cluster, instances: cfg.instances }, 'instance starting');
  fs.mkdirSync(cfg.socketDir, { recursive: true });
  // Before anything writes postgresql.conf: a value postgres would refuse must never stop it from starting.
  cfg.parameters = await startupParameters(cfg);
  const kube = await connectKube(cfg.namespace);
  const count = new InstanceCount(kube, cfg);
  await count.refresh(true);

  recoverInterruptedSwap(cfg);
  checkFreeSpace(cfg.pgdata);
  clearPartial(cfg);
  if (cfg.import) (await import('../import/run')).clearImportLeftovers(cfg);
  const election = new Election(kube, names.lease(cfg.cluster), cfg.podName, cfg.leaseDurationSeconds);
  const { plan, state, lease } = await planUntilSafe(cfg, kube, election, count);
  log.info({ plan: plan.action, role: plan.role, why: plan.why, leaseHolder: lease?.holder }, 'start plan');
  // Passwords come from the Secrets through the API, before anything needs one, and are followed from then on.
  await loadCredentials(kube, cfg.credentials, cfg);
  const running: { instance?: Instance } = {};
  startRotation(kube, cfg, () => running.instance?.appliesPasswords() ?? false);
  // The server certificate before PostgreSQL or a clone needs it, followed from then on (renewal: a reload).
  await loadTls(kube, cfg);
  await probePrimaryTls(cfg);
  startTlsWatch(kube, cfg, () => running.instance?.tlsFacts());
  startManagedObjects(kube, cfg, () => running.instance?.appliesPasswords() ?? false);
  if (plan.action === 'clone' && plan.stepAside) {
    // This pod held the lease with data it no longer has: the replica that has the data must not wait for expiry.
    log.warn({}, 'this pod holds the primary lease but its volume is empty: giving the lease up so a replica with the data takes over');
    await election.release().catch(e => log.warn({ err: (e as Error).message }, 'cannot give the lease up; it expires on its own'));
  }
  if (plan.action === 'initdb') await initdb(cfg);
  if (plan.action === 'import') await (await import('../import/until-done')).importUntilDone(cfg);
  if (plan.action === 'clone' && cfg.clone?.follow) await waitWhileFollowing(cfg);
  if (plan.action === 'clone') await clone(cfg);
  if (plan.action === 'clone-source') {
    clearPartial(cfg);
    await cloneSource(cfg.clone!, cfg.socketDir, partialDir(cfg));
    finish(cfg, `pg_basebackup from ${describeSource(cfg.clone!.source)}`);
    markClonedFromSource(cfg.pgdata);
  }
  if (plan.action === 'restore') {
    clearPartial(cfg);
    try {
      await restoreForRecovery(cfg.recovery!, partialDir(cfg));
    } catch (e) {
      clearPartial(cfg); // a half-restored directory must never be started
      if (e instanceof AgentError) throw e;
      throw new AgentError(
        `restoring the base backup failed: ${(e as Error).message}`,
        'Nothing was started. The backup is damaged or unreadable: check the store, or recover to a target that an older backup covers.',
      );
    }
    finish(cfg, 'recovery');
  }
  const systemIdentifier = readSystemIdentifier(cfg.pgdata);
  election.systemIdentifier = systemIdentifier;
  await publishIdentity(kube, cfg, systemIdentifier, state.kind === 'empty');

  let role: InstanceRole = plan.role;
  if (role === 'primary') {
    const holder = election.view()?.holder;
    if (holder && holder !== cfg.podName) {
      // This data was a primary, but the Lease says another pod is primary now: it must not come back as a second one.
      log.warn({ holder }, 'this instance was primary, but another pod holds the primary lease: rejoining as a replica');
      await rejoinUntilDone(cfg);
      role = 'replica';
    } else if (!(await election.acquire(undefined, { [ANNOTATIONS.hibernatedLsn]: undefined }))) {
      throw new AgentError('another pod took the primary lease while this one was starting', 'The pod restarts and follows the new primary.');
    }
  }
  running.instance = new Instance(cfg, role, kube, election, new RoleLabeler(kube, cfg.podName), count);
  return running.instance.run();
}

/**
 * Gathers what the start decision needs and asks the decision module, again every few seconds while it says to
 * wait (alive, not ready, the reason in one log line and on /readyz): a peer that comes back changes the answer.
 */
async function planUntilSafe(cfg: InstanceConfig, kube: KubeClient, election: Election, count: InstanceCount) {
  let waitingServer: Server | undefined;
  let lastWhy = '';
  for (;;) {
    const state = inspectDataDir(cfg.pgdata);
    checkOwnership(state, cfg.cluster, cfg.pgdata);
    const lease = await observeUntilReachable(election);
    await count.refresh(); // the peers to read: the StatefulSet's count (if the API was down at the first read)
    const peers = await readPeers(kube, cfg).catch(() => []);
    const fresh = (p: { reportedAgeMs?: number }) => p.reportedAgeMs !== undefined && p.reportedAgeMs < 3 * cfg.leaseDurationSeconds * 1000;
    const clusterIdentity = lease?.systemIdentifier ?? peers.find(p => p.systemIdentifier)?.systemIdentifier;
    const holder = lease?.holder;
    const needsPrimaryProbe = state.kind === 'empty' && cfg.ordinal === 0 && !(holder && holder !== cfg.podName);
    const plan = planStart({
      data: state.kind === 'empty' ? state : { kind: 'initialized', systemIdentifier: state.systemIdentifier, standby: state.standby },
      ordinal: cfg.ordinal,
      me: cfg.podName,
      origin: cfg.recovery ? 'recovery' : cfg.clone ? 'clone-source' : cfg.import ? 'import' : 'initdb',
      followingSource: !!cfg.clone && state.kind === 'initialized' && isFollowingSource(cfg.pgdata),
      leaseExists: !!lease,
      leaseHolder: holder,
      clusterIdentity,
      peerWithData: peers.find(p => fresh(p) && (!clusterIdentity || p.systemIdentifier === clusterIdentity))?.name,
      primaryAnswers: needsPrimaryProbe ? await primaryAnswers(cfg) : false,
      namespace: cfg.namespace,
      leaseName: election.leaseName,
    });
    if (plan.action !== 'wait') {
      waitingServer?.closeAllConnections();
      waitingServer?.close();
      return { plan, state, lease };
    }
    if (plan.why !== lastWhy) {
      log.error({ fix: plan.fix, invariant: plan.invariant, clusterIdentity, leaseHolder: holder }, plan.why);
      lastWhy = plan.why;
    }
    waitingServer ??= await serveHttp(cfg.httpPort, {
      alive: () => true,
      ready: () => ({ ok: false, reason: `waiting: ${lastWhy}` }),
      metrics: () => renderMetrics({ cluster: cfg.cluster, pod: cfg.podName, up: false, restarts: 0, safetyWaits: 1 }),
    });
    await new Promise(r => setTimeout(r, 5000));
  }
}

/** Every instance with data says so on its own pod; an empty one clears an old report (it holds nothing now). */
async function publishIdentity(kube: KubeClient, cfg: InstanceConfig, systemIdentifier: string, wasEmpty: boolean): Promise<void> {
  const annotations: Record<string, string | null> = { [ANNOTATIONS.systemIdentifier]: systemIdentifier };
  if (wasEmpty) annotations[ANNOTATIONS.receivedLsn] = null;
  await kube
    .patchPodAnnotations(cfg.podName, annotations)
    .catch(e => log.warn({ err: (e as Error).message }, "cannot publish this instance's system identifier on its pod yet"));
}

/**
 * While the cluster follows its external source, its first instance is a read-only standby of that source: the
 * other instances cannot clone it (this cluster's replication role does not exist there yet). They wait, alive
 * and not ready, until the manifest says `follow: false`, which restarts every pod (the environment changes).
 */
async function waitWhileFollowing(cfg: InstanceConfig): Promise<never> {
  log.warn(
    { source: describeSource(cfg.clone!.source) },
    'this cluster follows its external source (bootstrap.pgBasebackup.follow): replicas are cloned after the promotion; set follow: false to promote',
  );
  await serveHttp(cfg.httpPort, {
    alive: () => true,
    ready: () => ({ ok: false, reason: 'waiting: the cluster follows its external source; replicas are cloned after the promotion' }),
    metrics: () => '',
  });
  return new Promise<never>(() => undefined);
}

/**
 * Rejoins as a replica, retrying while the new primary cannot be reached or the rejoin is blocked (its data is never
 * given up for that): a blocked rejoin says why and what to do once, and tries again every 30 s.
 */
async function rejoinUntilDone(cfg: InstanceConfig): Promise<void> {
  let lastWhy = '';
  let waits = 0;
  let server: Server | undefined;
  try {
    for (;;) {
      try {
        await rejoinAsReplica(cfg);
        return;
      } catch (e) {
        if (e instanceof RejoinBlocked) {
          waits++;
          if (e.why !== lastWhy)
            log.error(
              { fix: e.fix, invariant: e.invariant, detail: e.detail },
              `cannot rejoin as a replica: ${e.why}; the data was kept, retrying every 30 s`,
            );
          lastWhy = e.why;
          // Alive and not ready meanwhile, with the wait on /metrics like any other safety wait.
          server ??= await serveHttp(cfg.httpPort, {
            alive: () => true,
            ready: () => ({ ok: false, reason: `waiting: cannot rejoin as a replica: ${lastWhy}` }),
            metrics: () => renderMetrics({ cluster: cfg.cluster, pod: cfg.podName, up: false, restarts: 0, safetyWaits: waits }),
          });
          await new Promise(r => setTimeout(r, 30000));
          continue;
        }
        log.error({ err: (e as Error).message }, 'cannot rejoin as a replica yet; retrying in 5 s');
        await new Promise(r => setTimeout(r, 5000));
      }
    }
  } finally {
    server?.closeAllConnections();
    server?.close();
  }
}

/** Reads the Lease, retrying while the API is unreachable: without it no safe role decision can be made. */
async function observeUntilReachable(election: Election) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await election.observe();
    } catch (e) {
      if (attempt === 1 || attempt % 10 === 0)
        log.warn({ err: (e as Error).message, attempt }, 'cannot read the primary lease yet; waiting for the Kubernetes API');
      await new Promise(r => setTimeout(r, 1000));
    }
  }
}

type Mode = 'primary' | 'replica' | 'fenced' | 'transition';

class Instance {
  private status?: InstanceStatus;
  private statusError = 'starting';
  private reconciled = false;
  private reconciling = false;
  /** Replication slots whose WAL reservation a checkpoint has made crash-safe (see persistSlotReservations). */
  private readonly persistedSlots = new Set<string>();
  private persistingSlots = false;
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private fenceWatch?: NodeJS.Timeout;
  private readonly supervisor: PostgresSupervisor;
  private archiver?: WalArchiver;
  private walFetch?: WalFetchServer;
  private readonly synchronous: SynchronousStandbys;
  private readonly observed: ObservedMetrics;
  private mode: Mode;
  private readonly promotions = { failover: 0, switchover: 0, handedOver: 0 };
  private fencings = 0;
  private readonly events: InstanceEvents;
  /** Decisions that waited because an invariant forbade going on (pgc_safety_waits_total). */
  private safetyWaits = 0;
  private switchoverWaitSince?: number;
  /** Ticks to run at FAST_TICK_MS: while this pod is a switchover's target and right after a promotion. */
  private fastTicks = 0;
  private lastPublish = 0;
  private lastWhyNot = '';
  private readonly rollout: RolloutWatch;
  private readonly parameters: ParameterWatcher;
  private lastHandOverRequest = 0;
  private exit!: (outcome: 'stopped' | 'failed') => void;
  private readonly exited = new Promise<'stopped' | 'failed'>(r => {
    this.exit = r;
  });

  private readonly replicaSlots: ReplicaSlots;
  private readonly disk: DiskWatch;

  constructor(
    private readonly cfg: InstanceConfig,
    private role: InstanceRole,
    private readonly kube: KubeClient,
    private readonly election: Election,
    private readonly labeler: RoleLabeler,
    private readonly count: InstanceCount,
  ) {
    this.mode = role;
    this.events = new InstanceEvents(cfg, kube);
    this.replicaSlots = new ReplicaSlots(cfg, count);
    this.disk = new DiskWatch(cfg.pgdata, 5000);
    this.rollout = new RolloutWatch(kube, cfg);
    this.parameters = new ParameterWatcher(cfg, kube);
    this.supervisor = new PostgresSupervisor({
      pgdata: cfg.pgdata,
      shutdownTimeoutSeconds: cfg.shutdownTimeoutSeconds,
      env: postgresEnvironment(cfg.socketDir),
      onExit: () => {
        this.reconciled = false;
      },
      onGiveUp: () => this.exit('failed'),
    });
    this.synchronous = new SynchronousStandbys(cfg);
    const isPrimary = () => this.mode === 'primary' && this.role === 'primary' && this.status?.inRecovery === false;
    this.observed = new ObservedMetrics(cfg, isPrimary, () => (cfg.synchronous && isPrimary() ? this.synchronous.members.length : undefined));
  }

  async run(): Promise<number> {
    writeConfigFiles(this.cfg, this.role);
    if (this.cfg.archiving) {
      const systemIdentifier = readSystemIdentifier(this.cfg.pgdata);
      this.archiver = new WalArchiver(this.cfg.archiving, this.cfg.pgdata, archiverSocketPath(this.cfg.socketDir), () => ({
        systemIdentifier,
        cluster: this.cfg.cluster,
      }));
      await this.archiver.start();
    }
    // restore_command (wal-fetch) asks this process, which has the S3 client loaded, instead of loading it per file.
    this.walFetch = new WalFetchServer(this.cfg.socketDir, process.env, this.cfg.pgdata);
    await this.walFetch.start();
    this.server = await serveHttp(this.cfg.httpPort, {
      alive: () => true,
      ready: () => this.readiness(),
      metrics: () =>
        renderMetrics({
          cluster: this.cfg.cluster,
          pod: this.cfg.podName,
          role: this.labeler.current,
          up: !!this.status,
          restarts: this.supervisor.restarts,
          status: this.status,
          failovers: this.promotions.failover,
          switchovers: this.promotions.switchover,
          fencings: this.fencings,
          safetyWaits: this.safetyWaits,
          disk: this.disk.current,
          lease: this.election.view()
            ? { holder: this.election.view()?.holder, heldByMe: this.election.heldByMe(), renewAgeSeconds: this.election.renewAgeSeconds() }
            : undefined,
          extra: labels => this.observed.render(labels),
        }),
    });
    this.supervisor.start();

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutdown requested');
      if (this.timer) clearTimeout(this.timer);
      clearInterval(this.fenceWatch);
      this.synchronous.stop();
      if (this.mode === 'primary' && this.role === 'primary' && this.cfg.instances > 1 && !this.following()) await this.handOverAndStop();
      else {
        if (this.mode === 'replica') await this.pauseArchivingIfFailing('replica');
        await this.supervisor.stop();
      }
      this.exit('stopped');
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));

    const tick = async () => {
      try {
        await this.step();
      } catch (e) {
        log.error({ err: (e as Error).message }, 'instance step failed; retrying');
      }
      const fast = this.fastTicks > 0;
      if (fast) this.fastTicks--;
      if (!stopping) this.timer = setTimeout(tick, fast ? FAST_TICK_MS : TICK_MS);
    };
    this.timer = setTimeout(tick, 200);
    this.fenceWatch = setInterval(() => void this.fenceIfStale(), FENCE_CHECK_MS);
    this.synchronous.start(() => this.mode === 'primary' && this.status?.inRecovery === false && !this.following());
    this.observed.start();

    const outcome = await this.exited;
    if (this.timer) clearTimeout(this.timer);
    clearInterval(this.fenceWatch);
    this.synchronous.stop();
    this.observed.stop();
    this.server.close();
    await this.walFetch?.stop();
    await this.archiver?.stop();
    log.info({ outcome }, 'instance exiting');
    return outcome === 'stopped' ? 0 : 1;
  }

  /** One tick: read PostgreSQL's state, take part in the election, reconcile, fix the label. */
  private async step(): Promise<void> {
    if (this.mode === 'transition') return;
    void this.count.refresh(); // every few seconds, never awaited: an API that hangs must not hold the tick
    this.disk.tick();
    await this.refreshStatus();
    if (this.mode === 'primary') await this.primaryStep();
    else if (this.mode === 'replica') await this.replicaStep();
    else if (this.mode === 'fenced') await this.fencedStep();
    if (this.status && (this.mode === 'primary' || this.mode === 'replica')) {
      if (this.mode === 'primary' && this.following()) await this.followStep();
      const following = this.mode === 'primary' && this.following();
      this.role = currentRole(this.status.inRecovery, following);
      // Not awaited: reconciling can wait on locks, and the tick must go on renewing the lease meanwhile.
      if (this.role === 'primary' && !following && !this.reconciled && !this.reconciling) void this.reconcile();
      if (this.role === 'primary' && !following && this.reconciled && !this.persistingSlots) void this.persistSlots();
      if (this.role === 'primary' && !following && this.reconciled) void this.replicaSlots.tick();
      if (this.role === 'primary' && !following && this.cfg.synchronous) await this.synchronousStep();
      await this.labeler.ensure(this.role);
      // In the background: its API reads must never delay the lease renewal of the next tick.
      if ((this.role === 'primary' && !following) || this.role === 'replica') {
        void this.rollout.check(
          this.role,
          (this.status.replicas ?? []).filter(r => r.state === 'streaming').map(r => r.name),
        );
      }
      // Not awaited either: a reload report or a peer read must not hold up the lease renewal.
      if (!following)
        void this.parameterStep().catch(e => log.warn({ err: (e as Error).message }, "cannot apply the cluster's parameters yet; retrying"));
    }
  }

  /**
   * The watched ConfigMap: new parameters are reloaded; those pending a restart are applied by a restart in turn
   * (decide/parameters.ts): replicas in place one at a time, the primary by a switchover to a replica that runs them.
   */
  private async parameterStep(): Promise<void> {
    const status = this.status;
    const role = this.role;
    if (!status || this.mode !== role || !(await this.parameters.poll(role, status))) return;
    const d = decideParameterRestart(await this.parameters.restartFacts(role, status));
    if (d.action === 'none' || this.mode !== role) return;
    if (d.action === 'wait') return this.whyNot(d.why, { fix: d.fix, invariant: d.invariant });
    if (d.action === 'hand-over') {
      // As `pg-agent switchover` does: the primary's next tick hands over, checked by decideHandOver (lossless).
      if (Date.now() - this.lastHandOverRequest < 30000) return;
      this.lastHandOverRequest = Date.now();
      log.info({ target: d.target, pendingRestart: this.parameters.pendingRestart }, d.why);
      await this.election.annotate({ [ANNOTATIONS.switchoverTo]: d.target });
      return;
    }
    log.info({ pendingRestart: this.parameters.pendingRestart }, d.why);
    this.mode = 'transition';
    try {
      const restart = async () => {
        await this.supervisor.stop();
        this.status = undefined;
        writeConfigFiles(this.cfg, role);
        this.supervisor.start();
      };
      if (role === 'primary') await this.holdingLease(restart);
      else await restart();
    } finally {
      this.mode = role;
    }
  }

  private following(): boolean {
    return followsSource(this.cfg, 'primary');
  }

  /** The writable, reconciled primary: the one that gives the roles their Secrets' passwords. */
  tlsFacts(): { isPrimary: boolean; role: 'primary' | 'replica'; postgresUp: boolean } {
    return { isPrimary: this.appliesPasswords(), role: this.mode === 'primary' ? 'primary' : 'replica', postgresUp: !!this.status };
  }

  appliesPasswords(): boolean {
    return this.mode === 'primary' && this.role === 'primary' && this.reconciled && !this.following();
  }

  /** Following the external source: promote once the manifest turned `follow` off. */
  private async followStep(): Promise<void> {
    const source = describeSource(this.cfg.clone!.source);
    if (this.cfg.clone!.follow) return;
    if (this.status && !this.status.inRecovery) {
      stopFollowingSource(this.cfg.pgdata); // promoted before a restart could record it
      return;
    }
    log.warn(
      { source, replayedLsn: this.status?.lsn, receivedLsn: this.status?.receivedLsn },
      'bootstrap.pgBasebackup.follow is false: promoting; this cluster stops following its source and starts a new timeline',
    );
    this.mode = 'transition';
    try {
      await this.holdingLease(() => promote(this.cfg));
      stopFollowingSource(this.cfg.pgdata);
      this.reconciled = false;
      log.info({ source }, 'promoted: the cluster is independent of its source now (point the applications at the -rw Service)');
    } catch (e) {
      log.error({ err: (e as Error).message }, 'promotion failed; retrying');
    } finally {
      this.mode = 'primary';
    }
    await this.refreshStatus();
  }

  private async refreshStatus(): Promise<void> {
    try {
      this.status = this.supervisor.running ? await readStatus(this.cfg) : undefined;
      this.statusError = this.status ? '' : `postgres not running (${this.mode})`;
    } catch (e) {
      this.status = undefined;
      this.statusError = `postgres not accepting connections: ${(e as Error).message}`;
    }
  }

  private async reconcile(): Promise<void> {
    this.reconciling = true;
    // Runs after every (re)start as primary: slots may be new (or recreated after a rewind), so check them all again.
    this.persistedSlots.clear();
    try {
      await reconcilePrimary(this.cfg);
      clearRolesPending(this.cfg.pgdata);
      if (restoreStrictHba(this.cfg)) {
        await reloadConfig(this.cfg);
        log.info({}, "restored roles now have this cluster's passwords: pg_hba.conf is SCRAM-only again");
      }
      this.reconciled = true;
      log.info({ databases: this.cfg.databases.map(d => d.name) }, 'roles, databases and replication slots reconciled');
    } catch (e) {
      log.error({ err: (e as Error).message }, 'reconciling roles and databases failed; retrying');
    } finally {
      this.reconciling = false;
    }
  }

  /** In the background like reconcile: a checkpoint can take a while. */
  private async persistSlots(): Promise<void> {
    this.persistingSlots = true;
    try {
      await persistSlotReservations(this.cfg, this.persistedSlots);
    } catch (e) {
      log.warn({ err: (e as Error).message }, "cannot checkpoint the replication slots' reservations yet; retrying");
    } finally {
      this.persistingSlots = false;
    }
  }

  private async primaryStep(): Promise<void> {
    try {
      await this.election.observe();
      // The fence watch may have fenced this primary while the request was pending: then this tick is stale.
      if (this.mode !== 'primary') return;
      const view = this.election.view();
      const tick = decidePrimaryTick({
        me: this.cfg.podName,
        holder: view?.holder,
        switchoverTo: view?.switchoverTo,
        msSinceRenewal: this.election.msSinceRenewal(),
        renewDeadlineMs: this.election.renewDeadlineMs,
      });
      if (tick.action === 'demote') {
        log.warn({ holder: view?.holder }, `${tick.why}: demoting`);
        return this.demote();
      }
      if (tick.action === 'hand-over') return this.switchoverTo(tick.target);
      await this.election.renew(this.status?.inRecovery === false ? this.status.lsn : undefined);
    } catch (e) {
      this.whyNot(`cannot renew the primary lease: ${(e as Error).message}`);
    }
    await this.fenceIfStale();
  }

  /** Stops accepting writes when the lease was not renewed in time, so another pod may be promoted soon. */
  private async fenceIfStale(): Promise<void> {
    if (this.mode !== 'primary' || !this.election.mustFence()) return;
    log.error(
      { renewDeadlineMs: this.election.renewDeadlineMs, sinceRenewalMs: Math.round(this.election.msSinceRenewal()) },
      'primary lease not renewed in time: fencing (stopping postgres) before another pod may take over',
    );
    this.mode = 'transition';
    this.fencings++;
    this.events.fenced(this.election.msSinceRenewal(), this.election.renewDeadlineMs);
    await this.supervisor.stop(5);
    this.status = undefined;
    this.mode = 'fenced';
  }

  private async fencedStep(): Promise<void> {
    let view;
    try {
      view = await this.election.observe();
    } catch (e) {
      return this.whyNot(`fenced, waiting for the Kubernetes API: ${(e as Error).message}`);
    }
    if (view?.holder && view.holder !== this.cfg.podName) {
      log.warn({ holder: view.holder }, 'the lease went to another pod while fenced: rejoining as a replica');
      return this.rejoin();
    }
    if (await this.election.acquire()) {
      log.info({}, 'primary lease renewed after fencing: resuming as primary');
      this.mode = 'transition';
      writeConfigFiles(this.cfg, 'primary');
      this.supervisor.start();
      this.mode = 'primary';
    }
  }

  private async demote(): Promise<void> {
    this.mode = 'transition';
    await this.supervisor.stop();
    this.status = undefined;
    await this.rejoin();
  }

  private async rejoin(): Promise<void> {
    this.mode = 'transition';
    this.role = 'replica';
    try {
      const how = await rejoinAsReplica(this.cfg);
      writeConfigFiles(this.cfg, 'replica');
      this.supervisor.start();
      this.mode = 'replica';
      log.info({ how }, 'rejoined as a replica of the new primary');
    } catch (e) {
      if (e instanceof RejoinBlocked) {
        this.safetyWaits++;
        this.whyNot(`cannot rejoin as a replica: ${e.why}; the data was kept, retrying`, { fix: e.fix, invariant: e.invariant, detail: e.detail });
        await new Promise(r => setTimeout(r, 30000));
      } else {
        log.error({ err: (e as Error).message }, 'cannot rejoin as a replica; retrying');
      }
      this.mode = 'fenced';
    }
  }

  /**
   * Planned switchover, the primary's side: hand over only to a streaming replica; stop cleanly (no more writes;
   * the walsenders send everything to connected replicas); publish the final WAL position with the released lease;
   * then follow the target once it holds the lease, or resume as primary when the target refused or never came.
   */
  private async switchoverTo(target: string): Promise<void> {
    const instances = Array.from({ length: this.cfg.instances }, (_, i) => names.pod(this.cfg.cluster, i));
    const check = decideHandOver({
      me: this.cfg.podName,
      target,
      instances,
      replicas: this.status?.replicas ?? [],
      maxLagBytes: this.cfg.failoverMaxLagBytes,
      followingSource: this.following(),
    });
    if (check.action === 'refuse') {
      log.warn({ target, fix: check.fix, invariant: check.invariant }, check.why);
      await this.election.renew().catch(() => false);
      await this.election
        .annotate({ [ANNOTATIONS.switchoverTo]: undefined, [ANNOTATIONS.switchoverResult]: `${target} refused: ${check.why}` })
        .catch(() => false);
      return;
    }
    log.info({ target, why: check.why }, 'switchover requested: stopping writes, then handing the lease over');
    this.mode = 'transition';
    await this.pauseArchivingIfFailing('primary');
    await this.supervisor.stop();
    this.status = undefined;
    // A clean shutdown ends WAL with its checkpoint: that record is the final position the target must replay past.
    const control = await readControlData(this.cfg.pgdata).catch(e => ({ state: `unreadable (${(e as Error).message})`, checkpointLsn: '' }));
    const finalLsn = control.checkpointLsn;
    let released = false;
    if (control.state !== 'shut down' || !finalLsn) {
      log.error({ target, state: control.state }, 'switchover abandoned: postgres did not shut down cleanly, so its final WAL position is unknown');
      await this.election
        .annotate({
          [ANNOTATIONS.switchoverTo]: undefined,
          [ANNOTATIONS.switchoverResult]: `${target} refused: the primary did not shut down cleanly (${control.state})`,
        })
        .catch(() => false);
    } else {
      try {
        released = await this.election.release({ [ANNOTATIONS.switchoverFinalLsn]: finalLsn });
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'cannot release the lease');
      }
    }
    if (released) {
      log.info({ target, finalLsn }, 'stopped cleanly and released the lease: the target promotes once it has replayed past the final position');
      const outcome = await this.waitForHandOver(target, SWITCHOVER_CATCH_UP_MS + 30000);
      if (outcome === 'taken') this.events.handedOver(target, finalLsn);
      if (outcome === 'taken') return this.rejoin();
      log.warn({ target, outcome }, 'switchover did not happen: resuming as primary');
    }
    await this.resumeAfterFailedHandOver(target);
  }

  /**
   * Asked to stop as primary: hand the lease to the most caught-up streaming replica on the way out, as a
   * switchover does (clean stop, final position published, the target promotes once past it), so the cluster does
   * not wait for the lease to expire while this pod is away (a rollout, a drain, a node reboot).
   */
  private async handOverAndStop(): Promise<void> {
    // Only to an instance the StatefulSet keeps: scaled down or to 0 (hibernation), the others are stopping too.
    const scope = stopHandOverScope({
      cluster: this.cfg.cluster,
      podName: i => names.pod(this.cfg.cluster, i),
      instances: this.cfg.instances,
      replicas: await this.count.refresh(true),
    });
    if (!scope.handOver) return this.stopKeepingLease(scope.why);
    const d = decideStopHandOver({
      me: this.cfg.podName,
      instances: scope.instances,
      replicas: this.status?.replicas ?? [],
      maxLagBytes: this.cfg.failoverMaxLagBytes,
      followingSource: false,
    });
    this.mode = 'transition';
    // The target learns now, while postgres stops, and watches the lease closely (its fast ticks).
    if (d.action === 'hand-over') {
      await this.election.annotate({ [ANNOTATIONS.switchoverTo]: d.target, [ANNOTATIONS.switchoverResult]: undefined }).catch(() => false);
      await this.pauseArchivingIfFailing('primary');
    }
    await this.supervisor.stop();
    this.status = undefined;
    if (d.action === 'stop') {
      log.info({}, d.why);
      return;
    }
    const control = await readControlData(this.cfg.pgdata).catch(e => ({ state: `unreadable (${(e as Error).message})`, checkpointLsn: '' }));
    if (control.state !== 'shut down' || !control.checkpointLsn) {
      log.warn(
        { state: control.state },
        'postgres did not shut down cleanly: no hand-over (the final WAL position is unknown); the lease expires or this pod takes it back',
      );
      await this.election.annotate({ [ANNOTATIONS.switchoverTo]: undefined }).catch(() => false);
      return;
    }
    try {
      await this.election.observe();
      if (
        !(await this.election.release({
          [ANNOTATIONS.switchoverTo]: d.target,
          [ANNOTATIONS.switchoverFinalLsn]: control.checkpointLsn,
          [ANNOTATIONS.switchoverResult]: undefined,
        }))
      )
        return;
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot hand the lease over; it expires on its own');
      return;
    }
    log.info({ target: d.target, finalLsn: control.checkpointLsn, why: d.why }, 'stopping as primary: handed the lease over');
    // Until the target holds it (or a few seconds): the pod's endpoint goes, the next primary's comes.
    const outcome = await this.waitForHandOver(d.target, 10000);
    log.info({ target: d.target, outcome }, 'hand-over on stop finished');
    if (outcome === 'taken') this.promotions.handedOver++;
    if (outcome === 'taken') this.events.handedOver(d.target, control.checkpointLsn);
  }

  /**
   * Hibernation: stop cleanly and keep the lease, with the final WAL position (the shutdown checkpoint) published on
   * it, so that on resume this pod is primary again and a replica never counts itself ahead of what it lacks.
   */
  private async stopKeepingLease(why: string): Promise<void> {
    log.info({}, why);
    this.mode = 'transition';
    await this.supervisor.stop();
    this.status = undefined;
    const control = await readControlData(this.cfg.pgdata).catch(() => ({ state: 'unreadable', checkpointLsn: '' }));
    if (control.state === 'shut down' && control.checkpointLsn && this.election.heldByMe()) {
      const lsn = control.checkpointLsn;
      await this.election
        .acquire(lsn, { [ANNOTATIONS.hibernatedLsn]: lsn })
        .catch(e => log.warn({ err: (e as Error).message }, 'cannot publish the final WAL position on the lease'));
    }
    log.info({ finalLsn: control.checkpointLsn, state: control.state }, 'stopped as primary for hibernation; the lease stays with this pod');
  }

  /**
   * Before a hand-over's stop: when the store has been failing, postgres would spend seconds (its final archiving
   * cycle, three attempts a segment a second apart) before it shuts down, and writes wait all that time. Nothing is
   * lost by skipping it: see writeConfigWithout.
   */
  private async pauseArchivingIfFailing(role: InstanceRole): Promise<void> {
    const since = this.archiver?.failingSince;
    const decision = archivingAtStop({ failingForMs: since === undefined ? undefined : Date.now() - since });
    if (!decision.pause) return;
    try {
      writeConfigWithout(this.cfg, role, 'archive_command');
      await reloadConfig(this.cfg);
      log.warn(
        {
          why: decision.why,
          invariant: decision.invariant,
          fix: 'Bring the store back: the segments stay in pg_wal and are archived by the new primary and by this instance when it returns.',
        },
        'the store has been failing: stopping without the final archiving attempts (archiving paused for this stop)',
      );
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot pause archiving for the stop; postgres retries the archive as it shuts down');
    }
  }

  /** Waits until the target holds the lease ('taken'), refused it ('refused'), or the time is up. */
  private async waitForHandOver(target: string, timeoutMs: number): Promise<'taken' | 'refused' | 'timeout' | 'other'> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const v = await this.election.observe();
        if (v?.holder === target) return 'taken';
        if (v?.holder && v.holder !== this.cfg.podName) return 'other';
        if (!v?.switchoverTo && v?.switchoverResult?.startsWith(`${target} refused`)) return 'refused';
      } catch {
        /* keep waiting */
      }
      await new Promise(r => setTimeout(r, 300));
    }
    return 'timeout';
  }

  /** The lease back (if nobody else took it meanwhile) and postgres started again as primary; else follow the holder. */
  private async resumeAfterFailedHandOver(target: string): Promise<void> {
    try {
      await this.election.observe();
      const holder = this.election.view()?.holder;
      if (
        (!holder || holder === this.cfg.podName) &&
        (await this.election.acquire(undefined, {
          [ANNOTATIONS.switchoverTo]: undefined,
          [ANNOTATIONS.switchoverFinalLsn]: undefined,
          [ANNOTATIONS.switchoverResult]: this.election.view()?.switchoverResult ?? `${target} refused: the target did not take the lease in time`,
        }))
      ) {
        writeConfigFiles(this.cfg, 'primary');
        this.supervisor.start();
        this.mode = 'primary';
        return;
      }
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot take the lease back yet');
    }
    if (this.election.view()?.holder && this.election.view()?.holder !== this.cfg.podName) return this.rejoin();
    this.mode = 'fenced'; // the fenced step takes the lease back, or follows whoever took it
  }

  private async replicaStep(): Promise<void> {
    let view;
    try {
      view = await this.election.observe();
    } catch (e) {
      return this.whyNot(`cannot read the primary lease: ${(e as Error).message}`);
    }
    await this.publishLsn();
    if (view?.switchoverTo === this.cfg.podName) {
      if (!view.holder) return this.switchoverTakeOver(view.switchoverFinalLsn);
      // Held and renewed: the primary is about to stop and hand over. Held but stale: the primary died between
      // naming this target and releasing the lease, and an ordinary failover decides below.
      if (!this.election.expired()) {
        this.fastTicks = 50;
        this.switchoverWaitSince = undefined;
        if (!this.lookupsDecided) void this.pauseArchiveLookupsForTakeOver();
        return;
      }
    }
    if (this.lookupsDecided) await this.resumeArchiveLookups();
    if (this.election.expired()) {
      const resume = decideResumeFailover({
        hibernatedLsn: view?.hibernatedLsn,
        receivedLsn: this.status?.receivedLsn,
        namespace: this.kube.namespace,
        leaseName: this.election.leaseName,
      });
      if (resume.action === 'wait') return this.whyNot(resume.why, { fix: resume.fix, invariant: resume.invariant });
    }
    const peers = this.election.expired() ? await readPeers(this.kube, this.cfg) : [];
    const d = decideFailover({
      me: this.cfg.podName,
      ordinal: this.cfg.ordinal,
      leaseExpired: this.election.expired(),
      holder: view?.holder,
      followingSource: !!this.cfg.clone?.follow,
      receivedLsn: this.status?.receivedLsn,
      primaryLsn: view?.primaryLsn,
      maxLagBytes: this.cfg.failoverMaxLagBytes,
      peers,
      freshnessMs: 3 * this.cfg.leaseDurationSeconds * 1000,
      namespace: this.kube.namespace,
      leaseName: this.election.leaseName,
    });
    if (d.action === 'wait') return this.whyNot(d.why, { ...(d.fields ?? {}), fix: d.fix, invariant: d.invariant });
    if (d.action === 'promote') await this.takeOver('failover');
  }

  /** Planned switchover, the target's side: promote only past the old primary's final position, else refuse. */
  private async switchoverTakeOver(finalLsn: string | undefined): Promise<void> {
    this.switchoverWaitSince ??= Date.now();
    this.fastTicks = 50;
    const d = decideTakeOver({
      finalLsn,
      replayLsn: this.status?.inRecovery ? this.status.lsn : undefined,
      waitedMs: Date.now() - this.switchoverWaitSince,
      boundMs: SWITCHOVER_CATCH_UP_MS,
    });
    if (d.action === 'wait') return this.whyNot(d.why);
    this.switchoverWaitSince = undefined;
    if (d.action === 'refuse') {
      this.safetyWaits++;
      await this.resumeArchiveLookups();
      log.error({ fix: d.fix, invariant: d.invariant, finalLsn }, `switchover refused by the target: ${d.why}`);
      await this.election
        .annotate({
          [ANNOTATIONS.switchoverTo]: undefined,
          [ANNOTATIONS.switchoverFinalLsn]: undefined,
          [ANNOTATIONS.switchoverResult]: `${this.cfg.podName} refused: ${d.why}`,
        })
        .catch(() => false);
      return;
    }
    log.info({ finalLsn, why: d.why }, 'switchover: caught up with the old primary');
    await this.takeOver('switchover', {
      [ANNOTATIONS.switchoverTo]: undefined,
      [ANNOTATIONS.switchoverFinalLsn]: undefined,
      [ANNOTATIONS.switchoverResult]: `${this.cfg.podName} done: ${d.why}`,
    });
  }

  /** Whether this take-over's archive-lookup question was answered (and the config maybe changed). */
  private lookupsDecided = false;

  /**
   * The primary is about to hand over to this replica: pause restore_command if decideArchiveLookupsOnTakeOver allows,
   * so that neither the segment lookup running when the primary stops nor the timeline lookups of the promotion
   * delay it. In the background: the listing must not slow the fast ticks of the take-over.
   */
  private async pauseArchiveLookupsForTakeOver(): Promise<void> {
    this.lookupsDecided = true;
    if (!this.cfg.archiving) return;
    let archivedHistories: string[] | undefined;
    const { openS3Bucket } = await import('../s3/bucket');
    const { listHistoryFiles } = await import('../wal/archive-lookup');
    const s3 = openS3Bucket(this.cfg.archiving.s3);
    try {
      archivedHistories = await listHistoryFiles(s3, this.cfg.archiving);
    } catch {
      /* undefined: keep the lookups */
    } finally {
      s3.destroy();
    }
    const local = fs
      .readdirSync(path.join(this.cfg.pgdata, 'pg_wal'))
      .map(historyFileTimeline)
      .filter((t): t is number => t !== undefined);
    const d = decideArchiveLookupsOnTakeOver({ localNewestTimeline: Math.max(1, ...local), archivedHistories });
    if (d.action === 'keep' || this.mode !== 'replica') {
      log.info({ why: d.why }, 'switchover target: archive lookups kept during the promotion');
      return;
    }
    writeConfigWithout(this.cfg, 'replica', 'restore_command');
    await reloadConfig(this.cfg).catch(() => undefined);
    log.info({ why: d.why }, 'switchover target: restore_command paused until the promotion');
  }

  /** The take-over did not happen: the full replica configuration again. */
  private async resumeArchiveLookups(): Promise<void> {
    if (!this.lookupsDecided) return;
    this.lookupsDecided = false;
    if (!this.cfg.archiving || this.mode !== 'replica') return;
    writeConfigFiles(this.cfg, 'replica');
    await reloadConfig(this.cfg).catch(e => log.warn({ err: (e as Error).message }, 'cannot reload the configuration; it applies at the next start'));
  }

  private async publishLsn(): Promise<void> {
    const lsn = this.status?.receivedLsn;
    if (!lsn || Date.now() - this.lastPublish < PUBLISH_LSN_MS) return;
    try {
      await this.kube.patchPodAnnotations(this.cfg.podName, { [ANNOTATIONS.receivedLsn]: receivedLsnAnnotation(lsn) });
      this.lastPublish = Date.now();
    } catch {
      /* best effort: peers then see an older position */
    }
  }

  private async takeOver(reason: 'failover' | 'switchover', annotations: Record<string, string | undefined> = {}): Promise<void> {
    const previous = this.election.view()?.holder;
    if (!(await this.election.acquire(undefined, { ...annotations, [ANNOTATIONS.hibernatedLsn]: undefined })))
      return this.whyNot('another replica took the primary lease first');
    log.warn({ reason, previous, lsn: this.status?.receivedLsn }, `${reason}: this replica holds the primary lease; promoting`);
    this.mode = 'transition';
    try {
      await this.holdingLease(async () => {
        // With `required`, the first commit on the new primary must already wait for a replica: its
        // synchronous_standby_names came from the old primary's files (clone, rewind) and may name itself or nobody.
        if (this.cfg.synchronous?.dataDurability === 'required') await this.synchronousStep();
        await promote(this.cfg);
      });
    } catch (e) {
      if (!(await this.abandonPromotion((e as Error).message))) return;
    }
    this.promotions[reason]++;
    this.events.promoted(reason, previous, this.status?.receivedLsn);
    this.lookupsDecided = false; // a paused restore_command is meaningless on a primary; any rejoin rewrites it
    this.mode = 'primary';
    this.reconciled = false;
    // Label, reconcile and become ready in the next ticks, not a second later each.
    this.fastTicks = 30;
    // After a failover only: a planned switchover or hand-over loses no WAL (the old primary stopped cleanly and the
    // new one archives what it received, archive_mode=always), so a rollout does not cost a full backup.
    if (reason === 'failover') {
      void import('../basebackup/after-promotion').then(m =>
        m.backupAfterPromotion({ ...this.cfg, replicationPassword: () => this.cfg.credentials.replication }, () => this.mode === 'primary'),
      );
    }
    if (previous) {
      // The old primary's pod may still carry the primary label: the Services must stop selecting it.
      await this.kube.patchPodLabels(previous, { [LABELS.role]: null }).catch(() => undefined);
    }
  }

  /**
   * pg_promote failed or timed out (replay stuck, disk trouble). Its promote request may still be acted on later,
   * so postgres is stopped and the request removed before the instance starts again as a replica, and the lease is
   * given back: a later expiry lets the best replica (this one, with a fresh postgres) try again. Returns true when
   * the server did become primary after all, which is then kept.
   */
  private async abandonPromotion(err: string): Promise<boolean> {
    const status = await readStatus(this.cfg).catch(() => undefined);
    if (status && !status.inRecovery) {
      log.warn({ err }, 'promotion reported an error, but the server is primary now: continuing as primary');
      return true;
    }
    log.error(
      { err, fix: 'If it fails again, look at the postgres log lines above (replay stuck, disk full, damaged WAL).' },
      'promotion failed: stopping postgres, giving the lease back and starting again as a replica',
    );
    await this.supervisor.stop(5);
    this.status = undefined;
    fs.rmSync(path.join(this.cfg.pgdata, 'promote'), { force: true });
    try {
      await this.election.release();
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot give the lease back; it expires on its own');
    }
    writeConfigFiles(this.cfg, 'replica');
    this.supervisor.start();
    this.role = 'replica';
    this.mode = 'replica';
    return false;
  }

  /**
   * Renews the lease every tick while `work` runs: the tick does nothing during a transition, and a promotion
   * (with its checkpoint) can outlast the fence deadline, which would fence the new primary as soon as it is one.
   */
  private async holdingLease<T>(work: () => Promise<T>): Promise<T> {
    let renewing = false;
    const timer = setInterval(async () => {
      if (renewing) return;
      renewing = true;
      try {
        await this.election.renew();
      } catch {
        /* not renewed: the fence watch decides once this instance is primary */
      } finally {
        renewing = false;
      }
    }, TICK_MS);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  /** Who commits wait for: decideSynchronousStandbys (`preferred` also polls four times a second on its own). */
  private synchronousStep(): Promise<void> {
    return this.synchronous.step();
  }

  /** Logs why nothing happened, once per distinct reason. */
  private whyNot(reason: string, fields: Record<string, unknown> = {}): void {
    if (reason === this.lastWhyNot) return;
    this.lastWhyNot = reason;
    log.warn(fields, reason);
  }

  private readiness(): { ok: boolean; reason: string } {
    const s = this.status;
    if (this.mode === 'fenced' || this.mode === 'transition') return { ok: false, reason: `instance ${this.mode}` };
    if (!s) return { ok: false, reason: this.statusError };
    // The Services select by the role label: not ready until the pod carries the right one.
    if (this.labeler.current !== this.role) return { ok: false, reason: `pod not labelled ${this.role} yet` };
    if (this.role === 'primary' && this.following()) {
      return s.receiver === 'streaming'
        ? { ok: true, reason: 'following the external source (read-only until promoted)' }
        : { ok: false, reason: `not streaming from the external source (${s.receiver ?? 'no WAL receiver'})` };
    }
    if (this.role === 'primary')
      return this.reconciled ? { ok: true, reason: 'primary accepting connections' } : { ok: false, reason: 'primary not reconciled yet' };
    if (s.receiver !== 'streaming') return { ok: false, reason: `replica not streaming (${s.receiver ?? 'no WAL receiver'})` };
    if (s.replayLagBytes > MAX_READY_LAG_BYTES)
      return { ok: false, reason: `replica ${s.replayLagBytes} bytes behind (limit ${MAX_READY_LAG_BYTES})` };
    return { ok: true, reason: 'replica streaming' };
  }
}
