/**
 * The reference implementation served through the adapter contract
 * (spec/contract/types.ts): `createReferenceAdapter(profile)` returns
 * an in-process Implementation that `openAdapter('ref')` and
 * `iommufd-spec serve --impl ref` wrap.
 *
 * One simulated process per adapter: its fd table holds the iommufd files,
 * VFIO device files and selftest access files; user buffers are its
 * mappings; an ioctl's struct argument is encoded with spec/abi, placed in
 * scratch user memory (with any data/room pointers), issued through the
 * file's ioctl, and decoded back. Environment ops (set_process, mem_*,
 * pin_count, process_info, fail_nth) are served here; device, DMA,
 * translation, IOTLB and KVM ops are delegated to impl/platform,
 * impl/iommufd/vfio_cdev.ts and impl/kvm. It composes every part of impl/,
 * so it sits above all of them.
 *
 * Defaults: the fresh state of ADAPTER.md §1 and §3.2, as the kernel lane's
 * adapter runs in its guest: root (CAP_IPC_LOCK, CAP_SYS_RESOURCE and
 * CAP_SYS_RAWIO held) with RLIMIT_MEMLOCK unlimited. `reset` (§3.11) returns
 * to it by starting a new simulated process: nothing of the old one (fds,
 * mappings, pins, devices, KVM VMs, fail_nth) survives.
 *
 * Public API: createReferenceAdapter(profile): Implementation.
 */
import type {
  Capabilities,
  Implementation,
  IoctlArg,
  IoctlResult,
  PointerArg,
  Profile,
  Response,
  SingleRequest,
  Support,
} from '../../spec/contract/types.ts';
import { buildIoctlArg, buildUntypedArg, ioctlArgField, rawPointerResults, resolveCommand, type BuiltArg, type PlacePointer } from '../../spec/abi/arg.ts';
import { CodecError, decodeStruct } from '../../spec/abi/codec.ts';
import { featuresFor } from '../../spec/contract/features.ts';
import { requestKindViolation } from '../../spec/contract/struct-kinds.ts';
import { commandsFor, testOpsFor } from '../../spec/uapi/index.ts';
import { PhysMemory, PhysMemoryPool, Process, PROT_NONE, PROT_R, PROT_RW, type Prot } from '../process/index.ts';
import { deviceCreate, deviceRemove, dma, iotlb, machineFor, platformCapabilities, setReverseMap, translate } from '../platform/index.ts';
import { kvmCreate, kvmDestroy, kvmDestroyAll, kvmExists, kvmState, kvmVfioAdd, kvmVfioDel } from '../kvm/index.ts';
import { sysIoctl, sysPoll, sysRead, sysRet, sysWrite } from '../process/file.ts';
import { vfioCdevServes, vfioDeviceOpen, vfioDeviceRegionIo } from '../iommufd/vfio_cdev.ts';
import { iommufdVfioServes } from '../iommufd/vfio_compat.ts';
import { iommufdFopsOpen, iommufdHasCommand } from '../iommufd/main.ts';
import { iommufdTestServes } from '../iommufd/selftest.ts';

const VERSION = '0.1.0';
/** Simulated RAM of a session: user pages and page tables (lazily committed by the host). */
const PHYS_MEMORY = 512 * 1024 * 1024;
/** The largest user buffer the simulated process maps (256 MiB; the kernel selftests use up to 128 MiB). */
const MAX_BUFFER = 256 * 1024 * 1024;
const PAGE = 4096;
/** Argument arena slots (a page and its guard each): more pieces than any one ioctl places. */
const ARENA_SLOTS = 16;
/** An address no mapping ever uses (the 'fault' argument). */
const FAULT_ADDRESS = 0xdead0000n;

/** The roadmap draft that brings what the reference does not serve yet (../shared/roadmap/). */
export const REFERENCE_ROADMAP = '9-nested-viommu-pasid-7.3.md';
const DRAFT9 = `not implemented by the reference yet: roadmap draft 9 (${REFERENCE_ROADMAP}: nested translation, vIOMMU, PASID, dirty tracking, faults and the rest of the 7.3 uAPI)`;

/**
 * uAPI values of served commands that the reference does not serve as the
 * kernel does (ADAPTER.md §4 `features`); every other feature of the profile
 * is supported. Each names what is missing.
 */
