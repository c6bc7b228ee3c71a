/**
 * IOMMU drivers, instances and domains of the simulated machine.
 *
 * Mirrors the parts of include/linux/iommu.h the iommufd core consumes:
 *   struct iommu_domain      → class IommuDomain (type, owner ops, geometry,
 *                              pgsize_bitmap, dirty_ops, force-snoop state,
 *                              map/unmap/iova_to_phys through the page table)
 *   struct iommu_ops         → interface IommuDriver (capable, hw_info,
 *                              domain_alloc_user / domain_alloc_paging_flags,
 *                              attach_dev, enforce_cache_coherency)
 *   struct iommu_device      → class IommuInstance (one hardware unit: its
 *                              format, page sizes, address width and caps)
 *
 * Drivers modelled (one shared ops object per driver, so domains may move
 * between instances of the same driver exactly when the driver accepts, as
 * `__iommu_attach_group` checks `domain->owner`):
 *   mock   — drivers/iommu/iommufd/selftest.c (6.12 xarray table with 2 KiB IO
 *            pages; 7.3 AMDv1-mock generic_pt table), never enforces coherency.
 *   intel  — VT-d second-stage domains; snoop control (ecap.SC) decides
 *            enforce_cache_coherency; SSADS decides dirty tracking.
 *   amd    — AMD v1 domains; always enforces coherency; HD decides dirty.
 *   smmuv3 — Arm SMMUv3 stage-1 LPAE domains; cannot enforce coherency
 *            (unless the device is CANWBS), no dirty tracking.
 *
 * Public: IommuDomain, IommuInstance, IommuDriver, IommuCap, HwptAllocData,
 * platformInstances(profile), and the MOCK_* selftest constants.
 */
import { EINVAL, ENOMEM, EOPNOTSUPP } from '../iommufd/errno.ts';
import { copyStructFromUser } from '../../spec/abi/dispatch.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { type DomainConfig, type HwDomain, type HwIommu, hwCreateDomain, hwPgsizeBitmap, HwIommu as HwIommuClass, type HwPhysMemory, minPgsize } from './hw.ts';
import type { SimDevice } from './machine.ts';

// ---- selftest constants (drivers/iommu/iommufd/iommufd_test.h, selftest.c) ----
export const PAGE_SIZE = 4096;
export const MOCK_IO_PAGE_SIZE = PAGE_SIZE / 2;
export const MOCK_HUGE_PAGE_SIZE = 512 * MOCK_IO_PAGE_SIZE;
export const MOCK_APERTURE_START = 1n << 24n;
export const MOCK_APERTURE_LAST = (1n << 31n) - 1n;
export const MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0;
export const MOCK_FLAGS_DEVICE_HUGE_IOVA = 1 << 1; // 6.12 only
export const MOCK_FLAGS_DEVICE_PASID = 1 << 2; // 7.3 only
export const MOCK_PASID_WIDTH = 20; // 7.3
export const MOCK_IOMMUPT_DEFAULT = 0;
export const MOCK_IOMMUPT_HUGE = 1;
export const IOMMU_HW_INFO_TYPE_NONE = 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;
export const IOMMU_HW_INFO_TYPE_AMD = 4;
export const IOMMU_HW_INFO_TYPE_SELFTEST = 0xfeedbeef;
export const IOMMU_HW_INFO_SELFTEST_REGVAL = 0xdeadbeef;
export const IOMMU_HWPT_DATA_NONE = 0;
export const IOMMU_HWPT_DATA_SELFTEST = 0xdead;

// ---- HWPT alloc flags (include/uapi/linux/iommufd.h) ----
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3; // 7.3

/** enum iommu_cap (the ones iommufd asks). */
export type IommuCap = 'CACHE_COHERENCY' | 'ENFORCE_CACHE_COHERENCY' | 'DIRTY_TRACKING' | 'PCI_ATS_SUPPORTED';

/**
 * Driver-specific HWPT data as the driver reads it (struct iommu_user_data):
 * `type`, `len`, and a reader that copies `len` bytes from the user pointer
 * (undefined = EFAULT). Only read by drivers that accept data.
 */
export interface HwptAllocData {
  readonly type: number;
  readonly len: number;
  read(): Uint8Array | undefined;
}

export type DomainType = 'blocked' | 'paging';

