/**
 * Round 38 fault D3 (object ids, selftest): iommufd_test_mock_domain
 * (drivers/iommu/iommufd/selftest.c) returns straight out when the mock
 * device cannot be created, skipping the abort of the reserved object id:
 *
 *     sobj->idev.mock_dev = mock_dev_create(dev_flags);
 *     if (IS_ERR(sobj->idev.mock_dev)) {
 *             rc = PTR_ERR(sobj->idev.mock_dev);
 *             goto out_sobj;                  // -> iommufd_object_abort()
 *     }
 *
 * becomes `return PTR_ERR(sobj->idev.mock_dev);`.
 *
 * What a user sees: IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS with an unknown dev_flags
 * bit is still EINVAL, but the selftest object's id stays reserved
 * (XA_ZERO_ENTRY) for the life of the context: the next object gets a higher
 * id than the lowest free one, IOMMU_DESTROY of that id is ENOENT, and the
 * objects xarray is never empty again, so IOMMU_OPTION(RLIMIT_MODE, SET) is
 * EBUSY in a context that owns no object.
 *
 * Applied as: after a failed mock_dev_create, the next erase of a slot that
 * is only reserved (the out_sobj abort) does nothing.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  let createFailed = false;
  return mutantImplementation('mock-domain-bad-flags-leaks-id', profile, {
    machine: (m) => {
      patchOwn(m, 'mockDevCreate', (create) => (devFlags) => {
        const r = create(devFlags);
        createFailed = r.errno !== 0;
        return r;
      });
    },
    ctx: (ctx) => {
      const objects = ctx.objects;
      patchOwn(objects, 'erase', (erase) => (id) => {
        const leak = createFailed && objects.has(id) && !objects.load(id);
        createFailed = false;
        if (leak) return; // the `goto out_sobj` that became a return
        erase(id);
      });
    },
  });
}
