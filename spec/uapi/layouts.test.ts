/**
 * The spec's computed struct layouts must equal what gcc computed from each
 * profile's real headers (spec/uapi/layouts/linux-<profile>.json, written by
 * scripts/layout-probe.ts). The table's DWARF member list is independent of
 * the spec data, so a member the spec forgot (or invented) fails here too.
 */
import { readFileSync } from 'node:fs';
import { describe, expect } from 'vitest';
import { check } from '../clauses/check.ts';
import { PROFILES, type Profile } from './profiles.ts';
import { structLayout, structNames } from './layout.ts';
import { commandsFor, commandMinSize, testOpsFor } from './index.ts';
import { cValues, namesOnlyElsewhere } from './names.ts';

interface ProbedStruct {
  size: number;
  align: number;
  fields: Record<string, { offset: number; size: number; elemSize?: number }>;
  dwarf: Record<string, number>;
}
interface Table {
  profile: Profile;
  kernel: string;
  constants: Record<string, number>;
  absent: { names: string[]; structs: string[] };
  sources: {
    ioctlOps: { ioctl: string; handler: string; struct: string; last: string }[];
    vfioMinsz: Record<string, string>;
    vfioXend: Record<string, string>;
    vfioCopyStruct: string[];
    compatCases: string[];
    testOpMembers: Record<string, string[]>;
  };
  structs: Record<string, ProbedStruct>;
}

function loadTable(profile: Profile): Table {
  return JSON.parse(readFileSync(new URL(`./layouts/linux-${profile}.json`, import.meta.url), 'utf8')) as Table;
}

/** Structs the foundation issue names: every command's struct plus these. */
const NAMED_AUX: { readonly [P in Profile]: readonly string[] } = {
  '6.12': [
    'iommu_iova_range',
    'iommu_hwpt_pgfault',
    'iommu_hwpt_page_response',
    'iommu_hwpt_vtd_s1',
    'iommu_hwpt_vtd_s1_invalidate',
    'iommu_hw_info_vtd',
    'iommu_hwpt_selftest',
    'iommu_hwpt_invalidate_selftest',
    'iommu_test_hw_info',
    'vfio_info_cap_header',
    'vfio_iova_range',
    'vfio_iommu_type1_info_cap_iova_range',
    'vfio_iommu_type1_info_dma_avail',
  ],
  '7.3': [
    'iommu_iova_range',
    'iommu_hwpt_pgfault',
    'iommu_hwpt_page_response',
    'iommu_hwpt_vtd_s1',
    'iommu_hwpt_vtd_s1_invalidate',
    'iommu_hw_info_vtd',
    'iommu_hwpt_arm_smmuv3',
    'iommu_hw_info_arm_smmuv3',
    'iommu_viommu_arm_smmuv3_invalidate',
    'iommu_vevent_arm_smmuv3',
    'iommu_hwpt_selftest',
    'iommu_hwpt_invalidate_selftest',
    'iommu_test_hw_info',
    'vfio_info_cap_header',
    'vfio_iova_range',
    'vfio_iommu_type1_info_cap_iova_range',
    'vfio_iommu_type1_info_dma_avail',
  ],
};

function requiredStructs(profile: Profile): string[] {
  const fromCommands = commandsFor(profile).flatMap((c) => (c.struct ? [c.struct] : []));
  return [...new Set([...fromCommands, ...NAMED_AUX[profile]])];
}

