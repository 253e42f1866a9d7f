import { loadReaper } from '@podserve/reaper';
import type { ReaperCalls } from '@podserve/runtime';

/** The native reaper, or null: the runtime warns itself when it is PID 1 without one. */
export function loadReaperQuietly(): ReaperCalls | null {
  return loadReaper();
}