const UNSUPPORTED_FEATURES: { readonly [name: string]: string } = {
  IOMMU_HWPT_ALLOC_NEST_PARENT: `${DRAFT9} — a NEST_PARENT HWPT is allocated with the kernel's checks, but no nested HWPT or vIOMMU can be allocated on it`,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING: `${DRAFT9} — the allocation's checks are modelled, but not IOMMU_HWPT_SET_DIRTY_TRACKING / GET_DIRTY_BITMAP`,
  IOMMU_HWPT_FAULT_ID_VALID: `${DRAFT9} — no fault queues (IOMMU_FAULT_QUEUE_ALLOC)`,
  IOMMU_HWPT_ALLOC_PASID: `${DRAFT9} — no PASID attach`,
  IOMMU_HWPT_DATA_VTD_S1: `${DRAFT9} — every nested allocation answers EOPNOTSUPP after the core's checks`,
  IOMMU_HWPT_DATA_ARM_SMMUV3: `${DRAFT9} — every nested allocation answers EOPNOTSUPP after the core's checks`,
  IOMMU_HWPT_DATA_AMD_GUEST: `${DRAFT9} — every nested allocation answers EOPNOTSUPP after the core's checks`,
  IOMMU_HWPT_DATA_SELFTEST: `${DRAFT9} — every nested allocation answers EOPNOTSUPP after the core's checks`,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1: `${DRAFT9} — no IOMMU_HWPT_INVALIDATE`,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3: `${DRAFT9} — no IOMMU_HWPT_INVALIDATE`,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST: `${DRAFT9} — no IOMMU_HWPT_INVALIDATE`,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST: `${DRAFT9} — no IOMMU_HWPT_INVALIDATE`,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3: `${DRAFT9} — no IOMMU_VIOMMU_ALLOC`,
  IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV: `${DRAFT9} — no IOMMU_VIOMMU_ALLOC`,
  IOMMU_VIOMMU_TYPE_SELFTEST: `${DRAFT9} — no IOMMU_VIOMMU_ALLOC`,
  IOMMU_VEVENTQ_TYPE_ARM_SMMUV3: `${DRAFT9} — no IOMMU_VEVENTQ_ALLOC`,
  IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV: `${DRAFT9} — no IOMMU_VEVENTQ_ALLOC`,
  IOMMU_VEVENTQ_TYPE_SELFTEST: `${DRAFT9} — no IOMMU_VEVENTQ_ALLOC`,
  IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV: `${DRAFT9} — no IOMMU_HW_QUEUE_ALLOC`,
  IOMMU_HW_QUEUE_TYPE_SELFTEST: `${DRAFT9} — no IOMMU_HW_QUEUE_ALLOC`,
};

/** Whether the reference allocates nested HWPTs of some data type (it reports no IOMMU unit as nesting-capable otherwise). */
const NESTED_HWPTS = ['IOMMU_HWPT_DATA_VTD_S1', 'IOMMU_HWPT_DATA_ARM_SMMUV3', 'IOMMU_HWPT_DATA_AMD_GUEST', 'IOMMU_HWPT_DATA_SELFTEST'].some((t) => UNSUPPORTED_FEATURES[t] === undefined);

/** Why a command the profile has is not served (absent = served if dispatched). */
const UNSUPPORTED_COMMANDS: { readonly [name: string]: string } = {
  IOMMU_HWPT_SET_DIRTY_TRACKING: DRAFT9,
  IOMMU_HWPT_GET_DIRTY_BITMAP: DRAFT9,
  IOMMU_HWPT_INVALIDATE: DRAFT9,
  IOMMU_FAULT_QUEUE_ALLOC: DRAFT9,
  IOMMU_IOAS_MAP_FILE: DRAFT9,
  IOMMU_VIOMMU_ALLOC: DRAFT9,
  IOMMU_VDEVICE_ALLOC: DRAFT9,
  IOMMU_IOAS_CHANGE_PROCESS: DRAFT9,
  IOMMU_VEVENTQ_ALLOC: DRAFT9,
  IOMMU_HW_QUEUE_ALLOC: DRAFT9,
  IOMMU_IOAS_NOIOMMU_GET_PA: DRAFT9,
};

