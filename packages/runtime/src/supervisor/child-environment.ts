import type { ProcessSpec } from './process-spec.js';

/** What every child gets from the runtime's environment: the basics a program expects. */
const BASICS = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'HOME'] as const;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Variables that configure PodServe itself. Even `exec`, which passes its environment on like
 * tini does, keeps these (and every *_FILE pointer) from the command.
 */
function isRuntimeVariable(name: string): boolean {
  return /^(PODSERVE_|LOG_|EXEC_)/.test(name) || /_LOG_LEVEL$/.test(name) || /_FILE$/.test(name);
}

/**
 * A child's environment, built rather than inherited: PATH, LANG, LC_ALL, TZ and HOME from
 * the runtime, then what the process declares. Everything else the runtime was given
 * (DOMAIN, ACME_TSIG_SECRET, …) stays with the runtime: a daemon has no business seeing a
 * secret that was meant for another component.
 */
export function childEnvironment(
  spec: Pick<ProcessSpec, 'env' | 'inheritEnvironment'>,
  runtime: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (spec.inheritEnvironment) {
    for (const [name, value] of Object.entries(runtime)) {
      if (value === undefined || isRuntimeVariable(name)) continue;
      out[name] = value;
    }
  } else {
    for (const name of BASICS) {
      const value = runtime[name];
      if (value !== undefined) out[name] = value;
    }
  }
  out.PATH ??= DEFAULT_PATH;
  return { ...out, ...spec.env };
}
