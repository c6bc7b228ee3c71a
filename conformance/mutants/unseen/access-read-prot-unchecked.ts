/**
 * access-read-prot-unchecked (drivers/iommu/iommufd/device.c check_area_prot,
 * used by iommufd_access_pin_pages and iommufd_access_rw).
 *
 * An in-kernel access (an emulated/mediated device: the selftest's
 * staccess) must respect the protection the user gave each IOAS area, as
 * the IOMMU does for real DMA. Both access paths ask check_area_prot for
 * every area they cross:
 *     static bool check_area_prot(struct iopt_area *area, unsigned int flags)
 *     {
 *             if (flags & IOMMUFD_ACCESS_RW_WRITE)
 *                     return area->iommu_prot & IOMMU_WRITE;
 *             return area->iommu_prot & IOMMU_READ;
 *     }
 * The fault loses the read half (`return true;` after the write test, as if
 * every mapping were readable): a read access is never refused with EPERM.
 *
 * The page-level guard does not cover it: iopt_area_add_access and
 * iopt_pages_rw_access only refuse a *write* to pages that are not writable;
 * the read permission lives only in the area's iommu_prot.
 *
 * Consequence: an area mapped IOMMU_IOAS_MAP_WRITEABLE without _READABLE
 * (a device-to-host buffer that the device may only fill), or an
 * IOMMU_IOAS_COPY made write-only, is readable through every access of the
 * IOAS: IOMMU_TEST_OP_ACCESS_RW without MOCK_ACCESS_RW_WRITE copies the
 * user's memory out (ret 0 instead of EPERM), and IOMMU_TEST_OP_ACCESS_PAGES
 * without MOCK_FLAGS_ACCESS_WRITE pins the pages and hands them to the
 * driver for reading — the emulated device reads memory that a real device
 * behind the IOMMU would fault on (the mock domain maps the area without
 * IOMMU_READ).
 *
 * Applied as: IOMMU_TEST_CMD's ACCESS_RW and ACCESS_PAGES ops through a copy
 * of iommufd_test_access_rw / iommufd_access_rw and iommufd_test_access_pages
 * / iommufd_access_pin_pages whose check_area_prot is the faulty one; every
 * other step (and every fail-nth site, in order) is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { IOMMU_WRITE } from '../../../impl/iommufd/io_pagetable.ts';
import type { IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { accessPagesHandler, accessPinPagesWith } from './_access_pages.ts';
import { accessRwHandler } from './_access_rw.ts';

/** check_area_prot with the fault: the read permission is not looked at. */
function checkAreaProt(area: IoptArea, write: boolean): boolean {
  if (write) return (area.iommuProt & IOMMU_WRITE) !== 0;
  return true; // THE FAULT: was `area->iommu_prot & IOMMU_READ`
}

const testAccessPages = accessPagesHandler({ pinPages: accessPinPagesWith({ checkProt: checkAreaProt }) });
const testAccessRw = accessRwHandler({ checkProt: checkAreaProt });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-read-prot-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_ACCESS_RW) return testAccessRw(ucmd);
        if (op === IOMMU_TEST_OP_ACCESS_PAGES) return testAccessPages(ucmd);
        return original(ucmd);
      },
    },
  });
}
