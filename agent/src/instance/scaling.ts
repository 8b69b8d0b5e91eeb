/**
 * The instance count, read from the StatefulSet's spec.replicas through the API rather than from the pod template
 * (a template change restarts every pod), and what follows from it on the primary: a slot for a new ordinal (by
 * reconciling again) and the drop of a removed ordinal's slot (decided in decide/scaling.ts).
 */
import { names } from '../../../lib/contract';
import { log } from '../common/log';
import { decideSlotCleanup } from '../decide/scaling';
import { KubeClient, KubeError } from '../k8s/client';
import { InstanceConfig } from './config';
import { slotName } from './config-files';
import { localConnection, withClient } from './sql';

/** How often the StatefulSet is read. */
const REFRESH_MS = 5000;
/** How long the count must stay unchanged before a removed ordinal's slot is dropped (well within a minute). */
export const SLOT_DROP_STABLE_MS = 30000;

const now = () => performance.now();

export class InstanceCount {
  /** spec.replicas as last read; undefined until read (or when the agent may not read the StatefulSet). */
  replicas?: number;
  private since = now();
  private lastRead = -Infinity;
  private forbiddenSince?: number;

  constructor(
    private readonly kube: KubeClient,
    private readonly cfg: InstanceConfig,
  ) {}

  /** How long spec.replicas has been seen unchanged. */
  stableMs(): number {
    return now() - this.since;
  }

  /** Reads the StatefulSet at most every few seconds (`force`: now). Never throws: the last value stays. */
  async refresh(force = false): Promise<number | undefined> {
    // Not allowed (manifests of an older version): asked again once a minute, in case the new Role was applied since.
    const wait = this.forbiddenSince === undefined ? REFRESH_MS : 60000;
    if (!force && now() - this.lastRead < wait) return this.replicas;
    this.lastRead = now();
    try {
      const sts = await this.kube.getStatefulSet(names.statefulSet(this.cfg.cluster));
      const replicas = sts?.spec?.replicas;
      if (typeof replicas === 'number') this.set(replicas);
      this.forbiddenSince = undefined;
    } catch (e) {
      if (e instanceof KubeError && e.code === 403) {
        // Manifests of an older version: no RBAC for it. The count of the environment stays (scaling restarts pods).
        if (this.forbiddenSince === undefined)
          log.warn(
            { instances: this.cfg.instances, fix: "Apply the manifests of this agent's version (its Role may get the StatefulSet)." },
            'may not read the StatefulSet: using the instance count of the environment',
          );
        this.forbiddenSince ??= now();
      }
    }
    return this.replicas;
  }

  private set(replicas: number): void {
    if (replicas === this.replicas) return;
    const first = this.replicas === undefined;
    this.replicas = replicas;
    this.since = now();
    if (replicas < 1 || replicas === this.cfg.instances) return;
    if (!first) log.info({ from: this.cfg.instances, to: replicas }, 'the StatefulSet was scaled');
    // The count the rest of the agent works with (peers, slots, synchronous standbys).
    this.cfg.instances = replicas;
  }
}

/**
 * On the primary, every few seconds: a slot for each ordinal the StatefulSet runs (a scale-up's new pod clones
 * through it), and the drop of the slots of ordinals it no longer runs, once decide/scaling allows it.
 */
export class ReplicaSlots {
  private lastWhy = new Map<string, string>();
  private running = false;
  private lastRun = -Infinity;

  constructor(
    private readonly cfg: InstanceConfig,
    private readonly count: InstanceCount,
  ) {}

  async tick(): Promise<void> {
    if (this.running || this.count.replicas === undefined || now() - this.lastRun < REFRESH_MS) return;
    this.running = true;
    this.lastRun = now();
    try {
      await withClient(localConnection(this.cfg), async c => {
        const prefix = slotName(this.cfg.cluster, 0).replace(/0$/, '');
        const slots = (await c.query("SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'")).rows
          .map(r => ({ slot: String(r.slot_name), active: r.active === true, ordinal: Number(String(r.slot_name).slice(prefix.length)) }))
          .filter(s => s.slot.startsWith(prefix) && /^\d+$/.test(s.slot.slice(prefix.length)) && s.slot === slotName(this.cfg.cluster, s.ordinal));
        for (let i = 0; i < this.cfg.instances; i++) {
          if (i === this.cfg.ordinal || slots.some(s => s.ordinal === i)) continue;
          // As reconcilePrimary does: no WAL reserved until the replica first connects.
          await c.query(
            'SELECT pg_create_physical_replication_slot($1, false) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)',
            [slotName(this.cfg.cluster, i)],
          );
          log.info({ slot: slotName(this.cfg.cluster, i), instances: this.cfg.instances }, 'created the replication slot of a new instance');
        }
        const decisions = decideSlotCleanup({
          slots,
          replicas: this.count.replicas,
          replicasStableMs: this.count.stableMs(),
          stableBoundMs: SLOT_DROP_STABLE_MS,
        });
        for (const d of decisions) {
          if (d.action === 'wait') {
            if (this.lastWhy.get(d.slot) !== d.why) log.info({ slot: d.slot, fix: d.fix, invariant: d.invariant }, d.why);
            this.lastWhy.set(d.slot, d.why);
            continue;
          }
          // Only if still unused at this instant: a pod that came back meanwhile keeps its slot.
          const r = await c.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [
            d.slot,
          ]);
          if (r.rowCount) log.warn({ slot: d.slot, invariant: d.invariant }, d.why);
          this.lastWhy.delete(d.slot);
        }
      });
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot check the replication slots of added or removed instances yet; retrying');
    } finally {
      this.running = false;
    }
  }
}
