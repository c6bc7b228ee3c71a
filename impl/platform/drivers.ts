/**
 * The IOMMU drivers of the simulated machine (struct iommu_ops instances):
 *   mock   — drivers/iommu/iommufd/selftest.c (6.12 xarray table with 2 KiB IO
 *            pages; 7.3 AMDv1-mock generic_pt table), never enforces coherency.
 *   intel  — VT-d second-stage domains; snoop control (ecap.SC) decides
 *            enforce_cache_coherency; SSADS decides dirty tracking.
 *   amd    — AMD v1 domains; always enforces coherency; HD decides dirty.
 *   smmuv3 — Arm SMMUv3 stage-1 LPAE domains (a 7.3 nesting parent: stage 2); cannot enforce coherency
 *            (unless the device is CANWBS), no dirty tracking.
 * One shared ops object per driver, so domains may move between instances of
 * the same driver exactly when the driver accepts (`__iommu_attach_group`
 * checks `domain->owner`).
 *
 * Public: createMockDriver, createIntelDriver, createAmdDriver,
 * createSmmuV3Driver, copyStructFromUserData, interface DriverEnv.
 */
import { EINVAL, ENOMEM, EOPNOTSUPP } from '../lib/errno.ts';
import { copyStructFromUser } from '../../spec/abi/dispatch.ts';
import { decodeStruct, encodeStruct } from '../../spec/abi/codec.ts';
import { offsetofend, requireLayout } from '../../spec/uapi/layout.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { type DomainConfig, hwCreateDomain, HwIommu as HwIommuClass, type HwPhysMemory } from './hw.ts';
import { type AllocResult, type HwInfo, type HwptAllocData, type IommuCap, IommuDomain, type IommuDriver, type SimDevice } from './iommu.ts';
import {
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_AMD,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_IOMMUPT_DEFAULT,
  MOCK_IOMMUPT_HUGE,
} from '../../spec/uapi/constants.ts';
// ---------------------------------------------------------------------------
// helpers

/**
 * Allocate a hardware paging domain of `cfg` for a driver: the domain or a
 * negative errno. Its table pages come from the fallible allocator (`fail`,
 * fail_nth: iommu_alloc_pages is a page allocation the kernel's fault
 * injection fails too), so a map that needs a new table can fail half-way.
 */
function pagingDomain(owner: IommuDriver, cfg: DomainConfig, dirty: boolean, nestParent: boolean, format: string, fail: () => boolean): AllocResult {
  const d = hwCreateDomain(owner.hw, cfg);
  if (typeof d === 'number') return { errno: d };
  d.allocFail = fail;
  return { errno: 0, domain: new IommuDomain('paging', owner, d, cfg, dirty, nestParent, format) };
}

/** What a driver needs from its environment: the fallible-step hook (fail_nth). */
export interface DriverEnv {
  shouldFail(): boolean;
  /** Physical memory holding page tables. */
  readonly mem: HwPhysMemory;
}

// ---------------------------------------------------------------------------
// the selftest mock driver (drivers/iommu/iommufd/selftest.c)

