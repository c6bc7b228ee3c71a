/**
 * C8.8 — access-rw-ignores-contig-done (drivers/iommu/iommufd/device.c
 * iommufd_access_rw).
 *
 * iommufd_access_rw walks the areas covering [iova, iova + length - 1] with
 * iopt_for_each_contig_area and copies piece by piece; a range the IOAS does
 * not map from end to end must fail:
 *     if (!iopt_area_contig_done(&iter))
 *             rc = -ENOENT;
 * The fault loses that test (rc stays 0 from the last piece, or from its
 * initialisation when no area covers iova at all). An emulated device's
 * write into IOVA the IOAS does not map — past the end of an area, into a
 * hole, or after the area was unmapped — is reported done although the bytes
 * past the mapped prefix went nowhere; a read of such a range succeeds and
 * hands the driver (and, through the selftest, the user) a buffer whose
 * unmapped part was never read from guest memory. The driver cannot tell a
 * DMA that reached memory from one that reached nothing.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs the reference's
 * iommufd_test_access_rw over an iommufd_access_rw without the final test.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { accessRwHandler } from './_access_rw.ts';

// THE FAULT: no `if (!iopt_area_contig_done(&iter)) rc = -ENOENT;`
const testAccessRw = accessRwHandler({ contigDone: () => true });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-ignores-contig-done', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)),
    },
  });
}
