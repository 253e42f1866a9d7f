import type { ActionInfo } from '@podserve/runtime';
import { describe, expect, it } from 'vitest';
import { actionInput, actionsText, resolveAction } from './action-call.js';

const usersAdd: ActionInfo = {
  name: 'users-add',
  summary: 'add a user',
  phases: ['ready'],
  input: {
    type: 'object',
    properties: {
      address: { type: 'string' },
      password: { type: 'string', writeOnly: true },
      quota: { type: 'integer' },
      admin: { type: 'boolean' },
    },
    required: ['address', 'password'],
  },
};
const catalog: ActionInfo[] = [
  { name: 'users', summary: 'list users', phases: ['ready'] },
  usersAdd,
  { name: 'record-add', summary: 'add a record', phases: ['ready'] },
];

describe('ctl action calls', () => {
  it('names the action by the longest run of leading words', () => {
    expect(resolveAction(['users', 'add', 'alice@example.test'], catalog)).toEqual({
      action: usersAdd,
      args: ['alice@example.test'],
    });
    expect(resolveAction(['users'], catalog)?.action.name).toBe('users');
    expect(resolveAction(['record-add', 'name=www'], catalog)?.args).toEqual(['name=www']);
    // A key=value word is never part of the name.
    expect(resolveAction(['users', 'add=x'], catalog)?.action.name).toBe('users');
    expect(resolveAction(['nope'], catalog)).toBeUndefined();
  });

  it('fills fields from bare words in order, types values as the schema says, the secret from stdin only', () => {
    expect(actionInput(usersAdd, ['alice@example.test', 'quota=5', 'admin=true'], 'pw')).toEqual({
      address: 'alice@example.test',
      password: 'pw',
      quota: 5,
      admin: true,
    });
    // The bare word skips the secret field: a password is never taken from the command line.
    expect(actionInput(usersAdd, ['alice@example.test', '7'])).toEqual({ address: 'alice@example.test', quota: 7 });
    // What is not a number stays text, for the service to refuse with its own message.
    expect(actionInput(usersAdd, ['a', 'quota=lots'])).toEqual({ address: 'a', quota: 'lots' });
    expect(() => actionInput(usersAdd, ['a', '1', 'true', 'extra'])).toThrow(
      'ctl users-add: takes address, quota, admin as bare words; found "extra" too',
    );
    expect(() => actionInput(catalog[0] as ActionInfo, [], 'pw')).toThrow(
      '--password-stdin needs an action with one secret input',
    );
    expect(actionInput(catalog[2] as ActionInfo, ['{"name":"www","ttl":60}'])).toEqual({ name: 'www', ttl: 60 });
    expect(() => actionInput(catalog[2] as ActionInfo, ['{"name"'])).toThrow('not a JSON object');
  });

  it('lists each action with its fields', () => {
    expect(actionsText([usersAdd])).toBe(
      'users-add        add a user\n' +
        '                   address (string), password (string, secret: --password-stdin), quota (integer, optional), admin (boolean, optional)\n',
    );
  });
});
