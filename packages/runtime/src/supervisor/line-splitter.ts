/**
 * Calls `onLine` for each complete line of a child's output stream. Node's readline
 * would do, but it drags in its whole terminal-editing machinery (and ~0.5 MB RSS)
 * for what is a split on "\n".
 */
export function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) onLine(part.endsWith('\r') ? part.slice(0, -1) : part);
  });
  stream.on('end', () => {
    if (pending !== '') onLine(pending);
    pending = '';
  });
}
