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
 *   struct device, struct iommu_group → class SimDevice, class IommuGroup
 *   the iommu core a device's users reach → interface IommuCore (Machine implements it)
 *
 * The drivers themselves (struct iommu_ops instances: mock, intel, amd,
 * smmuv3) are drivers.ts's; the machine that creates units and devices is
 * machine.ts's. Both import this file, which imports neither.
 *
 * Public: IommuDomain, IommuInstance, IommuDriver, IommuCap, HwptAllocData,
 * SimDevice, IommuGroup, IommuCore, DeviceCaps, ResvRegion, MOCK_IO_PAGE_SIZE.
 */
import { EINVAL } from '../lib/errno.ts';
import { type DomainConfig, type HwDomain, type HwIommu, hwPgsizeBitmap, minPgsize } from './hw.ts';

// ---- selftest.c's own (not uAPI) sizes; the uAPI values are spec/uapi's ----
export const PAGE_SIZE = 4096;
/** selftest.c (6.12): MOCK_IO_PAGE_SIZE (PAGE_SIZE / 2); 7.3's iommufd_test.h calls it MOCK_PAGE_SIZE. */
export const MOCK_IO_PAGE_SIZE = PAGE_SIZE / 2;

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
    private readonly hwDomain: HwDomain | undefined,
    /** How hwDomain was made (its format decides whether enforce_cache_coherency has a bit to set). */
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

  /** How the hardware domain was made (format, levels, page sizes). */
  get config(): DomainConfig | undefined {
    return this.cfg;
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

  /** iommu_map(): map [iova, iova+size) to pa; 0 or a negative errno, nothing mapped on failure. */
  map(iova: bigint, pa: number, size: number, prot: number): number {
    if (!this.hwDomain) return -EINVAL;
    if (iova < this.apertureStart || iova + BigInt(size) - 1n > this.apertureEnd) return -EINVAL;
    return this.hwDomain.map(Number(iova), pa, size, prot);
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
   * Switch a new, still empty domain to enforce cache coherency: the table
   * writes the format's snoop bit (VT-d SNP, AMD FC) in every PTE from now on,
   * as intel_iommu_enforce_cache_coherency sets PT_FEAT_VTDSS_FORCE_COHERENCE
   * on the domain's own table. Formats without such a bit (Arm: CANWBS
   * masters) need none.
   */
  enforceCoherency(): boolean {
    if (!this.hwDomain || !this.cfg || this.cfg.format === 'mock-sparse') return false;
    if (this.hwDomain.pt && this.hwDomain.pt.countLeaves() > 0) return false;
    if (this.cfg.format === 'vtd-ss' || this.cfg.format === 'amd-v1') this.hwDomain.enforceCacheCoherency();
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
  /** domain->ops->attach_dev: 0 or a negative errno (-EINVAL = incompatible). */
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
// struct device and struct iommu_group, as the iommu core keeps them

/**
 * What a device's users reach of the IOMMU core (drivers/iommu/iommu.c) through
 * it: device_iommu_capable, DMA ownership of its group, the group's domain
 * (attach / replace / detach), and the selftest bus's device removal. The
 * simulated Machine implements it; declared here so that the drivers and the
 * device need not import the machine.
 */
export interface IommuCore {
  capable(dev: SimDevice, cap: IommuCap): boolean;
  claimDmaOwner(dev: SimDevice, owner: unknown): number;
  releaseDmaOwner(dev: SimDevice): void;
  iommuAttachGroup(domain: IommuDomain, g: IommuGroup): number;
  iommuReplaceGroup(g: IommuGroup, domain: IommuDomain): number;
  iommuDetachGroup(g: IommuGroup): void;
  mockDevDestroy(dev: SimDevice): void;
}

/** Per-device capabilities (what device_iommu_capable answers for it). */
export interface DeviceCaps {
  readonly enforceCacheCoherency: boolean;
  readonly dirtyTracking: boolean;
  readonly maxPasidLog2: number;
  readonly noSnoop: boolean;
  readonly hugeIova: boolean;
}

export class SimDevice {
  removed = false;
  /** The machine the device lives in (set on creation): the iommu core it reaches. */
  machine!: IommuCore;
  /** The VFIO device registered for it (vfio_cdev.ts), if any. */
  vfio: unknown = undefined;
  constructor(
    readonly handle: number,
    readonly name: string,
    readonly iommu: IommuInstance,
    readonly group: IommuGroup,
    readonly caps: DeviceCaps,
    /** selftest dev_flags (mock devices), else 0. */
    readonly mockFlags: number,
    /** Device-specific reserved regions (besides the unit's own). */
    readonly ownResv: readonly ResvRegion[],
    readonly isMock: boolean,
  ) {}

  /** iommu_get_resv_regions(dev): the unit's regions plus the device's own. */
  resvRegions(): ResvRegion[] {
    return [...this.iommu.config.resvRegions, ...this.ownResv];
  }
}

export class IommuGroup {
  readonly devices: SimDevice[] = [];
  /** DMA owner (an iommufd_ctx) and owner count (group->owner, group->owner_cnt). */
  owner: unknown = null;
  ownerCnt = 0;
  /** The kernel DMA-API default domain; modelled as translating nothing for user memory. */
  readonly defaultDomain: IommuDomain;
  readonly blockingDomain: IommuDomain;
  domain: IommuDomain;
  constructor(
    readonly id: number,
    readonly iommu: IommuInstance,
  ) {
    this.defaultDomain = new IommuDomain('blocked', iommu.driver, undefined, undefined, false, false, 'default');
    this.blockingDomain = new IommuDomain('blocked', iommu.driver, undefined, undefined, false, false, 'blocked');
    this.domain = this.defaultDomain;
  }
}
