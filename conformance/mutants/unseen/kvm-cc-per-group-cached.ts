/**
 * C9 — kvm-cc-per-group-cached — a kvm-vfio port that caches the answer of
 * vfio_file_enforced_coherent per iommu group: the first device of a group
 * registered with KVM decides for every sibling registered after it.
 *
 * What real code does: for a VFIO device file (the cdev path) the question is
 * asked of that device, every time KVM re-derives its coherency
 * (drivers/vfio/vfio_main.c, vfio_file_enforced_coherent):
 *
 *         device = vfio_device_from_file(file);
 *         if (device)
 *                 return device_iommu_capable(device->dev,
 *                                             IOMMU_CAP_ENFORCE_CACHE_COHERENCY);
 *
 * and virt/kvm/vfio.c, kvm_vfio_update_coherency, walks every registered
 * file; one file that is not enforced-coherent makes KVM register
 * non-coherent DMA (kvm_arch_register_noncoherent_dma), i.e. emulate WBINVD.
 * (Only the legacy group file asks the group, and then about *all* its
 * devices: vfio_group_enforced_coherent.)
 *
 * The bug: the port keys a small cache by iommu_group, filled the first time
 * a file of that group is registered, on the theory that "coherency is a
 * property of the group". A second device of the group whose IOMMU cannot
 * enforce coherency for it (a different function with its own CANWBS / snoop
 * capability) inherits the first device's "coherent" answer. Applied as:
 * kvm_state's noncoherentDma is derived from that cache over the registered
 * files (device capability: the unit's, or what the device was created
 * with), instead of from each device.
 *
 * Consequence: coherency — KVM does not emulate WBINVD for a VM whose
 * assigned device does no-snoop DMA the IOMMU does not force to snoop, so the
 * guest's cache flushes are no-ops and it reads stale data after DMA.
 */
import type { Implementation, Profile, Response, SingleRequest, KvmState, Capabilities, DeviceSpec } from '../../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../../impl/adapter/adapter.ts';

export function createAdapter(profile: Profile): Implementation {
  const ref = createReferenceAdapter(profile);
  const call = (r: SingleRequest): Response => ref.handle(r) as Response;
  let unitCoherent: Map<string, { coherent: boolean; mock: boolean }> | undefined;
  const unit = (name: string) => {
    if (!unitCoherent) {
      unitCoherent = new Map();
      const c = call({ op: 'capabilities' });
      if (c.ok) for (const i of (c.result as Capabilities).iommus) unitCoherent.set(i.name, { coherent: i.enforceCacheCoherency, mock: i.format.startsWith('mock') || i.format === 'amdv1-mock' });
    }
    return unitCoherent.get(name);
  };

  let devices = new Map<number, { group: number; coherent: boolean }>();
  let devFds = new Map<number, number>(); // fd → device
  /** vm → fd → device, as registered */
  let regs = new Map<number, Map<number, number>>();
  /** THE BUG: group → the first registered device's answer. */
  let groupCache = new Map<number, boolean>();

  const deviceCoherent = (spec: DeviceSpec): boolean => {
    const u = unit(spec.iommu);
    if (!u || u.mock) return false;
    return spec.enforceCacheCoherency ?? u.coherent;
  };

  return {
    name: 'kvm-cc-per-group-cached',
    version: '0.1.0',
    profile,
    handle(req: SingleRequest): Response {
      switch (req.op) {
        case 'reset':
          devices = new Map();
          devFds = new Map();
          regs = new Map();
          groupCache = new Map();
          return call(req);
        case 'device_create': {
          const r = call(req);
          if (r.ok) {
            const { device, group } = r.result as { device: number; group: number };
            devices.set(device, { group, coherent: deviceCoherent(req.spec) });
          }
          return r;
        }
        case 'open_device': {
          const r = call(req);
          if (r.ok && (r.result as { fd: number }).fd >= 0) devFds.set((r.result as { fd: number }).fd, req.device);
          return r;
        }
        case 'open': {
          const r = call(req);
          if (r.ok) devFds.delete((r.result as { fd: number }).fd);
          return r;
        }
        case 'kvm_vfio_add': {
          const r = call(req);
          if (r.ok && (r.result as { ret: number }).ret === 0) {
            const d = devFds.get(req.fd);
            let m = regs.get(req.vm);
            if (!m) regs.set(req.vm, (m = new Map()));
            if (d !== undefined) {
              m.set(req.fd, d);
              const info = devices.get(d);
              if (info && !groupCache.has(info.group)) groupCache.set(info.group, info.coherent);
            }
          }
          return r;
        }
        case 'kvm_vfio_del': {
          const r = call(req);
          if (r.ok && (r.result as { ret: number }).ret === 0) regs.get(req.vm)?.delete(req.fd);
          return r;
        }
        case 'kvm_destroy': {
          const r = call(req);
          if (r.ok) regs.delete(req.vm);
          return r;
        }
        case 'kvm_state': {
          const r = call(req);
          if (!r.ok) return r;
          const s = r.result as KvmState;
          const m = regs.get(req.vm);
          if (!m) return r;
          let noncoherent = false;
          for (const fd of s.registeredFds) {
            const d = m.get(fd);
            const info = d === undefined ? undefined : devices.get(d);
            if (!info) return r; // a file the port does not know: it asks the device after all
            const cached = groupCache.get(info.group) ?? info.coherent;
            if (!cached) noncoherent = true;
          }
          return { ok: true, result: { ...s, noncoherentDma: noncoherent } };
        }
        default:
          return call(req);
      }
    },
    close: () => ref.close?.(),
  };
}