export class IommuDomain {
  /** Paging domains allocated and not yet freed (leak checks). */
  static livePaging = 0;
  /** force_snooping / IOMMU_CACHE enforcement, fixed before the first map. */
  enforceCacheCoherency = false;
  /** Units whose devices have used this domain (iotlb observations). */
  readonly users = new Set<string>();
  private freed = false;

  constructor(
    readonly type: DomainType,
    /** domain->owner: the driver that allocated it. */
    readonly owner: IommuDriver,
    /** The hardware domain (page table in simulated memory); none for blocking/default domains. */
    private hwDomain: HwDomain | undefined,
    /** How hwDomain was made (re-made with the snoop bit by enforce_cache_coherency). */
    private readonly cfg: DomainConfig | undefined,
    /** domain->dirty_ops != NULL (HWPT allocated with DIRTY_TRACKING). */
    readonly dirtyOps: boolean,
    readonly nestParent: boolean,
    /** Format name reported in observations. */
    readonly format: string,
  ) {
    if (hwDomain) IommuDomain.livePaging++;
  }

  get hw(): HwDomain | undefined {
    return this.hwDomain;
  }

  /** Hardware domain id (DID/ASID) tagging its IOTLB entries. */
  get tag(): number {
    return this.hwDomain ? this.hwDomain.tag : 0;
  }

  get pgsizeBitmap(): bigint {
    return this.hwDomain ? hwPgsizeBitmap(this.hwDomain) : 0n;
  }

  /** geometry.aperture_start / aperture_end (inclusive). */
  get apertureStart(): bigint {
    return this.hwDomain ? BigInt(this.hwDomain.apertureStart) : 0n;
  }
  get apertureEnd(): bigint {
    return this.hwDomain ? this.hwDomain.apertureLastBig : 0n;
  }

  /** iommu_map(): map [iova, iova+size) to pa; 0 or errno, nothing mapped on failure. */
  map(iova: bigint, pa: number, size: number, prot: number): number {
    if (!this.hwDomain) return EINVAL;
    if (iova < this.apertureStart || iova + BigInt(size) - 1n > this.apertureEnd) return EINVAL;
    const rc = this.hwDomain.map(Number(iova), pa, size, prot);
    return rc < 0 ? -rc : rc;
  }

  /** iommu_unmap(): bytes unmapped; the hardware model issues the vendor's IOTLB invalidations. */
  unmap(iova: bigint, size: number): number {
    if (!this.hwDomain) return 0;
    return this.hwDomain.unmap(Number(iova), size);
  }

  /** iommu_iova_to_phys(): physical address or -1. */
  iovaToPhys(iova: number): number {
    if (!this.hwDomain) return -1;
    const pa = this.hwDomain.iovaToPhys(iova);
    return pa === 0 ? -1 : pa;
  }

  /**
   * Switch a new, still empty domain to enforce cache coherency: the table is
   * rebuilt with the format's snoop bit (VT-d SNP, AMD FC) in every PTE it
   * will write. Formats without such a bit (Arm: CANWBS masters) need none.
   */
  enforceCoherency(): boolean {
    if (!this.hwDomain || !this.cfg || this.cfg.format === 'mock-sparse') return false;
    if (this.hwDomain.pt && this.hwDomain.pt.countLeaves() > 0) return false;
    if (this.cfg.format === 'vtd-ss' || this.cfg.format === 'amd-v1') {
      const d = hwCreateDomain(this.hwDomain.inst, { ...this.cfg, coherent: true });
      if (typeof d === 'number') return false;
      this.hwDomain.destroy();
      this.hwDomain = d;
    }
    this.enforceCacheCoherency = true;
    return true;
  }

  /** Smallest IO page (the IOAS alignment this domain imposes). */
  get minPageSize(): number {
    return minPgsize(this.pgsizeBitmap);
  }

  /** iommu_domain_free() */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    if (this.hwDomain) {
      this.hwDomain.destroy();
      IommuDomain.livePaging--;
    }
  }

  get isFreed(): boolean {
    return this.freed;
  }
}

export type AllocResult = { readonly errno: 0; readonly domain: IommuDomain } | { readonly errno: number };

export interface HwInfo {
  readonly type: number;
  readonly data: Uint8Array;
}

