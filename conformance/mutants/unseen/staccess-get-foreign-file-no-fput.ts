/**
 * staccess-get-foreign-file-no-fput (drivers/iommu/iommufd/selftest.c
 * iommufd_access_get, reached by IOMMU_TEST_OP_ACCESS_PAGES,
 * IOMMU_TEST_OP_ACCESS_RW, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES and
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS; 6.12 and 7.3).
 *
 * The selftest's access ops name their access by the fd of its
 * "[iommufd_test_staccess]" file. The lookup takes a file reference with
 * fget() and must give it back when the fd turns out to be some other file:
 *
 *     static struct selftest_access *iommufd_access_get(int fd)
 *     {
 *             struct file *file;
 *
 *             file = fget(fd);
 *             if (!file)
 *                     return ERR_PTR(-EBADFD);
 *
 *             if (file->f_op != &iommfd_test_staccess_fops) {
 *                     fput(file);
 *                     return ERR_PTR(-EBADFD);
 *             }
 *             return file->private_data;
 *     }
 *
 * (every caller's success and error paths end in fput(staccess->file), which
 * balances the fget of a real access file.)
 *
 * THE FAULT drops the fput() of the type-mismatch branch (written as a
 * single combined test, the "nothing was taken" early return of the fget
 * failure was reused for it):
 *
 *             file = fget(fd);
 *             if (!file || file->f_op != &iommfd_test_staccess_fops)
 *                     return ERR_PTR(-EBADFD);
 *
 * The command itself answers exactly as the kernel does (EBADFD), and
 * nothing changes on the access side. The harm lands on the *other* file the
 * fd named, and only when it is closed later: its struct file keeps one
 * reference nobody holds, so close() drops the fd but ->release never runs.
 *   - /dev/iommu (the most natural wrong fd: the context's own fd, which the
 *     caller passes to the same ioctl): iommufd_fops_release never runs, so
 *     closing the context destroys nothing — its IOASes keep their areas
 *     mapped into their domains, every page stays pinned and charged to
 *     pinned_vm / locked_vm / the user's RLIMIT_MEMLOCK budget, the mock
 *     devices stay bound and attached, after every fd is closed.
 *   - a VFIO device cdev: vfio_device_fops_cdev_release never runs, so the
 *     device stays bound to its iommufd (which it keeps alive with its
 *     iommufd_ctx_get), its group stays owned and attached, and DMA keeps
 *     going to the old IOAS after the fd is closed; a new open of the cdev
 *     and a bind to another context see a device that is still in use.
 * Each mistaken call leaks one more reference.
 *
 * Applied as: IOMMU_TEST_CMD ACCESS_PAGES / ACCESS_RW / DESTROY_ACCESS_PAGES /
 * ACCESS_REPLACE_IOAS whose id names an open file that is not a selftest
 * access, once the op's own checks ahead of iommufd_access_get() pass (the
 * 16 MiB length bound and the flags of ACCESS_PAGES and ACCESS_RW): one
 * reference of that file is taken and never put; the reference then answers
 * EBADFD as before.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import {
  IOMMU_TEST_OP_ACCESS_PAGES,
  IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
  IOMMU_TEST_OP_ACCESS_RW,
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
  MOCK_ACCESS_RW_SLOW_PATH,
  MOCK_ACCESS_RW_WRITE,
  MOCK_FLAGS_ACCESS_SYZ,
  MOCK_FLAGS_ACCESS_WRITE,
} from '../../../spec/uapi/constants.ts';
import type { Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation } from '../harness.ts';

const SZ_16M = 16n * 1024n * 1024n;

/** Whether the op gets as far as iommufd_access_get (its own checks ahead of it pass). */
function reachesAccessGet(ucmd: Ucmd): boolean {
  const { cmd } = ucmd;
  switch (cmd.num('op')) {
    case IOMMU_TEST_OP_ACCESS_PAGES:
      return cmd.big('access_pages.length') <= SZ_16M && (cmd.num('access_pages.flags') & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) === 0;
    case IOMMU_TEST_OP_ACCESS_RW:
      return cmd.big('access_rw.length') <= SZ_16M && (cmd.num('access_rw.flags') & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) === 0;
    case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
    case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
      return true;
    default:
      return false;
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('staccess-get-foreign-file-no-fput', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (reachesAccessGet(ucmd)) {
          const file = ucmd.ctx.proc.fds.lookup(ucmd.cmd.num('id'));
          // THE FAULT: fget() of a file that is not a selftest access, and no fput() on the EBADFD return.
          if (file && !(file.kind === 'selftest-access' && file.private_data instanceof SelftestAccess)) file.get();
        }
        return original(ucmd);
      },
    },
  });
}
