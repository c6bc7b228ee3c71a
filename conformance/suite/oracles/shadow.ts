/**
 * The semantic shadow: what the iommufd uAPI says the state is after the
 * requests an implementation answered, built from each request and the
 * implementation's own answer (never from the reference's internals). The
 * invariants oracle probes the implementation's observations against it.
 *
 * Only successful requests change it, by the effect the uAPI documents
 * (include/uapi/linux/iommufd.h, Documentation/userspace-api/iommufd.rst,
 * linux/vfio.h); a failed request changes nothing, except the documented
 * non-atomic cases, whose range becomes uncertain (either state is allowed
 * there). Everything is in the implementation's namespace: its fds, object
 * ids, buffer/device/VM handles.
 */
import type { Capabilities, IoctlResult, Request, Response, StructValue } from '../../../spec/contract/types.ts';
import { TEST_OPS } from '../../../spec/uapi/commands.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_DATA_SELFTEST, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_DEVICE_NO_DIRTY, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { commandByName, enumValue } from '../../../spec/uapi/lookup.ts';
import { offsetofend, requireLayout, type LayoutNode } from '../../../spec/uapi/layout.ts';
import { decodeStruct } from '../../../spec/abi/codec.ts';
import { isPointerArg } from '../../../spec/contract/wire.ts';
import { errnoName } from '../../../spec/uapi/errno.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { contains, decodeRanges, overlaps, PAGE, rangeOf, toBig, toNum, U64_MAX, type Range } from '../ranges.ts';

// ---------------------------------------------------------------- records

/** Pinned pages followed per page set at most (16 GiB of 4 KiB pages, past any buffer an adapter maps). */
const MAX_TRACKED_PINS = 1 << 22;

export interface BufferRec {
  readonly handle: number;
  readonly va: bigint;
  readonly length: number;
}

/** One MAP (or VFIO MAP_DMA): the pinned-page source an area maps (struct iopt_pages).
 * IOAS_COPY shares its source's page sets (pages.c: pinned and accounted once). */
export interface PageSet {
  readonly id: number;
  /** The user VA the mapping started at. */
  readonly va: bigint;
  readonly length: bigint;
  /** Charged to mm->locked_vm (MM accounting, no CAP_IPC_LOCK at map time). */
  readonly lockedVm: boolean;
  /** Charged to the user's locked_vm (user accounting, the default, no CAP_IPC_LOCK at map time). */
  readonly userLockedVm: boolean;
  /** A writable mapping: its pages are pinned for writing (iopt_pages.writable, FOLL_WRITE). */
  readonly writable: boolean;
}

/** A piece of an area: IOVA [start, last] maps the page set from byte `psOff`. */
export interface Segment {
  readonly start: bigint;
  readonly last: bigint;
  readonly ps: PageSet;
  readonly psOff: bigint;
  readonly read: boolean;
  readonly write: boolean;
  /** Each MAP/COPY creates one area; UNMAP removes whole areas (no splitting). */
  readonly area: number;
  /** After a failed non-atomic unmap: may or may not still be mapped. */
  readonly uncertain: boolean;
}

export type ObjType = 'ioas' | 'hwpt_paging' | 'hwpt_nested' | 'device' | 'access' | 'selftest' | 'other';

export interface IoasObj {
  readonly type: 'ioas';
  readonly id: number;
  segs: Segment[];
  allowed: Range[];
  reserved: Range[];
  /**
   * Large IOPTEs allowed (iopt.disable_large_pages clear): IOMMU_OPTION
   * HUGE_PAGES and VFIO_SET_IOMMU TYPE1 (v1) turn them off, and only then
   * may a type1 unmap cut a mapping.
   */
  largePages: boolean;
  /**
   * A domain the shadow does not follow may hold it (a PASID attached to it
   * builds an automatic HWPT the uAPI does not report): its reserved tree
   * is then not known exactly, only in part.
   */
  domainsUnknown: boolean;
}

export interface HwptObj {
  readonly type: 'hwpt_paging' | 'hwpt_nested';
  readonly id: number;
  readonly ioas: number | undefined;
  readonly auto: boolean;
  /** Allocated for a device whose IOMMU enforces cache coherency (hw_pagetable.c:
   * iommufd_hwpt_paging_alloc switches such a domain to enforcing before any map). */
  readonly enforcing: boolean;
  /** A domain of the selftest's mock unit: IOMMU_TEST_OP_MD_CHECK_MAP reads it (selftest.c get_md_pagetable refuses any other). */
  readonly mock: boolean;
  /** A paging domain's aperture (its unit's geometry), reserved around in its IOAS; undefined: unit not known. */
  readonly aperture?: Range;
  /** Its smallest IO page (1 << __ffs(pgsize_bitmap)): the IOVA alignment it imposes on its IOAS; known with the aperture. */
  readonly minPage?: bigint;
  /** Its domain's pgsize_bitmap (its unit's, as reported); known with the aperture, but for the selftest's mock domains. */
  readonly pgsizes?: bigint;
  readonly parent?: number;
  /** The unit its domain was allocated for (the device of an attach by IOAS id, HWPT_ALLOC's dev_id); undefined: not known. */
  readonly unit?: string;
  /** Allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING: its domain has dirty ops, which a device that cannot track refuses. */
  readonly dirtyTracking?: boolean;
  /**
   * A VT-d second-stage nesting parent: every IOPTE must be writable
   * (ERRATA_772415_SPR17; 7.3 PT_FEAT_VTDSS_FORCE_WRITEABLE, 6.12
   * __domain_mapping's nested_parent test), so a read-only area cannot be
   * mapped into it (EINVAL).
   */
  readonly refusesReadOnly?: boolean;
  /**
   * Allocated with IOMMU_HWPT_ALLOC_NEST_PARENT: a second-stage table (VT-d second stage, SMMUv3
   * stage 2); false for any other IOMMU_HWPT_ALLOC, undefined where no HWPT_ALLOC made it.
   */
  readonly nestParent?: boolean;
  /**
   * A 7.3 mock domain of the MOCK_IOMMUPT_HUGE table (IOMMU_HWPT_DATA_SELFTEST
   * data): its pgsize_bitmap is 1 MiB | 4 KiB, so its smallest page is
   * PAGE_SIZE, not the 2 KiB mock page, and MD_CHECK_MAP refuses what is
   * aligned to less (iommufd_test_md_check_pa).
   */
  readonly mockHuge?: boolean;
  readonly devices: Set<DeviceRec>;
  readonly children: Set<number>;
}

export interface DeviceObj {
  readonly type: 'device';
  readonly id: number;
  readonly dev: DeviceRec;
}

export interface AccessObj {
  readonly type: 'access';
  /** The access has no id the uAPI shows; keyed by its file. */
  readonly id: number;
  ioas: number | undefined;
  readonly items: Map<number, Range>;
  readonly file: FileRec;
  /** The IOVA alignment it imposes on its IOAS (iommufd_access_create: PAGE_SIZE when it pins pages, else 1). */
  readonly alignment: bigint;
}

export interface SelftestObj {
  readonly type: 'selftest';
  readonly id: number;
  readonly dev: DeviceRec;
}

export interface OtherObj {
  readonly type: 'other';
  readonly id: number;
}

export type Obj = IoasObj | HwptObj | DeviceObj | AccessObj | SelftestObj | OtherObj;

export interface CtxRec {
  readonly no: number;
  readonly file: FileRec;
  readonly objects: Map<number, Obj>;
  /** Ids that existed and were destroyed (and not reused since). */
  readonly dead: Set<number>;
  accountMM: boolean;
  compatIoas: number | undefined;
  compatType: number | undefined;
  /** Device bindings and accesses hold the context's file (VFIO_BIND.CTX_REFERENCE). */
  holders: number;
  alive: boolean;
}

export interface DeviceRec {
  readonly key: string;
  /** The environment's device handle (device_create), absent for mock devices. */
  readonly handle?: number;
  readonly group: string;
  readonly iommu: string;
  /** Its IOMMU enforces cache coherency for it (IOMMU_CAP_ENFORCE_CACHE_COHERENCY). */
  readonly capable: boolean;
  /** Whether the IOMMU's page table records read/write permissions. */
  readonly permissions: boolean;
  /** The context it is bound to, its device object id, and the file that bound it (its release unbinds). */
  bound: { ctx: CtxRec; id: number; file?: FileRec } | undefined;
  /** The HWPT id it is attached to, in its bound context. */
  hwpt: number | undefined;
  /** Open VFIO device file, if any. */
  file: FileRec | undefined;
  removed: boolean;
  readonly mock: boolean;
  /** Its reserved IOVA regions (device_create's reservedRegions and its unit's): kept out of any IOAS it is attached to. */
  readonly reserved: readonly Range[];
  /** A PASID of it was attached once (7.3): its RID attachments must then take PASID-compatible HWPTs. */
  pasid?: boolean;
  /** A selftest mock device's MOCK_FLAGS_DEVICE_* (IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS' dev_flags; 0 for MOCK_DOMAIN). */
  readonly mockFlags?: number;
  /** Whether its IOMMU tracks dirty pages for it (IOMMU_CAP_DIRTY_TRACKING; a mock device's MOCK_FLAGS_DEVICE_NO_DIRTY clear); undefined: not known. */
  readonly dirty?: boolean;
  /** An environment device's PASID bits (device_create's pasidWidth, 0 without): ilog2 of its max_pasids. */
  readonly pasidWidth?: number;
}

