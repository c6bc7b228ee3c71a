/**
 * The shape of the uAPI data: structs, fields, commands, enums.
 *
 * Structs are described as C declares them (x86-64): the byte layout is not
 * written down here but computed from the declarations by C alignment rules
 * (spec/uapi/layout.ts) and checked against gcc's own offsets from the real
 * exported headers (spec/uapi/layouts/linux-<profile>.json).
 */
import type { Profile } from './profiles.ts';

/** C scalar types. `ptr` is a user pointer carried in an `__aligned_u64`. */
export type Scalar = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 's64' | 'ptr';

/** Whom a field is for: the ioctl's own bookkeeping or the caller's data. */
export type FieldRole = 'size' | 'argsz' | 'flags' | 'reserved' | 'in' | 'out' | 'inout';

/** What a user-pointer field points to, and which field gives its extent. */
export interface Pointee {
  /** Human description, e.g. "array of struct iommu_iova_range". */
  readonly what: string;
  /** Element struct, when the pointee is an array of a known struct. */
  readonly struct?: string;
  /** Field (same struct) holding the element count. */
  readonly countField?: string;
  /** Field (same struct) holding the length in bytes. */
  readonly lengthField?: string;
  /** Field (same struct) holding the size of one element in bytes. */
  readonly entryLenField?: string;
  /** Data written by the kernel (out), read by it (in), or both. */
  readonly dir: 'in' | 'out' | 'inout';
}

export type FieldType =
  | { readonly kind: 'scalar'; readonly type: Scalar }
  /** Fixed array; `length: 0` is a C flexible array member (takes no space). */
  | { readonly kind: 'array'; readonly of: FieldType; readonly length: number }
  /** A named struct (defined in the struct table). */
  | { readonly kind: 'struct'; readonly name: string }
  /** An inline struct or union, anonymous when the field's name is ''. */
  | { readonly kind: 'inline'; readonly union: boolean; readonly fields: readonly FieldDef[]; readonly discriminant?: Discriminant };

/** Which union member a sibling field selects (IOMMU_TEST_CMD's `op`). */
export interface Discriminant {
  /** Name of the sibling scalar field. */
  readonly field: string;
  /** Union member name → selector values that pick it. */
  readonly members: { readonly [member: string]: readonly number[] };
}

export interface FieldDef {
  /** C member name; '' for an anonymous union/struct (its members join the parent). */
  readonly name: string;
  readonly type: FieldType;
  readonly role: FieldRole;
  /** Profiles that have this field; absent = every profile that has the struct. */
  readonly profiles?: readonly Profile[];
  /** Enum (in enums.ts) whose bits this field carries. */
  readonly flags?: string;
  /** Enum (in enums.ts) whose values this field takes. */
  readonly enum?: string;
  readonly pointee?: Pointee;
  readonly doc?: string;
}

export interface StructDef {
  readonly name: string;
  readonly header: 'linux/iommufd.h' | 'linux/vfio.h' | 'iommufd_test.h';
  readonly fields: readonly FieldDef[];
  /** Profiles whose headers declare it; absent = all. */
  readonly profiles?: readonly Profile[];
  readonly doc?: string;
}

/** How the ioctl argument is passed and sized. */
export type ArgKind =
  /** iommufd size-prefixed extensible struct (copy_struct_from_user). */
  | 'extensible'
  /** VFIO struct with leading `argsz`, checked against the handler's minsz. */
  | 'vfio-argsz'
  /** The ioctl argument itself is an integer. */
  | 'int'
  /** The argument is ignored. */
  | 'none';

/** Which file a command is issued on. */
export type FdKind =
  /** /dev/iommu, or /dev/vfio/vfio served by iommufd (compat commands fall through to vfio_compat.c). */
  | 'iommufd'
  /** A VFIO device cdev (/dev/vfio/devices/vfioX). */
  | 'vfio-device';

/** An optional tail of a VFIO struct that a flag makes the kernel read. */
export interface VfioExtension {
  /** Flag (in the command's flags enum) that enables it. */
  readonly flag: string;
  /** Last field read when the flag is set: argsz must reach offsetofend(last). */
  readonly last: string;
}

