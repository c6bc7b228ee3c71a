/**
 * alloc-area-length-alignment-unchecked (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_area_pages).
 *
 * Every area must start, end and sit in its pages at the IOAS's
 * iova_alignment (the largest of the domains' smallest page size, the
 * accesses' alignment, and PAGE_SIZE once IOMMU_OPTION_HUGE_PAGES is 0), so
 * that any domain later attached can map it and a VFIO type1 v1 cut stays on
 * a page boundary. iopt_alloc_area_pages checks the length first:
 *
 *     if ((length & (iopt->iova_alignment - 1)) || !length)
 *             return -EINVAL;
 *
 * (the IOVA is checked by iopt_check_iova / iopt_alloc_iova, the page offset
 * by iopt_insert_area).
 *
 * THE FAULT: the length test is reduced to `if (!length)`, as if the IOVA
 * and page-offset checks made the length one redundant. They do not: an
 * aligned IOVA with a ragged length gives an area whose end is not aligned.
 *
 * What a user sees: with no domain (the domains' own iommu_map refuses a
 * ragged size later anyway) but an alignment above 1 — an IOAS whose huge
 * pages were disabled (IOMMU_OPTION_HUGE_PAGES = 0, or the type1 v1 compat
 * IOAS) or one with an access that needs alignment — IOMMU_IOAS_MAP and
 * IOMMU_IOAS_COPY of e.g. 4097 bytes succeed where the kernel answers EINVAL.
 * The ragged area then blocks every later attach (the domain's iommu_map of
 * the tail byte fails) and makes IOVA_RANGES' alignment a lie.
 *
 * Applied as: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY through a copy of the
 * reference's map path whose iopt_alloc_area_pages lacks the length test.
 * (The kernel's VFIO_IOMMU_MAP_DMA shares iopt_map_user_pages and so the
 * bug; this module does not patch the compat path, so there the mutant
 * still answers as the reference.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, IoptArea, PAGE_SIZE, ULONG_MAX, type IoPagetable, type PagesListElm, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAllocIova, ioptAutoIovaAllowed, ioptCheckIova, ioptFreePagesList, ioptGetPages, IOMMU_WRITE, IOPT_ALLOC_IOVA } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAllocPages, ioptAreaFillDomains, ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { iommufdTestSyzConvIovaId } from '../../../impl/iommufd/selftest.ts';

const P = BigInt(PAGE_SIZE);
const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');

/** iopt_alloc_area_pages without the length-alignment test. */
function allocAreaPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  for (const _elm of list) if (iopt.faults.shouldFail()) return -ENOMEM;
  // THE FAULT: was `if ((length & (iopt->iova_alignment - 1)) || !length)`.
  if (!length) return -EINVAL;
  if (flags & IOPT_ALLOC_IOVA) {
    const first = list[0]!;
    const uptr = first.pages!.uptr + first.startByte;
    const r = ioptAllocIova(iopt, uptr, length);
    if (r.errno) return r.errno;
    dstIova.iova = r.value!;
    const steered = iopt.steerAutoIova?.(uptr, length);
    if (steered !== undefined && ioptAutoIovaAllowed(iopt, uptr, length, steered)) dstIova.iova = steered;
  } else {
    const rc = ioptCheckIova(iopt, dstIova.iova, length);
    if (rc) return rc;
  }
  let iova = dstIova.iova;
  for (const elm of list) {
    const rc = insertArea(iopt, elm, iova, prot);
    if (rc) return rc;
    iova += elm.length;
  }
  return 0;
}

// ---- the reference's map path (io_pagetable.c iopt_map_pages and its callers), with the fault ----

/** iopt_insert_area (the reference's, unchanged). */
function insertArea(iopt: IoPagetable, elm: PagesListElm, iova: bigint, prot: number): number {
  const pages = elm.pages!;
  if (prot & IOMMU_WRITE && !pages.writable) return -EPERM;
  if (Number(elm.startByte % P) & (iopt.iovaAlignment - 1)) return -EINVAL;
  const area = new IoptArea(iopt, iova, iova + elm.length - 1n, elm.startByte, prot);
  if (area.last > ULONG_MAX) return -EOVERFLOW;
  let i = 0;
  while (i < iopt.areas.length && iopt.areas[i]!.start < area.start) i++;
  iopt.areas.splice(i, 0, area);
  elm.area = area;
  return 0;
}

/** iopt_map_pages (the reference's, over the faulty iopt_alloc_area_pages). */
function mapPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  const rc = allocAreaPages(iopt, list, length, dstIova, prot, flags);
  if (rc) return rc;
  const unwind = new Unwind();
  for (const elm of list) {
    const rc = ioptAreaFillDomains(iopt, elm.area!, elm.pages!);
    if (rc) return unwind.exit(rc);
    unwind.onError('out_unfill', () => ioptAreaUnfillDomains(iopt, elm.area!, elm.pages!));
  }
  unwind.exit(0);
  for (const elm of list) {
    elm.area!.pages = elm.pages;
    elm.pages = null;
    elm.area = null;
  }
  return 0;
}

/** iommufd_ioas_map -> iopt_map_user_pages (the reference's, over the faulty iopt_map_pages). */
function ioasMap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS || cmd.num('__reserved')) return -EOPNOTSUPP;
  if (cmd.big('iova') >= ULONG_MAX || cmd.big('length') >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const prot = convIommuProt(flags);
  const uptr = cmd.big('user_va');
  const length = cmd.big('length');
  const pr = ioptAllocPages(ctx.proc, uptr, length, (prot & IOMMU_WRITE) !== 0, ctx.profile);
  if (pr.errno) return pr.errno;
  const pages = pr.value!;
  if (ctx.accountMode === 'MM' && pages.accountMode === 'USER') pages.accountMode = 'MM';
  const list: PagesListElm[] = [{ pages, area: null, startByte: uptr - pages.uptr, length }];
  const dst = { iova: cmd.big('iova') };
  const rc = mapPages(r.value!.iopt, list, length, dst, prot, flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
  if (rc) {
    ioptFreePagesList(list);
    return rc;
  }
  cmd.set('iova', dst.iova);
  return iommufdUcmdRespond(ucmd);
}

/** iommufd_ioas_copy (the reference's, over the faulty iopt_map_pages). */
function ioasCopy(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  iommufdTestSyzConvIovaId(ucmd, cmd.num('src_ioas_id'), 'src_iova');
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS) return -EOPNOTSUPP;
  const length = cmd.big('length');
  if (length >= ULONG_MAX || cmd.big('src_iova') >= ULONG_MAX || cmd.big('dst_iova') >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
  const src = iommufdGetIoas(ctx, cmd.num('src_ioas_id'));
  if (src.errno) return src.errno;
  const list: PagesListElm[] = [];
  let rc = ioptGetPages(src.value!.iopt, cmd.big('src_iova'), length, list);
  if (rc) return rc;
  const unwind = new Unwind();
  unwind.always('out_pages', () => ioptFreePagesList(list));
  const dst = iommufdGetIoas(ctx, cmd.num('dst_ioas_id'));
  if (dst.errno) return unwind.exit(dst.errno);
  const iova = { iova: cmd.big('dst_iova') };
  rc = mapPages(dst.value!.iopt, list, length, iova, convIommuProt(flags), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
  if (rc) return unwind.exit(rc);
  cmd.set('dst_iova', iova.iova);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-area-length-alignment-unchecked', profile, {
    handlers: { IOMMU_IOAS_MAP: (ucmd) => ioasMap(ucmd), IOMMU_IOAS_COPY: (ucmd) => ioasCopy(ucmd) },
  });
}
