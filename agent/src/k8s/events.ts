/**
 * Kubernetes Events (events.k8s.io/v1) on the cluster's pods, so that `kubectl get events` tells the story of a
 * failover, a switchover, a fencing, a backup, a retention run or a restore drill.
 *
 * Why events.k8s.io/v1 and not core v1 Event: it is the API the Kubernetes libraries record with today (client-go's
 * events package), its fields say who reported what (`reportingController`, `reportingInstance`, `action`), and
 * both APIs are views of the same objects, so `kubectl get events` and `kubectl describe pod` show them either way.
 *
 * Events are best effort: `record` returns at once and never throws; a request has a short timeout; a failure is
 * logged at debug. A request that failed because the API could not be reached (a fenced primary is usually cut
 * off from it) is retried in the background a few times, with the event's original time, on unref'd timers that
 * never keep a process alive.
 */
import type { EventsV1Event } from '@kubernetes/client-node';
import { ENV, EVENT_REPORTING_CONTROLLER, EventReason } from '../../../lib/contract';
import { log } from '../common/log';
import { KubeRest, MicroTime, kubeRest, loadKubeEndpoint } from './rest';

export interface PodEvent {
  reason: EventReason;
  type: 'Normal' | 'Warning';
  /** What the agent did, in CamelCase (`Promote`, `Fence`, `Backup`), the `action` field. */
  action: string;
  /** For a person: what happened and, for a Warning, what to look at. At most 1 kB (longer is cut). */
  note: string;
  /** Another pod the event concerns (the old primary of a switchover, the target of a hand-over). */
  relatedPod?: string;
}

export interface EventSubject {
  namespace: string;
  /** The pod the event is about: the instance pod, or the Job's pod. */
  podName: string;
  /** When known, so that `kubectl describe pod` (which selects by uid) lists the event. */
  podUid?: string;
}

/** The API server refuses a longer note (events.k8s.io/v1 validation: 1 kB). */
const NOTE_LIMIT = 1024;

/** `<pod>.<hex>` as kubectl and client-go name events: the pod's name and the time in nanoseconds, in hex. */
export function eventName(podName: string, at: Date, uniquifier = 0): string {
  const nanos = BigInt(at.getTime()) * 1_000_000n + BigInt(uniquifier % 1_000_000);
  return `${podName}.${nanos.toString(16)}`;
}

/** The object sent to the API (pure, for the tests). `eventTime` is a Date: the client sends it with microseconds. */
export function buildEvent(subject: EventSubject, ev: PodEvent, at: Date, uniquifier = 0): EventsV1Event {
  const note = ev.note.length > NOTE_LIMIT ? `${ev.note.slice(0, NOTE_LIMIT - 1)}…` : ev.note;
  const regarding = {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: subject.namespace,
    name: subject.podName,
    ...(subject.podUid ? { uid: subject.podUid } : {}),
  };
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: eventName(subject.podName, at, uniquifier), namespace: subject.namespace },
    eventTime: at,
    reportingController: EVENT_REPORTING_CONTROLLER,
    reportingInstance: `pg-agent-${subject.podName}`.slice(0, 128),
    action: ev.action,
    reason: ev.reason,
    type: ev.type,
    note,
    regarding,
    ...(ev.relatedPod ? { related: { apiVersion: 'v1', kind: 'Pod', namespace: subject.namespace, name: ev.relatedPod } } : {}),
  };
}

/** Sends one event; rejects with `{ code }` (0: no answer) like the client's ApiException. */
export type EventSender = (event: EventsV1Event) => Promise<unknown>;

export interface EventRecorderOptions extends EventSubject {
  /** How the event reaches the API; by default client-node with the pod's ServiceAccount (or KUBECONFIG). */
  send?: EventSender;
  /** Per request. @default 2000 */
  timeoutMs?: number;
  /** Pauses before the retries of a request the API did not answer. @default 2, 5, 10, 20 and 40 s */
  retryDelaysMs?: number[];
  /** Finds the pod's uid (asked once, bounded by `timeoutMs`) when `podUid` is not given. */
  lookupPodUid?: () => Promise<string | undefined>;
}

