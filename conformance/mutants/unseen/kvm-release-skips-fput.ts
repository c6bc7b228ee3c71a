/**
 * kvm-release-skips-fput — VFIO file lifetime across a KVM VM's teardown.
 *
 * Kernel: virt/kvm/vfio.c, kvm_vfio_release() (the kvm-vfio device's release,
 * run when the VM is destroyed). Every registered file is dropped:
 *
 *     list_for_each_entry_safe(kvf, tmp, &kv->file_list, node) {
 *     #ifdef CONFIG_SPAPR_TCE_IOMMU
 *             kvm_spapr_tce_release_vfio_group(dev->kvm, kvf);
 *     #endif
 *             kvm_vfio_file_set_kvm(kvf->file, NULL);
 *             fput(kvf->file);
 *             list_del(&kvf->node);
 *             kfree(kvf);
 *             kvm_arch_end_assignment(dev->kvm);
 *     }
 *
 * The fault: the loop unlinks and frees each kvf but lost the fput(): the
 * reference kvm_vfio_file_add() took with get_file() is never given back.
 * kvm_vfio_file_del() has its own fput(), so add/del pairs, and the
 * observe-style "add, check, del" tests are unaffected; only a VM torn down
 * with files still registered leaks them — the path a plausible refactor of
 * the release loop (group → file rename, the SPAPR split) could drop.
 *
 * Observable: a device file registered with a VM that is then destroyed
 * outlives its fd. Closing the fd no longer releases it, so the device stays
 * bound (vfio_df_unbind_iommufd never runs): it stays attached and keeps
 * DMAing through its HWPT; opening the device again and binding is EINVAL
 * (open_count: the device is still open); the file still holds its iommufd
 * context, so closing the iommufd fd does not release the context — the
 * IOAS's pages stay pinned and charged, and the group stays owned by the dead
 * context (another iommufd binding any device of the group gets EPERM).
 *
 * Applied as: the files each VM holds are tracked from the successful
 * kvm_vfio_add / kvm_vfio_del requests; on kvm_destroy every file still
 * registered gets one extra reference before the reference's release puts
 * one (net: no fput).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { KFile } from '../../../impl/process/file.ts';
import type { Process } from '../../../impl/process/process.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Per process: VM id → the files kvm-vfio holds for it. */
  const held = new WeakMap<Process, Map<number, Set<KFile>>>();
  const filesOf = (proc: Process, vm: number): Set<KFile> => {
    let t = held.get(proc);
    if (!t) held.set(proc, (t = new Map()));
    let s = t.get(vm);
    if (!s) t.set(vm, (s = new Set()));
    return s;
  };
  const succeeded = (res: { ok: boolean; result?: unknown }): boolean =>
    res.ok && typeof res.result === 'object' && res.result !== null && (res.result as { ret?: number }).ret === 0;

  return mutantImplementation('kvm-release-skips-fput', profile, {
    request: (req, next, env) => {
      switch (req.op) {
        case 'kvm_vfio_add': {
          const file = env.proc.fds.lookup(req.fd);
          const res = next(req);
          if (file && succeeded(res)) filesOf(env.proc, req.vm).add(file);
          return res;
        }
        case 'kvm_vfio_del': {
          const file = env.proc.fds.lookup(req.fd);
          const res = next(req);
          if (file && succeeded(res)) filesOf(env.proc, req.vm).delete(file);
          return res;
        }
        case 'kvm_destroy': {
          const proc = env.proc;
          const files = held.get(proc)?.get(req.vm);
          // kvm_vfio_release without fput(kvf->file): the add's reference stays. One extra
          // reference per held file before the reference's release puts one.
          const extra = [...(files ?? [])].filter((f) => f.refs > 0);
          for (const f of extra) f.get();
          const res = next(req);
          if (!res.ok) for (const f of extra) f.put(); // no such VM: nothing was released
          held.get(proc)?.delete(req.vm);
          return res;
        }
        default:
          return next(req);
      }
    },
  });
}