export function createMockDriver(profile: Profile, env: DriverEnv): IommuDriver {
  const fail = (): boolean => env.shouldFail();
  let hw: HwIommuClass | undefined;
  const drv: IommuDriver = {
    name: 'mock',
    // The unit's hardware model (IOTLB and walk cache arrays) is made on first use: most sessions touch one or two vendors.
    get hw() {
      return (hw ??= new HwIommuClass({ mem: env.mem, vendor: 'mock' }));
    },
    // mock_domain_capable
    capable(dev, cap) {
      switch (cap) {
        case 'CACHE_COHERENCY':
          return true;
        case 'DIRTY_TRACKING':
          return (dev.mockFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) === 0;
        default:
          return false;
      }
    },
    // mock_domain_hw_info: struct iommu_test_hw_info { u32 flags; u32 test_reg; }
    hwInfo(_dev, inType) {
      if (profile === '7.3' && inType !== IOMMU_HW_INFO_TYPE_DEFAULT && inType !== IOMMU_HW_INFO_TYPE_SELFTEST) return { errno: -EOPNOTSUPP };
      if (fail()) return { errno: -ENOMEM };
      return { type: IOMMU_HW_INFO_TYPE_SELFTEST, data: encodeStruct(profile, 'iommu_test_hw_info', { flags: 0, test_reg: IOMMU_HW_INFO_SELFTEST_REGVAL }) };
    },
    // 6.12 mock_domain_alloc_user / 7.3 mock_domain_alloc_paging_flags
    domainAllocPaging(dev, flags, data) {
      const hasDirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const noDirty = (dev.mockFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0;
      const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      if (profile === '6.12') {
        if (flags & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING)) return { errno: -EOPNOTSUPP };
        if (data || (hasDirty && noDirty)) return { errno: -EOPNOTSUPP };
        if (fail()) return { errno: -ENOMEM };
        // mock_domain_alloc_paging: the xarray table, 2K pages (+1M with MOCK_FLAGS_DEVICE_HUGE_IOVA)
        return pagingDomain(drv, { format: 'mock-sparse', hugeIova: (dev.mockFlags & MOCK_FLAGS_DEVICE_HUGE_IOVA) !== 0, dirty: hasDirty }, hasDirty, nestParent, 'mock', fail);
      }
      const PAGING_FLAGS = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID;
      if (flags & ~PAGING_FLAGS || (hasDirty && noDirty)) return { errno: -EOPNOTSUPP };
      if (data && data.type !== IOMMU_HWPT_DATA_SELFTEST && data.type !== IOMMU_HWPT_DATA_NONE) return { errno: -EOPNOTSUPP };
      let pagetableType = MOCK_IOMMUPT_DEFAULT;
      if (data) {
        // iommu_copy_struct_from_user(&user_cfg, user_data, IOMMU_HWPT_DATA_SELFTEST, iotlb): struct iommu_hwpt_selftest
        const r = copyStructFromUserData(data, IOMMU_HWPT_DATA_SELFTEST, requireLayout(profile, 'iommu_hwpt_selftest').size, offsetofend(profile, 'iommu_hwpt_selftest', 'iotlb'));
        if (r.bytes === undefined) return { errno: r.errno };
        pagetableType = Number(decodeStruct(profile, 'iommu_hwpt_selftest', r.bytes).pagetable_type);
      }
      if (pagetableType !== MOCK_IOMMUPT_DEFAULT && pagetableType !== MOCK_IOMMUPT_HUGE) return { errno: -EOPNOTSUPP };
      if (fail()) return { errno: -ENOMEM };
      if (pagetableType === MOCK_IOMMUPT_HUGE) {
        // Huge mode: only 1 MiB pages plus PAGE_SIZE; the real AMDv1 aperture (not overridden).
        return pagingDomain(drv, { format: 'mock-amdv1', mockVariant: 'huge', dirty: hasDirty }, hasDirty, nestParent, 'amdv1-mock-huge', fail);
      }
      return pagingDomain(drv, { format: 'mock-amdv1', mockVariant: 'default', dirty: hasDirty }, hasDirty, nestParent, 'amdv1-mock', fail);
    },
    // mock_domain_nop_attach
    attachDev(domain, dev) {
      if (domain.dirtyOps && dev.mockFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) return -EINVAL;
      return 0;
    },
    // mock ops have no enforce_cache_coherency
    enforceCacheCoherency() {
      return false;
    },
  };
  return drv;
}

/** __iommu_copy_struct_from_user: type, then min/max length, then the copy (zero tail beyond what we know). */
export function copyStructFromUserData(
  data: HwptAllocData,
  type: number,
  kernelSize: number,
  minLen: number,
): { readonly errno: 0; readonly bytes: Uint8Array } | { readonly errno: number; readonly bytes?: undefined } {
  if (data.type !== type) return { errno: -EINVAL };
  if (data.len < minLen || kernelSize < data.len) return { errno: -EINVAL };
  // copy_struct_from_user (spec/abi): usize <= ksize here, so only EFAULT or a zero-extended copy.
  const c = copyStructFromUser(kernelSize, data.read() ?? null, data.len);
  // spec/abi answers with the errno userspace sees (positive).
  return 'errno' in c ? { errno: -c.errno } : { errno: 0, bytes: c.bytes };
}