export interface EventRecorder {
  /** Records the event in the background; never throws, never waits. */
  record(ev: PodEvent): void;
  /** Resolves once every event recorded so far was sent or given up (at most `timeoutMs`); for tests and exit. */
  settled(timeoutMs?: number): Promise<void>;
}

const DEFAULT_RETRY_DELAYS_MS = [2000, 5000, 10_000, 20_000, 40_000];

/** A transient failure worth a retry: no answer, too many requests, or a server error. */
function retryable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code !== 'number' || code === 0 || code === 429 || code >= 500;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 0 })), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function eventRecorder(opts: EventRecorderOptions): EventRecorder {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const delays = opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const send = opts.send ?? defaultSender(opts.namespace, timeoutMs);
  const pending = new Set<Promise<void>>();
  let counter = 0;
  let uid: Promise<string | undefined> | undefined;
  const podUid = (): Promise<string | undefined> => {
    if (opts.podUid || !opts.lookupPodUid) return Promise.resolve(opts.podUid);
    uid ??= withTimeout(opts.lookupPodUid(), timeoutMs).catch(() => {
      uid = undefined; // ask again with the next event
      return undefined;
    });
    return uid;
  };

  const deliver = async (event: EventsV1Event): Promise<void> => {
    for (let i = 0; ; i++) {
      try {
        const regarding = event.regarding!;
        if (!regarding.uid) regarding.uid = await podUid();
        await withTimeout(send(event), timeoutMs);
        log.debug({ event: event.metadata?.name, reason: event.reason }, 'event recorded');
        return;
      } catch (err) {
        const again = retryable(err) && i < delays.length;
        log.debug(
          { event: event.metadata?.name, reason: event.reason, err: (err as Error)?.message ?? String(err), retry: again },
          'cannot record the event',
        );
        if (!again) return;
        await new Promise(r => setTimeout(r, delays[i]).unref());
      }
    }
  };

  return {
    record(ev) {
      try {
        // Sub-millisecond digits: a counter and a random part, so that two processes of one pod never collide.
        const event = buildEvent(opts, ev, new Date(), (counter++ % 1000) * 1000 + Math.floor(Math.random() * 1000));
        const p = deliver(event)
          .catch(() => undefined)
          .finally(() => pending.delete(p));
        pending.add(p);
      } catch (err) {
        log.debug({ reason: ev.reason, err: (err as Error).message }, 'cannot build the event');
      }
    },
    async settled(waitMs = timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...pending]),
        new Promise(r => {
          timer = setTimeout(r, waitMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    },
  };
}

/**
 * The API client (./rest), set up on the first event. Without Kubernetes credentials (a Job without a ServiceAccount
 * token, a person's shell) every event is dropped, logged at debug.
 */
function defaultSender(namespace: string, timeoutMs: number): EventSender {
  let api: Promise<((event: EventsV1Event) => Promise<unknown>) | undefined> | undefined;
  const load = async () => {
    let rest: KubeRest;
    try {
      rest = kubeRest(await loadKubeEndpoint());
    } catch {
      return undefined;
    }
    // The request itself is aborted at the timeout: a hanging API must not keep a finished Job's process alive.
    return (event: EventsV1Event) =>
      rest('POST', `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`, `record event ${event.reason}`, {
        body: { ...event, eventTime: new MicroTime(event.eventTime.getTime()) },
        timeoutMs,
      });
  };
  return async event => {
    api ??= load();
    const create = await api;
    if (!create) throw Object.assign(new Error('no Kubernetes credentials: events are not recorded'), { code: 401 });
    return create(event);
  };
}

/**
 * The recorder of this process's pod, from its environment (`PGC_NAMESPACE`, `PGC_POD_NAME`, both from the downward
 * API), or undefined when it does not name a pod (a person's shell).
 */
export function podEventRecorder(env: NodeJS.ProcessEnv = process.env, extra: Partial<EventRecorderOptions> = {}): EventRecorder | undefined {
  const namespace = env[ENV.namespace];
  const podName = env[ENV.podName];
  if (!namespace || !podName) return undefined;
  return eventRecorder({ namespace, podName, ...extra });
}