/** struct iommu_ops, reduced to what iommufd uses. */
export interface IommuDriver {
  readonly name: 'mock' | 'intel' | 'amd' | 'smmuv3';
  /** The hardware model the driver's units share. */
  readonly hw: HwIommu;
  capable(dev: SimDevice, cap: IommuCap): boolean;
  /** ops->hw_info, or undefined when the driver has none (type NONE, len 0). `inType` is 7.3's in_data_type. */
  hwInfo?(dev: SimDevice, inType: number): HwInfo | { readonly errno: number };
  /** domain_alloc_user (6.12) / domain_alloc_paging_flags (7.3) for a paging domain. */
  domainAllocPaging(dev: SimDevice, flags: number, data: HwptAllocData | undefined): AllocResult;
  /** domain->ops->attach_dev: 0 or errno (EINVAL = incompatible). */
  attachDev(domain: IommuDomain, dev: SimDevice): number;
  /** domain->ops->enforce_cache_coherency */
  enforceCacheCoherency(domain: IommuDomain): boolean;
}

/** Static description of one IOMMU unit. */
export interface IommuInstanceConfig {
  readonly name: string;
  readonly driver: IommuDriver;
  readonly format: string;
  /** The page-table format configuration of its paging domains (impl/pagetable). */
  readonly domainCfg: DomainConfig;
  readonly pgsizeBitmap: bigint;
  readonly apertureStart: bigint;
  readonly apertureLast: bigint;
  /** The unit can enforce coherency (VT-d ecap.SC, AMD always, SMMU CANWBS). */
  readonly enforceCacheCoherency: boolean;
  readonly dirtyTracking: boolean;
  readonly nesting: boolean;
  readonly maxPasidLog2: number;
  /** Regions every device behind this unit reports (iommu_get_resv_regions). */
  readonly resvRegions: readonly ResvRegion[];
  /** Raw capability registers reported by hw_info. */
  readonly regs: readonly bigint[];
}

export type ResvRegionType = 'direct' | 'direct-relaxable' | 'reserved' | 'msi' | 'sw-msi';

export interface ResvRegion {
  readonly start: bigint;
  readonly last: bigint;
  readonly type: ResvRegionType;
}

export class IommuInstance {
  constructor(readonly config: IommuInstanceConfig) {}
  /** The translation hardware model (walker, IOTLB) of this unit's driver. */
  get hw(): HwIommu {
    return this.config.driver.hw;
  }
  get name(): string {
    return this.config.name;
  }
  get driver(): IommuDriver {
    return this.config.driver;
  }
}

// ---------------------------------------------------------------------------
// helpers

function u32le(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setUint32(i * 4, x >>> 0, true));
  return b;
}

function le(parts: readonly { readonly v: bigint; readonly size: 4 | 8 }[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.size, 0);
  const b = new Uint8Array(total);
  const dv = new DataView(b.buffer);
  let off = 0;
  for (const p of parts) {
    if (p.size === 4) dv.setUint32(off, Number(p.v & 0xffffffffn), true);
    else dv.setBigUint64(off, p.v, true);
    off += p.size;
  }
  return b;
}

