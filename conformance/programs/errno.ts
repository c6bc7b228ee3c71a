/**
 * Linux errno names and numbers (x86-64, include/uapi/asm-generic/errno-base.h
 * and errno.h). Programs name errnos; adapters report numbers.
 */
const ERRNO_LIST: readonly (readonly [string, number])[] = [
  ['EPERM', 1], ['ENOENT', 2], ['ESRCH', 3], ['EINTR', 4], ['EIO', 5], ['ENXIO', 6], ['E2BIG', 7],
  ['ENOEXEC', 8], ['EBADF', 9], ['ECHILD', 10], ['EAGAIN', 11], ['ENOMEM', 12], ['EACCES', 13],
  ['EFAULT', 14], ['ENOTBLK', 15], ['EBUSY', 16], ['EEXIST', 17], ['EXDEV', 18], ['ENODEV', 19],
  ['ENOTDIR', 20], ['EISDIR', 21], ['EINVAL', 22], ['ENFILE', 23], ['EMFILE', 24], ['ENOTTY', 25],
  ['ETXTBSY', 26], ['EFBIG', 27], ['ENOSPC', 28], ['ESPIPE', 29], ['EROFS', 30], ['EMLINK', 31],
  ['EPIPE', 32], ['EDOM', 33], ['ERANGE', 34], ['EDEADLK', 35], ['ENAMETOOLONG', 36], ['ENOLCK', 37],
  ['ENOSYS', 38], ['ENOTEMPTY', 39], ['ELOOP', 40], ['ENOMSG', 42], ['EIDRM', 43], ['ENODATA', 61],
  ['ETIME', 62], ['ENOSR', 63], ['ENOLINK', 67], ['EPROTO', 71], ['EBADMSG', 74], ['EOVERFLOW', 75],
  ['EBADFD', 77], ['EILSEQ', 84], ['EUSERS', 87], ['ENOTSOCK', 88], ['EMSGSIZE', 90],
  ['EPROTONOSUPPORT', 93], ['EOPNOTSUPP', 95], ['EADDRINUSE', 98], ['EADDRNOTAVAIL', 99],
  ['ENOBUFS', 105], ['ETIMEDOUT', 110], ['EALREADY', 114], ['EINPROGRESS', 115], ['ESTALE', 116],
  ['EDQUOT', 122], ['ECANCELED', 125], ['EOWNERDEAD', 130], ['ENOTRECOVERABLE', 131],
  ['ERFKILL', 132], ['EHWPOISON', 133],
];

const BY_NAME = new Map<string, number>(ERRNO_LIST);
const BY_NUMBER = new Map<number, string>(ERRNO_LIST.map(([n, v]) => [v, n]));
// Aliases the kernel headers define (same numbers).
BY_NAME.set('EWOULDBLOCK', 11);
BY_NAME.set('ENOTSUP', 95);
BY_NAME.set('EDEADLOCK', 35);

export function errnoNumber(name: string): number | undefined {
  return BY_NAME.get(name);
}

/** The canonical name of an errno number, or `E#<n>` for one not in the table. */
export function errnoName(errno: number): string {
  return BY_NUMBER.get(errno) ?? `E#${errno}`;
}

export function isErrnoName(name: string): boolean {
  return BY_NAME.has(name);
}
