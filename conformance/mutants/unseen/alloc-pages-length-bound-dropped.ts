/**
 * alloc-pages-length-bound-dropped — iopt_alloc_pages (drivers/iommu/iommufd/pages.c;
 * reached from iopt_map_user_pages, io_pagetable.c: IOMMU_IOAS_MAP and the VFIO
 * type1 VFIO_IOMMU_MAP_DMA).
 *
 * The kernel bounds the length before sizing the pages:
 *
 *     /*
 *      * The iommu API uses size_t as the length, and protect the DIV_ROUND_UP
 *      * below from overflow
 *      *\/
 *     if (length > SIZE_MAX - PAGE_SIZE || length == 0)
 *             return ERR_PTR(-EINVAL);
 *
 * The fault keeps only `length == 0`. A length in (SIZE_MAX - PAGE_SIZE,
 * ULONG_MAX) — IOAS_MAP itself refuses only >= ULONG_MAX — then passes
 * whenever uptr + length does not wrap (a user_va below PAGE_SIZE); 7.3's
 * iopt_alloc_user_pages tests the wrap first, 6.12's iopt_alloc_pages after
 * the bound. Such a map at a fixed IOVA with no domain attached (nothing is
 * pinned at MAP time) is accepted: an area of ~2^64 bytes over pages whose
 * npages (DIV_ROUND_UP(length + start_byte, PAGE_SIZE)) was computed from a
 * length the bound exists to keep out. On 6.12 a wrapping uptr answers
 * EOVERFLOW instead of EINVAL.
 *
 * User-visible: IOMMU_IOAS_MAP / VFIO_IOMMU_MAP_DMA of such a length succeed
 * (or answer EOVERFLOW on 6.12) where the kernel answers EINVAL. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';
import { EINVAL, ENODEV, ENOMEM, EOPNOTSUPP, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, IoptPages, PAGE_SIZE, ULONG_MAX, type IommufdCtx, type IommufdIoas, type IoPagetable, type PagesListElm, type Profile as P2, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, IOPT_ALLOC_IOVA, ioptFreePagesList, ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import type { Process } from '../../../impl/process/process.ts';

const PN = BigInt(PAGE_SIZE);
const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');

/** iopt_alloc_pages / iopt_alloc_user_pages with the fault. */
function allocPages(proc: Process, uptr: bigint, length: bigint, writable: boolean, profile: P2): Result<IoptPages> {
  // THE FAULT: `length > SIZE_MAX - PAGE_SIZE ||` dropped.
  const badLength = length === 0n;
  const wraps = uptr + length > ULONG_MAX;
  if (profile === '7.3' && wraps) return err(-EOVERFLOW);
  if (badLength) return err(-EINVAL);
  if (wraps) return err(-EOVERFLOW);
  if (proc.faults.shouldFail()) return err(-ENOMEM);
  const base = uptr - (uptr % PN);
  const npages = Number((length + (uptr - base) + PN - 1n) / PN);
  return ok(new IoptPages(proc, base, npages, writable, proc.capable('CAP_IPC_LOCK') ? 'NONE' : 'USER'));
}

/** iopt_map_user_pages over the faulty allocation. */
function mapUserPages(ctx: IommufdCtx, iopt: IoPagetable, dst: { iova: bigint }, uptr: bigint, length: bigint, prot: number, flags: number): number {
  const pr = allocPages(ctx.proc, uptr, length, (prot & IOMMU_WRITE) !== 0, ctx.profile);
  if (pr.errno) return pr.errno;
  const pages = pr.value!;
  if (ctx.accountMode === 'MM' && pages.accountMode === 'USER') pages.accountMode = 'MM';
  const list: PagesListElm[] = [{ pages, area: null, startByte: uptr - pages.uptr, length }];
  const unwind = new Unwind();
  unwind.onError('out_unpin', () => ioptFreePagesList(list));
  return unwind.exit(ioptMapPages(iopt, list, length, dst, prot, flags));
}

/** iommufd_ioas_map */
function ioasMap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS || cmd.num('__reserved')) return -EOPNOTSUPP;
  if (cmd.big('iova') >= ULONG_MAX || cmd.big('length') >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
  const ioas = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (ioas.errno) return ioas.errno;
  const dst = { iova: cmd.big('iova') };
  const rc = mapUserPages(ctx, ioas.value!.iopt, dst, cmd.big('user_va'), cmd.big('length'), convIommuProt(flags), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
  if (rc) return rc;
  cmd.set('iova', dst.iova);
  return iommufdUcmdRespond(ucmd);
}

/** iommufd_vfio_map_dma */
function vfioMapDma(ctx: IommufdCtx, d: CompatDecode): number {
  const map = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
  const flags = map.num('flags');
  if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return -EINVAL;
  let prot = IOMMU_CACHE;
  if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
  if (flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
  const ioas = ctx.vfioIoas as IommufdIoas | null;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV;
  return mapUserPages(ctx, ioas.iopt, { iova: map.big('iova') }, map.big('vaddr'), map.big('size'), prot, 0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-pages-length-bound-dropped', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMap },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMapDma(ctx, d) },
  });
}