/** Allocate a hardware paging domain of `cfg` for a driver: the domain or a positive errno. */
function pagingDomain(owner: IommuDriver, cfg: DomainConfig, dirty: boolean, nestParent: boolean, format: string): AllocResult {
  const d = hwCreateDomain(owner.hw, cfg);
  if (typeof d === 'number') return { errno: d };
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
  const drv: IommuDriver = {
    name: 'mock',
    hw: new HwIommuClass({ mem: env.mem, vendor: 'mock' }),
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
      if (profile === '7.3' && inType !== 0 && inType !== IOMMU_HW_INFO_TYPE_SELFTEST) return { errno: EOPNOTSUPP };
      if (fail()) return { errno: ENOMEM };
      return { type: IOMMU_HW_INFO_TYPE_SELFTEST, data: u32le([0, IOMMU_HW_INFO_SELFTEST_REGVAL]) };
    },
    // 6.12 mock_domain_alloc_user / 7.3 mock_domain_alloc_paging_flags
    domainAllocPaging(dev, flags, data) {
      const hasDirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const noDirty = (dev.mockFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0;
      const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      if (profile === '6.12') {
        if (flags & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING)) return { errno: EOPNOTSUPP };
        if (data || (hasDirty && noDirty)) return { errno: EOPNOTSUPP };
        if (fail()) return { errno: ENOMEM };
        // mock_domain_alloc_paging: the xarray table, 2K pages (+1M with MOCK_FLAGS_DEVICE_HUGE_IOVA)
        return pagingDomain(drv, { format: 'mock-sparse', hugeIova: (dev.mockFlags & MOCK_FLAGS_DEVICE_HUGE_IOVA) !== 0, dirty: hasDirty }, hasDirty, nestParent, 'mock');
      }
      const PAGING_FLAGS = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID;
      if (flags & ~PAGING_FLAGS || (hasDirty && noDirty)) return { errno: EOPNOTSUPP };
      if (data && data.type !== IOMMU_HWPT_DATA_SELFTEST && data.type !== IOMMU_HWPT_DATA_NONE) return { errno: EOPNOTSUPP };
      let pagetableType = MOCK_IOMMUPT_DEFAULT;
      if (data) {
        // iommu_copy_struct_from_user(&user_cfg, user_data, SELFTEST, iotlb): struct {u32 iotlb; u32 pagetable_type}
        const r = copyStructFromUserData(data, IOMMU_HWPT_DATA_SELFTEST, 8, 4);
        if (r.bytes === undefined) return { errno: r.errno };
        pagetableType = new DataView(r.bytes.buffer, r.bytes.byteOffset).getUint32(4, true);
      }
      if (pagetableType !== MOCK_IOMMUPT_DEFAULT && pagetableType !== MOCK_IOMMUPT_HUGE) return { errno: EOPNOTSUPP };
      if (fail()) return { errno: ENOMEM };
      if (pagetableType === MOCK_IOMMUPT_HUGE) {
        // Huge mode: only 1 MiB pages plus PAGE_SIZE; the real AMDv1 aperture (not overridden).
        return pagingDomain(drv, { format: 'mock-amdv1', mockVariant: 'huge', dirty: hasDirty }, hasDirty, nestParent, 'amdv1-mock-huge');
      }
      return pagingDomain(drv, { format: 'mock-amdv1', mockVariant: 'default', dirty: hasDirty }, hasDirty, nestParent, 'amdv1-mock');
    },
    // mock_domain_nop_attach
    attachDev(domain, dev) {
      if (domain.dirtyOps && dev.mockFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) return EINVAL;
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
  if (data.type !== type) return { errno: EINVAL };
  if (data.len < minLen || kernelSize < data.len) return { errno: EINVAL };
  // copy_struct_from_user (spec/abi): usize <= ksize here, so only EFAULT or a zero-extended copy.
  const c = copyStructFromUser(kernelSize, data.read() ?? null, data.len);
  return 'errno' in c ? { errno: c.errno } : { errno: 0, bytes: c.bytes };
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
  const drv: IommuDriver = {
    name: 'intel',
    hw: new HwIommuClass({ mem: env.mem, vendor: 'vtd' }),
    capable: physicalDeviceCapable,
    // intel_iommu_hw_info: struct iommu_hw_info_vtd { u32 flags; u32 __reserved; u64 cap_reg; u64 ecap_reg; }
    hwInfo(dev, inType) {
      if (profile === '7.3' && inType !== 0 && inType !== IOMMU_HW_INFO_TYPE_INTEL_VTD) return { errno: EOPNOTSUPP };
      if (fail()) return { errno: ENOMEM };
      const [cap = 0n, ecap0 = 0n] = dev.iommu.config.regs;
      let ecap = ecap0;
      if (!dev.caps.enforceCacheCoherency) ecap &= ~ECAP_SC;
      if (!dev.caps.dirtyTracking) ecap &= ~ECAP_SLADS;
      return { type: IOMMU_HW_INFO_TYPE_INTEL_VTD, data: le([{ v: 0n, size: 4 }, { v: 0n, size: 4 }, { v: cap, size: 8 }, { v: ecap, size: 8 }]) };
    },
    // intel_iommu_domain_alloc_user (6.12) / intel_iommu_domain_alloc_paging_flags (7.3)
    domainAllocPaging(dev, flags, data) {
      const inst = dev.iommu.config;
      const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      const allowed = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | (profile === '7.3' ? IOMMU_HWPT_ALLOC_PASID : 0);
      if (flags & ~allowed) return { errno: EOPNOTSUPP };
      if (data || (dirty && !dev.caps.dirtyTracking)) return { errno: EOPNOTSUPP };
      if (nestParent && !inst.nesting) return { errno: EOPNOTSUPP };
      if (fail()) return { errno: ENOMEM };
      return pagingDomain(drv, { ...inst.domainCfg, dirty }, dirty, nestParent, inst.format);
    },
    // prepare_domain_attach_device / paging_domain_compatible
    attachDev(domain, dev) {
      if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return EINVAL;
      if (domain.dirtyOps && !dev.caps.dirtyTracking) return EINVAL;
      // the domain's address width must fit the unit's (agaw)
      if (domain.apertureEnd > dev.iommu.config.apertureLast) return EINVAL;
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
  const drv: IommuDriver = {
    name: 'amd',
    hw: new HwIommuClass({ mem: env.mem, vendor: 'amd' }),
    capable: physicalDeviceCapable,
    // 6.12 AMD has no hw_info; 7.3 reports struct iommu_hw_info_amd { u64 efr; u64 efr2; }
    ...(profile === '7.3'
      ? {
          hwInfo(dev: SimDevice, inType: number): HwInfo | { readonly errno: number } {
            if (inType !== 0 && inType !== IOMMU_HW_INFO_TYPE_AMD) return { errno: EOPNOTSUPP };
            if (fail()) return { errno: ENOMEM };
            const [efr = 0n, efr2 = 0n] = dev.iommu.config.regs;
            return { type: IOMMU_HW_INFO_TYPE_AMD, data: le([{ v: efr, size: 8 }, { v: efr2, size: 8 }]) };
          },
        }
      : {}),
    // amd_iommu_domain_alloc_user (6.12): no nesting parent in 6.12
    domainAllocPaging(dev, flags, data) {
      const inst = dev.iommu.config;
      const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const allowed = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | (profile === '7.3' ? IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID : 0);
      if (flags & ~allowed || data) return { errno: EOPNOTSUPP };
      if (dirty && !dev.caps.dirtyTracking) return { errno: EOPNOTSUPP };
      // 7.3: a nesting parent needs a unit with guest translation support
      if (flags & IOMMU_HWPT_ALLOC_NEST_PARENT && !inst.nesting) return { errno: EOPNOTSUPP };
      if (fail()) return { errno: ENOMEM };
      return pagingDomain(drv, { ...inst.domainCfg, dirty }, dirty, (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0, inst.format);
    },
    // amd_iommu_attach_device
    attachDev(domain, dev) {
      if (domain.dirtyOps && !dev.caps.dirtyTracking) return EINVAL;
      if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return EINVAL;
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
  const drv: IommuDriver = {
    name: 'smmuv3',
    hw: new HwIommuClass({ mem: env.mem, vendor: 'smmuv3' }),
    capable: physicalDeviceCapable,
    // 6.12 SMMUv3 has no hw_info; 7.3 reports struct iommu_hw_info_arm_smmuv3
    ...(profile === '7.3'
      ? {
          hwInfo(dev: SimDevice, inType: number): HwInfo | { readonly errno: number } {
            if (inType !== 0 && inType !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3) return { errno: EOPNOTSUPP };
            if (fail()) return { errno: ENOMEM };
            const r = dev.iommu.config.regs.map((x) => Number(x));
            // flags, __reserved, idr[0..5], iidr, aidr
            return { type: IOMMU_HW_INFO_TYPE_ARM_SMMUV3, data: u32le([0, 0, ...r.slice(0, 8)]) };
          },
        }
      : {}),
    // arm_smmu_domain_alloc_user / _paging_flags
    domainAllocPaging(dev, flags, data) {
      const inst = dev.iommu.config;
      const PAGING_FLAGS = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT | (profile === '7.3' ? IOMMU_HWPT_ALLOC_PASID : 0);
      if (flags & ~PAGING_FLAGS) return { errno: EOPNOTSUPP };
      if (data) return { errno: EOPNOTSUPP };
      const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
      if (dirty && !dev.caps.dirtyTracking) return { errno: EOPNOTSUPP };
      if (nestParent && !inst.nesting) return { errno: EOPNOTSUPP };
      if (fail()) return { errno: ENOMEM };
      return pagingDomain(drv, { ...inst.domainCfg, dirty }, dirty, nestParent, inst.format);
    },
    // arm_smmu_attach_dev: an enforcing domain only takes CANWBS masters
    attachDev(domain, dev) {
      if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return EINVAL;
      if (domain.dirtyOps && !dev.caps.dirtyTracking) return EINVAL;
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
