/**
 * What the iommufd files share, as drivers/iommu/iommufd/iommufd_private.h
 * and io_pagetable.h are for the kernel's .c files: the context (struct
 * iommufd_ctx), the ioctl's ucmd, the struct of every object, the
 * io_pagetable structs (struct io_pagetable, iopt_area, iopt_pages), and the
 * helpers the headers make static inline (iommufd_ucmd_respond,
 * iommufd_get_ioas, iommufd_get_device, iommufd_ctx_from_file).
 *
 * Every iommufd module imports this one and none imports main.ts (which
 * imports the handlers), so the files import each other one way:
 *
 *   main ─→ selftest ─→ device ─→ hw_pagetable ─→ group
 *    │        │  └──→ access ──────────┐         │
 *    ├→ ioas ─┴→ vfio_compat    io_pagetable ─→ pages ─→ iommufd_private ─→ object
 *    └→ vfio_cdev (drivers/vfio) ─→ device
 *
 * Objects are plain records of their struct's fields plus the object ops
 * (`destroy`, `abort`) the module that allocates them fills in, as each .c
 * file supplies its entry of main.c's iommufd_object_ops[].
 *
 * Errno convention: see impl/README.md.
 */
import type { Process } from '../process/process.ts';
import type { Machine } from '../platform/machine.ts';
import type { IommuDomain, IommuGroup, SimDevice } from '../platform/iommu.ts';
import type { FaultInjector } from '../lib/fail_nth.ts';
import { EBADFD, EFAULT } from '../lib/errno.ts';
import { KFile } from '../process/file.ts';
import { iommufdGetObject, ObjectTable, type IommufdObject, type Result } from './object.ts';
import type { UcmdStruct } from './ucmd.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';

export type { Profile };

/** ctx->account_mode: IOPT_PAGES_ACCOUNT_USER or _MM (IOMMU_OPTION_RLIMIT_MODE). */
export type AccountMode = 'USER' | 'MM';

// ---- struct iommufd_ctx ------------------------------------------------------------

export class IommufdCtx {
  readonly objects = new ObjectTable();
  /** ctx->account_mode */
  accountMode: AccountMode;
  /** ctx->vfio_ioas: the compat IOAS (no reference held). */
  vfioIoas: IommufdObject | null = null;
  noIommuMode = false;
  /** ctx->groups: the iommufd_group of each iommu_group with a bound device (group.ts). */
  readonly groups = new Map<number, IommufdGroup>();
  /** The struct file of this context (set by iommufd_fops_open). */
  file: KFile | null = null;
  /** Kernel WARN_ONs the reference hit (refcount bugs); empty in a correct run. */
  readonly warnings: string[] = [];
  private machineOrMaker: Machine | (() => Machine);

  constructor(
    /** The process that opened the file; the single task of the model issues every ioctl. */
    readonly proc: Process,
    readonly profile: Profile,
    accountMode: AccountMode,
    /** The simulated machine (IOMMU instances, devices), or a maker called on first use. */
    machine: Machine | (() => Machine),
  ) {
    this.accountMode = accountMode;
    this.machineOrMaker = machine;
  }

  get machine(): Machine {
    if (typeof this.machineOrMaker === 'function') this.machineOrMaker = this.machineOrMaker();
    return this.machineOrMaker;
  }

  /** The calling task's fail-nth injector. */
  get faults(): FaultInjector {
    return this.proc.faults;
  }
}

/** iommufd_ctx_from_file: -EBADFD for a file that is not an iommufd. */
export function iommufdCtxFromFile(file: KFile): Result<IommufdCtx> {
  if (file.kind !== 'iommufd' || !(file.private_data instanceof IommufdCtx)) return { errno: -EBADFD };
  return { errno: 0, value: file.private_data };
}

// ---- struct iommufd_ucmd -------------------------------------------------------------

export interface Ucmd {
  readonly ctx: IommufdCtx;
  /** The user's argument pointer. */
  readonly ubuffer: bigint;
  readonly userSize: number;
  /** The kernel copy of the struct (op->size bytes). */
  readonly cmd: UcmdStruct;
}

/** An IOCTL_OP's handler (op->execute): 0 or a negative errno. */
export type IoctlExecute = (ucmd: Ucmd) => number;

