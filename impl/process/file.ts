/**
 * Open files and the fd table (fs/file.c in miniature). A `KFile` is
 * reference-counted like struct file: the fd table holds one reference, and
 * other holders (the kvm-vfio device, an iommufd_ctx held by a bound device)
 * take their own with `get()`; `release` runs when the last one is put, as
 * fput() does.
 *
 * The file operations return what the kernel's do: a value >= 0 or a
 * negative errno. The syscalls (sysIoctl, sysRead, sysWrite) are the
 * boundary where that becomes userspace's view, `SysRet` (ret -1 and a
 * positive errno on failure), as the syscall return and libc make it.
 *
 * Public API: class KFile { kind, private_data, get(), put(), refs, pread },
 * interface KFileOps, class FdTable { install(file) -> fd, fget(fd), close(fd)
 * -> 0 | -EBADF }; interface SysRet, sysRet(long); the syscalls on an fd:
 * sysIoctl(fds, fd, cmd, arg) (fs/ioctl.c ksys_ioctl + vfs_ioctl), sysPoll(fds,
 * fd, events) (fs/select.c do_pollfd + vfs_poll), sysRead / sysWrite
 * (fs/read_write.c ksys_read/ksys_pread64 + vfs_read, and the write side).
 * Every file is opened O_RDWR (FMODE_READ | FMODE_WRITE).
 */
import { EBADF, EINVAL, ENOTTY, ESPIPE } from '../lib/errno.ts';

/** A syscall's result as userspace sees it: the return value, or -1 with a (positive) errno. */
export interface SysRet {
  readonly ret: number;
  readonly errno: number;
}

/** The syscall boundary: a kernel return (>= 0, or a negative errno) as userspace sees it. */
export function sysRet(ret: number): SysRet {
  return ret < 0 ? { ret: -1, errno: -ret } : { ret, errno: 0 };
}

/** struct file_operations, the parts the simulated files have. Each returns >= 0 or a negative errno. */
export interface KFileOps {
  /** Called once, when the last reference is put. */
  release(file: KFile): void;
  /** unlocked_ioctl; `arg` is the raw ioctl argument: a user pointer or an integer. */
  ioctl?(file: KFile, cmd: number, arg: bigint): number;
  read?(file: KFile, count: number, offset: number): { ret: number; data?: Uint8Array };
  write?(file: KFile, data: Uint8Array, offset: number): number;
  poll?(file: KFile, events: number): number;
}

export class KFile {
  refs = 1;
  released = false;

  constructor(
    /** 'iommufd', 'vfio-device', 'selftest-access', ... */
    readonly kind: string,
    readonly ops: KFileOps,
    /** The object behind the file (struct file's private_data). */
    public private_data: unknown,
    /**
     * FMODE_PREAD | FMODE_PWRITE: set by do_dentry_open for files opened
     * through a path (/dev/iommu, a VFIO cdev), not for anon-inode files.
     */
    readonly pread = true,
  ) {}

  get(): this {
    if (this.released) throw new Error(`get() on a released ${this.kind} file`);
    this.refs++;
    return this;
  }

  put(): void {
    if (this.refs <= 0) throw new Error(`put() on a ${this.kind} file with no references`);
    this.refs--;
    if (this.refs === 0) {
      this.released = true;
      this.ops.release(this);
    }
  }
}

export class FdTable {
  /** fd -> its file, or null while the number is reserved (get_unused_fd_flags, not yet fd_install). */
  private readonly fds = new Map<number, KFile | null>();

  /** get_unused_fd_flags: reserve the lowest free fd from 3 (0-2 are stdio); it is taken until fd_install or put_unused_fd. */
  getUnusedFd(): number {
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    this.fds.set(fd, null);
    return fd;
  }

  /** fd_install: publish the file at a reserved fd (the fd table takes the caller's reference). */
  fdInstall(fd: number, file: KFile): void {
    if (this.fds.get(fd) !== null) throw new Error(`fd_install on fd ${fd}, which is not reserved`);
    this.fds.set(fd, file);
  }

  /** put_unused_fd: give back a reserved fd that was never installed. */
  putUnusedFd(fd: number): void {
    if (this.fds.get(fd) !== null) throw new Error(`put_unused_fd on fd ${fd}, which is not reserved`);
    this.fds.delete(fd);
  }

