/**
 * While the instance waits before PostgreSQL can run (a Secret missing, a certificate unusable), its pod stays alive
 * and not ready, with the reason on /readyz, instead of a restart loop or a CreateContainerConfigError.
 */
import { Server } from 'http';
import { log } from '../common/log';
import { renderMetrics, serveHttp } from './http';

export interface Waiting {
  /** Why it waits, as /readyz and the log say it. */
  why: string;
  /** The log line's fields; `fix` says what to do. */
  fields: Record<string, unknown>;
}

/**
 * Calls `attempt` every `retryMs` until it returns undefined (done), logging each new reason once and serving the
 * probes meanwhile; the probe server is closed before returning, so that the instance can take the port.
 */
export async function waitNotReady(
  pod: { cluster: string; podName: string; httpPort: number },
  attempt: () => Promise<Waiting | undefined>,
  retryMs = 2000,
): Promise<void> {
  let server: Server | undefined;
  let lastWhy = '';
  try {
    for (;;) {
      const waiting = await attempt();
      if (!waiting) return;
      if (waiting.why !== lastWhy) log.error(waiting.fields, waiting.why);
      lastWhy = waiting.why;
      server ??= await serveHttp(pod.httpPort, {
        alive: () => true,
        ready: () => ({ ok: false, reason: lastWhy }),
        metrics: () => renderMetrics({ cluster: pod.cluster, pod: pod.podName, up: false, restarts: 0 }),
      });
      await new Promise(r => setTimeout(r, retryMs));
    }
  } finally {
    server?.closeAllConnections();
    server?.close();
  }
}
