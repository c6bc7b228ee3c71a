/**
 * fill-domains-skips-update-pinned (drivers/iommu/iommufd/pages.c
 * iopt_area_fill_domains, reached from IOMMU_IOAS_MAP and IOMMU_IOAS_COPY
 * into an IOAS that already has a domain: iopt_map_pages →
 * iopt_fill_domains_pages → iopt_area_fill_domains). 6.12 and 7.3 alike.
 *
 * A new area's pages are pinned once and mapped into every domain; only then
 * is the pin charged (RLIMIT_MEMLOCK through locked_vm, and pinned_vm):
 *
 *     while (!pfn_reader_done(&pfns)) {
 *             ...
 *             xa_for_each(&area->iopt->domains, index, domain) {
 *                     rc = batch_to_domain(&pfns.batch, domain, area, ...);
 *                     if (rc) goto out_unmap;
 *             }
 *             ...
 *     }
 *     rc = pfn_reader_update_pinned(&pfns);
 *     if (rc)
 *             goto out_unmap;
 *
 * THE FAULT: the pfn_reader_update_pinned() call (and its error exit) is
 * lost in this function (iopt_area_fill_domain, the attach path, keeps it).
 * pages->npinned grows but last_npinned does not, so nothing is charged: a
 * MAP into an IOAS with a domain pins pages without touching locked_vm or
 * pinned_vm and is never refused for RLIMIT_MEMLOCK. When the area goes, the
 * unpin brings npinned back to last_npinned and nothing is uncharged either
 * (the next charge of the same iopt_pages, e.g. an access pin, would charge
 * the stale difference instead). What a user sees: a MAP beyond
 * RLIMIT_MEMLOCK succeeds where the kernel answers ENOMEM; the process's
 * locked_vm/pinned_vm stay 0 while pages are pinned.
 *
 * Applied as: the IOMMU_IOAS_MAP and IOMMU_IOAS_COPY handlers are copies of
 * iommufd_ioas_map/iommufd_ioas_copy over a copy of iopt_map_pages whose
 * iopt_area_fill_domains lacks the charge. VFIO type1 compat MAP_DMA keeps
 * the reference's path.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import {
  iommufdGetIoas,
  iommufdUcmdRespond,
  IoptArea,
  type IoPagetable,
  type IoptPages,
  type PagesListElm,
  PAGE_SIZE,
  type Ucmd,
  ULONG_MAX,
} from '../../../impl/iommufd/iommufd_private.ts';
import {
  IOMMU_WRITE,
  IOPT_ALLOC_IOVA,
  ioptAllocIova,
  ioptAutoIovaAllowed,
  ioptCheckIova,
  ioptFreePagesList,
  ioptGetPages,
} from '../../../impl/iommufd/io_pagetable.ts';
import { areaMapDomain, ioptAllocPages, ioptAreaUnfillDomains, ioptAreaUnmapDomain, ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { iommufdTestSyzConvIovaId } from '../../../impl/iommufd/selftest.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');
const P = BigInt(PAGE_SIZE);

/** iopt_area_fill_domains with the fault. */
function areaFillDomains(iopt: IoPagetable, area: IoptArea, pages: IoptPages): number {
  if (iopt.domains.length === 0) return 0;
  const held = ioptPagesHold(pages, area.firstIndex, area.lastIndex, 'later');
  if (held.errno) return held.errno;
  const unwind = new Unwind();
  unwind.onError('out_unpin', () => ioptPagesRelease(pages, area.firstIndex, area.lastIndex));
  for (const domain of iopt.domains) {
    const rc = areaMapDomain(iopt, area, pages, domain);
    if (rc) return unwind.exit(rc);
    unwind.onError('out_unmap', () => ioptAreaUnmapDomain(area, domain));
  }
  // THE FAULT: `rc = pfn_reader_update_pinned(&pfns); if (rc) goto out_unmap;` is gone.
  area.filled = true;
  return unwind.exit(0);
}

/** iopt_insert_area */
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

/** iopt_alloc_area_pages */
function allocAreaPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  for (const _elm of list) if (iopt.faults.shouldFail()) return -ENOMEM;
  if (length & BigInt(iopt.iovaAlignment - 1) || !length) return -EINVAL;
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

/** iopt_map_pages over the faulty fill. */
function mapPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  const rc = allocAreaPages(iopt, list, length, dstIova, prot, flags);
  if (rc) return rc;
  const unwind = new Unwind();
  for (const elm of list) {
    const rc = areaFillDomains(iopt, elm.area!, elm.pages!);
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

/** iommufd_ioas_map (iopt_map_user_pages inlined) over the faulty iopt_map_pages. */
function ioasMap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS || cmd.num('__reserved')) return -EOPNOTSUPP;
  if (cmd.big('iova') >= ULONG_MAX || cmd.big('length') >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const iopt = r.value!.iopt;
  const prot = convIommuProt(flags);
  const uptr = cmd.big('user_va');
  const length = cmd.big('length');
  const pr = ioptAllocPages(ctx.proc, uptr, length, (prot & IOMMU_WRITE) !== 0, ctx.profile);
  if (pr.errno) return pr.errno;
  const pages = pr.value!;
  if (ctx.accountMode === 'MM' && pages.accountMode === 'USER') pages.accountMode = 'MM';
  const list: PagesListElm[] = [{ pages, area: null, startByte: uptr - pages.uptr, length }];
  const dst = { iova: cmd.big('iova') };
  const rc = mapPages(iopt, list, length, dst, prot, flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
  if (rc) {
    ioptFreePagesList(list);
    return rc;
  }
  cmd.set('iova', dst.iova);
  return iommufdUcmdRespond(ucmd);
}

/** iommufd_ioas_copy over the faulty iopt_map_pages. */
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
  return mutantImplementation('fill-domains-skips-update-pinned', profile, {
    handlers: { IOMMU_IOAS_MAP: (ucmd) => ioasMap(ucmd), IOMMU_IOAS_COPY: (ucmd) => ioasCopy(ucmd) },
  });
}
