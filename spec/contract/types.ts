/**
 * The adapter contract, version 1: what an implementation under test provides.
 *
 * This file is the TypeScript form of spec/contract/ADAPTER.md; the JSON Schema in
 * conformance/adapter/schema/ is the wire form (JSON lines over stdio). Both
 * transports carry the same requests and responses; only the value encoding
 * differs (wire: u64 as decimal strings, bytes as base64; here: bigint and
 * Uint8Array).
 *
 * Handles: every fd, buffer, device, VM and IOMMU-instance name an adapter hands
 * out is an opaque number (fds are the implementation's real fd numbers, so a
 * struct field such as `iommufd` in VFIO_DEVICE_BIND_IOMMUFD can carry them).
 *
 * Errors: an ioctl that fails is a *result* ({ ret: -1, errno }), never a
 * protocol error. A protocol error (unknown op, malformed request, a handle the
 * adapter never issued) is reported as { error } and names the bad field.
 */

export const CONTRACT_VERSION = 1 as const;

import type { Profile } from '../uapi/profiles.ts';
/** Kernel profile; defined with the uAPI data in spec/uapi/profiles.ts. */
export type { Profile };

/** A typed struct value: C field names as keys. u8/u16/u32/s32 are numbers,
 * u64 and user pointers are bigint, fixed arrays are arrays, and nested structs
 * and union members are nested objects keyed by member name. Fields left out
 * are zero. */
export type StructValue = { [field: string]: FieldValue };
export type FieldValue = number | bigint | StructValue | readonly FieldValue[] | PointerArg;

/** A user-pointer field may name data for the adapter to place in scratch user
 * memory (in) or room for the implementation to write (out); the adapter sets
 * the pointer to that memory and returns its contents after the call.
 * A plain bigint is passed through as a literal pointer (e.g. 0n, or a bad
 * address to provoke EFAULT, or a buffer's `va`). */
export type PointerArg =
  | { readonly data: Uint8Array } // copied in; contents returned after the call
  | { readonly room: number }; // zero-filled bytes; contents returned after the call

/** A pointer patch on a `raw` argument (ADAPTER.md §3.3): the adapter places
 * `data` (or `room` zero bytes) in scratch user memory, applies the patch's own
 * `ptrs` to that memory (nesting), and writes the memory's address as a
 * little-endian u64 at `offset` of the parent bytes. It is how an adapter that
 * knows no struct layouts serves `struct` arguments a host encoded for it. */
export type RawPointerPatch = PointerArg & { readonly offset: number; readonly ptrs?: readonly RawPointerPatch[] };

/** A pointer patch's memory after the call, in the order of the patches. */
export interface RawPointerResult {
  readonly data: Uint8Array;
  /** Present when the patch had nested `ptrs`. */
  readonly ptrs?: readonly RawPointerResult[];
}

/** How the ioctl argument is passed. */
export type IoctlArg =
  /** Encode `fields` with the profile's layout of the command's struct.
   * `size` (iommufd) or `argsz` (VFIO) defaults to the struct's full size when
   * left out of `fields`. `tail` is appended after the struct (extensible-struct
   * tests: zero tails are accepted, a non-zero byte gives E2BIG). `truncate`
   * passes only the first N bytes of the encoded struct (short-struct tests).
   * `readOnly` (optional: capabilities.readOnlyArgs, ADAPTER.md §3.3) places
   * the argument bytes in memory the process can read but not write, so every
   * copy back into the argument faults (EFAULT); pointer targets stay writable. */
  | { readonly kind: 'struct'; readonly fields: StructValue; readonly tail?: Uint8Array; readonly truncate?: number; readonly readOnly?: boolean }
  /** Exactly these bytes as the argument buffer; pointers inside are literal,
   * except where `ptrs` patches them (optional: capabilities.rawPointerPatches).
   * `readOnly` as for a struct argument. */
  | { readonly kind: 'raw'; readonly bytes: Uint8Array; readonly ptrs?: readonly RawPointerPatch[]; readonly readOnly?: boolean }
  /** Plain integer argument (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU). */
  | { readonly kind: 'int'; readonly value: bigint }
  /** A NULL argument pointer (dispatch EFAULT test). */
  | { readonly kind: 'null' }
  /** A non-NULL pointer that does not point at readable memory. */
  | { readonly kind: 'fault' };

