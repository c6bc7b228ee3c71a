/**
 * Linux errno numbers (x86-64) used by the reference iommufd.
 *
 * Temporary shim: the uAPI data will carry these in spec/uapi's errno module;
 * once it exists this file re-exports from there. Handlers return these as
 * positive numbers, 0 for success (the contract between CORE and DEVICES).
 */
export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const EBADF = 9;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOTTY = 25;
export const ENOSPC = 28;
export const ESPIPE = 29;
export const E2BIG = 7;
export const EDEADLOCK = 35;
export const EOVERFLOW = 75;
export const EBADFD = 77;
export const EMSGSIZE = 90;
export const EOPNOTSUPP = 95;
export const EADDRINUSE = 98;

const NAMES: { readonly [errno: number]: string } = {
  0: 'OK', 1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 7: 'E2BIG', 9: 'EBADF', 12: 'ENOMEM', 14: 'EFAULT', 16: 'EBUSY',
  17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 25: 'ENOTTY', 28: 'ENOSPC', 29: 'ESPIPE', 35: 'EDEADLOCK',
  75: 'EOVERFLOW', 77: 'EBADFD', 90: 'EMSGSIZE', 95: 'EOPNOTSUPP', 98: 'EADDRINUSE',
};

export function errnoName(errno: number): string {
  return NAMES[errno] ?? `errno ${errno}`;
}