/** Ops that reach the simulated machine (the reverse map must be installed first). */
const MACHINE_OPS = new Set(['capabilities', 'open_device', 'device_create', 'device_remove', 'dma', 'translate', 'iotlb']);

interface UserBuffer {
  readonly va: bigint;
  readonly length: number;
  /** The frames it was populated with (pins outlive munmap). */
  readonly pfns: Int32Array;
}

/**
 * Which buffer page a frame was handed out for (the frame-to-buffer reverse
 * map), as one number: buffer × FRAME_SLOTS + page index. A buffer of 256 MiB
 * made an object per page before, the largest share of the reference's allocation.
 */
const FRAME_SLOTS = MAX_BUFFER / PAGE;
const NO_OWNER = -1;

type Ok<T> = { readonly ok: true; readonly result: T };
const ok = <T>(result: T): Ok<T> => ({ ok: true, result });
const bad = (message: string, field: string, code: 'bad-request' | 'bad-handle' | 'unsupported' = 'bad-request'): Response => ({
  ok: false,
  error: { code, message, field },
});

/** A device handle never issued, or removed (spec/contract/ADAPTER.md §2: bad-handle naming the field). */
const noDevice = (device: number): Response => bad(`no device ${device} (never created, or removed)`, 'device', 'bad-handle');
/** A VM handle never issued, or destroyed. */
const noVm = (vm: number): Response => bad(`no VM ${vm} (never created, or destroyed)`, 'vm', 'bad-handle');

function protOf(p: 'rw' | 'r' | 'none' | undefined): Prot {
  return p === 'r' ? PROT_R : p === 'none' ? PROT_NONE : PROT_RW;
}

/** Memories of closed sessions, ready for the next one (512 MiB each: reused, not reallocated). */
const memories = new PhysMemoryPool(PHYS_MEMORY);

/**
 * A new simulated process in the fresh state of ADAPTER.md §1 / §3.2, on
 * `phys` when given (a reset: the old process and its machine are gone, so
 * their memory is returned to its fresh state rather than reallocated).
 */
function freshProcess(phys?: PhysMemory): Process {
  // One physical memory: user pages (KIND_DATA) and the machine's page tables (KIND_TABLE).
  if (phys) phys.reset();
  const proc = new Process(phys ?? memories.take());
  proc.capIpcLock = true;
  proc.capSysResource = true;
  proc.capSysRawio = true;
  proc.rlimitMemlock = null;
  return proc;
}

class ReferenceImplementation implements Implementation {
  readonly name = 'reference';
  readonly version = VERSION;
  /** The session's process; `reset` replaces it (and with it the machine, KVM and every file). */
  /** The session's process; null once `close` gave its memory back (a later request starts a fresh one). */
  private current: Process | null = freshProcess();

  get proc(): Process {
    if (!this.current) this.startOver();
    return this.current as Process;
  }
  private buffers = new Map<number, UserBuffer>();
  /**
   * Frame number → the buffer page it backs. A frame is written here when
   * mmap hands it to a buffer, and only then: a frame freed by munmap and
   * handed to a later buffer is overwritten by that buffer's mem_alloc.
   */
  private frames = new Map<number, number>();
  private nextBuffer = 1;
  private pendingFailNth = 0;
  private reverseMapSet = false;

  constructor(readonly profile: Profile) {}

  /**
   * ADAPTER.md §3.11: end the session's process as its exit would (KVM VMs
   * first, then every fd: pins dropped, objects destroyed), then start a new
   * one. The machine and the KVM VMs belong to the process, so they go too;
   * handles restart from 1.
   */
  private reset(): void {
    if (this.current) {
      this.exit(this.current);
      // The old process, its machine, KVM and files are dropped here: nothing refers to the memory any more.
      this.current = freshProcess(this.current.phys);
    }
    this.startOver();
  }

  /** The handle counters and session state of a new session (the process is made when first needed). */
  private startOver(): void {
    this.current ??= freshProcess();
    this.buffers = new Map();
    this.frames = new Map();
    this.nextBuffer = 1;
    this.pendingFailNth = 0;
    this.reverseMapSet = false;
    this.arena = null;
  }

