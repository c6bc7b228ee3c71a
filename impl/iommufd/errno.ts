/**
 * Linux errno numbers (x86-64) used by the reference iommufd, from
 * spec/uapi's errno table. Handlers return these as positive numbers, 0 for
 * success (the contract between CORE and DEVICES).
 */
import { ERRNO } from '../../spec/uapi/errno.ts';

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

const NAMES: { readonly [errno: number]: string } = {
  0: 'OK', 1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 7: 'E2BIG', 9: 'EBADF', 12: 'ENOMEM', 14: 'EFAULT', 16: 'EBUSY',
  17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 25: 'ENOTTY', 28: 'ENOSPC', 29: 'ESPIPE', 35: 'EDEADLOCK',
  75: 'EOVERFLOW', 77: 'EBADFD', 90: 'EMSGSIZE', 95: 'EOPNOTSUPP', 98: 'EADDRINUSE',
};

export function errnoName(errno: number): string {
  return NAMES[errno] ?? `errno ${errno}`;
}
