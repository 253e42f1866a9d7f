import { readFileSync } from 'node:fs';
import { PodServeError } from '../errors.js';

/** Resolves a user name (or numeric id) via /etc/passwd, the only database a slim container has. */
export function resolveUid(user: string | number, passwdFile = '/etc/passwd'): number {
  return resolveId(user, passwdFile, 'user');
}

/** Resolves a group name (or numeric id) via /etc/group. */
export function resolveGid(group: string | number, groupFile = '/etc/group'): number {
  return resolveId(group, groupFile, 'group');
}

function resolveId(name: string | number, file: string, kind: string): number {
  if (typeof name === 'number') return name;
  if (/^\d+$/.test(name)) return Number(name);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PodServeError(`cannot resolve ${kind} "${name}": ${file} is unreadable (${String(err)})`);
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] !== undefined) return Number(fields[2]);
  }
  throw new PodServeError(`${kind} "${name}" does not exist in ${file}`);
}

/** The primary group of a user (field 4 of /etc/passwd): what a process run as that user gets by default. */
export function primaryGid(user: string | number, passwdFile = '/etc/passwd'): number | undefined {
  const uid = resolveUid(user, passwdFile);
  try {
    for (const line of readFileSync(passwdFile, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[2] !== undefined && Number(fields[2]) === uid && fields[3] !== undefined) return Number(fields[3]);
    }
  } catch {
    // No passwd database: the caller decides.
  }
  return undefined;
}

/** The login name for a uid, when /etc/passwd has one (initgroups needs the name). */
export function userName(user: string | number, passwdFile = '/etc/passwd'): string | undefined {
  if (typeof user === 'string' && !/^\d+$/.test(user)) return user;
  try {
    for (const line of readFileSync(passwdFile, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[2] !== undefined && Number(fields[2]) === Number(user)) return fields[0];
    }
  } catch {
    // none
  }
  return undefined;
}