  /** get_unused_fd_flags + fd_install. */
  install(file: KFile): number {
    const fd = this.getUnusedFd();
    this.fdInstall(fd, file);
    return fd;
  }

  /** The file behind fd without taking a reference, or undefined (EBADF). */
  lookup(fd: number): KFile | undefined {
    return this.fds.get(fd) ?? undefined;
  }

  /** fget(): a new reference, or undefined. */
  fget(fd: number): KFile | undefined {
    return this.lookup(fd)?.get();
  }

  /** close_fd: 0, or -EBADF for an fd that is not open. */
  close(fd: number): number {
    const file = this.lookup(fd);
    if (!file) return -EBADF;
    this.fds.delete(fd);
    file.put();
    return 0;
  }

  /** Close everything (process exit). */
  closeAll(): void {
    for (const fd of this.openFds.sort((a, b) => a - b)) this.close(fd);
  }

  /** The fds with a file installed. */
  get openFds(): number[] {
    return [...this.fds].filter(([, f]) => f !== null).map(([fd]) => fd);
  }
}

// ---- read / write / poll on an fd ----------------------------------------------

/** include/uapi/asm-generic/poll.h (x86: demangle_poll is the identity). */
export const POLLIN = 0x0001;
export const POLLOUT = 0x0004;
export const POLLERR = 0x0008;
export const POLLHUP = 0x0010;
export const POLLNVAL = 0x0020;
export const POLLRDNORM = 0x0040;
export const POLLWRNORM = 0x0100;
/** include/linux/poll.h: what vfs_poll answers for a file without .poll. */
export const DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/**
 * do_pollfd (fs/select.c) with a zero timeout: a bad fd gives POLLNVAL; else
 * vfs_poll (DEFAULT_POLLMASK when the file has no .poll) masked by the
 * requested events plus POLLERR | POLLHUP.
 */
export function sysPoll(fds: FdTable, fd: number, events: number): number {
  if (fd < 0) return 0;
  const file = fds.lookup(fd);
  if (!file) return POLLNVAL;
  const mask = file.ops.poll ? file.ops.poll(file, events) : DEFAULT_POLLMASK;
  return mask & ((events & 0xffff) | POLLERR | POLLHUP);
}

/**
 * ksys_ioctl (fs/ioctl.c): a bad fd → EBADF; vfs_ioctl: a file without
 * unlocked_ioctl → ENOTTY; else the file's answer.
 */
export function sysIoctl(fds: FdTable, fd: number, cmd: number, arg: bigint): SysRet {
  const file = fds.lookup(fd);
  if (!file) return sysRet(-EBADF);
  return sysRet(file.ops.ioctl ? file.ops.ioctl(file, cmd, arg) : -ENOTTY);
}

/**
 * ksys_read / ksys_pread64 and ksys_write / ksys_pwrite64 (fs/read_write.c)
 * up to the file's method: pread/pwrite with a negative position → EINVAL
 * (before the fd lookup); a bad fd → EBADF; a position on a file without
 * FMODE_PREAD/FMODE_PWRITE → ESPIPE. Returns the file or a negative errno.
 */
function rwFile(fds: FdTable, fd: number, offset: number | undefined): KFile | number {
  if (offset !== undefined && offset < 0) return -EINVAL;
  const file = fds.lookup(fd);
  if (!file) return -EBADF;
  if (offset !== undefined && !file.pread) return -ESPIPE;
  return file;
}

/** read/pread → vfs_read: a file without .read/.read_iter (no FMODE_CAN_READ) → EINVAL. */
export function sysRead(fds: FdTable, fd: number, count: number, offset?: number): SysRet & { data?: Uint8Array } {
  const file = rwFile(fds, fd, offset);
  if (typeof file === 'number') return sysRet(file);
  if (!file.ops.read) return sysRet(-EINVAL);
  const r = file.ops.read(file, count, offset ?? 0);
  return r.data ? { ...sysRet(r.ret), data: r.data } : sysRet(r.ret);
}

/** write/pwrite → vfs_write: a file without .write/.write_iter (no FMODE_CAN_WRITE) → EINVAL. */
export function sysWrite(fds: FdTable, fd: number, data: Uint8Array, offset?: number): SysRet {
  const file = rwFile(fds, fd, offset);
  if (typeof file === 'number') return sysRet(file);
  return sysRet(file.ops.write ? file.ops.write(file, data, offset ?? 0) : -EINVAL);
}
