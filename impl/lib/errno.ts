/**
 * Linux errno numbers (x86-64), named from spec/uapi's errno table: the
 * bottom of impl/, imported by every layer above it.
 *
 * The values are positive, as include/uapi/asm-generic/errno-base.h defines
 * them; the reference uses them as the kernel does (impl/README.md):
 * functions return 0 or a negative errno (`return -EINVAL`), values travel as
 * `Result<T>` with a negative `errno`, and only the syscall boundary
 * (impl/process/file.ts `sysRet`) turns a negative return into userspace's
 * `ret -1, errno E`.
 */
import { ERRNO, errnoLabel } from '../../spec/uapi/errno.ts';

export const EPERM = ERRNO.EPERM;
export const ENOENT = ERRNO.ENOENT;
export const EIO = ERRNO.EIO;
export const EBADF = ERRNO.EBADF;
export const ENOMEM = ERRNO.ENOMEM;
export const EFAULT = ERRNO.EFAULT;
export const EBUSY = ERRNO.EBUSY;
export const EEXIST = ERRNO.EEXIST;
export const ENODEV = ERRNO.ENODEV;
export const EINVAL = ERRNO.EINVAL;
export const ENOTTY = ERRNO.ENOTTY;
export const ENOSPC = ERRNO.ENOSPC;
export const ESPIPE = ERRNO.ESPIPE;
export const E2BIG = ERRNO.E2BIG;
export const EDEADLOCK = ERRNO.EDEADLK;
export const EOVERFLOW = ERRNO.EOVERFLOW;
export const EBADFD = ERRNO.EBADFD;
export const EMSGSIZE = ERRNO.EMSGSIZE;
export const EOPNOTSUPP = ERRNO.EOPNOTSUPP;
export const EADDRINUSE = ERRNO.EADDRINUSE;
export const EBADE = ERRNO.EBADE;
export const ERANGE = ERRNO.ERANGE;
export const ENXIO = ERRNO.ENXIO;

/** The errno's name (spec/uapi's table), e.g. 'ENOENT' for -ENOENT (or ENOENT); 'OK' for 0. */
export function errnoName(errno: number): string {
  return errno === 0 ? 'OK' : errnoLabel(Math.abs(errno));
}
