import { UsageError } from '@podserve/runtime/errors';

const USAGE = `api-token: make a bearer token for the pod's API

Usage: node dist/main.js api-token NAME read|admin [--json]

Prints the token (give it to the client: it is stored nowhere) and the line for
API_TOKENS_FILE, which holds only the token's SHA-256. Exit 0, or 64 for a bad command line.
`;

/** `api-token NAME SCOPE`: a new token and its API_TOKENS_FILE line. */
export async function apiTokenCommand(args: readonly string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const json = args.includes('--json');
  const [name, scope, ...more] = args.filter((a) => a !== '--json');
  if (name === undefined || scope === undefined || more.length > 0) {
    throw new UsageError('api-token needs a NAME and a scope (read or admin); see api-token --help');
  }
  if (!/^[a-z][a-z0-9_.-]{0,62}$/.test(name)) {
    throw new UsageError(
      `api-token: the name must be lower-case letters, digits, _ . or -; found "${name.slice(0, 63)}"`,
    );
  }
  if (scope !== 'read' && scope !== 'admin')
    throw new UsageError(`api-token: the scope is read or admin; found "${scope}"`);
  const { newToken, tokenLine } = await import('@podserve/api/tokens');
  const token = newToken();
  const line = tokenLine(name, scope, token);
  process.stdout.write(
    json
      ? `${JSON.stringify({ name, scope, token, line })}\n`
      : `token (give it to the client; it is stored nowhere): ${token}\nAPI_TOKENS_FILE line: ${line}\n`,
  );
  return 0;
}
