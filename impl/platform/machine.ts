/**
 * The simulated machine: IOMMU instances, devices placed in iommu groups at
 * creation (never regrouped), DMA ownership of groups, the group's current
 * domain, and the DMA path from a device through its group's domain and the
 * IOMMU's IOTLB into physical memory.
 *
 * Mirrors drivers/iommu/iommu.c for what iommufd relies on:
 *   iommu_device_claim_dma_owner / iommu_device_release_dma_owner
 *   __iommu_attach_group (iommuAttachGroup), iommu_group_replace_domain
 *   (iommuReplaceGroup), iommu_detach_group (iommuDetachGroup → blocking domain),
 *   iommu_get_resv_regions (deviceResvRegions), device_iommu_capable.
 *
 * Public: class Machine (deviceCreate, deviceRemove, mockDevCreate,
 * mockDevDestroy, dma, translate, iotlb, instances, instanceInfo), SimDevice,
 * IommuGroup, DeviceSpecInput, DmaOutcome, TranslateOutcome.
 */
import type { DmaResult, IommuInstanceInfo, TranslateResult } from '../../spec/contract/types.ts';
import { EBUSY, EINVAL, ENOMEM, EPERM } from '../lib/errno.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { hwCreateDomain, HwPhysMemory, hwIotlbEntries, hwLookup, hwPgsizeBitmap, hwTranslate, minPgsize, permString } from './hw.ts';
import { createAmdDriver, createIntelDriver, createMockDriver, createSmmuV3Driver, type DriverEnv } from './drivers.ts';
import {
  type DeviceCaps,
  type IommuCap,
  type IommuCore,
  IommuDomain,
  type IommuDriver,
  IommuGroup,
  IommuInstance,
  type IommuInstanceConfig,
  MOCK_IO_PAGE_SIZE,
  type ResvRegion,
  SimDevice,
} from './iommu.ts';
import {
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_FLAGS_DEVICE_PASID,
  MOCK_PASID_WIDTH,
} from '../../spec/uapi/constants.ts';

/** The adapter's DeviceSpec, restated here (impl/ does not import the suite). */
export interface DeviceSpecInput {
  readonly iommu: string;
  readonly group?: number;
  readonly pasidWidth?: number;
  readonly dirtyTracking?: boolean;
  readonly enforceCacheCoherency?: boolean;
  readonly noSnoop?: boolean;
  readonly hugeIova?: boolean;
  readonly reservedRegions?: readonly { readonly start: bigint; readonly last: bigint }[];
}

export type DeviceCreateResult =
  | { readonly ok: true; readonly device: number; readonly group: number }
  | { readonly ok: false; readonly field: string; readonly message: string; /** A handle in the spec (group) that was never issued or is gone. */ readonly code?: 'bad-handle' };

/** Where a physical address lands in the calling process's buffers (CORE's reverse map). */
export type ReverseMap = (pa: number) => { readonly buffer: number; readonly offset: number } | undefined;


/** The platform answers in the adapter contract's own shapes. */
export type DmaOutcome = DmaResult;
export type TranslateOutcome = TranslateResult;
export type InstanceInfo = IommuInstanceInfo;

const MSI_X86: ResvRegion = { start: 0xfee00000n, last: 0xfeefffffn, type: 'msi' };
const AMD_HT: ResvRegion = { start: 0xfd00000000n, last: 0xffffffffffn, type: 'reserved' };
const ARM_SW_MSI: ResvRegion = { start: 0x8000000n, last: 0x80fffffn, type: 'sw-msi' };
const SZ_4K = 1n << 12n;
const SZ_2M = 1n << 21n;
const SZ_1G = 1n << 30n;

