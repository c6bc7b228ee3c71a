/**
 * Dispatch and ABI rules: how /dev/iommu turns an ioctl number and a user
 * buffer into a command (drivers/iommu/iommufd/main.c: iommufd_fops_ioctl), and
 * the argsz rule of the VFIO commands. These hold for every command.
 */
import { BOTH, type Clause } from './types.ts';

const MAIN = 'drivers/iommu/iommufd/main.c';

export const clauses: Clause[] = [
  {
    id: 'DISPATCH.UNKNOWN_NR',
    kind: 'abi',
    statement:
      'An ioctl number outside the iommufd table goes to the VFIO compatibility handler; one it does not know either fails with ENOTTY. A number inside the table whose slot is empty or holds a different command fails with ENOTTY (after the size word is read).',
    source: { file: MAIN, function: 'iommufd_fops_ioctl' },
    profiles: BOTH,
    errno: 'ENOTTY',
    checks: ['abi.dispatch.unknown-nr-is-enotty'],
  },
  {
    id: 'DISPATCH.SIZE_FAULT',
    kind: 'abi',
    statement:
      'The u32 size at the argument pointer is read before anything else of an iommufd command; if it cannot be read (e.g. a NULL argument) the ioctl fails with EFAULT.',
    source: { file: MAIN, function: 'iommufd_fops_ioctl' },
    profiles: BOTH,
    errno: 'EFAULT',
    checks: ['abi.dispatch.null-arg-is-efault'],
  },
  {
    id: 'DISPATCH.SHORT_STRUCT',
    kind: 'abi',
    statement: 'A size below the command’s minimum size (offsetofend of its last mandatory field) fails with EINVAL.',
    source: { file: MAIN, function: 'iommufd_fops_ioctl' },
    profiles: BOTH,
    errno: 'EINVAL',
    checks: ['abi.extensible.short-is-einval'],
  },
  {
    id: 'DISPATCH.NONZERO_TAIL',
    kind: 'abi',
    statement:
      'A size above the kernel’s struct size is accepted only if every byte past the known struct is zero; a non-zero byte there fails with E2BIG.',
    source: { file: 'include/linux/uaccess.h', function: 'copy_struct_from_user' },
    profiles: BOTH,
    errno: 'E2BIG',
    checks: ['abi.extensible.nonzero-tail-is-e2big', 'abi.extensible.zero-tail-accepted'],
  },
  {
    id: 'DISPATCH.SHORT_ZERO_EXTENDED',
    kind: 'abi',
    statement:
      'A size at or above the minimum but below the kernel’s struct size is accepted, and the missing fields read as zero; the response copies back min(size, struct size) bytes.',
    source: { file: 'include/linux/uaccess.h', function: 'copy_struct_from_user' },
    profiles: BOTH,
    checks: ['abi.extensible.short-zero-extended', 'suite.invariants.answer-within-declared-size'],
  },
  {
    id: 'DISPATCH.NO_COPYBACK_ON_FAILURE',
    kind: 'abi',
    statement:
      'An iommufd command copies its struct back only through iommufd_ucmd_respond, which every handler calls on its success path: a command that fails leaves the caller’s argument as it was sent. Two respond and then fail: IOMMU_IOAS_IOVA_RANGES (EMSGSIZE, with num_iovas and out_iova_alignment written) and IOMMU_HWPT_INVALIDATE (entry_num written on every outcome once the struct was read).',
    source: { file: MAIN, function: 'iommufd_ucmd_respond' },
    profiles: BOTH,
    checks: ['suite.invariants.failed-command-copies-nothing', 'mutants.catalogue.all-killed-full'],
  },
  {
    id: 'DISPATCH.ANSWER_WRITTEN',
    kind: 'abi',
    statement:
      'A command whose every success ends by writing into the caller’s struct fails with EFAULT when that struct cannot be written: through iommufd_ucmd_respond (IOAS_ALLOC, IOAS_IOVA_RANGES, IOAS_MAP, IOAS_MAP_FILE, IOAS_COPY, IOAS_UNMAP, HWPT_ALLOC, GET_HW_INFO, FAULT_QUEUE_ALLOC; IOMMU_VFIO_IOAS for GET), or a copy_to_user of one member (IOMMU_OPTION’s val64, after a SET too; VFIO_DEVICE_BIND_IOMMUFD’s out_devid; VFIO_DEVICE_ATTACH_IOMMUFD_PT’s pt_id). None of them succeeds with a read-only argument, whether or not it undoes its work first.',
    source: { file: MAIN, function: 'iommufd_ucmd_respond' },
    profiles: BOTH,
    errno: 'EFAULT',
    checks: ['suite.invariants.answer-into-read-only-faults'],
  },
  {
    id: 'DISPATCH.INPUTS_COME_BACK',
    kind: 'abi',
    statement:
      'A command that succeeds writes back what it reports and nothing else: iommufd_ucmd_respond copies the kernel\u2019s copy of the struct, whose input fields and flags are the caller\u2019s (a VFIO device command copies its own the same way), so every member the uAPI marks as input or flags comes back as sent (union members, whose bytes several members share, are not judged).',
    source: { file: MAIN, function: 'iommufd_ucmd_respond' },
    profiles: BOTH,
    checks: ['suite.invariants.inputs-come-back', 'mutants.lies.held-caught', 'mutants.lies.caught-every-time'],
  },
  {
    id: 'VFIO.ARGSZ',
    kind: 'abi',
    statement:
      'The VFIO type1 compatibility commands and VFIO_DEVICE_ATTACH/DETACH_IOMMUFD_PT read `minsz` bytes and fail with EINVAL when `argsz` is below `minsz`; bytes past what the command reads are ignored (no E2BIG).',
    source: { file: 'drivers/iommu/iommufd/vfio_compat.c', function: 'iommufd_vfio_map_dma' },
    profiles: BOTH,
    errno: 'EINVAL',
    checks: ['abi.vfio.argsz-below-minsz-is-einval', 'abi.vfio.argsz-extra-ignored'],
  },
  {
    id: 'VFIO.BIND_TAIL',
    kind: 'abi',
    statement:
      'VFIO_DEVICE_BIND_IOMMUFD follows the argsz rule in 6.12 (a tail is ignored); in 7.3 it reads argsz and then copy_struct_from_user, so a non-zero byte past the known struct fails with E2BIG.',
    source: { file: 'drivers/vfio/device_cdev.c', function: 'vfio_df_ioctl_bind_iommufd' },
    profiles: BOTH,
    command: 'VFIO_DEVICE_BIND_IOMMUFD',
    checks: ['abi.vfio.bind-tail-per-profile'],
  },
  {
    id: 'ABI.LAYOUT',
    kind: 'abi',
    statement:
      'Every struct of the uAPI has, per profile, exactly the field offsets and sizes of the kernel’s exported headers, and encodes little-endian.',
    source: { file: 'include/uapi/linux/iommufd.h', function: '(struct definitions)' },
    profiles: BOTH,
    checks: ['abi.layout.matches-headers', 'abi.codec.round-trip'],
  },
  {
    id: 'ABI.ONE_SOURCE',
    kind: 'abi',
    statement:
      'Every uAPI number the reference, the suite and the CLI use — ioctl request numbers, flag and enum values, errno numbers, struct offsets — is the kernel header’s, taken from spec/uapi (whose values the layout probe checks against the profile’s headers); none is typed anywhere else, and struct fields are read and written through the codec, not by byte offset.',
    source: { file: 'include/uapi/linux/iommufd.h', function: '(the whole header)' },
    profiles: BOTH,
    checks: ['abi.uapi.no-literals-outside-spec-uapi', 'abi.uapi.literal-scan-finds-planted'],
  },
];
