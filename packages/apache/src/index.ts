export { type ApacheEnv, apacheEnv } from './config.js';
export { apacheService } from './definition.js';
export { renderApache } from './httpd-conf.js';
export { apacheProcess, checkerMessage } from './service.js';
