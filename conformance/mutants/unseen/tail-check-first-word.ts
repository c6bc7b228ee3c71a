/**
 * C9 — tail-check-first-word — an iommufd emulation whose extensible-struct
 * parser checks only the first 8 bytes past the struct it knows.
 *
 * What real code does: every iommufd command is an extensible struct whose
 * first member is its size; iommufd_fops_ioctl copies it with
 * copy_struct_from_user(ucmd.cmd, op->size, ucmd.ubuffer, ucmd.user_size),
 * which, when the caller's struct is longer than the kernel's, requires every
 * trailing byte to be zero (include/linux/uaccess.h):
 *
 *         } else if (usize > ksize) {
 *                 int ret = check_zeroed_user(src + size, rest);
 *                 if (ret <= 0)
 *                         return ret ?: -E2BIG;
 *         }
 *
 * That is what lets a newer userspace know an older kernel did not silently
 * ignore a field it set.
 *
 * The bug: the emulation's own parser tests the tail with a single u64 load,
 * `if (usize > ksize && *(u64 *)(arg + ksize)) return -E2BIG;`, as if no
 * struct ever grew by more than one word. A non-zero byte 8 or more bytes past
 * the known struct is accepted and ignored. Applied as: such tail bytes are
 * not shown to the reference (zeroed in what it reads), and put back in the
 * argument the caller sees afterwards.
 *
 * Consequence: ABI hygiene — a newer userspace that sets a field the
 * implementation does not know (placed after a u64 or more of new members)
 * gets success, and believes its request (e.g. a new restriction flag or
 * range) is in force when it was silently dropped.
 */
import type { Implementation, Profile, Response, SingleRequest, IoctlResult } from '../../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../../impl/adapter/adapter.ts';
import { resolveCommand } from '../../../spec/abi/arg.ts';
import { structLayout } from '../../../spec/uapi/layout.ts';
import { getU32 } from '../../../spec/abi/le.ts';

/** The part of `tail` past the first word, if it holds the only non-zero bytes. */
function hiddenFrom(tail: Uint8Array): boolean {
  if (tail.length <= 8) return false;
  for (let i = 0; i < 8; i++) if (tail[i]) return false;
  for (let i = 8; i < tail.length; i++) if (tail[i]) return true;
  return false;
}

export function createAdapter(profile: Profile): Implementation {
  const ref = createReferenceAdapter(profile);
  const call = (r: SingleRequest): Response => ref.handle(r) as Response;

  const ioctl = (req: Extract<SingleRequest, { op: 'ioctl' }>): Response => {
    const c = resolveCommand(profile, req.cmd);
    if (!c || c.fd !== 'iommufd' || c.arg !== 'extensible' || !c.struct) return call(req);
    const ksize = structLayout(profile, c.struct)?.size;
    if (ksize === undefined) return call(req);
    if (req.arg.kind === 'struct') {
      const tail = req.arg.tail;
      if (!tail || req.arg.truncate !== undefined) return call(req);
      const sizeField = req.arg.fields.size;
      const usize = typeof sizeField === 'number' ? sizeField : ksize;
      // Only the bytes the caller's size covers are part of its struct.
      const covered = tail.subarray(0, Math.max(0, Math.min(tail.length, usize - ksize)));
      if (!hiddenFrom(covered)) return call(req);
      const shown = tail.slice();
      shown.fill(0, 8, covered.length);
      const r = call({ ...req, arg: { ...req.arg, tail: shown } });
      if (!r.ok) return r;
      const res = r.result as IoctlResult;
      if (!res.bytes || res.bytes.length < ksize + tail.length) return r;
      const bytes = res.bytes.slice();
      bytes.set(tail, bytes.length - tail.length);
      return { ok: true, result: { ...res, bytes } };
    }
    if (req.arg.kind === 'raw') {
      const b = req.arg.bytes;
      if (b.length <= ksize + 8 || b.length < 4) return call(req);
      const usize = getU32(b, 0);
      const end = Math.min(b.length, usize);
      if (end <= ksize) return call(req);
      const covered = b.subarray(ksize, end);
      if (!hiddenFrom(covered)) return call(req);
      const shown = b.slice();
      shown.fill(0, ksize + 8, end);
      const r = call({ ...req, arg: { ...req.arg, bytes: shown } });
      if (!r.ok) return r;
      const res = r.result as IoctlResult;
      if (!res.bytes || res.bytes.length !== b.length) return r;
      const bytes = res.bytes.slice();
      bytes.set(b.subarray(ksize + 8, end), ksize + 8);
      return { ok: true, result: { ...res, bytes } };
    }
    return call(req);
  };

  return {
    name: 'tail-check-first-word',
    version: '0.1.0',
    profile,
    handle(req: SingleRequest): Response {
      return req.op === 'ioctl' ? ioctl(req) : call(req);
    },
    close: () => ref.close?.(),
  };
}
