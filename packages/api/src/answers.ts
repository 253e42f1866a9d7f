import { ERROR_STATUS, type ErrorCode, errorBody, PROTOCOL_HEADER, PROTOCOL_VERSION } from '@podserve/protocol/wire';
import type { Context } from 'hono';

/** A JSON answer in the protocol: its version header on every one. */
export function json(_c: Context, status: number, body: unknown): Response {
  return new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { 'content-type': 'application/json', [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
  });
}

/** The one error shape, with the status its code has. */
export function fail(
  c: Context,
  code: ErrorCode,
  message: string,
  details?: unknown,
  headers: Record<string, string> = {},
): Response {
  const res = json(c, ERROR_STATUS[code], errorBody(code, message, details));
  for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
  return res;
}

/** A service's answer passed on as it came (it is in the same protocol). */
export function passOn(status: number, body: Buffer): Response {
  return new Response(body, {
    status,
    headers: { 'content-type': 'application/json', [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
  });
}
