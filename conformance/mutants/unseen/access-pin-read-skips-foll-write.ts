/**
 * access-pin-read-skips-foll-write (drivers/iommu/iommufd/pages.c
 * iopt_pages_fill_xarray, reached from iopt_area_add_access when an in-kernel
 * access pins pages that no domain holds yet: iommufd_access_pin_pages, the
 * selftest's IOMMU_TEST_OP_ACCESS_PAGES; 6.12 and 7.3).
 *
 * An iopt_pages is pinned once, for everyone who uses it: the areas of every
 * IOAS that maps it (their domains, now or later) and every in-kernel access.
 * Whether a pin asks FOLL_WRITE is therefore a property of the pages — were
 * they mapped writable — and never of the caller that happens to pin first:
 *
 *     static void pfn_reader_user_init(struct pfn_reader_user *user,
 *                                      struct iopt_pages *pages)
 *     {
 *             ...
 *             user->gup_flags = FOLL_LONGTERM;
 *             if (pages->writable)
 *                     user->gup_flags |= FOLL_WRITE;
 *     }
 *
 *     int iopt_pages_fill_xarray(struct iopt_pages *pages, unsigned long start_index,
 *                                unsigned long last_index, struct page **out_pages)
 *     {
 *             ...
 *             pfn_reader_user_init(&user, pages);
 *
 * THE FAULT: the access's direction is passed down (iopt_area_add_access
 * already has `flags`) so that a read-only access "does not have to dirty or
 * COW-break the pages" — the way iopt_pages_rw_page() picks its gup flags for
 * its short-lived pin:
 *
 *             pfn_reader_user_init(&user, pages);
 *             if (!(flags & IOMMUFD_ACCESS_RW_WRITE))
 *                     user.gup_flags &= ~FOLL_WRITE;
 *
 * The pins such a read access takes are long-term and shared: they are put in
 * pages->pinned_pfns, and a domain added to the IOAS later (iopt_fill_domain)
 * reads the PFNs from there instead of pinning again, and maps them with the
 * area's own IOMMU_WRITE.
 *
 * Why it takes several commands and two objects: the IOAS must hold a
 * writable mapping that nothing has pinned yet (IOMMU_IOAS_MAP with
 * WRITEABLE into an IOAS without a domain is lazy: no pin, no check of the
 * VMA), then an access (the second object) pins it for read. The kernel
 * refuses that pin with EFAULT when the user memory is not writable
 * (mmap(PROT_READ), mprotect, a read-only file mapping); the fault accepts it.
 * The harm shows on the following commands: a device attached to the IOAS
 * afterwards (VFIO_DEVICE_ATTACH_IOMMUFD_PT, IOMMU_HWPT_ALLOC,
 * MOCK_DOMAIN) gets a domain whose fill reuses the access's pins — where the
 * kernel's attach fails with EFAULT (its own pin asks FOLL_WRITE) — and the
 * device's DMA writes land in memory the process itself cannot write (a
 * PROT_READ mapping, a read-only file or shared-memory mapping). It lasts as
 * long as the access keeps the pin.
 *
 * Applied as: while IOMMU_TEST_OP_ACCESS_PAGES without MOCK_FLAGS_ACCESS_WRITE
 * runs, the process's pin_user_pages is asked without FOLL_WRITE (the only
 * pins that command takes are those of iopt_pages_fill_xarray's holes).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const state = { readAccessPin: false };
  return mutantImplementation('access-pin-read-skips-foll-write', profile, {
    process: (proc) =>
      patchOwn(proc, 'pinUserPages', (pin) => (va, npages, write) =>
        // THE FAULT: a read-only access's fill drops FOLL_WRITE even for writable pages.
        pin(va, npages, state.readAccessPin ? false : write),
      ),
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_PAGES || cmd.num('access_pages.flags') & MOCK_FLAGS_ACCESS_WRITE) return original(ucmd);
        state.readAccessPin = true;
        try {
          return original(ucmd);
        } finally {
          state.readAccessPin = false;
        }
      },
    },
  });
}
