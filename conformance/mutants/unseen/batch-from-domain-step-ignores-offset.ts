/**
 * batch-from-domain-step-ignores-offset (drivers/iommu/iommufd/pages.c
 * batch_from_domain, the reader of PFNs back from a domain: used by
 * iopt_area_unpin_domain when an area leaves its storage domain
 * (IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA, the IOAS's destruction, the last
 * domain leaving the IOAS) to learn which pages to unpin, and by
 * pfn_reader_fill_span when a domain joins an IOAS whose areas another
 * domain already holds, to learn which pages to map).
 *
 * An area need not start on a page boundary of its user memory: its first
 * byte sits area->page_offset into its first page (any offset while the IOAS
 * has alignment 1, a multiple of 2 KiB with the selftest's mock domain). The
 * reader walks the area's IOVAs one page at a time; the first step is short
 * by the page offset, so every later IOVA is the start of its page's part of
 * the area:
 *
 *     iova = iopt_area_index_to_iova(area, start_index);
 *     if (start_index == iopt_area_index(area))
 *             page_offset = area->page_offset;
 *     while (start_index <= last_index) {
 *             phys = iommu_iova_to_phys(domain, iova) - page_offset;
 *             if (!batch_add_pfn(batch, PHYS_PFN(phys)))
 *                     return;
 *             iova += PAGE_SIZE - page_offset;
 *             page_offset = 0;
 *             start_index++;
 *     }
 *
 * The fault steps a whole page every time ("one PFN per PAGE_SIZE of IOVA"):
 *
 *             iova += PAGE_SIZE;
 *
 * From an area's first index, every later read lands page_offset bytes
 * into the right page, which still gives the right PFN — except the last
 * page when the area holds no more than page_offset bytes of it (e.g. a 2 KiB
 * offset and a whole number of pages): that read falls past the area's end,
 * on whatever the domain maps there (the next area's first page) or on
 * nothing (iommu_iova_to_phys returns 0: PFN 0).
 *
 * Why it takes several commands and objects: the area must be mapped at a
 * sub-page user offset into an IOAS holding a domain that accepts it (the
 * mock's 2 KiB pages), and the wrong PFN is only used later: when the area is
 * unmapped (or its last domain detached) the teardown unmaps the right IOVAs
 * but unpins the wrong page, and when a second domain (another device,
 * another HWPT) joins the IOAS it is filled with the wrong page.
 *
 * Consequence for a user: after IOMMU_IOAS_UNMAP of such an area its last
 * page stays pinned for good (pin count 1 after the unmap and after close,
 * while locked_vm / pinned_vm were given back), and the neighbouring
 * mapping's first page loses its pin while its domain still maps it (or the
 * kernel "unpins" page 0): once the user frees that memory the device's DMA
 * through the neighbour reaches reused frames. A device attached through a
 * second domain translates the area's last page to the neighbour's page
 * (DMA to the wrong user memory) or to physical page 0.
 *
 * Applied as: every paging domain's unmap of an area (an unmap whose first
 * IOVA translates at a sub-page offset) first reads the two PFNs the
 * kernel's loop would (with the domain's own translations) and, if they
 * differ, the unpin of the right page that follows is turned into an unpin
 * of the misread one (the neighbour's later unpin of it is then not repeated;
 * an unpin of a page nobody pinned is dropped). A domain being added to an
 * IOAS that already has one is filled with the misread page for the last
 * page of such areas. (IOMMU_IOAS_COPY's fill from a source area's storage
 * domain reads the same way in the kernel; the model leaves that path alone.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoPagetable, IoptArea, IoptDomain } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommuDomain } from '../../../impl/platform/index.ts';
import type { Process } from '../../../impl/process/process.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const PAGE = 4096;

/** iommu_iova_to_phys: 0 where nothing is mapped. */
function iovaToPhys(d: IoptDomain, iova: bigint): number {
  const pa = (d as unknown as IommuDomain).iovaToPhys(Number(iova));
  return pa < 0 ? 0 : pa;
}

/** Where the faulty walk from an area's first index reads its last page, if that differs from the right place. */
function misreadLast(start: bigint, length: bigint, pageOffset: number): { readonly right: bigint; readonly wrong: bigint } | undefined {
  if (!pageOffset) return undefined;
  const n = Math.ceil((pageOffset + Number(length)) / PAGE); // pages of the area
  if (n < 2) return undefined;
  const lastPortion = pageOffset + Number(length) - (n - 1) * PAGE;
  if (lastPortion > pageOffset) return undefined; // the faulty read still lands inside the last page
  return { right: start - BigInt(pageOffset) + BigInt((n - 1) * PAGE), wrong: start + BigInt((n - 1) * PAGE) };
}

