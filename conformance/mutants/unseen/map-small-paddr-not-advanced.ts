/**
 * map-small-paddr-not-advanced (drivers/iommu/iommufd/pages.c
 * batch_iommu_map_small, called by batch_to_domain only when the IOAS has
 * large pages disabled: IOMMU_OPTION(IOMMU_OPTION_HUGE_PAGES, SET, 0), or
 * VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) on the compat IOAS).
 *
 * The kernel (6.12 and 7.3 alike):
 *
 *     static int batch_iommu_map_small(struct iommu_domain *domain,
 *                                      unsigned long iova, phys_addr_t paddr,
 *                                      size_t size, int prot)
 *     {
 *             unsigned long start_iova = iova;
 *             int rc;
 *
 *             if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
 *                     WARN_ON(paddr % PAGE_SIZE || iova % PAGE_SIZE ||
 *                             size % PAGE_SIZE);
 *
 *             while (size) {
 *                     rc = iommu_map(domain, iova, paddr, PAGE_SIZE, prot,
 *                                    GFP_KERNEL_ACCOUNT);
 *                     if (rc)
 *                             goto err_unmap;
 *                     iova += PAGE_SIZE;
 *                     paddr += PAGE_SIZE;
 *                     size -= PAGE_SIZE;
 *             }
 *             return 0;
 *     ...
 *
 * batch_to_domain hands it one batch entry at a time: a run of physically
 * contiguous PFNs (batch->pfns[cur], batch->npfns[cur]). The fault loses the
 * `paddr += PAGE_SIZE;` line of the loop: every IOVA page of a run is mapped
 * to the run's first frame. The large-page path (iommu_map of the whole run)
 * is untouched, so only an IOAS with huge pages off misbehaves, and only
 * where the pinned memory is physically contiguous (THP-backed or otherwise
 * adjacent frames) — a run of one page is mapped right.
 *
 * Observable (confinement): after an IOMMU_IOAS_MAP / IOMMU_IOAS_COPY /
 * VFIO_IOMMU_MAP_DMA into such an IOAS with a domain, or the attach of a
 * domain to it when it already has mappings, a device's DMA to the second and
 * later pages of a contiguous run reads and writes the run's first page
 * instead (data goes to, and is read from, memory at another offset of the
 * buffer than the one mapped at that IOVA; translate reports the wrong
 * physical page). In the kernel, tearing the area down also reads the PFNs
 * back from the domain (batch_from_domain) and would unpin the wrong frames;
 * the model unpins by page index, so only the translations are wrong here.
 *
 * Applied as: each paging domain's map, when the domain belongs to (or is
 * being added to) an IOAS with large pages disabled, tracks consecutive
 * PAGE_SIZE maps of one area (batch_iommu_map_small's calls); a page that
 * continues a physically contiguous run is mapped to the run's first frame.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { PAGE_SIZE, type IommufdIoas, type IoPagetable, type IoptDomain } from '../../../impl/iommufd/iommufd_private.ts';
import { watchDomainAdds } from './_domain_add.ts';

const P = BigInt(PAGE_SIZE);

export function createAdapter(profile: Profile): Implementation {
  const iopts = new Set<IoPagetable>();
  const watch = watchDomainAdds((iopt) => iopt);
  /** The IOAS a domain is in, or is being added to. */
  const ioptOf = (d: IoptDomain): IoPagetable | undefined => {
    for (const iopt of iopts) if (iopt.domains.indexOf(d) >= 0) return iopt;
    return watch.adding.get(d);
  };
  return mutantImplementation('map-small-paddr-not-advanced', profile, {
    object: (obj, ctx, env) => {
      watch.object(obj, ctx, env);
      if (obj?.type === 'IOAS') iopts.add((obj as IommufdIoas).iopt);
    },
    domain: (d) => {
      /** The current run of batch_iommu_map_small: the last page mapped and the run's first frame. */
      let run: { lastIova: bigint; lastPa: number; firstPa: number } | undefined;
      patchOwn(d, 'map', (map) => (iova, pa, size, prot) => {
        const iopt = ioptOf(d);
        if (!iopt || !iopt.disableLargePages || size !== PAGE_SIZE) {
          run = undefined;
          return map(iova, pa, size, prot);
        }
        // batch_to_domain starts each area (and each batch entry) anew.
        const newArea = iopt.areas.some((a) => a.start === iova);
        const continues = run !== undefined && !newArea && iova === run.lastIova + P && pa === run.lastPa + PAGE_SIZE;
        const firstPa = continues ? run!.firstPa : pa;
        run = { lastIova: iova, lastPa: pa, firstPa };
        // THE FAULT: paddr is not advanced inside the run.
        const rc = map(iova, firstPa, size, prot);
        if (rc) run = undefined;
        return rc;
      });
    },
  });
}