/** Power-of-two page sizes 2^lo .. 2^hi as a pgsize bitmap. */
function pgsizesFrom(lo: bigint, hi: bigint): bigint {
  let m = 0n;
  for (let b = lo; b <= hi; b++) m |= 1n << b;
  return m;
}
// The units' constants, computed once (a machine is built per conformance case).
// VT-d cap: ND=2, SAGAW=4-level (bit 2), MGAW=48, SLLPS=2M|1G; ecap: C, SC, NEST, PSS=19, PASID, SMTS,
// SLADS, SLTS, SMPWC. Every unit walks its tables coherently (C, SMPWC: iommu_paging_structure_coherency),
// and ssads_supported needs SMPWC besides SLADS.
const VTD_CAP = 2n | (4n << 8n) | (47n << 16n) | (3n << 34n);
const VTD_ECAP = 1n | (1n << 7n) | (1n << 26n) | (19n << 35n) | (1n << 40n) | (1n << 43n) | (1n << 45n) | (1n << 46n) | (1n << 48n);
/** AMD v1: every power-of-two size from 4K (AMD_IOMMU_PGSIZES, bounded to the 48-bit aperture). */
const AMD_V1_PGSIZES = pgsizesFrom(12n, 47n);
/** 7.3 AMDv1-mock: power-of-two sizes from 2 KiB up to the 2^31 aperture. */
const MOCK_AMDV1_PGSIZES = pgsizesFrom(11n, 30n);
/** vtd1: SAGAW=3-level, MGAW=39, SLLPS=2M; no snoop control, no SLADS, no NEST; coherent walks (C, SMPWC). */
const VTD1_REGS: readonly bigint[] = [2n | (2n << 8n) | (38n << 16n) | (1n << 34n), 1n | (1n << 43n) | (1n << 46n) | (1n << 48n)];
const LAST_39 = (1n << 39n) - 1n;
const LAST_48 = (1n << 48n) - 1n;
const LAST_64 = (1n << 64n) - 1n;
const MOCK_APERTURE: readonly [bigint, bigint] = [BigInt(MOCK_APERTURE_START), BigInt(MOCK_APERTURE_LAST)];

/** The machine's IOMMU units for a profile (see impl/platform/README in index.ts). */
function instanceConfigs(profile: Profile, env: DriverEnv): IommuInstanceConfig[] {
  const mock = createMockDriver(profile, env);
  const intel = createIntelDriver(profile, env);
  const amd = createAmdDriver(profile, env);
  const smmu = createSmmuV3Driver(profile, env);
  const vtd0: IommuInstanceConfig = {
    name: 'vtd0',
    driver: intel,
    format: 'vtd-ss',
    domainCfg: { format: 'vtd-ss', levels: 4, pg2M: true, pg1G: true, profile },
    pgsizeBitmap: SZ_4K | SZ_2M | SZ_1G,
    apertureStart: 0n,
    apertureLast: LAST_48,
    enforceCacheCoherency: true,
    dirtyTracking: true,
    nesting: true,
    maxPasidLog2: 20,
    resvRegions: [MSI_X86],
    regs: [VTD_CAP, VTD_ECAP],
  };
  return [
    {
      name: 'mock',
      driver: mock,
      format: profile === '6.12' ? 'mock' : 'amdv1-mock',
      domainCfg: profile === '6.12' ? { format: 'mock-sparse' } : { format: 'mock-amdv1', mockVariant: 'default', profile },
      pgsizeBitmap: profile === '6.12' ? BigInt(MOCK_IO_PAGE_SIZE) : MOCK_AMDV1_PGSIZES,
      apertureStart: MOCK_APERTURE[0],
      apertureLast: MOCK_APERTURE[1],
      enforceCacheCoherency: false,
      dirtyTracking: true,
      nesting: true,
      maxPasidLog2: profile === '7.3' ? MOCK_PASID_WIDTH : 0,
      resvRegions: [],
      regs: [],
    },
    vtd0,
    // A second DMAR unit identical to vtd0: domains move freely between the two
    // (same driver, compatible capabilities) — seed 001's shared page table.
    { ...vtd0, name: 'vtd2' },
    {
      // A VT-d unit without snoop control or SSADS, 39-bit: domains made
      // for vtd0 devices are incompatible with it (coherency / address width).
      name: 'vtd1',
      driver: intel,
      format: 'vtd-ss',
      domainCfg: { format: 'vtd-ss', levels: 3, pg2M: true, pg1G: false, profile },
      pgsizeBitmap: SZ_4K | SZ_2M,
      apertureStart: 0n,
      apertureLast: LAST_39,
      enforceCacheCoherency: false,
      dirtyTracking: false,
      nesting: false,
      maxPasidLog2: 0,
      resvRegions: [MSI_X86],
      regs: VTD1_REGS,
    },
    {
      name: 'amd0',
      driver: amd,
      format: 'amd-v1',
      // AMD v1 grows its top on demand in both profiles (7.3 PT_FEAT_DYNAMIC_TOP from level 2 up to the
      // unit's 48-bit VA; 6.12 increase_address_space from 3 levels, aperture 0..~0 per dma_max_address).
      domainCfg: profile === '6.12' ? { format: 'amd-v1', profile } : { format: 'amd-v1', vasz: 48, profile },
      pgsizeBitmap: AMD_V1_PGSIZES,
      apertureStart: 0n,
      apertureLast: profile === '6.12' ? LAST_64 : LAST_48,
      enforceCacheCoherency: true,
      dirtyTracking: false,
      nesting: false,
      maxPasidLog2: 16,
      resvRegions: [MSI_X86, AMD_HT],
      regs: [0x000000a0_00000000n | 0x0000_0000_0000_2000n, 0n],
    },
    {
      name: 'smmu0',
      driver: smmu,
      format: 'arm-s1-4k',
      domainCfg: { format: 'arm-s1', granule: 4096, ias: 48, oas: 48, profile },
      pgsizeBitmap: SZ_4K | SZ_2M | SZ_1G,
      apertureStart: 0n,
      apertureLast: LAST_48,
      enforceCacheCoherency: false,
      dirtyTracking: false,
      nesting: true,
      maxPasidLog2: 20,
      resvRegions: [ARM_SW_MSI],
      // IDR0..5, IIDR, AIDR
      regs: [0x0a1c_18bfn, 0x0e73_9d5an, 0n, 0x0000_0014n, 0n, 0x0000_0075n, 0x0000_043bn, 0x0000_0002n],
    },
  ];
}

