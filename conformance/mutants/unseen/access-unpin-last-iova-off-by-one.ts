/**
 * access-unpin-last-iova-off-by-one (drivers/iommu/iommufd/device.c
 * iommufd_access_unpin_pages).
 *
 * A driver undoes iommufd_access_pin_pages(access, iova, length, …) with
 * iommufd_access_unpin_pages(access, iova, length): the same range, turned
 * into an inclusive last IOVA and walked area by area, each piece handed to
 * iopt_area_remove_access, which must find exactly the [start_index,
 * last_index] access range the pin created:
 *
 *         if (WARN_ON(!length) ||
 *             WARN_ON(check_add_overflow(iova, length - 1, &last_iova)))
 *                 return;
 *         …
 *         iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova)
 *                 iopt_area_remove_access(
 *                         area, iopt_area_iova_to_index(area, iter.cur_iova),
 *                         iopt_area_iova_to_index(
 *                                 area,
 *                                 min(last_iova, iopt_area_last_iova(area))));
 *
 * THE FAULT: the overflow-checked add computes an exclusive end,
 * check_add_overflow(iova, length, &last_iova) (the "- 1" lost when the
 * check was folded into the WARN_ON). When the pinned range ends on a page
 * boundary inside its area — pinning N whole pages that are not the last
 * pages of the mapping — the last index is one too far, so
 * iopt_pages_get_exact_access() finds nothing and iopt_area_remove_access
 * WARNs and returns: the access range, its users count, the area's
 * num_accesses and the pins all stay. (A range that ends mid-page, or at its
 * area's end, still unpins correctly; one that ends at an area's end with a
 * contiguous area after it also hands that next area a one-page range,
 * which drops someone else's single-page access if one happens to be there.)
 *
 * Consequence: every page-granular unpin of an mdev/emulated device (the
 * selftest's DESTROY_ACCESS_PAGES, its unmap callback, closing the access)
 * leaves the pages pinned for good: they stay pinned and charged after the
 * access, the IOAS and the file are gone (pin_count, VmPin, RLIMIT_MEMLOCK),
 * and the area can never be unmapped again — IOMMU_IOAS_UNMAP keeps asking
 * the access to unpin, which it cannot, and fails with EDEADLOCK — so the
 * IOVA range and its mapping (and the device's translations) outlive the
 * user's unmap.
 *
 * Applied as: the selftest access's three unpin paths (the item destroy of
 * IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, the access's unmap callback
 * iommufd_test_access_unmap, and the access file's release) and the error
 * unwind of IOMMU_TEST_OP_ACCESS_PAGES call a copy of
 * iommufd_access_unpin_pages with the exclusive end; the WARNs are recorded
 * in the context's warnings, as the reference records its own.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_CREATE_ACCESS, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaContig, ioptAreaIovaToIndex } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import { iommufdAccessDestroy, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import type { KFileOps } from '../../../impl/process/file.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { accessGet, accessPagesHandler } from './_access_pages.ts';

/** iommufd_access_unpin_pages with THE FAULT: last_iova = iova + length. */
function accessUnpinPages(access: IommufdAccess, iova: bigint, length: bigint): void {
  const warn = (what: string): void => {
    access.ctx.warnings.push(`iommufd_access_unpin_pages: ${what}`);
  };
  if (!length) return warn('WARN_ON(!length)');
  const last = iova + length; // THE FAULT: check_add_overflow(iova, length, &last_iova)
  if (last > ULONG_MAX) return warn('WARN_ON(check_add_overflow)');
  const ioas = access.ioasUnpin;
  if (!ioas) return warn('WARN_ON(!access->ioas_unpin)');
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    const start = ioptAreaIovaToIndex(area, cur);
    const lastIndex = ioptAreaIovaToIndex(area, pieceLast);
    // iopt_area_remove_access: iopt_pages_get_exact_access(), WARN_ON(!access) → out_unlock.
    if (!area.pages!.accesses.some((a) => a.start === start && a.last === lastIndex)) {
      warn(`iopt_area_remove_access: no access range [${start}, ${lastIndex}] (WARN_ON(!access))`);
      continue;
    }
    ioptAreaRemoveAccess(area, start, lastIndex);
  }
  if (!done) warn('WARN_ON(!iopt_area_contig_done(&iter))');
}

/** iommufd_test_access_unmap over the faulty unpin. */
function testAccessUnmap(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  const last = iova + length - 1n;
  for (const item of [...staccess.items]) {
    if (iova > item.iova + item.length - 1n || last < item.iova) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    accessUnpinPages(staccess.access!, item.iova, item.length);
  }
}

/** iommufd_test_access_pages (its unwind unpins through the faulty unpin). */
const testAccessPages = accessPagesHandler({ unpinPages: accessUnpinPages });

/** iommufd_test_access_item_destroy over the faulty unpin. */
function testAccessItemDestroy(ucmd: Ucmd): number {
  const g = accessGet(ucmd, ucmd.cmd.num('id'));
  if (g.errno) return g.errno;
  const unwind = new Unwind();
  unwind.always('fput', () => g.file!.put());
  const staccess = g.staccess!;
  const itemId = ucmd.cmd.num('destroy_access_pages.access_pages_id');
  const item = staccess.items.find((i) => i.id === itemId);
  if (!item) return unwind.exit(-ENOENT);
  staccess.items.splice(staccess.items.indexOf(item), 1);
  accessUnpinPages(staccess.access!, item.iova, item.length);
  return unwind.exit(0);
}

/** After a successful CREATE_ACCESS: the new access's unmap callback and its file's release unpin through the faulty unpin. */
function patchNewAccess(ucmd: Ucmd): void {
  const file = ucmd.ctx.proc.fds.lookup(ucmd.cmd.num('create_access.out_access_fd'));
  if (!file || !(file.private_data instanceof SelftestAccess) || !file.private_data.access) return;
  const staccess = file.private_data;
  const access = staccess.access!;
  const ops = { needsPinPages: access.ops.needsPinPages, unmap: (iova: bigint, length: bigint) => testAccessUnmap(staccess, iova, length) };
  Object.defineProperty(access, 'ops', { value: ops, writable: true, configurable: true, enumerable: true });
  const fileOps: KFileOps = {
    ...file.ops,
    // iommufd_test_staccess_release
    release: () => {
      if (staccess.access) {
        testAccessUnmap(staccess, 0n, ULONG_MAX);
        iommufdAccessDestroy(staccess.access);
      }
    },
  };
  Object.defineProperty(file, 'ops', { value: fileOps, writable: false, configurable: true, enumerable: true });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-unpin-last-iova-off-by-one', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        switch (ucmd.cmd.num('op')) {
          case IOMMU_TEST_OP_ACCESS_PAGES:
            return testAccessPages(ucmd);
          case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
            return testAccessItemDestroy(ucmd);
          case IOMMU_TEST_OP_CREATE_ACCESS: {
            const rc = original(ucmd);
            if (rc === 0) patchNewAccess(ucmd);
            return rc;
          }
          default:
            return original(ucmd);
        }
      },
    },
  });
}
