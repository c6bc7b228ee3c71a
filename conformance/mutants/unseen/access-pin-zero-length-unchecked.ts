/**
 * Round 38 fault D2 (access objects, pin): iommufd_access_pin_pages
 * (drivers/iommu/iommufd/device.c) forgets its zero-length check:
 *
 *     if (!length)
 *             return -EINVAL;
 *     if (check_add_overflow(iova, length - 1, &last_iova))
 *             return -EOVERFLOW;
 *
 * loses the first two lines. length - 1 then underflows to ULONG_MAX, so a
 * zero-length pin at any IOVA but 0 is EOVERFLOW, and at IOVA 0 the walk
 * covers [0, ULONG_MAX] and fails with whatever the area walk hits (ENOENT
 * at the first gap, EINVAL / EPERM on an unaligned or read-only area).
 *
 * What a user sees: IOMMU_TEST_OP_ACCESS_PAGES with length 0 (on an access
 * created with MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) answers EOVERFLOW
 * (or ENOENT for iova 0) instead of EINVAL. Everything the selftest checks
 * before the pin (flags, the access fd, needs-pin, the kvcalloc) is as before.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { EBADFD, ENOMEM, EOPNOTSUPP, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { iommufdAccessPinPages, iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pin-zero-length-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_PAGES || cmd.big('access_pages.length') !== 0n) return original(ucmd);
        // iommufd_test_access_pages up to the pin, as the reference does it.
        const flags = cmd.num('access_pages.flags');
        if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
        const file = ctx.proc.fds.fget(cmd.num('id'));
        if (!file) return -EBADFD;
        try {
          if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return -EBADFD;
          const staccess = file.private_data;
          if (!staccess.needsPin) return -EOPNOTSUPP;
          let iova = cmd.big('access_pages.iova');
          if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(staccess.access!, iova);
          if (ctx.faults.shouldFail()) return -ENOMEM; // kvcalloc(pages)
          // iommufd_access_pin_pages without `if (!length) return -EINVAL`: last = iova + ULONG_MAX.
          if (iova !== 0n) return -EOVERFLOW;
          const r = iommufdAccessPinPages(staccess.access!, 0n, 1n << 64n, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
          if (r.errno) return r.errno;
          // The whole address space pinned: not reachable (reserved ranges); undo and answer as before.
          iommufdAccessUnpinPages(staccess.access!, 0n, 1n << 64n);
        } finally {
          file.put();
        }
        return original(ucmd);
      },
    },
  });
}
