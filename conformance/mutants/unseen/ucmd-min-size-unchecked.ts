/**
 * Fault K8 (ABI hygiene, extensible-struct decode): iommufd_fops_ioctl lost
 * its `if (ucmd.user_size < op->min_size) return -EINVAL;`: a struct shorter
 * than the command's minimum (size 0 included) is taken, and
 * copy_struct_from_user zero-extends it.
 *
 * Consequence: a truncated argument runs the command with its missing fields
 * read as zero (an ioas_id 0, a length 0, flags 0 …), and a command that
 * creates an object answers success while copying back only `size` bytes —
 * the caller never learns the id it now owns (IOAS_ALLOC with size 4 leaks an
 * IOAS). The EINVAL that tells old/new userspace the struct is too short is
 * gone.
 *
 * Bug class: a missing minimum-size check in an extensible-struct ioctl
 * dispatcher (copy_struct_from_user only handles usize > ksize; the min_size
 * table entry is what rejects usize < the last mandatory field).
 *
 * Applied as: a decode that failed at the min-size stage is dispatched to the
 * reference's handler with the zero-extended copy of the caller's `size`
 * bytes (EFAULT if they cannot be read), `size` kept for the copy-back.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { layoutOf, userArgOf } from '../../../impl/iommufd/ucmd.ts';
import { getU32 } from '../../../spec/abi/le.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('ucmd-min-size-unchecked', profile, {
    decodeFailed: (ctx, _cmd, arg, d, original, dispatch) => {
      if (d.stage !== 'min-size' || !d.command?.struct || d.command.arg !== 'extensible') return original();
      const readable = userArgOf(ctx.proc, arg, ctx.profile).readable;
      if (!readable || readable.length < 4) return original();
      const size = getU32(readable, 0);
      if (readable.length < size) return -EFAULT; // copy_struct_from_user
      const bytes = new Uint8Array(layoutOf(d.command.struct, ctx.profile).size);
      bytes.set(readable.subarray(0, size));
      return dispatch({ ok: true, command: d.command, kind: 'extensible', value: {}, bytes, size });
    },
  });
}
