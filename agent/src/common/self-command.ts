/** A shell command line that runs this agent the way this process was started (the image's node and bundle). */
export function agentCommand(args: string): string {
  const q = (s: string) => `"${s.replace(/(["\\$`])/g, '\\$1')}"`;
  return `${q(process.execPath)} ${q(process.argv[1])} ${args}`;
}
