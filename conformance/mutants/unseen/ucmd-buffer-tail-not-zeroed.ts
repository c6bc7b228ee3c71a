/**
 * ucmd-buffer-tail-not-zeroed (drivers/iommu/iommufd/main.c
 * iommufd_fops_ioctl).
 *
 * The ioctl argument lands in `union ucmd_buffer buf`, an uninitialized
 * stack union as large as the largest command struct, through
 * copy_struct_from_user:
 *
 *         ucmd.cmd = &buf;
 *         ret = copy_struct_from_user(ucmd.cmd, op->size, ucmd.ubuffer,
 *                                     ucmd.user_size);
 *
 * which copies min(user_size, op->size) bytes, refuses a non-zero tail the
 * kernel does not know (E2BIG), and — the point of the extensible-struct
 * ABI — zero-fills [user_size, op->size) so that an older binary's shorter
 * struct reads as "every newer field 0".
 *
 * THE FAULT: the copy is open-coded as copy_from_user(ucmd.cmd, ubuffer,
 * min(user_size, op->size)) plus check_zeroed_user() of the user's tail (a
 * "simplification" that kept the E2BIG rule but dropped the memset of the
 * kernel's tail). The fields an old caller does not pass are not 0: they
 * are whatever the previous ioctl at the same stack depth left in `buf` —
 * in practice the struct of the task's previous iommufd command, as its
 * handler left it.
 *
 * Consequence: a caller built against older headers (IOMMU_HWPT_ALLOC with
 * the 24-byte pre-6.7 struct is the live case: data_type, data_len,
 * data_uptr, fault_id and __reserved2 are past it) gets its request mixed
 * with stale kernel stack. A plain paging HWPT allocation after, say, an
 * IOMMU_IOAS_MAP sees data_type/data_len from the map's length and
 * data_uptr from its IOVA and fails (EOPNOTSUPP/EINVAL/EFAULT) or is read as
 * a different request (a nested allocation, a fault queue id) than the one
 * the user made; uninitialized kernel memory steers an ioctl.
 *
 * Applied as: every iommufd command's handler sees the bytes of its struct
 * from the caller's size to the kernel's size taken from a per-process
 * "stack" buffer holding the struct the previous iommufd ioctl's handler
 * left (zeros in a fresh process), instead of zeros.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMUFD_IOCTL_HANDLERS } from '../../../impl/iommufd/main.ts';
import type { IoctlExecute, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import type { Process } from '../../../impl/process/process.ts';

/** sizeof(union ucmd_buffer) is at least every struct's size; grown as needed. */
const INITIAL = 256;

export function createAdapter(profile: Profile): Implementation {
  // The task's kernel stack where iommufd_fops_ioctl keeps `buf`: one per (simulated) process.
  const stacks = new WeakMap<Process, { bytes: Uint8Array }>();
  const stackOf = (proc: Process) => {
    let s = stacks.get(proc);
    if (!s) stacks.set(proc, (s = { bytes: new Uint8Array(INITIAL) }));
    return s;
  };
  const faulty = (ucmd: Ucmd, original: IoctlExecute): number => {
    const stack = stackOf(ucmd.ctx.proc);
    const bytes = ucmd.cmd.bytes;
    if (stack.bytes.length < bytes.length) {
      const grown = new Uint8Array(bytes.length);
      grown.set(stack.bytes);
      stack.bytes = grown;
    }
    // THE FAULT: [user_size, op->size) keeps what `buf` held instead of being zeroed.
    if (ucmd.userSize < bytes.length) bytes.set(stack.bytes.subarray(ucmd.userSize, bytes.length), ucmd.userSize);
    try {
      return original(ucmd);
    } finally {
      // What the handler left in `buf` is what the next ioctl finds there.
      stack.bytes.set(bytes);
    }
  };
  const handlers: { [cmd: string]: (ucmd: Ucmd, original: IoctlExecute) => number } = {};
  for (const name of Object.keys(IOMMUFD_IOCTL_HANDLERS)) handlers[name] = faulty;
  return mutantImplementation('ucmd-buffer-tail-not-zeroed', profile, { handlers });
}