export interface IoctlResult {
  /** The syscall's return value: -1 on failure, else >= 0 (VFIO_CHECK_EXTENSION returns 0/1). */
  readonly ret: number;
  /** 0 on success, else the positive Linux errno (x86-64 numbering). */
  readonly errno: number;
  /** The argument struct as the implementation left it (decoded with the same
   * layout), when the argument was a struct; absent for int/null/fault. */
  readonly out?: StructValue;
  /** The raw argument bytes after the call (struct and raw arguments). */
  readonly bytes?: Uint8Array;
  /** Contents of every PointerArg after the call, keyed by dotted field path. */
  readonly buffers?: { readonly [fieldPath: string]: Uint8Array };
  /** Contents of every pointer patch of a `raw` argument after the call. */
  readonly ptrs?: readonly RawPointerResult[];
}

/** Device capabilities an environment can ask for when creating a device. */
export interface DeviceSpec {
  /** Which IOMMU instance the device sits behind (a name from capabilities.iommus). */
  readonly iommu: string;
  /** Put the device in this existing group (a handle from an earlier device_create), else a new group. */
  readonly group?: number;
  readonly pasidWidth?: number; // 0 = no PASID
  readonly dirtyTracking?: boolean;
  readonly enforceCacheCoherency?: boolean; // the IOMMU can enforce for this device
  readonly noSnoop?: boolean; // the device issues no-snoop DMA
  readonly hugeIova?: boolean; // mock: MOCK_FLAGS_DEVICE_HUGE_IOVA
  /** Device-specific reserved IOVA regions (e.g. MSI windows), inclusive ranges. */
  readonly reservedRegions?: readonly { readonly start: bigint; readonly last: bigint }[];
}

export type DmaDirection = 'read' | 'write';

/** Every request an adapter serves. `op` names it; the capability report keys by op. */
export type Request =
  | { readonly op: 'capabilities' }
  // -- files --------------------------------------------------------------
  | { readonly op: 'open'; readonly node: 'iommu' | 'vfio' } // /dev/iommu, /dev/vfio/vfio
  | { readonly op: 'open_device'; readonly device: number } // the device's VFIO cdev
  | { readonly op: 'close'; readonly fd: number }
  | { readonly op: 'ioctl'; readonly fd: number; readonly cmd: string | number; readonly arg: IoctlArg }
  | { readonly op: 'read'; readonly fd: number; readonly count: number; readonly offset?: number }
  | { readonly op: 'write'; readonly fd: number; readonly data: Uint8Array; readonly offset?: number }
  | { readonly op: 'poll'; readonly fd: number; readonly events: number }
  // -- the calling process -----------------------------------------------
  | {
      readonly op: 'set_process';
      /** RLIMIT_MEMLOCK in bytes; null = unlimited. */
      readonly rlimitMemlock?: bigint | null;
      readonly capIpcLock?: boolean;
      readonly capSysResource?: boolean;
    }
  | { readonly op: 'process_info' } // locked_vm / pinned_vm of the calling process, in pages
  // -- user memory -------------------------------------------------------
  | { readonly op: 'mem_alloc'; readonly length: number; readonly prot?: 'rw' | 'r'; readonly hugeAligned?: boolean }
  | { readonly op: 'mem_write'; readonly buffer: number; readonly offset: number; readonly data: Uint8Array }
  | { readonly op: 'mem_read'; readonly buffer: number; readonly offset: number; readonly length: number }
  | { readonly op: 'mem_unmap'; readonly buffer: number; readonly offset: number; readonly length: number }
  | { readonly op: 'mem_protect'; readonly buffer: number; readonly offset: number; readonly length: number; readonly prot: 'rw' | 'r' | 'none' }
  // -- devices, groups, DMA ----------------------------------------------
  | { readonly op: 'device_create'; readonly spec: DeviceSpec }
  | { readonly op: 'device_remove'; readonly device: number }
  | {
      readonly op: 'dma';
      readonly device: number;
      readonly pasid?: number;
      readonly iova: bigint;
      readonly dir: DmaDirection;
      /** Bytes to write (dir=write) or how many to read (dir=read). */
      readonly data?: Uint8Array;
      readonly length?: number;
    }
  // -- observations ------------------------------------------------------
  | { readonly op: 'translate'; readonly device: number; readonly pasid?: number; readonly iova: bigint }
  | { readonly op: 'pin_count'; readonly buffer: number; readonly offset: number; readonly length: number }
  | { readonly op: 'iotlb'; readonly iommu: string }
  // -- KVM and the kvm-vfio device -----------------------------------------
  | { readonly op: 'kvm_create' }
  | { readonly op: 'kvm_destroy'; readonly vm: number }
  | { readonly op: 'kvm_vfio_add'; readonly vm: number; readonly fd: number }
  | { readonly op: 'kvm_vfio_del'; readonly vm: number; readonly fd: number }
  | { readonly op: 'kvm_state'; readonly vm: number }
  // -- fault injection (iommufd_fail_nth) -----------------------------------
  | { readonly op: 'fail_nth'; readonly nth: number } // fail the nth fallible step of the next ioctl; 0 = off
  // -- the session -----------------------------------------------------------
  /** Back to the fresh state of a new session (ADAPTER.md §3.11): every fd,
   * buffer, device, group and VM the session made is gone, the process
   * properties are the defaults of §3.2, fail_nth is off, handles restart. */
  | { readonly op: 'reset' }
  // -- batches -----------------------------------------------------------
  | { readonly op: 'batch'; readonly requests: readonly Request[] };

