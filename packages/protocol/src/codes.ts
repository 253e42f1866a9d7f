import type { ErrorResponse } from './errors.js';

/**
 * The closed list of error codes, each with its one HTTP status. A caller's mistake is never a
 * 500: `failed` means the request was sound and the service could not do it (a daemon that
 * would not start, a reload its checker refused).
 */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  failed: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export function errorBody(code: ErrorCode, message: string, details?: unknown): ErrorResponse {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}
