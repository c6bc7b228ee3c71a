/**
 * Capability features (ADAPTER.md §4 "features"): the uAPI values whose
 * support an implementation reports separately from the command that carries
 * them. A command can be served while one of its values is not — the
 * reference answers IOMMU_HWPT_ALLOC, but no nested data type; the 6.12 mock
 * driver has no vIOMMU type at all — and a program that needs the value says
 * so in `requires.features`, so a runner skips it with the implementation's
 * reason instead of failing it, or passing it by chance.
 *
 * A feature is named by its uAPI constant, and means "the implementation
 * serves this value as the kernel does, including what it enables": an HWPT
 * allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING whose dirty bits nobody can
 * read, or a nested data type that every allocation refuses, is not supported.
 * Reserved placeholders (IOMMU_HWPT_DATA_NONE, the *_DEFAULT types) and the
 * selftest's deliberately invalid values are not features.
 */
import type { Profile } from '../uapi/profiles.ts';
import { enumDef } from '../uapi/lookup.ts';

export interface FeatureDef {
  /** The uAPI constant (an enum member of `enumName`). */
  readonly name: string;
  readonly enumName: string;
  /** Which command field carries it. */
  readonly carriedBy: string;
  readonly meaning: string;
}

const f = (name: string, enumName: string, carriedBy: string, meaning: string): FeatureDef => ({ name, enumName, carriedBy, meaning });

const ALLOC_FLAGS = 'iommufd_hwpt_alloc_flags';
const DATA = 'iommu_hwpt_data_type';
const INV = 'iommu_hwpt_invalidate_data_type';
const VIOMMU = 'iommu_viommu_type';
const VEVENTQ = 'iommu_veventq_type';
const HW_QUEUE = 'iommu_hw_queue_type';

export const FEATURES: readonly FeatureDef[] = [
  f('IOMMU_HWPT_ALLOC_NEST_PARENT', ALLOC_FLAGS, 'IOMMU_HWPT_ALLOC.flags', 'a paging HWPT that nested HWPTs (or a vIOMMU) can be allocated on'),
  f('IOMMU_HWPT_ALLOC_DIRTY_TRACKING', ALLOC_FLAGS, 'IOMMU_HWPT_ALLOC.flags', 'dirty tracking: the HWPT, IOMMU_HWPT_SET_DIRTY_TRACKING and IOMMU_HWPT_GET_DIRTY_BITMAP over the bits device writes set'),
  f('IOMMU_HWPT_FAULT_ID_VALID', ALLOC_FLAGS, 'IOMMU_HWPT_ALLOC.flags', 'fault-capable HWPTs: faults queued to an IOMMU_FAULT_QUEUE_ALLOC file, read and answered'),
  f('IOMMU_HWPT_ALLOC_PASID', ALLOC_FLAGS, 'IOMMU_HWPT_ALLOC.flags', 'PASID-compatible HWPTs, attached per PASID'),
  f('IOMMU_HWPT_DATA_VTD_S1', DATA, 'IOMMU_HWPT_ALLOC.data_type', 'nested HWPTs with an Intel VT-d stage-1 table'),
  f('IOMMU_HWPT_DATA_ARM_SMMUV3', DATA, 'IOMMU_HWPT_ALLOC.data_type', 'nested HWPTs with an Arm SMMUv3 guest STE'),
  f('IOMMU_HWPT_DATA_AMD_GUEST', DATA, 'IOMMU_HWPT_ALLOC.data_type', 'nested HWPTs with an AMD guest DTE'),
  f('IOMMU_HWPT_DATA_SELFTEST', DATA, 'IOMMU_HWPT_ALLOC.data_type', "nested HWPTs of the mock driver (struct iommu_hwpt_selftest)"),
  f('IOMMU_HWPT_INVALIDATE_DATA_VTD_S1', INV, 'IOMMU_HWPT_INVALIDATE.data_type', 'VT-d stage-1 cache invalidation'),
  f('IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3', INV, 'IOMMU_HWPT_INVALIDATE.data_type', 'Arm SMMUv3 command-queue invalidation through a vIOMMU'),
  f('IOMMU_HWPT_INVALIDATE_DATA_SELFTEST', INV, 'IOMMU_HWPT_INVALIDATE.data_type', "the mock driver's nested IOTLB invalidation"),
  f('IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST', INV, 'IOMMU_HWPT_INVALIDATE.data_type', "the mock driver's device-cache invalidation through a vIOMMU"),
  f('IOMMU_VIOMMU_TYPE_ARM_SMMUV3', VIOMMU, 'IOMMU_VIOMMU_ALLOC.type', 'Arm SMMUv3 vIOMMUs'),
  f('IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV', VIOMMU, 'IOMMU_VIOMMU_ALLOC.type', 'NVIDIA Tegra241 CMDQV vIOMMUs'),
  f('IOMMU_VIOMMU_TYPE_SELFTEST', VIOMMU, 'IOMMU_VIOMMU_ALLOC.type', "the mock driver's vIOMMU (vDEVICEs, device caches)"),
  f('IOMMU_VEVENTQ_TYPE_ARM_SMMUV3', VEVENTQ, 'IOMMU_VEVENTQ_ALLOC.type', 'Arm SMMUv3 virtual event queues'),
  f('IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV', VEVENTQ, 'IOMMU_VEVENTQ_ALLOC.type', 'Tegra241 CMDQV virtual event queues'),
  f('IOMMU_VEVENTQ_TYPE_SELFTEST', VEVENTQ, 'IOMMU_VEVENTQ_ALLOC.type', "the mock driver's virtual event queue (IOMMU_TEST_OP_TRIGGER_VEVENT)"),
  f('IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV', HW_QUEUE, 'IOMMU_HW_QUEUE_ALLOC.type', 'Tegra241 CMDQV hardware queues'),
  f('IOMMU_HW_QUEUE_TYPE_SELFTEST', HW_QUEUE, 'IOMMU_HW_QUEUE_ALLOC.type', "the mock driver's hardware queue"),
];

/** The features a profile has (those whose uAPI constant exists in it), in FEATURES order. */
export function featuresFor(profile: Profile): readonly FeatureDef[] {
  return FEATURES.filter((d) => enumDef(profile, d.enumName)?.members.some((m) => m.name === d.name) === true);
}

/**
 * The type features a request's struct fields select: a data, invalidation,
 * vIOMMU, vEVENTQ or HW queue type equal to the feature's value, in the
 * command that carries it. These values choose a driver's own data; an
 * implementation that lacks one still makes the core's checks before it, and
 * then refuses (the reference: EOPNOTSUPP) where the kernel's driver decides.
 */
export function typeFeaturesOf(profile: Profile, cmd: string, fields: { readonly [k: string]: unknown }): readonly string[] {
  const out: string[] = [];
  for (const d of featuresFor(profile)) {
    const [command, field] = d.carriedBy.split('.') as [string, string];
    const v = command === cmd ? fields[field] : undefined;
    if (typeof v !== 'number' && typeof v !== 'bigint') continue;
    const e = enumDef(profile, d.enumName);
    if (e?.kind === 'values' && Number(v) === e.members.find((m) => m.name === d.name)?.value) out.push(d.name);
  }
  return out;
}

/** Whether `name` is a feature of the contract (in some profile). */
export function isFeatureName(name: string): boolean {
  return FEATURES.some((d) => d.name === name);
}
