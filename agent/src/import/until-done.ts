/**
 * The instance's import step: runs the import (run.ts) until it succeeds. Meanwhile the pod is alive (the liveness
 * probe must not kill a long import) and not ready (`/readyz` says what it does). A failure logs one error line
 * with the fix (again only when the reason changes), holds no Lease, archives nothing, and starts over from
 * scratch every 30 s: nothing of a failed attempt is kept.
 */
import { Server } from 'http';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { classifyImportFailure } from '../decide/import';
import { finish } from '../instance/bootstrap';
import { describeSource } from '../instance/clone-source';
import { InstanceConfig } from '../instance/config';
import { renderMetrics, serveHttp } from '../instance/http';
import { SOURCE_TOOL_FIX, importIntoPartial } from './run';

/** Seconds between attempts; tests shorten it. Not in the manifests: the default fits. */
export const IMPORT_RETRY_ENV = 'PGC_IMPORT_RETRY_SECONDS';

export async function importUntilDone(cfg: InstanceConfig, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const imp = cfg.import!;
  const source = describeSource(imp.spec.source);
  const retrySeconds = Number(env[IMPORT_RETRY_ENV]) > 0 ? Number(env[IMPORT_RETRY_ENV]) : 30;
  let lastWhy = '';
  let attempts = 0;
  let state = `importing from ${source}`;
  const server: Server = await serveHttp(cfg.httpPort, {
    alive: () => true,
    ready: () => ({ ok: false, reason: `waiting: ${state}` }),
    metrics: () => renderMetrics({ cluster: cfg.cluster, pod: cfg.podName, up: false, restarts: 0, safetyWaits: attempts - 1 }),
  });
  try {
    for (;;) {
      attempts++;
      try {
        log.info({ source, attempt: attempts }, 'import: starting (initdb, then roles and databases from the source)');
        await importIntoPartial(cfg, imp);
        finish(cfg, `initdb and import from ${source}`);
        return;
      } catch (e) {
        const message = (e as Error).message;
        const classified = classifyImportFailure(message);
        const own = e instanceof AgentError && e.fix !== SOURCE_TOOL_FIX;
        const fix = own && classified.kind === 'other' ? (e as AgentError).fix : classified.fix;
        const why = `the import from ${source} failed: ${message}`;
        if (why !== lastWhy) {
          log.error(
            { fix, kind: classified.kind, attempt: attempts, ...(e instanceof AgentError ? e.fields : {}) },
            `${why}; nothing of it was kept, the instance stays not ready and starts over every ${retrySeconds} s`,
          );
          lastWhy = why;
        } else log.info({ attempt: attempts }, 'import: attempt failed the same way');
        state = lastWhy;
        await new Promise(r => setTimeout(r, retrySeconds * 1000));
        state = `importing from ${source} (attempt ${attempts + 1}; the last one failed: ${lastWhy})`;
      }
    }
  } finally {
    server.closeAllConnections();
    await new Promise(r => server.close(() => r(undefined)));
  }
}