/** iommufd_ucmd_respond: copy min(user size, len) bytes of the struct back (-EFAULT). */
export function iommufdUcmdRespond(ucmd: Ucmd, len: number = ucmd.cmd.layout.size): number {
  const n = Math.min(ucmd.userSize, len);
  return ucmd.ctx.proc.copyToUser(ucmd.ubuffer, ucmd.cmd.bytes.subarray(0, n)) ? 0 : -EFAULT;
}

// ---- io_pagetable.h --------------------------------------------------------------------

/** How an iopt_pages charges its pins (IOPT_PAGES_ACCOUNT_*). */
export type PagesAccountMode = 'NONE' | 'USER' | 'MM';

/** struct iopt_pages_access: an exact [start,last] index range held by accesses. */
export interface IoptPagesAccess {
  readonly start: number;
  readonly last: number;
  users: number;
}

/** One pinned page index: its frame and how many holders need it. */
export interface PinnedPfn {
  readonly pfn: number;
  holders: number;
}

/**
 * struct iopt_pages: the pinned-PFN source behind one IOAS_MAP (shared by the
 * areas IOAS_COPY makes from it). The pinning logic is pages.ts's.
 */
export class IoptPages {
  kref = 1;
  npinned = 0;
  lastNpinned = 0;
  /** index -> pinned frame and its holders (domains_itree and access_itree in one). */
  readonly pinned = new Map<number, PinnedPfn>();
  /** access_itree */
  readonly accesses: IoptPagesAccess[] = [];

  constructor(
    readonly proc: Process,
    /** ALIGN_DOWN(uptr, PAGE_SIZE) */
    readonly uptr: bigint,
    readonly npages: number,
    readonly writable: boolean,
    public accountMode: PagesAccountMode,
  ) {}

  /** The pinned frame of a page index, if pinned. */
  pinnedPfn(index: number): number | undefined {
    return this.pinned.get(index)?.pfn;
  }

  get pinnedCount(): number {
    return this.pinned.size;
  }
}

export const PAGE_SIZE = 4096;
const P = BigInt(PAGE_SIZE);
/** ULONG_MAX on 64-bit (IOVAs and user addresses are unsigned long). */
export const ULONG_MAX = (1n << 64n) - 1n;

/** struct iopt_area: one MAP/COPY piece of an IOAS. */
export class IoptArea {
  /** NULL while the area is being built or torn down. */
  pages: IoptPages | null = null;
  /** The area's pins for the domains (storage_domain != NULL). */
  filled = false;
  numAccesses = 0;
  preventAccess = false;
  /** area->num_locks (7.3): internal accesses (a HW_QUEUE's) lock the area against unmap. */
  numLocks = 0;

  constructor(
    /** area->iopt: the io_pagetable the area is (or is being) inserted in. */
    readonly iopt: IoPagetable,
    public start: bigint,
    public last: bigint,
    /** Byte offset of `start` inside the pages (pages_node.start * P + page_offset). */
    public startByte: bigint,
    public iommuProt: number,
  ) {}

  get length(): bigint {
    return this.last - this.start + 1n;
  }
  get pageOffset(): number {
    return Number(this.startByte % P);
  }
  get firstIndex(): number {
    return Number(this.startByte / P);
  }
  get lastIndex(): number {
    return Number((this.startByte + this.length - 1n) / P);
  }
}

/**
 * What the io_pagetable needs of an iommu_domain: `map` follows iommu_map
 * (0 or a negative errno; nothing left mapped on failure), `unmap`
 * iommu_unmap (bytes unmapped).
 */
export interface IoptDomain {
  readonly pgsizeBitmap: bigint;
  readonly apertureStart: bigint;
  /** geometry.aperture_end (inclusive). */
  readonly apertureEnd: bigint;
  map(iova: bigint, pa: number, size: number, prot: number): number;
  unmap(iova: bigint, size: number): number;
}

/** What the io_pagetable needs of an iommufd_access. */
export interface IoptAccess {
  readonly iovaAlignment: number;
  ioptAccessListId: number;
  /** access->ops->unmap: the driver must unpin everything in the range before returning. */
  notifyUnmap(iova: bigint, length: bigint): void;
}

export interface Range {
  readonly start: bigint;
  readonly last: bigint;
}

export interface ReservedRange extends Range {
  readonly owner: unknown;
}

