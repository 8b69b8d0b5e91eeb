/**
 * The agent's background followers (credential and TLS Secrets, managed roles) run one check at a time on a timer
 * that never keeps the process alive; a check that takes longer than the interval is not stacked on itself.
 */
export function pollSerially(intervalMs: number, check: () => Promise<void>): () => void {
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await check();
    } finally {
      busy = false;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Logs a problem when it differs from the last one logged, so that a long wait leaves one line, not thousands. */
export class OnceEach {
  private last = '';
  /** Calls `write` if `problem` is not the last one said; an empty problem says nothing and ends the episode. */
  say(problem: string, write: () => void): void {
    if (problem && problem !== this.last) write();
    this.last = problem;
  }

  /** The problem is gone: the next one is logged again, even if it is the same. */
  clear(): void {
    this.last = '';
  }
}
