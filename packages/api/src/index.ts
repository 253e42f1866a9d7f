export { apiEnv } from './config.js';
export { apiService } from './definition.js';
export { newToken, tokenLine } from './tokens.js';