export class Machine implements IommuCore {
  readonly instances = new Map<string, IommuInstance>();
  private readonly devices = new Map<number, SimDevice>();
  private readonly groups = new Map<number, IommuGroup>();
  private nextDevice = 1;
  private nextGroup = 1;
  private mockSeq = 0;
  /** Per unit: hardware tags of the domains its devices have used, with their labels. */
  private readonly usedTags = new Map<string, Map<number, string>>();
  /** Set by the adapter: where a physical address lands in user buffers. */
  reverseMap: ReverseMap = () => undefined;

  constructor(
    readonly profile: Profile,
    /** The one physical memory: page tables (KIND_TABLE) and the user pages DMA lands in (KIND_DATA). */
    readonly memory: HwPhysMemory,
    /** fail_nth hook for fallible steps inside the platform (driver allocations). */
    shouldFail: () => boolean = () => false,
  ) {
    this.env = { shouldFail, mem: memory };
    for (const cfg of instanceConfigs(profile, this.env)) this.instances.set(cfg.name, new IommuInstance(cfg));
  }

  readonly env: DriverEnv;

  /** What each unit offers, read from a probe domain of its format (so it matches the domains made). */
  instanceInfo(): InstanceInfo[] {
    return [...this.instances.values()].map(({ config: c, hw }) => {
      const probe = hwCreateDomain(hw, c.domainCfg);
      let pgsizeBitmap = c.pgsizeBitmap;
      let apertureStart = c.apertureStart;
      let apertureLast = c.apertureLast;
      if (typeof probe !== 'number') {
        pgsizeBitmap = hwPgsizeBitmap(probe);
        apertureStart = BigInt(probe.apertureStart);
        apertureLast = probe.apertureLastBig;
        probe.destroy();
      }
      return {
        name: c.name,
        format: c.format,
        pgsizeBitmap,
        apertureStart,
        apertureLast,
        enforceCacheCoherency: c.enforceCacheCoherency,
        dirtyTracking: c.dirtyTracking,
        maxPasidLog2: c.maxPasidLog2,
        // What iopt_table_enforce_dev_resv_regions reserves for each device behind the unit (not DIRECT_RELAXABLE).
        reservedRegions: c.resvRegions.filter((r) => r.type !== 'direct-relaxable').map((r) => ({ start: r.start, last: r.last })),
        nesting: c.nesting,
      };
    });
  }