export type Op = Request['op'];

export interface BufferInfo {
  readonly buffer: number;
  /** The buffer's user virtual address, to place in user_va / uptr fields. */
  readonly va: bigint;
  readonly length: number;
}

export interface DmaResult {
  readonly ok: boolean;
  /** Bytes read (dir=read, ok only: a faulted read returns none). */
  readonly data?: Uint8Array;
  /** On a fault: which kind (no translation, permission, blocked device). */
  readonly fault?: 'unmapped' | 'permission' | 'blocked';
  /** Which bytes of which user buffers the access touched. */
  readonly touched?: readonly { readonly buffer: number; readonly offset: number; readonly length: number }[];
}

export interface TranslateResult {
  readonly mapped: boolean;
  readonly buffer?: number;
  readonly offset?: number;
  readonly read?: boolean;
  readonly write?: boolean;
}

/** A cached translation of an IOMMU instance (ADAPTER.md §3.8). */
export interface IotlbEntry {
  /** The domain/PASID it belongs to (implementation-defined). */
  readonly tag: string;
  readonly iova: bigint;
  readonly pa: bigint;
  readonly size: number;
  /** What the cached translation permits. */
  readonly perm: 'r' | 'w' | 'rw';
}

export interface KvmState {
  /** kvm_arch_has_noncoherent_dma: WBINVD must be emulated. */
  readonly noncoherentDma: boolean;
  readonly registeredFds: readonly number[];
}

/** What each op answers with when it succeeds. */
export interface Results {
  capabilities: Capabilities;
  open: { readonly fd: number; readonly errno?: number };
  open_device: { readonly fd: number; readonly errno?: number };
  close: { readonly ret: number; readonly errno: number };
  ioctl: IoctlResult;
  read: { readonly ret: number; readonly errno: number; readonly data?: Uint8Array };
  write: { readonly ret: number; readonly errno: number };
  poll: { readonly revents: number };
  set_process: Record<string, never>;
  process_info: { readonly lockedVmPages: number; readonly pinnedVmPages: number };
  mem_alloc: BufferInfo;
  mem_write: Record<string, never>;
  mem_read: { readonly data: Uint8Array };
  mem_unmap: Record<string, never>;
  mem_protect: Record<string, never>;
  device_create: { readonly device: number; readonly group: number };
  device_remove: Record<string, never>;
  dma: DmaResult;
  translate: TranslateResult;
  pin_count: { readonly pins: readonly number[] }; // one count per page
  iotlb: { readonly entries: readonly IotlbEntry[] };
  kvm_create: { readonly vm: number };
  kvm_destroy: Record<string, never>;
  kvm_vfio_add: { readonly ret: number; readonly errno: number };
  kvm_vfio_del: { readonly ret: number; readonly errno: number };
  kvm_state: KvmState;
  fail_nth: Record<string, never>;
  reset: Record<string, never>;
  batch: { readonly responses: readonly Response[] };
}

/** A protocol error: the request could not be carried out as asked. */
export interface ProtocolError {
  /** 'unsupported' = the adapter reports it lacks this op or command (see capabilities). */
  readonly code: 'unsupported' | 'bad-request' | 'bad-handle' | 'internal';
  readonly message: string;
  /** Dotted path of the offending request field, e.g. "arg.fields.iova". */
  readonly field?: string;
}

export type Response<O extends Op = Op> =
  | { readonly ok: true; readonly result: Results[O] }
  | { readonly ok: false; readonly error: ProtocolError };

export type Support = { readonly supported: true } | { readonly supported: false; readonly reason: string };