/**
 * device_iommu_capable for a simulated physical device: what the device was
 * created with (intel_iommu_capable, amd_iommu_capable, arm_smmu_capable —
 * where ENFORCE is arm_smmu_master_canwbs and dirty tracking is HTTU). Every
 * unit here walks coherently (SMMUv3: IDR0.COHACC); no device has PCI ATS.
 */
function physicalDeviceCapable(dev: SimDevice, cap: IommuCap): boolean {
  switch (cap) {
    case 'CACHE_COHERENCY':
      return true;
    case 'ENFORCE_CACHE_COHERENCY':
      return dev.caps.enforceCacheCoherency;
    case 'DIRTY_TRACKING':
      return dev.caps.dirtyTracking;
    case 'PCI_ATS_SUPPORTED':
      return false;
  }
}

// ---------------------------------------------------------------------------
// VT-d (drivers/iommu/intel/iommu.c)

const ECAP_SC = 1n << 7n;
const ECAP_SLADS = 1n << 45n;

export function createIntelDriver(profile: Profile, env: DriverEnv): IommuDriver {
  const fail = (): boolean => env.shouldFail();
  let hw: HwIommuClass | undefined;
  const drv: IommuDriver = {
    name: 'intel',
    // The unit's hardware model (IOTLB and walk cache arrays) is made on first use: most sessions touch one or two vendors.
    get hw() {
      return (hw ??= new HwIommuClass({ mem: env.mem, vendor: 'vtd' }));
    },
    capable: physicalDeviceCapable,
    // intel_iommu_hw_info: struct iommu_hw_info_vtd { u32 flags; u32 __reserved; u64 cap_reg; u64 ecap_reg; }
    hwInfo(dev, inType) {
      if (profile === '7.3' && inType !== IOMMU_HW_INFO_TYPE_DEFAULT && inType !== IOMMU_HW_INFO_TYPE_INTEL_VTD) return { errno: -EOPNOTSUPP };
      if (fail()) return { errno: -ENOMEM };
      const [cap = 0n, ecap0 = 0n] = dev.iommu.config.regs;
      let ecap = ecap0;
      if (!dev.caps.enforceCacheCoherency) ecap &= ~ECAP_SC;
      if (!dev.caps.dirtyTracking) ecap &= ~ECAP_SLADS;
      // Every VT-d unit reports the SPR17 erratum (a nesting parent cannot map read-only): the kernel sets the flag unconditionally.
      return { type: IOMMU_HW_INFO_TYPE_INTEL_VTD, data: encodeStruct(profile, 'iommu_hw_info_vtd', { flags: IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, cap_reg: cap, ecap_reg: ecap }) };
    },
    // intel_iommu_domain_alloc_user (6.12) / intel_iommu_domain_alloc_paging_flags (7.3)
    domainAllocPaging(dev, flags, data) {
      const inst = dev.iommu.config;
      const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      const allowed = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | (profile === '7.3' ? IOMMU_HWPT_ALLOC_PASID : 0);
      if (flags & ~allowed) return { errno: -EOPNOTSUPP };
      if (data || (dirty && !dev.caps.dirtyTracking)) return { errno: -EOPNOTSUPP };
      if (nestParent && !inst.nesting) return { errno: -EOPNOTSUPP };
      if (fail()) return { errno: -ENOMEM };
      // A nesting parent refuses read-only maps (ERRATA_772415_SPR17): 7.3 sets
      // PT_FEAT_VTDSS_FORCE_WRITEABLE, 6.12's __domain_mapping tests nested_parent.
      return pagingDomain(drv, { ...inst.domainCfg, dirty, ...(nestParent && { forceWriteable: true }) }, dirty, nestParent, inst.format, fail);
    },
    // prepare_domain_attach_device / paging_domain_compatible
    attachDev(domain, dev) {
      if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return -EINVAL;
      if (domain.dirtyOps && !dev.caps.dirtyTracking) return -EINVAL;
      // the domain's address width must fit the unit's (agaw)
      if (domain.apertureEnd > dev.iommu.config.apertureLast) return -EINVAL;
      // 7.3 paging_domain_compatible_second_stage: the table's depth must be one the unit's SAGAW
      // walks (pt_info.aw = levels - 2). 6.12 only skips levels of a deeper table (iommu_skip_agaw).
      const cfg = domain.config;
      if (profile === '7.3' && cfg?.format === 'vtd-ss' && !(Number((dev.iommu.config.regs[0] ?? 0n) >> 8n) & 0x1f & (1 << ((cfg.levels ?? 4) - 2)))) return -EINVAL;
      return 0;
    },
    // intel_iommu_enforce_cache_coherency: force_snooping (SNP in every PTE)
    enforceCacheCoherency(domain) {
      return domain.enforceCoherency();
    },
  };
  return drv;
}