  /** The process's machine, with the reverse map installed on first use. */
  private machine() {
    const m = machineFor(this.proc, this.profile);
    if (!this.reverseMapSet) {
      setReverseMap(this.proc, this.profile, (pa) => this.reverse(pa));
      this.reverseMapSet = true;
    }
    return m;
  }

  /** Where a physical address lands in the user buffers (DMA `touched`, translate). */
  private reverse(pa: number): { buffer: number; offset: number } | undefined {
    const owner = this.frameOwner(Math.floor(pa / PAGE));
    return owner === NO_OWNER ? undefined : { buffer: Math.floor(owner / FRAME_SLOTS), offset: (owner % FRAME_SLOTS) * PAGE + (pa % PAGE) };
  }

  /**
   * The buffer page a frame still belongs to, if any. It does while the
   * buffer's VA maps it, and after munmap while it stays pinned: the kernel's
   * page refs (pin_user_pages' GUP_PIN_COUNTING_BIAS, mm/gup.c) keep the page
   * alive and reachable by DMA until the IOAS unmaps it (pages.c
   * batch_unpin). A frame that munmap freed is nobody's until a later mmap
   * hands it out again — zeroed (do_anonymous_page allocates a zeroed
   * folio) — and then it is the new buffer's, never the old one's.
   */
  private frameOwner(pfn: number): number {
    const owner = this.frames.get(pfn);
    if (owner === undefined) return NO_OWNER;
    const b = this.buffers.get(Math.floor(owner / FRAME_SLOTS));
    if (b && this.proc.pfnAt(Number(b.va) + (owner % FRAME_SLOTS) * PAGE) === pfn) return owner;
    if (this.proc.pinCountOfPfn(pfn) > 0) return owner; // unmapped but pinned: still the old buffer's page
    this.frames.delete(pfn); // freed
    return NO_OWNER;
  }

  capabilities(): Capabilities {
    const p = this.profile;
    const yes: Support = { supported: true };
    const commands: { [cmd: string]: Support } = {};
    for (const c of commandsFor(p)) {
      const why = UNSUPPORTED_COMMANDS[c.name];
      const served = iommufdHasCommand(c.name, p) || iommufdVfioServes(c.name) || vfioCdevServes(c.name);
      commands[c.name] = why ? { supported: false, reason: why } : served ? yes : { supported: false, reason: 'not implemented by the reference yet' };
    }
    const testOps: { [op: string]: Support } = {};
    for (const o of testOpsFor(p)) {
      const served = iommufdTestServes(o.value);
      testOps[o.name] = served ? yes : { supported: false, reason: DRAFT9 };
    }
    const platform = platformCapabilities(this.proc, p);
    const features: { [name: string]: Support } = {};
    for (const f of featuresFor(p)) {
      const why = UNSUPPORTED_FEATURES[f.name];
      features[f.name] = why ? { supported: false, reason: why } : yes;
    }
    return {
      contract: 1,
      implementation: { name: this.name, version: this.version },
      profile: p,
      commands,
      testOps,
      ops: {
        open: yes, open_device: yes, close: yes, ioctl: yes,
        // The files served have no .read/.write/.poll: EINVAL / DEFAULT_POLLMASK as the kernel's VFS answers
        // (a bound VFIO device file's region access is refused with `unsupported`).
        read: yes,
        write: yes,
        poll: yes,
        set_process: yes, process_info: yes,
        mem_alloc: yes, mem_write: yes, mem_read: yes, mem_unmap: yes, mem_protect: yes,
        device_create: yes, device_remove: yes, dma: yes, translate: yes, pin_count: yes, iotlb: yes,
        kvm_create: yes, kvm_destroy: yes, kvm_vfio_add: yes, kvm_vfio_del: yes, kvm_state: yes,
        fail_nth: yes,
        reset: yes,
      },
      deviceFeatures: platform.deviceFeatures as Capabilities['deviceFeatures'],
      // `nesting` says nested HWPTs can be had, not that the simulated unit could nest (ADAPTER.md §4).
      iommus: platform.iommus.map((i) => ({ ...i, nesting: i.nesting && NESTED_HWPTS })),
      rawPointerPatches: yes,
      readOnlyArgs: yes,
      features,
    };
  }

