/**
 * access-pages-skips-pin-ops-check (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_pages, IOMMU_TEST_OP_ACCESS_PAGES; 6.12 and 7.3).
 *
 * An access created without MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES uses
 * selftest_access_ops (no pinning); ACCESS_PAGES refuses it up front:
 *
 *         staccess = iommufd_access_get(access_id);
 *         if (IS_ERR(staccess))
 *                 return PTR_ERR(staccess);
 *
 *         if (staccess->access->ops != &selftest_access_ops_pin) {
 *                 rc = -EOPNOTSUPP;
 *                 goto out_put;
 *         }
 *
 * Fault: the ops check is dropped (the line goes missing when the SYZ IOVA
 * conversion is moved up). The request then reaches
 * iommufd_access_pin_pages, whose CONFIG_IOMMUFD_TEST guard
 * WARN_ON(access->iova_alignment != PAGE_SIZE || !access->ops->unmap)
 * refuses it with EINVAL (and a kernel WARN).
 *
 * What a user sees: ACCESS_PAGES through a non-pinning access fails with
 * EINVAL instead of EOPNOTSUPP (still nothing pinned, no item recorded).
 *
 * Applied as: for the duration of the reference's ACCESS_PAGES handler the
 * selftest access reports needsPin, so the handler runs on to the real
 * iommufd_access_pin_pages, which sees the access's own ops (not pinning).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pages-skips-pin-ops-check', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_ACCESS_PAGES) return original(ucmd);
        const file = ucmd.ctx.proc.fds.lookup(ucmd.cmd.num('id'));
        const st = file?.kind === 'selftest-access' && file.private_data instanceof SelftestAccess ? file.private_data : undefined;
        if (!st || st.needsPin) return original(ucmd);
        st.needsPin = true; // the ops check passes; the access's ops are unchanged
        try {
          return original(ucmd);
        } finally {
          st.needsPin = false;
        }
      },
    },
  });
}
