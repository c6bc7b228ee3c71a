/**
 * R18-C1 — kvm-file-match-by-inode (virt/kvm/vfio.c kvm_vfio_file_add /
 * kvm_vfio_file_del; the same code in 6.12 and 7.3).
 *
 * kvm-vfio keeps the VFIO files userspace registered (KVM_DEV_VFIO_FILE_ADD)
 * in kv->file_list, one struct file reference each, and finds a registration
 * again by that struct file:
 *
 *     kvm_vfio_file_add():
 *             list_for_each_entry(kvf, &kv->file_list, node) {
 *                     if (kvf->file == filp)
 *                             return -EEXIST;
 *             }
 *     kvm_vfio_file_del():
 *             list_for_each_entry(kvf, &kv->file_list, node) {
 *                     if (kvf->file != fd_file(f))
 *                             continue;
 *                     list_del(&kvf->node);
 *                     ...
 *                     kvm_vfio_file_set_kvm(kvf->file, NULL);
 *                     fput(kvf->file);
 *
 * THE FAULT: both lookups compare the node the file was opened from,
 *
 *             if (file_inode(kvf->file) == file_inode(filp))
 *                     return -EEXIST;
 *     ...
 *             if (file_inode(kvf->file) != file_inode(fd_file(f)))
 *                     continue;
 *
 * ("one registration per VFIO device, however userspace opened it" — the
 * group-era code keyed its list on the vfio_group the file resolved to, and
 * a VFIO group could only be opened once, so group and file were the same
 * thing). A VFIO device cdev (/dev/vfio/devices/vfioN) can be opened any
 * number of times, and every open is a struct file of its own on the one
 * inode: the device's files are now interchangeable for kvm-vfio.
 *
 * Consequence (two files of one device, several commands): with the device
 * registered through fd A, KVM_DEV_VFIO_FILE_ADD of another open fd B of the
 * same device is refused with EEXIST (the kernel registers it), and
 * KVM_DEV_VFIO_FILE_DEL of B — never registered, ENOENT in the kernel —
 * succeeds and removes A's registration: KVM drops the file reference it held
 * on A. If the user had closed A after registering it (KVM's reference then
 * keeps the file, and with it the device bound and attached), that was the
 * last reference: A's release runs, the device is detached and unbound from
 * its iommufd behind the VMM's back. If A is still open, the device stays bound
 * and attached but KVM no longer counts it: a non-coherent device is no
 * longer seen by kvm_vfio_update_coherency, so WBINVD emulation is switched
 * off while the device keeps doing no-snoop DMA for the guest, and
 * kvm_state no longer lists A.
 *
 * Applied as: the mutant tracks each VM's registrations (file and fd) from
 * the reference's successful adds, deletes and VM destroys; an add whose file
 * is another open of a registered file's device answers EEXIST, and a delete
 * of an unregistered file of a registered device deletes that registration
 * (through the reference's own kvm_vfio_del on its file) and answers 0.
 */
import { EEXIST } from '../../../impl/lib/errno.ts';
import type { Implementation, Profile, Response } from '../../../spec/contract/types.ts';
import { VfioDeviceFile, vfioFileIsValid } from '../../../impl/iommufd/vfio_cdev.ts';
import { kvmExists } from '../../../impl/kvm/index.ts';
import type { KFile } from '../../../impl/process/file.ts';
import { mutantImplementation } from '../harness.ts';

interface Registration {
  readonly file: KFile;
  readonly fd: number;
}

/** file_inode(a) == file_inode(b): two opens of the same VFIO device node. */
function sameInode(a: KFile, b: KFile): boolean {
  if (!vfioFileIsValid(a) || !vfioFileIsValid(b)) return a === b;
  return (a.private_data as VfioDeviceFile).device === (b.private_data as VfioDeviceFile).device;
}

const answered = (res: Response): number | undefined => (res.ok ? (res.result as { ret?: number }).ret : undefined);

export function createAdapter(profile: Profile): Implementation {
  /** vm → kv->file_list, as far as the mutant needs it. */
  let regs = new Map<number, Registration[]>();
  const list = (vm: number): Registration[] => {
    let l = regs.get(vm);
    if (!l) regs.set(vm, (l = []));
    return l;
  };
  return mutantImplementation('kvm-file-match-by-inode', profile, {
    request: (req, next, env) => {
      switch (req.op) {
        case 'reset': {
          regs = new Map();
          return next(req);
        }
        case 'kvm_destroy': {
          const res = next(req);
          if (res.ok) regs.delete(req.vm);
          return res;
        }
        case 'kvm_vfio_add': {
          if (!kvmExists(env.proc, req.vm)) return next(req);
          const filp = env.proc.fds.lookup(req.fd);
          if (!filp || !vfioFileIsValid(filp)) return next(req); // EBADF / EINVAL as the kernel
          if (list(req.vm).some((kvf) => kvf.file !== filp && sameInode(kvf.file, filp))) return { ok: true, result: { ret: -1, errno: EEXIST } };
          const res = next(req);
          if (answered(res) === 0) list(req.vm).push({ file: filp, fd: req.fd });
          return res;
        }
        case 'kvm_vfio_del': {
          if (!kvmExists(env.proc, req.vm)) return next(req);
          const f = env.proc.fds.lookup(req.fd);
          const l = list(req.vm);
          if (!f) return next(req); // EBADF
          const own = l.findIndex((kvf) => kvf.file === f);
          if (own >= 0) {
            const res = next(req);
            if (answered(res) === 0) l.splice(own, 1);
            return res;
          }
          const i = l.findIndex((kvf) => sameInode(kvf.file, f));
          if (i < 0) return next(req); // ENOENT
          const [kvf] = l.splice(i, 1);
          // The registration found is another file's: delete it by that file.
          const fds = env.proc.fds;
          if (fds.lookup(kvf!.fd) === kvf!.file) return next({ op: 'kvm_vfio_del', vm: req.vm, fd: kvf!.fd });
          // Its fd was closed (KVM holds the only reference): reach it through a temporary fd.
          const tmp = fds.install(kvf!.file.get());
          const res = next({ op: 'kvm_vfio_del', vm: req.vm, fd: tmp });
          fds.close(tmp);
          return res;
        }
        default:
          return next(req);
      }
    },
  });
}
