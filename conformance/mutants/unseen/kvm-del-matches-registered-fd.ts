/**
 * kvm-del-matches-registered-fd — KVM_DEV_VFIO_FILE_DEL finds the registration
 * by the fd number it was added through, not by the file.
 *
 * Kernel: virt/kvm/vfio.c, kvm_vfio_file_del(). The fd is resolved to its
 * struct file now, and the registration holding that file is dropped:
 *
 *     CLASS(fd, f)(fd);
 *     if (fd_empty(f))
 *             return -EBADF;
 *     ret = -ENOENT;
 *     mutex_lock(&kv->lock);
 *     list_for_each_entry(kvf, &kv->file_list, node) {
 *             if (kvf->file != fd_file(f))
 *                     continue;
 *             list_del(&kvf->node);
 *             kvm_arch_end_assignment(dev->kvm);
 *             kvm_vfio_file_set_kvm(kvf->file, NULL);
 *             fput(kvf->file);
 *             kfree(kvf);
 *             ret = 0;
 *             break;
 *     }
 *     kvm_vfio_update_coherency(dev);
 *
 * The fault: struct kvm_vfio_file also records the fd a file was registered
 * through (kvf->fd, kept for a listing of the registered files), and the
 * lookup was "simplified" to compare that number —
 *
 *             if (kvf->fd != fd)
 *                     continue;
 *
 * (the fd still has to be open: the CLASS(fd) check stays). An fd number is
 * not a file: once the user closes the registered fd (kvm-vfio keeps the file
 * alive) the number is reused by the next open, and a dup()ed fd is another
 * number for the same file. Add-then-delete through the same fd, the only
 * pattern the selftests use, behaves exactly as before.
 *
 * Observable: register device file F through fd N, close N (F stays bound,
 * held by the VM), open another device file G — it gets N — and delete N:
 * the kernel answers ENOENT (G was never registered) and F stays registered
 * and bound; the fault answers 0 and drops F: its last reference goes, the
 * device unbinds (its DMA is blocked, its iommufd pins released) though the
 * user never asked to unregister it, and kvm_state lists no files (WBINVD
 * emulation re-derived without it). Conversely a DEL through a dup of the
 * registered fd is ENOENT and leaves the file registered.
 *
 * Applied as: the (fd, file) pairs each VM registered are tracked from the
 * kvm_vfio_add / kvm_vfio_del / kvm_destroy requests; a kvm_vfio_del whose
 * fd number names a registration of another file removes that file (the
 * reference's own kvm_vfio_file_del, reached through a transient fd to it),
 * one whose number names none answers ENOENT; otherwise the reference's.
 */
import type { Implementation, Profile, Response } from '../../../spec/contract/types.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { type KFile, sysRet } from '../../../impl/process/file.ts';
import type { Process } from '../../../impl/process/process.ts';
import { mutantImplementation } from '../harness.ts';

interface Registration {
  readonly fd: number;
  readonly file: KFile;
}

export function createAdapter(profile: Profile): Implementation {
  /** Per process: VM id → its registrations, in list order (kv->file_list). */
  const regs = new WeakMap<Process, Map<number, Registration[]>>();
  const listOf = (proc: Process, vm: number): Registration[] => {
    let t = regs.get(proc);
    if (!t) regs.set(proc, (t = new Map()));
    let l = t.get(vm);
    if (!l) t.set(vm, (l = []));
    return l;
  };
  const succeeded = (res: Response): boolean =>
    res.ok && typeof res.result === 'object' && res.result !== null && (res.result as { ret?: number }).ret === 0;
  const drop = (l: Registration[], file: KFile): void => {
    const i = l.findIndex((r) => r.file === file);
    if (i >= 0) l.splice(i, 1);
  };

  return mutantImplementation('kvm-del-matches-registered-fd', profile, {
    request: (req, next, env) => {
      const proc = env.proc;
      switch (req.op) {
        case 'kvm_vfio_add': {
          const file = proc.fds.lookup(req.fd);
          const res = next(req);
          if (file && succeeded(res)) listOf(proc, req.vm).push({ fd: req.fd, file });
          return res;
        }
        case 'kvm_destroy': {
          const res = next(req);
          if (res.ok) regs.get(proc)?.delete(req.vm);
          return res;
        }
        case 'kvm_vfio_del': {
          const f = proc.fds.lookup(req.fd);
          const l = regs.get(proc)?.get(req.vm);
          // No such VM, or fd not open (EBADF): as the reference.
          if (!f || !l) return next(req);
          const match = l.find((r) => r.fd === req.fd);
          if (match && match.file === f) {
            const res = next(req);
            if (succeeded(res)) drop(l, f);
            return res;
          }
          if (!match) {
            // No registration under this number: -ENOENT (the coherency re-derivation changes nothing).
            return { ok: true, result: sysRet(-ENOENT) } as Response;
          }
          // The number names another file's registration: that one is dropped (fput of kvf->file).
          const tmp = proc.fds.install(match.file.get());
          const res = next({ ...req, fd: tmp });
          proc.fds.close(tmp);
          if (succeeded(res)) drop(l, match.file);
          return res;
        }
        default:
          return next(req);
      }
    },
  });
}
