/**
 * ucmd-respond-full-size (drivers/iommu/iommufd/iommufd_private.h
 * iommufd_ucmd_respond).
 *
 * Every iommufd ioctl that answers through its argument copies the kernel's
 * copy of the struct back with iommufd_ucmd_respond(). The user's struct may
 * be shorter than the kernel's (a program built against older headers: any
 * `size` from offsetofend(min_last) up is accepted, and copy_struct_from_user
 * zero-fills the rest of the kernel copy), so the copy is clamped to what the
 * user declared:
 *     if (copy_to_user(ucmd->ubuffer, ucmd->cmd,
 *                      min_t(size_t, ucmd->user_size, cmd_len)))
 *             return -EFAULT;
 * The fault drops the clamp (a "simplification" to copy_to_user(ucmd->ubuffer,
 * ucmd->cmd, cmd_len)): the kernel always writes the full current struct.
 *
 * Consequence: for a struct whose minimum size is below its current size
 * (IOMMU_HWPT_ALLOC 24 of 48 bytes, IOMMU_GET_HW_INFO 32 of 40, IOMMU_TEST_CMD
 * 68 of 72; 7.3 also VIOMMU_ALLOC, VEVENTQ_ALLOC) a caller that passes the
 * short, older layout gets bytes written past the end of its struct: the
 * kernel's zero-filled copy of the members the caller does not have (and the
 * out_ members GET_HW_INFO fills there, out_capabilities) lands on whatever the
 * caller keeps after the struct — user memory corruption by the kernel, and
 * an EFAULT (with the object the answer named destroyed again) when the struct
 * ends at the end of a mapping.
 *
 * Applied as: every iommufd command runs the reference's handler with the
 * ucmd's user_size raised to the kernel struct size, so iommufd_ucmd_respond
 * copies cmd_len bytes.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoctlExecute, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOMMUFD_IOCTL_HANDLERS } from '../../../impl/iommufd/main.ts';
import { mutantImplementation } from '../harness.ts';

/** op->execute with iommufd_ucmd_respond copying the whole kernel struct. */
function unclamped(ucmd: Ucmd, original: IoctlExecute): number {
  const full = ucmd.cmd.layout.size;
  // THE FAULT: min_t(size_t, ucmd->user_size, cmd_len) became cmd_len.
  return original(ucmd.userSize < full ? { ...ucmd, userSize: full } : ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  const handlers: { [cmd: string]: (ucmd: Ucmd, original: IoctlExecute) => number } = {};
  for (const name of Object.keys(IOMMUFD_IOCTL_HANDLERS)) handlers[name] = unclamped;
  return mutantImplementation('ucmd-respond-full-size', profile, { handlers });
}
