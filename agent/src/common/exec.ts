import { spawn } from 'child_process';
import { AgentError } from './errors';

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion (initdb, pg_basebackup…). Fails with an AgentError quoting the tail of its
 * output, which is where PostgreSQL's tools say what went wrong. `env` is merged over the agent's environment.
 */
export function execTool(program: string, args: string[], opts: { env?: NodeJS.ProcessEnv; fix: string; input?: string }): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: { ...process.env, ...(opts.env ?? {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => {
      stdout += d;
    });
    child.stderr.on('data', d => {
      stderr += d;
    });
    child.on('error', err =>
      reject(
        new AgentError(`cannot run ${program}: ${err.message}`, 'The PostgreSQL server binaries must be on PATH (they are in the agent image).', {
          program,
        }),
      ),
    );
    child.on('exit', code => {
      if (code === 0) resolve({ stdout, stderr });
      else {
        const tail = (stderr || stdout).trim().split('\n').slice(-5).join(' | ');
        reject(new AgentError(`${program} failed (exit ${code}): ${tail}`, opts.fix, { program }));
      }
    });
    // A tool that exits before reading its input closes the pipe: its exit code tells the story, not EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
