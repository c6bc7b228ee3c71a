/**
 * VFIO type1 container compatibility on an iommufd (the fd used as a VFIO
 * container, or /dev/vfio/vfio served by iommufd). Mirrors
 * drivers/iommu/iommufd/vfio_compat.c: get_compat_ioas,
 * iommufd_vfio_compat_ioas_create, iommufd_vfio_compat_set_no_iommu,
 * iommufd_vfio_ioas (IOMMU_VFIO_IOAS), iommufd_vfio_ioctl (GET_API_VERSION,
 * CHECK_EXTENSION, SET_IOMMU, IOMMU_GET_INFO, MAP_DMA, UNMAP_DMA) with type1
 * v1 splitting through iopt_cut_iova.
 *
 * Public API: iommufdVfioIoas, iommufdVfioIoctl, iommufdVfioCompatIoasCreate,
 * iommufdVfioCompatIoasGetId, iommufdVfioCompatSetNoIommu.
 */
import { EFAULT, EINVAL, ENODEV, ENOTTY, EOPNOTSUPP, EPERM } from '../lib/errno.ts';
import {
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  VFIO_API_VERSION,
  VFIO_DMA_CC_IOMMU,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  VFIO_NOIOMMU_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '../../spec/uapi/constants.ts';
import type { IoctlDecode, StructDecode } from '../../spec/abi/dispatch.ts';
import { commandMinSize } from '../../spec/uapi/lookup.ts';
import { requireLayout } from '../../spec/uapi/layout.ts';
import { encodeStruct } from '../../spec/abi/codec.ts';
import { layoutOf, UcmdStruct } from './ucmd.ts';
import { err, iommufdObjectAbort, iommufdObjectFinalize, ok, type Result } from './object.ts';
import { type IommufdCtx, iommufdGetIoas, type IommufdIoas, iommufdUcmdRespond, PAGE_SIZE, type Ucmd, ULONG_MAX } from './iommufd_private.ts';
import { iommufdIoasAlloc } from './ioas.ts';
import { Unwind } from '../lib/unwind.ts';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, ioptCutIova, ioptDisableLargePages, ioptIovaRanges, ioptMapUserPages, ioptUnmapAll, ioptUnmapIova } from './io_pagetable.ts';

/** CONFIG_VFIO_NOIOMMU: enabled in the Debian kernels the profiles come from (a choice; see the report). */
const CONFIG_VFIO_NOIOMMU = true;

/** What DMA_CC_IOMMU reads of a paging HWPT on the compat IOAS (DEVICES' hwpt has it). */
interface HwptCoherency {
  readonly enforceCacheCoherency?: boolean;
}

/** get_compat_ioas: ENODEV when there is none. */
function getCompatIoas(ctx: IommufdCtx): Result<IommufdIoas> {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return err(-ENODEV);
  return ok(ioas as IommufdIoas);
}

/** iommufd_vfio_compat_ioas_get_id */
export function iommufdVfioCompatIoasGetId(ctx: IommufdCtx): Result<number> {
  const r = getCompatIoas(ctx);
  return r.errno ? err(r.errno) : ok(r.value!.id);
}

/** iommufd_vfio_compat_set_no_iommu: EINVAL once a compat IOAS exists. */
export function iommufdVfioCompatSetNoIommu(ctx: IommufdCtx): number {
  if (ctx.vfioIoas) return -EINVAL;
  ctx.noIommuMode = true;
  return 0;
}

/** iommufd_vfio_compat_ioas_create: adopt the existing compat IOAS or create one (EINVAL in no-iommu mode). */
export function iommufdVfioCompatIoasCreate(ctx: IommufdCtx): number {
  const r = iommufdIoasAlloc(ctx);
  if (r.errno) return r.errno;
  const ioas = r.value!;
  const unwind = new Unwind();
  unwind.onError('out_abort', () => iommufdObjectAbort(ctx, ioas));
  // VFIO won't allow attaching a container to both iommu and no iommu operation.
  if (ctx.noIommuMode) return unwind.exit(-EINVAL);
  // Another compat IOAS won the race: keep it (ret = 0; goto out_abort).
  if (!getCompatIoas(ctx).errno) return unwind.goto(0);
  ctx.vfioIoas = ioas;
  iommufdObjectFinalize(ctx, ioas);
  return unwind.exit(0);
}