/** struct io_pagetable: the IOVA space of one IOAS. */
export class IoPagetable {
  /** Sorted by start, disjoint. */
  areas: IoptArea[] = [];
  /** May overlap (several owners). */
  reserved: ReservedRange[] = [];
  /** Sorted, disjoint. */
  allowed: Range[] = [];
  domains: IoptDomain[] = [];
  accessList = new Map<number, IoptAccess>();
  iovaAlignment = 1;
  disableLargePages = false;
  /**
   * Steering seam for a differential oracle (roadmap: conformance suite): when
   * set and it returns an IOVA for an automatic placement, that IOVA is used
   * instead of the first fit if ioptAutoIovaAllowed accepts it (the IOVA the
   * implementation under test chose). Never set by the reference itself.
   */
  steerAutoIova: ((uptr: bigint, length: bigint) => bigint | undefined) | null = null;

  constructor(readonly faults: FaultInjector) {}
}

/** struct iopt_pages_list element. */
export interface PagesListElm {
  pages: IoptPages | null;
  area: IoptArea | null;
  startByte: bigint;
  length: bigint;
}

// ---- the objects ------------------------------------------------------------------------

/** struct iommufd_ioas */
export interface IommufdIoas extends IommufdObject {
  readonly type: 'IOAS';
  readonly iopt: IoPagetable;
  /** ioas->hwpt_list: the paging HWPTs built on this IOAS, in creation order (auto-domain search order). */
  readonly hwptList: IommufdHwptPaging[];
}

/** struct iommufd_hwpt_paging */
export interface IommufdHwptPaging extends IommufdObject {
  readonly type: 'HWPT_PAGING';
  readonly ictx: IommufdCtx;
  readonly ioas: IommufdIoas;
  domain: IommuDomain | null;
  autoDomain: boolean;
  nestParent: boolean;
  enforceCacheCoherency: boolean;
  /** 7.3 IOMMU_HWPT_ALLOC_PASID */
  pasidCompat: boolean;
  msiCookie: boolean;
  /** hwpt->fault (FAULT_ID_VALID), holding a users reference. */
  fault: IommufdObject | null;
  /** On ioas->hwpt_list (and the domain in the iopt). */
  inList: boolean;
}

/** A HWPT of either kind; nested HWPTs join the union with roadmap draft 3. */
export type IommufdHwpt = IommufdHwptPaging;

/** PHYS_ADDR_MAX: no IOMMU_RESV_SW_MSI region seen yet. */
export const PHYS_ADDR_MAX = (1n << 64n) - 1n;

/**
 * struct iommufd_group: the ctx's state of one iommu_group — the HWPT the
 * whole group is attached to and the group's attached devices.
 */
export class IommufdGroup {
  ref = 1;
  /** The HWPT every attached device of the group uses; null = none (blocked). */
  hwpt: IommufdHwpt | null = null;
  /** Attached devices, in attach order (igroup->device_list). */
  readonly deviceList: IommufdDevice[] = [];
  /** Start of the software MSI window (IOMMU_RESV_SW_MSI), for the MSI cookie. */
  swMsiStart = PHYS_ADDR_MAX;
  constructor(
    readonly ictx: IommufdCtx,
    readonly group: IommuGroup,
  ) {}
}

/** struct iommufd_device */
export interface IommufdDevice extends IommufdObject {
  readonly type: 'DEVICE';
  readonly ictx: IommufdCtx;
  readonly dev: SimDevice;
  /** idev->igroup: set once the group is claimed (7.3 allocates the object first). */
  igroup: IommufdGroup;
  enforceCacheCoherency: boolean;
}

// ---- the lookups the header makes static inline -----------------------------------------

/** iommufd_get_ioas: -ENOENT unless `id` is an IOAS. */
export function iommufdGetIoas(ctx: IommufdCtx, id: number): Result<IommufdIoas> {
  return iommufdGetObject<IommufdIoas>(ctx, id, 'IOAS');
}

/** iommufd_get_device: -ENOENT unless `id` is a DEVICE. */
export function iommufdGetDevice(ctx: IommufdCtx, id: number): Result<IommufdDevice> {
  return iommufdGetObject<IommufdDevice>(ctx, id, 'DEVICE');
}

/** iommufd_get_hwpt_paging: -ENOENT unless `id` is a HWPT_PAGING. */
export function iommufdGetHwptPaging(ctx: IommufdCtx, id: number): Result<IommufdHwptPaging> {
  return iommufdGetObject<IommufdHwptPaging>(ctx, id, 'HWPT_PAGING');
}
