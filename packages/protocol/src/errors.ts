import * as v from 'valibot';
import { ERROR_CODES } from './codes.js';

export const ErrorResponseSchema = v.object({
  error: v.object({
    code: v.picklist(ERROR_CODES),
    message: v.string(),
    /** What else helps: every problem of a 400, the seconds to wait after a 429. */
    details: v.optional(v.unknown()),
  }),
});
export type ErrorResponse = v.InferOutput<typeof ErrorResponseSchema>;