// ---------------------------------------------------------------------------
// AMD (drivers/iommu/amd/iommu.c)

export function createAmdDriver(profile: Profile, env: DriverEnv): IommuDriver {
  const fail = (): boolean => env.shouldFail();
  let hw: HwIommuClass | undefined;
  const drv: IommuDriver = {
    name: 'amd',
    // The unit's hardware model (IOTLB and walk cache arrays) is made on first use: most sessions touch one or two vendors.
    get hw() {
      return (hw ??= new HwIommuClass({ mem: env.mem, vendor: 'amd' }));
    },
    capable: physicalDeviceCapable,
    // 6.12 AMD has no hw_info; 7.3 reports struct iommu_hw_info_amd { u64 efr; u64 efr2; }
    ...(profile === '7.3'
      ? {
          hwInfo(dev: SimDevice, inType: number): HwInfo | { readonly errno: number } {
            if (inType !== IOMMU_HW_INFO_TYPE_DEFAULT && inType !== IOMMU_HW_INFO_TYPE_AMD) return { errno: -EOPNOTSUPP };
            if (fail()) return { errno: -ENOMEM };
            const [efr = 0n, efr2 = 0n] = dev.iommu.config.regs;
            return { type: IOMMU_HW_INFO_TYPE_AMD, data: encodeStruct(profile, 'iommu_hw_info_amd', { efr, efr2 }) };
          },
        }
      : {}),
    // amd_iommu_domain_alloc_user (6.12): no nesting parent in 6.12
    domainAllocPaging(dev, flags, data) {
      const inst = dev.iommu.config;
      const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const allowed = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | (profile === '7.3' ? IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID : 0);
      if (flags & ~allowed || data) return { errno: -EOPNOTSUPP };
      // 7.3 amd_iommu_domain_alloc_paging_flags: PASID asks for a v2 table and takes no other flag
      // (its switch has no case for a mix: EOPNOTSUPP).
      if (flags & IOMMU_HWPT_ALLOC_PASID && flags !== IOMMU_HWPT_ALLOC_PASID) return { errno: -EOPNOTSUPP };
      if (dirty && !dev.caps.dirtyTracking) return { errno: -EOPNOTSUPP };
      // 7.3: a nesting parent needs a unit with guest translation support
      if (flags & IOMMU_HWPT_ALLOC_NEST_PARENT && !inst.nesting) return { errno: -EOPNOTSUPP };
      if (fail()) return { errno: -ENOMEM };
      return pagingDomain(drv, { ...inst.domainCfg, dirty }, dirty, (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0, inst.format, fail);
    },
    // amd_iommu_attach_device
    attachDev(domain, dev) {
      if (domain.dirtyOps && !dev.caps.dirtyTracking) return -EINVAL;
      if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return -EINVAL;
      return 0;
    },
    // amd_iommu_enforce_cache_coherency: the v1 FC bit
    enforceCacheCoherency(domain) {
      return domain.enforceCoherency();
    },
  };
  return drv;
}

// ---------------------------------------------------------------------------
// Arm SMMUv3 (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c)

export function createSmmuV3Driver(profile: Profile, env: DriverEnv): IommuDriver {
  const fail = (): boolean => env.shouldFail();
  let hw: HwIommuClass | undefined;
  const drv: IommuDriver = {
    name: 'smmuv3',
    // The unit's hardware model (IOTLB and walk cache arrays) is made on first use: most sessions touch one or two vendors.
    get hw() {
      return (hw ??= new HwIommuClass({ mem: env.mem, vendor: 'smmuv3' }));
    },
    capable: physicalDeviceCapable,
    // 6.12 SMMUv3 has no hw_info; 7.3 reports struct iommu_hw_info_arm_smmuv3
    ...(profile === '7.3'
      ? {
          hwInfo(dev: SimDevice, inType: number): HwInfo | { readonly errno: number } {
            if (inType !== IOMMU_HW_INFO_TYPE_DEFAULT && inType !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3) return { errno: -EOPNOTSUPP };
            if (fail()) return { errno: -ENOMEM };
            // the unit's registers: IDR0..5, IIDR, AIDR
            const [idr0 = 0n, idr1 = 0n, idr2 = 0n, idr3 = 0n, idr4 = 0n, idr5 = 0n, iidr = 0n, aidr = 0n] = dev.iommu.config.regs;
            const idr = [idr0, idr1, idr2, idr3, idr4, idr5].map(Number);
            return { type: IOMMU_HW_INFO_TYPE_ARM_SMMUV3, data: encodeStruct(profile, 'iommu_hw_info_arm_smmuv3', { flags: 0, idr, iidr: Number(iidr), aidr: Number(aidr) }) };
          },
        }
      : {}),
    // 6.12 arm_smmu_domain_alloc_user: DIRTY_TRACKING is the one flag (no nesting parent).
    // 7.3 arm_smmu_domain_alloc_paging_flags: after the allocation, a switch on the whole
    // flags: 0; NEST_PARENT alone, a stage-2 domain (ARM_SMMU_FEAT_NESTING); DIRTY_TRACKING
    // and/or PASID, stage 1; any other mix (a nesting parent with either) EOPNOTSUPP. The
    // dirty-tracking capability is tested last (arm_smmu_domain_finalise).
    domainAllocPaging(dev, flags, data) {
      const inst = dev.iommu.config;
      const PAGING_FLAGS = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | (profile === '7.3' ? IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID : 0);
      if (flags & ~PAGING_FLAGS) return { errno: -EOPNOTSUPP };
      if (data) return { errno: -EOPNOTSUPP };
      if (fail()) return { errno: -ENOMEM };
      const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      if (nestParent && (flags !== IOMMU_HWPT_ALLOC_NEST_PARENT || !inst.nesting)) return { errno: -EOPNOTSUPP };
      if (dirty && !dev.caps.dirtyTracking) return { errno: -EOPNOTSUPP };
      // A nesting parent is the stage-2 table (S2AP: write without read is expressible).
      if (nestParent) return pagingDomain(drv, { ...inst.domainCfg, format: 'arm-s2' }, false, true, inst.format.replace('arm-s1', 'arm-s2'), fail);
      return pagingDomain(drv, { ...inst.domainCfg, dirty }, dirty, false, inst.format, fail);
    },
    // arm_smmu_attach_dev: an enforcing domain only takes CANWBS masters
    attachDev(domain, dev) {
      if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return -EINVAL;
      if (domain.dirtyOps && !dev.caps.dirtyTracking) return -EINVAL;
      return 0;
    },
    // arm_smmu_enforce_cache_coherency: only if every attached master is CANWBS;
    // at allocation the domain has no masters, and iommufd only asks for CC devices.
    enforceCacheCoherency(domain) {
      return domain.enforceCoherency();
    },
  };
  return drv;
}