/** iommufd_vfio_ioas (IOMMU_VFIO_IOAS): GET (ENODEV), SET (ENOENT; takes no reference), CLEAR. */
export function iommufdVfioIoas(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  switch (cmd.num('op')) {
    case IOMMU_VFIO_IOAS_GET: {
      const r = getCompatIoas(ctx);
      if (r.errno) return r.errno;
      cmd.set('ioas_id', r.value!.id);
      return iommufdUcmdRespond(ucmd);
    }
    case IOMMU_VFIO_IOAS_SET: {
      const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
      if (r.errno) return r.errno;
      ctx.vfioIoas = r.value!;
      return 0;
    }
    case IOMMU_VFIO_IOAS_CLEAR:
      ctx.vfioIoas = null;
      return 0;
    default:
      return -EOPNOTSUPP;
  }
}

/** The decoded VFIO argsz struct (spec/abi copied minsz bytes and checked argsz >= minsz). */
function vfioStruct(ctx: IommufdCtx, d: StructDecode): UcmdStruct {
  return new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
}

/** minsz of the handler: offsetofend of the command's min-size field (spec/uapi). */
function vfioMinsz(ctx: IommufdCtx, d: StructDecode): number {
  return commandMinSize(ctx.profile, d.command) ?? 0;
}

/** iommufd_vfio_map_dma: vfio_iommu_type1_dma_map {argsz, flags, vaddr, iova, size}; always a fixed IOVA. */
function iommufdVfioMapDma(ctx: IommufdCtx, d: StructDecode): number {
  const map = vfioStruct(ctx, d);
  const flags = map.num('flags');
  if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return -EINVAL;
  let prot = IOMMU_CACHE;
  if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
  if (flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
  const r = getCompatIoas(ctx);
  if (r.errno) return r.errno;
  const m = ioptMapUserPages(r.value!.iopt, ctx.proc, ctx.accountMode === 'MM', map.big('iova'), map.big('vaddr'), map.big('size'), prot, 0, ctx.profile);
  return m.errno;
}

/**
 * iommufd_vfio_unmap_dma: vfio_iommu_type1_dma_unmap {argsz, flags, iova, size}.
 * Type1 (v1, large pages disabled) first cuts the areas at the range ends;
 * unmapping nothing is success; `size` is written back with the bytes
 * unmapped even when the unmap failed part-way.
 */
function iommufdVfioUnmapDma(ctx: IommufdCtx, d: StructDecode, arg: bigint): number {
  const unmap = vfioStruct(ctx, d);
  const flags = unmap.num('flags');
  if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL) return -EINVAL;
  const r = getCompatIoas(ctx);
  if (r.errno) return r.errno;
  const iopt = r.value!.iopt;
  const iova = unmap.big('iova');
  const size = unmap.big('size');
  const unmapped = { bytes: 0n };
  let rc: number;
  if (flags & VFIO_DMA_UNMAP_FLAG_ALL) {
    if (iova !== 0n || size !== 0n) return -EINVAL;
    rc = ioptUnmapAll(iopt, unmapped);
  } else {
    if (iopt.disableLargePages) {
      // unsigned long arithmetic: the cut points wrap like the kernel's.
      const iovas = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)];
      rc = ioptCutIova(iopt, iova ? iovas : iovas.slice(0, 1));
      if (rc) return rc;
    }
    rc = ioptUnmapIova(iopt, iova, size, unmapped);
  }
  unmap.set('size', unmapped.bytes);
  if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, vfioMinsz(ctx, d)))) rc = -EFAULT;
  return rc;
}

/** iommufd_vfio_cc_iommu: 1 iff every paging HWPT of the compat IOAS enforces coherency. */
function iommufdVfioCcIommu(ctx: IommufdCtx): number {
  const r = getCompatIoas(ctx);
  if (r.errno) return r.errno;
  for (const hwpt of r.value!.hwptList as readonly HwptCoherency[]) if (!hwpt.enforceCacheCoherency) return 0;
  return 1;
}

/** iommufd_vfio_check_extension */
function iommufdVfioCheckExtension(ctx: IommufdCtx, type: bigint): number {
  switch (type) {
    case BigInt(VFIO_TYPE1_IOMMU):
    case BigInt(VFIO_TYPE1v2_IOMMU):
    case BigInt(VFIO_UNMAP_ALL):
      return ctx.noIommuMode ? 0 : 1;
    case BigInt(VFIO_NOIOMMU_IOMMU):
      return CONFIG_VFIO_NOIOMMU ? 1 : 0;
    case BigInt(VFIO_DMA_CC_IOMMU):
      return iommufdVfioCcIommu(ctx);
    default:
      return 0;
  }
}

