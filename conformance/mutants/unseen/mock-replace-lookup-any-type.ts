/**
 * mock-replace-lookup-any-type (iommufd_test_get_selftest_obj, used by
 * iommufd_test_mock_domain_replace, drivers/iommu/iommufd/selftest.c;
 * IOMMU_TEST_CMD op IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE whose id names an object
 * that is not a selftest (mock device) object; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     dev_obj = iommufd_get_object(ictx, id, IOMMUFD_OBJ_SELFTEST);
 *     if (IS_ERR(dev_obj))
 *             return ERR_CAST(dev_obj);
 *
 *     sobj = to_selftest_obj(dev_obj);
 *     if (sobj->type != TYPE_IDEV) {
 *             iommufd_put_object(ictx, dev_obj);
 *             return ERR_PTR(-EINVAL);
 *     }
 *
 * The fault: the lookup is made with IOMMUFD_OBJ_ANY (the type argument of
 * iommufd_get_object is the wrong constant), so an id naming an IOAS, a HWPT,
 * a device or an access object is not ENOENT: the object is taken for a
 * selftest object and its bytes read as sobj->type, which is not TYPE_IDEV,
 * so the replace is refused with EINVAL (and in the kernel the unrelated
 * object is misinterpreted — a type confusion).
 *
 * Applied as: MOCK_DOMAIN_REPLACE on an id holding a published object of
 * another type answers EINVAL; on a selftest object or a free id the
 * reference's own code runs.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-replace-lookup-any-type', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return original(ucmd);
        const obj = ctx.objects.load(cmd.num('id'));
        // THE FAULT: iommufd_get_object(ictx, id, IOMMUFD_OBJ_ANY): any type passes, then sobj->type != TYPE_IDEV.
        if (obj && obj.type !== 'SELFTEST') return -EINVAL;
        return original(ucmd);
      },
    },
  });
}
