export { type MailEnv, mailEnv } from './config.js';
export { mailService } from './definition.js';