/** iommufd_vfio_set_iommu: TYPE1 (v1) disables large pages on the compat IOAS. */
function iommufdVfioSetIommu(ctx: IommufdCtx, type: bigint): number {
  if (CONFIG_VFIO_NOIOMMU && type === BigInt(VFIO_NOIOMMU_IOMMU) && ctx.noIommuMode) {
    return ctx.proc.capable('CAP_SYS_RAWIO') ? 0 : -EPERM;
  }
  if ((type !== BigInt(VFIO_TYPE1_IOMMU) && type !== BigInt(VFIO_TYPE1v2_IOMMU)) || ctx.noIommuMode) return -EINVAL;
  const r = getCompatIoas(ctx);
  if (r.errno) return r.errno;
  if (type === BigInt(VFIO_TYPE1_IOMMU)) {
    const rc = ioptDisableLargePages(r.value!.iopt);
    if (rc) return rc;
  }
  return 0;
}

/** iommufd_get_pagesizes: ∩ of the domains' page sizes, sub-page sizes folded to PAGE_SIZE, at least the alignment. */
function iommufdGetPagesizes(ioas: IommufdIoas): bigint {
  let bitmap = ULONG_MAX;
  for (const d of ioas.iopt.domains) bitmap &= d.pgsizeBitmap;
  const P = BigInt(PAGE_SIZE);
  if (bitmap & (P - 1n)) {
    bitmap &= ~(P - 1n) & ULONG_MAX;
    bitmap |= P;
  }
  const align = BigInt(ioas.iopt.iovaAlignment);
  return bitmap > align ? bitmap : align;
}

/** The capability header version iommufd writes (vfio_compat.c: `.version = 1`). */
const VFIO_CAP_VERSION = 1;
/**
 * The DMA_AVAIL capability's `avail`: vfio_compat.c returns U32_MAX (iommufd's
 * limit is the cgroup's memory limit; see iommufd_fill_cap_dma_avail).
 */
const DMA_AVAIL_UNLIMITED = 0xffffffff;

/** A capability writer: the bytes it needs, writing them at `at` when `avail` is enough (-EFAULT on a fault). */
type FillCap = (at: bigint | null, avail: number) => number;

/** iommufd_fill_cap_dma_avail: struct vfio_iommu_type1_info_dma_avail. */
function iommufdFillCapDmaAvail(ctx: IommufdCtx): FillCap {
  return (at, avail) => {
    const cap = encodeStruct(ctx.profile, 'vfio_iommu_type1_info_dma_avail', {
      header: { id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: VFIO_CAP_VERSION },
      avail: DMA_AVAIL_UNLIMITED,
    });
    if (at !== null && avail >= cap.length && !ctx.proc.copyToUser(at, cap)) return -EFAULT;
    return cap.length;
  };
}

/**
 * iommufd_fill_cap_iova: struct vfio_iommu_type1_info_cap_iova_range and its
 * flexible array of the reserved tree's holes; each range is written when it
 * fits, the header when the whole capability does.
 */
function iommufdFillCapIova(ctx: IommufdCtx, ioas: IommufdIoas): FillCap {
  return (at, avail) => {
    const head = requireLayout(ctx.profile, 'vfio_iommu_type1_info_cap_iova_range');
    const rangeSize = requireLayout(ctx.profile, 'vfio_iova_range').size;
    const rangesAt = head.rows.find((r) => r.path === 'iova_ranges')!.offset;
    /** struct_size(cap, iova_ranges, n) */
    const structSize = (n: number): number => Math.max(head.size, rangesAt + rangeSize * n);
    const holes = ioptIovaRanges(ioas.iopt);
    for (let i = 0; i < holes.length; i++) {
      if (at === null || avail < structSize(i + 1)) continue;
      const range = encodeStruct(ctx.profile, 'vfio_iova_range', { start: holes[i]!.start, end: holes[i]!.last });
      if (!ctx.proc.copyToUser(at + BigInt(rangesAt + rangeSize * i), range)) return -EFAULT;
    }
    if (at !== null && avail >= structSize(holes.length)) {
      const cap = encodeStruct(ctx.profile, 'vfio_iommu_type1_info_cap_iova_range', {
        header: { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: VFIO_CAP_VERSION },
        nr_iovas: holes.length,
      });
      if (!ctx.proc.copyToUser(at, cap)) return -EFAULT;
    }
    return structSize(holes.length);
  };
}

