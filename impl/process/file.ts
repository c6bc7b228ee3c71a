/**
 * Open files and the fd table (fs/file.c in miniature). A `KFile` is
 * reference-counted like struct file: the fd table holds one reference, and
 * other holders (the kvm-vfio device, an iommufd_ctx held by a bound device)
 * take their own with `get()`; `release` runs when the last one is put, as
 * fput() does.
 *
 * Public API: class KFile { kind, private_data, get(), put(), refs }, interface
 * KFileOps, class FdTable { install(file) -> fd, fget(fd), close(fd) -> errno }.
 */
import { EBADF } from '../iommufd/errno.ts';

/** What an ioctl returns: the syscall's value, or an errno (positive). */
export interface SysRet {
  readonly ret: number;
  readonly errno: number;
}

export const sysOk = (ret = 0): SysRet => ({ ret, errno: 0 });
export const sysErr = (errno: number): SysRet => ({ ret: -1, errno });

export interface KFileOps {
  /** Called once, when the last reference is put. */
  release(file: KFile): void;
  /** `arg` is the raw ioctl argument: a user pointer or an integer. */
  ioctl?(file: KFile, cmd: number, arg: bigint): SysRet;
  read?(file: KFile, count: number, offset: number): { ret: number; errno: number; data?: Uint8Array };
  write?(file: KFile, data: Uint8Array, offset: number): SysRet;
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
  private readonly fds = new Map<number, KFile>();

  /** Lowest free fd from 3 (0-2 are stdio), as get_unused_fd_flags. */
  install(file: KFile): number {
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    this.fds.set(fd, file);
    return fd;
  }

  /** The file behind fd without taking a reference, or undefined (EBADF). */
  lookup(fd: number): KFile | undefined {
    return this.fds.get(fd);
  }

  /** fget(): a new reference, or undefined. */
  fget(fd: number): KFile | undefined {
    return this.fds.get(fd)?.get();
  }

  close(fd: number): number {
    const file = this.fds.get(fd);
    if (!file) return EBADF;
    this.fds.delete(fd);
    file.put();
    return 0;
  }

  /** Close everything (process exit). */
  closeAll(): void {
    for (const fd of [...this.fds.keys()].sort((a, b) => a - b)) this.close(fd);
  }

  get openFds(): number[] {
    return [...this.fds.keys()];
  }
}
