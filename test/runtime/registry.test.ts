import { describe, expect, it } from 'vitest';
import { packageLoaders, services } from '../../packages/cli/src/services.js';

describe('the service registry (services.json)', () => {
  it('loads every service it lists, and each definition has the registry’s name and summary', async () => {
    for (const entry of services) {
      const definition = await entry.load();
      expect(definition?.name, entry.name).toBe(entry.name);
      expect(definition.summary, entry.name).toBe(entry.summary);
    }
  });

  it('has a loader for every package it names, and no loader for a package it does not', () => {
    expect(Object.keys(packageLoaders).sort()).toEqual([...new Set(services.map((s) => s.package))].sort());
  });
});