export interface CommandDef {
  readonly name: string;
  /** _IOC_NR. */
  readonly nr: number;
  /** The full ioctl request number (_IO(';', nr): no size or direction bits). */
  readonly request: number;
  readonly fd: FdKind;
  readonly arg: ArgKind;
  readonly struct?: string;
  /** The field whose offsetofend is the minimum size (IOCTL_OP's _last, or the handler's minsz). */
  readonly minLast?: string;
  /**
   * VFIO: how a size above minsz is treated. 'ignore': only minsz bytes are
   * copied, the rest is ignored (no E2BIG). 'copy-struct': copy_struct_from_user
   * with argsz (E2BIG for a non-zero tail beyond the struct).
   */
  readonly vfioTail?: 'ignore' | 'copy-struct';
  /** VFIO: the read/write sequence: copy minsz bytes first, or get_user(argsz) first. */
  readonly vfioRead?: 'copy-minsz' | 'get-argsz';
  readonly extensions?: readonly VfioExtension[];
  readonly profiles: readonly Profile[];
  /** Kernel function that handles it. */
  readonly handler: string;
  /** Only with CONFIG_IOMMUFD_TEST (IOMMU_TEST_CMD). */
  readonly testOnly?: boolean;
  /**
   * What the command does when the copy of its answer back into the argument
   * faults, after its work is done. 'unwinds': it undoes that work and fails
   * with EFAULT, leaving the caller as before: the new object whose id the
   * answer carries is destroyed (iommufd_object_abort_and_destroy, by the
   * handler or, for objects allocated with iommufd_object_alloc_ucmd, by
   * iommufd_fops_ioctl), a new binding is closed (vfio_df_ioctl_bind_iommufd's
   * out_close_device). 'detaches': the device is detached, whatever it was
   * attached to before (VFIO_DEVICE_ATTACH_IOMMUFD_PT's out_detach), so an
   * attach of an unattached device unwinds and a replace does not. Unset
   * where the kernel keeps what it did (IOAS_MAP, IOAS_COPY and IOAS_UNMAP
   * respond after changing the IOAS), or where no answer is written.
   */
  readonly answerFault?: 'unwinds' | 'detaches';
  readonly doc?: string;
}

export interface EnumMember {
  readonly name: string;
  readonly value: number;
  readonly profiles?: readonly Profile[];
  /** Defined by drivers/iommu/iommufd/iommufd_test.h (selftest values added to a uAPI enum). */
  readonly testOnly?: boolean;
  readonly doc?: string;
}

export interface EnumDef {
  readonly name: string;
  /** 'flags': members are bits; 'values': members are distinct values. */
  readonly kind: 'flags' | 'values';
  readonly members: readonly EnumMember[];
  readonly header: 'linux/iommufd.h' | 'linux/vfio.h' | 'iommufd_test.h';
  readonly profiles?: readonly Profile[];
  readonly doc?: string;
}

export interface TestOpDef {
  readonly name: string;
  readonly value: number;
  /** Union member of struct iommu_test_cmd it reads, or null when it uses none. */
  readonly member: string | null;
  readonly profiles: readonly Profile[];
  /** selftest.c function that serves it. */
  readonly handler: string;
  /**
   * What the op does when the copy of its answer back faults (as
   * CommandDef.answerFault): MOCK_DOMAIN detaches, unbinds and destroys the
   * mock device it made (out_detach), CREATE_ACCESS destroys the access
   * (out_destroy), ACCESS_PAGES unpins what it pinned (out_free_item);
   * PASID_ATTACH detaches the PASID. Unset where the op keeps what it did.
   */
  readonly answerFault?: 'unwinds' | 'detaches';
  /**
   * Its handler refuses a bit of its member's flags word outside that word's
   * flag set (and `alsoAccepts`) with this errno, before it looks up any
   * object (only the 16 MiB length cap of the access ops comes first): the
   * selftest's own ABI, as strict as the uAPI's (iommufd_test_create_access,
   * iommufd_test_access_pages, iommufd_test_access_rw).
   */
  readonly memberFlags?: { readonly errno: 'EOPNOTSUPP' | 'EINVAL'; readonly alsoAccepts?: readonly string[] };
}