describe.each(PROFILES)('struct layouts vs gcc, profile %s', (profile) => {
  const table = loadTable(profile);

  check('abi.layout.matches-headers', () => {
    expect(table.profile).toBe(profile);
    // Every struct the issue names was probed.
    for (const name of requiredStructs(profile)) expect(table.structs[name], `${profile}: ${name} missing from the probe table`).toBeDefined();
    // Every struct of the spec matches gcc: size, alignment, each member.
    const names = structNames(profile);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const probed = table.structs[name];
      const ours = structLayout(profile, name);
      expect(probed, `${profile}: ${name} not in the probe table (re-run scripts/layout-probe.ts)`).toBeDefined();
      expect(ours).toBeDefined();
      if (!probed || !ours) continue;
      expect({ name, size: ours.size, align: ours.align }).toEqual({ name, size: probed.size, align: probed.align });
      const oursRows = Object.fromEntries(ours.rows.map((r) => [r.path, r.elemSize === undefined ? { offset: r.offset, size: r.size } : { offset: r.offset, size: r.size, elemSize: r.elemSize }]));
      expect({ name, fields: oursRows }).toEqual({ name, fields: probed.fields });
      // gcc's own member list (DWARF): same paths, same offsets.
      const oursOffsets = Object.fromEntries(ours.rows.map((r) => [r.path, r.offset]));
      expect({ name, members: oursOffsets }).toEqual({ name, members: probed.dwarf });
    }
    // Nothing probed that the spec no longer declares for this profile.
    expect(Object.keys(table.structs).sort()).toEqual([...names].sort());
  });

  check('abi.uapi.numbers-match-headers', () => {
    // Every ioctl number, test op, enum/flag value, header constant and errno the
    // spec records for the profile, against the value gcc computed from the headers.
    const ours = cValues(profile);
    expect(Object.keys(ours).length).toBeGreaterThan(200);
    expect(ours).toEqual(table.constants);
    // And what the spec says this profile lacks, gcc found undeclared (or an incomplete struct).
    expect([...table.absent.names].sort()).toEqual(namesOnlyElsewhere(profile).sort());
    const otherStructs = PROFILES.filter((p) => p !== profile).flatMap((p) => structNames(p)).filter((n) => !structNames(profile).includes(n));
    expect([...table.absent.structs].sort()).toEqual([...new Set(otherStructs)].sort());
  });

  check('abi.uapi.commands-match-kernel-sources', () => {
    const src = table.sources;
    // iommufd: main.c's IOCTL_OP table is exactly the spec's extensible commands (struct, min-size field, handler).
    const ours = commandsFor(profile)
      .filter((c) => c.arg === 'extensible')
      .map((c) => ({ ioctl: c.name, handler: c.handler, struct: c.struct, last: c.minLast }));
    const byName = (a: { ioctl: string }, b: { ioctl: string }): number => a.ioctl.localeCompare(b.ioctl);
    expect([...ours].sort(byName)).toEqual([...src.ioctlOps].sort(byName));
    // VFIO: each handler's minsz field, its flag-gated xend field, and whether it uses copy_struct_from_user.
    for (const c of commandsFor(profile).filter((x) => x.arg === 'vfio-argsz')) {
      const struct = c.struct ?? '';
      expect({ cmd: c.name, minsz: c.minLast }).toEqual({ cmd: c.name, minsz: src.vfioMinsz[struct] });
      expect({ cmd: c.name, xend: c.extensions?.map((x) => x.last) }).toEqual({ cmd: c.name, xend: src.vfioXend[struct] ? [src.vfioXend[struct]] : undefined });
      expect({ cmd: c.name, copyStruct: c.vfioTail === 'copy-struct' }).toEqual({ cmd: c.name, copyStruct: src.vfioCopyStruct.includes(struct) });
    }
    // VFIO compat: the cases of iommufd_vfio_ioctl, less DIRTY_PAGES which it answers with ENOTTY.
    const compat = commandsFor(profile).filter((c) => c.fd === 'iommufd' && c.arg !== 'extensible').map((c) => c.name);
    expect([...compat].sort()).toEqual(src.compatCases.filter((n) => n !== 'VFIO_IOMMU_DIRTY_PAGES').sort());
    // IOMMU_TEST_CMD: the ops iommufd_test() serves, and the union member each one reads.
    const ops = testOpsFor(profile);
    expect(ops.map((o) => o.name).sort()).toEqual(Object.keys(src.testOpMembers).sort());
    for (const o of ops) if (o.member) expect(src.testOpMembers[o.name], o.name).toContain(o.member);
  });

  check('abi.layout.min-sizes', () => {
    // The command table's minimum sizes, recomputed from gcc's offsets.
    for (const c of commandsFor(profile)) {
      if (!c.struct || !c.minLast) continue;
      const f = table.structs[c.struct]?.fields[c.minLast];
      expect(f, `${c.name}: ${c.struct}.${c.minLast}`).toBeDefined();
      if (f) expect({ cmd: c.name, min: commandMinSize(profile, c) }).toEqual({ cmd: c.name, min: f.offset + f.size });
    }
  });
});

describe('digest §0.2 command table (6.12.117)', () => {
  // Sizes the reference digest recorded from its own compiled probe.
  const digest: [string, number, number][] = [
    ['IOMMU_DESTROY', 8, 8],
    ['IOMMU_IOAS_ALLOC', 12, 12],
    ['IOMMU_IOAS_ALLOW_IOVAS', 24, 24],
    ['IOMMU_IOAS_COPY', 40, 40],
    ['IOMMU_IOAS_IOVA_RANGES', 32, 32],
    ['IOMMU_IOAS_MAP', 40, 40],
    ['IOMMU_IOAS_UNMAP', 24, 24],
    ['IOMMU_OPTION', 24, 24],
    ['IOMMU_VFIO_IOAS', 12, 12],
    ['IOMMU_HWPT_ALLOC', 48, 24],
    ['IOMMU_GET_HW_INFO', 40, 32],
    ['IOMMU_HWPT_SET_DIRTY_TRACKING', 16, 16],
    ['IOMMU_HWPT_GET_DIRTY_BITMAP', 48, 48],
    ['IOMMU_HWPT_INVALIDATE', 32, 32],
    ['IOMMU_FAULT_QUEUE_ALLOC', 16, 16],
  ];
  check('abi.layout.digest-table-6.12', () => {
    const table = loadTable('6.12');
    for (const [name, size, min] of digest) {
      const c = commandsFor('6.12').find((x) => x.name === name);
      expect(c, name).toBeDefined();
      if (!c?.struct) continue;
      expect({ name, size: table.structs[c.struct]?.size, min: commandMinSize('6.12', c) }).toEqual({ name, size, min });
    }
  });
});
