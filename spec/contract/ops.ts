/**
 * The request ops of contract v1 as runtime data (types.ts has them only as
 * types). `satisfies` plus the exhaustiveness check below keep this list and
 * the Request union from drifting apart.
 */
import type { Op, SingleOp } from './types.ts';

export const SINGLE_OPS = [
  'capabilities',
  'open',
  'open_device',
  'close',
  'ioctl',
  'read',
  'write',
  'poll',
  'set_process',
  'process_info',
  'mem_alloc',
  'mem_write',
  'mem_read',
  'mem_unmap',
  'mem_protect',
  'device_create',
  'device_remove',
  'dma',
  'translate',
  'pin_count',
  'iotlb',
  'kvm_create',
  'kvm_destroy',
  'kvm_vfio_add',
  'kvm_vfio_del',
  'kvm_state',
  'fail_nth',
  'reset',
] as const satisfies readonly SingleOp[];

/** Ops whose support the capability report lists under `ops` (all but capabilities and batch). */
export const ENVIRONMENT_OPS = SINGLE_OPS.filter((op): op is Exclude<SingleOp, 'capabilities'> => op !== 'capabilities');

export const ALL_OPS: readonly Op[] = [...SINGLE_OPS, 'batch'];

// Compile-time exhaustiveness: every SingleOp is in SINGLE_OPS.
type Missing = Exclude<SingleOp, (typeof SINGLE_OPS)[number]>;
const _exhaustive: [Missing] extends [never] ? true : Missing = true;
void _exhaustive;

export function isSingleOp(op: string): op is SingleOp {
  return (SINGLE_OPS as readonly string[]).includes(op);
}
