/**
 * vtd612-map-width-end-off-by-one (drivers/iommu/intel/iommu.c,
 * intel_iommu_map, 6.12 only: 7.3 maps through generic_pt's map_range).
 *
 * The kernel's width check before __domain_mapping:
 *
 *     max_addr = iova + size;
 *     if (dmar_domain->max_addr < max_addr) {
 *             u64 end;
 *
 *             // check if minimum agaw is sufficient for mapped address
 *             end = __DOMAIN_MAX_ADDR(dmar_domain->gaw) + 1;
 *             if (end < max_addr) {
 *                     pr_err("%s: iommu width (%d) is not "
 *                            "sufficient for the mapped address (%llx)\n", ...);
 *                     return -EFAULT;
 *             }
 *             dmar_domain->max_addr = max_addr;
 *     }
 *
 * with __DOMAIN_MAX_ADDR(gaw) = (1 << gaw) - 1, the last address: `end` is
 * one past it, and max_addr (iova + size) is one past the mapping's last
 * byte. The fault drops the `+ 1` (comparing an exclusive end with the
 * inclusive last address, the off-by-one the macro's name invites): a map
 * whose last page is the last page of the domain's width — IOVA
 * 0xffff_ffff_f000 on a 4-level (48-bit) domain, 0x7f_ffff_f000 on vtd1's
 * 39-bit one — fails with -EFAULT; every map below the top still works.
 *
 * Observable: IOMMU_IOAS_MAP of the top page of the aperture (allowed by
 * IOMMU_IOAS_IOVA_RANGES) into an IOAS a 6.12 VT-d device is attached to
 * fails with EFAULT (and nothing is mapped); attaching such a device to an
 * IOAS that already maps the top page fails the domain fill the same way.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** What intel_iommu_map's check reads of the 6.12 VT-d table (private members there). */
interface LegacyVtd {
  readonly winHi: number;
  readonly gawLimit: number;
  mapPages(iova: number, paddr: number, pgLg2: number, pgcount: number, prot: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd612-map-width-end-off-by-one', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'intel-612') return;
      const t = pt as unknown as LegacyVtd;
      patchOwn(t, 'mapPages', (mapPages) => (iova, paddr, pgLg2, pgcount, prot) => {
        const maxAddr = iova + pgcount * 2 ** pgLg2;
        // THE FAULT: end = __DOMAIN_MAX_ADDR(gaw), without the + 1.
        const end = t.gawLimit - 1;
        if (t.winHi === 0 && end < maxAddr) return -EFAULT;
        return mapPages(iova, paddr, pgLg2, pgcount, prot);
      });
    },
  });
}