/**
 * iommufd_vfio_iommu_get_info: struct vfio_iommu_type1_info followed by the
 * DMA_AVAIL and IOVA_RANGE capabilities when argsz leaves room, each linked
 * from the previous one's `next`; argsz out = the size needed for all.
 */
function iommufdVfioIommuGetInfo(ctx: IommufdCtx, d: StructDecode, arg: bigint): number {
  const infoSize = layoutOf(d.command.struct ?? '', ctx.profile).size;
  const argsz = d.size;
  const minsz = Math.min(argsz, infoSize);
  const r = getCompatIoas(ctx);
  if (r.errno) return r.errno;
  const ioas = r.value!;
  const info = { argsz, flags: VFIO_IOMMU_INFO_PGSIZES, iova_pgsizes: iommufdGetPagesizes(ioas), cap_offset: 0 };
  const next = requireLayout(ctx.profile, 'vfio_info_cap_header').rows.find((row) => row.path === 'next')!;
  let total = infoSize;
  let lastCap: bigint | null = null;
  for (const fill of [iommufdFillCapDmaAvail(ctx), iommufdFillCapIova(ctx, ioas)]) {
    let capSize = argsz > total ? fill(arg + BigInt(total), argsz - total) : fill(null, 0);
    if (capSize < 0) return capSize;
    capSize = Math.ceil(capSize / 8) * 8; // ALIGN(cap_size, sizeof(u64))
    if (lastCap !== null && argsz >= total) {
      // put_user(total_cap_size, &last_cap->next)
      const bytes = encodeStruct(ctx.profile, 'vfio_info_cap_header', { next: total }).subarray(next.offset, next.offset + next.size);
      if (!ctx.proc.copyToUser(lastCap + BigInt(next.offset), bytes)) return -EFAULT;
    }
    lastCap = arg + BigInt(total);
    total += capSize;
  }
  if (argsz >= total) info.cap_offset = infoSize;
  info.argsz = total;
  info.flags |= VFIO_IOMMU_INFO_CAPS;
  if (!ctx.proc.copyToUser(arg, encodeStruct(ctx.profile, 'vfio_iommu_type1_info', info).subarray(0, minsz))) return -EFAULT;
  return 0;
}

type VfioDecode = Exclude<Extract<IoctlDecode, { ok: true }>, { kind: 'extensible' }>;
type VfioHandler = (ctx: IommufdCtx, d: VfioDecode, arg: bigint) => number;

/** The integer argument (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU). */
const intArg = (d: VfioDecode, arg: bigint): bigint => (d.kind === 'int' ? d.arg : arg);
/** An argsz struct handler; spec/uapi makes these commands 'vfio-argsz', so d is always a struct here. */
const structHandler =
  (fn: (ctx: IommufdCtx, d: StructDecode, arg: bigint) => number): VfioHandler =>
  (ctx, d, arg) =>
    d.kind === 'vfio-argsz' ? fn(ctx, d, arg) : -ENOTTY;

/** iommufd_vfio_ioctl's switch, keyed by spec/uapi command name. */
const IOMMUFD_VFIO_HANDLERS: { readonly [name: string]: VfioHandler } = {
  VFIO_GET_API_VERSION: () => VFIO_API_VERSION,
  VFIO_SET_IOMMU: (ctx, d, arg) => iommufdVfioSetIommu(ctx, intArg(d, arg)),
  VFIO_CHECK_EXTENSION: (ctx, d, arg) => iommufdVfioCheckExtension(ctx, intArg(d, arg)),
  VFIO_IOMMU_GET_INFO: structHandler(iommufdVfioIommuGetInfo),
  VFIO_IOMMU_MAP_DMA: structHandler((ctx, d) => iommufdVfioMapDma(ctx, d)),
  VFIO_IOMMU_UNMAP_DMA: structHandler(iommufdVfioUnmapDma),
};

/** Whether the compat path serves this VFIO container command (capabilities). */
export function iommufdVfioServes(name: string): boolean {
  return IOMMUFD_VFIO_HANDLERS[name] !== undefined;
}

/**
 * iommufd_vfio_ioctl: the VFIO container ioctls, after spec/abi decoded the
 * argument (argsz structs: minsz copied, argsz >= minsz). Anything spec/uapi
 * does not list for the compat path was ENOTTY in the decoder.
 */
export function iommufdVfioIoctl(ctx: IommufdCtx, d: VfioDecode, arg: bigint): number {
  const handler = IOMMUFD_VFIO_HANDLERS[d.command.name];
  return handler ? handler(ctx, d, arg) : -ENOTTY;
}
