import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Runs podman and returns its output; throws with podman's stderr on failure. */
export async function podman(args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync('podman', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`podman ${args.join(' ')} failed: ${quiet(e.stderr ?? '') || e.message}`);
  }
}

/** podman's result without throwing: exit code and output. */
export async function podmanResult(args: string[], timeoutMs = 60_000) {
  try {
    const { stdout, stderr } = await execFileAsync('podman', args, { timeout: timeoutMs });
    return { code: 0, stdout, stderr: quiet(stderr) };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: quiet(e.stderr ?? '') };
  }
}

/** podman 4.3 on a host without systemd warns on every healthcheck timer: noise, not errors. */
function quiet(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !l.includes('unable to get systemd connection'))
    .join('\n')
    .trim();
}

/** Polls `check` until it resolves true, or fails with `what` after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const uniqueSuffix = () => `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
