/**
 * Shared by the faults that change how a map places or fills its area: copies
 * of iommufd_ioas_map (ioas.c) and iommufd_vfio_map_dma (vfio_compat.c) →
 * iopt_map_user_pages (io_pagetable.c) whose iopt_map_pages is a parameter,
 * a copy of iopt_map_pages itself (iopt_alloc_area_pages,
 * iopt_insert_area, iopt_fill_domains_pages) whose steps are parameters, and
 * a copy of iopt_alloc_iova whose steps are parameters. With the reference's
 * own they answer exactly as the reference does.
 */
import { EINVAL, ENODEV, ENOMEM, ENOSPC, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { err, ok } from '../../../impl/iommufd/object.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, IoptArea, PAGE_SIZE, ULONG_MAX, type IommufdCtx, type IommufdIoas, type IoPagetable, type IoptDomain, type IoptPages, type PagesListElm, type Range, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { allocIovaCheckRange, autoIovaAlignment, holes, IOMMU_CACHE, IOMMU_READ, IOPT_ALLOC_IOVA, ioptAllocIova, ioptAutoIovaAllowed, ioptCheckIova, ioptFreePagesList, ioptMapPages, usedSpans } from '../../../impl/iommufd/io_pagetable.ts';
import { areaMapDomain, ioptAllocPages, ioptAreaFillDomains, ioptAreaUnfillDomains, ioptAreaUnmapDomain, ioptPagesCharge, ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { IOMMU_WRITE } from '../../../impl/pagetable/format.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import type { CompatDecode } from '../harness.ts';

const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');

/** The steps of iopt_map_user_pages a fault may replace; each one not given is the reference's. */
export interface MapUserPagesSteps {
  /** iopt_map_pages. */
  readonly mapPages?: typeof ioptMapPages;
  /** iopt_alloc_pages (6.12) / iopt_alloc_user_pages (7.3): the length and user_va tests. */
  readonly allocPages?: typeof ioptAllocPages;
  /** New pages take the context's IOPT_PAGES_ACCOUNT_MM (iopt_map_common, 6.12 iopt_map_user_pages). */
  readonly adoptsCtxAccountMode?: boolean;
}

/** iopt_map_user_pages over the given steps: pin the user range, map it, unpin on failure. */
function mapUserPages(ctx: IommufdCtx, iopt: IoPagetable, dst: { iova: bigint }, uptr: bigint, length: bigint, prot: number, flags: number, { mapPages = ioptMapPages, allocPages = ioptAllocPages, adoptsCtxAccountMode = true }: MapUserPagesSteps): number {
  const pr = allocPages(ctx.proc, uptr, length, (prot & IOMMU_WRITE) !== 0, ctx.profile);
  if (pr.errno) return pr.errno;
  const pages = pr.value!;
  if (adoptsCtxAccountMode && ctx.accountMode === 'MM' && pages.accountMode === 'USER') pages.accountMode = 'MM';
  const list: PagesListElm[] = [{ pages, area: null, startByte: uptr - pages.uptr, length }];
  const unwind = new Unwind();
  unwind.onError('out_unpin', () => ioptFreePagesList(list));
  return unwind.exit(mapPages(iopt, list, length, dst, prot, flags));
}

/**
 * iommufd_ioas_map over the given steps of iopt_map_user_pages (the reference's where none is
 * given); `checksIovaTop` false drops the `cmd->iova >= ULONG_MAX` half of the EOVERFLOW test.
 */
export function ioasMapHandler({ checksIovaTop = true, ...steps }: MapUserPagesSteps & { readonly checksIovaTop?: boolean }): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    const flags = cmd.num('flags');
    if (flags & ~MAP_FLAGS || cmd.num('__reserved')) return -EOPNOTSUPP;
    if ((checksIovaTop && cmd.big('iova') >= ULONG_MAX) || cmd.big('length') >= ULONG_MAX) return -EOVERFLOW;
    if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
    const ioas = iommufdGetIoas(ctx, cmd.num('ioas_id'));
    if (ioas.errno) return ioas.errno;
    const dst = { iova: cmd.big('iova') };
    const rc = mapUserPages(ctx, ioas.value!.iopt, dst, cmd.big('user_va'), cmd.big('length'), convIommuProt(flags), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA, steps);
    if (rc) return rc;
    cmd.set('iova', dst.iova);
    return iommufdUcmdRespond(ucmd);
  };
}