  private buffer(handle: number): UserBuffer | undefined {
    return this.buffers.get(handle);
  }

  /** Bounds of [offset, offset+length) inside a buffer, or a protocol error. */
  private span(handle: number, offset: number, length: number): { b: UserBuffer } | { err: Response } {
    const b = this.buffer(handle);
    if (!b) return { err: bad(`no buffer ${handle}`, 'buffer', 'bad-handle') };
    if (!Number.isInteger(offset) || offset < 0 || offset > b.length) return { err: bad(`offset outside the buffer (length ${b.length})`, 'offset') };
    if (!Number.isInteger(length) || length < 0 || offset + length > b.length) return { err: bad(`offset+length outside the buffer (length ${b.length})`, 'length') };
    return { b };
  }

  /** Environment write into a buffer: through the frames, whatever the protection. */
  private memWrite(handle: number, offset: number, data: Uint8Array): Response {
    const s = this.span(handle, offset, data.length);
    if ('err' in s) return s.err;
    for (let done = 0; done < data.length; ) {
      const at = s.b.va + BigInt(offset + done);
      const t = this.proc.translateVa(at);
      if (!t) return bad(`buffer ${handle} is not mapped at offset ${offset + done}`, 'offset');
      const n = Math.min(PAGE - Number(at % BigInt(PAGE)), data.length - done);
      this.proc.phys.u8.set(data.subarray(done, done + n), t.pfn * PAGE + Number(at % BigInt(PAGE)));
      done += n;
    }
    return ok({});
  }