  device(handle: number): SimDevice | undefined {
    const d = this.devices.get(handle);
    return d && !d.removed ? d : undefined;
  }

  group(handle: number): IommuGroup | undefined {
    return this.groups.get(handle);
  }

  // ---- device creation (probe) -------------------------------------------

  /**
   * Probe a new device behind `spec.iommu`, in a new group or in the existing
   * group `spec.group` (devices that are not isolated from each other share a
   * group from probe time on; groups never change later).
   */
  deviceCreate(spec: DeviceSpecInput): DeviceCreateResult {
    const inst = this.instances.get(spec.iommu);
    if (!inst) return { ok: false, field: 'spec.iommu', message: `no IOMMU instance named '${spec.iommu}'` };
    const c = inst.config;
    const bad = (field: string, message: string): DeviceCreateResult => ({ ok: false, field: `spec.${field}`, message });
    let mockFlags = 0;
    if (c.driver.name === 'mock') {
      // The selftest mock bus: one device per group, flags exactly the selftest's.
      if (spec.group !== undefined) return bad('group', 'mock devices are single-device groups');
      if (spec.enforceCacheCoherency) return bad('enforceCacheCoherency', 'the mock IOMMU cannot enforce cache coherency');
      if (spec.reservedRegions?.length) return bad('reservedRegions', 'mock devices report no reserved regions');
      if (spec.dirtyTracking === false) mockFlags |= MOCK_FLAGS_DEVICE_NO_DIRTY;
      if (spec.hugeIova) {
        if (this.profile !== '6.12') return bad('hugeIova', 'MOCK_FLAGS_DEVICE_HUGE_IOVA exists only in 6.12');
        mockFlags |= MOCK_FLAGS_DEVICE_HUGE_IOVA;
      }
      if (spec.pasidWidth) {
        if (this.profile !== '7.3' || spec.pasidWidth !== MOCK_PASID_WIDTH) return bad('pasidWidth', `mock PASID devices have width ${MOCK_PASID_WIDTH} (7.3 only)`);
        mockFlags |= MOCK_FLAGS_DEVICE_PASID;
      }
    } else {
      if (spec.hugeIova) return bad('hugeIova', 'hugeIova is a mock device flag');
      if (spec.dirtyTracking && !c.dirtyTracking) return bad('dirtyTracking', `${c.name} has no dirty tracking`);
      // Coherency is a unit property (VT-d ecap.SC), except on SMMUv3 where it is
      // per master (CANWBS in the firmware tables).
      if (spec.enforceCacheCoherency && !c.enforceCacheCoherency && c.driver.name !== 'smmuv3') {
        return bad('enforceCacheCoherency', `${c.name} cannot enforce cache coherency`);
      }
      if (spec.pasidWidth !== undefined && spec.pasidWidth > c.maxPasidLog2) return bad('pasidWidth', `${c.name} supports at most ${c.maxPasidLog2} PASID bits`);
    }
    if (spec.pasidWidth !== undefined && (!Number.isInteger(spec.pasidWidth) || spec.pasidWidth < 0)) return bad('pasidWidth', 'must be a non-negative integer');
    for (const [i, r] of (spec.reservedRegions ?? []).entries()) {
      if (r.start > r.last) return bad(`reservedRegions.${i}`, 'start > last');
    }
    let group: IommuGroup;
    if (spec.group !== undefined) {
      const g = this.groups.get(spec.group);
      // A group handle never issued, or whose devices are all gone: a bad handle (spec/contract/ADAPTER.md §2).
      if (!g || g.devices.length === 0) return { ok: false, field: 'spec.group', message: `no group ${spec.group}`, code: 'bad-handle' };
      if (g.iommu !== inst) return bad('group', `group ${spec.group} is behind ${g.iommu.name}, not ${inst.name}`);
      // A device probed into an owned group would join a group already under
      // user control; the kernel refuses to add devices to a claimed group.
      if (g.ownerCnt > 0) return bad('group', `group ${spec.group} is owned by an iommufd`);
      group = g;
    } else {
      group = new IommuGroup(this.nextGroup++, inst);
      this.groups.set(group.id, group);
    }
    const isMock = c.driver.name === 'mock';
    const caps: DeviceCaps = {
      enforceCacheCoherency: isMock ? false : (spec.enforceCacheCoherency ?? c.enforceCacheCoherency),
      dirtyTracking: isMock ? (mockFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) === 0 : (spec.dirtyTracking ?? c.dirtyTracking),
      maxPasidLog2: isMock ? (mockFlags & MOCK_FLAGS_DEVICE_PASID ? MOCK_PASID_WIDTH : 0) : (spec.pasidWidth ?? 0),
      noSnoop: spec.noSnoop ?? false,
      hugeIova: (mockFlags & MOCK_FLAGS_DEVICE_HUGE_IOVA) !== 0,
    };
    const own = (spec.reservedRegions ?? []).map((r) => ({ start: r.start, last: r.last, type: 'reserved' as const }));
    const handle = this.nextDevice++;
    // Not a selftest mock device (iommufd_selftest_is_mock_dev is false): it is a
    // device on the mock IOMMU bound through VFIO, so bind takes a ctx reference.
    const dev = new SimDevice(handle, `${inst.name}-dev${handle}`, inst, group, caps, mockFlags, own, false);
    dev.machine = this;
    group.devices.push(dev);
    this.devices.set(handle, dev);
    return { ok: true, device: handle, group: group.id };
  }

