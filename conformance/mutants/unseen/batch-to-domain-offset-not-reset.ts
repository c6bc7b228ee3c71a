/**
 * batch-to-domain-offset-not-reset (drivers/iommu/iommufd/pages.c
 * batch_to_domain, reached from iopt_area_fill_domains (MAP, COPY, VFIO
 * MAP_DMA into an IOAS with domains) and iopt_area_fill_domain (a domain
 * added to an IOAS holding areas); 6.12 and 7.3 alike).
 *
 * A pfn batch holds runs of physically contiguous PFNs; batch_to_domain maps
 * run after run at consecutive IOVAs. Only the area's first page can be
 * partial (area->page_offset, possible where iova_alignment is below
 * PAGE_SIZE: the selftest mock domain's 2 KiB pages), so the offset applies
 * to the first run and is cleared after it:
 *
 *     if (start_index == iopt_area_index(area))
 *             page_offset = area->page_offset;
 *     next_iova = iova = start_iova =
 *             iopt_area_index_to_iova(area, start_index);
 *     while (cur < batch->end) {
 *             next_iova = min(last_iova + 1,
 *                             next_iova + batch->npfns[cur] * PAGE_SIZE -
 *                                     page_offset);
 *             ...
 *                     rc = iommu_map(domain, iova,
 *                                    PFN_PHYS(batch->pfns[cur]) + page_offset,
 *                                    next_iova - iova, iommu_prot,
 *                                    GFP_KERNEL_ACCOUNT);
 *             if (rc)
 *                     goto err_unmap;
 *             iova = next_iova;
 *             page_offset = 0;
 *             cur++;
 *     }
 *
 * THE FAULT: the `page_offset = 0;` line is lost. The first run is mapped
 * right; every later run of the batch is mapped from page_offset into its
 * first frame and page_offset shorter, at the IOVA where the previous one
 * ended. So from the second run on, each IOVA of the area translates to the
 * user byte k * page_offset further on (k = the run's rank), and the area's
 * last k * page_offset bytes are left unmapped (DMA there faults). Areas
 * starting on a page boundary, and areas that are a single physically
 * contiguous run, are mapped exactly as the kernel maps them.
 *
 * What a user sees: with a mock domain, IOMMU_IOAS_MAP of user_va =
 * buf + 0x800, length 0x2800 (three pages, frames not contiguous) at IOVA
 * X: a DMA (or IOMMU_TEST_OP_MD_CHECK_MAP) at X + 0x800 reaches buf + 0x1800
 * instead of buf + 0x1000, and X + 0x2000..0x27ff is not mapped.
 *
 * Applied as: every paging domain the machine's drivers allocate, while it
 * is filled for an area with a page offset (of its own IOAS, or of the IOAS
 * it is being added to), maps the reference's runs after the first as the
 * faulty loop does: at the IOVA where the previous faulty run ended, from
 * page_offset into the run's first frame, page_offset shorter, clamped at the
 * area's last IOVA. (The kernel's batches hold thousands of runs, so the
 * small areas a test makes are one batch.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PAGE_SIZE, type IommufdIoas, type IoPagetable, type IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { watchDomainAdds } from './_domain_add.ts';

const P = BigInt(PAGE_SIZE);

export function createAdapter(profile: Profile): Implementation {
  const iopts = new Set<IoPagetable>();
  const { adding, object: watch } = watchDomainAdds((iopt) => iopt);

  return mutantImplementation('batch-to-domain-offset-not-reset', profile, {
    object: (obj, ctx, env) => {
      watch(obj, ctx, env);
      if (obj?.type === 'IOAS') iopts.add((obj as IommufdIoas).iopt);
    },
    domain: (d) => {
      /** The fill in progress on this domain: its area and how far the faulty runs lag the reference's. */
      let fill: { area: IoptArea; deficit: bigint } | undefined;
      patchOwn(d, 'map', (map) => (iova: bigint, pa: number, size: number, prot: number) => {
        let iopt = adding.get(d);
        if (!iopt) for (const t of iopts) if (t.domains.indexOf(d) >= 0) iopt = t;
        const area = iopt && ioptAreaIterFirst(iopt, iova, iova);
        if (!area || area.pageOffset === 0) return map(iova, pa, size, prot);
        if (iova === area.start) {
          // The first run: page_offset applies, as the kernel has it.
          fill = { area, deficit: 0n };
          return map(iova, pa, size, prot);
        }
        if (!fill || fill.area !== area) return map(iova, pa, size, prot);
        // THE FAULT: page_offset is still area->page_offset for this run.
        const off = BigInt(area.pageOffset);
        const end = area.last + 1n; // last_iova + 1
        const at = iova - fill.deficit; // where the previous run ended
        const npfns = (BigInt(size) + P - 1n) / P; // a later run starts on a page boundary
        const next = at + npfns * P - off < end ? at + npfns * P - off : end;
        fill.deficit = iova + BigInt(size) - next;
        if (next <= at) return 0;
        return map(at, pa + Number(off), Number(next - at), prot);
      });
    },
    request: (req, next) => {
      try {
        return next(req);
      } finally {
        adding.clear();
      }
    },
  });
}
