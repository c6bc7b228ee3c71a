/**
 * pinned-vm-uncharge-adds (drivers/iommu/iommufd/pages.c
 * iopt_pages_update_pinned in 7.3, do_update_pinned in 6.12; reached by every
 * unpin that gives pages back: IOMMU_IOAS_UNMAP / VFIO_IOMMU_UNMAP_DMA of an
 * area a domain held, detaching or destroying the last domain of an IOAS,
 * dropping an access's pin, a failed map's unwind).
 *
 * After the locked_vm accounting, the kernel keeps mm->pinned_vm (VmPin) in
 * step with the pages' pin count, in both directions:
 *
 *     pages->last_npinned = pages->npinned;
 *     if (inc)
 *             atomic64_add(npages, &pages->source_mm->pinned_vm);
 *     else
 *             atomic64_sub(npages, &pages->source_mm->pinned_vm);
 *     return 0;
 *
 * The fault is a copy-paste slip in the decreasing branch:
 *
 *     else
 *             atomic64_add(npages, &pages->source_mm->pinned_vm);
 *
 * What a user sees: the charge of a pin is right (VmPin rises by the pages
 * pinned), but every unpin raises VmPin again by the pages released instead of
 * lowering it: after an unmap, a detach or an access unpin,
 * process_info.pinnedVmPages is twice the pages ever unpinned too high, and it
 * never returns to 0 once everything is unmapped and closed. locked_vm (user
 * or mm) is unaffected.
 *
 * Applied as: the process's pinned_vm counter, which only do_update_pinned /
 * iopt_pages_update_pinned writes, turns each decrease written to it into the
 * same increase; every other step is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pinned-vm-uncharge-adds', profile, {
    process: (proc) => {
      let value = proc.pinnedVm;
      Object.defineProperty(proc, 'pinnedVm', {
        configurable: true,
        enumerable: true,
        get: () => value,
        // THE FAULT: the `else atomic64_sub(npages, ...)` branch adds.
        set: (v: number) => {
          value = v < value ? value + (value - v) : v;
        },
      });
    },
  });
}