  /**
   * Hot-unplug. The kernel's vfio_unregister_group_dev waits until every user
   * closes the device file; the simulation refuses instead (caller reports
   * it), so a device held open or registered with KVM cannot go away.
   */
  deviceRemove(handle: number, busy: (dev: SimDevice) => string | undefined): { ok: true } | { ok: false; message: string } {
    const dev = this.device(handle);
    if (!dev) return { ok: false, message: `no device ${handle}` };
    const why = busy(dev);
    if (why) return { ok: false, message: why };
    this.unplug(dev);
    return { ok: true };
  }

  private unplug(dev: SimDevice): void {
    dev.removed = true;
    dev.iommu.hw.attach(dev.handle, null);
    this.devices.delete(dev.handle);
    const g = dev.group;
    g.devices.splice(g.devices.indexOf(dev), 1);
    if (g.devices.length === 0) this.groups.delete(g.id);
  }

  /** mock_dev_create(): a selftest mock device in its own group; EINVAL for unknown flags. */
  mockDevCreate(devFlags: number): { errno: 0; dev: SimDevice } | { errno: number } {
    const valid =
      this.profile === '6.12'
        ? MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_HUGE_IOVA
        : MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_PASID;
    if (devFlags & ~valid) return { errno: -EINVAL };
    if (this.env.shouldFail()) return { errno: -ENOMEM }; // kzalloc
    const inst = this.instances.get('mock');
    if (!inst) return { errno: -EINVAL };
    const group = new IommuGroup(this.nextGroup++, inst);
    this.groups.set(group.id, group);
    const handle = this.nextDevice++;
    const caps: DeviceCaps = {
      enforceCacheCoherency: false,
      dirtyTracking: (devFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) === 0,
      maxPasidLog2: devFlags & MOCK_FLAGS_DEVICE_PASID ? MOCK_PASID_WIDTH : 0,
      noSnoop: false,
      hugeIova: (devFlags & MOCK_FLAGS_DEVICE_HUGE_IOVA) !== 0,
    };
    const dev = new SimDevice(handle, `iommufd_mock${this.mockSeq++}`, inst, group, caps, devFlags, [], true);
    dev.machine = this;
    group.devices.push(dev);
    this.devices.set(handle, dev);
    return { errno: 0, dev };
  }

  /** mock_dev_destroy() */
  mockDevDestroy(dev: SimDevice): void {
    if (!dev.removed) this.unplug(dev);
  }

  // ---- iommu core: capabilities, reserved regions ----------------------------

