/**
 * kvm-add-skips-file-valid (virt/kvm/vfio.c kvm_vfio_file_add).
 *
 * KVM_DEV_VFIO_FILE_ADD takes a reference on the file behind the fd and
 * keeps it on the kvm-vfio device's file_list until FILE_DEL or the VM's
 * release. Only VFIO group and device files may be registered:
 *
 *     filp = fget(fd);
 *     if (!filp)
 *             return -EBADF;
 *
 *     // Ensure the FD is a vfio FD.
 *     if (!kvm_vfio_file_is_valid(filp)) {
 *             ret = -EINVAL;
 *             goto out_fput;
 *     }
 *
 * The fault loses the kvm_vfio_file_is_valid() test (as when the group-only
 * check was reworked for cdev files). Any open file is accepted: an iommufd,
 * a selftest access fd, another VFIO container... The rest of the path
 * copes silently: kvm_vfio_file_set_kvm() and vfio_file_enforced_coherent()
 * find neither a group nor a device behind it, so the file counts as
 * coherent, and it is kept with a reference until FILE_DEL or the VM dies.
 *
 * Consequence: a bad argument is accepted (0 instead of EINVAL; kvm_state
 * lists the fd), and the reference the VM takes pins the file's lifetime to
 * the VM's: an iommufd registered this way survives close() of its last fd —
 * its IOAS mappings stay pinned and charged (locked_vm / pinned_vm), its
 * devices' DMA keeps working — until the VM is destroyed or the fd deleted.
 *
 * Applied as: kvm_vfio_add of an existing VM with a non-VFIO open fd is
 * served here (EEXIST if that file is already registered, else a reference
 * is taken and the registration recorded); kvm_vfio_del of such a file
 * drops it, kvm_destroy (and reset, which destroys the VMs first) puts every
 * such reference, and kvm_state lists the fds in registration order.
 */
import type { Implementation, Profile, Response, SingleRequest } from '../../../spec/contract/types.ts';
import { kvmExists } from '../../../impl/kvm/index.ts';
import { vfioFileIsValid } from '../../../impl/iommufd/vfio_cdev.ts';
import { EEXIST } from '../../../impl/lib/errno.ts';
import type { KFile } from '../../../impl/process/file.ts';
import type { Process } from '../../../impl/process/process.ts';
import { mutantImplementation } from '../harness.ts';

interface Entry {
  readonly file: KFile;
  readonly fd: number;
  /** Registered through the fault (not a VFIO file). */
  readonly bogus: boolean;
}

type Req<O extends string> = Extract<SingleRequest, { op: O }>;

export function createAdapter(profile: Profile): Implementation {
  /** Per VM: every registration in file_list order (the real ones mirrored). */
  let lists = new Map<number, Entry[]>();
  let owner: Process | undefined;
  const listOf = (vm: number): Entry[] => {
    let l = lists.get(vm);
    if (!l) lists.set(vm, (l = []));
    return l;
  };
  const putBogus = (l: readonly Entry[] | undefined): void => {
    for (const e of l ?? []) if (e.bogus) e.file.put();
  };
  const okRet = (r: Response): boolean => r.ok && (r.result as { ret?: number }).ret === 0;

  return mutantImplementation('kvm-add-skips-file-valid', profile, {
    request: (req, next, env) => {
      if (owner !== env.proc) {
        owner = env.proc;
        lists = new Map();
      }
      const proc = env.proc;
      switch (req.op) {
        case 'reset': {
          // kvm_vfio_release of every VM comes first: the references it holds are put.
          for (const l of lists.values()) putBogus(l);
          lists = new Map();
          return next(req);
        }
        case 'kvm_vfio_add': {
          const { vm, fd } = req as Req<'kvm_vfio_add'>;
          const f = kvmExists(proc, vm) ? proc.fds.lookup(fd) : undefined;
          if (!f || vfioFileIsValid(f)) {
            const r = next(req);
            if (f && okRet(r)) listOf(vm).push({ file: f, fd, bogus: false });
            return r;
          }
          // THE FAULT: no kvm_vfio_file_is_valid(); the EEXIST check and the list_add follow.
          const l = listOf(vm);
          if (l.some((e) => e.file === f)) return { ok: true, result: { ret: -1, errno: EEXIST } };
          l.push({ file: f.get(), fd, bogus: true });
          // kvm_vfio_update_coherency: such a file counts as coherent, nothing changes.
          return { ok: true, result: { ret: 0, errno: 0 } };
        }
        case 'kvm_vfio_del': {
          const { vm, fd } = req as Req<'kvm_vfio_del'>;
          const f = kvmExists(proc, vm) ? proc.fds.lookup(fd) : undefined;
          const l = lists.get(vm);
          const i = f && l ? l.findIndex((e) => e.file === f) : -1;
          if (l && i >= 0 && l[i]!.bogus) {
            const [e] = l.splice(i, 1);
            e!.file.put();
            return { ok: true, result: { ret: 0, errno: 0 } };
          }
          const r = next(req);
          if (l && i >= 0 && okRet(r)) l.splice(i, 1);
          return r;
        }
        case 'kvm_destroy': {
          const { vm } = req as Req<'kvm_destroy'>;
          const r = next(req);
          if (r.ok) {
            putBogus(lists.get(vm));
            lists.delete(vm);
          }
          return r;
        }
        case 'kvm_state': {
          const { vm } = req as Req<'kvm_state'>;
          const r = next(req);
          const l = lists.get(vm);
          if (!r.ok || !l || !l.some((e) => e.bogus)) return r;
          const res = r.result as { noncoherentDma: boolean; registeredFds: number[] };
          const real = l.filter((e) => !e.bogus).map((e) => e.fd);
          const mirrored = real.length === res.registeredFds.length && real.every((fd, k) => fd === res.registeredFds[k]);
          const fds = mirrored ? l.map((e) => e.fd) : [...res.registeredFds, ...l.filter((e) => e.bogus).map((e) => e.fd)];
          return { ok: true, result: { ...res, registeredFds: fds } };
        }
        default:
          return next(req);
      }
    },
  });
}
