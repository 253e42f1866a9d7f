/**
 * Pids that libuv spawned and reaps itself, with waitpid(<pid>) from its SIGCHLD handler.
 * The orphan reaper must leave these alone: reaping one would steal its exit event,
 * which is also why it never calls waitpid(-1).
 */
const spawnedHere = new Set<number>();

export function rememberLibuvChild(pid: number): void {
  spawnedHere.add(pid);
}

/** Called from the child's exit callback: libuv has reaped it by then. */
export function forgetLibuvChild(pid: number): void {
  spawnedHere.delete(pid);
}

/**
 * Whether libuv will reap this pid itself. PodServe spawns through spawnChild(), which
 * registers every pid; node:child_process is never loaded by PodServe, but a library
 * could spawn through it, and its children stay in the active handles until libuv has
 * reaped them. (An unref()'d ChildProcess is not listed there: no library PodServe
 * bundles does that.)
 */
export function isLibuvChild(pid: number): boolean {
  if (spawnedHere.has(pid)) return true;
  const handles = (process as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  return handles.some(
    (h) =>
      (h as { constructor?: { name?: string }; pid?: unknown })?.constructor?.name === 'ChildProcess' &&
      (h as { pid?: unknown }).pid === pid,
  );
}