  /** device_iommu_capable() */
  capable(dev: SimDevice, cap: IommuCap): boolean {
    return dev.iommu.driver.capable(dev, cap);
  }

  /** iommu_get_resv_regions(): the unit's regions plus the device's own. */
  deviceResvRegions(dev: SimDevice): ResvRegion[] {
    return [...dev.iommu.config.resvRegions, ...dev.ownResv];
  }

  // ---- iommu core: DMA ownership ---------------------------------------------

  /** iommu_device_claim_dma_owner(): EPERM if another owner holds the group, EBUSY if it is attached elsewhere. */
  claimDmaOwner(dev: SimDevice, owner: unknown): number {
    const g = dev.group;
    if (g.ownerCnt > 0) {
      if (g.owner !== owner) return -EPERM;
      g.ownerCnt++;
      return 0;
    }
    // __iommu_take_dma_ownership: the group must be in its default domain
    if (g.domain !== g.defaultDomain) return -EBUSY;
    this.setGroupDomain(g, g.blockingDomain);
    g.owner = owner;
    g.ownerCnt = 1;
    return 0;
  }

  /** iommu_device_release_dma_owner() */
  releaseDmaOwner(dev: SimDevice): void {
    const g = dev.group;
    if (g.ownerCnt === 0) return;
    g.ownerCnt--;
    if (g.ownerCnt === 0) {
      g.owner = null;
      this.setGroupDomain(g, g.defaultDomain);
    }
  }

  // ---- iommu core: attaching domains to groups ----------------------------------

  /** Program every device of the group (its stream id = device handle) to use the domain. */
  private setGroupDomain(g: IommuGroup, domain: IommuDomain): void {
    g.domain = domain;
    if (domain.hw) {
      domain.users.add(g.iommu.name);
      let m = this.usedTags.get(g.iommu.name);
      if (!m) this.usedTags.set(g.iommu.name, (m = new Map()));
      m.set(domain.tag, `${domain.format}#${domain.tag}`);
    }
    for (const dev of g.devices) g.iommu.hw.attach(dev.handle, domain.hw ?? null);
  }


  /** Every device of the group accepts the domain (driver attach_dev), owner checked first. */
  private groupAccepts(domain: IommuDomain, g: IommuGroup): number {
    if (domain.owner !== g.iommu.driver) return -EINVAL;
    for (const dev of g.devices) {
      const rc = domain.owner.attachDev(domain, dev);
      if (rc) return rc;
    }
    return 0;
  }

  /**
   * iommu_attach_group_handle() → __iommu_attach_group(): EBUSY if the group is
   * on a non-default/blocking domain; EINVAL for a foreign domain. Not a
   * fallible step: the handle goes into group->pasid_array at IOMMU_NO_PASID
   * (index 0), which an xarray keeps in its head without allocating a node
   * (6.12 and 7.3 iommu.c; the kernel lane's fail-nth sweeps agree).
   */
  iommuAttachGroup(domain: IommuDomain, g: IommuGroup): number {
    if (g.domain !== g.defaultDomain && g.domain !== g.blockingDomain) return -EBUSY;
    const rc = this.groupAccepts(domain, g);
    if (rc) return rc;
    this.setGroupDomain(g, domain);
    return 0;
  }

  /**
   * iommu_replace_group_handle(): all or nothing; the old domain stays on
   * failure. Not a fallible step either: xa_reserve at index 0, which the old
   * handle already occupies, allocates nothing (order.replace_fail_nth shows
   * one ENOMEM, the iommufd handle's, on linux-7.3).
   */
  iommuReplaceGroup(g: IommuGroup, domain: IommuDomain): number {
    const rc = this.groupAccepts(domain, g);
    if (rc) return rc;
    this.setGroupDomain(g, domain);
    return 0;
  }

  /** iommu_detach_group(): back to the blocking domain while owned. */
  iommuDetachGroup(g: IommuGroup): void {
    this.setGroupDomain(g, g.ownerCnt > 0 ? g.blockingDomain : g.defaultDomain);
  }

  // ---- DMA --------------------------------------------------------------------