export interface IommuInstanceInfo {
  readonly name: string;
  /** Page-table format of its paging domains, e.g. 'mock', 'vtd-ss', 'amd-v1', 'arm-s1-4k'. */
  readonly format: string;
  readonly pgsizeBitmap: bigint;
  readonly apertureStart: bigint;
  readonly apertureLast: bigint;
  readonly enforceCacheCoherency: boolean;
  readonly dirtyTracking: boolean;
  readonly maxPasidLog2: number;
  /** Nested HWPTs can be allocated on paging HWPTs of this unit's devices, through
   * some nested data type the implementation reports supported in `features`
   * (not merely: the hardware could nest). */
  readonly nesting: boolean;
  /**
   * IOVA ranges the unit reserves for every device behind it (its MSI window,
   * a hole of its own: iommu_get_resv_regions), which an IOAS keeps out of
   * reach while such a device is attached to it, as the device's own
   * reserved regions. Direct-relaxable ranges are not listed (iommufd does
   * not reserve them). Absent: not reported (the suite then judges only the
   * regions a device was created with).
   */
  readonly reservedRegions?: readonly { readonly start: bigint; readonly last: bigint }[];
}

export interface Capabilities {
  readonly contract: typeof CONTRACT_VERSION;
  readonly implementation: { readonly name: string; readonly version: string };
  readonly profile: Profile;
  /** Per command name (spec data names, e.g. IOMMU_IOAS_MAP, VFIO_DEVICE_BIND_IOMMUFD). */
  readonly commands: { readonly [cmd: string]: Support };
  /** Per IOMMU_TEST_CMD op name (e.g. IOMMU_TEST_OP_MOCK_DOMAIN). */
  readonly testOps: { readonly [op: string]: Support };
  /** Per request op (other than capabilities/batch). */
  readonly ops: { readonly [op in Exclude<Op, 'capabilities' | 'batch'>]?: Support };
  /** Device-spec features the environment honours. */
  readonly deviceFeatures: {
    readonly multiDeviceGroups: Support;
    readonly pasid: Support;
    readonly dirtyTracking: Support;
    readonly enforceCacheCoherency: Support;
    readonly noSnoop: Support;
    readonly hugeIova: Support;
    readonly reservedRegions: Support;
  };
  readonly iommus: readonly IommuInstanceInfo[];
  /** Whether `raw` ioctl arguments may carry pointer patches (`ptrs`); absent = unsupported. */
  readonly rawPointerPatches?: Support;
  /** Whether struct and raw ioctl arguments may be `readOnly` (placed in
   * memory the process cannot write); absent = unsupported. */
  readonly readOnlyArgs?: Support;
  /** Per uAPI value a served command carries (spec/contract/features.ts: HWPT
   * alloc flags, nested data types, invalidation data types, vIOMMU, vEVENTQ
   * and HW queue types): whether it is served as the kernel does, including
   * what it enables. Absent (or an absent key) = not reported = unsupported. */
  readonly features?: { readonly [uapiName: string]: Support };
}

/** What the handshake settled: the contract version, who answers, for which profile. */
export interface AdapterInfo {
  readonly contract: typeof CONTRACT_VERSION;
  readonly implementation: { readonly name: string; readonly version: string };
  readonly profile: Profile;
}

/** An implementation under test, whatever the transport. */
export interface Adapter {
  call<R extends Request>(request: R): Promise<Response<R['op']>>;
  /** Many requests, results in order (one round trip on slow channels). */
  batch(requests: readonly Request[]): Promise<readonly Response[]>;
  close(): Promise<void>;
  /**
   * In-process transports: the answer at once when the implementation gives
   * it synchronously and no earlier call is still in flight, else what `call`
   * returns. A synchronous answer needs no timeout (nothing could interrupt
   * it), so a caller may skip that machinery. Throws what `call` rejects with.
   */
  callNow?<R extends Request>(request: R): Response<R['op']> | Promise<Response<R['op']>>;
  /** Set by the transports (conformance/adapter/): the handshake's outcome. */
  readonly info?: AdapterInfo;
}

/** Every request but a batch: what an implementation's handler sees (the
 * in-process transport unrolls batches, so handlers never do). */
export type SingleRequest = Exclude<Request, { readonly op: 'batch' }>;
export type SingleOp = SingleRequest['op'];

/** The simplest way to write an implementation: a handler object. The
 * in-process transport (inProcessAdapter) turns it into an Adapter, and the
 * stdio server (serveStdio) serves it to other processes. `handle` must not
 * throw for bad input: an ioctl failure is a result, a bad request is a
 * ProtocolError response; a throw is reported as code 'internal'. */
export interface Implementation {
  readonly name: string;
  readonly version: string;
  readonly profile: Profile;
  handle(request: SingleRequest): Response | Promise<Response>;
  close?(): void | Promise<void>;
}

/** What an implementation module exports as `createAdapter` (and the
 * reference as `createReferenceAdapter`): either form is accepted. */
export type AdapterFactory = (profile: Profile) => Adapter | Implementation | Promise<Adapter | Implementation>;
