/**
 * access-prot-from-pages-writable (drivers/iommu/iommufd/device.c
 * check_area_prot, used by iommufd_access_pin_pages and iommufd_access_rw).
 *
 * An in-kernel access (an mdev/emulated device, the selftest's staccess) may
 * only write through an IOVA the user mapped writable in *that* IOAS:
 *     static bool check_area_prot(struct iopt_area *area, unsigned int flags)
 *     {
 *             if (flags & IOMMUFD_ACCESS_RW_WRITE)
 *                     return area->iommu_prot & IOMMU_WRITE;
 *             return area->iommu_prot & IOMMU_READ;
 *     }
 * The fault takes the write permission from the wrong object, the shared
 * iopt_pages, as a "the area mirrors its pages" simplification would:
 *             if (flags & IOMMUFD_ACCESS_RW_WRITE)
 *                     return area->pages->writable;
 * For an area made by IOMMU_IOAS_MAP the two agree (the pages are writable
 * exactly when the map was WRITEABLE). They differ only when a second area
 * shares the pages with other permissions: IOMMU_IOAS_COPY of a writable map
 * without IOMMU_IOAS_MAP_WRITEABLE makes a read-only area over writable
 * pages.
 *
 * Consequence: through the read-only copy, an access object pins the pages
 * for write (IOMMU_TEST_OP_ACCESS_PAGES with MOCK_FLAGS_ACCESS_WRITE) and
 * writes them (IOMMU_TEST_OP_ACCESS_RW with MOCK_ACCESS_RW_WRITE): the
 * emulated device modifies user memory at an IOVA the user granted it read
 * only (the kernel answer is EPERM). The IOMMU page tables are unaffected
 * (a real device attached to that IOAS still gets a permission fault), so
 * only the access path breaks the user's read-only mapping.
 *
 * Applied as: for a write ACCESS_PAGES / ACCESS_RW, the areas the range
 * covers whose pages are writable are treated as writable for the check
 * (their iommu_prot is widened for the duration of the reference's
 * handler, which reads it nowhere else on these paths).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { IOMMU_WRITE, ioptAreaContig } from '../../../impl/iommufd/io_pagetable.ts';
import { ULONG_MAX, type IoptArea, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation } from '../harness.ts';

/** The read-only areas over writable pages that a write of [iova, iova+length) through the access would cross. */
function roAreasOverWritablePages(ucmd: Ucmd, field: 'access_pages' | 'access_rw', writeFlag: number): IoptArea[] {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num(`${field}.flags`);
  if (!(flags & writeFlag)) return [];
  const file = ctx.proc.fds.lookup(cmd.num('id'));
  if (!file || file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return [];
  const access = file.private_data.access;
  const ioas = access?.ioas;
  if (!access || !ioas) return [];
  let iova = cmd.big(`${field}.iova`);
  const length = cmd.big(`${field}.length`);
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(access, iova);
  if (!length) return [];
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return [];
  return ioptAreaContig(ioas.iopt, iova, last)
    .pieces.map((p) => p.area)
    .filter((a) => !(a.iommuProt & IOMMU_WRITE) && a.pages?.writable === true);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-prot-from-pages-writable', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        let widen: IoptArea[] = [];
        if (op === IOMMU_TEST_OP_ACCESS_PAGES) widen = roAreasOverWritablePages(ucmd, 'access_pages', MOCK_FLAGS_ACCESS_WRITE);
        else if (op === IOMMU_TEST_OP_ACCESS_RW) widen = roAreasOverWritablePages(ucmd, 'access_rw', MOCK_ACCESS_RW_WRITE);
        if (widen.length === 0) return original(ucmd);
        const saved = widen.map((a) => a.iommuProt);
        // THE FAULT: check_area_prot(area, WRITE) answers area->pages->writable.
        for (const a of widen) a.iommuProt |= IOMMU_WRITE;
        try {
          return original(ucmd);
        } finally {
          widen.forEach((a, i) => (a.iommuProt = saved[i]!));
        }
      },
    },
  });
}
