/**
 * mock-domain-finalize-before-attach (drivers/iommu/iommufd/selftest.c
 * iommufd_test_mock_domain, over main.c's object table: IOMMU_TEST_OP_MOCK_DOMAIN
 * and MOCK_DOMAIN_FLAGS; 6.12 and 7.3).
 *
 * The kernel's code publishes the selftest object last, after the attach and
 * the copy-out, so that until then its id is a reserved (XA_ZERO_ENTRY) slot
 * that every iommufd_get_object() answers ENOENT for:
 *
 *     sobj = iommufd_object_alloc(ucmd->ictx, sobj, IOMMUFD_OBJ_SELFTEST);
 *     ...
 *     idev = iommufd_device_bind(ucmd->ictx, &sobj->idev.mock_dev->dev, &idev_id);
 *     ...
 *     rc = iommufd_device_attach(idev, IOMMU_NO_PASID, &pt_id);
 *     if (rc)
 *             goto out_unbind;
 *     ...
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *             goto out_detach;
 *     iommufd_object_finalize(ucmd->ictx, &sobj->obj);
 *     return 0;
 *
 * THE FAULT: iommufd_object_finalize() is moved up to right after the
 * allocation (the error paths still abort the id), so the half-built selftest
 * object is visible in the table while the command is still attaching.
 *
 * Observable: IOMMU_TEST_OP_MOCK_DOMAIN whose `id` is the id the selftest object
 * itself receives (the lowest free id) finds that object in
 * iommufd_device_change_pt and answers EINVAL (not an IOAS or HWPT) where the
 * kernel answers ENOENT. In the kernel the object is reachable (and destroyable
 * by a racing IOMMU_DESTROY) before it is initialised.
 *
 * Applied as: MOCK_DOMAIN / MOCK_DOMAIN_FLAGS run a copy of
 * iommufd_test_mock_domain with the finalize moved; every other op is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mockDomainHandler, mockDomainOps } from './_mock_domain.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-domain-finalize-before-attach', profile, {
    // THE FAULT: the selftest object is published right after its allocation, not at the end.
    handlers: { IOMMU_TEST_CMD: mockDomainOps(mockDomainHandler({ finalizesFirst: true })) },
  });
}
