/**
 * syz-copy-flag-kept (iommufd_test_syz_conv_iova_id,
 * drivers/iommu/iommufd/selftest.c, called by iommufd_ioas_copy in ioas.c;
 * IOMMU_IOAS_COPY with MOCK_FLAGS_ACCESS_SYZ in flags; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     void iommufd_test_syz_conv_iova_id(struct iommufd_ucmd *ucmd,
 *                                        unsigned int ioas_id, u64 *iova, u32 *flags)
 *     {
 *             struct iommufd_ioas *ioas;
 *
 *             if (!(*flags & MOCK_FLAGS_ACCESS_SYZ))
 *                     return;
 *             *flags &= ~(u32)MOCK_FLAGS_ACCESS_SYZ;
 *
 *             ioas = iommufd_get_ioas(ucmd->ictx, ioas_id);
 *             ...
 *
 * The fault: the line clearing MOCK_FLAGS_ACCESS_SYZ from the caller's flags
 * is lost, so the test-only bit is still set when iommufd_ioas_copy checks
 * cmd->flags against FIXED_IOVA|WRITEABLE|READABLE. Every IOAS_COPY carrying
 * the syzkaller encoding (src_iova = { nth_area, offset }) is refused with
 * EOPNOTSUPP, where the kernel decodes the IOVA and copies (or answers what
 * the copy answers: ENOENT, EINVAL, ...).
 *
 * Applied as: IOAS_COPY with the SYZ bit runs the reference's conversion (its
 * IOAS lookup included) and then answers EOPNOTSUPP; the rest is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { iommufdTestSyzConvIovaId } from '../../../impl/iommufd/selftest.ts';
import { MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('syz-copy-flag-kept', profile, {
    handlers: {
      IOMMU_IOAS_COPY: (ucmd, original) => {
        const { cmd } = ucmd;
        const flags = cmd.num('flags');
        if (!(flags & MOCK_FLAGS_ACCESS_SYZ)) return original(ucmd);
        iommufdTestSyzConvIovaId(ucmd, cmd.num('src_ioas_id'), 'src_iova');
        // THE FAULT: *flags &= ~MOCK_FLAGS_ACCESS_SYZ is missing; the flags check that follows refuses the bit.
        cmd.set('flags', flags);
        return -EOPNOTSUPP;
      },
    },
  });
}
