/**
 * pt-iova-to-phys-leaf-base (drivers/iommu/generic_pt/iommu_pt.h
 * __do_iova_to_phys, behind the domain op iova_to_phys / iommu_iova_to_phys()).
 *
 * iova_to_phys walks the table to the leaf covering the IOVA and must return
 * the physical address of that byte, the leaf's output address plus the
 * offset of the IOVA inside the leaf — whatever the leaf's size (a 2 MiB
 * leaf, a contiguous NextLevel=7 run on AMD v1 / the selftest mock):
 *     case PT_ENTRY_OA:
 *             *res = pt_entry_oa_exact(&pts);
 *             return 0;
 * (pt_entry_oa_exact(pts) = the leaf OA | log2_mod(va, pt_entry_oa_lg2sz(pts))).
 *
 * THE FAULT: the leaf's base address is returned,
 *             *res = pt_entry_oa(&pts);
 * the helper every other walker in the file uses; the sub-leaf offset is
 * lost. Only IOVAs at the start of a leaf come out right.
 *
 * Consequence for a user: every kernel user of iommu_iova_to_phys() on an
 * iommufd domain gets the wrong page for an IOVA inside a leaf. In the kernel
 * that includes iommufd's own batch_from_domain(), which reads the PFNs back
 * from the storage domain to unpin them when an area is unmapped: inside a
 * 2 MiB leaf it would unpin the first page 512 times and none of the others.
 * What this model shows a user of /dev/iommu is the selftest's checking op:
 * IOMMU_TEST_OP_MD_CHECK_MAP (iommufd_test_md_check_pa, which compares
 * iova_to_phys of every 2 KiB mock page with the page under the user VA)
 * fails with EINVAL on a correct mapping as soon as it looks at the second
 * half of a 4 KiB mock leaf or inside any larger leaf.
 *
 * Applied as: every generic_pt paging domain's iova_to_phys (7.3 VT-d, AMD v1,
 * selftest mock) answers the leaf's base; the hardware walker is untouched.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IoPageTable members __iova_to_phys touches. */
interface TableInternals {
  readonly u32: Uint32Array;
  readonly fmt: { leafOa(lo: number, hi: number, level: number): number };
  lastLevel: number;
  findLeaf(iova: number): number;
  iovaToPhys(iova: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-iova-to-phys-leaf-base', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const t = pt as unknown as TableInternals;
      patchOwn(t, 'iovaToPhys', () => (iova: number) => {
        const w = t.findLeaf(iova);
        if (w < 0) return 0;
        const level = t.lastLevel;
        // THE FAULT: pt_entry_oa, not pt_entry_oa_exact — no offset inside the leaf.
        return t.fmt.leafOa(t.u32[w] as number, t.u32[w + 1] as number, level);
      });
    },
  });
}