export interface FileRec {
  readonly no: number;
  readonly kind: 'iommufd' | 'device' | 'access' | 'other';
  fdOpen: boolean;
  /** References held by KVM VMs. */
  kvmRefs: number;
  ctx?: CtxRec;
  device?: DeviceRec;
  access?: AccessObj;
}

export interface VmRec {
  readonly handle: number;
  readonly files: FileRec[];
  /**
   * The WBINVD state the last successful ADD or DEL derived: whether some
   * registered file's device cannot have coherency enforced
   * (virt/kvm/vfio.c kvm_vfio_update_coherency walks every file on each ADD
   * and DEL; kvm_vfio_file_enforced_coherent asks the device's IOMMU for
   * IOMMU_CAP_ENFORCE_CACHE_COHERENCY). False for a new VM (x86's
   * noncoherent_dma_count starts at 0, and nothing but the kvm-vfio device
   * registers non-coherent DMA here); undefined while a registered file's
   * device is unknown or gone.
   */
  noncoherent?: boolean;
}

export interface IommuInfo {
  readonly name: string;
  readonly format: string;
  readonly enforceCacheCoherency: boolean;
  readonly dirtyTracking: boolean;
  readonly aperture: Range;
  /** The smallest page of its paging domains (the lowest bit of pgsize_bitmap; 0: none reported). */
  readonly minPage: bigint;
  /** Its paging domains' pgsize_bitmap. */
  readonly pgsizes: bigint;
  readonly reservedRegions?: readonly { readonly start: bigint; readonly last: bigint }[];
}

/**
 * Page-table formats whose leaves keep no permission bits: the 6.12 selftest
 * mock domain is an xarray of PFNs (drivers/iommu/iommufd/selftest.c:
 * mock_domain_map_pages stores only the PFN and START/LAST markers), so a
 * device behind it is not confined to the mapping's permission.
 */
const FORMATS_WITHOUT_PERMISSIONS = new Set(['mock']);

function isOk(res: Response): boolean {
  if (!res.ok) return false;
  const r = res.result as { ret?: number; errno?: number; fd?: number };
  if (typeof r.ret === 'number') return r.ret >= 0 && (r.errno ?? 0) === 0;
  if (typeof r.fd === 'number') return r.fd >= 0 && (r.errno ?? 0) === 0;
  return true;
}

/** Per profile and command: an extensible struct's size and top-level members (null: not extensible). */
const extensibleCache = new Map<string, { readonly size: number; readonly fields: readonly LayoutNode[] } | null>();

function extensibleLayout(profile: Profile, cmd: string): { readonly size: number; readonly fields: readonly LayoutNode[] } | null {
  const key = `${profile}:${cmd}`;
  let hit = extensibleCache.get(key);
  if (hit === undefined) {
    const def = commandByName(profile, cmd);
    const layout = def?.struct && def.arg === 'extensible' ? requireLayout(profile, def.struct) : undefined;
    extensibleCache.set(key, (hit = layout ? { size: layout.size, fields: layout.root.fields } : null));
  }
  return hit;
}

/**
 * The struct an ioctl's handler sees: an older caller's extensible struct,
 * shorter than the kernel's, reads as 0 past its size
 * (copy_struct_from_user zero-fills the rest), whatever the caller's memory
 * holds there.
 */
export function kernelFields(profile: Profile, req: Request): StructValue | undefined {
  if (req.op !== 'ioctl' || req.arg.kind !== 'struct') return undefined;
  const v = req.arg.fields;
  const size = v['size'];
  if (size === undefined || typeof req.cmd !== 'string') return v;
  const layout = extensibleLayout(profile, req.cmd);
  const n = toNum(size);
  if (!layout || n >= layout.size) return v;
  const seen: Record<string, StructValue[string]> = { ...v };
  for (const f of layout.fields) if (f.offset + f.size > n && f.name in seen) seen[f.name] = 0;
  return seen;
}

function member(v: StructValue | undefined, name: string): StructValue {
  const m = v?.[name];
  return typeof m === 'object' && m !== null && !Array.isArray(m) && !(m instanceof Uint8Array) && !('data' in m) && !('room' in m) ? (m as StructValue) : {};
}

const TEST_OP_NAME = new Map<number, string>(TEST_OPS.map((o) => [o.value, o.name]));

/** The range a VFIO_IOMMU_UNMAP_DMA names: everything with VFIO_DMA_UNMAP_FLAG_ALL (iova 0, size 0), else [iova, iova+size). */
export function compatUnmapRange(v: StructValue): Range | undefined {
  return (toNum(v['flags']) & VFIO_DMA_UNMAP_FLAG_ALL) !== 0 ? { start: 0n, last: U64_MAX } : rangeOf(toBig(v['iova']), toBig(v['size']));
}

export class Shadow {
  readonly buffers = new Map<number, BufferRec>();
  /**
   * User VA ranges that mem_unmap took away. What an area pinned there stays
   * pinned (pins outlive munmap) but is no buffer page any more, and a later
   * mmap may hand the VA to another buffer whose pages nothing pinned: which
   * frame a VA means is then unknown here, so buffer-page checks of these
   * VAs are left open instead of guessed.
   */
  private readonly goneVa: { readonly first: bigint; readonly last: bigint }[] = [];
  /**
   * The exception: pages of a page set pinned when mem_unmap took their VA,
   * and pinned ever since (page index from the page of `ps.va` → the buffer
   * page it was). A pin holds the page (mm/gup.c, GUP_PIN_COUNTING_BIAS), so
   * the device still reaches that buffer page's bytes through the page set's
   * areas until nothing pins it; then the frame is freed, and a later pin of
   * the VA finds other memory or none.
   */
  private readonly keptFrames = new Map<PageSet, Map<number, { readonly buffer: number; readonly offset: number }>>();
  /** Open fds → files. */
  readonly fds = new Map<number, FileRec>();
  /** Every fd number the case was handed (open, open_device, fds in out fields), closed or not. */
  readonly seenFds = new Set<number>();
  readonly ctxs: CtxRec[] = [];
  readonly devices = new Map<string, DeviceRec>();
  /** Groups one of whose devices a bind succeeded for (their DMA ownership was claimed). */
  readonly boundGroups = new Set<string>();
  readonly vms = new Map<number, VmRec>();
  pagesets: PageSet[] = [];
  /** Set when a request could not be interpreted (e.g. a raw ioctl argument): completeness checks stop. */
  lost: string | undefined;
  capIpcLock = true;
  /** RLIMIT_MEMLOCK in pages (task_rlimit >> PAGE_SHIFT); null: unlimited, the fresh process's (ADAPTER.md §1). */
  rlimitPages: number | null = null;
  private nextNo = 1;
  private nextArea = 1;
  /** pinnedPages per page set, for the state since the last apply(). */
  private readonly pinnedMemo = new Map<PageSet, Set<number>>();
  /** liveDevices, likewise. */
  private liveMemo: DeviceRec[] | undefined;
  /** apply() is updating the state: the memos do not hold. */
  private applying = false;
  private readonly iommus: Map<string, IommuInfo>;
  private readonly map: { fixed: number; write: number; read: number };

  constructor(
    readonly profile: Profile,
    caps: Capabilities,
    /** The adapter's CAP_IPC_LOCK at session start (ADAPTER.md §3.2: defaults are the adapter's). */
    initialCapIpcLock = true,
  ) {
    this.iommus = new Map(caps.iommus.map((i) => [i.name, { name: i.name, format: i.format, enforceCacheCoherency: i.enforceCacheCoherency, dirtyTracking: i.dirtyTracking, aperture: { start: i.apertureStart, last: i.apertureLast }, minPage: i.pgsizeBitmap & -i.pgsizeBitmap, pgsizes: i.pgsizeBitmap, ...(i.reservedRegions && { reservedRegions: i.reservedRegions }) }]));
    this.capIpcLock = initialCapIpcLock;
    this.map = {
      fixed: enumValue(profile, 'IOMMU_IOAS_MAP_FIXED_IOVA') ?? 1,
      write: enumValue(profile, 'IOMMU_IOAS_MAP_WRITEABLE') ?? 2,
      read: enumValue(profile, 'IOMMU_IOAS_MAP_READABLE') ?? 4,
    };
  }

  // ------------------------------------------------------------ queries

  ctxOfFd(fd: number): CtxRec | undefined {
    const f = this.fds.get(fd);
    return f?.kind === 'iommufd' ? f.ctx : undefined;
  }

  obj(ctx: CtxRec | undefined, id: unknown): Obj | undefined {
    return ctx?.objects.get(toNum(id));
  }

  ioas(ctx: CtxRec | undefined, id: unknown): IoasObj | undefined {
    const o = this.obj(ctx, id);
    return o?.type === 'ioas' ? o : undefined;
  }

  /** The IOAS a device's DMA goes through (its HWPT's IOAS), if it is attached to a paging HWPT. */
  deviceIoas(d: DeviceRec): { ctx: CtxRec; ioas: IoasObj; hwpt: HwptObj } | undefined {
    if (!d.bound || d.hwpt === undefined) return undefined;
    const h = d.bound.ctx.objects.get(d.hwpt);
    if (!h || h.type !== 'hwpt_paging' || h.ioas === undefined) return undefined;
    const ioas = this.ioas(d.bound.ctx, h.ioas);
    return ioas ? { ctx: d.bound.ctx, ioas, hwpt: h } : undefined;
  }

