/**
 * An error the agent can explain: what is wrong and what to do. The CLI logs it as one line and exits non-zero,
 * without a stack trace.
 */
export class AgentError extends Error {
  constructor(
    message: string,
    readonly fix: string,
    readonly fields: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AgentError';
  }
}
