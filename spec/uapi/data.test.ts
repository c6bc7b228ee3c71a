/** Internal consistency of the uAPI data: every cross-reference resolves in its profile. */
import { describe, expect, it } from 'vitest';
import { PROFILES } from './profiles.ts';
import { TEST_OPS, commandByName, commandByNr, commandByRequest, commandsFor, enumDef, enumValue, flagMask, structDefFor, structLayout, structNames, testOpByName, testOpByValue, testOpsFor } from './index.ts';
import { ERRNO, errnoName, errnoNumber, errnoLabel } from './errno.ts';
import type { FieldDef } from './types.ts';

function* walk(fields: readonly FieldDef[]): Generator<{ f: FieldDef; siblings: readonly FieldDef[] }> {
  for (const f of fields) {
    yield { f, siblings: fields };
    if (f.type.kind === 'inline') yield* walk(f.type.fields);
  }
}

describe.each(PROFILES)('uAPI data (%s)', (profile) => {
  it('every enum, flags and pointee reference resolves', () => {
    for (const name of structNames(profile)) {
      const def = structDefFor(profile, name);
      if (!def) throw new Error(name);
      for (const { f, siblings } of walk(def.fields)) {
        if (f.profiles && !f.profiles.includes(profile)) continue;
        for (const e of [f.flags, f.enum]) if (e) expect(enumDef(profile, e), `${name}.${f.name} → ${e}`).toBeDefined();
        const p = f.pointee;
        if (p) {
          expect(f.type, `${name}.${f.name}`).toEqual({ kind: 'scalar', type: 'ptr' });
          for (const ref of [p.countField, p.lengthField, p.entryLenField]) if (ref) expect(siblings.some((s) => s.name === ref), `${name}.${f.name} → ${ref}`).toBe(true);
          if (p.struct) expect(structLayout(profile, p.struct), p.struct).toBeDefined();
        }
        if (f.type.kind === 'struct') expect(structLayout(profile, f.type.name)).toBeDefined();
      }
    }
  });

  it('commands: unique numbers, structs present, lookups agree', () => {
    const cmds = commandsFor(profile);
    expect(new Set(cmds.map((c) => c.request)).size).toBe(cmds.length);
    expect(new Set(cmds.map((c) => c.name)).size).toBe(cmds.length);
    for (const c of cmds) {
      expect(commandByName(profile, c.name)).toBe(c);
      expect(commandByRequest(profile, c.request)).toBe(c);
      expect(commandByNr(profile, c.nr, c.fd)).toBe(c);
      expect(c.request).toBe(0x3b00 | c.nr);
      if (c.arg === 'extensible' || c.arg === 'vfio-argsz') {
        expect(c.struct && structLayout(profile, c.struct), c.name).toBeTruthy();
        expect(c.minLast, c.name).toBeDefined();
      } else {
        expect(c.struct, c.name).toBeUndefined();
      }
      for (const x of c.extensions ?? []) expect(enumValue(profile, x.flag), x.flag).toBeDefined();
    }
    const iommufdNrs = cmds.filter((c) => c.arg === 'extensible' && !c.testOnly).map((c) => c.nr);
    const last = profile === '6.12' ? 0x8e : 0x95;
    expect(iommufdNrs).toEqual(Array.from({ length: last - 0x80 + 1 }, (_, i) => 0x80 + i));
    expect(commandByName(profile, 'IOMMU_TEST_CMD')?.nr).toBe(0xa0);
  });

  it('test ops: consecutive values, each names a union member of iommu_test_cmd', () => {
    const ops = testOpsFor(profile);
    expect(ops.map((o) => o.value)).toEqual(Array.from({ length: ops.length }, (_, i) => i + 1));
    expect(ops.length).toBe(profile === '6.12' ? 15 : 23);
    const rows = structLayout(profile, 'iommu_test_cmd')?.rows.map((r) => r.path) ?? [];
    for (const o of ops) {
      if (o.member) expect(rows, o.name).toContain(o.member);
      expect(testOpByName(profile, o.name)).toBe(o);
      expect(testOpByValue(profile, o.value)).toBe(o);
    }
    expect(TEST_OPS.length).toBe(23);
  });

  it('flag masks and enum values', () => {
    expect(flagMask(profile, 'iommufd_hwpt_alloc_flags')).toBe(profile === '6.12' ? 7 : 15);
    expect(flagMask(profile, 'iommufd_ioas_map_flags')).toBe(7);
    expect(flagMask(profile, 'vfio_device_attach_flags')).toBe(profile === '6.12' ? 0 : 1);
    expect(enumValue(profile, 'IOMMU_HWPT_DATA_SELFTEST')).toBe(0xdead);
    expect(enumValue(profile, 'IOMMU_HWPT_ALLOC_PASID')).toBe(profile === '6.12' ? undefined : 8);
  });
});

describe('errno', () => {
  it('maps names and numbers both ways', () => {
    expect(errnoNumber('ENOTTY')).toBe(25);
    expect(errnoNumber('EWOULDBLOCK')).toBe(ERRNO.EAGAIN);
    expect(errnoNumber('EDEADLOCK')).toBe(35);
    expect(errnoName(95)).toBe('EOPNOTSUPP');
    expect(errnoName(134, '6.12')).toBeUndefined();
    expect(errnoName(134, '7.3')).toBe('EFTYPE');
    expect(errnoNumber('EFTYPE', '6.12')).toBeUndefined();
    expect(errnoLabel(0)).toBe('0');
    expect(errnoLabel(999)).toBe('E999');
    for (const [name, num] of Object.entries(ERRNO)) expect(errnoName(num)).toBe(name);
  });
});

describe('command table', () => {
  it('lists every command of the profile in nr order with sizes', async () => {
    const { commandTable, commandTableMarkdown } = await import('./table.ts');
    const rows = commandTable('7.3');
    expect(rows.map((r) => r.nr)).toEqual([...rows.map((r) => r.nr)].sort((a, b) => a - b));
    expect(rows.find((r) => r.name === 'IOMMU_VEVENTQ_ALLOC')).toMatchObject({ request: '0x3b93', size: 32, minSize: 28, arg: 'extensible' });
    expect(rows.find((r) => r.name === 'VFIO_SET_IOMMU')).toMatchObject({ arg: 'int', struct: null, size: null });
    expect(commandTableMarkdown('6.12')).toContain('| 0x80 | 0x3b80 | IOMMU_DESTROY | iommufd | extensible | iommu_destroy | 8 | 8 |');
  });
});
