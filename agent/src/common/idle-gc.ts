/**
 * One full garbage collection once the process has been quiet for a moment. A long-lived agent (the instance)
 * otherwise keeps, between bursts of work, whatever garbage the last burst left: V8 collects it only when it needs
 * room, and the buffers freed late stay in the pod's memory. Runs only when Node was started with --expose-gc (the
 * instance's NODE_OPTIONS in the manifests); a full collection of the agent's small heap takes a few milliseconds.
 */
const gc = (globalThis as { gc?: () => void }).gc;
let timer: NodeJS.Timeout | undefined;

/** Collects `delayMs` after the last call (each call pushes it back), never keeping the process alive. */
export function collectWhenIdle(delayMs = 3000): void {
  if (!gc) return;
  if (timer) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = undefined;
    gc();
  }, delayMs);
  timer.unref();
}
