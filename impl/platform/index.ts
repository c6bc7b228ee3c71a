/**
 * The simulated platform: what the in-process adapter (impl/adapter/adapter.ts)
 * delegates to. One Machine per simulated process (the adapter's
 * Process), created on first use with the process's fail-nth injector (driver
 * allocations are fallible steps of the sweep). Page tables live in the
 * machine's one simulated physical memory (impl/iommu PhysMemory, the
 * process's `phys`): table pages are KIND_TABLE, user pages KIND_DATA; the
 * leaves point at the user frames, and device DMA reads and writes those
 * frames, so it lands in the very pages user buffers and pins use. See README.md for the units and modelling choices.
 *
 * --- * API for the adapter (errnos negative, as everywhere in impl/):
 *   machineFor(proc, profile)                   the process's machine (lazily made, over proc.phys)
 *   platformCapabilities(proc, profile)         { iommus: InstanceInfo[], deviceFeatures }
 *   setReverseMap(proc, profile, fn)            pa -> { buffer, offset } for `touched` / translate
 *   deviceCreate(proc, profile, spec)           adapter `device_create` -> { ok, device, group } | { ok:false, field, message }
 *   deviceRemove(proc, profile, handle)         adapter `device_remove` -> { ok } | { ok:false, message }
 *                                               (refused while the device's VFIO file is open or held by KVM)
 *   dma(proc, profile, req)                     adapter `dma` -> DmaOutcome | undefined (bad device handle)
 *   translate(proc, profile, handle, iova, pasid?)  adapter `translate`
 *   iotlb(proc, profile, name)                  adapter `iotlb` -> entries | undefined (bad name)
 * The platform imports nothing of impl/iommufd: iommufd calls into it through
 * the device (SimDevice.machine, an IommuCore) and the drivers' ops.
 *
tances (see machine.ts): mock (the kernel selftest driver, 6.12 / 7.3),
 * vtd0 and vtd2 (two compatible VT-d units: snoop control, dirty, nesting,
 * 48-bit), vtd1 (VT-d without snoop
 * control or dirty, 39-bit), amd0 (AMD v1, always coherent), smmu0 (Arm SMMUv3
 * stage 1, cannot enforce coherency).
 */
import type { Process } from '../process/process.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { type DeviceSpecInput, type DmaOutcome, type InstanceInfo, Machine, type ReverseMap, type TranslateOutcome } from './machine.ts';

export * from './machine.ts';
export { IommuDomain, IommuInstance } from './iommu.ts';

const machines = new WeakMap<Process, Machine>();

/** The simulated machine behind a process (made on first use), over the process's physical memory. */
export function machineFor(proc: Process, profile: Profile): Machine {
  let m = machines.get(proc);
  if (!m) {
    m = new Machine(profile, proc.phys, () => proc.faults.shouldFail());
    machines.set(proc, m);
  }
  return m;
}

export interface DeviceFeatureSupport {
  readonly supported: boolean;
  readonly reason?: string;
}

/** What the adapter reports under capabilities.iommus and deviceFeatures. */
export function platformCapabilities(proc: Process, profile: Profile): {
  iommus: InstanceInfo[];
  deviceFeatures: { [k in 'multiDeviceGroups' | 'pasid' | 'dirtyTracking' | 'enforceCacheCoherency' | 'noSnoop' | 'hugeIova' | 'reservedRegions']: DeviceFeatureSupport };
} {
  const yes = { supported: true };
  return {
    iommus: machineFor(proc, profile).instanceInfo(),
    deviceFeatures: {
      multiDeviceGroups: yes,
      pasid: { supported: false, reason: 'PASID attach is a later issue; pasidWidth is reported by GET_HW_INFO only' },
      dirtyTracking: yes,
      enforceCacheCoherency: yes,
      noSnoop: yes,
      hugeIova: profile === '6.12' ? yes : { supported: false, reason: 'MOCK_FLAGS_DEVICE_HUGE_IOVA does not exist in 7.3' },
      reservedRegions: yes,
    },
  };
}

export function setReverseMap(proc: Process, profile: Profile, fn: ReverseMap): void {
  machineFor(proc, profile).reverseMap = fn;
}

export function deviceCreate(proc: Process, profile: Profile, spec: DeviceSpecInput) {
  return machineFor(proc, profile).deviceCreate(spec);
}

/** Hot-unplug; refused while the device's VFIO file is still referenced (open or held by KVM). */
export function deviceRemove(proc: Process, profile: Profile, handle: number) {
  return machineFor(proc, profile).deviceRemove(handle, (dev) => {
    const v = dev.vfio as { openFiles?: number } | undefined;
    return v && v.openFiles ? `device ${handle} is in use: its VFIO device file is open (or held by a KVM VM)` : undefined;
  });
}

export interface DmaRequest {
  readonly device: number;
  readonly pasid?: number;
  readonly iova: bigint;
  readonly dir: 'read' | 'write';
  readonly data?: Uint8Array;
  readonly length?: number;
}

export function dma(proc: Process, profile: Profile, req: DmaRequest): DmaOutcome | undefined {
  return machineFor(proc, profile).dma(req.device, req.iova, req.dir, req.data, req.length ?? 0, req.pasid);
}

export function translate(proc: Process, profile: Profile, device: number, iova: bigint, pasid?: number): TranslateOutcome | undefined {
  return machineFor(proc, profile).translate(device, iova, pasid);
}

export function iotlb(proc: Process, profile: Profile, name: string) {
  return machineFor(proc, profile).iotlb(name);
}
