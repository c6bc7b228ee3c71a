/**
 * access-rw-zero-length-unchecked (iommufd_access_rw,
 * drivers/iommu/iommufd/device.c; reached through IOMMU_TEST_CMD op
 * IOMMU_TEST_OP_ACCESS_RW with access_rw.length 0; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     int iommufd_access_rw(struct iommufd_access *access, unsigned long iova,
 *                           void *data, size_t length, unsigned int flags)
 *     {
 *             ...
 *             if (!length)
 *                     return -EINVAL;
 *             if (check_add_overflow(iova, length - 1, &last_iova))
 *                     return -EOVERFLOW;
 *
 * The fault: the `if (!length) return -EINVAL;` guard is dropped (a refactor
 * that trusts check_add_overflow). With length 0, `length - 1` is ULONG_MAX:
 * for any IOVA other than 0 the read/write is refused with EOVERFLOW instead of
 * EINVAL; at IOVA 0 the range becomes the whole address space [0, ULONG_MAX]:
 * ENOENT when the access is detached or nothing is mapped at 0, the area's
 * EINVAL/EPERM when it is being unmapped or lacks the permission, and
 * otherwise a copy of the whole area into the selftest's ZERO_SIZE_PTR buffer
 * (an oops in the kernel; modelled here as EFAULT).
 *
 * Applied as: when the reference answers a zero-length ACCESS_RW with the
 * EINVAL of iommufd_access_rw (every earlier check passed), the answer is
 * recomputed as above from the access's IOAS (after the SYZ decoding the
 * selftest does); the rest is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, ENOENT, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptAreaContig } from '../../../impl/iommufd/io_pagetable.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-zero-length-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_RW || cmd.big('access_rw.length') !== 0n) return original(ucmd);
        const rc = original(ucmd);
        if (rc !== -EINVAL) return rc; // refused before iommufd_access_rw
        const file = ctx.proc.fds.fget(cmd.num('id'));
        if (!file) return rc;
        const staccess = file.private_data;
        file.put();
        if (!(staccess instanceof SelftestAccess) || !staccess.access) return rc;
        const access = staccess.access;
        const flags = cmd.num('access_rw.flags');
        let iova = cmd.big('access_rw.iova');
        if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(access, iova);
        // THE FAULT: no `if (!length) return -EINVAL;` — check_add_overflow(iova, ULONG_MAX, &last_iova).
        if (iova !== 0n) return -EOVERFLOW;
        const ioas = access.ioas;
        if (!ioas) return -ENOENT;
        const { pieces } = ioptAreaContig(ioas.iopt, 0n, ULONG_MAX);
        const first = pieces[0];
        if (!first) return -ENOENT;
        if (first.area.preventAccess) return -EINVAL;
        const write = (flags & MOCK_ACCESS_RW_WRITE) !== 0;
        if (!(first.area.iommuProt & (write ? IOMMU_WRITE : IOMMU_READ))) return -EPERM;
        return -EFAULT; // the whole area copied through ZERO_SIZE_PTR
      },
    },
  });
}
