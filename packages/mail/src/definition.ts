import { type CrossProblem, defineService } from '@podserve/runtime';
import { domainOf } from './addresses.js';
import { type MailEnv, mailEnv, PORT_VARIABLES } from './config.js';
import { mailProcesses } from './processes.js';
import { MailService } from './service.js';
import { mailSettings } from './settings.js';

/** Problems no single variable shows: each one named, all reported at once before anything is touched. */
function checkMailEnv(env: MailEnv): CrossProblem[] {
  const problems: CrossProblem[] = [];
  const byPort = new Map<number, string[]>();
  for (const name of PORT_VARIABLES) byPort.set(env[name], [...(byPort.get(env[name]) ?? []), name]);
  for (const [port, names] of byPort) {
    if (names.length > 1)
      problems.push({ variables: names, message: `${names.join(' and ')} are all ${port}: each needs its own port` });
  }
  const domains = env.MAIL_DOMAINS ?? [env.DOMAIN];
  if (env.MAIL_ADMIN_ADDRESS && !domains.includes(domainOf(env.MAIL_ADMIN_ADDRESS))) {
    problems.push({
      variables: ['MAIL_ADMIN_ADDRESS', 'MAIL_DOMAINS'],
      message: `MAIL_ADMIN_ADDRESS ${env.MAIL_ADMIN_ADDRESS} is not in one of the mail domains (${domains.join(', ')})`,
    });
  }
  if (env.MAIL_ADMIN_PASSWORD !== undefined && !env.MAIL_ADMIN_ADDRESS) {
    problems.push({
      variables: ['MAIL_ADMIN_PASSWORD', 'MAIL_ADMIN_ADDRESS'],
      message: 'MAIL_ADMIN_PASSWORD is set without MAIL_ADMIN_ADDRESS: whose password is it?',
    });
  }
  if (env.MAIL_ADMIN_PASSWORD !== undefined && env.MAIL_ADMIN_PASSWORD.length < 12) {
    problems.push({
      variables: ['MAIL_ADMIN_PASSWORD'],
      message: `MAIL_ADMIN_PASSWORD has ${env.MAIL_ADMIN_PASSWORD.length} characters; a user's password needs at least 12`,
    });
  }
  if ((env.MAIL_RELAY_USER === undefined) !== (env.MAIL_RELAY_PASSWORD === undefined)) {
    problems.push({
      variables: ['MAIL_RELAY_USER', 'MAIL_RELAY_PASSWORD'],
      message: 'MAIL_RELAY_USER and MAIL_RELAY_PASSWORD go together: set both, or neither',
    });
  }
  if (env.MAIL_RELAY_USER !== undefined && env.MAIL_RELAY_HOST === undefined) {
    problems.push({
      variables: ['MAIL_RELAY_USER', 'MAIL_RELAY_HOST'],
      message: 'MAIL_RELAY_USER is set without MAIL_RELAY_HOST',
    });
  }
  return problems;
}

/** `node dist/main.js mail`: postfix, dovecot 2.4 and opendkim. */
export const mailService = defineService({
  name: 'mail',
  summary: 'receive, store and send mail with postfix, dovecot 2.4 and opendkim; users managed over the control API',
  modes: ['serve'],
  env: mailEnv,
  checkEnv: checkMailEnv,
  processes: (env, common) => mailProcesses(mailSettings(env, common)),
  create: (ctx) => new MailService(ctx),
});
