/**
 * The object machines, one per iommufd object kind (plus the iommu group and
 * the KVM coherency state), and their compiled steppers.
 */
import { compileMachine, type CompiledMachine } from '../core/compile.ts';
import type { ObjectMachine } from '../core/define.ts';
import { access } from './access.ts';
import { device } from './device.ts';
import { fault } from './fault.ts';
import { group } from './group.ts';
import { hwQueue } from './hw-queue.ts';
import { hwptNested } from './hwpt-nested.ts';
import { hwptPaging } from './hwpt-paging.ts';
import { ioas } from './ioas.ts';
import { kvm } from './kvm.ts';
import { vdevice } from './vdevice.ts';
import { veventq } from './veventq.ts';
import { viommu } from './viommu.ts';

export { access, device, fault, group, hwQueue, hwptNested, hwptPaging, ioas, kvm, vdevice, veventq, viommu };

/** In the order the generated pages list them. */
export const OBJECT_MACHINES = [ioas, hwptPaging, hwptNested, device, group, access, fault, viommu, vdevice, hwQueue, veventq, kvm] as const;

export type MachineId = (typeof OBJECT_MACHINES)[number]['def']['id'];

const compiled = new Map<string, CompiledMachine>();
for (const m of OBJECT_MACHINES) compiled.set(m.def.id, compileMachine(m as unknown as ObjectMachine));

/** The compiled stepper of a machine. */
export function stepper<C = unknown>(id: string): CompiledMachine<C> {
  const c = compiled.get(id);
  if (!c) throw new Error(`no object machine ${id}`);
  return c as CompiledMachine<C>;
}

export function allSteppers(): CompiledMachine[] {
  return [...compiled.values()];
}