  /**
   * The IOAS a device's reserved regions are held in while it is attached
   * (iommufd_hw_pagetable_attach reserves them in find_hwpt_paging's IOAS:
   * the HWPT's own, or a nested HWPT's parent's).
   */
  reservingIoas(d: DeviceRec): IoasObj | undefined {
    if (!d.bound || d.hwpt === undefined) return undefined;
    let h = d.bound.ctx.objects.get(d.hwpt);
    if (h?.type === 'hwpt_nested' && h.parent !== undefined) h = d.bound.ctx.objects.get(h.parent);
    return h?.type === 'hwpt_paging' ? this.ioas(d.bound.ctx, h.ioas) : undefined;
  }

  /** Whether some paging domain of the IOAS refuses read-only IOPTEs (`refusesReadOnly`). */
  refusesReadOnly(ctx: CtxRec, ioasId: number): boolean {
    for (const o of ctx.objects.values()) if (o.type === 'hwpt_paging' && o.ioas === ioasId && o.refusesReadOnly) return true;
    return false;
  }

  /** Whether some paging domain holds the IOAS's areas (pins them). */
  hasDomain(ctx: CtxRec, ioasId: number): boolean {
    for (const o of ctx.objects.values()) if (o.type === 'hwpt_paging' && o.ioas === ioasId) return true;
    return false;
  }

  /**
   * A type1 v1 unmap's cuts (iommufd_vfio_unmap_dma: the range's last IOVA,
   * then the one before its start; iopt_cut_iova) whose first real split —
   * inside an area, not at its first or last IOVA — falls inside a page:
   * iopt_area_split refuses it (EINVAL: the alignment is at least PAGE_SIZE
   * with large pages off) before anything is cut or unmapped.
   */
  firstCutOffPage(ioas: IoasObj, r: Range): boolean {
    if (ioas.segs.some((x) => x.uncertain)) return false;
    for (const cut of r.start === 0n ? [r.last] : [r.last, r.start - 1n]) {
      const seg = this.segmentAt(ioas, cut);
      if (!seg) continue;
      const same = (x: Segment | undefined): x is Segment => x !== undefined && x.area === seg.area;
      const atStart = cut === 0n || !same(this.segmentAt(ioas, cut - 1n));
      const atEnd = cut === U64_MAX || !same(this.segmentAt(ioas, cut + 1n));
      if (atStart || atEnd) continue;
      return (cut + 1n) % PAGE !== 0n;
    }
    return false;
  }

  segmentAt(ioas: IoasObj, iova: bigint): Segment | undefined {
    for (const s of ioas.segs) if (s.start <= iova && iova <= s.last) return s;
    return undefined;
  }

  bufferOfVa(va: bigint): { buffer: BufferRec; offset: number } | undefined {
    if (this.vaGone(va, va)) return undefined;
    for (const b of this.buffers.values()) {
      if (va >= b.va && va < b.va + BigInt(b.length)) return { buffer: b, offset: Number(va - b.va) };
    }
    return undefined;
  }

  /**
   * Whether [va, va+length) lies in one buffer the process still maps, none
   * of it ever taken away or made read-only or inaccessible: pin_user_pages
   * cannot fault there, for reading or writing.
   */
  userRangeSound(va: bigint, length: bigint): boolean {
    const last = va + length - 1n;
    if (length <= 0n || this.vaGone(va, last)) return false;
    let inside = false;
    for (const b of this.buffers.values()) if (va >= b.va && last < b.va + BigInt(b.length)) inside = true;
    if (!inside) return false;
    if (this.readOnlyPages.size === 0) return true;
    for (let p = Number(va / PAGE); p <= Number(last / PAGE); p++) if (this.readOnlyPages.has(p)) return false;
    return true;
  }

  /** Whether mem_unmap ever took away part of [first, last]. */
  vaGone(first: bigint, last: bigint): boolean {
    return this.goneVa.some((g) => g.first <= last && first <= g.last);
  }

  /** The buffer byte a page set's VA whose user mapping is gone still holds, if its frame stayed pinned since (keptFrames). */
  keptFrame(ps: PageSet, va: bigint): { buffer: number; offset: number } | undefined {
    const f = this.keptFrames.get(ps)?.get(Number(va / PAGE - ps.va / PAGE));
    return f && { buffer: f.buffer, offset: f.offset + Number(va % PAGE) };
  }

  /** Whether a buffer page (its offset, page-aligned) is a kept frame of some page set. */
  keepsBufferPage(buffer: number, offset: number): boolean {
    for (const m of this.keptFrames.values()) for (const f of m.values()) if (f.buffer === buffer && f.offset === offset) return true;
    return false;
  }

  /** mem_unmap of [first, last]: the pinned pages of every page set there become kept frames. */
  private keepPinnedFrames(first: bigint, last: bigint): void {
    for (const ps of this.pagesets) {
      if (ps.va > last || ps.va + ps.length <= first || this.uncertainPageSet(ps)) continue;
      const base = ps.va / PAGE;
      let kept = this.keptFrames.get(ps);
      for (const i of this.pinnedPages(ps)) {
        const va = (base + BigInt(i)) * PAGE;
        const at = va >= first && va <= last ? this.bufferOfVa(va) : undefined; // undefined too where the VA was already gone
        if (!at) continue;
        if (!kept) this.keptFrames.set(ps, (kept = new Map()));
        kept.set(i, { buffer: at.buffer.handle, offset: at.offset });
      }
    }
  }

  /** After a step: a kept frame nothing pins any more is freed (or the shadow no longer knows its pins). */
  private pruneKeptFrames(): void {
    for (const [ps, kept] of this.keptFrames) {
      if (!this.pagesets.includes(ps) || this.uncertainPageSet(ps)) {
        this.keptFrames.delete(ps);
        continue;
      }
      const pinned = this.pinnedPages(ps);
      for (const i of kept.keys()) if (!pinned.has(i)) kept.delete(i);
      if (kept.size === 0) this.keptFrames.delete(ps);
    }
  }

  /** Every page index (relative to the page of `ps.va`) pinned in a page set. */
  pinnedPages(ps: PageSet): Set<number> {
    // Probes ask this many times per step (every pin_count and process_info); the answer changes only with apply().
    const hit = this.applying ? undefined : this.pinnedMemo.get(ps);
    if (hit !== undefined) return hit;
    const out = new Set<number>();
    const base = ps.va / PAGE;
    const addRange = (off: bigint, len: bigint): void => {
      const first = Number((ps.va + off) / PAGE - base);
      const last = Number((ps.va + off + len - 1n) / PAGE - base);
      // More pages than any memory holds come only from an implementation that accepted an
      // impossible mapping: the count stops there (and disagrees with what it reports) rather
      // than the suite running out of Set.
      for (let i = first; i <= last && out.size < MAX_TRACKED_PINS; i++) out.add(i);
    };
    for (const ctx of this.ctxs) {
      if (!ctx.alive) continue;
      for (const o of ctx.objects.values()) {
        if (o.type !== 'ioas') continue;
        const filled = this.hasDomain(ctx, o.id);
        const accesses = [...ctx.objects.values()].filter((a): a is AccessObj => a.type === 'access' && a.ioas === o.id);
        for (const s of o.segs) {
          if (s.ps !== ps) continue;
          if (filled) addRange(s.psOff, s.last - s.start + 1n);
          for (const a of accesses) {
            for (const item of a.items.values()) {
              if (!overlaps(item, s)) continue;
              const lo = item.start > s.start ? item.start : s.start;
              const hi = item.last < s.last ? item.last : s.last;
              addRange(s.psOff + (lo - s.start), hi - lo + 1n);
            }
          }
        }
      }
    }
    if (!this.applying) this.pinnedMemo.set(ps, out);
    return out;
  }

  /** Whether any segment of a page set is uncertain (its pins are then open). */
  uncertainPageSet(ps: PageSet): boolean {
    for (const ctx of this.ctxs) {
      if (!ctx.alive) continue;
      for (const o of ctx.objects.values()) if (o.type === 'ioas' && o.segs.some((s) => s.ps === ps && s.uncertain)) return true;
    }
    return false;
  }

  /** Expected pin count of each page of a buffer range, or undefined where it is open. */
  expectedPins(buffer: BufferRec, offset: number, length: number): (number | undefined)[] {
    const firstVaPage = (buffer.va + BigInt(offset)) / PAGE;
    const lastVaPage = (buffer.va + BigInt(offset + Math.max(length, 1) - 1)) / PAGE;
    const out: (number | undefined)[] = [];
    // Only the page sets that reach the pages asked about.
    const pinned = this.pagesets
      .filter((ps) => ps.va / PAGE <= lastVaPage && (ps.va + ps.length - 1n) / PAGE >= firstVaPage)
      .map((ps) => ({ ps, pages: this.pinnedPages(ps), open: this.uncertainPageSet(ps) }));
    for (let p = firstVaPage; p <= lastVaPage; p++) {
      let n = 0;
      let open = false;
      for (const { ps, pages, open: psOpen } of pinned) {
        const idx = Number(p - ps.va / PAGE);
        const spans = p >= ps.va / PAGE && p <= (ps.va + ps.length - 1n) / PAGE;
        if (!spans) continue;
        if (psOpen) open = true;
        if (pages.has(idx)) n++;
      }
      out.push(open || this.vaGone(p * PAGE, p * PAGE + PAGE - 1n) ? undefined : n);
    }
    return out;
  }