  private memRead(handle: number, offset: number, length: number): Response {
    const s = this.span(handle, offset, length);
    if ('err' in s) return s.err;
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const at = s.b.va + BigInt(offset + done);
      const t = this.proc.translateVa(at);
      if (!t) return bad(`buffer ${handle} is not mapped at offset ${offset + done}`, 'offset');
      const n = Math.min(PAGE - Number(at % BigInt(PAGE)), length - done);
      const pa = t.pfn * PAGE + Number(at % BigInt(PAGE));
      out.set(this.proc.phys.u8.subarray(pa, pa + n), done);
      done += n;
    }
    return ok({ data: out });
  }

  /** A reusable scratch arena for ioctl arguments: slots of one page each, every one before a guard page. */
  private arena: { va: bigint; used: number } | null = null;

  /**
   * Scratch user memory for an argument or a pointer's data/room, placed as
   * the kernel lanes' adapter places it (ADAPTER.md §3.3): its bytes, zero
   * up to a multiple of 8, end right before a page the process cannot read,
   * so a read past what the request provided faults (EFAULT) rather than
   * finding zeros. A piece of at most a page takes an arena slot (reused
   * each ioctl); a larger one, or one past the last slot, a mapping of its
   * own (unmapped after the ioctl). `readOnly`: the piece's pages are
   * PROT_READ, so every copy back faults.
   */
  private scratch(bytes: Uint8Array, scratchList: [bigint, number][], readOnly = false): bigint {
    const rounded = Math.ceil(bytes.length / 8) * 8;
    if (!readOnly && rounded <= PAGE && (this.arena?.used ?? 0) < ARENA_SLOTS) {
      if (!this.arena) this.arena = { va: this.guardedMapping(ARENA_SLOTS * 2 * PAGE, 2 * PAGE), used: 0 };
      const va = this.arena.va + BigInt(this.arena.used * 2 * PAGE + PAGE - rounded);
      this.arena.used++;
      this.placeScratch(va, bytes, rounded);
      return va;
    }
    const body = Math.max(Math.ceil(rounded / PAGE), 1) * PAGE;
    const map = this.guardedMapping(body + PAGE, body + PAGE);
    const va = map + BigInt(body - rounded);
    this.placeScratch(va, bytes, rounded);
    if (readOnly) this.proc.mprotect(map, body, PROT_R);
    scratchList.push([map, body + PAGE]);
    return va;
  }

  /** A read-write mapping of `length` bytes whose every `stride`-th page (the last of each stride) is a guard: PROT_NONE. */
  private guardedMapping(length: number, stride: number): bigint {
    const va = this.proc.mmap(length, PROT_RW, false, 'heap')!;
    for (let guard = stride - PAGE; guard < length; guard += stride) this.proc.mprotect(va + BigInt(guard), PAGE, PROT_NONE);
    return va;
  }

  private placeScratch(va: bigint, bytes: Uint8Array, rounded: number): void {
    this.proc.copyToUser(va, bytes);
    if (rounded > bytes.length) this.proc.clearUser(va + BigInt(bytes.length), rounded - bytes.length);
  }

  private ioctl(req: Extract<SingleRequest, { op: 'ioctl' }>): Response {
    const p = this.profile;
    const file = this.proc.fds.lookup(req.fd);
    const command = resolveCommand(p, req.cmd);
    if (typeof req.cmd === 'string' && !command) return bad(`unknown command ${req.cmd} in profile ${p}`, 'cmd');
    // ADAPTER.md §3.3: 64-bit members are u64s, narrower ones numbers.
    const kind = command ? requestKindViolation(p, req.cmd, req.arg) : undefined;
    if (kind) return bad(`field '${kind.field}' ${kind.message}`, kind.field);
    const request = command ? command.request : (req.cmd as number) >>> 0;
    const scratchList: [bigint, number][] = [];
    // Sizes of the pieces placed for pointers (most ioctls have none).
    let sizes: Map<bigint, number> | undefined;
    let built;
    try {
      if (req.arg.kind === 'struct' && !command) return bad(`command ${req.cmd} is unknown: a struct argument needs a known command`, 'cmd');
      const place = (_path: string, arg: PointerArg): bigint => {
        const data = 'data' in arg ? arg.data : new Uint8Array(arg.room);
        const va = this.scratch(data, scratchList);
        (sizes ??= new Map()).set(va, data.length);
        return va;
      };
      built = command ? buildIoctlArg(p, command, req.arg as IoctlArg, place) : rawArg(req.arg, place);
    } catch (e) {
      if (e instanceof CodecError) return bad(e.detail, ioctlArgField(e));
      throw e;
    }
    let argValue: bigint;
    let argVa: bigint | null = null;
    switch (built.kind) {
      case 'bytes':
        argVa = this.scratch(built.bytes, scratchList, (req.arg.kind === 'struct' || req.arg.kind === 'raw') && req.arg.readOnly === true);
        argValue = argVa;
        break;
      case 'int':
        argValue = built.value;
        break;
      case 'null':
        argValue = 0n;
        break;
      case 'fault':
        argValue = FAULT_ADDRESS;
        break;
    }
    // A pending fail-nth is armed for the next ioctl that reaches a file's ioctl op, for that ioctl only.
    const reachesFile = file?.ops.ioctl !== undefined;
    if (reachesFile && this.pendingFailNth) this.proc.faults.arm(this.pendingFailNth);
    if (reachesFile) this.pendingFailNth = 0;
    let result: IoctlResult = sysIoctl(this.proc.fds, req.fd, request, argValue);
    this.proc.faults.disarm();
    if (built.kind === 'bytes' && argVa !== null) {
      const after = this.proc.copyFromUser(argVa, built.bytes.length) ?? built.bytes;
      let out: IoctlResult['out'];
      if (command?.struct && req.arg.kind === 'struct') {
        try {
          // decodeStruct zero-extends a short argument to sizeof (an answer carries the whole struct).
          out = decodeStruct(p, command.struct, after) as IoctlResult['out'];
        } catch {
          // out is optional: an argument the codec cannot read back is reported in bytes only
        }
      }
      let buffers: IoctlResult['buffers'];
      let ptrs: IoctlResult['ptrs'];
      if (built.pointers.length) {
        const read: { [path: string]: Uint8Array } = {};
        for (const pp of built.pointers) read[pp.path] = this.proc.copyFromUser(pp.address, sizes?.get(pp.address) ?? 0) ?? new Uint8Array(0);
        // A raw argument's pointer patches are answered in their order (ADAPTER.md §3.3), struct pointers by field path.
        if (req.arg.kind === 'raw') ptrs = rawPointerResults(req.arg.ptrs ?? [], (path) => read[path] ?? new Uint8Array(0));
        else buffers = read;
      }
      result = { ret: result.ret, errno: result.errno, bytes: after, ...(out !== undefined && { out }), ...(buffers !== undefined && { buffers }), ...(ptrs !== undefined && { ptrs }) };
    }
    for (const [va, length] of scratchList) this.proc.munmap(va, length);
    if (this.arena) this.arena.used = 0;
    return ok(result);
  }

  handle(req: SingleRequest): Response {
    const p = this.profile;
    if (MACHINE_OPS.has(req.op)) this.machine();
    switch (req.op) {
      case 'capabilities':
        return ok(this.capabilities());
      case 'open': {
        const { file } = iommufdFopsOpen(this.proc, () => this.machine(), p, { viaVfioContainer: req.node === 'vfio' });
        return ok({ fd: this.proc.fds.install(file) });
      }
      case 'open_device': {
        if (!this.machine().device(req.device)) return noDevice(req.device);
        const r = vfioDeviceOpen(this.proc, p, req.device);
        return r.errno === 0 && 'fd' in r ? ok({ fd: r.fd }) : ok({ fd: -1, errno: -r.errno });
      }
      case 'close': {
        return ok(sysRet(this.proc.fds.close(req.fd)));
      }
      case 'ioctl':
        return this.ioctl(req);
      case 'poll':
        return ok({ revents: sysPoll(this.proc.fds, req.fd, req.events) });
      case 'read':
      case 'write': {
        const file = this.proc.fds.lookup(req.fd);
        if (file && vfioDeviceRegionIo(file)) return bad('read/write of a bound VFIO device file reaches vfio-pci region access, which is not modelled', 'fd', 'unsupported');
        if (req.op === 'read') return ok(sysRead(this.proc.fds, req.fd, req.count, req.offset));
        return ok(sysWrite(this.proc.fds, req.fd, req.data, req.offset));
      }
      case 'set_process':
        if (req.rlimitMemlock !== undefined) this.proc.rlimitMemlock = req.rlimitMemlock;
        if (req.capIpcLock !== undefined) this.proc.capIpcLock = req.capIpcLock;
        if (req.capSysResource !== undefined) this.proc.capSysResource = req.capSysResource;
        return ok({});
      case 'process_info':
        return ok({ lockedVmPages: this.proc.lockedVm, pinnedVmPages: this.proc.pinnedVm });
      case 'mem_alloc': {
        if (!Number.isInteger(req.length) || req.length <= 0 || req.length % PAGE) return bad(`length must be a positive multiple of the page size (${PAGE})`, 'length');
        if (req.length > MAX_BUFFER) return bad(`at most ${MAX_BUFFER} bytes per buffer in the simulated process`, 'length');
        const va = this.proc.mmap(req.length, protOf(req.prot), req.hugeAligned ?? false);
        if (va === null) return bad('out of simulated memory', 'length');
        const handle = this.nextBuffer++;
        const pfns = new Int32Array(req.length / PAGE);
        for (let index = 0; index < pfns.length; index++) {
          const pfn = this.proc.pfnAt(Number(va) + index * PAGE);
          pfns[index] = pfn;
          this.frames.set(pfn, handle * FRAME_SLOTS + index);
        }
        this.buffers.set(handle, { va, length: req.length, pfns });
        return ok({ buffer: handle, va, length: req.length });
      }
      case 'mem_write':
        return this.memWrite(req.buffer, req.offset, req.data);
      case 'mem_read':
        return this.memRead(req.buffer, req.offset, req.length);
      case 'mem_unmap': {
        const s = this.span(req.buffer, req.offset, req.length);
        if ('err' in s) return s.err;
        this.proc.munmap(s.b.va + BigInt(req.offset), req.length);
        return ok({});
      }
      case 'mem_protect': {
        const s = this.span(req.buffer, req.offset, req.length);
        if ('err' in s) return s.err;
        if (!this.proc.mprotect(s.b.va + BigInt(req.offset), req.length, protOf(req.prot))) return bad('range is not mapped', 'offset');
        return ok({});
      }
      case 'pin_count': {
        const s = this.span(req.buffer, req.offset, req.length);
        if ('err' in s) return s.err;
        const pins: number[] = [];
        const first = Math.floor(req.offset / PAGE);
        const last = Math.floor((req.offset + Math.max(req.length, 1) - 1) / PAGE);
        // A page whose frame munmap freed (and a later buffer may own) has no pins of this buffer's.
        for (let i = first; i <= last; i++) {
          const pfn = s.b.pfns[i]!;
          pins.push(this.frameOwner(pfn) === req.buffer * FRAME_SLOTS + i ? this.proc.pinCountOfPfn(pfn) : 0);
        }
        return ok({ pins });
      }
      case 'device_create': {
        const r = deviceCreate(this.proc, p, req.spec);
        return r.ok ? ok({ device: r.device, group: r.group }) : bad(r.message, r.field, r.code);
      }
      case 'device_remove': {
        if (!this.machine().device(req.device)) return noDevice(req.device);
        const r = deviceRemove(this.proc, p, req.device) as { ok: boolean; message?: string };
        return r.ok ? ok({}) : bad(r.message ?? 'cannot remove', 'device');
      }
      case 'dma': {
        const r = dma(this.proc, p, req);
        return r ? ok(r) : noDevice(req.device);
      }
      case 'translate': {
        const r = translate(this.proc, p, req.device, req.iova, req.pasid);
        return r ? ok(r) : noDevice(req.device);
      }
      case 'iotlb': {
        const r = iotlb(this.proc, p, req.iommu);
        // The platform prints permissions as "r-", "-w", "rw"; the contract's perm is "r", "w" or "rw" (ADAPTER.md §3.8).
        return r ? ok({ entries: r.map((e) => ({ ...e, perm: contractPerm(e.perm) })) }) : bad(`no IOMMU instance ${req.iommu}`, 'iommu', 'bad-handle');
      }
      case 'kvm_create':
        return ok({ vm: kvmCreate(this.proc) });
      case 'kvm_destroy': {
        if (!kvmExists(this.proc, req.vm)) return noVm(req.vm);
        kvmDestroy(this.proc, req.vm);
        return ok({});
      }
      case 'kvm_vfio_add': {
        if (!kvmExists(this.proc, req.vm)) return noVm(req.vm);
        return ok(sysRet(kvmVfioAdd(this.proc, req.vm, req.fd)));
      }
      case 'kvm_vfio_del': {
        if (!kvmExists(this.proc, req.vm)) return noVm(req.vm);
        return ok(sysRet(kvmVfioDel(this.proc, req.vm, req.fd)));
      }
      case 'kvm_state': {
        const s = kvmState(this.proc, req.vm);
        return s ? ok(s) : noVm(req.vm);
      }
      case 'fail_nth':
        if (!Number.isInteger(req.nth) || req.nth < 0) return bad('nth must be a non-negative integer', 'nth');
        this.pendingFailNth = req.nth;
        return ok({});
      case 'reset':
        this.reset();
        return ok({});
      default: {
        // Typed callers cannot get here; a JS module or a hand-built request can.
        const op: never = req;
        return bad(`unknown op '${String((op as { op?: unknown }).op)}'`, 'op');
      }
    }
  }

  /**
   * End of session, as process exit: the KVM VMs go first (kvm_vfio_release
   * drops the device files they hold, so those unbind once their fds close),
   * then every fd, lowest first. Nothing stays pinned.
   */
  close(): void {
    if (!this.current) return;
    this.exit(this.current);
    memories.give(this.current.phys);
    this.current = null;
  }

  private exit(proc: Process): void {
    kvmDestroyAll(proc);
    proc.fds.closeAll();
  }
}

/** "r-" / "-w" / "rw" (impl/platform permString) as the contract's perm. A cached entry permits something, or it would not be cached. */
function contractPerm(perm: string): 'r' | 'w' | 'rw' {
  const r = perm.includes('r');
  const w = perm.includes('w');
  return r && w ? 'rw' : w ? 'w' : 'r';
}

/** An argument for a command number spec/uapi does not know: only raw/int/null/fault. */
function rawArg(arg: IoctlArg, place: PlacePointer): BuiltArg {
  if (arg.kind === 'struct') throw new CodecError('arg', 'a struct argument needs a known command');
  return buildUntypedArg(arg, place);
}

export function createReferenceAdapter(profile: Profile): Implementation {
  return new ReferenceImplementation(profile);
}
