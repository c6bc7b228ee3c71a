/**
 * C9 — kvm-close-unbinds — a VFIO cdev emulation that unbinds a device from
 * iommufd when its fd is closed, although KVM still holds the file.
 *
 * What real code does: KVM_DEV_VFIO_FILE_ADD takes a reference on the VFIO
 * file (virt/kvm/vfio.c, kvm_vfio_file_add):
 *
 *         kvf->file = get_file(filp);
 *         list_add_tail(&kvf->node, &kv->file_list);
 *
 * so close(fd) only drops the fd's reference; the file's ->release
 * (vfio_device_fops_release → vfio_df_unbind_iommufd) runs when the last
 * reference goes, i.e. at KVM_DEV_VFIO_FILE_DEL or when the VM is destroyed.
 * Until then the device stays bound to its iommufd and attached to its HWPT:
 * its iommufd device object, the HWPT and the IOAS keep their references
 * (IOMMU_DESTROY of the IOAS is EBUSY), its group stays owned, and its DMA
 * keeps going through the domain.
 *
 * The bug: the emulation ties unbind to close(2) of the device fd, ignoring
 * the reference kvm-vfio took, while its KVM side keeps the file on its
 * list (kvm_state still lists the fd, and the non-coherent DMA registration
 * it caused stays). Applied as: on close of a registered device fd, the file
 * is first taken off every VM's list underneath (KVM_DEV_VFIO_FILE_DEL) and
 * then closed, so the reference releases and unbinds it; kvm_state still
 * reports the registration and its coherency as before.
 *
 * Consequence: object lifetime is broken — the device object, its automatic
 * HWPT and the IOAS's users vanish under KVM; the IOAS can be destroyed and
 * its pins dropped while KVM believes the device is assigned; the group's DMA
 * ownership is released, so another context can claim the group of a device
 * the VM still has (a later kvm_vfio_del then acts on a file iommufd no longer
 * knows).
 */
import type { Implementation, Profile, Response, SingleRequest, KvmState } from '../../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../../impl/adapter/adapter.ts';

interface Vm {
  /** Registrations in the order KVM's list holds them: the fd and whether the reference still holds it. */
  readonly list: { fd: number; phantom: boolean; noncoherent: boolean }[];
}

export function createAdapter(profile: Profile): Implementation {
  const ref = createReferenceAdapter(profile);
  const call = (r: SingleRequest): Response => ref.handle(r) as Response;
  let vms = new Map<number, Vm>();
  let devFds = new Set<number>();

  const state = (vm: number): KvmState | undefined => {
    const r = call({ op: 'kvm_state', vm });
    return r.ok ? (r.result as KvmState) : undefined;
  };

  return {
    name: 'kvm-close-unbinds',
    version: '0.1.0',
    profile,
    handle(req: SingleRequest): Response {
      switch (req.op) {
        case 'reset':
          vms = new Map();
          devFds = new Set();
          return call(req);
        case 'open_device': {
          const r = call(req);
          if (r.ok && (r.result as { fd: number }).fd >= 0) devFds.add((r.result as { fd: number }).fd);
          return r;
        }
        case 'open': {
          const r = call(req);
          if (r.ok) devFds.delete((r.result as { fd: number }).fd);
          return r;
        }
        case 'kvm_create': {
          const r = call(req);
          if (r.ok) vms.set((r.result as { vm: number }).vm, { list: [] });
          return r;
        }
        case 'kvm_destroy': {
          const r = call(req);
          if (r.ok) vms.delete(req.vm);
          return r;
        }
        case 'kvm_vfio_add': {
          const r = call(req);
          if (r.ok && (r.result as { ret: number }).ret === 0) vms.get(req.vm)?.list.push({ fd: req.fd, phantom: false, noncoherent: false });
          return r;
        }
        case 'kvm_vfio_del': {
          const r = call(req);
          if (r.ok && (r.result as { ret: number }).ret === 0) {
            const v = vms.get(req.vm);
            const i = v ? v.list.findIndex((e) => e.fd === req.fd && !e.phantom) : -1;
            if (v && i >= 0) v.list.splice(i, 1);
          }
          return r;
        }
        case 'kvm_state': {
          const r = call(req);
          const v = vms.get(req.vm);
          if (!r.ok || !v || !v.list.some((e) => e.phantom)) return r;
          const s = r.result as KvmState;
          return { ok: true, result: { noncoherentDma: s.noncoherentDma || v.list.some((e) => e.phantom && e.noncoherent), registeredFds: v.list.map((e) => e.fd) } };
        }
        case 'close': {
          if (!devFds.has(req.fd)) return call(req);
          devFds.delete(req.fd);
          // THE BUG: the close unbinds now; KVM's reference is not looked at (its list is left as it was).
          const held: { noncoherent: boolean }[] = [];
          for (const [vm, v] of vms) {
            const e = v.list.find((x) => x.fd === req.fd && !x.phantom);
            if (!e) continue;
            call({ op: 'kvm_vfio_del', vm, fd: req.fd });
            e.phantom = true;
            held.push(e);
          }
          if (held.length) {
            // What the released file contributed to KVM's coherency (vfio_file_enforced_coherent), kept on the list.
            const mk = call({ op: 'kvm_create' });
            if (mk.ok) {
              const scratch = (mk.result as { vm: number }).vm;
              const add = call({ op: 'kvm_vfio_add', vm: scratch, fd: req.fd });
              const nc = add.ok && (add.result as { ret: number }).ret === 0 && !!state(scratch)?.noncoherentDma;
              call({ op: 'kvm_destroy', vm: scratch });
              for (const e of held) e.noncoherent = nc;
            }
          }
          return call(req);
        }
        default:
          return call(req);
      }
    },
    close: () => ref.close?.(),
  };
}