  /**
   * Pages charged against RLIMIT_MEMLOCK, per account mode (pages.c
   * iopt_pages_update_pinned): to the user's locked_vm and to mm->locked_vm;
   * undefined when open.
   */
  memlockCharges(): { user: number; mm: number } | undefined {
    let user = 0;
    let mm = 0;
    for (const ps of this.pagesets) {
      if (!ps.userLockedVm && !ps.lockedVm) continue;
      if (this.uncertainPageSet(ps)) return undefined;
      const n = this.pinnedPages(ps).size;
      if (ps.userLockedVm) user += n;
      else mm += n;
    }
    return { user, mm };
  }

  /** Pages pinned in total (mm->pinned_vm) and charged to mm->locked_vm, or undefined when open. */
  expectedVm(): { pinned: number; locked: number } | undefined {
    let pinned = 0;
    let locked = 0;
    for (const ps of this.pagesets) {
      if (this.uncertainPageSet(ps)) return undefined;
      const n = this.pinnedPages(ps).size;
      pinned += n;
      if (ps.lockedVm) locked += n;
    }
    return { pinned, locked };
  }

  /**
   * User pages the process cannot write (mem_alloc read-only, mem_protect to
   * r or none), as VA page numbers: what a pin for writing must refuse. Empty
   * in most cases, so the checks that read it cost nothing there.
   */
  readonly readOnlyPages = new Set<number>();

  private protect(va: bigint, length: bigint, writable: boolean): void {
    const first = Number(va / PAGE);
    const last = Number((va + length - 1n) / PAGE);
    for (let p = first; p <= last; p++) {
      if (writable) this.readOnlyPages.delete(p);
      else this.readOnlyPages.add(p);
    }
  }

  /** An IOMMU unit of the capability report, by name. */
  unit(name: string): IommuInfo | undefined {
    return this.iommus.get(name);
  }

  /** The devices not removed (the same array until the next apply(): do not change it). */
  liveDevices(): readonly DeviceRec[] {
    if (this.applying) return [...this.devices.values()].filter((d) => !d.removed);
    this.liveMemo ??= [...this.devices.values()].filter((d) => !d.removed);
    return this.liveMemo;
  }

  // ------------------------------------------------------------ updates

  private newCtx(file: FileRec, mm: boolean): CtxRec {
    const ctx: CtxRec = { no: this.nextNo++, file, objects: new Map(), dead: new Set(), accountMM: mm, compatIoas: undefined, compatType: undefined, holders: 0, alive: true };
    this.ctxs.push(ctx);
    return ctx;
  }

  private newFile(kind: FileRec['kind']): FileRec {
    return { no: this.nextNo++, kind, fdOpen: true, kvmRefs: 0 };
  }

  private addObj(ctx: CtxRec, o: Obj): void {
    ctx.objects.set(o.id, o);
    ctx.dead.delete(o.id);
  }

  private removeObj(ctx: CtxRec, id: number): void {
    const o = ctx.objects.get(id);
    if (!o) return;
    ctx.objects.delete(id);
    ctx.dead.add(id);
    if (o.type === 'hwpt_paging' || o.type === 'hwpt_nested') {
      if (o.parent !== undefined) {
        const p = ctx.objects.get(o.parent);
        if (p && (p.type === 'hwpt_paging' || p.type === 'hwpt_nested')) p.children.delete(id);
      }
    }
    if (o.type === 'ioas' && ctx.compatIoas === id) ctx.compatIoas = undefined;
    this.gcPagesets();
  }

  /** Forgets page sets no area references any more (unpinned, unaccounted). */
  private gcPagesets(): void {
    const used = new Set<PageSet>();
    for (const ctx of this.ctxs) {
      if (!ctx.alive) continue;
      for (const o of ctx.objects.values()) if (o.type === 'ioas') for (const s of o.segs) used.add(s.ps);
    }
    this.pagesets = this.pagesets.filter((ps) => used.has(ps));
  }

  /** Detach a device from its HWPT; an automatic HWPT goes with its last device. */
  private detach(d: DeviceRec): void {
    if (!d.bound || d.hwpt === undefined) return;
    const ctx = d.bound.ctx;
    const h = ctx.objects.get(d.hwpt);
    d.hwpt = undefined;
    if (h && (h.type === 'hwpt_paging' || h.type === 'hwpt_nested')) {
      h.devices.delete(d);
      if (h.auto && h.devices.size === 0) this.removeObj(ctx, h.id);
    }
  }

  /** A unit the capabilities report that is not the selftest's mock unit: its domains are no mock domains. */
  knownNonMockUnit(unit: string | undefined): boolean {
    const info = unit === undefined ? undefined : this.iommus.get(unit);
    return info !== undefined && !info.format.includes('mock');
  }

  /** Behind the selftest's mock unit, whose domains are mock domains. */
  private onMockUnit(d: DeviceRec): boolean {
    return d.mock || (this.iommus.get(d.iommu)?.format.includes('mock') ?? false);
  }

  private attach(d: DeviceRec, hwptId: number): void {
    if (!d.bound) return;
    const ctx = d.bound.ctx;
    const h = ctx.objects.get(hwptId);
    if (!h || (h.type !== 'hwpt_paging' && h.type !== 'hwpt_nested')) {
      d.hwpt = hwptId;
      return;
    }
    h.devices.add(d);
    d.hwpt = hwptId;
  }

  /** A new paging domain's geometry for a device: its aperture and smallest page, when its unit reported them. */
  private geometry(d: DeviceRec): { aperture?: Range; minPage?: bigint; pgsizes?: bigint } {
    const u = this.iommus.get(d.iommu);
    if (!u) return {};
    return { aperture: u.aperture, ...(u.minPage > 0n && { minPage: u.minPage, ...(this.pgsizesOf(u, d) !== undefined && { pgsizes: this.pgsizesOf(u, d) }) }) };
  }

  /**
   * A new paging domain's page sizes: the unit's bitmap; for a 6.12 mock
   * domain (mock_domain_alloc_paging) MOCK_IO_PAGE_SIZE, the unit's smallest,
   * and with MOCK_FLAGS_DEVICE_HUGE_IOVA MOCK_HUGE_PAGE_SIZE, 512 of them. 7.3
   * mock domains take theirs from the page-table type asked for
   * (MOCK_IOMMUPT_*): left unknown.
   */
  private pgsizesOf(u: IommuInfo, d: DeviceRec): bigint | undefined {
    if (!u.format.includes('mock')) return u.pgsizes;
    const huge = enumValue(this.profile, 'MOCK_FLAGS_DEVICE_HUGE_IOVA');
    if (huge === undefined || d.mockFlags === undefined) return undefined;
    return (d.mockFlags & huge) !== 0 ? u.minPage | (512n * u.minPage) : u.minPage;
  }

  /** Attach (or replace) a device, or for a replace of an attached device, its whole group (device.c: iommufd_device_do_replace). */
  private attachGroup(d: DeviceRec, hwptId: number, ctx: CtxRec, newAuto: { ioas: number; enforcing: boolean } | undefined): void {
    if (newAuto && !ctx.objects.has(hwptId)) {
      this.addObj(ctx, { type: 'hwpt_paging', id: hwptId, ioas: newAuto.ioas, auto: true, enforcing: newAuto.enforcing, mock: this.onMockUnit(d), ...this.geometry(d), unit: d.iommu, devices: new Set(), children: new Set() });
    }
    const replace = d.hwpt !== undefined;
    const movers = replace ? this.liveDevices().filter((x) => x.group === d.group && x.bound?.ctx === ctx && x.hwpt !== undefined) : [d];
    if (!movers.includes(d)) movers.push(d);
    for (const m of movers) {
      if (m.hwpt === hwptId) continue;
      this.detach(m);
      this.attach(m, hwptId);
    }
  }

  /**
   * vfio_df_ioctl_attach_pt's out_detach: the attach went through, then the
   * device alone is detached. A replace moved its whole group first
   * (iommufd_device_do_replace), and the rest of the group stays where it
   * went: on the HWPT named, or on an automatic domain of the IOAS named,
   * whose id was never answered (the shadow loses track).
   */
  private attachUndone(d: DeviceRec, ptId: number): void {
    const ctx = d.bound?.ctx;
    const others = ctx && d.hwpt !== undefined ? this.liveDevices().filter((x) => x !== d && x.group === d.group && x.bound?.ctx === ctx && x.hwpt !== undefined) : [];
    if (ctx && others.length) {
      const to = ctx.objects.get(ptId);
      if (to?.type === 'hwpt_paging' || to?.type === 'hwpt_nested') this.attachGroup(d, ptId, ctx, undefined);
      else this.lost = `an attach by IOAS id replacing a group's HWPT failed to copy back its pt_id (EFAULT): the group's other devices stay on an automatic domain whose id was never answered`;
    }
    this.detach(d);
  }

