import type { Scope } from './tokens.js';

/**
 * The API's named resources, each one action of one service: a route table, so the server
 * and its OpenAPI document are made from the same list. The input is built from the path's
 * parameters and the JSON body; the service checks it against the action's schema (400 with
 * every problem, nothing changed), and the document shows that schema.
 */
export interface Resource {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Hono's path syntax, under /api/v1. */
  path: string;
  service: string;
  action: string;
  scope: Scope;
  summary: string;
  /** Path parameters that go into the input under the same name. */
  params?: readonly string[];
  /** The body is read (a JSON object) and merged under the parameters. */
  body?: boolean;
}

export const RESOURCES: readonly Resource[] = [
  {
    method: 'POST',
    path: '/certificates/renew',
    service: 'certificates',
    action: 'renew',
    scope: 'admin',
    summary: 'issue a new certificate now and publish it; every consumer follows it',
  },
  { method: 'GET', path: '/mail/users', service: 'mail', action: 'users', scope: 'read', summary: 'the mail users' },
  {
    method: 'POST',
    path: '/mail/users',
    service: 'mail',
    action: 'users-add',
    scope: 'admin',
    summary: 'create a mail user: { address, password }',
    body: true,
  },
  {
    method: 'PUT',
    path: '/mail/users/:address/password',
    service: 'mail',
    action: 'users-set-password',
    scope: 'admin',
    summary: "set a mail user's password: { password }",
    params: ['address'],
    body: true,
  },
  {
    method: 'DELETE',
    path: '/mail/users/:address',
    service: 'mail',
    action: 'users-delete',
    scope: 'admin',
    summary: 'delete a mail user (the mailbox stays on the volume)',
    params: ['address'],
  },
  { method: 'GET', path: '/mail/aliases', service: 'mail', action: 'aliases', scope: 'read', summary: 'the aliases' },
  {
    method: 'POST',
    path: '/mail/aliases',
    service: 'mail',
    action: 'aliases-add',
    scope: 'admin',
    summary: 'create an alias: { source, targets }',
    body: true,
  },
  {
    method: 'DELETE',
    path: '/mail/aliases/:source',
    service: 'mail',
    action: 'aliases-delete',
    scope: 'admin',
    summary: 'delete an alias',
    params: ['source'],
  },
  { method: 'GET', path: '/mail/queue', service: 'mail', action: 'queue', scope: 'read', summary: 'the mail queue' },
  {
    method: 'POST',
    path: '/mail/queue/flush',
    service: 'mail',
    action: 'queue-flush',
    scope: 'admin',
    summary: 'try to deliver every queued message now',
  },
  {
    method: 'DELETE',
    path: '/mail/queue/:id',
    service: 'mail',
    action: 'queue-delete',
    scope: 'admin',
    summary: 'delete a queued message',
    params: ['id'],
  },
  {
    method: 'GET',
    path: '/mail/dkim',
    service: 'mail',
    action: 'dkim',
    scope: 'read',
    summary: 'the DKIM record to publish',
  },
  {
    method: 'GET',
    path: '/dns/records',
    service: 'dns',
    action: 'records',
    scope: 'read',
    summary: 'the dynamic DNS records',
  },
  {
    method: 'POST',
    path: '/dns/records',
    service: 'dns',
    action: 'record-add',
    scope: 'admin',
    summary: 'add a DNS record: { name, type, value, ttl? }',
    body: true,
  },
  {
    method: 'DELETE',
    path: '/dns/records',
    service: 'dns',
    action: 'record-remove',
    scope: 'admin',
    summary: 'remove DNS records: { name, type, value? }',
    body: true,
  },
  {
    method: 'GET',
    path: '/dns/ds',
    service: 'dns',
    action: 'ds',
    scope: 'read',
    summary: 'the DS records for the parent zone',
  },
];

/** `/mail/users/:address` → `/mail/users/{address}` (OpenAPI's form). */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z]+)/g, '{$1}');
}