  /**
   * A device access of `length` bytes at `iova` through its group's domain and
   * its IOMMU (IOTLB, then table walk) into physical memory. All pages are
   * translated before any byte moves, so a faulting access has no effect
   * (a choice: real DMA may complete partially before the fault).
   */
  dma(handle: number, iova: bigint, dir: 'read' | 'write', data: Uint8Array | undefined, length: number, pasid?: number): DmaOutcome | undefined {
    const dev = this.device(handle);
    if (!dev) return undefined;
    const domain = dev.group.domain;
    // PASID-tagged DMA needs a PASID attachment, which this issue does not provide.
    if (pasid !== undefined || domain.type !== 'paging' || !domain.hw) return { ok: false, fault: 'blocked' };
    const len = dir === 'write' ? (data?.length ?? 0) : length;
    if (len === 0) return { ok: true, ...(dir === 'read' ? { data: new Uint8Array(0) } : {}), touched: [] };
    if (iova < 0n || iova + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, fault: 'unmapped' };
    const start = Number(iova);
    const granule = Math.min(2048, minPgsize(domain.pgsizeBitmap));
    const pieces: { pa: number; off: number; n: number }[] = [];
    let off = 0;
    while (off < len) {
      const cur = start + off;
      const n = Math.min(granule - (cur % granule), len - off);
      const t = hwTranslate(dev.iommu.hw, dev.handle, cur, dir === 'write');
      if (!t.ok) return { ok: false, fault: t.fault };
      pieces.push({ pa: t.pa, off, n });
      off += n;
    }
    const out = dir === 'read' ? new Uint8Array(len) : undefined;
    for (const p of pieces) {
      if (out) out.set(this.memory.u8.subarray(p.pa, p.pa + p.n), p.off);
      else if (data) this.memory.u8.set(data.subarray(p.off, p.off + p.n), p.pa);
    }
    return { ok: true, ...(out ? { data: out } : {}), touched: this.touched(pieces) };
  }

  private touched(pieces: readonly { pa: number; n: number }[]): { buffer: number; offset: number; length: number }[] {
    const res: { buffer: number; offset: number; length: number }[] = [];
    for (const p of pieces) {
      let done = 0;
      while (done < p.n) {
        const pa = p.pa + done;
        const step = Math.min(4096 - (pa % 4096), p.n - done);
        const where = this.reverseMap(pa);
        done += step;
        if (!where) continue;
        const last = res[res.length - 1];
        if (last && last.buffer === where.buffer && last.offset + last.length === where.offset) last.length += step;
        else res.push({ buffer: where.buffer, offset: where.offset, length: step });
      }
    }
    return res;
  }

  /** Where `iova` lands for the device (a table walk that fills no cache). */
  translate(handle: number, iova: bigint, pasid?: number): TranslateOutcome | undefined {
    const dev = this.device(handle);
    if (!dev) return undefined;
    const domain = dev.group.domain;
    if (pasid !== undefined || !domain.hw || iova < 0n || iova > BigInt(Number.MAX_SAFE_INTEGER)) return { mapped: false };
    const leaf = hwLookup(domain.hw, Number(iova));
    if (!leaf) return { mapped: false };
    const where = this.reverseMap(leaf.pa);
    return { mapped: true, ...(where ? { buffer: where.buffer, offset: where.offset } : {}), read: leaf.read, write: leaf.write };
  }

  /**
   * The unit's IOTLB contents: the driver's cache model, restricted to the
   * domains this unit's devices have used (compatible units share the model).
   */
  iotlb(name: string): { tag: string; iova: bigint; pa: bigint; size: number; perm: string }[] | undefined {
    const inst = this.instances.get(name);
    if (!inst) return undefined;
    const tags = this.usedTags.get(name) ?? new Map<number, string>();
    return hwIotlbEntries(inst.hw)
      .filter((e) => tags.has(e.tag))
      .map((e) => ({ tag: tags.get(e.tag) ?? `#${e.tag}`, iova: BigInt(e.iova), pa: BigInt(e.pa), size: e.size, perm: e.perm }));
  }

}

export { permString };

export type { IommuDriver };
