/**
 * batch-to-domain-first-run-ignores-offset (drivers/iommu/iommufd/pages.c
 * batch_to_domain, reached from iopt_area_fill_domains (MAP, COPY, VFIO
 * MAP_DMA into an IOAS with domains) and iopt_area_fill_domain (a domain
 * added to an IOAS holding areas); 6.12 and 7.3 alike).
 *
 * A batch holds runs of physically contiguous PFNs; batch_to_domain maps each
 * run at the next IOVA. An area whose IOVA (and user address) starts inside a
 * CPU page — possible where iova_alignment is below PAGE_SIZE, i.e. with the
 * selftest's mock domain (MOCK_IO_PAGE_SIZE 2 KiB) — covers only the tail of
 * its first page, so the first run is shorter by that page offset:
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
 *             rc = iommu_map(domain, iova,
 *                            PFN_PHYS(batch->pfns[cur]) + page_offset,
 *                            next_iova - iova, area->iommu_prot, ...);
 *             ...
 *             iova = next_iova;
 *             page_offset = 0;
 *
 * THE FAULT: `next_iova + batch->npfns[cur] * PAGE_SIZE` — the offset added
 * to the physical address but not taken off the run's length. The first run
 * of such an area is mapped page_offset bytes too long: its IOVAs past the
 * run's last page translate into the physical frame that follows it, which
 * belongs to no page of the mapping (user pages rarely sit in consecutive
 * frames). Every later run of the batch then starts page_offset bytes late,
 * so each of its IOVAs reaches the user byte page_offset before the one the
 * kernel maps there, and the area's last page_offset bytes fall off the
 * clamp. Areas starting on a page boundary, and areas that are one
 * physically contiguous run, are mapped exactly as the kernel maps them.
 * The unmap (iopt_area_unmap_domain) covers the area's IOVA range, which is
 * all the fault mapped, so nothing stays behind.
 *
 * Consequence for a user: with a mock domain, IOMMU_IOAS_MAP of user_va =
 * buf + 0x800, length 0x1800 (two pages, not physically contiguous) at IOVA
 * X: a DMA at X + 0x800 reads or writes the first 2 KiB of the frame after
 * buf's first page instead of buf + 0x1000, and X + 0x1000 reaches
 * buf + 0x1000 instead of buf + 0x1800.
 *
 * Applied as: every paging domain the machine's drivers allocate, while it is
 * filled for an area of an IOAS (its own IOAS, or the one it is being added
 * to), maps that area's runs as the faulty loop does: the first run (at the
 * area's IOVA) page_offset longer, each later one page_offset later, all
 * clamped to the area's last IOVA, with batch_to_domain's own unwind.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { watchDomainAdds } from './_domain_add.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Every IOAS's io_pagetable the process made. */
  const iopts = new Set<IoPagetable>();
  const { adding, object: watch } = watchDomainAdds((iopt) => iopt);

  return mutantImplementation('batch-to-domain-first-run-ignores-offset', profile, {
    object: (obj, ctx, env) => {
      watch(obj, ctx, env);
      if (obj?.type === 'IOAS') iopts.add((obj as IommufdIoas).iopt);
    },
    domain: (d) => {
      patchOwn(d, 'map', (map) => (iova: bigint, pa: number, size: number, prot: number) => {
        let iopt = adding.get(d);
        if (!iopt) for (const t of iopts) if (t.domains.indexOf(d) >= 0) iopt = t;
        const area = iopt && ioptAreaIterFirst(iopt, iova, iova);
        if (!area || area.pageOffset === 0) return map(iova, pa, size, prot);
        const off = BigInt(area.pageOffset);
        const end = area.last + 1n; // last_iova + 1
        if (iova === area.start) {
          // THE FAULT: the first run's next_iova is iova + npfns * PAGE_SIZE (page_offset not subtracted).
          const len = iova + BigInt(size) + off < end ? BigInt(size) + off : end - iova;
          return map(iova, pa, Number(len), prot);
        }
        // Every later run starts where the previous, too long one ended.
        const at = iova + off;
        if (at >= end) return 0; // clamped away: next_iova == last_iova + 1 already
        const len = at + BigInt(size) < end ? BigInt(size) : end - at;
        const rc = map(at, pa, Number(len), prot);
        // batch_to_domain's err_unmap covers [start_iova, iova): the reference's unwind stops at `iova`, the fault's at `at`.
        if (rc) d.unmap(iova, Number(off));
        return rc;
      });
    },
    request: (req, next) => {
      try {
        return next(req);
      } finally {
        adding.clear(); // an add that failed before its fill never reached push
      }
    },
  });
}