/** iommufd_vfio_map_dma over the given steps of iopt_map_user_pages (the reference's where none is given). */
export function vfioMapDmaHandler(steps: MapUserPagesSteps): (ctx: IommufdCtx, d: CompatDecode) => number {
  return (ctx, d) => {
    const map = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
    const flags = map.num('flags');
    if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return -EINVAL;
    let prot = IOMMU_CACHE;
    if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
    if (flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
    const ioas = ctx.vfioIoas as IommufdIoas | null;
    if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV;
    return mapUserPages(ctx, ioas.iopt, { iova: map.big('iova') }, map.big('vaddr'), map.big('size'), prot, 0, steps);
  };
}

/** The steps of iopt_map_pages a fault may replace; each one not given is the reference's. */
export interface MapPagesSteps {
  /** iopt_alloc_iova: the automatic IOVA. */
  readonly allocIova?: typeof ioptAllocIova;
  /** iopt_alloc_area_pages' check of a fixed destination (iopt_check_iova over the whole length). */
  readonly checkIova?: (iopt: IoPagetable, iova: bigint, length: bigint, list: readonly PagesListElm[]) => number;
  /** iopt_insert_area's `(prot & IOMMU_WRITE) && !pages->writable` refusal (EPERM). */
  readonly writeNeedsWritablePages?: boolean;
  /** iopt_fill_domains_pages: every element's area filled into the domains, the ones filled taken out again when one fails. */
  readonly fillDomains?: (iopt: IoPagetable, list: readonly PagesListElm[]) => number;
  /** iopt_alloc_area_pages' `iova += elm->length` between the elements. */
  readonly advancesIova?: boolean;
  /** iopt_alloc_area_pages' `length & (iopt->iova_alignment - 1)` refusal (EINVAL); a zero length is refused either way. */
  readonly checksLengthAlignment?: boolean;
  /** The user address an automatic IOVA is sought for: the first element's, elm->start_byte + pages->uptr. */
  readonly autoIovaUptr?: (first: PagesListElm) => bigint;
  /** iopt_insert_area's `area->page_offset & (iopt->iova_alignment - 1)` refusal (EINVAL). */
  readonly checksPageOffset?: boolean;
  /**
   * iopt_insert_area's overflow checks as the kernel makes them, start_byte an
   * unsigned long (check_add_overflow on the IOVA and on the start byte,
   * WARN_ON(area->pages_node.last >= pages->npages): EOVERFLOW), which only a
   * faulty source walk can reach.
   */
  readonly checksPagesBounds?: boolean;
}

const P = BigInt(PAGE_SIZE);

/** iopt_fill_domains_pages over the given iopt_area_fill_domains (the reference's where none is given). */
export function fillDomainsPagesWith(areaFill: typeof ioptAreaFillDomains = ioptAreaFillDomains): (iopt: IoPagetable, list: readonly PagesListElm[]) => number {
  return (iopt, list) => {
    const unwind = new Unwind();
    for (const elm of list) {
      const rc = areaFill(iopt, elm.area!, elm.pages!);
      if (rc) return unwind.exit(rc);
      unwind.onError('out_unfill', () => ioptAreaUnfillDomains(iopt, elm.area!, elm.pages!));
    }
    return unwind.exit(0);
  };
}

/** iopt_fill_domains_pages, as the reference has it. */
export const fillDomainsPages = fillDomainsPagesWith();

/** The steps of iopt_area_fill_domains a fault may replace; each one not given is the reference's. */
export interface AreaFillSteps {
  /** The pin of the area's pages (pfn_reader over the pages' holes), charged later; its failure's release. */
  readonly hold?: (pages: IoptPages, first: number, last: number) => { readonly errno: number; release(): void };
  /** batch_to_domain of the whole area into the index-th domain of the IOAS. */
  readonly mapDomain?: (iopt: IoPagetable, area: IoptArea, pages: IoptPages, domain: IoptDomain, index: number) => number;
  /** pfn_reader_update_pinned: the pins charged (locked_vm, pinned_vm, RLIMIT_MEMLOCK) once the domains are filled. */
  readonly charges?: boolean;
}

/** A copy of iopt_area_fill_domains over the given steps (with none, the reference's). */
export function areaFillDomainsWith({
  hold = (pages, first, last) => ({ errno: ioptPagesHold(pages, first, last, 'later').errno, release: () => ioptPagesRelease(pages, first, last) }),
  mapDomain = (iopt, area, pages, domain) => areaMapDomain(iopt, area, pages, domain),
  charges = true,
}: AreaFillSteps): typeof ioptAreaFillDomains {
  return (iopt, area, pages) => {
    if (iopt.domains.length === 0) return 0;
    const held = hold(pages, area.firstIndex, area.lastIndex);
    if (held.errno) return held.errno;
    const unwind = new Unwind();
    unwind.onError('out_unpin', () => held.release());
    let index = 0;
    for (const domain of iopt.domains) {
      const rc = mapDomain(iopt, area, pages, domain, index++);
      if (rc) return unwind.exit(rc);
      unwind.onError('out_unmap', () => ioptAreaUnmapDomain(area, domain));
    }
    const rc = charges ? ioptPagesCharge(pages) : 0; // pfn_reader_update_pinned
    if (rc) return unwind.exit(rc);
    area.filled = true;
    return unwind.exit(0);
  };
}

/** A copy of iopt_map_pages over the given steps (with none, the reference's). */
export function mapPagesWith({ allocIova = ioptAllocIova, checkIova = (iopt, iova, length) => ioptCheckIova(iopt, iova, length), writeNeedsWritablePages = true, fillDomains = fillDomainsPages, advancesIova = true, checksLengthAlignment = true, autoIovaUptr = (first) => first.pages!.uptr + first.startByte, checksPageOffset = true, checksPagesBounds = false }: MapPagesSteps): typeof ioptMapPages {
  // iopt_insert_area
  const insertArea = (iopt: IoPagetable, elm: PagesListElm, iova: bigint, prot: number): number => {
    if (writeNeedsWritablePages && prot & IOMMU_WRITE && !elm.pages!.writable) return -EPERM;
    const startByte = checksPagesBounds ? BigInt.asUintN(64, elm.startByte) : elm.startByte;
    if (checksPageOffset && Number(startByte % P) & (iopt.iovaAlignment - 1)) return -EINVAL;
    if (checksPagesBounds) {
      if (iova + elm.length - 1n > ULONG_MAX) return -EOVERFLOW;
      const lastByte = startByte + elm.length - 1n;
      if (lastByte > ULONG_MAX || lastByte / P >= BigInt(elm.pages!.npages)) return -EOVERFLOW;
    }
    const area = new IoptArea(iopt, iova, iova + elm.length - 1n, elm.startByte, prot);
    if (area.last > ULONG_MAX) return -EOVERFLOW;
    // After any area of equal start, as the interval tree inserts (only a fault makes two).
    let i = 0;
    while (i < iopt.areas.length && iopt.areas[i]!.start <= area.start) i++;
    iopt.areas.splice(i, 0, area);
    elm.area = area;
    return 0;
  };
  // iopt_alloc_area_pages
  const allocAreaPages = (iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number => {
    for (const _elm of list) if (iopt.faults.shouldFail()) return -ENOMEM; // iopt_area_alloc
    if ((checksLengthAlignment && length & BigInt(iopt.iovaAlignment - 1)) || !length) return -EINVAL;
    if (flags & IOPT_ALLOC_IOVA) {
      const first = list[0]!;
      const uptr = checksPagesBounds ? BigInt.asUintN(64, autoIovaUptr(first)) : autoIovaUptr(first);
      const r = allocIova(iopt, uptr, length);
      if (r.errno) return r.errno;
      dstIova.iova = r.value!;
      const steered = iopt.steerAutoIova?.(uptr, length);
      if (steered !== undefined && ioptAutoIovaAllowed(iopt, uptr, length, steered)) dstIova.iova = steered;
    } else {
      const rc = checkIova(iopt, dstIova.iova, length, list);
      if (rc) return rc;
    }
    let iova = dstIova.iova;
    for (const elm of list) {
      const rc = insertArea(iopt, elm, iova, prot);
      if (rc) return rc;
      if (advancesIova) iova += elm.length;
    }
    return 0;
  };
  return (iopt, list, length, dstIova, prot, flags) => {
    const rc = allocAreaPages(iopt, list, length, dstIova, prot, flags) || fillDomains(iopt, list);
    if (rc) return rc;
    for (const elm of list) {
      elm.area!.pages = elm.pages;
      elm.pages = null;
      elm.area = null;
    }
    return 0;
  };
}

/** The steps of iopt_alloc_iova a fault may replace; each one not given is the reference's. */
export interface AllocIovaSteps {
  /** __alloc_iova_check_range: where in [start, last] an aligned `length` fits, if it does. */
  readonly checkRange?: typeof allocIovaCheckRange;
  /** interval_tree_span_iter: the used spans of some interval trees, merged. */
  readonly spans?: (trees: readonly (readonly Range[])[]) => Range[];
  /** The trees whose holes the walk visits (reserved_itree and area_itree). */
  readonly usedTrees?: (iopt: IoPagetable) => readonly (readonly Range[])[];
  /** The last IOVA the hole walk of one allowed span visits (the span's last_used). */
  readonly walkLast?: (span: Range, windowLast: bigint) => bigint;
  /** The first allowed span large enough for the length decides: -ENOSPC when none of its holes fits (the kernel's: the next spans are searched). */
  readonly firstFittingSpanOnly?: boolean;
  /** The alignment the search demands of the IOVA (0: -EINVAL). */
  readonly alignment?: typeof autoIovaAlignment;
  /** The first test's bound on the length (-EOVERFLOW; the kernel's: ULONG_MAX / 2 or more, protecting roundup_pow_of_two). */
  readonly tooLong?: (length: bigint) => boolean;
}

/** A copy of iopt_alloc_iova over the given steps (with none, the reference's). */
export function allocIovaWith({ checkRange = allocIovaCheckRange, spans = usedSpans, usedTrees = (iopt) => [iopt.reserved, iopt.areas], walkLast = (span) => span.last, firstFittingSpanOnly = false, alignment: alignmentOf = autoIovaAlignment, tooLong = (length) => length >= ULONG_MAX / 2n }: AllocIovaSteps): typeof ioptAllocIova {
  return (iopt, uptr, length) => {
    const pageOffset = uptr % P;
    if (length === 0n || tooLong(length)) return err(-EOVERFLOW);
    const alignment = alignmentOf(iopt, uptr, length);
    if (!alignment) return err(-EINVAL);
    const windowStart = P;
    const windowLast = ULONG_MAX - P;
    const allowedSpans =
      iopt.allowed.length === 0
        ? [{ start: windowStart, last: windowLast }]
        : spans([iopt.allowed])
            .filter((s) => s.start <= windowLast && s.last >= windowStart)
            .map((s) => ({ start: s.start < windowStart ? windowStart : s.start, last: s.last > windowLast ? windowLast : s.last }));
    const used = spans(usedTrees(iopt));
    for (const span of allowedSpans) {
      const start = checkRange(span.start, span.last, length, alignment, pageOffset);
      if (start === undefined) continue;
      for (const hole of holes(used, start, walkLast(span, windowLast))) {
        const iova = checkRange(hole.start, hole.last, length, alignment, pageOffset);
        if (iova !== undefined) return ok(iova);
      }
      if (firstFittingSpanOnly) return err(-ENOSPC);
    }
    return err(-ENOSPC);
  };
}