export function createAdapter(profile: Profile): Implementation {
  /** The domain iopt_table_add_domain is filling, and the IOAS it fills it for. */
  const filling = new Map<IoptDomain, { readonly iopt: IoPagetable; readonly storage: IoptDomain | undefined }>();
  /** For the unpin that follows an area's unmap: right frame → frame the faulty walk read. */
  const redirects = new Map<number, number>();
  /** Frames the fault unpinned early for their owner: that owner's own unpin is not repeated. */
  const stale = new Map<number, number>();
  const installed = new WeakSet<IoPagetable>();

  const onUnmap = (d: IoptDomain, iova: bigint, size: number): void => {
    const first = iovaToPhys(d, iova);
    if (!first) return;
    const m = misreadLast(iova, BigInt(size), first % PAGE);
    if (!m) return;
    const right = Math.floor(iovaToPhys(d, m.right) / PAGE);
    const wrong = Math.floor(iovaToPhys(d, m.wrong) / PAGE);
    if (right && right !== wrong) redirects.set(right, wrong);
  };

  /** The area of `iopt` that contains iova. */
  const areaAt = (iopt: IoPagetable, iova: bigint): IoptArea | undefined => iopt.areas.find((a) => a.start <= iova && iova <= a.last);

  const patchDomain = (d: IoptDomain): void => {
    let unmapRaw: IoptDomain['unmap'] = () => 0;
    patchOwn(d, 'unmap', (unmap) => {
      unmapRaw = unmap;
      return (iova: bigint, size: number) => {
        onUnmap(d, iova, size);
        return unmap(iova, size);
      };
    });
    patchOwn(d, 'map', (map) => (iova: bigint, pa: number, size: number, prot: number) => {
      const f = filling.get(d);
      const area = f?.storage ? areaAt(f.iopt, iova) : undefined;
      const m = area ? misreadLast(area.start, area.length, area.pageOffset) : undefined;
      const end = iova + BigInt(size);
      if (!f?.storage || !area || !m || m.right < iova || m.right >= end) return map(iova, pa, size, prot);
      // pfn_reader_fill_span → batch_from_domain(storage_domain): the last page comes from the misread IOVA.
      const head = Number(m.right - iova);
      const wrongPa = Math.floor(iovaToPhys(f.storage, m.wrong) / PAGE) * PAGE;
      if (head) {
        const rc = map(iova, pa, head, prot);
        if (rc) return rc;
      }
      const rc = map(m.right, wrongPa, size - head, prot);
      if (rc && head) unmapRaw(iova, head);
      return rc;
    });
  };

  const install = (iopt: IoPagetable): void => {
    if (installed.has(iopt)) return;
    installed.add(iopt);
    const domains = iopt.domains;
    // iopt_table_add_domain starts with the duplicate test; only it asks the table whether it holds a domain.
    patchOwn(domains, 'includes', (includes) => (domain: IoptDomain): boolean => {
      const r = includes(domain);
      if (!r) filling.set(domain, { iopt, storage: domains[0] });
      return r;
    });
    patchOwn(domains, 'push', (push) => (...added: IoptDomain[]) => {
      for (const d of added) filling.delete(d);
      return push(...added);
    });
  };

  return mutantImplementation('batch-from-domain-step-ignores-offset', profile, {
    process: (proc: Process) => {
      stale.clear();
      redirects.clear();
      patchOwn(proc, 'unpinUserPage', (orig) => (pfn: number) => {
        const s = stale.get(pfn) ?? 0;
        if (s > 0) {
          if (s === 1) stale.delete(pfn);
          else stale.set(pfn, s - 1);
          return;
        }
        const wrong = redirects.get(pfn);
        if (wrong === undefined) return orig(pfn);
        // batch_unpin of the PFN the faulty walk read: the right page keeps its pin.
        redirects.delete(pfn);
        if (proc.pinCountOfPfn(wrong) > 0) {
          orig(wrong);
          stale.set(wrong, (stale.get(wrong) ?? 0) + 1);
        }
      });
    },
    domain: (d) => patchDomain(d),
    object: (obj) => {
      if (obj?.type === 'IOAS') install((obj as IommufdIoas).iopt);
    },
    request: (req, next) => {
      try {
        return next(req);
      } finally {
        redirects.clear();
        filling.clear();
      }
    },
  });
}
