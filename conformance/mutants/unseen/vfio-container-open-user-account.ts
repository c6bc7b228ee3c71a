/**
 * vfio-container-open-user-account (drivers/iommu/iommufd/main.c
 * iommufd_fops_open, the /dev/vfio/vfio container served by
 * CONFIG_IOMMUFD_VFIO_CONTAINER).
 *
 * VFIO type1 charges pinned memory to the process (mm->locked_vm, what
 * VmLck shows and RLIMIT_MEMLOCK bounds per process). iommufd keeps that
 * behaviour for programs that open the legacy container node:
 *     static int iommufd_fops_open(struct inode *inode, struct file *filp)
 *     {
 *             ...
 *             if (IS_ENABLED(CONFIG_IOMMUFD_VFIO_CONTAINER) &&
 *                 filp->private_data == &vfio_misc_dev) {
 *                     ictx->account_mode = IOPT_PAGES_ACCOUNT_MM;
 *                     pr_info_once("IOMMUFD is providing /dev/vfio/vfio, not VFIO.\n");
 *             }
 *             ...
 *             filp->private_data = ictx;
 * The fault tests the node only after filp->private_data has been replaced
 * by the new ictx (the assignment moved up with the rest of the setup), so
 * the test never matches: a context opened as /dev/vfio/vfio starts in
 * IOPT_PAGES_ACCOUNT_USER like a /dev/iommu one.
 *
 * Consequence for a user (without CAP_IPC_LOCK, the usual unprivileged
 * VMM / DPDK case): VFIO_IOMMU_MAP_DMA and IOMMU_IOAS_MAP on the container
 * charge user->locked_vm instead of the process's mm->locked_vm. VmLck
 * (process_info lockedVmPages) stays 0 while pages are pinned, the memlock
 * limit is enforced per user over all of the user's processes instead of
 * per process (a second VM of the same user fails with ENOMEM), and
 * IOMMU_OPTION_RLIMIT_MODE reads 0 on a container whose contract is 1.
 *
 * Applied as: every iommufd context the process opens starts in USER
 * accounting (the /dev/vfio/vfio ones included); IOMMU_OPTION can still
 * switch it afterwards, as in the kernel.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vfio-container-open-user-account', profile, {
    ctx: (ctx) => {
      // A context only starts in MM when iommufd_fops_open saw the container node.
      // THE FAULT: the node test compares against the already-overwritten private_data.
      if (ctx.accountMode === 'MM') ctx.accountMode = 'USER';
    },
  });
}
