/**
 * Linux errno numbers (x86-64) used by the reference iommufd, from
 * spec/uapi's errno table. Handlers return these as positive numbers, 0 for
 * success (the contract between CORE and DEVICES).
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

/** The errno's name (spec/uapi's table), e.g. 'ENOENT'; 'OK' for 0. */
export function errnoName(errno: number): string {
  return errno === 0 ? 'OK' : errnoLabel(errno);
}