  private unbind(d: DeviceRec): void {
    if (!d.bound) return;
    const ctx = d.bound.ctx;
    this.detach(d);
    this.removeObj(ctx, d.bound.id);
    d.bound = undefined;
    if (!d.mock) {
      ctx.holders--;
      this.maybeReleaseCtx(ctx);
    }
  }

  private maybeReleaseFile(f: FileRec): void {
    if (f.fdOpen || f.kvmRefs > 0) return;
    if (f.kind === 'device' && f.device) {
      const d = f.device;
      if (d.file === f) d.file = undefined;
      if (d.bound?.file === f) this.unbind(d);
    } else if (f.kind === 'access' && f.access) {
      const a = f.access;
      const ctx = this.ctxs.find((c) => [...c.objects.values()].includes(a));
      if (ctx) {
        ctx.objects.delete(a.id);
        ctx.holders--;
        this.gcPagesets();
        this.maybeReleaseCtx(ctx);
      }
    } else if (f.kind === 'iommufd' && f.ctx) {
      this.maybeReleaseCtx(f.ctx);
    } else if (f.kind === 'other' && f.ctx) {
      f.ctx.holders--;
      this.maybeReleaseCtx(f.ctx);
    }
  }

  /**
   * An fd a command returned in an `out_*_fd` member (IOMMU_FAULT_QUEUE_ALLOC's
   * out_fault_fd, IOMMU_VEVENTQ_ALLOC's out_veventq_fd, …) is a file that holds
   * the context (iommufd_fault_init / iommufd_veventq_alloc take
   * iommufd_ctx_get): the context's objects, and their pins, stay until it is
   * closed too. The end-of-case sweep closes it with the rest.
   */
  private trackReturnedFds(ctx: CtxRec, out: StructValue): void {
    const walk = (v: unknown, key: string): void => {
      if (typeof v === 'number' && key.startsWith('out_') && key.endsWith('_fd')) {
        if (v < 0 || this.fds.has(v)) return;
        const file = this.newFile('other');
        file.ctx = ctx;
        ctx.holders++;
        this.holdFd(v, file);
      } else if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && typeof v !== 'bigint') {
        for (const [k, x] of Object.entries(v)) walk(x, k);
      }
    };
    walk(out, '');
  }

  /** iommufd_fops_release: once the file is gone and nothing holds the context, every object goes. */
  private maybeReleaseCtx(ctx: CtxRec): void {
    if (!ctx.alive || ctx.file.fdOpen || ctx.file.kvmRefs > 0 || ctx.holders > 0) return;
    ctx.alive = false;
    for (const d of this.devices.values()) {
      if (d.bound?.ctx === ctx) {
        d.bound = undefined;
        d.hwpt = undefined;
        if (d.mock) d.removed = true;
      }
    }
    ctx.objects.clear();
    this.gcPagesets();
  }

  private pageset(va: bigint, length: bigint, ctx: CtxRec, writable: boolean): PageSet {
    const ps: PageSet = { id: this.nextNo++, va, length, lockedVm: !this.capIpcLock && ctx.accountMM, userLockedVm: !this.capIpcLock && !ctx.accountMM, writable };
    this.pagesets.push(ps);
    return ps;
  }

  /**
   * Remove what lies in [r] from an IOAS (accesses are told to unpin what
   * overlaps); after a failed unmap, mark what it may have removed uncertain
   * instead: the segments it covers whole, or (a type1 unmap, which cuts at
   * both ends first) every one it overlaps.
   */
  private unmapRange(ctx: CtxRec, ioas: IoasObj, r: Range, uncertain: false | 'covered' | 'overlapping' = false): void {
    const out: Segment[] = [];
    for (const s of ioas.segs) {
      if (!overlaps(s, r) || (uncertain === 'covered' && (s.start < r.start || s.last > r.last))) {
        out.push(s);
        continue;
      }
      if (uncertain) {
        out.push({ ...s, uncertain: true });
        continue;
      }
      if (s.start < r.start) out.push({ ...s, last: r.start - 1n });
      if (s.last > r.last) out.push({ ...s, start: r.last + 1n, psOff: s.psOff + (r.last + 1n - s.start) });
    }
    ioas.segs = out;
    if (!uncertain) this.forgetAccessItems(ctx, ioas, r);
    this.gcPagesets();
  }

  /**
   * An IOAS_UNMAP of [r] that failed with ENOENT (io_pagetable.c
   * iopt_unmap_iova_range): the walk goes up from r's start through the
   * areas the range meets, telling each one's accesses to unpin it and
   * removing it whole, and stops at the first area the range cuts — at once
   * when that is the lowest. (Any other refusal on the way, a locked area or
   * one being unmapped, is EBUSY.) False, with nothing changed, where the
   * shadow cannot follow: part of the range is uncertain, or no area there
   * is cut. Each segment is one kernel area: a COPY makes an area of each
   * piece (iopt_get_pages lists one element per source area, iopt_map_pages
   * allocates an area per element), and a type1 cut splits the area it cuts.
   */
  private unmapUntilCut(ctx: CtxRec, ioas: IoasObj, r: Range): boolean {
    const met = ioas.segs.filter((s) => overlaps(s, r)); // sorted by start
    if (met.some((s) => s.uncertain)) return false;
    const cut = met.findIndex((s) => s.start < r.start || s.last > r.last);
    if (cut < 0) return false;
    for (const s of met.slice(0, cut)) this.unmapRange(ctx, ioas, s);
    return true;
  }

  /** The accesses of an IOAS were told to unpin [r] (iommufd_access_notify_unmap): their items there are gone. */
  private forgetAccessItems(ctx: CtxRec, ioas: IoasObj, r: Range): void {
    for (const o of ctx.objects.values()) {
      if (o.type !== 'access' || o.ioas !== ioas.id) continue;
      for (const [k, item] of o.items) if (overlaps(item, r)) o.items.delete(k);
    }
  }

  private addArea(ctx: CtxRec, ioas: IoasObj, iova: bigint, length: bigint, pieces: readonly { ps: PageSet; psOff: bigint; len: bigint }[], read: boolean, write: boolean): void {
    // A new area never overlaps a live one (iopt_check_iova: EEXIST; the
    // allocator skips them): an area a failed (non-atomic) unmap left
    // uncertain and that overlaps it was unmapped — whole, as
    // iopt_unmap_iova_range removes areas, after telling the accesses to
    // unpin what they held in it.
    const r = rangeOf(iova, length);
    const gone = new Set(r ? ioas.segs.filter((s) => s.uncertain && overlaps(s, r)).map((s) => s.area) : []);
    if (gone.size > 0) {
      const dropped = (s: Segment): boolean => s.uncertain && gone.has(s.area);
      for (const s of ioas.segs) if (dropped(s)) this.forgetAccessItems(ctx, ioas, s);
      ioas.segs = ioas.segs.filter((s) => !dropped(s));
    }
    const area = this.nextArea++;
    let at = iova;
    for (const p of pieces) {
      ioas.segs.push({ start: at, last: at + p.len - 1n, ps: p.ps, psOff: p.psOff, read, write, area, uncertain: false });
      at += p.len;
    }
    ioas.segs.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    if (gone.size > 0) this.gcPagesets(); // after the new area holds its page set
  }

  /** The page-set pieces that back [iova, iova+length) of an IOAS, if fully covered. */
  piecesOf(ioas: IoasObj, iova: bigint, length: bigint): { ps: PageSet; psOff: bigint; len: bigint }[] | undefined {
    const r = rangeOf(iova, length);
    if (!r) return undefined;
    const out: { ps: PageSet; psOff: bigint; len: bigint }[] = [];
    let at = r.start;
    while (at <= r.last) {
      const s = this.segmentAt(ioas, at);
      if (!s) return undefined;
      const end = s.last < r.last ? s.last : r.last;
      out.push({ ps: s.ps, psOff: s.psOff + (at - s.start), len: end - at + 1n });
      if (end === U64_MAX) break;
      at = end + 1n;
    }
    return out;
  }

  /** Applies one answered request. */
  apply(req: Request, res: Response): void {
    // The queries' memos describe the state before; the update asks some of them half-way and must see
    // its own changes, so they are not used while it runs, and dropped once it is done.
    this.applying = true;
    try {
      this.applyResult(req, res);
      if (this.keptFrames.size > 0) this.pruneKeptFrames();
    } finally {
      this.applying = false;
      this.pinnedMemo.clear();
      this.liveMemo = undefined;
    }
  }

  private applyResult(req: Request, res: Response): void {
    if (!res.ok) return;
    const ok = isOk(res);
    const r = res.result as unknown as Record<string, unknown>;
    switch (req.op) {
      case 'mem_alloc': {
        const b = res.result as { buffer: number; va: bigint; length: number };
        this.buffers.set(b.buffer, { handle: b.buffer, va: b.va, length: b.length });
        // A VA mem_unmap freed may come back writable.
        if (req.prot === 'r' || this.readOnlyPages.size > 0) this.protect(b.va, BigInt(b.length), req.prot !== 'r');
        return;
      }
      case 'mem_protect': {
        const b = this.buffers.get(req.buffer);
        if (b && req.length > 0) this.protect(b.va + BigInt(req.offset), BigInt(req.length), req.prot === 'rw');
        return;
      }
      case 'mem_unmap': {
        const b = this.buffers.get(req.buffer);
        if (!b || req.length <= 0) return;
        const first = b.va + BigInt(req.offset);
        const last = b.va + BigInt(req.offset + req.length - 1);
        this.keepPinnedFrames(first, last);
        this.goneVa.push({ first, last });
        return;
      }
      case 'set_process':
        if (req.capIpcLock !== undefined) this.capIpcLock = req.capIpcLock;
        if (req.rlimitMemlock !== undefined) this.rlimitPages = req.rlimitMemlock === null ? null : Number(req.rlimitMemlock >> 12n);
        return;
      case 'device_create': {
        const c = res.result as { device: number; group: number };
        const info = this.iommus.get(req.spec.iommu);
        const capable = info?.format.startsWith('mock') ? false : (req.spec.enforceCacheCoherency ?? info?.enforceCacheCoherency ?? false);
        this.devices.set(`env:${c.device}`, {
          key: `env:${c.device}`,
          handle: c.device,
          group: `g:${c.group}`,
          iommu: req.spec.iommu,
          capable,
          permissions: !FORMATS_WITHOUT_PERMISSIONS.has(info?.format ?? ''),
          bound: undefined,
          hwpt: undefined,
          file: undefined,
          removed: false,
          mock: false,
          // Its own regions and its unit's (an MSI window): the IOAS it attaches to keeps both out of reach.
          reserved: [...(req.spec.reservedRegions ?? []), ...(info?.reservedRegions ?? [])].map((r) => ({ start: r.start, last: r.last })),
          dirty: req.spec.dirtyTracking ?? info?.dirtyTracking,
          pasidWidth: req.spec.pasidWidth ?? 0,
        });
        return;
      }
      case 'device_remove': {
        const d = this.devices.get(`env:${req.device}`);
        if (d) d.removed = true;
        return;
      }
      case 'open': {
        if (!ok) return;
        const fd = r['fd'] as number;
        const f = this.newFile('iommufd');
        f.ctx = this.newCtx(f, req.node === 'vfio');
        this.holdFd(fd, f);
        return;
      }
      case 'open_device': {
        if (!ok) return;
        const fd = r['fd'] as number;
        const d = this.devices.get(`env:${req.device}`);
        const f = this.newFile('device');
        if (d) {
          f.device = d;
          d.file = f;
        }
        this.holdFd(fd, f);
        return;
      }
      case 'close': {
        if (!ok) return;
        const f = this.fds.get(req.fd);
        if (!f) return;
        this.fds.delete(req.fd);
        f.fdOpen = false;
        this.maybeReleaseFile(f);
        return;
      }
      case 'kvm_create':
        if (!ok) return;
        this.vms.set(r['vm'] as number, { handle: r['vm'] as number, files: [], noncoherent: false });
        return;
      case 'kvm_destroy': {
        const vm = this.vms.get(req.vm);
        if (!vm) return;
        this.vms.delete(req.vm);
        for (const f of vm.files) {
          f.kvmRefs--;
          this.maybeReleaseFile(f);
        }
        return;
      }
      case 'kvm_vfio_add': {
        if (!ok) return;
        const vm = this.vms.get(req.vm);
        const f = this.fds.get(req.fd);
        if (vm && f && !vm.files.includes(f)) {
          vm.files.push(f);
          f.kvmRefs++;
        }
        if (vm) this.deriveCoherency(vm);
        return;
      }
      case 'kvm_vfio_del': {
        if (!ok) return;
        const vm = this.vms.get(req.vm);
        const f = this.fds.get(req.fd);
        if (vm && f) {
          const i = vm.files.indexOf(f);
          if (i >= 0) {
            vm.files.splice(i, 1);
            f.kvmRefs--;
            this.maybeReleaseFile(f);
          }
        }
        if (vm) this.deriveCoherency(vm);
        return;
      }
      case 'ioctl':
        this.applyIoctl(req, res.result as IoctlResult, ok);
        return;
      default:
        return;
    }
  }

  /** kvm_vfio_update_coherency: non-coherent while any registered file's device is not enforced coherent. */
  private deriveCoherency(vm: VmRec): void {
    if (vm.files.some((f) => !f.device || f.device.removed)) {
      vm.noncoherent = undefined;
      return;
    }
    vm.noncoherent = vm.files.some((f) => !(f.device as DeviceRec).capable);
  }

  private applyIoctl(req: Extract<Request, { op: 'ioctl' }>, res: IoctlResult, ok: boolean): void {
    const cmd = typeof req.cmd === 'string' ? req.cmd : undefined;
    const f = this.fds.get(req.fd);
    if (!cmd || !f) return;
    const v = kernelFields(this.profile, req);
    if (!v) {
      // An integer argument is the whole of what the command takes (VFIO_SET_IOMMU's type,
      // VFIO_CHECK_EXTENSION's extension); raw bytes may be any struct.
      if (req.arg.kind === 'int' && f.kind === 'iommufd' && f.ctx && ok && cmd === 'VFIO_SET_IOMMU') {
        f.ctx.compatType = Number(req.arg.value);
        // iommufd_vfio_set_iommu: type1 (v1) unmaps inside mappings, so its IOAS maps no large IOPTEs.
        const ioas = f.ctx.compatType === enumValue(this.profile, 'VFIO_TYPE1_IOMMU') ? this.ioas(f.ctx, f.ctx.compatIoas) : undefined;
        if (ioas) ioas.largePages = false;
      }
      else if (req.arg.kind === 'raw' && ok) this.lost = `raw ${cmd} argument: the shadow cannot follow it`;
      return;
    }
    const out = (res.out ?? {}) as StructValue;
    if (f.kind === 'device') {
      // CommandDef.answerFault 'detaches': an attach whose pt_id cannot be copied back leaves the
      // device detached, whatever it was attached to (vfio_df_ioctl_attach_pt's out_detach).
      if (!ok && cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' && req.arg.kind === 'struct' && req.arg.readOnly && errnoName(res.errno) === 'EFAULT' && f.device?.bound?.file === f) this.attachUndone(f.device, toNum(v['pt_id']));
      this.applyDeviceIoctl(f, cmd, v, out, ok);
      return;
    }
    const ctx = f.kind === 'iommufd' ? f.ctx : undefined;
    if (!ctx) return;
    // (IOMMU_TEST_CMD's access fd is followed by its own case below.)
    if (ok && cmd !== 'IOMMU_TEST_CMD') this.trackReturnedFds(ctx, out);
    // Non-atomic failures: the range a failed unmap covered becomes uncertain.
    if (!ok) {
      if (cmd === 'IOMMU_IOAS_UNMAP') {
        const ioas = this.ioas(ctx, v['ioas_id']);
        const iova = toBig(v['iova']);
        const length = toBig(v['length']);
        const r = iova === 0n && length === U64_MAX ? { start: 0n, last: U64_MAX } : rangeOf(iova, length);
        // iopt_unmap_iova_range removes only areas the range covers whole (one it cuts is ENOENT when
        // reached): an area that reaches past either end stays, whatever happened before the failure.
        // An ENOENT says exactly which went, where the shadow knows every area the range meets.
        if (ioas && r && (errnoName(res.errno) !== 'ENOENT' || !this.unmapUntilCut(ctx, ioas, r))) this.unmapRange(ctx, ioas, r, 'covered');
      } else if (cmd === 'VFIO_IOMMU_UNMAP_DMA' && ctx.compatIoas !== undefined) {
        const ioas = this.ioas(ctx, ctx.compatIoas);
        const r = compatUnmapRange(v);
        if (!ioas || !r) return;
        // iommufd_vfio_unmap_dma: with large pages on (type1v2) it is iopt_unmap_iova, as IOAS_UNMAP.
        // With them off (type1) it first cuts the areas at both ends (iopt_cut_iova), so every area
        // the range meets lies inside it — but for one starting at the range's last IOVA, which
        // iopt_area_split leaves whole (a cut at an area's first IOVA is a no-op) and the walk, going
        // up, reaches last, after removing the rest: ENOENT. Areas start on pages then (the IOAS
        // alignment is at least PAGE_SIZE with large pages off), so with the last IOVA inside a page
        // ENOENT says the range met nothing; otherwise, as after a failure midway, any of it may be gone.
        if (ioas.largePages) this.unmapRange(ctx, ioas, r, 'covered');
        else if (errnoName(res.errno) === 'EINVAL' && this.firstCutOffPage(ioas, r)) return;
        else if (errnoName(res.errno) !== 'ENOENT' || r.last % PAGE === 0n) this.unmapRange(ctx, ioas, r, 'overlapping');
      }
      return;
    }
    switch (cmd) {
      case 'IOMMU_IOAS_ALLOC':
        this.addObj(ctx, { type: 'ioas', id: toNum(out['out_ioas_id']), segs: [], allowed: [], reserved: [], largePages: true, domainsUnknown: false });
        return;
      case 'IOMMU_DESTROY':
        this.destroy(ctx, toNum(v['id']));
        return;
      case 'IOMMU_IOAS_ALLOW_IOVAS': {
        const ioas = this.ioas(ctx, v['ioas_id']);
        if (!ioas) return;
        const n = toNum(v['num_iovas']);
        const p = v['allowed_iovas'];
        const bytes = typeof p === 'object' && p !== null && 'data' in p ? (p as { data: Uint8Array }).data : new Uint8Array(0);
        ioas.allowed = n === 0 ? [] : decodeRanges(bytes, n);
        return;
      }
      case 'IOMMU_IOAS_MAP': {
        const ioas = this.ioas(ctx, v['ioas_id']);
        if (!ioas) return;
        const flags = toNum(v['flags']);
        const iova = toBig(out['iova'] ?? v['iova']);
        const length = toBig(v['length']);
        const ps = this.pageset(toBig(v['user_va']), length, ctx, (flags & this.map.write) !== 0);
        this.addArea(ctx, ioas, iova, length, [{ ps, psOff: 0n, len: length }], (flags & this.map.read) !== 0, (flags & this.map.write) !== 0);
        return;
      }
      case 'IOMMU_IOAS_COPY': {
        const src = this.ioas(ctx, v['src_ioas_id']);
        const dst = this.ioas(ctx, v['dst_ioas_id']);
        if (!src || !dst) return;
        const flags = toNum(v['flags']);
        const length = toBig(v['length']);
        const srcIova = this.copySrcIova(src, v);
        const pieces = srcIova === undefined ? undefined : this.piecesOf(src, srcIova, length);
        if (!pieces) {
          this.lost = 'IOAS_COPY succeeded from a range the shadow does not have mapped';
          return;
        }
        this.addArea(ctx, dst, toBig(out['dst_iova'] ?? v['dst_iova']), length, pieces, (flags & this.map.read) !== 0, (flags & this.map.write) !== 0);
        return;
      }
      case 'IOMMU_IOAS_UNMAP': {
        const ioas = this.ioas(ctx, v['ioas_id']);
        if (!ioas) return;
        const iova = toBig(v['iova']);
        const length = toBig(v['length']);
        const r = iova === 0n && length === U64_MAX ? { start: 0n, last: U64_MAX } : rangeOf(iova, length);
        if (r) this.unmapRange(ctx, ioas, r, false);
        return;
      }
      case 'IOMMU_OPTION': {
        const RLIMIT_MODE = enumValue(this.profile, 'IOMMU_OPTION_RLIMIT_MODE');
        const SET = enumValue(this.profile, 'IOMMU_OPTION_OP_SET');
        if (toNum(v['op']) !== SET) return;
        if (toNum(v['option_id']) === RLIMIT_MODE) ctx.accountMM = toBig(v['val64']) === 1n;
        const ioas = toNum(v['option_id']) === enumValue(this.profile, 'IOMMU_OPTION_HUGE_PAGES') ? this.ioas(ctx, v['object_id']) : undefined;
        if (ioas) ioas.largePages = toBig(v['val64']) !== 0n;
        return;
      }
      case 'IOMMU_VFIO_IOAS': {
        const op = toNum(v['op']);
        if (op === enumValue(this.profile, 'IOMMU_VFIO_IOAS_SET')) ctx.compatIoas = toNum(v['ioas_id']);
        else if (op === enumValue(this.profile, 'IOMMU_VFIO_IOAS_CLEAR')) ctx.compatIoas = undefined;
        return;
      }
      case 'IOMMU_HWPT_ALLOC': {
        const dev = this.obj(ctx, v['dev_id']);
        const pt = this.obj(ctx, v['pt_id']);
        const id = toNum(out['out_hwpt_id']);
        const capable = dev?.type === 'device' ? dev.dev.capable : false;
        if (pt?.type === 'ioas') {
          // User data may choose another page table, with its own aperture (the 7.3 selftest's MOCK_IOMMUPT_HUGE).
          const geometry = dev?.type === 'device' && toNum(v['data_type'] ?? 0) === 0 ? this.geometry(dev.dev) : {};
          const flags = toNum(v['flags']);
          const refusesReadOnly = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0 && this.iommus.get(dev?.type === 'device' ? dev.dev.iommu : '')?.format === 'vtd-ss';
          const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
          const unit = dev?.type === 'device' && toNum(v['data_type'] ?? 0) === 0 ? { unit: dev.dev.iommu, dirtyTracking: (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0, ...(refusesReadOnly && { refusesReadOnly }) } : {};
          const mock = dev?.type === 'device' && this.onMockUnit(dev.dev);
          const huge = enumValue(this.profile, 'MOCK_IOMMUPT_HUGE');
          const mockHuge = mock && huge !== undefined && this.selftestPagetable(v) === huge;
          this.addObj(ctx, { type: 'hwpt_paging', id, ioas: pt.id, auto: false, enforcing: capable, mock, ...geometry, ...unit, nestParent, ...(mockHuge && { mockHuge }), devices: new Set(), children: new Set() });
        } else if (pt && (pt.type === 'hwpt_paging' || pt.type === 'hwpt_nested')) {
          this.addObj(ctx, { type: 'hwpt_nested', id, ioas: undefined, auto: false, enforcing: false, mock: false, parent: pt.id, devices: new Set(), children: new Set() });
          pt.children.add(id);
        } else {
          this.addObj(ctx, { type: 'other', id });
        }
        return;
      }
      case 'VFIO_IOMMU_MAP_DMA': {
        const ioas = this.ioas(ctx, ctx.compatIoas);
        if (!ioas) return;
        const flags = toNum(v['flags']);
        const length = toBig(v['size']);
        const ps = this.pageset(toBig(v['vaddr']), length, ctx, (flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0);
        // vfio_compat.c: iommufd_vfio_map_dma: VFIO_DMA_MAP_FLAG_READ → IOMMU_READ, _WRITE → IOMMU_WRITE.
        this.addArea(ctx, ioas, toBig(v['iova']), length, [{ ps, psOff: 0n, len: length }], (flags & VFIO_DMA_MAP_FLAG_READ) !== 0, (flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0);
        return;
      }
      case 'VFIO_IOMMU_UNMAP_DMA': {
        const ioas = this.ioas(ctx, ctx.compatIoas);
        if (!ioas) return;
        const r = compatUnmapRange(v);
        if (r) this.unmapRange(ctx, ioas, r, false);
        return;
      }
      case 'IOMMU_TEST_CMD':
        this.applyTestCmd(ctx, v, out);
        return;
      default:
        // An allocation the shadow does not model (a fault queue, a vIOMMU, a
        // vDEVICE, an event or HW queue): the ids it reports name live objects,
        // and any it takes without reporting (a HW queue's internal access, a
        // vDEVICE's tombstone) may be one the shadow knew as destroyed.
        if (cmd.endsWith('_ALLOC')) {
          for (const [k, x] of Object.entries(out)) if (k.startsWith('out_') && k.endsWith('_id') && toNum(x) !== 0) this.addObj(ctx, { type: 'other', id: toNum(x) });
          ctx.dead.clear();
        }
        return;
    }
  }

  private destroy(ctx: CtxRec, id: number): void {
    const o = ctx.objects.get(id);
    if (!o) return;
    if (o.type === 'selftest') {
      // selftest.c: destroying the stdev detaches, unbinds and deletes the mock device.
      this.unbind(o.dev);
      o.dev.removed = true;
    }
    if ((o.type === 'hwpt_paging' || o.type === 'hwpt_nested') && o.parent !== undefined) {
      const p = ctx.objects.get(o.parent);
      if (p && (p.type === 'hwpt_paging' || p.type === 'hwpt_nested')) p.children.delete(id);
    }
    this.removeObj(ctx, id);
  }

  /**
   * The page table a mock paging allocation's IOMMU_HWPT_DATA_SELFTEST data
   * names (7.3 mock_domain_alloc_paging_flags: iommu_copy_struct_from_user up
   * to iotlb at least, the rest of the struct zero, so 4 bytes name
   * MOCK_IOMMUPT_DEFAULT); undefined for other data or a length the driver
   * refuses.
   */
  selftestPagetable(v: StructValue): number | undefined {
    const len = toNum(v['data_len']);
    const uptr = v['data_uptr'];
    const struct = 'iommu_hwpt_selftest';
    if (enumValue(this.profile, 'MOCK_IOMMUPT_DEFAULT') === undefined || toNum(v['data_type'] ?? 0) !== IOMMU_HWPT_DATA_SELFTEST) return undefined;
    if (len < offsetofend(this.profile, struct, 'iotlb') || len > requireLayout(this.profile, struct).size) return undefined;
    if (uptr === undefined || !isPointerArg(uptr) || !('data' in uptr) || uptr.data.length < len) return undefined;
    return toNum(decodeStruct(this.profile, struct, uptr.data.subarray(0, len))['pagetable_type'] ?? 0);
  }

  private applyDeviceIoctl(f: FileRec, cmd: string, v: StructValue, out: StructValue, ok: boolean): void {
    const d = f.device;
    if (!d || !ok) return;
    switch (cmd) {
      case 'VFIO_DEVICE_BIND_IOMMUFD': {
        const cf = this.fds.get(toNum(v['iommufd']));
        const ctx = cf?.kind === 'iommufd' ? cf.ctx : undefined;
        if (!ctx) return;
        const id = toNum(out['out_devid']);
        d.bound = { ctx, id, file: f };
        this.boundGroups.add(d.group);
        ctx.holders++;
        this.addObj(ctx, { type: 'device', id, dev: d });
        return;
      }
      case 'VFIO_DEVICE_ATTACH_IOMMUFD_PT': {
        if (d.bound?.file !== f) return; // only the file that bound the device attaches it
        const ctx = d.bound.ctx;
        const asked = ctx.objects.get(toNum(v['pt_id']));
        const pasidFlag = enumValue(this.profile, 'VFIO_DEVICE_ATTACH_PASID') ?? 0;
        if (toNum(v['flags']) & pasidFlag) {
          // A PASID's attachment (pasid_attach_ioas): the device's own requests reach what they
          // did. As IOMMU_TEST_OP_PASID_ATTACH, it may build an automatic HWPT not followed here.
          d.pasid = true;
          ctx.dead.clear();
          const target = asked?.type === 'ioas' ? asked : undefined;
          if (target) target.domainsUnknown = true;
          return;
        }
        const hwptId = toNum(out['pt_id']);
        const newAuto = asked?.type === 'ioas' ? { ioas: asked.id, enforcing: d.capable } : undefined;
        this.attachGroup(d, hwptId, ctx, newAuto);
        return;
      }
      case 'VFIO_DEVICE_DETACH_IOMMUFD_PT':
        // With VFIO_DEVICE_DETACH_PASID (7.3) one PASID's attachment goes: the RID's stays.
        if ((toNum(v['flags']) & (enumValue(this.profile, 'VFIO_DEVICE_DETACH_PASID') ?? 0)) !== 0) return;
        if (d.bound?.file === f) this.detach(d);
        return;
      default:
        return;
    }
  }

  private applyTestCmd(ctx: CtxRec, v: StructValue, out: StructValue): void {
    const op = TEST_OP_NAME.get(toNum(v['op']));
    const id = toNum(v['id']);
    switch (op) {
      case 'IOMMU_TEST_OP_ADD_RESERVED': {
        const ioas = this.ioas(ctx, id);
        const m = member(v, 'add_reserved');
        const r = rangeOf(toBig(m['start']), toBig(m['length']));
        if (ioas && r) ioas.reserved.push(r);
        return;
      }
      case 'IOMMU_TEST_OP_MOCK_DOMAIN':
      case 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS': {
        const m = member(out, op === 'IOMMU_TEST_OP_MOCK_DOMAIN' ? 'mock_domain' : 'mock_domain_flags');
        const stdev = toNum(m['out_stdev_id']);
        const idev = toNum(m['out_idev_id']);
        const hwpt = toNum(m['out_hwpt_id']);
        // The selftest's mock unit: format 'mock' (6.12) or 'amdv1-mock' (7.3, which keeps permission bits).
        const iommu = [...this.iommus.values()].find((i) => i.format.includes('mock'));
        const mockFlags = op === 'IOMMU_TEST_OP_MOCK_DOMAIN' ? 0 : toNum(member(v, 'mock_domain_flags')['dev_flags']);
        const d: DeviceRec = {
          key: `mock:${ctx.no}:${stdev}`,
          group: `mock:${ctx.no}:${stdev}`,
          iommu: iommu?.name ?? 'mock',
          capable: false,
          permissions: !FORMATS_WITHOUT_PERMISSIONS.has(iommu?.format ?? 'mock'),
          bound: { ctx, id: idev },
          hwpt: undefined,
          file: undefined,
          removed: false,
          mock: true,
          reserved: [],
          mockFlags,
          // The mock driver's IOMMU_CAP_DIRTY_TRACKING (mock_domain_capable).
          dirty: (mockFlags & MOCK_FLAGS_DEVICE_NO_DIRTY) === 0,
        };
        this.devices.set(d.key, d);
        this.addObj(ctx, { type: 'selftest', id: stdev, dev: d });
        this.addObj(ctx, { type: 'device', id: idev, dev: d });
        const asked = ctx.objects.get(id);
        this.attachGroup(d, hwpt, ctx, asked?.type === 'ioas' ? { ioas: asked.id, enforcing: false } : undefined);
        return;
      }
      case 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE': {
        const st = ctx.objects.get(id);
        if (st?.type !== 'selftest') return;
        const m = member(v, 'mock_domain_replace');
        const asked = ctx.objects.get(toNum(m['pt_id']));
        const hwpt = toNum(member(out, 'mock_domain_replace')['pt_id']);
        this.attachGroup(st.dev, hwpt, ctx, asked?.type === 'ioas' ? { ioas: asked.id, enforcing: false } : undefined);
        return;
      }
      case 'IOMMU_TEST_OP_PASID_ATTACH':
      case 'IOMMU_TEST_OP_PASID_REPLACE':
        // Attaching a PASID to an IOAS may build an automatic HWPT (not followed here): it may take
        // a destroyed id, and its domain's aperture is reserved in the IOAS.
        ctx.dead.clear();
        {
          const st = ctx.objects.get(id);
          if (st?.type === 'selftest') st.dev.pasid = true;
          const target = this.ioas(ctx, member(v, 'pasid_attach')['pt_id']);
          if (target) target.domainsUnknown = true;
        }
        return;
      case 'IOMMU_TEST_OP_CREATE_ACCESS': {
        const fd = toNum(member(out, 'create_access')['out_access_fd']);
        const f = this.newFile('access');
        const pins = (toNum(member(v, 'create_access')['flags']) & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0;
        const a: AccessObj = { type: 'access', id: -f.no, ioas: id, items: new Map(), file: f, alignment: pins ? PAGE : 1n };
        f.access = a;
        f.ctx = ctx;
        ctx.objects.set(a.id, a);
        // The access object takes an id the uAPI does not report: any id the
        // shadow knew as destroyed may have been reused by it.
        ctx.dead.clear();
        ctx.holders++;
        this.holdFd(fd, f);
        return;
      }
      case 'IOMMU_TEST_OP_ACCESS_PAGES': {
        const file = this.fds.get(id);
        const a = file?.access;
        const m = member(v, 'access_pages');
        const syz = (toNum(m['flags']) & MOCK_FLAGS_ACCESS_SYZ) !== 0;
        const iova = syz && a ? this.syzIova(this.ioas(file.ctx, a.ioas), toBig(m['iova'])) : toBig(m['iova']);
        if (iova === undefined) {
          this.lost = 'a syzkaller-form ACCESS_PAGES named the nth area of an IOAS whose areas the shadow does not know for sure';
          return;
        }
        const r = rangeOf(iova, toBig(m['length']));
        if (a && r) a.items.set(toNum(member(out, 'access_pages')['out_access_pages_id']), r);
        return;
      }
      case 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES': {
        const a = this.fds.get(id)?.access;
        a?.items.delete(toNum(member(v, 'destroy_access_pages')['access_pages_id']));
        this.gcPagesets();
        return;
      }
      case 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS': {
        const a = this.fds.get(id)?.access;
        if (!a) return;
        const to = toNum(member(v, 'access_replace_ioas')['ioas_id']);
        // The same IOAS is no change at all: its pins stay (iommufd_access_change_ioas
        // returns 0 when cur_ioas == new_ioas, before telling the access to unmap).
        if (to === a.ioas) return;
        a.items.clear();
        a.ioas = to;
        this.gcPagesets();
        return;
      }
      default:
        return;
    }
  }

  private holdFd(fd: number, f: FileRec): void {
    this.fds.set(fd, f);
    this.seenFds.add(fd);
  }

  /**
   * syzkaller's IOVA (MOCK_FLAGS_ACCESS_SYZ, iommufd_test_syz_conv_iova): {
   * u32 nth_area; u32 offset } little-endian, the nth area of the IOAS in
   * IOVA order plus offset; 0 when there is no such area; undefined when
   * the shadow is not sure which areas are there.
   */
  syzIova(ioas: IoasObj | undefined, encoded: bigint): bigint | undefined {
    const nth = Number(BigInt.asUintN(32, encoded));
    // After a failed non-atomic unmap an area may or may not be there: the nth is unknown.
    if (ioas?.segs.some((seg) => seg.uncertain)) return undefined;
    // Each segment is one kernel area: a COPY makes one per source piece under one id, and a type1
    // cut splits the area it cuts into pieces that keep its id.
    const start = (ioas?.segs ?? []).map((seg) => seg.start).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))[nth];
    return start === undefined ? 0n : start + BigInt.asUintN(32, encoded >> 32n);
  }

  /**
   * Where an IOAS_COPY takes its source in `src`: src_iova, or in syzkaller's
   * form (MOCK_FLAGS_ACCESS_SYZ) the nth area of the source plus an offset
   * (iommufd_test_syz_conv_iova_id); undefined where the shadow cannot tell.
   */
  copySrcIova(src: IoasObj | undefined, v: StructValue): bigint | undefined {
    return (toNum(v['flags']) & MOCK_FLAGS_ACCESS_SYZ) !== 0 ? this.syzIova(src, toBig(v['src_iova'])) : toBig(v['src_iova']);
  }

  /** For the end-of-case sweep: everything the session still has open. */
  openFds(): number[] {
    return [...this.fds.keys()];
  }

  /** Whether [r] of an IOAS is fully covered by reserved ranges the shadow knows (test ADD_RESERVED). */
  reservedHits(ioas: IoasObj, r: Range): boolean {
    return ioas.reserved.some((x) => overlaps(x, r));
  }

  static contains = contains;
}
