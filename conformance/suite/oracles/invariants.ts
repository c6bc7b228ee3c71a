/**
 * The invariants oracle: black-box security and accounting properties of the
 * iommufd uAPI, checked through the adapter's observations (`translate`,
 * `dma`, `pin_count`, `process_info`, `kvm_state`) against the semantic
 * shadow (shadow.ts), which follows the uAPI's documented effects of the
 * implementation's own answers. It never consults the reference: a real
 * kernel may differ from it in details, and these properties must hold for
 * any correct implementation.
 *
 *   group-isolation  a device reaches exactly what its group's HWPT maps; the
 *                    attached devices of a group share one HWPT; a group owned
 *                    by one context cannot be bound by another; an attach by
 *                    IOAS id lands on a domain of that IOAS.
 *   dma-confinement  no read or write — by a device or an access — lands
 *                    outside the pinned pages mapped at that IOVA with that
 *                    permission; nothing is reachable after UNMAP returns; an
 *                    unattached device is blocked; reserved IOVA is never
 *                    mapped, offered (IOVA_RANGES) or allowed; a writable
 *                    area needs pages pinned for writing; a mapping is cut
 *                    only where large IOPTEs are off (type1 v1), and they go
 *                    off only while no domain maps anything.
 *   coherency        a VM with a registered device file that may issue
 *                    non-coherent DMA has WBINVD emulation; an enforcing
 *                    domain never holds a device whose IOMMU cannot enforce.
 *   lifetime         DESTROY of a referenced object is EBUSY, of one nothing
 *                    holds is not; a destroyed id is ENOENT (and nothing else
 *                    accepts it) until reused; a live one (an access item, the
 *                    compat IOAS, a group's owner, an access's IOAS and its
 *                    areas) is not said to be gone.
 *   accounting       pin counts and pinned/locked memory match what is mapped
 *                    while open, and return to where they started when
 *                    everything is closed.
 *   abi-hygiene      non-zero reserved fields, unknown flags and non-zero tails
 *                    are refused, never ignored; a failed command copies
 *                    nothing back; what a command reports (IOVA_RANGES,
 *                    GET_HW_INFO, GET_INFO) is well formed, zeroed where the
 *                    kernel fills nothing, and the same on every call; a
 *                    buffer is written only within the length it was given.
 *
 * Each step probes the pages it touched plus a random sample; the end of a
 * case sweeps everything (every device over its IOAS, the buffers' contents,
 * pins, every live IOAS's IOVA_RANGES against its reserved tree), closes
 * everything, and checks that nothing stays pinned or charged.
 */
import type { Capabilities, DmaResult, IoctlResult, Request, Response, StructValue, TranslateResult } from '../../../spec/contract/types.ts';
import { buildIoctlArg, type BuiltArg } from '../../../spec/abi/arg.ts';
import { getPath } from '../../programs/values.ts';
import { isPointerArg } from '../../../spec/contract/wire.ts';
import { commandByName, enumValue, flagMask } from '../../../spec/uapi/lookup.ts';
import { TEST_OPS } from '../../../spec/uapi/commands.ts';
import { IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HWPT_DATA_SELFTEST, IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, IOMMU_HW_INFO_TYPE_AMD, IOMMU_HW_INFO_TYPE_ARM_SMMUV3, IOMMU_HW_INFO_TYPE_INTEL_VTD, IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE, MOCK_APERTURE_LAST, MOCK_FLAGS_DEVICE_PASID, MOCK_PASID_WIDTH, IOMMU_HW_INFO_FLAG_INPUT_TYPE, IOMMU_HW_INFO_TYPE_DEFAULT, IOMMU_HW_INFO_TYPE_NONE, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET, IOMMU_OPTION_RLIMIT_MODE, IOMMU_HWPT_DATA_NONE, VFIO_NOIOMMU_IOMMU, VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_SET, VFIO_DMA_CC_IOMMU, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_INFO_PGSIZES, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, IOMMU_HW_INFO_SELFTEST_REGVAL } from '../../../spec/uapi/constants.ts';
import { errnoName } from '../../../spec/uapi/errno.ts';
import { offsetofend, requireLayout, type LayoutNode } from '../../../spec/uapi/layout.ts';
import { decodeStruct } from '../../../spec/abi/codec.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { autoIovaAlignment, autoIovaFirstFit, autoIovaViolation, decodeRanges, overlaps, PAGE, rangeOf, toBig, toNum, U64_MAX, hexOf, type Range } from '../ranges.ts';
import { commandName, statusOf } from '../session.ts';
import type { CaseContext, Objection, Oracle, PropertyGate, StepEvent } from './oracle.ts';
import { ContentShadow } from './content.ts';
import { compatUnmapRange, kernelFields, type AccessObj, type CtxRec, type DeviceRec, type HwptObj, type IommuInfo, type IoasObj, type Obj, type PageSet, type Segment, Shadow } from './shadow.ts';

export const INVARIANTS = ['group-isolation', 'dma-confinement', 'coherency', 'lifetime', 'accounting', 'abi-hygiene'] as const;
export type Invariant = (typeof INVARIANTS)[number];

/**
 * Reserved fields the kernels do not check (so a non-zero value there is not
 * refused by Linux itself): hw_pagetable.c iommufd_hwpt_alloc tests only
 * `__reserved`, not `__reserved2`; iommufd_hwpt_set_dirty_tracking tests only
 * `flags`; selftest.c iommufd_test never reads iommu_test_cmd.__reserved.
 * (Both profiles, 6.12.117 and 7.3.)
 */
const UNCHECKED_RESERVED = new Set(['IOMMU_HWPT_ALLOC:__reserved2', 'IOMMU_HWPT_SET_DIRTY_TRACKING:__reserved', 'IOMMU_TEST_CMD:__reserved']);

/**
 * Commands whose every success ends by writing the caller's struct: through
 * iommufd_ucmd_respond (IOAS_ALLOC, IOVA_RANGES, MAP, MAP_FILE, COPY, UNMAP,
 * HWPT_ALLOC, GET_HW_INFO, FAULT_QUEUE_ALLOC; VFIO_IOAS for GET only) or a
 * copy_to_user of one member (IOMMU_OPTION's val64, SET too;
 * BIND_IOMMUFD's out_devid; ATTACH_IOMMUFD_PT's pt_id). With the argument
 * read-only that write faults, so none of them succeeds (EFAULT).
 */
/** The fields IOAS_MAP, MAP_FILE and COPY refuse at ULONG_MAX or more (EOVERFLOW) before anything else. */
const OVERFLOW_FIELDS: { readonly [cmd: string]: readonly string[] } = {
  IOMMU_IOAS_MAP: ['iova', 'length'],
  IOMMU_IOAS_MAP_FILE: ['iova', 'length'],
  IOMMU_IOAS_COPY: ['src_iova', 'dst_iova', 'length'],
};

/** VT-d ecap_reg bits (drivers/iommu/intel/iommu.h ecap_sc_support, ecap_nest, ecap_smts, ecap_slads, ecap_slts, ecap_smpwc). */
const VTD_ECAP_SC = 7;
const VTD_ECAP_NEST = 26;
const VTD_ECAP_SMTS = 43;
const VTD_ECAP_SLADS = 45;
const VTD_ECAP_SLTS = 46;
const VTD_ECAP_SMPWC = 48;
/** AMD EFR and EFR2 bits (drivers/iommu/amd/amd_iommu_types.h FEATURE_GT, FEATURE_GIOSUP, FEATURE_HDSUP, FEATURE_GCR3TRPMODE). */
const AMD_EFR_GT = 4;
const AMD_EFR_GIOSUP = 48;
const AMD_EFR_HDSUP = 52;
const AMD_EFR2_GCR3TRPMODE = 3;

/** What a device's hardware info says of nesting (checkDriverRegisters). */
interface NestRegs {
  /** The registers, as an objection names them. */
  readonly regs: string;
  /** A nesting parent (or nested HWPT) can be made for the device. */
  readonly canNest: boolean;
  /** A plain nesting parent (no other flag, no data) passes every capability check. */
  readonly plainCan: boolean;
  /** What nesting needs, as an objection names it. */
  readonly needs: string;
}
const ANSWERED_ON_SUCCESS = new Set(['IOMMU_IOAS_ALLOC', 'IOMMU_IOAS_IOVA_RANGES', 'IOMMU_IOAS_MAP', 'IOMMU_IOAS_MAP_FILE', 'IOMMU_IOAS_COPY', 'IOMMU_IOAS_UNMAP', 'IOMMU_HWPT_ALLOC', 'IOMMU_GET_HW_INFO', 'IOMMU_FAULT_QUEUE_ALLOC', 'IOMMU_OPTION', 'VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT']);

const TEST_OP = new Map(TEST_OPS.map((o) => [o.value, o.name]));
const MOCK_DOMAIN_OP = (TEST_OPS.find((o) => o.name === 'IOMMU_TEST_OP_MOCK_DOMAIN') as (typeof TEST_OPS)[number]).value;

type Want = readonly ('ioas' | 'hwpt_paging' | 'hwpt_nested' | 'device' | 'selftest' | 'access')[];

/** Id fields that must name a live object of one of these types for the command to succeed (uAPI: ENOENT otherwise). */
function requiredIds(cmd: string, v: StructValue, profile: Profile): { field: string; id: unknown; want: Want }[] {
  const IOAS: Want = ['ioas'];
  switch (cmd) {
    case 'IOMMU_IOAS_MAP':
    case 'IOMMU_IOAS_UNMAP':
    case 'IOMMU_IOAS_ALLOW_IOVAS':
    case 'IOMMU_IOAS_IOVA_RANGES':
      return [{ field: 'ioas_id', id: v['ioas_id'], want: IOAS }];
    case 'IOMMU_IOAS_COPY':
      return [
        { field: 'dst_ioas_id', id: v['dst_ioas_id'], want: IOAS },
        { field: 'src_ioas_id', id: v['src_ioas_id'], want: IOAS },
      ];
    case 'IOMMU_HWPT_ALLOC':
      return [
        { field: 'dev_id', id: v['dev_id'], want: ['device'] },
        { field: 'pt_id', id: v['pt_id'], want: ['ioas', 'hwpt_paging'] },
      ];
    case 'IOMMU_GET_HW_INFO':
      return [{ field: 'dev_id', id: v['dev_id'], want: ['device'] }];
    case 'IOMMU_VFIO_IOAS':
      // Only SET names an id (iommufd_vfio_ioas: iommufd_get_ioas).
      return toNum(v['op']) === IOMMU_VFIO_IOAS_SET ? [{ field: 'ioas_id', id: v['ioas_id'], want: IOAS }] : [];
    case 'IOMMU_HWPT_SET_DIRTY_TRACKING':
    case 'IOMMU_HWPT_GET_DIRTY_BITMAP':
      return [{ field: 'hwpt_id', id: v['hwpt_id'], want: ['hwpt_paging'] }];
    case 'IOMMU_OPTION':
      // HUGE_PAGES is an IOAS's option (iommufd_ioas_option: iommufd_get_ioas); RLIMIT_MODE the context's.
      return toNum(v['option_id']) === IOMMU_OPTION_HUGE_PAGES ? [{ field: 'object_id', id: v['object_id'], want: IOAS }] : [];
    case 'IOMMU_VIOMMU_ALLOC':
      return [
        { field: 'dev_id', id: v['dev_id'], want: ['device'] },
        { field: 'hwpt_id', id: v['hwpt_id'], want: ['hwpt_paging'] },
      ];
    case 'IOMMU_VDEVICE_ALLOC':
      return [{ field: 'dev_id', id: v['dev_id'], want: ['device'] }];
    case 'IOMMU_TEST_CMD': {
      const op = TEST_OP.get(toNum(v['op']));
      const m = (name: string): StructValue => (v[name] ?? {}) as StructValue;
      switch (op) {
        case 'IOMMU_TEST_OP_ADD_RESERVED':
        case 'IOMMU_TEST_OP_CREATE_ACCESS':
          return [{ field: 'id', id: v['id'], want: IOAS }];
        case 'IOMMU_TEST_OP_MOCK_DOMAIN':
        case 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS':
          return [{ field: 'id', id: v['id'], want: ['ioas', 'hwpt_paging', 'hwpt_nested'] }];
        case 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE':
          return [
            { field: 'id', id: v['id'], want: ['selftest'] },
            { field: 'mock_domain_replace.pt_id', id: m('mock_domain_replace')['pt_id'], want: ['ioas', 'hwpt_paging', 'hwpt_nested'] },
          ];
        case 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS':
          return [{ field: 'access_replace_ioas.ioas_id', id: m('access_replace_ioas')['ioas_id'], want: IOAS }];
        default:
          return [];
      }
    }
    default:
      void profile;
      return [];
  }
}

/** Commands that may raise an IOAS's alignment (IOAS.AREAS_ALIGNED). */
const ALIGNMENT_RAISERS = new Set(['IOMMU_HWPT_ALLOC', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_TEST_CMD', 'IOMMU_OPTION', 'VFIO_SET_IOMMU']);
/**
 * Commands that make areas, each aligned to the IOAS's alignment as it stands (IOAS.AREAS_ALIGNED):
 * a type1 v1 unmap too, whose cuts split areas (iopt_area_split refuses a cut off the alignment).
 */
const AREA_MAKERS = new Set(['IOMMU_IOAS_MAP', 'IOMMU_IOAS_MAP_FILE', 'IOMMU_IOAS_COPY', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA']);
const ALIGNMENT_RAISING_TEST_OPS = new Set(['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', 'IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS']);

/**
 * Commands that may create objects whose ids the shadow follows (the ids
 * they report, or an access's unreported one, which it counts): the
 * OBJECTS.LOWEST_FREE_ID check runs over them.
 */
const CREATING_TEST_OPS = new Set(['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE']);

/**
 * A successful command that may take ids the shadow does not follow: the
 * other *_ALLOC commands (fault queues, vIOMMUs, vDEVICEs and their
 * tombstones, event queues, HW queues with their internal access) and PASID
 * attachments, which may build an automatic HWPT. The context's ids are then
 * open for the rest of the case.
 */
function takesUnfollowedIds(cmd: string, v: StructValue): boolean {
  if (cmd.endsWith('_ALLOC')) return cmd !== 'IOMMU_IOAS_ALLOC' && cmd !== 'IOMMU_HWPT_ALLOC';
  if (cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' || cmd === 'VFIO_DEVICE_DETACH_IOMMUFD_PT') return toNum(v['flags']) !== 0;
  if (cmd === 'IOMMU_TEST_CMD') return /PASID_(ATTACH|REPLACE)/.test(TEST_OP.get(toNum(v['op'])) ?? '');
  return false;
}

/**
 * The ids a successful command answers for objects: the new objects' ids
 * (IOAS_ALLOC, HWPT_ALLOC, BIND, the selftest's mock device), and, where it
 * attached something, the HWPT it attached to with the pt_id asked for
 * (`attachedTo`: an IOAS id answers its automatic HWPT, a HWPT id itself).
 */
function answeredIds(cmd: string | number, v: StructValue, out: StructValue): { field: string; id: number; attachedTo?: number }[] {
  const ids = (o: StructValue | undefined, fields: readonly string[]) => fields.flatMap((field) => (o?.[field] === undefined ? [] : [{ field, id: toNum(o[field]) }]));
  switch (cmd) {
    case 'IOMMU_IOAS_ALLOC':
      return ids(out, ['out_ioas_id']);
    case 'IOMMU_HWPT_ALLOC':
      return ids(out, ['out_hwpt_id']);
    case 'VFIO_DEVICE_BIND_IOMMUFD':
      return ids(out, ['out_devid']);
    case 'VFIO_DEVICE_ATTACH_IOMMUFD_PT':
      return toNum(v['flags']) === 0 ? ids(out, ['pt_id']).map((x) => ({ ...x, attachedTo: toNum(v['pt_id']) })) : [];
    case 'IOMMU_TEST_CMD': {
      const op = TEST_OP.get(toNum(v['op']));
      if (op === 'IOMMU_TEST_OP_MOCK_DOMAIN' || op === 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS') {
        const m = op === 'IOMMU_TEST_OP_MOCK_DOMAIN' ? 'mock_domain' : 'mock_domain_flags';
        const o = out[m] as StructValue | undefined;
        return [...ids(o, ['out_stdev_id', 'out_idev_id']), ...ids(o, ['out_hwpt_id']).map((x) => ({ ...x, attachedTo: toNum(v['id']) }))];
      }
      if (op === 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE') {
        const asked = (v['mock_domain_replace'] as StructValue | undefined)?.['pt_id'];
        return asked === undefined ? [] : ids(out['mock_domain_replace'] as StructValue | undefined, ['pt_id']).map((x) => ({ ...x, attachedTo: toNum(asked) }));
      }
      return [];
    }
    default:
      return [];
  }
}

/** A context's ids before a command that may create objects (InvariantsOracle.idsBefore). */
/** iommufd_test_md_check_refs' first test: a uptr or length off a page, or uptr + length past the top (EINVAL). */
function checkRefsRefused(m: StructValue): boolean {
  const va = toBig(m['uptr']);
  const length = toBig(m['length']);
  return va % PAGE !== 0n || length % PAGE !== 0n || va + length > U64_MAX;
}

interface IdsBefore {
  readonly ctx: CtxRec;
  /** The objects the shadow knows (accesses aside), by id. */
  readonly live: ReadonlyMap<number, Obj>;
  /** Objects holding ids the uAPI never reports (accesses). */
  readonly hidden: number;
  /** The command may take ids the shadow does not follow (takesUnfollowedIds). */
  readonly unfollowed: boolean;
}

/** A reserved field (a number, or an array of bytes) that holds nothing but zeros, or is absent. */
function allZero(x: unknown): boolean {
  if (x === undefined) return true;
  if (x instanceof Uint8Array || Array.isArray(x)) return Array.from(x as ArrayLike<unknown>).every((b) => toNum(b) === 0);
  return toNum(x) === 0;
}

/** Devices whose regions may or may not be reserved (exactReserved's maybe) up to which IOAS_IOVA_RANGES is still judged exactly, one choice per subset. */
const MAX_MAYBE_RESERVED = 4;

/** [0, ULONG_MAX] less the given ranges, as sorted disjoint ranges (the holes IOAS_IOVA_RANGES reports). */
function complementOf(reserved: readonly Range[]): Range[] {
  const sorted = [...reserved].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Range[] = [];
  let at = 0n;
  for (const r of sorted) {
    if (r.start > at) out.push({ start: at, last: r.start - 1n });
    if (r.last >= at) at = r.last + 1n;
    if (at > U64_MAX) return out;
  }
  out.push({ start: at, last: U64_MAX });
  return out;
}

/** The n-th (from 1) smallest id from 1 not in `occupied`. */
function nthFreeId(occupied: { has(id: number): boolean }, n: number): number {
  let id = 0;
  for (let free = 0; free < n; ) if (!occupied.has(++id)) free++;
  return id;
}

interface Expect {
  readonly mapped: boolean;
  readonly open: boolean;
  readonly buffer?: number;
  readonly offset?: number;
  readonly read?: boolean;
  readonly write?: boolean;
  /** Which buffer page it reaches is unknown: mem_unmap took the user VA away since (the pinned frame stays mapped, but is no buffer page). */
  readonly landingOpen?: boolean;
  /** The last IOVA of the mapping segment found (areas need not end on a CPU page: the mock's IO page is 2 KiB). */
  readonly last?: bigint;
  /** The group is owned (a member is bound) and attached to nothing: in its blocking domain, which translates nothing. */
  readonly blocked?: boolean;
  /** Why, for a message; for a page the IOAS maps or not, reasonOf builds it from the fields below when an objection needs it. */
  readonly why?: string;
  readonly ioasId?: number;
  readonly iova?: bigint;
  readonly va?: bigint;
}

/** An expectation's reason, for an objection's message (built only then: probes make many expectations). */
function reasonOf(e: Expect): string {
  if (e.why !== undefined) return e.why;
  if (!e.mapped) return `IOAS ${e.ioasId} maps nothing at ${hexOf(e.iova ?? 0n)}`;
  const where = e.buffer !== undefined ? ` (buffer ${e.buffer} + ${e.offset})` : ' (no buffer of the process)';
  return `IOAS ${e.ioasId} maps ${hexOf(e.iova ?? 0n)} to user address ${hexOf(e.va ?? 0n)}${where} ${e.read ? 'R' : ''}${e.write ? 'W' : ''}`;
}

interface Span {
  readonly buffer: number;
  readonly offset: number;
  readonly length: number;
}

/** The first index where `got` differs from a known byte of `want` (undefined: not known), or -1. Whole pages compare natively first. */
function firstDifference(want: Uint8Array | readonly (number | undefined)[], got: Uint8Array): number {
  if (want instanceof Uint8Array && want.length === got.length && Buffer.compare(want, got) === 0) return -1;
  for (let j = 0; j < want.length; j++) {
    const x = want[j];
    if (x !== undefined && x !== got[j]) return j;
  }
  return -1;
}

/** Byte runs with each run that continues the previous one in the same buffer merged into it. */
function coalesce(spans: readonly Span[]): Span[] {
  const out: Span[] = [];
  for (const x of spans) {
    if (x.length === 0) continue;
    const last = out[out.length - 1];
    if (last && last.buffer === x.buffer && last.offset + last.length === x.offset) out[out.length - 1] = { ...last, length: last.length + x.length };
    else out.push({ buffer: x.buffer, offset: x.offset, length: x.length });
  }
  return out;
}

/** Whether two of the spans share a byte. */
function overlapping(spans: readonly Span[]): boolean {
  return spans.some((x, i) => spans.some((y, j) => j > i && x.buffer === y.buffer && x.offset < y.offset + y.length && y.offset < x.offset + x.length));
}

function sameSpans(a: readonly Span[], b: readonly Span[]): boolean {
  return a.length === b.length && a.every((x, i) => x.buffer === b[i]?.buffer && x.offset === b[i]?.offset && x.length === b[i]?.length);
}

function objType(o: Obj | undefined): string {
  return o ? o.type : 'nothing';
}

/** A device whose reach a step changed: an IOAS it left, or one it joined. */
interface Moved {
  readonly d: DeviceRec;
  readonly ioas: IoasObj;
  readonly left: boolean;
}

export interface InvariantsOptions {
  /** Probe DMA (not only translate) on this fraction of probed pages. */
  readonly dmaProbeRate?: number;
  /** Pages probed at random per step, besides the touched ones. */
  readonly sample?: number;
}

/**
 * Steps whose touched pages are always probed by DMA, not only translated:
 * after an unmap the IOTLB must hold nothing of the range (a DMA goes through
 * it, a translate walks the table), and after a map a device's DMA caches the
 * new translations — as a real device's would — that a later unmap must flush.
 */
const DMA_ALWAYS = /MAP|COPY/;
/** Commands after which a page table may have taken a page an earlier unmap freed. */
const BUILDS_TABLES = /^(IOMMU_IOAS_MAP|IOMMU_IOAS_COPY|VFIO_IOMMU_MAP_DMA|IOMMU_HWPT_ALLOC|IOMMU_TEST_CMD|VFIO_DEVICE_ATTACH_IOMMUFD_PT)$/;
/** Bytes read just outside each end of a range a step touched (probe). */
const EDGE_BYTES = 8n;
/** Pages of access items outside the touched ranges whose pins a step's probe counts, at most. */
const ACCESS_PIN_PROBES = 12;
/** Areas the end of a case unmaps one by one, at most (unmapEachArea). */
const END_UNMAPS = 64;
/** Room for the IOVA ranges the end of a case asks every IOAS for (more, and it is not judged). */
const END_RANGES = 64;

/** PAGE as a byte count, for buffer offsets. */
const PAGE_BYTES = Number(PAGE);
/** How much of each buffer the end-of-case content sweep reads back (the stamped pages, gen/shared.ts, and more: a stray write into a zero page shows too). */
const SWEEP_BYTES = 64 * PAGE_BYTES;
/** Buffers beyond this many bytes in all could exhaust the implementation's memory: an ENOMEM then proves nothing about RLIMIT_MEMLOCK. */
const MEMLOCK_CHECKED_BUFFER_BYTES = 64 << 20;
/** The largest RLIMIT_MEMLOCK (in pages) the end of a case fills to see the user's charge gone (checkUserChargeGone): the generator's limits go up to 8 MiB. */
const USER_CHARGE_PROBE_PAGES = 2048;
/** The longest IOMMU_TEST_OP_ACCESS_RW whose bytes are compared at both ends (larger ones are forgotten). */
const ACCESS_RW_CHECKED = 4 * 4096;
/** Mapped pages a device that joins an IOAS translates (spread over all of them when there are more). */
const JOIN_SWEEP_PAGES = 32;
/** Mapped pages of its IOAS each attached device translates at the end of a case, beside every segment's ends and middle. */
const END_SWEEP_PAGES = 64;
/** Bytes on each side of a DMA write read back to see that it wrote nothing more. */
const DATA_MARGIN = 64;
/**
 * Pointer fields the kernel only reads through or only records: a mapping's
 * source (IOAS_MAP user_va, VFIO MAP_DMA vaddr), the selftest's uptr (its
 * ACCESS_RW is followed where it is checked).
 */
const READ_ONLY_POINTERS = new Set(['user_va', 'vaddr', 'uptr']);

/**
 * Output arrays a command writes through a user pointer (checkUserBuffer):
 * how many bytes the caller said it may write, how many it wrote by its own
 * answer, and what the bytes between the two must hold.
 */
interface UserBuffer {
  readonly field: string;
  /** The field that sets the caller's limit (named in messages). */
  readonly what: string;
  room(p: Profile, v: StructValue): number;
  written(p: Profile, v: StructValue, o: StructValue): number | undefined;
  /** Byte i of [written, room): what the kernel leaves there. */
  fill(given: Uint8Array, i: number): number;
  rule(room: number, written: number): string;
}

const USER_BUFFERS: { readonly [cmd: string]: UserBuffer } = {
  IOMMU_GET_HW_INFO: {
    field: 'data_uptr',
    what: 'data_len',
    room: (_p, v) => toNum(v['data_len']),
    written: (_p, v, o) => (o['data_len'] === undefined ? undefined : Math.min(toNum(v['data_len']), toNum(o['data_len']))),
    fill: () => 0,
    rule: (room, written) => (written < room ? `the driver's ${written} bytes, zeros to byte ${room}` : `the first ${room} bytes of the driver's data`),
  },
  IOMMU_IOAS_IOVA_RANGES: {
    field: 'allowed_iovas',
    what: 'num_iovas',
    room: (p, v) => toNum(v['num_iovas']) * requireLayout(p, 'iommu_iova_range').size,
    written: (p, v, o) => (o['num_iovas'] === undefined ? undefined : Math.min(toNum(v['num_iovas']), toNum(o['num_iovas'])) * requireLayout(p, 'iommu_iova_range').size),
    fill: (given, i) => given[i] ?? 0,
    rule: (room, written) => `${written} bytes of ranges (the ones that fit) into its ${room}`,
  },
};

/** Each area's range, from the segments the shadow keeps of it, where they are one run (a type1 cut may leave an area's id on two pieces) and certain. */
function wholeAreas(segs: readonly Segment[]): [bigint, bigint][] {
  const byArea = new Map<number, Segment[]>();
  for (const x of segs) byArea.set(x.area, [...(byArea.get(x.area) ?? []), x]);
  const out: [bigint, bigint][] = [];
  for (const pieces of byArea.values()) {
    const sorted = [...pieces].sort((a, b) => (a.start < b.start ? -1 : 1));
    if (sorted.every((x, i) => !x.uncertain && (i === 0 || x.start === (sorted[i - 1] as Segment).last + 1n))) out.push([(sorted[0] as Segment).start, (sorted[sorted.length - 1] as Segment).last]);
  }
  return out;
}

/** The members of a struct the uAPI marks as input or flags, outside unions, with their offsets in it (cached per profile and struct). */
const INPUT_MEMBERS = new Map<string, readonly { path: string; offset: number; size: number }[]>();
function inputMembers(profile: Profile, struct: string): readonly { path: string; offset: number; size: number }[] {
  const key = `${profile}:${struct}`;
  const known = INPUT_MEMBERS.get(key);
  if (known) return known;
  const found: { path: string; offset: number; size: number }[] = [];
  const walk = (node: LayoutNode, base: number, path: string): void => {
    const at = base + node.offset;
    const name = node.name ? (path ? `${path}.${node.name}` : node.name) : path;
    if (node.kind === 'record') {
      if (node.union) return;
      for (const f of node.fields) walk(f, at, name);
      return;
    }
    if (node.def && (node.def.role === 'in' || node.def.role === 'flags') && node.size > 0) found.push({ path: name, offset: at, size: node.size });
  };
  for (const f of requireLayout(profile, struct).root.fields) walk(f, 0, '');
  INPUT_MEMBERS.set(key, found);
  return found;
}

/**
 * IOMMU_OPTION's val64 is the answer of a GET but the caller's value in a
 * SET: neither option's SET writes it (iommufd_option_rlimit_mode,
 * iommufd_ioas_option), and iommufd_option copies it back as it came.
 */
function setValue(profile: Profile, cmd: string, v: StructValue): readonly { path: string; offset: number; size: number }[] {
  if (cmd !== 'IOMMU_OPTION' || toNum(v['op']) !== IOMMU_OPTION_OP_SET) return [];
  const f = requireLayout(profile, 'iommu_option').root.fields.find((x) => x.name === 'val64');
  return f ? [{ path: 'val64', offset: f.offset, size: f.size }] : [];
}

/** Argument fields that name a descriptor the command looks up (fdget) besides the one it is issued on. */
const FD_ARGUMENTS = new Set(['fd', 'iommufd', 'dmabuf_fd']);

/** Every descriptor an argument names (at any depth) is one the shadow knows open. */
function fdArgsOpen(v: StructValue, shadow: Shadow): boolean {
  for (const [k, x] of Object.entries(v)) {
    if (FD_ARGUMENTS.has(k) && !shadow.fds.get(toNum(x))?.fdOpen) return false;
    if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array) && !Array.isArray(x) && !fdArgsOpen(x as StructValue, shadow)) return false;
  }
  return true;
}

/**
 * The ranges an IOMMU_IOAS_ALLOW_IOVAS request sends, as the kernel reads
 * them (num_iovas entries of its allowed_iovas array), or undefined where the
 * request carries fewer bytes than that or no data at all.
 */
function allowIovasRanges(v: StructValue): Range[] | undefined {
  const p = v['allowed_iovas'];
  const n = toNum(v['num_iovas']);
  const data = p !== undefined && isPointerArg(p) && 'data' in p ? p.data : undefined;
  return data && data.length >= n * 16 ? decodeRanges(data, n) : undefined;
}

export class InvariantsOracle implements Oracle {
  readonly name = 'invariants' as const;
  private shadow!: Shadow;
  private ctx!: CaseContext;
  private baseline: { pinned: number; locked: number } | undefined;
  /**
   * The number the process's first open got at the case's start (opened and
   * closed again before the first step): the lowest free fd then, so the
   * floor of what FILES.NUMBERS_FREED holds free at the end. A file left
   * open by a case's first open that answered failure sits below every
   * number the case was handed, where nothing else shows it.
   */
  private fdFloor: number | undefined;
  private can = { translate: false, dma: false, pins: false, proc: false, kvm: false, mem: false, userCharge: false, iovaRanges: false, rebind: false, fdFloor: false, option: false, selftest: false };
  /** The close of the file opened to find fdFloor, judged with the case's own closes at its end. */
  private floorClose: { request: Request; response: Response } | undefined;
  private readonly dmaRate: number;
  private readonly sample: number;
  /** What the buffers hold (content.ts). */
  private content = new ContentShadow();
  /** A DMA or access write happened this case: the end of the case reads the buffers back. */
  private wrote = false;
  /**
   * Per device, pages of the IOAS it last left, and of what that IOAS unmapped
   * while the device was away (probed again when it joins any IOAS, that one too).
   */
  private leftPages = new Map<DeviceRec, { ioas: IoasObj; pages: bigint[] }>();
  /**
   * Pages the last few unmaps took, probed again by DMA after later steps
   * that build page tables: an unmap that freed a table but left a pointer
   * to it, or a walk cache holding it, shows only once the freed page is
   * someone else's table.
   */
  private unmappedRecently: { ioas: IoasObj; iova: bigint }[] = [];
  /** CAP_SYS_RESOURCE as the case last set it (set_process); undefined: the adapter's default, not judged. */
  private capSysResource: boolean | undefined;
  /** GET_HW_INFO's first answer per device and requested type (checkHwInfoLength). */
  private hwInfo = new Map<string, { length: number; type: number; sent: number }>();
  /**
   * Per device (its key), what its GET_HW_INFO registers say of nesting (checkDriverRegisters), and
   * the steps of a nesting HWPT made for it and of a plain nesting parent refused (checkNestingRegisters).
   */
  private nestRegs = new Map<string, NestRegs>();
  private nestMade = new Map<string, number>();
  private nestRefused = new Map<string, number>();
  /**
   * Groups that tried a replace within the IOAS they are on (onto another HWPT
   * of it, or by its id, when the auto-domain search tries its other automatic
   * HWPTs first): a replace that fails there runs iommufd_device_do_replace's
   * err_unresv, which removes the group's reserved regions from that same IOAS
   * while the group stays attached. A bug of both kernels (6.12 and 7.3), which
   * the reference reproduces; until the group leaves the IOAS its regions are
   * not held against a MAP (the envelope allows what the kernels do), while a
   * region lost any other way — a group member's detach, say — still is.
   */
  private reattached = new Set<string>();
  /** Contexts a command took ids in that the shadow does not follow (takesUnfollowedIds): their new ids are not judged. */
  private idsOpen = new Set<CtxRec>();
  /** The case armed an injected failure (fail_nth): an ENOMEM proves nothing about the limits. */
  private failNth = false;
  /** Options a SET that failed with EFAULT may have changed (checkOptionGet): an IOAS's HUGE_PAGES, a context's RLIMIT_MODE. */
  private optionUnknown = new Set<object>();
  /** Units a device was bound behind: they report IOMMU_CAP_CACHE_COHERENCY (checkBindEinval). */
  private coherentUnits = new Set<string>();

  constructor(
    private readonly profile: Profile,
    opts: InvariantsOptions = {},
  ) {
    this.dmaRate = opts.dmaProbeRate ?? 0.35;
    this.sample = opts.sample ?? 1;
  }

  static gatesFor(caps: Capabilities): PropertyGate[] {
    const op = (o: keyof Capabilities['ops']): boolean => caps.ops[o]?.supported === true;
    const testOp = (n: string): boolean => caps.testOps[n]?.supported === true;
    const devices = (op('device_create') && op('open_device') && caps.commands['VFIO_DEVICE_BIND_IOMMUFD']?.supported === true) || testOp('IOMMU_TEST_OP_MOCK_DOMAIN');
    const gate = (property: Invariant, skip: string | undefined): PropertyGate => ({ property: `invariants.${property}`, ...(skip && { skip }) });
    return [
      gate('group-isolation', !devices ? 'the adapter creates no devices (device_create + open_device + VFIO_DEVICE_BIND_IOMMUFD, or IOMMU_TEST_OP_MOCK_DOMAIN)' : !op('translate') && !op('dma') ? 'the adapter serves neither translate nor dma' : undefined),
      // The selftest's own observations of where an IOVA lands (MD_CHECK_MAP; ACCESS_RW read back with mem_read) check it too.
      gate('dma-confinement', (devices && (op('translate') || op('dma'))) || testOp('IOMMU_TEST_OP_MD_CHECK_MAP') || (testOp('IOMMU_TEST_OP_ACCESS_RW') && op('mem_read')) ? undefined : !devices ? 'the adapter creates no devices and serves neither IOMMU_TEST_OP_MD_CHECK_MAP nor IOMMU_TEST_OP_ACCESS_RW with mem_read' : 'the adapter serves neither translate nor dma, nor IOMMU_TEST_OP_MD_CHECK_MAP, nor IOMMU_TEST_OP_ACCESS_RW with mem_read'),
      gate('coherency', !op('kvm_create') || !op('kvm_vfio_add') || !op('kvm_state') ? 'the adapter serves no KVM (kvm_create, kvm_vfio_add, kvm_state)' : !op('device_create') || !op('open_device') ? 'the adapter creates no VFIO devices' : undefined),
      gate('lifetime', undefined),
      gate('accounting', !op('pin_count') && !op('process_info') ? 'the adapter serves neither pin_count nor process_info' : !op('mem_alloc') ? 'the adapter serves no mem_alloc' : undefined),
      gate('abi-hygiene', undefined),
    ];
  }

  gates(caps: Capabilities): readonly PropertyGate[] {
    return InvariantsOracle.gatesFor(caps);
  }

  async begin(ctx: CaseContext): Promise<void> {
    this.ctx = ctx;
    const op = (o: keyof Capabilities['ops']): boolean => ctx.caps.ops[o]?.supported === true;
    const cmd = (c: string): boolean => ctx.caps.commands[c]?.supported === true;
    this.can = {
      translate: op('translate'),
      dma: op('dma'),
      pins: op('pin_count'),
      proc: op('process_info'),
      kvm: op('kvm_state'),
      mem: op('mem_read'),
      userCharge: op('open') && op('mem_alloc') && op('close') && cmd('IOMMU_IOAS_ALLOC') && cmd('IOMMU_IOAS_MAP') && ctx.caps.testOps['IOMMU_TEST_OP_MOCK_DOMAIN']?.supported === true,
      iovaRanges: cmd('IOMMU_IOAS_IOVA_RANGES'),
      rebind: op('open') && op('open_device') && op('close') && cmd('VFIO_DEVICE_BIND_IOMMUFD'),
      fdFloor: op('open') && op('close'),
      option: cmd('IOMMU_OPTION'),
      selftest: cmd('IOMMU_TEST_CMD'),
    };
    this.shadow = new Shadow(this.profile, ctx.caps);
    this.content = new ContentShadow();
    this.wrote = false;
    this.failNth = false;
    this.leftPages = new Map();
    this.unmappedRecently = [];
    this.hwInfo = new Map();
    this.nestRegs = new Map();
    this.nestMade = new Map();
    this.nestRefused = new Map();
    this.capSysResource = undefined;
    this.reattached = new Set();
    this.idsOpen = new Set();
    this.optionUnknown = new Set();
    this.coherentUnits = new Set();
    this.fdFloor = undefined;
    this.floorClose = undefined;
    const first: Request[] = [];
    if (this.can.proc) first.push({ op: 'process_info' });
    if (this.can.fdFloor) first.push({ op: 'open', node: 'iommu' });
    if (first.length === 0) return;
    const rs = await ctx.observe(first);
    const info = this.can.proc ? rs[0] : undefined;
    if (info?.ok) {
      const p = info.result as { pinnedVmPages: number; lockedVmPages: number };
      this.baseline = { pinned: p.pinnedVmPages, locked: p.lockedVmPages };
    }
    const opened = this.can.fdFloor ? rs[first.length - 1] : undefined;
    const fd = opened?.ok ? (opened.result as { fd?: number }).fd : undefined;
    if (typeof fd !== 'number' || fd < 0) return;
    const request: Request = { op: 'close', fd };
    const [closed] = await ctx.observe([request]);
    if (closed) this.floorClose = { request, response: closed };
    this.fdFloor = fd;
  }

  private obj(property: Invariant, ev: { step: number; request: Request } | undefined, message: string, expected: string, observed: string, probe?: { request: Request; response?: Response }): Objection {
    const command = ev ? commandName(ev.request) : 'end';
    return {
      oracle: 'invariants',
      property: `invariants.${property}`,
      step: ev?.step ?? 0,
      message,
      expected,
      observed,
      ...(probe && { probe }),
      signature: { command: probe ? `${command}→${probe.request.op}` : command, expected, observed },
    };
  }

  // ---------------------------------------------------------------- step

  async step(ev: StepEvent): Promise<readonly Objection[]> {
    const out: Objection[] = [];
    const s = statusOf(ev.request, ev.response);
    if (s.status === 'skipped' || s.status === 'error') {
      if (s.status === 'error') {
        this.checkRemovalRefused(ev, out);
        this.shadow.apply(ev.request, ev.response);
        this.content.forgetAll(); // what an answer nobody can read did to memory is anyone's guess
      }
      return out;
    }
    const ok = s.status === 'ok';
    if (!ok && ev.request.op === 'ioctl' && !this.shadow.fds.get(ev.request.fd)?.fdOpen && errnoName(s.errno ?? 0) === 'EBADF') {
      // A descriptor the process does not hold (closed, or never handed out): fdget refuses the
      // ioctl before iommufd sees it, so what the command would have had to do is not judged;
      // only that it changed nothing (the next step's probes see the rest).
      this.checkUntouchedOnFailure(ev, s.errno, out);
      this.shadow.apply(ev.request, ev.response);
      return out;
    }
    const touched = this.placed(ev, ok, this.touchedBefore(ev.request));
    const reachBefore = this.reach(ev.request);
    const group = this.groupOfRequest(ev.request);
    this.checkAbi(ev, ok, s.errno, out);
    if (!ok) this.checkUntouchedOnFailure(ev, s.errno, out);
    else {
      this.checkCopyBackWithinSize(ev, out);
      this.checkInputsComeBack(ev, out);
    }
    this.checkIovaRanges(ev, ok, s.errno, out);
    this.checkLifetime(ev, ok, s.errno, out);
    this.checkOpenFile(ev, ok, s.errno, out);
    if (ok) this.checkRemoval(ev, out);
    this.checkAccessOps(ev, ok, s.errno, out);
    this.checkCompatIoas(ev, ok, s.errno, out);
    this.checkRefusals(ev, ok, out);
    if (!ok) this.checkOptionRefused(ev, s.errno, out);
    if (!ok) this.checkNeverRefused(ev, s.errno, out);
    if (!ok) this.checkAttachRefused(ev, s.errno, out);
    if (!ok) this.checkPagingAllocRefused(ev, s.errno, out);
    this.checkNestedOnForeignParent(ev, ok, s.errno, out);
    this.checkNestedFlags(ev, ok, s.errno, out);
    this.checkHwptAllocFirst(ev, ok, s.errno, out);
    this.checkCopyZeroLength(ev, ok, s.errno, out);
    this.checkBindNegativeFd(ev, ok, s.errno, out);
    this.checkCheckRefsArgs(ev, ok, s.errno, out);
    this.checkTestOpLookups(ev, ok, s.errno, out);
    if (!ok) this.checkSetIommuType(ev, s.errno, out);
    this.checkHwptAllocTarget(ev, ok, s.errno, out);
    this.checkTempMemoryLimit(ev, ok, s.errno, out);
    this.checkNestingRegisters(ev, ok, s.errno, out);
    this.checkAddReservedLength(ev, ok, s.errno, out);
    this.checkOptionGet(ev, ok, s.errno, out);
    if (!ok) this.checkReservedConflicts(ev, s.errno, out);
    if (!ok) this.checkMapCheckRefusal(ev, s.errno, out);
    this.checkUserBuffer(ev, ok, s.errno, out);
    this.checkOwnership(ev, ok, out);
    if (ok) this.checkKvmFileKind(ev, out);
    this.checkKvmFileDel(ev, ok, s.errno, out);
    const writePinsBefore = this.writePins();
    // Judged whatever the process holds now: CAP_IPC_LOCK is read when pages are first pinned
    // (iopt_alloc_pages: IOPT_PAGES_ACCOUNT_NONE), and pages charged then stay charged, the limit
    // never bypassed (incr_user_locked_vm; __account_locked_vm with bypass_rlim false).
    const memlockBefore = this.shadow.rlimitPages !== null ? this.shadow.memlockCharges() : undefined;
    if (ev.request.op === 'fail_nth') this.failNth = true;
    this.noteReattach(ev);
    if (ok) this.checkDomainChoice(ev, out);
    if (ok) this.checkPlacement(ev, touched, out);
    if (ok) this.checkCopySource(ev, out);
    else this.checkExists(ev, s.errno, out);
    if (!ok) this.checkCopyHoleErrno(ev, s.errno, out);
    if (!ok) this.checkUnmapAllRefused(ev, s.errno, out);
    this.checkType1Cut(ev, ok, s.errno, out);
    if (!ok) this.checkMapRefused(ev, s.errno, out);
    this.checkMapLengths(ev, ok, s.errno, out);
    this.checkUnmapOverflow(ev, ok, s.errno, out);
    if (!ok) this.checkCopyRefused(ev, s.errno, out);
    if (!ok) this.checkUnmapOfWholeAreasRefused(ev, s.errno, out);
    if (ok) this.checkUnmapped(ev, out);
    else this.checkUnmapDeadlock(ev, s.errno, out);
    if (!ok) this.checkUnmapDmaPartial(ev, s.errno, out);
    const idsBefore = this.idsBefore(ev.request);
    this.checkUnfinalizedInvisible(ev, ok, s.errno, idsBefore, out);
    this.shadow.apply(ev.request, ev.response);
    if (ok) this.checkNewIds(ev, idsBefore, out);
    if (ok && ev.request.op === 'ioctl') this.checkAllowedApart(ev, out);
    if (ok) this.checkAreasAligned(ev, out);
    this.checkWritePins(ev, writePinsBefore, out);
    this.checkMemlock(ev, ok, s.errno, memlockBefore, out);
    this.trackContent(ev, ok);
    const moved = this.movedDevices(reachBefore);
    this.checkGroupsAndCoherency(ev, ok, out);
    if (ok) this.checkDomainFeatures(ev, out);
    this.checkObservation(ev, out);
    await this.checkDataOp(ev, ok, out);
    if (!ok && out.length === 0) await this.checkFailedAccessRead(ev, s.errno, out);
    if (out.length === 0 && ev.request.op === 'dma') await this.checkDmaData(ev, out);
    if (out.length > 0) return out;
    await this.probe(ev, ok, touched, out, moved, group);
    return out;
  }

  /**
   * What a domain was made with holds for everything in it, after a
   * successful attach or allocation: a HWPT allocated with
   * IOMMU_HWPT_ALLOC_DIRTY_TRACKING takes no device whose IOMMU cannot track
   * dirty pages for it (each driver's attach check: VT-d ssads_supported, AMD
   * amd_iommu_hd_support, the mock MOCK_FLAGS_DEVICE_NO_DIRTY: EINVAL), else
   * its writes are missing from the dirty bitmap; and a VT-d nesting parent
   * is never made over an IOAS that holds a read-only area (its domain
   * refuses read-only IOPTEs, so the fill fails: EINVAL).
   */
  private checkDomainFeatures(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || this.shadow.lost) return;
    if (req.cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' || req.cmd === 'IOMMU_TEST_CMD') {
      // Every attach path (a VFIO device's, the selftest's MOCK_DOMAIN and MOCK_DOMAIN_REPLACE) ends in the driver's attach check.
      for (const d of this.shadow.devices.values()) {
        const h = d.bound && d.hwpt !== undefined ? d.bound.ctx.objects.get(d.hwpt) : undefined;
        if (d.removed || h?.type !== 'hwpt_paging' || !h.dirtyTracking || d.dirty !== false) continue;
        this.ctx.count('invariants.abi-hygiene');
        out.push(this.obj('abi-hygiene', ev, `device ${d.handle ?? d.key} was attached to HWPT ${h.id}, allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING, but its IOMMU cannot track dirty pages for it: the driver refuses such a device (EINVAL), whose DMA writes would be missing from the dirty bitmap`, 'EINVAL', 'ok'));
        return;
      }
      return;
    }
    if (req.cmd !== 'IOMMU_HWPT_ALLOC') return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const h = ctx?.objects.get(toNum(((ev.response.ok ? (ev.response.result as IoctlResult).out : undefined) ?? {})['out_hwpt_id']));
    if (!ctx || h?.type !== 'hwpt_paging' || !h.refusesReadOnly) return;
    const ioas = this.shadow.ioas(ctx, h.ioas);
    const ro = ioas?.segs.find((x) => !x.uncertain && !x.write);
    if (!ro) return;
    this.ctx.count('invariants.dma-confinement');
    out.push(this.obj('dma-confinement', ev, `IOMMU_HWPT_ALLOC made VT-d nesting parent HWPT ${h.id} over IOAS ${ioas!.id}, which maps ${hexOf(ro.start)}..${hexOf(ro.last)} read-only: that domain takes no read-only IOPTE (ERRATA_772415_SPR17), so filling it fails (EINVAL) — or maps the area writable`, 'EINVAL', 'ok'));
  }

  /**
   * Where a MAP, COPY or MAP_DMA that succeeded put its area: never over a
   * region the IOAS keeps reserved — a device's own reserved regions while it
   * is attached (iopt_table_enforce_dev_resv_regions, removed again only by
   * that device's detach) or a range reserved in the IOAS — and, for an
   * automatic IOVA, inside iopt_alloc_iova's window and inside an allowed
   * range when the IOAS has any (IOMMU_IOAS_ALLOW_IOVAS's promise; touching
   * ranges are one span, as the search walks them); and never over an area
   * already there.
   */
  private checkPlacement(ev: StepEvent, touched: readonly { ioas: IoasObj; ranges: Range[] }[], out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct') return;
    if ((req.cmd === 'IOMMU_IOAS_MAP' || req.cmd === 'IOMMU_IOAS_MAP_FILE' || req.cmd === 'IOMMU_IOAS_COPY') && (toNum(req.arg.fields['flags']) & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) === 0) {
      // ioas.c: a new area needs READABLE or WRITEABLE (EINVAL), before the IOAS is looked up.
      this.ctx.count('invariants.abi-hygiene');
      out.push(this.obj('abi-hygiene', ev, `${req.cmd} succeeded with neither IOMMU_IOAS_MAP_READABLE nor IOMMU_IOAS_MAP_WRITEABLE: an area with no permission is refused (EINVAL), not made`, 'EINVAL', 'ok'));
      return;
    }
    if (req.cmd !== 'IOMMU_IOAS_MAP' && req.cmd !== 'IOMMU_IOAS_COPY' && req.cmd !== 'VFIO_IOMMU_MAP_DMA') return;
    const automatic = req.cmd !== 'VFIO_IOMMU_MAP_DMA' && (toNum(req.arg.fields['flags']) & IOMMU_IOAS_MAP_FIXED_IOVA) === 0;
    const writable = (toNum(req.arg.fields['flags']) & (req.cmd === 'VFIO_IOMMU_MAP_DMA' ? VFIO_DMA_MAP_FLAG_WRITE : IOMMU_IOAS_MAP_WRITEABLE)) !== 0;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const parent = writable || !ctx ? undefined : touched.find(({ ioas }) => this.shadow.refusesReadOnly(ctx, ioas.id));
    if (parent) {
      this.ctx.count('invariants.dma-confinement');
      out.push(this.obj('dma-confinement', ev, `${req.cmd} made a read-only area in IOAS ${parent.ioas.id}, which a VT-d nesting parent HWPT holds: that domain takes no read-only IOPTE (ERRATA_772415_SPR17: 7.3 PT_FEAT_VTDSS_FORCE_WRITEABLE, 6.12 __domain_mapping), so the map is refused (EINVAL), not made — or made writable`, 'EINVAL', 'ok'));
      return;
    }
    for (const { ioas, ranges } of touched) {
      for (const r of ranges) {
        this.ctx.count('invariants.dma-confinement');
        const own = ioas.reserved.find((x) => overlaps(x, r));
        // A group that tried a replace within this IOAS may have lost its regions there, as the kernels do (see `reattached`).
        const dev = own ? undefined : this.shadow.liveDevices().find((d) => d.reserved.length > 0 && !this.reattached.has(d.group) && this.shadow.deviceIoas(d)?.ioas === ioas && d.reserved.some((x) => overlaps(x, r)));
        const where = `${hexOf(r.start)}..${hexOf(r.last)}`;
        if (own || dev) {
          const what = own ? `a range reserved in IOAS ${ioas.id} (${hexOf(own.start)}..${hexOf(own.last)})` : `device ${dev!.handle}'s reserved region, and the device is attached to IOAS ${ioas.id}`;
          out.push(this.obj('dma-confinement', ev, `${req.cmd} placed its area at ${where}, over ${what}: a reserved IOVA is never mapped`, 'a failure (the range is reserved)', 'mapped'));
          return;
        }
        // Areas never overlap: the automatic search takes a hole of the area tree (iopt_alloc_iova),
        // a fixed IOVA that meets an area is refused (iopt_check_iova: EEXIST).
        const under = this.shadow.lost ? undefined : ioas.segs.find((x) => !x.uncertain && overlaps(x, r));
        if (under) {
          out.push(this.obj('dma-confinement', ev, `${req.cmd} placed its area at ${where} in IOAS ${ioas.id}, over the area already at ${hexOf(under.start)}..${hexOf(under.last)}: one IOVA would have two IOPTEs (an automatic IOVA is a hole of the area tree; a fixed one that meets an area is EEXIST)`, automatic ? 'an IOVA in a hole' : 'EEXIST', where));
          return;
        }
        const why = automatic ? autoIovaViolation(r, ioas.allowed) : undefined;
        if (why) {
          out.push(this.obj('dma-confinement', ev, `${req.cmd} chose the automatic IOVA range ${where} in IOAS ${ioas.id}, ${why}`, 'an IOVA inside the allowed ranges', where));
          return;
        }
        const offset = automatic && r === ranges[0] && ctx ? this.autoPageOffset(ctx, req.cmd, req.arg.fields) : undefined;
        // iopt_alloc_iova places it at ALIGN(hole, alignment) | page_offset: every bit of the user
        // memory's offset in its page is set in the IOVA (an alignment below PAGE_SIZE may set more).
        if (offset !== undefined && (r.start & offset) !== offset) {
          this.ctx.count('invariants.abi-hygiene');
          out.push(this.obj('abi-hygiene', ev, `${req.cmd} chose the automatic IOVA ${hexOf(r.start)} in IOAS ${ioas.id}, at page offset ${hexOf(r.start % PAGE)}, but its user memory starts at page offset ${hexOf(offset)}: iopt_alloc_iova keeps the user address's offset in the page (the hole's aligned start | page_offset), so the IOVA has every bit of it (IOAS_MAP.AUTO_PLACEMENT)`, `page offset bits ${hexOf(offset)} set`, `page offset ${hexOf(r.start % PAGE)}`));
          return;
        }
      }
    }
  }

  /**
   * A device's PASID width is its own: GET_HW_INFO's out_max_pasid_log2 is
   * ilog2 of dev->iommu->max_pasids, or 0 (iommufd_get_hw_info clears it
   * first). A selftest mock device has a "pasid-num-bits" property of
   * MOCK_PASID_WIDTH with MOCK_FLAGS_DEVICE_PASID (7.3) and 0 otherwise
   * (mock_dev_create); an environment device the PASID bits it was created
   * with (ADAPTER.md §3.6), none by default, whatever devices came before.
   */
  private checkPasidWidth(ev: StepEvent, dev: DeviceRec, o: StructValue | undefined, out: Objection[]): void {
    const got = o?.['out_max_pasid_log2'];
    const req = ev.request;
    const size = req.op === 'ioctl' && req.arg.kind === 'struct' ? req.arg.fields['size'] : undefined;
    if (got === undefined || (size !== undefined && toNum(size) < offsetofend(this.profile, 'iommu_hw_info', 'out_max_pasid_log2'))) return;
    const flags = dev.mockFlags;
    const pasid = flags !== undefined && this.profile === '7.3' && (flags & MOCK_FLAGS_DEVICE_PASID) !== 0;
    const want = flags !== undefined ? (pasid ? MOCK_PASID_WIDTH : 0) : dev.pasidWidth;
    if (want === undefined) return;
    this.ctx.count('invariants.abi-hygiene');
    if (toNum(got) === want) return;
    const why = flags !== undefined ? `mock device ${dev.key}, made ${pasid ? 'with' : 'without'} MOCK_FLAGS_DEVICE_PASID: its "pasid-num-bits" property is ${want} (mock_dev_create)` : `device ${dev.handle ?? dev.key}, created with ${want} PASID bits`;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered out_max_pasid_log2 ${toNum(got)} for ${why}, a width of its own`, String(want), String(toNum(got))));
  }

  /**
   * GET_HW_INFO answers the length of the driver's data, whatever the
   * caller's buffer holds ("the length the kernel supports ... could be
   * larger than the input buffer", iommufd_get_hw_info), and its type: both
   * are the device's, the same on every call for the same requested type;
   * and a type asked for (IOMMU_HW_INFO_FLAG_INPUT_TYPE) is the type answered.
   */
  private checkHwInfoLength(ev: StepEvent, dev: DeviceRec, v: StructValue, o: StructValue | undefined, out: Objection[]): void {
    const size = v['size'];
    if (!o || (size !== undefined && toNum(size) < offsetofend(this.profile, 'iommu_hw_info', 'out_data_type'))) return;
    const asked = (toNum(v['flags']) & IOMMU_HW_INFO_FLAG_INPUT_TYPE) !== 0 ? toNum(v['in_data_type']) : 'default';
    const key = `${dev.key}:${asked}`;
    const now = { length: toNum(o['data_len']), type: toNum(o['out_data_type']), sent: toNum(v['data_len']) };
    if (asked !== 'default' && asked !== IOMMU_HW_INFO_TYPE_DEFAULT) {
      // Each driver's hw_info serves the type asked for or refuses it (EOPNOTSUPP); a driver without
      // one answers TYPE_NONE whatever was asked.
      this.ctx.count('invariants.abi-hygiene');
      if (now.type !== asked && now.type !== IOMMU_HW_INFO_TYPE_NONE) {
        out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO with IOMMU_HW_INFO_FLAG_INPUT_TYPE asked device ${dev.handle ?? dev.key} for info of type ${asked} and answered type ${now.type}: a driver serves the type asked for or refuses it (EOPNOTSUPP)`, `type ${asked} or EOPNOTSUPP`, `type ${now.type}`));
        return;
      }
    }
    const first = this.hwInfo.get(key);
    if (!first) {
      this.hwInfo.set(key, now);
      return;
    }
    this.ctx.count('invariants.abi-hygiene');
    if (first.length !== now.length || first.type !== now.type) {
      out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO for device ${dev.handle ?? dev.key} answered data_len ${now.length}, type ${now.type} with a ${now.sent}-byte buffer, but data_len ${first.length}, type ${first.type} with a ${first.sent}-byte one: both are the driver's, not the caller's`, `data_len ${first.length}, type ${first.type}`, `data_len ${now.length}, type ${now.type}`));
    }
  }

  /**
   * A command writes the caller's output array only as far as the caller
   * said it reaches, and an array it may fill completely cannot fault:
   * GET_HW_INFO writes the driver's data up to the smaller of data_len and
   * its length, zeros from there to data_len (iommufd_get_hw_info:
   * copy_to_user, then clear_user); IOAS_IOVA_RANGES writes a range only
   * while num_iovas has room for it (iommufd_ioas_iova_ranges), whatever the
   * count it answers. So a size query (data_len 0, num_iovas 0) touches no
   * memory, and bytes past what was asked for come back as they went.
   */
  private checkUserBuffer(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || (ev.template.defects ?? []).some((d) => d.abi)) return;
    const buf = USER_BUFFERS[req.cmd];
    if (!buf) return;
    const v = req.arg.fields;
    const sent = buf.room(this.profile, v);
    const ptr = v[buf.field];
    const given = ptr !== undefined && isPointerArg(ptr) ? ('data' in ptr ? ptr.data : new Uint8Array(ptr.room)) : undefined;
    if (!ok && errnoName(errno ?? 0) === 'EFAULT') {
      if (sent > 0 && (given?.length ?? 0) < sent) return;
      this.ctx.count('invariants.abi-hygiene');
      const why = sent === 0 ? `${buf.what} asks for no bytes` : `${buf.field} holds all ${sent} bytes of ${buf.what}`;
      out.push(this.obj('abi-hygiene', ev, `${req.cmd} failed with EFAULT, but ${why}: nothing it may write is out of reach`, 'not EFAULT', 'EFAULT'));
      return;
    }
    // A failure that still answers (IOVA_RANGES' EMSGSIZE copies the count back) wrote what fitted, and no more.
    if (!ev.response.ok) return;
    const res = ev.response.result as IoctlResult;
    const after = res.buffers?.[buf.field];
    const written = res.out && buf.written(this.profile, v, res.out);
    if (!given || !after || written === undefined) return;
    this.ctx.count('invariants.abi-hygiene');
    for (let i = Math.min(written, sent); i < after.length; i++) {
      const want = i < sent ? buf.fill(given, i) : (given[i] ?? 0);
      if (after[i] === want) continue;
      out.push(this.obj('abi-hygiene', ev, `${req.cmd} with ${buf.what} left byte ${i} of the ${after.length}-byte buffer at ${buf.field} 0x${(after[i] ?? 0).toString(16)}: it writes ${buf.rule(sent, written)}, and nothing past`, `0x${want.toString(16)}`, `0x${(after[i] ?? 0).toString(16)}`));
      return;
    }
  }

  /**
   * An attach by IOAS id lands on a paging HWPT of that IOAS: an automatic one
   * it finds on the IOAS's own hwpt_list or a new one
   * (iommufd_device_auto_get_domain). One of another IOAS would let the
   * device reach mappings it was never given.
   */
  private checkAttachedWithin(ev: StepEvent, ctx: CtxRec, asked: unknown, answered: unknown, out: Objection[]): void {
    const ioas = this.shadow.obj(ctx, asked);
    if (ioas?.type !== 'ioas' || answered === undefined) return;
    const at = this.shadow.obj(ctx, answered);
    if (!at) return; // a new automatic HWPT
    this.ctx.count('invariants.group-isolation');
    if (at.type === 'hwpt_paging' && at.ioas === ioas.id) return;
    const what = at.type === 'hwpt_paging' ? `HWPT ${at.id}, a domain of IOAS ${at.ioas}` : `${objType(at)} ${at.id}, not a paging HWPT`;
    out.push(this.obj('group-isolation', ev, `${commandName(ev.request)} asked for IOAS ${ioas.id} and answered ${what}: a device attached to an IOAS reaches that IOAS's mappings only`, `a paging HWPT of IOAS ${ioas.id}`, what));
  }

  /**
   * EEXIST from a new area means an area is already there (iopt_check_iova:
   * iopt_area_iter_first over [iova, last]; the automatic search skips areas
   * and answers ENOSPC): with nothing mapped in the range, it is an area the
   * IOAS still keeps after it was unmapped, or a range misjudged.
   */
  private checkExists(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || errnoName(errno ?? 0) !== 'EEXIST' || this.shadow.lost) return;
    if ((ev.template.defects ?? []).some((d) => d.abi)) return;
    const v = req.arg.fields;
    const ctx = this.shadow.ctxOfFd(req.fd);
    let ioas: IoasObj | undefined;
    let r: Range | undefined;
    if (req.cmd === 'IOMMU_IOAS_MAP' || req.cmd === 'IOMMU_IOAS_COPY') {
      ioas = ctx && this.shadow.ioas(ctx, v[req.cmd === 'IOMMU_IOAS_MAP' ? 'ioas_id' : 'dst_ioas_id']);
      r = (toNum(v['flags']) & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0 ? rangeOf(toBig(v[req.cmd === 'IOMMU_IOAS_MAP' ? 'iova' : 'dst_iova']), toBig(v['length'])) : undefined;
      if (ioas && (toNum(v['flags']) & IOMMU_IOAS_MAP_FIXED_IOVA) === 0) {
        this.ctx.count('invariants.lifetime');
        out.push(this.obj('lifetime', ev, `${req.cmd} with an automatic IOVA failed with EEXIST: the search skips areas (ENOSPC when nothing fits)`, 'ok or ENOSPC', 'EEXIST'));
        return;
      }
    } else if (req.cmd === 'VFIO_IOMMU_MAP_DMA') {
      ioas = ctx && ctx.compatIoas !== undefined ? this.shadow.ioas(ctx, ctx.compatIoas) : undefined;
      r = rangeOf(toBig(v['iova']), toBig(v['size']));
    }
    if (!ioas || !r) return;
    this.ctx.count('invariants.lifetime');
    const range = r;
    if (!ioas.segs.some((seg) => overlaps(seg, range))) {
      out.push(this.obj('lifetime', ev, `${req.cmd} at ${hexOf(r.start)}..${hexOf(r.last)} failed with EEXIST, but IOAS ${ioas.id} maps nothing there: an area the IOAS kept after it went, or a range misjudged at its ends`, 'not EEXIST', 'EEXIST'));
      return;
    }
    // The area test is iopt_check_iova's last: an IOVA off the alignment and a range that meets
    // reserved IOVA are refused (EINVAL) before it is reached, whatever is mapped there.
    const before = ctx && this.checkedBeforeAreas(ctx, ioas, range);
    if (before === undefined) return;
    this.ctx.count('invariants.abi-hygiene');
    if (before) out.push(this.obj('abi-hygiene', ev, `${req.cmd} at ${hexOf(r.start)}..${hexOf(r.last)} failed with EEXIST, but ${before}: iopt_check_iova refuses that with EINVAL before it looks for an area (IOAS_MAP.OVERLAP)`, 'EINVAL', 'EEXIST'));
  }

  /**
   * What iopt_check_iova refuses before its area test, for a fixed range in
   * the IOAS: an IOVA off the IOAS's alignment, or reserved IOVA in the
   * range ('' for neither; undefined where the shadow knows neither exactly).
   */
  private checkedBeforeAreas(ctx: CtxRec, ioas: IoasObj, r: Range): string | undefined {
    const align = this.exactAlignment(ctx, ioas);
    const reserved = this.exactReserved(ctx, ioas);
    if (align !== undefined && r.start % align !== 0n) return `${hexOf(r.start)} is off the IOAS's alignment ${hexOf(align)}`;
    const hit = reserved?.sure.find((x) => overlaps(x, r));
    if (hit) return `IOAS ${ioas.id} reserves ${hexOf(hit.start)}..${hexOf(hit.last)} in the range`;
    return align === undefined && reserved === undefined ? undefined : '';
  }

  /**
   * IOAS_UNMAP.NO_SPLIT is the only ENOENT an unmap of an IOAS that maps
   * something in the range gives: an area that runs past either end of it
   * (iopt_unmap_iova_range). Where every area the range reaches lies inside
   * it, and the shadow is sure of each, ENOENT says an area is not where the
   * command that made it answered.
   */
  private checkUnmapOfWholeAreasRefused(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (errnoName(errno ?? 0) !== 'ENOENT' || req.op !== 'ioctl' || req.cmd !== 'IOMMU_IOAS_UNMAP' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly) return;
    const v = req.arg.fields;
    if (v['size'] !== undefined && toNum(v['size']) < requireLayout(this.profile, 'iommu_ioas_unmap').size) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const ioas = ctx && this.shadow.ioas(ctx, v['ioas_id']);
    const [iova, length] = [toBig(v['iova']), toBig(v['length'])];
    if (!ioas || length === 0n || iova + length - 1n > U64_MAX) return;
    const range = rangeOf(iova, length);
    if (!range) return;
    const reached = new Set(ioas.segs.filter((x) => overlaps(x, range)).map((x) => x.area));
    if (reached.size === 0) return;
    const areas = wholeAreas(ioas.segs.filter((x) => reached.has(x.area)));
    // An area the shadow is unsure of, or one a type1 cut left in pieces, is not judged.
    if (areas.length !== reached.size || areas.some(([start, last]) => start < range.start || last > range.last)) return;
    this.ctx.count('invariants.dma-confinement');
    out.push(this.obj('dma-confinement', ev, `IOMMU_IOAS_UNMAP of ${hexOf(range.start)}..${hexOf(range.last)} in IOAS ${ioas.id} failed with ENOENT, but every area it reaches lies inside it (${areas.map(([a, b]) => `${hexOf(a)}..${hexOf(b)}`).join(', ')}): ENOENT is for an area that runs past the range, so one is not where the command that made it answered`, 'ok', 'ENOENT'));
  }

  /**
   * KVM_DEV_VFIO_FILE_ADD takes VFIO files only (virt/kvm/vfio.c
   * kvm_vfio_file_add: EINVAL unless kvm_vfio_file_is_valid): a VM that
   * registered an iommufd or an access file would hold it, and everything it
   * pins, for as long as the VM lives.
   */
  private checkKvmFileKind(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'kvm_vfio_add') return;
    const f = this.shadow.fds.get(req.fd);
    if (!f?.fdOpen || f.kind === 'device') return;
    this.ctx.count('invariants.abi-hygiene');
    out.push(this.obj('abi-hygiene', ev, `kvm_vfio_add of fd ${req.fd}, ${f.kind === 'iommufd' ? 'an iommufd' : f.kind === 'access' ? 'an access file' : 'not a VFIO file'}, succeeded: KVM's VFIO device takes VFIO files only (kvm_vfio_file_is_valid, EINVAL)`, 'EINVAL', 'ok'));
  }

  /**
   * IOAS_UNMAP.U64_MAX: only iova 0 with length U64_MAX unmaps everything
   * (iopt_unmap_all); once the IOAS is found, any other request with an iova
   * or a length of ULONG_MAX or more is refused (EOVERFLOW) before a range is
   * walked. An unmap-all test that looks at the length alone unmaps every
   * area, those below the iova asked for too.
   */
  private checkUnmapOverflow(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_IOAS_UNMAP' || req.arg.kind !== 'struct' || this.shadow.lost) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0)) return;
    const v = req.arg.fields;
    const iova = toBig(v['iova']);
    const length = toBig(v['length']);
    if ((iova === 0n && length === U64_MAX) || (iova < U64_MAX && length < U64_MAX)) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!ctx?.alive || !this.shadow.ioas(ctx, v['ioas_id'])) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name === 'EOVERFLOW') return;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_UNMAP of iova ${hexOf(iova)}, length ${hexOf(length)} ${ok ? 'succeeded' : `failed with ${name}`}: only iova 0 with length U64_MAX unmaps everything; any other iova or length of ULONG_MAX or more is refused (EOVERFLOW) before a range is walked (IOAS_UNMAP.U64_MAX)`, 'EOVERFLOW', name));
  }

  /**
   * KVM.FILE_DEL_ERRNO: KVM_DEV_VFIO_FILE_DEL of an open descriptor answers
   * by whether the VM holds that file (kvm_vfio_file_del: 0 once it is
   * found on the VM's list, ENOENT when it is not there; -ENOENT is what the
   * walk starts from). Success for a file never registered, or registered
   * and deleted already, says the VM's list and its coherency were judged
   * on a file it does not hold.
   */
  private checkKvmFileDel(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'kvm_vfio_del' || this.shadow.lost) return;
    const vm = this.shadow.vms.get(req.vm);
    const f = this.shadow.fds.get(req.fd);
    if (!vm || !f?.fdOpen) return;
    const held = vm.files.includes(f);
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.lifetime');
    if (name === (held ? 'ok' : 'ENOENT')) return;
    out.push(this.obj('lifetime', ev, `kvm_vfio_del of fd ${req.fd} ${ok ? 'succeeded' : `failed with ${name}`}, but VM ${req.vm} ${held ? 'holds' : 'does not hold'} that file (${held ? 'added and not deleted since' : 'never added, or deleted already'}): kvm_vfio_file_del answers 0 for a file on the VM's list and ENOENT for any other (KVM.FILE_DEL_ERRNO)`, held ? 'ok' : 'ENOENT', name));
  }

  /**
   * GET_HW_INFO.ATS_NOT_SUPPORTED (7.3): the selftest's mock device never
   * has ATS — mock_domain_capable answers only CACHE_COHERENCY and
   * DIRTY_TRACKING — so iommufd_get_hw_info sets
   * IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED for it, and a VMM that reads the bit
   * clear would let a guest enable ATS on a device that cannot use it.
   */
  private checkMockAts(ev: StepEvent, dev: DeviceRec, caps: bigint, out: Objection[]): void {
    if (this.profile !== '7.3') return;
    this.ctx.count('invariants.abi-hygiene');
    if ((caps & BigInt(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED)) !== 0n) return;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO of mock device ${dev.key} answered out_capabilities ${hexOf(caps)} without IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED: the mock device's IOMMU reports no IOMMU_CAP_PCI_ATS_SUPPORTED (mock_domain_capable), so iommufd_get_hw_info sets the bit (GET_HW_INFO.ATS_NOT_SUPPORTED)`, 'the bit set', 'clear'));
  }

  /**
   * FILES.OPEN_UNTIL_CLOSED: a descriptor the process got (open, open_device,
   * an ioctl that returns one) names its file until the process closes it.
   * fdget finds it, so no syscall on it answers EBADF — KVM's VFIO device
   * takes it too (kvm_vfio_file_add: EBADF only where fget fails) — and its
   * close returns 0: none of iommufd's, a VFIO device's or a fault or event
   * queue's file_operations has a ->flush, the one thing close(2) of an open
   * descriptor can fail on. An implementation that dropped the descriptor
   * (an error path's fput after fd_install, a release of the wrong file)
   * shows here at the next use.
   */
  private checkOpenFile(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const o = this.openFileRefused(ev.request, ok, errno);
    if (o) out.push(this.obj('lifetime', ev, o.message, o.expected, o.observed));
  }

  /** FILES.OPEN_UNTIL_CLOSED's objection to a request's answer, if any (counted as a check where it applies). */
  private openFileRefused(req: Request, ok: boolean, errno: number | undefined): { message: string; expected: string; observed: string } | undefined {
    const fd = req.op === 'close' || req.op === 'ioctl' || req.op === 'read' || req.op === 'write' || req.op === 'kvm_vfio_add' || req.op === 'kvm_vfio_del' ? req.fd : undefined;
    const f = fd === undefined ? undefined : this.shadow.fds.get(fd);
    if (!f?.fdOpen) return undefined;
    // An ioctl's EBADF may be about a descriptor its argument names (the iommufd a bind takes, a
    // MAP_FILE's memfd): judged only where each of those is one the process holds open.
    if (req.op === 'ioctl' && (req.arg.kind === 'raw' || (req.arg.kind === 'struct' && !fdArgsOpen(req.arg.fields, this.shadow)))) return undefined;
    this.ctx.count('invariants.lifetime');
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    if (req.op === 'close' ? ok : name !== 'EBADF') return undefined;
    const what = f.kind === 'iommufd' ? 'an iommufd' : f.kind === 'device' ? 'a VFIO device file' : `a file (${f.kind})`;
    const message = `${req.op === 'ioctl' ? commandName(req) : req.op} on fd ${fd}, ${what} the process opened and has not closed, failed with ${name}: a descriptor names its file until it is closed${req.op === 'close' ? ', and closing it succeeds (no ->flush to fail)' : ' (fdget finds it)'}`;
    return { message, expected: req.op === 'close' ? 'ok' : 'not EBADF', observed: name };
  }

  /**
   * IOAS_MAP.FIXED_FREE and IOAS_MAP.AUTO_FITS: a map is refused for what
   * the IOAS holds (iopt_alloc_area_pages, iopt_check_iova: an area there, a
   * reserved range, IOVA outside the allowed ranges, a start, length or
   * user_va off the IOAS alignment; for an automatic IOVA, iopt_alloc_iova:
   * ENOSPC where no hole fits) or for the pages (EFAULT from pinning, ENOMEM
   * from the charge or an allocation). Where none of the first applies — a
   * fixed range that is free, allowed and unreserved, or an automatic one
   * for which the first-fit search finds a hole, everything aligned — only
   * EFAULT and ENOMEM remain (and ERANGE, a table's reach inside its
   * aperture), and EFAULT only where the user range is not all in one buffer
   * the process maps with no page made read-only or inaccessible: any other refusal is the implementation turning down a valid
   * map (a leftover lower table taken for a mapping, a hole the search
   * missed). Judged where the shadow knows the IOAS's areas, reserved IOVA
   * and alignment exactly.
   */
  private checkMapRefused(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_IOAS_MAP' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    // ERANGE: an IOVA past what the domain's table can reach though inside its reported aperture (6.12
    // AMD v1: iommu_v1_map_pages past the sixth level) — a driver's limit, not a refusal of free IOVA.
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly || name === 'ENOMEM' || name === 'ERANGE') return;
    const v = req.arg.fields;
    // EFAULT is the pages' answer, where the process could not give them (a VA it does not map, or protects).
    if (name === 'EFAULT' && !this.shadow.userRangeSound(toBig(v['user_va']), toBig(v['length']))) return;
    const flags = toNum(v['flags']);
    const rw = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
    if ((flags & ~(rw | IOMMU_IOAS_MAP_FIXED_IOVA)) !== 0 || (flags & rw) === 0 || toNum(v['__reserved'] ?? 0) !== 0) return;
    // An iova field of ULONG_MAX is refused first, an automatic map's too (EOVERFLOW).
    if (toBig(v['iova'] ?? 0) >= U64_MAX) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const ioas = ctx?.alive ? this.shadow.ioas(ctx, v['ioas_id']) : undefined;
    const fixed = (flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
    const length = toBig(v['length']);
    const va = toBig(v['user_va']);
    if (!ctx || !ioas || ioas.segs.some((x) => x.uncertain) || length === 0n || length > U64_MAX - PAGE || va + length > U64_MAX) return;
    const placement = this.placementOf(ctx, ioas, va, length);
    if (!placement) return;
    const { align, reserved } = placement;
    // A VT-d nesting parent in the IOAS takes no read-only IOPTE (ERRATA_772415_SPR17).
    if (name === 'EINVAL' && (flags & IOMMU_IOAS_MAP_WRITEABLE) === 0 && this.shadow.refusesReadOnly(ctx, ioas.id)) return;
    this.ctx.count('invariants.abi-hygiene');
    if (fixed) {
      const iova = toBig(v['iova']);
      if (iova + length - 1n > U64_MAX || iova % align !== 0n) return;
      const r = { start: iova, last: iova + length - 1n };
      if (ioas.segs.some((x) => overlaps(x, r)) || reserved.some((x) => overlaps(x, r))) return;
      if (ioas.allowed.length > 0 && !ioas.allowed.some((x) => x.start <= r.start && r.last <= x.last)) return;
      out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_MAP of ${hexOf(r.start)}..${hexOf(r.last)} (FIXED_IOVA) into IOAS ${ioas.id} failed with ${name}, but that IOVA is free, allowed and reserved by nothing, and the IOVA, length and user_va are aligned to the IOAS's ${align}: only the pages or the table's reach can refuse it then (EFAULT, ENOMEM, ERANGE)${name === 'EFAULT' ? ', and its user range lies in a buffer the process maps, every page of it accessible (no EFAULT from the pages)' : ''} (IOAS_MAP.FIXED_FREE)`, 'ok (or EFAULT/ENOMEM/ERANGE)', name));
      return;
    }
    const at = this.autoFit(ioas, placement, va, length);
    if (at === undefined) return;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_MAP of ${hexOf(length)} byte(s) at an automatic IOVA into IOAS ${ioas.id} failed with ${name}, but the first-fit search finds ${hexOf(at)}..${hexOf(at + length - 1n)} free, allowed and reserved by nothing (aligned to ${hexOf(autoIovaAlignment(va, length))} with user_va's page offset), and the length and user_va are aligned to the IOAS's ${align}: only the pages or the table's reach can refuse it then (EFAULT, ENOMEM, ERANGE)${name === 'EFAULT' ? ', and its user range lies in a buffer the process maps, every page of it accessible (no EFAULT from the pages)' : ''} (IOAS_MAP.AUTO_FITS)`, 'ok (or EFAULT/ENOMEM/ERANGE)', name));
  }

  /**
   * The page offset of the user memory an automatic IOVA must keep
   * (iopt_alloc_area_pages hands iopt_alloc_iova the first piece's user
   * address): a MAP's user_va; a COPY's, the address behind src_iova in the
   * source IOAS, where the shadow knows it.
   */
  private autoPageOffset(ctx: CtxRec, cmd: string, v: StructValue): bigint | undefined {
    if (cmd === 'IOMMU_IOAS_MAP') return toBig(v['user_va']) % PAGE;
    // syzkaller's form (MOCK_FLAGS_ACCESS_SYZ) names the source by area and offset: not followed here.
    const src = cmd === 'IOMMU_IOAS_COPY' && (toNum(v['flags']) & MOCK_FLAGS_ACCESS_SYZ) === 0 ? this.shadow.ioas(ctx, v['src_ioas_id']) : undefined;
    const at = toBig(v['src_iova']);
    const seg = src ? this.shadow.segmentAt(src, at) : undefined;
    return seg && !seg.uncertain ? (seg.ps.va + seg.psOff + (at - seg.start)) % PAGE : undefined;
  }

  /**
   * The IOAS's alignment and the IOVA that may be reserved in it, where the
   * shadow knows both exactly and [va, va + length) is aligned to it: what a
   * rule that a map or copy must succeed stands on.
   */
  private placementOf(ctx: CtxRec, ioas: IoasObj, va: bigint, length: bigint): { align: bigint; reserved: Range[] } | undefined {
    const align = this.exactAlignment(ctx, ioas);
    const reserved = this.possiblyReserved(ctx, ioas);
    if (align === undefined || reserved === undefined || length % align !== 0n || va % align !== 0n) return undefined;
    return { align, reserved };
  }

  /**
   * Where iopt_alloc_iova puts [va, va + length) in the IOAS: the first fit,
   * if any; none past ULONG_MAX / 2 (EOVERFLOW) or where the search's
   * alignment is below the IOAS's (EINVAL).
   */
  private autoFit(ioas: IoasObj, { align, reserved }: { align: bigint; reserved: Range[] }, va: bigint, length: bigint): bigint | undefined {
    if (length >= U64_MAX / 2n || autoIovaAlignment(va, length) < align) return undefined;
    return autoIovaFirstFit([...reserved, ...ioas.segs], ioas.allowed, va, length);
  }

  /**
   * IOAS_MAP.LENGTH, IOAS_MAP.UPTR_WRAP(_FIRST), IOAS_MAP.AUTO_TOO_LONG: once
   * iommufd_ioas_map's own tests pass (flags, __reserved, an iova and length
   * below ULONG_MAX, READ or WRITE, a live IOAS), the length and user_va are
   * judged before anything is pinned or placed. iopt_alloc_user_pages (7.3)
   * refuses a user_va + length that wraps (EOVERFLOW) and then, in
   * iopt_alloc_pages, a length of 0 or above SIZE_MAX - PAGE_SIZE (EINVAL);
   * 6.12's iopt_alloc_pages tests the length first. With both passed,
   * iopt_alloc_area_pages refuses a length off the IOAS's alignment (EINVAL:
   * 1 while nothing raised it), and then an automatic IOVA for a length of
   * ULONG_MAX / 2 or more is refused by iopt_alloc_iova's first test
   * (EOVERFLOW); only small allocations come between (ENOMEM). Judged where
   * the shadow knows the alignment. A bound tested one off, or left out,
   * answers otherwise.
   */
  private checkMapLengths(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_IOAS_MAP' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0)) return;
    const v = req.arg.fields;
    const flags = toNum(v['flags']);
    const rw = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
    const length = toBig(v['length']);
    const va = toBig(v['user_va']);
    if ((flags & ~(rw | IOMMU_IOAS_MAP_FIXED_IOVA)) !== 0 || (flags & rw) === 0 || toNum(v['__reserved'] ?? 0) !== 0 || toBig(v['iova'] ?? 0) >= U64_MAX || length >= U64_MAX) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const ioas = ctx?.alive ? this.shadow.ioas(ctx, v['ioas_id']) : undefined;
    if (!ctx || !ioas) return;
    const wraps = va + length > U64_MAX;
    const badLength = length === 0n || length > U64_MAX - PAGE;
    const auto = (flags & IOMMU_IOAS_MAP_FIXED_IOVA) === 0;
    const align = this.exactAlignment(ctx, ioas);
    const [want, why] =
      this.profile === '7.3' && wraps
        ? ['EOVERFLOW', 'iopt_alloc_user_pages refuses a user_va + length that wraps (EOVERFLOW) before the length is judged (IOAS_MAP.UPTR_WRAP_FIRST)']
        : badLength
          ? ['EINVAL', `iopt_alloc_pages refuses a length of 0 or above SIZE_MAX - PAGE_SIZE (EINVAL)${this.profile === '6.12' ? ', before it looks at user_va + length' : ''} (IOAS_MAP.LENGTH)`]
          : wraps
            ? ['EOVERFLOW', 'iopt_alloc_pages refuses a user_va + length that wraps (EOVERFLOW) (IOAS_MAP.UPTR_WRAP)']
            : align === undefined
              ? [undefined, '']
              : length % align !== 0n
                ? ['EINVAL', `iopt_alloc_area_pages refuses a length off the IOAS's alignment (${hexOf(align)}) first (EINVAL) (IOAS_MAP.LENGTH_ALIGN)`]
                : auto && length >= U64_MAX / 2n
                  ? ['EOVERFLOW', 'iopt_alloc_iova refuses a length of ULONG_MAX / 2 or more first (EOVERFLOW) (IOAS_MAP.AUTO_TOO_LONG)']
                  : [undefined, ''];
    if (want === undefined) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name === want || (name === 'ENOMEM' && !badLength && !wraps)) return;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_MAP of ${hexOf(length)} byte(s) from user_va ${hexOf(va)}${auto ? ' at an automatic IOVA' : ''} ${ok ? 'succeeded' : `failed with ${name}`}: ${why}`, want, name));
  }

  /**
   * IOAS_COPY.LENGTH: a COPY of length 0 with flags it takes, from a
   * live IOAS of the context and IOVAs below ULONG_MAX, is refused by
   * iopt_get_pages' first test (EINVAL), before the source range's last
   * IOVA is computed (a wrapped one answers EOVERFLOW or ENOENT).
   */
  private checkCopyZeroLength(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_IOAS_COPY' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0)) return;
    const v = req.arg.fields;
    const flags = toNum(v['flags']);
    const rw = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
    if (toBig(v['length']) !== 0n || (flags & ~(rw | IOMMU_IOAS_MAP_FIXED_IOVA)) !== 0 || (flags & rw) === 0 || toBig(v['src_iova']) >= U64_MAX || toBig(v['dst_iova']) >= U64_MAX) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!ctx?.alive || !this.shadow.ioas(ctx, v['src_ioas_id'])) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EINVAL') out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_COPY of length 0 from IOVA ${hexOf(toBig(v['src_iova']))} of IOAS ${toNum(v['src_ioas_id'])} ${ok ? 'succeeded' : `failed with ${name}`}: iopt_get_pages refuses a zero length first (EINVAL), before it computes the last IOVA (IOAS_COPY.LENGTH)`, 'EINVAL', name));
  }

  /**
   * IOAS_COPY.AUTO_FITS: a copy to an automatic IOVA of a range one area of
   * the source covers is refused only for the source (iopt_get_pages: a
   * hole), for the destination (iopt_alloc_area_pages: a length off its
   * alignment, no hole that fits; iopt_insert_area: WRITEABLE over pages
   * pinned read-only, a start off its alignment) or for the pages (ENOMEM,
   * EFAULT from pinning, ERANGE a table's reach). Where none of the first
   * applies, any other refusal turns down a valid copy, such as a
   * syzkaller-form source (MOCK_FLAGS_ACCESS_SYZ) decoded in the wrong IOAS.
   */
  private checkCopyRefused(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_IOAS_COPY' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly || name === 'EFAULT' || name === 'ENOMEM' || name === 'ERANGE') return;
    const v = req.arg.fields;
    const flags = toNum(v['flags']);
    const rw = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
    // The syzkaller form exists where the selftest is built (CONFIG_IOMMUFD_TEST): elsewhere it is an unknown flag.
    const syz = (flags & MOCK_FLAGS_ACCESS_SYZ) !== 0;
    if ((flags & ~(rw | MOCK_FLAGS_ACCESS_SYZ)) !== 0 || (flags & rw) === 0 || (syz && !this.can.selftest)) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const src = ctx?.alive ? this.shadow.ioas(ctx, v['src_ioas_id']) : undefined;
    const dst = ctx?.alive ? this.shadow.ioas(ctx, v['dst_ioas_id']) : undefined;
    if (!ctx || !src || !dst || src.segs.some((x) => x.uncertain) || dst.segs.some((x) => x.uncertain)) return;
    const length = toBig(v['length']);
    const start = this.shadow.copySrcIova(src, v);
    if (start === undefined || length === 0n || length >= U64_MAX / 2n || start >= U64_MAX - length) return;
    const r = { start, last: start + length - 1n };
    const seg = this.shadow.segmentAt(src, r.start);
    if (!seg || seg.last < r.last || ((flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0 && !seg.ps.writable)) return;
    const va = seg.ps.va + seg.psOff + (r.start - seg.start);
    const placement = this.placementOf(ctx, dst, va, length);
    if (!placement) return;
    // A VT-d nesting parent in the IOAS takes no read-only IOPTE (ERRATA_772415_SPR17).
    if (name === 'EINVAL' && (flags & IOMMU_IOAS_MAP_WRITEABLE) === 0 && this.shadow.refusesReadOnly(ctx, dst.id)) return;
    const at = this.autoFit(dst, placement, va, length);
    if (at === undefined) return;
    const { align } = placement;
    this.ctx.count('invariants.abi-hygiene');
    out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_COPY of ${hexOf(r.start)}..${hexOf(r.last)}${syz ? ` (syzkaller form: area ${Number(BigInt.asUintN(32, toBig(v['src_iova'])))} of IOAS ${src.id} plus an offset)` : ''} from IOAS ${src.id} to an automatic IOVA in IOAS ${dst.id} failed with ${name}, but one area of the source maps all of it${(flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0 ? ' with pages pinned for writing' : ''}, and the first-fit search finds ${hexOf(at)}..${hexOf(at + length - 1n)} free, allowed and reserved by nothing in the destination, aligned to its ${align}: only the pages or the table's reach can refuse it then (EFAULT, ENOMEM, ERANGE) (IOAS_COPY.AUTO_FITS)`, 'ok (or EFAULT/ENOMEM/ERANGE)', name));
  }

  /**
   * VFIO_COMPAT.TYPE1_SPLIT, the side that must succeed: with large pages off
   * on the compat IOAS (type1 v1), VFIO_IOMMU_UNMAP_DMA first cuts the areas
   * at both ends of the range (iopt_cut_iova) and then unmaps what lies
   * inside. A cut fails only where iopt_area_split refuses it: a cut point
   * not aligned to the IOAS's alignment (in IOVA or in the pages), an area
   * an access holds pages of. With neither, and no access pinning in the
   * range, the unmap succeeds: a refusal keeps mapped and pinned what the
   * type1 user unmapped. A cut on an area's first byte is no cut either
   * (iopt_area_split returns 0 at both ends of its area), so a range
   * starting one byte into an area, or ending on its first byte, leaves that
   * area whole across the range's end: the unmap meets an area reaching past
   * the range and answers ENOENT (iopt_unmap_iova_range), never a refused cut.
   */
  private checkType1Cut(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'VFIO_IOMMU_UNMAP_DMA' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly || errnoName(errno ?? 0) === 'EFAULT') return;
    const v = req.arg.fields;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const ioas = ctx && this.shadow.ioas(ctx, ctx.compatIoas);
    const iova = toBig(v['iova']);
    const size = toBig(v['size']);
    if (!ctx || !ioas || ioas.largePages || toNum(v['flags']) !== 0 || size === 0n || iova + size - 1n > U64_MAX) return;
    const align = this.exactAlignment(ctx, ioas);
    const range = { start: iova, last: iova + size - 1n };
    if (align === undefined || ioas.segs.some((x) => x.uncertain)) return;
    const pinned = (r: Range): boolean => [...ctx.objects.values()].some((o) => o.type === 'access' && o.ioas === ioas.id && [...o.items.values()].some((it) => overlaps(it, r)));
    if (pinned(range)) return;
    let crossing = false;
    for (const cut of iova === 0n ? [range.last] : [range.last, iova - 1n]) {
      const seg = this.shadow.segmentAt(ioas, cut);
      if (!seg) continue;
      // The kernel's area: the run of segments of one area around the cut.
      let first = seg;
      let last = seg;
      for (let x: Segment | undefined; first.start > 0n && (x = this.shadow.segmentAt(ioas, first.start - 1n)) && x.area === seg.area; ) first = x;
      for (let x: Segment | undefined; last.last < U64_MAX && (x = this.shadow.segmentAt(ioas, last.last + 1n)) && x.area === seg.area; ) last = x;
      // iopt_area_split does nothing at either end of its area. At the last byte the area already
      // ends at the cut; at the first it stays whole across the cut, and the unmap then meets an
      // area reaching past the range (iopt_unmap_iova_range: ENOENT), as the kernel's own does.
      if (cut === last.last) continue;
      if (cut === first.start) {
        crossing = true;
        continue;
      }
      const next = this.shadow.segmentAt(ioas, cut + 1n);
      if (!next || next.area !== seg.area) return;
      const va = next.ps.va + next.psOff + (cut + 1n - next.start);
      if ((cut + 1n) % align !== 0n || va % align !== 0n || pinned({ start: first.start, last: last.last })) return;
    }
    this.ctx.count('invariants.abi-hygiene');
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    if (crossing) {
      if (name !== 'ENOENT') out.push(this.obj('abi-hygiene', ev, `VFIO_IOMMU_UNMAP_DMA of ${hexOf(range.start)}..${hexOf(range.last)} on compat IOAS ${ioas.id} (large pages off: type1 v1 cuts) ${ok ? 'succeeded' : `failed with ${name}`}, but a cut point is an area's first byte, where iopt_area_split leaves the area whole, and the other needs no refused cut: the unmap meets an area reaching past the range (ENOENT) (VFIO_COMPAT.TYPE1_SPLIT)`, 'ENOENT', name));
      return;
    }
    if (ok) return;
    out.push(this.obj('abi-hygiene', ev, `VFIO_IOMMU_UNMAP_DMA of ${hexOf(range.start)}..${hexOf(range.last)} on compat IOAS ${ioas.id} (large pages off: type1 v1 cuts) failed with ${name}, but both cut points are aligned to the IOAS's ${align} in IOVA and in the pages, and no access holds pages there: iopt_area_split cuts, and the range is unmapped (VFIO_COMPAT.TYPE1_SPLIT)`, 'ok', name));
  }

  /**
   * Unmap-all of an IOAS that exists never answers ENOENT: an IOAS with
   * nothing mapped is emptied without error (iopt_unmap_all turns the range
   * walk's ENOENT into 0), whether asked as IOMMU_IOAS_UNMAP of IOVA 0 and
   * length U64_MAX or as type1's VFIO_DMA_UNMAP_FLAG_ALL on the compat IOAS.
   */
  private checkUnmapAllRefused(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (errnoName(errno ?? 0) !== 'ENOENT' || req.op !== 'ioctl' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly) return;
    const v = req.arg.fields;
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!ctx) return;
    let ioas: IoasObj | undefined;
    if (req.cmd === 'IOMMU_IOAS_UNMAP') {
      const whole = v['size'] === undefined || toNum(v['size']) >= requireLayout(this.profile, 'iommu_ioas_unmap').size;
      if (whole && toBig(v['iova']) === 0n && toBig(v['length']) === U64_MAX) ioas = this.shadow.ioas(ctx, v['ioas_id']);
    } else if (req.cmd === 'VFIO_IOMMU_UNMAP_DMA') {
      const all = toNum(v['flags']) === VFIO_DMA_UNMAP_FLAG_ALL && toBig(v['iova']) === 0n && toBig(v['size']) === 0n;
      const whole = v['argsz'] === undefined || toNum(v['argsz']) >= offsetofend(this.profile, 'vfio_iommu_type1_dma_unmap', 'size');
      if (all && whole && ctx.compatIoas !== undefined) ioas = this.shadow.ioas(ctx, ctx.compatIoas);
    }
    if (!ioas) return;
    this.ctx.count('invariants.abi-hygiene');
    out.push(this.obj('abi-hygiene', ev, `${req.cmd} of everything in IOAS ${ioas.id} failed with ENOENT${ioas.segs.length === 0 ? ', and the IOAS maps nothing' : ''}: unmap-all of an IOAS that exists empties it without error (iopt_unmap_all)`, 'ok', 'ENOENT'));
  }

  /**
   * IOAS_COPY takes the pages of areas that cover its whole source range
   * (iopt_get_pages: ENOENT unless iopt_area_contig_done), so a copy that
   * succeeded over a hole in the source mapped pages that were never mapped
   * there. (Left unjudged, the shadow could not follow the copy and would
   * stop judging the case.) A writable copy needs source pages pinned for
   * writing (iopt_insert_area: EPERM), or a device could write pages the
   * process may only read.
   */
  private checkCopySource(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_IOAS_COPY' || req.arg.kind !== 'struct' || this.shadow.lost) return;
    const v = req.arg.fields;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const src = ctx && this.shadow.ioas(ctx, v['src_ioas_id']);
    const iova = this.shadow.copySrcIova(src, v);
    const r = iova === undefined ? undefined : rangeOf(iova, toBig(v['length']));
    if (!src || !r) return;
    this.ctx.count('invariants.dma-confinement');
    const writable = (toNum(v['flags']) & IOMMU_IOAS_MAP_WRITEABLE) !== 0;
    for (let at = r.start; ; ) {
      const seg = this.shadow.segmentAt(src, at);
      if (!seg) {
        out.push(this.obj('dma-confinement', ev, `IOMMU_IOAS_COPY of ${hexOf(r.start)}..${hexOf(r.last)} from IOAS ${src.id} succeeded, but IOAS ${src.id} maps nothing at ${hexOf(at)}: a copy takes only pages its source maps`, 'ENOENT', 'ok'));
        return;
      }
      if (writable && !seg.ps.writable) {
        out.push(this.obj('dma-confinement', ev, `IOMMU_IOAS_COPY with WRITEABLE of ${hexOf(r.start)}..${hexOf(r.last)} succeeded, but the pages at ${hexOf(at)} in IOAS ${src.id} were pinned read-only (mapped without WRITEABLE): a writable area needs pages pinned for writing (iopt_insert_area: EPERM)`, 'EPERM', 'ok'));
        return;
      }
      if (seg.last >= r.last) return;
      at = seg.last + 1n;
    }
  }

  /**
   * IOAS_COPY.NOT_COVERED: a copy whose source range has a hole fails in
   * iopt_get_pages with ENOENT (!iopt_area_contig_done), and nothing before
   * it refuses a well-formed request: known flags with READ or WRITE, values
   * below ULONG_MAX, a length that is not 0 and does not wrap the source
   * range, a live source IOAS. Any other errno there says the walk over
   * the source went past the hole and failed later, on pages it should never
   * have taken (ENOMEM aside).
   */
  private checkCopyHoleErrno(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_IOAS_COPY' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly) return;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    if (name === 'ENOENT' || name === 'ENOMEM') return;
    const v = kernelFields(this.profile, req);
    const ctx = this.shadow.ctxOfFd(req.fd);
    const src = v && ctx && this.shadow.ioas(ctx, v['src_ioas_id']);
    if (!v || !src) return;
    const flags = toNum(v['flags']);
    if ((flags & ~(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) !== 0 || (flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) === 0) return;
    const length = toBig(v['length']);
    if (length >= U64_MAX || toBig(v['dst_iova']) >= U64_MAX) return;
    const r = rangeOf(toBig(v['src_iova']), length);
    if (!r || r.last >= U64_MAX) return;
    for (let at = r.start; ; ) {
      const seg = this.shadow.segmentAt(src, at);
      if (seg?.uncertain) return;
      if (!seg) {
        this.ctx.count('invariants.dma-confinement');
        out.push(this.obj('dma-confinement', ev, `IOMMU_IOAS_COPY of ${hexOf(r.start)}..${hexOf(r.last)} from IOAS ${src.id} failed with ${name}, but IOAS ${src.id} maps nothing at ${hexOf(at)}: the walk over the source stops at a hole with ENOENT (iopt_get_pages), before anything else can fail, so it went past the hole (IOAS_COPY.NOT_COVERED)`, 'ENOENT', name));
        return;
      }
      if (seg.last >= r.last) return;
      at = seg.last + 1n;
    }
  }

  /**
   * Which domain an answer names, read before the shadow applies it: an
   * attach by IOAS id lands on an automatic HWPT (iommufd_device_auto_get_domain
   * considers only auto_domain ones), never on one the user allocated, which
   * the user could then no longer destroy; the compat container reports
   * VFIO_DMA_CC_IOMMU only while every paging HWPT of its IOAS enforces
   * coherency (iommufd_vfio_cc_iommu); GET_HW_INFO's dirty-tracking bit is
   * the device's own capability.
   */
  private checkDomainChoice(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || !ev.response.ok) return;
    // A device file's ids are its bound context's; the others name their context by the fd.
    const ctx = req.cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' ? this.shadow.fds.get(req.fd)?.device?.bound?.ctx : this.shadow.ctxOfFd(req.fd);
    if (!ctx) return;
    const outOf = (ev.response.result as { out?: StructValue }).out;
    if (req.cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' && req.arg.kind === 'struct') {
      if (this.shadow.obj(ctx, req.arg.fields['pt_id'])?.type !== 'ioas') return;
      const at = this.shadow.obj(ctx, outOf?.['pt_id']);
      this.ctx.count('invariants.lifetime');
      if (at?.type === 'hwpt_paging' && !at.auto) out.push(this.obj('lifetime', ev, `VFIO_DEVICE_ATTACH_IOMMUFD_PT to IOAS ${toNum(req.arg.fields['pt_id'])} attached the device to HWPT ${at.id}, which the user allocated: an attach to an IOAS uses an automatic HWPT only`, 'an automatic HWPT', `HWPT ${at.id}`));
      if ((!at || (at.type === 'hwpt_paging' && at.auto)) && outOf?.['pt_id'] !== undefined) this.checkAutoReuse(ev, ctx, toNum(req.arg.fields['pt_id']), toNum(outOf['pt_id']), at !== undefined, out);
      this.checkAttachedWithin(ev, ctx, req.arg.fields['pt_id'], outOf?.['pt_id'], out);
      return;
    }
    if (req.cmd === 'IOMMU_TEST_CMD' && req.arg.kind === 'struct') {
      const op = TEST_OP.get(toNum(req.arg.fields['op']));
      if (op === 'IOMMU_TEST_OP_MOCK_DOMAIN' || op === 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS') {
        // The IOAS or HWPT is cmd->id (iommufd_test_mock_domain); the HWPT it attached to comes back in out_hwpt_id.
        const o = (outOf?.[op === 'IOMMU_TEST_OP_MOCK_DOMAIN' ? 'mock_domain' : 'mock_domain_flags'] ?? {}) as StructValue;
        this.checkAttachedWithin(ev, ctx, req.arg.fields['id'], o['out_hwpt_id'], out);
      } else if (op === 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE') {
        this.checkAttachedWithin(ev, ctx, ((req.arg.fields['mock_domain_replace'] ?? {}) as StructValue)['pt_id'], ((outOf?.['mock_domain_replace'] ?? {}) as StructValue)['pt_id'], out);
      }
      return;
    }
    if (req.cmd === 'IOMMU_GET_HW_INFO' && req.arg.kind === 'struct') {
      // The capabilities are the device's (device_iommu_capable), not its unit's.
      const o = this.shadow.obj(ctx, req.arg.fields['dev_id']);
      const caps = (ev.response.result as { out?: StructValue }).out?.['out_capabilities'];
      // A caller's struct that ends before out_capabilities gets none written back.
      const size = req.arg.fields['size'];
      if (size !== undefined && toNum(size) < offsetofend(this.profile, 'iommu_hw_info', 'out_capabilities')) return;
      if (o?.type === 'device') this.checkHwInfoLength(ev, o.dev, req.arg.fields, outOf, out);
      if (o?.type === 'device') this.checkPasidWidth(ev, o.dev, outOf, out);
      if (o?.type === 'device') this.checkDriverRegisters(ev, o.dev, req.arg.fields, outOf, out);
      if (o?.type === 'device' && o.dev.mock && caps !== undefined) this.checkMockAts(ev, o.dev, toBig(caps), out);
      if (o?.type !== 'device' || o.dev.dirty === undefined || caps === undefined) return;
      this.ctx.count('invariants.abi-hygiene');
      const says = (toBig(caps) & BigInt(IOMMU_HW_CAP_DIRTY_TRACKING)) !== 0n;
      if (says !== o.dev.dirty) out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO ${says ? 'reports' : 'does not report'} IOMMU_HW_CAP_DIRTY_TRACKING for device ${o.dev.handle ?? o.dev.key}, whose IOMMU ${o.dev.dirty ? 'tracks' : 'does not track'} dirty pages for it`, o.dev.dirty ? 'the bit set' : 'the bit clear', says ? 'set' : 'clear'));
      return;
    }
    if (req.cmd === 'VFIO_CHECK_EXTENSION' && req.arg.kind === 'int') this.checkExtensionHonoured(ev, Number(req.arg.value), out);
    if (req.cmd === 'VFIO_CHECK_EXTENSION' && req.arg.kind === 'int' && Number(req.arg.value) === VFIO_DMA_CC_IOMMU && ctx.compatIoas === undefined && !this.shadow.lost) {
      const ret = (ev.response.result as { ret?: number }).ret;
      this.ctx.count('invariants.abi-hygiene');
      out.push(this.obj('abi-hygiene', ev, `VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) answered ${ret} on a context with no compat IOAS: iommufd_vfio_cc_iommu has no IOAS whose domains it could judge and returns get_compat_ioas's ENODEV (VFIO_COMPAT.DMA_CC_IOMMU)`, 'ENODEV', `ret=${ret}`));
    }
    if (req.cmd === 'VFIO_CHECK_EXTENSION' && req.arg.kind === 'int' && Number(req.arg.value) === VFIO_DMA_CC_IOMMU && ctx.compatIoas !== undefined) {
      const ret = (ev.response.result as { ret?: number }).ret;
      const loose = [...ctx.objects.values()].find((o) => o.type === 'hwpt_paging' && o.ioas === ctx.compatIoas && !o.enforcing);
      this.ctx.count('invariants.coherency');
      if (ret === 1 && loose) out.push(this.obj('coherency', ev, `VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) answers 1, but HWPT ${loose.id} of the compat IOAS ${ctx.compatIoas} does not enforce cache coherency`, 'ret=0', 'ret=1'));
      // iommufd_vfio_cc_iommu: 1 unless some paging HWPT of the compat IOAS does not enforce; one the
      // shadow knows enforcing does (a HWPT is made enforcing, or refused, and never goes back).
      const ioas = this.shadow.ioas(ctx, ctx.compatIoas);
      if (ret === 0 && !loose && ioas && !ioas.domainsUnknown && this.followsEveryHolder(ctx)) out.push(this.obj('coherency', ev, `VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) answers 0, but every paging HWPT of the compat IOAS ${ctx.compatIoas} enforces cache coherency${[...ctx.objects.values()].some((o) => o.type === 'hwpt_paging' && o.ioas === ctx.compatIoas) ? '' : ' (it has none)'}: iommufd_vfio_cc_iommu answers 1`, 'ret=1', 'ret=0'));
    }
  }

  /**
   * A replace within the IOAS a device is on that may have dropped its
   * group's regions there (see `reattached`): iommufd_device_do_replace
   * runs err_unresv only when the driver refuses the new HWPT. So a failed
   * replace onto another HWPT of the IOAS, or by the IOAS's id, may have;
   * a successful one onto another HWPT has not; a successful one by the
   * IOAS's id has exactly when the automatic search (hwpt_list, oldest
   * first, automatic HWPTs only) tried a HWPT before the one it answered,
   * each such try being a refused replace. A group with no attached device
   * starts afresh.
   */
  private noteReattach(ev: StepEvent): void {
    const req = ev.request;
    for (const g of this.reattached) if (!this.shadow.liveDevices().some((d) => d.group === g && d.hwpt !== undefined)) this.reattached.delete(g);
    if (req.op !== 'ioctl' || req.cmd !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' || req.arg.kind !== 'struct') return;
    const d = this.shadow.fds.get(req.fd)?.device;
    const at = d && this.shadow.deviceIoas(d);
    if (!d || !at) return;
    const target = at.ctx.objects.get(toNum(req.arg.fields['pt_id']));
    const ioasId = target?.type === 'ioas' ? target.id : target?.type === 'hwpt_paging' ? target.ioas : undefined;
    if (ioasId !== at.ioas.id) return;
    const ok = statusOf(req, ev.response).status === 'ok';
    if (!ok) {
      this.reattached.add(d.group);
      return;
    }
    if (target?.type !== 'ioas') return;
    const answered = toNum(((ev.response.ok ? (ev.response.result as IoctlResult).out : undefined) ?? {})['pt_id']);
    const tried = [...at.ctx.objects.values()].filter((o) => o.type === 'hwpt_paging' && o.ioas === at.ioas.id && o.auto);
    const chosen = tried.findIndex((o) => o.id === answered);
    if (chosen !== 0 && tried.length > 0) this.reattached.add(d.group);
  }


  /**
   * An unmap under an access's pins tells the accesses of the IOAS to let go
   * (iommufd_access_notify_unmap walks its access list) and retries; it gives
   * up with EDEADLOCK only when one does not respond. The accesses here are
   * the selftest's, whose unmap callback always unpins (selftest.c
   * iommufd_test_access_unmap): EDEADLOCK means one was never told — dropped
   * from the list, or listed on another IOAS — and its pins outlive the
   * mapping.
   */
  private checkUnmapDeadlock(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || (req.cmd !== 'IOMMU_IOAS_UNMAP' && req.cmd !== 'VFIO_IOMMU_UNMAP_DMA') || errnoName(errno ?? 0) !== 'EDEADLK' || this.failNth) return;
    this.ctx.count('invariants.lifetime');
    out.push(this.obj('lifetime', ev, `${req.cmd} failed with EDEADLOCK (EDEADLK): the accesses of the IOAS are told to unpin before an area under their pins goes (iommufd_access_notify_unmap), and the selftest's always do — one was not told, and its pins outlive the mapping`, 'ok or another errno', 'EDEADLK'));
  }

  /**
   * An UNMAP that succeeded reports the bytes it unmapped: exactly what the
   * areas it removed held (iopt_unmap_iova_range's unmapped, summed over
   * areas; a retry after an access let go of its pins still counts the
   * areas removed before it), read before the shadow applies it.
   */
  private checkUnmapped(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || (req.cmd !== 'IOMMU_IOAS_UNMAP' && req.cmd !== 'VFIO_IOMMU_UNMAP_DMA') || !ev.response.ok || this.shadow.lost) return;
    const field = req.cmd === 'IOMMU_IOAS_UNMAP' ? 'length' : 'size';
    // A zero length is no range (iopt_unmap_iova: EINVAL); unmap-all is spelled IOVA 0 and length
    // U64_MAX (iommufd_ioas_unmap), or VFIO_DMA_UNMAP_FLAG_ALL, never length 0.
    const all = req.cmd === 'VFIO_IOMMU_UNMAP_DMA' && (toNum(req.arg.fields['flags']) & VFIO_DMA_UNMAP_FLAG_ALL) !== 0;
    if (!all && req.arg.fields[field] !== undefined && toBig(req.arg.fields[field]) === 0n) {
      this.ctx.count('invariants.abi-hygiene');
      out.push(this.obj('abi-hygiene', ev, `${req.cmd} with ${field} 0 succeeded: a zero-length unmap is refused (iopt_unmap_iova: EINVAL), not taken for a range`, 'EINVAL', 'ok'));
      return;
    }
    if (req.cmd === 'IOMMU_IOAS_UNMAP') {
      // IOAS_UNMAP removes whole areas (iopt_unmap_iova_range: ENOENT for one only partly
      // inside); only VFIO type1 v1 cuts them, and the shadow keeps those cuts as segments.
      const v = req.arg.fields;
      const r = toBig(v['iova']) === 0n && toBig(v['length']) === U64_MAX ? undefined : rangeOf(toBig(v['iova']), toBig(v['length']));
      const ioas = r && this.shadow.ctxOfFd(req.fd) ? this.shadow.ioas(this.shadow.ctxOfFd(req.fd)!, v['ioas_id']) : undefined;
      const cut = ioas && r ? ioas.segs.find((x) => !x.uncertain && overlaps(x, r) && (x.start < r.start || x.last > r.last)) : undefined;
      if (cut && r) {
        this.ctx.count('invariants.dma-confinement');
        out.push(this.obj('dma-confinement', ev, `IOMMU_IOAS_UNMAP of ${hexOf(r.start)}..${hexOf(r.last)} succeeded, but the area at ${hexOf(cut.start)}..${hexOf(cut.last)} is only partly inside it: an unmap takes whole areas (ENOENT), it never cuts one`, 'ENOENT', 'ok'));
        return;
      }
    }
    if (req.cmd === 'VFIO_IOMMU_UNMAP_DMA') {
      // Only type1 (v1) unmaps inside a mapping: it turned large IOPTEs off for the IOAS, and the
      // unmap cuts the areas at its ends first (iommufd_vfio_unmap_dma: iopt_cut_iova). Otherwise an
      // area only partly inside the range is ENOENT (iopt_unmap_iova_range).
      const ctx = this.shadow.ctxOfFd(req.fd);
      const ioas = ctx && ctx.compatIoas !== undefined ? this.shadow.ioas(ctx, ctx.compatIoas) : undefined;
      const r = compatUnmapRange(req.arg.fields);
      const cut = ioas?.largePages && r ? ioas.segs.find((x) => !x.uncertain && overlaps(x, r) && (x.start < r.start || x.last > r.last)) : undefined;
      if (cut && r && ioas) {
        this.ctx.count('invariants.dma-confinement');
        out.push(this.obj('dma-confinement', ev, `VFIO_IOMMU_UNMAP_DMA of ${hexOf(r.start)}..${hexOf(r.last)} succeeded, but the mapping at ${hexOf(cut.start)}..${hexOf(cut.last)} is only partly inside it, and IOAS ${ioas.id} allows large IOPTEs (not type1 v1): only v1 unmaps inside a mapping (ENOENT)`, 'ENOENT', 'ok'));
        return;
      }
    }
    const reported = (ev.response.result as { out?: StructValue }).out?.[field];
    if (reported === undefined) return;
    const [t] = this.touchedBefore(req, false);
    if (!t) return;
    let want = 0n;
    for (const r of t.ranges) {
      if (t.ioas.segs.some((x) => x.uncertain && overlaps(x, r))) return;
      want += r.last - r.start + 1n;
    }
    this.ctx.count('invariants.accounting');
    if (toBig(reported) !== want) out.push(this.obj('accounting', ev, `${req.cmd} reports ${toBig(reported)} byte(s) unmapped, but the areas it removed held ${want}`, String(want), String(toBig(reported))));
  }

  /**
   * VFIO_COMPAT.UNMAP_DMA: iommufd_vfio_unmap_dma writes size back whatever
   * iopt_unmap_iova answered: the bytes it unmapped (unmap.size = unmapped,
   * then copy_to_user). A type1 v2 unmap (large pages on: no cuts) that ends
   * inside a mapping fails with ENOENT after removing, in IOVA order, the
   * areas wholly inside the range before it (none when the first area it
   * meets starts below the range): a caller reads from size what is gone.
   * Judged where the shadow knows each area the range meets whole.
   */
  private checkUnmapDmaPartial(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'VFIO_IOMMU_UNMAP_DMA' || req.arg.kind !== 'struct' || !ev.response.ok || this.shadow.lost || this.failNth || req.arg.readOnly) return;
    if (errnoName(errno ?? 0) !== 'ENOENT' || (ev.template.defects ?? []).length > 0 || (toNum(req.arg.fields['flags']) & VFIO_DMA_UNMAP_FLAG_ALL) !== 0) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const ioas = ctx && ctx.compatIoas !== undefined ? this.shadow.ioas(ctx, ctx.compatIoas) : undefined;
    const r = compatUnmapRange(req.arg.fields);
    const reported = (ev.response.result as { out?: StructValue }).out?.['size'];
    if (!ioas?.largePages || !r || reported === undefined || ioas.segs.some((x) => x.uncertain && overlaps(x, r))) return;
    const met = wholeAreas(ioas.segs.filter((x) => overlaps(x, r))).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const pieces = ioas.segs.filter((x) => overlaps(x, r));
    // Every segment the range meets belongs to an area the shadow knows whole.
    if (!pieces.every((x) => met.some(([a, b]) => a <= x.start && x.last <= b))) return;
    let want = 0n;
    for (const [a, b] of met) {
      if (a < r.start || b > r.last) break;
      want += b - a + 1n;
    }
    this.ctx.count('invariants.accounting');
    if (toBig(reported) === want) return;
    out.push(this.obj('accounting', ev, `VFIO_IOMMU_UNMAP_DMA of ${hexOf(r.start)}..${hexOf(r.last)} failed with ENOENT and reports size ${toBig(reported)}, but the areas wholly inside the range before the first it cuts hold ${want} byte(s): iommufd_vfio_unmap_dma writes back what iopt_unmap_iova unmapped, whatever it answered (VFIO_COMPAT.UNMAP_DMA)`, String(want), String(toBig(reported))));
  }

  /**
   * The iommu group of the device a step acts on (removes, closes, binds,
   * attaches or detaches), read before the step: its other members must keep
   * reaching exactly what they reached, whatever the step did to ownership
   * and attachment (a group released while a sibling is still bound, a
   * sibling left on the old domain).
   */
  private groupOfRequest(req: Request): string | undefined {
    const d =
      req.op === 'device_remove' ? this.shadow.devices.get(`env:${req.device}`)
      : req.op === 'close' || (req.op === 'ioctl' && typeof req.cmd === 'string' && req.cmd.startsWith('VFIO_DEVICE_')) ? this.shadow.fds.get(req.fd)?.device
      : undefined;
    return d?.group;
  }

  /**
   * Which IOAS each device reaches (through its group's attachment) before a
   * step that may change attachments: binding, attaching, detaching,
   * replacing, destroying, closing or removing. Undefined for other steps.
   */
  private reach(req: Request): Map<DeviceRec, IoasObj | undefined> | undefined {
    if (req.op !== 'ioctl' && req.op !== 'close' && req.op !== 'device_remove') return undefined;
    const m = new Map<DeviceRec, IoasObj | undefined>();
    for (const d of this.shadow.liveDevices()) {
      if (d.handle === undefined) continue;
      const via = this.groupAttachment(d);
      m.set(d, via ? this.shadow.deviceIoas(via)?.ioas : undefined);
    }
    return m;
  }

  /**
   * Devices whose reach a step changed, with the IOASes they reached before
   * and after: what a device could reach is exactly what such a step touches
   * for it (a detach that leaves the old domain in place, a replace that
   * keeps translating through the old table, a group member left behind).
   */
  private movedDevices(before: Map<DeviceRec, IoasObj | undefined> | undefined): Moved[] {
    if (!before) return [];
    const out: Moved[] = [];
    for (const [d, was] of before) {
      if (d.removed) continue;
      const via = this.groupAttachment(d);
      const now = via ? this.shadow.deviceIoas(via)?.ioas : undefined;
      if (now === was) continue;
      if (was) out.push({ d, ioas: was, left: true });
      if (now) out.push({ d, ioas: now, left: false });
    }
    return out;
  }

  /**
   * The pages each writable mapping has pinned, before a step, while the
   * process has pages it cannot write: a pin for writing (iopt_pages.writable:
   * pin_user_pages with FOLL_WRITE) of such a page fails with EFAULT, so a
   * device can never write memory the process itself may not. (The step that
   * makes pages read-only, mem_alloc or mem_protect, pins nothing itself.)
   */
  private writePins(): Map<PageSet, ReadonlySet<number>> | undefined {
    if (this.shadow.readOnlyPages.size === 0) return undefined;
    const m = new Map<PageSet, ReadonlySet<number>>();
    for (const ps of this.shadow.pagesets) if (ps.writable) m.set(ps, this.shadow.pinnedPages(ps));
    return m;
  }

  /** A page a writable mapping pinned during the step must be writable by the process (checked when pinned: a later mprotect does not unpin). */
  private checkWritePins(ev: StepEvent, before: Map<PageSet, ReadonlySet<number>> | undefined, out: Objection[]): void {
    const ro = this.shadow.readOnlyPages;
    if (!before || ro.size === 0 || this.shadow.lost) return;
    for (const ps of this.shadow.pagesets) {
      if (!ps.writable || this.shadow.uncertainPageSet(ps)) continue;
      const was = before.get(ps);
      const base = Number(ps.va / PAGE);
      for (const i of this.shadow.pinnedPages(ps)) {
        const va = BigInt(base + i) * PAGE;
        if (was?.has(i) || !ro.has(base + i) || this.shadow.vaGone(va, va + PAGE - 1n)) continue;
        this.ctx.count('invariants.dma-confinement');
        out.push(this.obj('dma-confinement', ev, `${commandName(ev.request)} pinned user page ${hexOf(va)} for a writable mapping, but the process cannot write that page: the pin for writing must fail (EFAULT), or a device writes memory the process itself may not`, 'EFAULT', 'pinned'));
        return;
      }
    }
  }

  /**
   * RLIMIT_MEMLOCK, for pages pinned by a process without CAP_IPC_LOCK
   * (pages.c incr_user_locked_vm, __account_locked_vm): a step that pinned more may
   * not leave the charge of either account mode above the limit; and a MAP
   * refused with ENOMEM must have needed more than the limit leaves, even if
   * every page of it were new to the charge (an implementation that never
   * gives a charge back refuses maps the limit allows). The user's charge is
   * per user; what else of the user's is charged is not seen here, which only
   * makes the first check weaker. Left alone after fail_nth, and while the
   * buffers are large enough for the memory itself to run out.
   */
  private checkMemlock(ev: StepEvent, ok: boolean, errno: number | undefined, before: { user: number; mm: number } | undefined, out: Objection[]): void {
    const limit = this.shadow.rlimitPages;
    if (!before || limit === null || this.shadow.lost) return;
    const base = this.baseline?.locked ?? 0;
    if (ok) {
      const after = this.shadow.memlockCharges();
      if (!after) return;
      this.ctx.count('invariants.accounting');
      if (after.user > before.user && after.user > limit) {
        out.push(this.obj('accounting', ev, `${commandName(ev.request)} pinned the user's charge up to ${after.user} page(s), over RLIMIT_MEMLOCK (${limit} pages): incr_user_locked_vm refuses with ENOMEM`, 'ENOMEM', 'ok'));
      } else if (after.mm > before.mm && base + after.mm > limit) {
        out.push(this.obj('accounting', ev, `${commandName(ev.request)} pinned mm->locked_vm up to ${base + after.mm} page(s), over RLIMIT_MEMLOCK (${limit} pages): __account_locked_vm refuses with ENOMEM`, 'ENOMEM', 'ok'));
      }
      return;
    }
    const req = ev.request;
    if (errnoName(errno ?? 0) !== 'ENOMEM' || this.failNth || req.op !== 'ioctl' || req.arg.kind !== 'struct' || (req.cmd !== 'IOMMU_IOAS_MAP' && req.cmd !== 'VFIO_IOMMU_MAP_DMA')) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const v = req.arg.fields;
    const va = toBig(req.cmd === 'IOMMU_IOAS_MAP' ? v['user_va'] : v['vaddr']);
    const length = toBig(req.cmd === 'IOMMU_IOAS_MAP' ? v['length'] : v['size']);
    let bufferBytes = 0;
    for (const b of this.shadow.buffers.values()) bufferBytes += b.length;
    if (!ctx || length === 0n || bufferBytes > MEMLOCK_CHECKED_BUFFER_BYTES) return;
    const pages = Number((va + length - 1n) / PAGE - va / PAGE + 1n);
    const charged = ctx.accountMM ? base + before.mm : before.user;
    this.ctx.count('invariants.accounting');
    if (charged + pages <= limit) {
      out.push(this.obj('accounting', ev, `${req.cmd} of ${pages} page(s) failed with ENOMEM, but ${charged} page(s) are charged (${ctx.accountMM ? 'mm->locked_vm' : "the user's locked_vm"}) and RLIMIT_MEMLOCK is ${limit}: pinning all of them fits (a charge not given back?)`, 'ok', 'ENOMEM'));
    }
  }

  // ---------------------------------------------------------------- abi-hygiene

  private checkAbi(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const defects = ev.template.defects ?? [];
    if (defects.length === 0 || ev.request.op !== 'ioctl') return;
    const cmd = commandName(ev.request).split('/')[0] as string;
    const abi = defects.filter((d) => d.abi && !(d.field && UNCHECKED_RESERVED.has(`${cmd}:${d.field}`)));
    if (abi.length === 0) return;
    this.ctx.count('invariants.abi-hygiene');
    if (ok) {
      out.push(this.obj('abi-hygiene', ev, `${commandName(ev.request)} succeeded with ${abi.map((d) => d.what).join(' and ')}: the uAPI says it is refused, not ignored`, abi.map((d) => d.errno).join('|'), 'ok'));
      return;
    }
    // E2BIG is the iommufd dispatch's answer (or the VFIO device file's, for its own commands): an fd
    // that is not open never gets there (EBADF), nor does one that is some other file now (a closed
    // iommufd's number reused).
    const file = this.shadow.fds.get(ev.request.fd);
    const dispatcher = cmd.startsWith('VFIO_DEVICE_') ? 'device' : 'iommufd';
    const tail = file?.kind === dispatcher ? abi.find((d) => d.errno === 'E2BIG') : undefined;
    if (tail && abi.every((d) => d.dispatch) && errnoName(errno ?? 0) !== 'E2BIG' && !abi.some((d) => d.errno === 'EINVAL' && d.dispatch)) {
      out.push(this.obj('abi-hygiene', ev, `${commandName(ev.request)} with ${tail.what} must fail with E2BIG (include/uapi/linux/iommufd.h, "General ioctl format")`, 'E2BIG', errnoName(errno ?? 0) ?? String(errno)));
    }
  }

  /**
   * DISPATCH.NO_COPYBACK_ON_FAILURE: an iommufd command writes the caller's
   * struct back only through iommufd_ucmd_respond, which its handler calls
   * on success; a failure leaves every byte as sent. Two commands respond
   * and then fail: IOAS_IOVA_RANGES (EMSGSIZE: the count and alignment) and
   * HWPT_INVALIDATE (entry_num on every outcome), so they are not judged here.
   */
  private checkUntouchedOnFailure(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || typeof req.cmd !== 'string' || !req.cmd.startsWith('IOMMU_') || !ev.response.ok) return;
    if (req.cmd === 'IOMMU_HWPT_INVALIDATE' || (req.cmd === 'IOMMU_IOAS_IOVA_RANGES' && errnoName(errno ?? 0) === 'EMSGSIZE')) return;
    const after = (ev.response.result as IoctlResult).bytes;
    const command = commandByName(this.profile, req.cmd);
    if (!after || !command) return;
    let sent: BuiltArg;
    try {
      sent = buildIoctlArg(this.profile, command, req.arg, () => 0n);
    } catch {
      return; // an argument the codec refuses never reached the kernel as a struct
    }
    if (sent.kind !== 'bytes' || sent.bytes.length !== after.length) return;
    this.ctx.count('invariants.abi-hygiene');
    const pointers = sent.pointers.map((p) => p.offset);
    for (let i = 0; i < after.length; i++) {
      if (after[i] === sent.bytes[i] || pointers.some((o) => i >= o && i < o + 8)) continue;
      out.push(this.obj('abi-hygiene', ev, `${commandName(req)} failed with ${errnoName(errno ?? 0) ?? errno}, but its argument came back changed at byte ${i} (0x${(sent.bytes[i] ?? 0).toString(16)} sent, 0x${(after[i] ?? 0).toString(16)} back): a failed iommufd command copies nothing back (iommufd_ucmd_respond runs on success)`, 'the struct as sent', 'a changed struct'));
      return;
    }
  }

  /**
   * An iommufd command answers at most the size the caller declared
   * (iommufd_ucmd_respond copies min(user_size, cmd_len)): an older caller's
   * shorter struct, or a longer one with a zero tail, comes back unchanged
   * from min(size, sizeof) on. A byte written there lands in whatever the
   * caller keeps after its struct. A VFIO command's answer likewise stays
   * inside its argsz, the capability chain VFIO_IOMMU_GET_INFO writes after
   * its struct included.
   */
  private checkCopyBackWithinSize(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || typeof req.cmd !== 'string' || !ev.response.ok) return;
    const command = commandByName(this.profile, req.cmd);
    const after = (ev.response.result as IoctlResult).bytes;
    if (!command?.struct || !after) return;
    // A VFIO struct's answer, capability chains included, stays inside argsz (the chain is written
    // only where argsz holds it: iommufd_vfio_iommu_get_info, iommufd_fill_cap_iova).
    const vfio = command.arg === 'vfio-argsz' && req.arg.fields['argsz'] !== undefined;
    if (!vfio && (command.arg !== 'extensible' || req.arg.fields['size'] === undefined)) return;
    const declared = vfio ? toNum(req.arg.fields['argsz']) : Math.min(toNum(req.arg.fields['size']), requireLayout(this.profile, command.struct).size);
    if (declared >= after.length) return; // the whole struct was the caller's: nothing past it to judge
    let sent: BuiltArg;
    try {
      sent = buildIoctlArg(this.profile, command, req.arg, () => 0n);
    } catch {
      return;
    }
    if (sent.kind !== 'bytes' || sent.bytes.length !== after.length || declared >= after.length) return;
    this.ctx.count('invariants.abi-hygiene');
    const pointers = sent.pointers.map((p) => p.offset);
    for (let i = declared; i < after.length; i++) {
      if (after[i] === sent.bytes[i] || pointers.some((o) => i >= o && i < o + 8)) continue;
      out.push(this.obj('abi-hygiene', ev, `${commandName(req)} with ${vfio ? 'argsz' : 'size'} ${declared} succeeded, but its argument came back changed at byte ${i}, past the ${declared} byte(s) the caller declared (0x${(sent.bytes[i] ?? 0).toString(16)} sent, 0x${(after[i] ?? 0).toString(16)} back): ${vfio ? 'a VFIO command writes its answer, capabilities included, inside argsz' : 'iommufd_ucmd_respond copies min(size, sizeof) bytes back'} (${!vfio ? 'DISPATCH.SHORT_ZERO_EXTENDED' : req.cmd === 'VFIO_IOMMU_GET_INFO' ? 'VFIO_COMPAT.GET_INFO' : 'VFIO.ARGSZ'})`, `the bytes past ${vfio ? 'argsz' : 'size'} as sent`, 'changed bytes'));
      return;
    }
  }

  /**
   * DISPATCH.INPUTS_COME_BACK: a command that succeeded writes back what it
   * reports and nothing else. iommufd_ucmd_respond copies the kernel's copy
   * of the struct (a VFIO device command its own), whose input fields and
   * flags are the caller's: each member the uAPI marks as input or flags
   * (outside unions, whose bytes several members share) comes back as sent.
   */
  private checkInputsComeBack(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || typeof req.cmd !== 'string' || !ev.response.ok || req.arg.readOnly) return;
    const command = commandByName(this.profile, req.cmd);
    const back = (ev.response.result as IoctlResult).out;
    if (!command?.struct || !back) return;
    const inputs = [...inputMembers(this.profile, command.struct), ...setValue(this.profile, req.cmd, req.arg.fields)];
    if (inputs.length === 0) return;
    // Only what the caller's size covers comes back (checkCopyBackWithinSize judges the rest).
    const sizeField = req.arg.fields['size'] ?? req.arg.fields['argsz'];
    const declared = sizeField === undefined ? Infinity : toNum(sizeField);
    const rewritten = this.rewrittenInputs(req);
    this.ctx.count('invariants.abi-hygiene');
    for (const m of inputs) {
      if (m.offset + m.size > declared) continue;
      if (rewritten?.has(m.path) && rewritten.get(m.path) === undefined) continue;
      const sent = rewritten?.get(m.path) ?? getPath(req.arg.fields, m.path) ?? 0;
      const got = getPath(back, m.path);
      // A pointer given as data or room is placed by the adapter: its value is not the caller's to compare.
      if (got === undefined || (typeof sent !== 'number' && typeof sent !== 'bigint') || (typeof got !== 'number' && typeof got !== 'bigint')) continue;
      if (BigInt(sent) === BigInt(got)) continue;
      out.push(this.obj('abi-hygiene', ev, `${commandName(req)} succeeded, but its ${m.path}, an input the caller sets, came back as ${String(got)} where ${String(sent)} was sent: a command writes back only what it reports`, `${m.path} ${String(sent)}`, `${m.path} ${String(got)}`));
      return;
    }
  }


  /**
   * Inputs a successful command rewrites before it answers the struct whole:
   * IOAS_COPY's syzkaller form (MOCK_FLAGS_ACCESS_SYZ) comes back with the
   * flag cleared and src_iova decoded, since iommufd_test_syz_conv_iova_id
   * changes the command in place (undefined: a value the shadow cannot tell).
   */
  private rewrittenInputs(req: Extract<Request, { op: 'ioctl' }>): Map<string, bigint | undefined> | undefined {
    if (req.cmd !== 'IOMMU_IOAS_COPY' || req.arg.kind !== 'struct') return undefined;
    const v = req.arg.fields;
    const flags = toNum(v['flags']);
    if ((flags & MOCK_FLAGS_ACCESS_SYZ) === 0) return undefined;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const src = ctx && !this.shadow.lost ? this.shadow.ioas(ctx, v['src_ioas_id']) : undefined;
    return new Map([
      ['flags', BigInt(flags & ~MOCK_FLAGS_ACCESS_SYZ)],
      ['src_iova', src ? this.shadow.copySrcIova(src, v) : undefined],
    ]);
  }

  /**
   * IOAS_IOVA_RANGES answers the holes of the IOAS's reserved tree
   * (iommufd_ioas_iova_ranges): the count is the total, so it succeeds only
   * when the ranges fit and fails with EMSGSIZE when they do not; the ranges
   * are sorted, disjoint and apart (two holes have a reserved IOVA between
   * them), none covers a reserved IOVA the shadow knows, every area lies in
   * one of them, and the alignment is a power of two.
   */
  private checkIovaRanges(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_IOAS_IOVA_RANGES' || req.arg.kind !== 'struct' || !ev.response.ok || this.shadow.lost) return;
    if (!ok && errnoName(errno ?? 0) !== 'EMSGSIZE') return;
    if ((ev.template.defects ?? []).some((d) => d.abi)) return;
    const res = ev.response.result as IoctlResult;
    const o = res.out;
    const size = req.arg.fields['size'];
    if (!o || (size !== undefined && toNum(size) < offsetofend(this.profile, 'iommu_ioas_iova_ranges', 'out_iova_alignment'))) return;
    const room = toNum(req.arg.fields['num_iovas']);
    const n = toNum(o['num_iovas']);
    const align = toBig(o['out_iova_alignment']);
    this.ctx.count('invariants.abi-hygiene');
    if (ok ? n > room : n <= room) {
      out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_IOVA_RANGES ${ok ? 'succeeded' : 'failed with EMSGSIZE'} answering num_iovas ${n} for room for ${room}: it succeeds exactly when the ranges fit`, ok ? `num_iovas <= ${room}` : `num_iovas > ${room}`, String(n)));
      return;
    }
    if (align === 0n || (align & (align - 1n)) !== 0n) {
      out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_IOVA_RANGES answered out_iova_alignment ${align}, not a power of two`, 'a power of two', String(align)));
      return;
    }
    const ctx = this.shadow.ctxOfFd(req.fd);
    const ioas = ctx && this.shadow.ioas(ctx, req.arg.fields['ioas_id']);
    if (ioas) this.judgeAlignment(ev, ctx, ioas, align, out);
    if (!ok || out.length > 0) return;
    const data = res.buffers?.['allowed_iovas'];
    if (!ioas || (n > 0 && (!data || data.length < n * 16))) return;
    this.judgeRanges(ev, ctx, ioas, n > 0 && data ? decodeRanges(data, n) : [], out);
  }

  /**
   * The ranges IOAS_IOVA_RANGES answered for an IOAS (a step's, or the end
   * of the case's probe): sorted and apart, over no reserved IOVA, holding
   * every area, and, where the shadow knows the whole reserved tree, exactly
   * its holes.
   */
  private judgeRanges(ev: StepEvent | undefined, ctx: CtxRec, ioas: IoasObj, ranges: readonly Range[], out: Objection[], probe?: { request: Request; response?: Response }, source = 'IOMMU_IOAS_IOVA_RANGES'): void {
    const say = (why: string, property: Invariant = 'abi-hygiene'): void => void out.push(this.obj(property, ev, `${source} of IOAS ${ioas.id}${ev ? '' : ' at the end of the case'}: ${why}`, 'the holes of the reserved ranges', ranges.map((r) => `${hexOf(r.start)}..${hexOf(r.last)}`).join(' ') || 'none', probe));
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      const prev = ranges[i - 1];
      if (r.start > r.last) return say(`range ${i} starts after it ends`);
      if (prev && r.start <= prev.last + 1n) return say(`ranges ${i - 1} and ${i} are not sorted and apart`);
    }
    this.ctx.count('invariants.dma-confinement');
    for (const x of this.reservedIn(ioas)) {
      const r = ranges.find((y) => overlaps(y, x));
      if (r) return say(`it offers ${hexOf(r.start)}..${hexOf(r.last)}, over the reserved ${hexOf(x.start)}..${hexOf(x.last)}`, 'dma-confinement');
    }
    for (const seg of ioas.segs) {
      if (!seg.uncertain && !ranges.some((r) => r.start <= seg.start && seg.last <= r.last)) return say(`the area at ${hexOf(seg.start)}..${hexOf(seg.last)} lies in none of the ranges`);
    }
    // Where the shadow knows the whole reserved tree, the ranges are exactly its holes: a region
    // reserved too much (left by a detached device, a failed attach, a domain that never joined)
    // narrows where the user may map as surely as one reserved too little widens it.
    // A group that tried a replace within the IOAS may have lost its regions there (`reattached`):
    // each such device's regions are in the tree or not, and the ranges are the holes of one choice.
    const reserved = this.exactReserved(ctx, ioas);
    if (!reserved || reserved.maybe.length > MAX_MAYBE_RESERVED) return;
    const choices = Array.from({ length: 1 << reserved.maybe.length }, (_, bits) => complementOf([...reserved.sure, ...reserved.maybe.filter((_, i) => (bits >> i) & 1).flat()]));
    const same = (want: readonly Range[]): boolean => want.length === ranges.length && want.every((w, i) => w.start === ranges[i]!.start && w.last === ranges[i]!.last);
    if (!choices.some(same)) {
      const want = choices[choices.length - 1]!;
      const also = choices.length > 1 ? `, or those holes with the regions of ${reserved.maybe.length === 1 ? 'the device' : 'some of the devices'} of a group that tried a replace within the IOAS free again` : '';
      return say(`expected exactly the holes of its own reservations, its attached devices' regions and its domains' apertures: ${want.map((r) => `${hexOf(r.start)}..${hexOf(r.last)}`).join(' ') || 'none'}${also} (a reservation a failed command, a detach or a freed domain left behind?)`);
    }
  }

  /**
   * IOAS_IOVA_RANGES's out_iova_alignment is iopt->iova_alignment: the
   * largest of 1 (PAGE_SIZE with large pages off), each domain's smallest IO
   * page and each access's alignment (PAGE_SIZE for one that pins),
   * recomputed whenever a domain or an access joins or leaves
   * (iopt_calculate_iova_alignment). One a failed attach or access left
   * raised, or a detach did not lower, refuses maps the user may make
   * (EINVAL); one too low lets a domain be given IOVA it cannot map. Judged
   * where the shadow knows every domain and access of the IOAS.
   */
  private judgeAlignment(ev: StepEvent | undefined, ctx: CtxRec, ioas: IoasObj, align: bigint, out: Objection[], probe?: { request: Request; response?: Response }): void {
    const want = this.exactAlignment(ctx, ioas);
    if (want === undefined) return;
    this.ctx.count('invariants.abi-hygiene');
    if (want === align) return;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_IOVA_RANGES of IOAS ${ioas.id}${ev ? '' : ' at the end of the case'} answered out_iova_alignment ${align}, but its domains and accesses impose ${want} (the largest of their smallest pages: iopt_calculate_iova_alignment) — an alignment a failed attach or access left behind, or one a detach did not take back?`, String(want), String(align), probe));
  }

  /** iopt->iova_alignment as the IOAS's domains and accesses set it, when the shadow knows all of them (see exactReserved). */
  private exactAlignment(ctx: CtxRec, ioas: IoasObj): bigint | undefined {
    if (this.shadow.lost || !ctx.alive || ioas.domainsUnknown || this.optionUnknown.has(ioas) || !this.followsEveryHolder(ctx)) return undefined;
    // With large pages off (IOMMU_OPTION_HUGE_PAGES 0, a type1 v1 container) the floor is PAGE_SIZE.
    let want = ioas.largePages ? 1n : PAGE;
    for (const o of ctx.objects.values()) {
      if (o.type === 'hwpt_paging' && o.ioas === ioas.id) {
        if (o.minPage === undefined) return undefined;
        if (o.minPage > want) want = o.minPage;
      } else if (o.type === 'access' && o.ioas === ioas.id && o.alignment > want) want = o.alignment;
    }
    return want;
  }

  /**
   * An IOAS's reserved tree (iopt->reserved_itree), when the shadow knows all
   * of it: `sure`, its own reservations, the regions of every device attached
   * through it (iommufd_device_attach_reserved_iova; a nested HWPT's through
   * its parent), and all IOVA outside each paging domain's aperture
   * (iopt_table_add_domain); and `maybe`, per device of a group whose regions
   * a failed replace within the IOAS may have dropped (`reattached`), its
   * regions, each reserved or not. Undefined when part of it is not known:
   * an object the shadow does not follow, a domain it cannot see (a PASID's
   * automatic HWPT), a unit whose aperture was not reported.
   */
  private exactReserved(ctx: CtxRec, ioas: IoasObj): { readonly sure: Range[]; readonly maybe: Range[][] } | undefined {
    if (this.shadow.lost || !ctx.alive || ioas.domainsUnknown || !this.followsEveryHolder(ctx)) return undefined;
    const maybe: Range[][] = [];
    for (const d of this.shadow.liveDevices()) if (d.reserved.length > 0 && this.reattached.has(d.group) && this.shadow.reservingIoas(d) === ioas) maybe.push([...d.reserved]);
    const sure = this.reservedIn(ioas);
    for (const o of ctx.objects.values()) {
      if (o.type !== 'hwpt_paging' || o.ioas !== ioas.id) continue;
      if (!o.aperture) return undefined;
      if (o.aperture.start > 0n) sure.push({ start: 0n, last: o.aperture.start - 1n });
      if (o.aperture.last < U64_MAX) sure.push({ start: o.aperture.last + 1n, last: U64_MAX });
    }
    return { sure, maybe };
  }

  /** Every IOVA an IOAS may hold reserved (exactReserved's sure and maybe together), when the shadow knows them. */
  private possiblyReserved(ctx: CtxRec, ioas: IoasObj): Range[] | undefined {
    const r = this.exactReserved(ctx, ioas);
    return r && [...r.sure, ...r.maybe.flat()];
  }

  /**
   * The IOVA an IOAS keeps reserved that the shadow knows: its own reserved
   * ranges and the reserved regions of the devices attached to it (a group
   * that tried a replace within the IOAS may have lost its regions there, as
   * the kernels do: see `reattached`).
   */
  private reservedIn(ioas: IoasObj): Range[] {
    const out = [...ioas.reserved];
    for (const d of this.shadow.liveDevices()) {
      if (d.reserved.length > 0 && !this.reattached.has(d.group) && this.shadow.reservingIoas(d) === ioas) out.push(...d.reserved);
    }
    return out;
  }

  /**
   * IOAS.AREAS_ALIGNED: every area's IOVA, length and offset in its first
   * page stay aligned to the IOAS's alignment. A command that raises it — a
   * domain joining (HWPT_ALLOC, an attach, a mock domain), an access that
   * pins (CREATE_ACCESS, ACCESS_REPLACE_IOAS), large IOPTEs turned off (the
   * option, type1 v1) — first checks every area against the new alignment
   * (iopt_calculate_iova_alignment → iopt_check_iova_alignment: EADDRINUSE),
   * so after its success none is off: a domain with a larger smallest page
   * than an area's offset maps the wrong bytes or none.
   */
  private checkAreasAligned(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' && req.arg.kind !== 'int' || typeof req.cmd !== 'string' || this.shadow.lost) return;
    const maker = AREA_MAKERS.has(req.cmd);
    if ((!ALIGNMENT_RAISERS.has(req.cmd) && !maker) || (req.cmd === 'IOMMU_TEST_CMD' && req.arg.kind === 'struct' && !ALIGNMENT_RAISING_TEST_OPS.has(TEST_OP.get(toNum(req.arg.fields['op'])) ?? ''))) return;
    const ctx = req.arg.kind === 'struct' ? this.ctxOfIoctl(req, req.cmd, req.arg.fields) : this.shadow.ctxOfFd(req.fd);
    if (!ctx?.alive) return;
    for (const ioas of ctx.objects.values()) {
      if (ioas.type !== 'ioas') continue;
      const align = this.exactAlignment(ctx, ioas);
      if (align === undefined || align === 1n) continue;
      this.ctx.count('invariants.dma-confinement');
      // The offset into the first page is what is checked (area->page_offset & (align - 1)).
      const off = ioas.segs.find((x) => !x.uncertain && (x.start % align !== 0n || (x.last + 1n) % align !== 0n || ((x.ps.va + x.psOff) % PAGE) % align !== 0n));
      if (!off) continue;
      if (maker) {
        const where = req.cmd === 'VFIO_IOMMU_UNMAP_DMA' ? 'a cut splits an area only at an IOVA and an offset into its pages aligned to it (iopt_area_split: EINVAL)' : 'a new area\'s IOVA, length and offset into its first page are checked against it (iopt_alloc_area_pages, iopt_insert_area: EINVAL)';
        out.push(this.obj('dma-confinement', ev, `${commandName(req)} succeeded, but IOAS ${ioas.id} now holds an area at ${hexOf(off.start)}..${hexOf(off.last)} (user address ${hexOf(off.ps.va + off.psOff)}) off its alignment ${align} (its domains' smallest pages, its pinning accesses, large IOPTEs off): ${where}, or a domain would map other bytes or none (IOAS.AREAS_ALIGNED)`, 'EINVAL', 'ok'));
        return;
      }
      out.push(this.obj('dma-confinement', ev, `${commandName(req)} succeeded and IOAS ${ioas.id}'s alignment is now ${align} (its domains' smallest pages, its pinning accesses, large IOPTEs off), but its area at ${hexOf(off.start)}..${hexOf(off.last)} (user address ${hexOf(off.ps.va + off.psOff)}) is not aligned to it: raising the alignment checks every area first (iopt_check_iova_alignment: EADDRINUSE) (IOAS.AREAS_ALIGNED)`, 'EADDRINUSE', 'ok'));
      return;
    }
  }

  /**
   * Allowed and reserved IOVA never meet (iopt_set_allow_iova and
   * iopt_reserve_iova both refuse the overlap with EADDRINUSE, for the IOAS's
   * own ranges and for a device's regions at attach).
   */
  private checkAllowedApart(ev: StepEvent, out: Objection[]): void {
    if (this.shadow.lost) return;
    for (const ctx of this.shadow.ctxs) {
      if (!ctx.alive) continue;
      for (const o of ctx.objects.values()) {
        if (o.type !== 'ioas' || o.allowed.length === 0) continue;
        this.ctx.count('invariants.dma-confinement');
        for (const x of this.exactReserved(ctx, o)?.sure ?? this.reservedIn(o)) {
          const a = o.allowed.find((y) => overlaps(y, x));
          if (a) {
            out.push(this.obj('dma-confinement', ev, `after ${commandName(ev.request)}, IOAS ${o.id} both allows ${hexOf(a.start)}..${hexOf(a.last)} and reserves ${hexOf(x.start)}..${hexOf(x.last)}: the two never overlap (EADDRINUSE)`, 'allowed and reserved apart', 'overlapping'));
            return;
          }
        }
      }
    }
  }

  // ---------------------------------------------------------------- lifetime

  /**
   * A device goes away only once no file of it is open: vfio_unregister_group_dev
   * waits for every registration, and each open cdev file holds one from
   * vfio_device_fops_cdev_open, bound or not (KVM's reference keeps a file open
   * after its fd is closed). A removal that went ahead leaves a file whose
   * device is gone (a later BIND would claim a group that no longer exists).
   */
  private checkRemoval(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'device_remove') return;
    const d = this.shadow.devices.get(`env:${req.device}`);
    if (!d || d.removed) return;
    this.ctx.count('invariants.lifetime');
    let fds = 0;
    for (const f of this.shadow.fds.values()) if (f.device === d) fds++;
    const held = [...this.shadow.vms.values()].some((vm) => vm.files.some((f) => f.device === d));
    if (fds === 0 && !held) return;
    const what = [fds > 0 && `${fds} open file(s)`, held && 'a file a VM holds'].filter(Boolean).join(' and ');
    out.push(this.obj('lifetime', ev, `device_remove of device ${req.device} succeeded while it has ${what} (${d.bound ? 'bound' : 'unbound'}): removal must wait until every file of the device is closed`, 'refused', 'ok'));
  }

  /**
   * The other side of checkRemoval: once no file of the device is open and
   * no VM holds one, nothing holds its registration (the open of a cdev file
   * takes it, vfio_device_fops_release puts it, bound or not), so
   * vfio_unregister_group_dev goes through: a removal refused then leaves a
   * device that can never be unplugged.
   */
  private checkRemovalRefused(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'device_remove' || ev.response.ok || this.shadow.lost) return;
    const d = this.shadow.devices.get(`env:${req.device}`);
    if (!d || d.removed) return;
    this.ctx.count('invariants.lifetime');
    for (const f of this.shadow.fds.values()) if (f.device === d) return;
    if ([...this.shadow.vms.values()].some((vm) => vm.files.some((f) => f.device === d))) return;
    out.push(this.obj('lifetime', ev, `device_remove of device ${req.device} was refused (${ev.response.error.message}), but no file of it is open and no VM holds one: each open of the device file holds the registration removal waits for, and its release gives it back, bound or not (vfio_device_fops_release)`, 'ok', `refused: ${ev.response.error.code}`));
  }

  private refsOf(ctx: CtxRec, o: Obj): string[] {
    const refs: string[] = [];
    switch (o.type) {
      case 'ioas':
        for (const x of ctx.objects.values()) {
          if ((x.type === 'hwpt_paging' && x.ioas === o.id)) refs.push(`HWPT ${x.id}`);
          if (x.type === 'access' && x.ioas === o.id) refs.push('an access');
        }
        break;
      case 'hwpt_paging':
      case 'hwpt_nested':
        for (const d of o.devices) refs.push(`device ${d.bound?.id ?? d.key}`);
        for (const c of o.children) refs.push(`nested HWPT ${c}`);
        break;
      case 'device':
        refs.push('its driver (VFIO or the selftest)');
        break;
      case 'access':
        refs.push('its driver');
        break;
      default:
        break;
    }
    return refs;
  }

  private checkLifetime(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || typeof req.cmd !== 'string') return;
    const f = this.shadow.fds.get(req.fd);
    const v = req.arg.fields;
    // iommufd commands name the ids of the context the file is; a VFIO device file's commands, those
    // of the context that file bound (another file of the same device binds nothing: vfio_df_open).
    const boundCtx = f?.kind === 'device' && f.device?.bound?.file === f && req.cmd.startsWith('VFIO_DEVICE_') ? f.device.bound.ctx : undefined;
    const ctx = f?.kind === 'iommufd' ? f.ctx : boundCtx;
    if (!ctx || !ctx.alive) return;
    // A malformed argument is refused before the handler looks at the id (abi-hygiene judges it).
    if ((ev.template.defects ?? []).some((d) => d.abi)) return;
    if (req.cmd === 'IOMMU_DESTROY') {
      this.ctx.count('invariants.lifetime');
      const id = toNum(v['id']);
      const o = ctx.objects.get(id);
      const name = errnoName(errno ?? 0);
      if (!o && ctx.dead.has(id)) {
        if (ok || name !== 'ENOENT') out.push(this.obj('lifetime', ev, `DESTROY of id ${id}, destroyed earlier and not reused, ${ok ? 'succeeded' : `failed with ${name}`}`, 'ENOENT', ok ? 'ok' : String(name)));
        return;
      }
      if (o) {
        const refs = this.refsOf(ctx, o);
        if (refs.length > 0 && (ok || name !== 'EBUSY')) {
          out.push(this.obj('lifetime', ev, `DESTROY of ${o.type} ${id}, referenced by ${refs.join(', ')}, ${ok ? 'succeeded' : `failed with ${name}`}`, 'EBUSY', ok ? 'ok' : String(name)));
        }
        // An IOAS's users are its paging HWPTs and the accesses on it; with
        // none left, and every object of the context followed, EBUSY is a
        // reference someone kept (a replace or detach that did not drop it).
        if (refs.length === 0 && o.type === 'ioas' && name === 'EBUSY' && !this.shadow.lost && this.followsEveryHolder(ctx)) {
          out.push(this.obj('lifetime', ev, `DESTROY of IOAS ${id} failed with EBUSY, but nothing holds it: no paging HWPT and no access is on it (a reference kept after it was dropped?)`, 'ok', 'EBUSY'));
        }
      }
      return;
    }
    if (!ok) return;
    // An access's ids are its own context's whatever iommufd the test command came through
    // (iommufd_access_change_ioas_id looks the IOAS up in access->ictx).
    const accessCtx = req.cmd === 'IOMMU_TEST_CMD' && TEST_OP.get(toNum(v['op'])) === 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS' ? this.shadow.fds.get(toNum(v['id']))?.access && this.shadow.fds.get(toNum(v['id']))?.ctx : undefined;
    const idCtx = accessCtx ?? ctx;
    const fields = req.cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' ? [{ field: 'pt_id', id: v['pt_id'], want: ['ioas', 'hwpt_paging', 'hwpt_nested'] as Want }] : requiredIds(req.cmd, v, this.profile);
    for (const { field, id, want } of fields) {
      if (!idCtx) continue;
      this.ctx.count('invariants.lifetime');
      const n = toNum(id);
      const o = idCtx.objects.get(n);
      if (o && want.includes(o.type as Want[number])) continue;
      // An id the shadow never saw may be an object it does not follow (an access, a PASID's automatic
      // HWPT): open, but for an IOAS, which only IOMMU_IOAS_ALLOC makes.
      if (!o && !idCtx.dead.has(n) && n !== 0 && n < 0x10000000 && (want.length > 1 || want[0] !== 'ioas')) continue;
      const what = o ? `a ${objType(o)}` : idCtx.dead.has(n) ? 'a destroyed object' : 'no object';
      out.push(this.obj('lifetime', ev, `${commandName(req)} succeeded with ${field} = ${n}, which names ${what} (it needs ${want.join(' or ')})`, 'ENOENT (or the command’s errno for a wrong object)', 'ok'));
    }
  }

  /**
   * The compat IOAS stays the context's until IOMMU_VFIO_IOAS CLEAR, another
   * SET or its own destruction (iommufd_object_remove clears vfio_ioas only
   * for that object): while it lives, the type1 commands find it
   * (get_compat_ioas: ENODEV only when there is none) and GET names it.
   */
  private checkCompatIoas(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || typeof req.cmd !== 'string' || this.shadow.lost) return;
    const cmd = req.cmd;
    const get = cmd === 'IOMMU_VFIO_IOAS' && req.arg.kind === 'struct' && toNum(req.arg.fields['op']) === IOMMU_VFIO_IOAS_GET;
    // SET_IOMMU of a type1 type needs the compat IOAS too (NOIOMMU does not: iommufd_vfio_set_iommu).
    const setType1 = cmd === 'VFIO_SET_IOMMU' && req.arg.kind === 'int' && (Number(req.arg.value) === VFIO_TYPE1_IOMMU || Number(req.arg.value) === VFIO_TYPE1v2_IOMMU);
    if (!get && !setType1 && cmd !== 'VFIO_IOMMU_MAP_DMA' && cmd !== 'VFIO_IOMMU_UNMAP_DMA' && cmd !== 'VFIO_IOMMU_GET_INFO') return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const id = ctx?.compatIoas;
    if (!ctx || (ev.template.defects ?? []).some((d) => d.abi)) return;
    if (id === undefined) {
      // The compat IOAS comes only from IOMMU_VFIO_IOAS SET here (no VFIO group is ever set on a
      // container): with none set, or it cleared or destroyed, these find nothing (ENODEV).
      if (!ok || !ctx.alive) return;
      this.ctx.count('invariants.lifetime');
      out.push(this.obj('lifetime', ev, `${cmd} succeeded, but the context has no compat IOAS (never set, cleared, or destroyed): get_compat_ioas finds none (an IOAS that later took the old id?)`, 'ENODEV', 'ok'));
      return;
    }
    if (this.shadow.ioas(ctx, id) === undefined) return;
    this.ctx.count('invariants.lifetime');
    if (!ok && errnoName(errno ?? 0) === 'ENODEV') {
      out.push(this.obj('lifetime', ev, `${cmd} failed with ENODEV, but IOAS ${id}, the context's compat IOAS, is alive and was never cleared`, 'not ENODEV', 'ENODEV'));
      return;
    }
    if (cmd === 'VFIO_IOMMU_GET_INFO' && ok && ev.response.ok && req.arg.kind === 'struct') this.checkGetInfo(ev, req.arg.fields, (ev.response.result as IoctlResult).out, out, ctx, this.shadow.ioas(ctx, id));
    const answered = get && ok && ev.response.ok ? (ev.response.result as { out?: StructValue }).out?.['ioas_id'] : undefined;
    if (answered !== undefined && toNum(answered) !== id) {
      out.push(this.obj('lifetime', ev, `IOMMU_VFIO_IOAS GET answered IOAS ${toNum(answered)}, but the compat IOAS is ${id}`, String(id), String(toNum(answered))));
    }
  }

  /**
   * VFIO_IOMMU_GET_INFO's iova_pgsizes is what every domain of the compat
   * IOAS can map: the AND of their pgsize_bitmaps, the bits below PAGE_SIZE
   * folded into PAGE_SIZE, and no less than the IOAS's alignment
   * (iommufd_get_pagesizes). A size one domain lacks tells a type1 user it
   * may map with pages that domain cannot hold. Judged where the shadow
   * knows every domain's bitmap and the alignment.
   */
  private checkPageSizes(ev: StepEvent, v: StructValue, o: StructValue | undefined, out: Objection[], ctx: CtxRec, ioas: IoasObj | undefined): void {
    const got = o?.['iova_pgsizes'];
    // No argsz in the request: the struct's own size (the codec's default).
    if (!ioas || got === undefined || (v['argsz'] !== undefined && toNum(v['argsz']) < offsetofend(this.profile, 'vfio_iommu_type1_info', 'iova_pgsizes'))) return;
    const align = this.exactAlignment(ctx, ioas);
    if (align === undefined) return;
    let want = U64_MAX;
    for (const h of ctx.objects.values()) {
      if (h.type !== 'hwpt_paging' || h.ioas !== ioas.id) continue;
      if (h.pgsizes === undefined) return;
      want &= h.pgsizes;
    }
    if ((want & (PAGE - 1n)) !== 0n) want = (want & ~(PAGE - 1n)) | PAGE;
    if (align > want) want = align;
    this.ctx.count('invariants.abi-hygiene');
    if (toBig(got) === want) return;
    out.push(this.obj('abi-hygiene', ev, `VFIO_IOMMU_GET_INFO answered iova_pgsizes 0x${toBig(got).toString(16)}, but the domains of compat IOAS ${ioas.id} can all map only 0x${want.toString(16)} (the AND of their pgsize_bitmaps, folded to PAGE_SIZE, at least the IOAS's alignment: iommufd_get_pagesizes)`, `0x${want.toString(16)}`, `0x${toBig(got).toString(16)}`));
  }

  /**
   * VFIO_IOMMU_GET_INFO's VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE lists the holes
   * of the compat IOAS's reserved tree (iommufd_fill_cap_iova walks
   * reserved_itree), as IOMMU_IOAS_IOVA_RANGES does: judged the same way
   * (judgeRanges). Read from the chain the caller's argsz held whole.
   */
  private checkCapIovaRange(ev: StepEvent, ctx: CtxRec, ioas: IoasObj, out: Objection[]): void {
    const bytes = ev.response.ok ? (ev.response.result as IoctlResult).bytes : undefined;
    if (!bytes) return;
    const info = requireLayout(this.profile, 'vfio_iommu_type1_info').size;
    const cap = requireLayout(this.profile, 'vfio_iommu_type1_info_cap_iova_range');
    const rangesAt = cap.rows.find((r) => r.path === 'iova_ranges')?.offset ?? cap.size;
    const rangeSize = requireLayout(this.profile, 'vfio_iova_range').size;
    // Each capability starts with a vfio_info_cap_header whose `next` is an offset from the start of the struct; each hop moves forward.
    for (let at = info, hops = 0; at > 0 && at + cap.size <= bytes.length && hops < 8; hops++) {
      const v = decodeStruct(this.profile, 'vfio_iommu_type1_info_cap_iova_range', bytes.subarray(at, at + cap.size));
      const header = (v['header'] ?? {}) as StructValue;
      if (toNum(header['id']) === VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
        const n = toNum(v['nr_iovas']);
        const data = bytes.subarray(at + rangesAt, at + rangesAt + n * rangeSize);
        if (data.length < n * rangeSize) return;
        this.ctx.count('invariants.abi-hygiene');
        this.judgeRanges(ev, ctx, ioas, decodeRanges(data, n), out, undefined, 'VFIO_IOMMU_GET_INFO\u2019s VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE');
        return;
      }
      const next = toNum(header['next']);
      if (next <= at) return;
      at = next;
    }
  }


  /**
   * The argsz VFIO_IOMMU_GET_INFO answers is what the struct and its chain
   * take, each capability rounded up to 8 bytes (iommufd_vfio_iommu_get_info:
   * info.argsz = total_cap_size), however much room the caller gave: a caller
   * that sized its buffer by the answer gets exactly the chain it was sent.
   * Read from the chain written whole (argsz held it).
   */
  private checkChainSize(ev: StepEvent, sent: number, need: number, out: Objection[]): void {
    const bytes = ev.response.ok ? (ev.response.result as IoctlResult).bytes : undefined;
    if (!bytes) return;
    const info = requireLayout(this.profile, 'vfio_iommu_type1_info').size;
    const header = requireLayout(this.profile, 'vfio_info_cap_header').size;
    const iovaCap = requireLayout(this.profile, 'vfio_iommu_type1_info_cap_iova_range');
    const rangesAt = iovaCap.rows.find((r) => r.path === 'iova_ranges')?.offset ?? iovaCap.size;
    const rangeSize = requireLayout(this.profile, 'vfio_iova_range').size;
    let total = info;
    for (let at = info, hops = 0; at > 0 && hops < 8; hops++) {
      if (at + header > bytes.length) return;
      const h = decodeStruct(this.profile, 'vfio_info_cap_header', bytes.subarray(at, at + header));
      const id = toNum(h['id']);
      let size: number;
      if (id === VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) size = requireLayout(this.profile, 'vfio_iommu_type1_info_dma_avail').size;
      else if (id === VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE && at + iovaCap.size <= bytes.length) size = rangesAt + toNum(decodeStruct(this.profile, 'vfio_iommu_type1_info_cap_iova_range', bytes.subarray(at, at + iovaCap.size))['nr_iovas']) * rangeSize;
      else return;
      total += Math.ceil(size / 8) * 8;
      const next = toNum(h['next']);
      if (next !== 0 && next <= at) return;
      at = next;
    }
    this.ctx.count('invariants.abi-hygiene');
    if (need !== total) out.push(this.obj('abi-hygiene', ev, `VFIO_IOMMU_GET_INFO with argsz ${sent} answered argsz ${need}, but the struct and the capability chain it wrote take ${total} bytes: argsz is set to what they need, whatever room the caller gave (iommufd_vfio_iommu_get_info: info.argsz = total_cap_size) (VFIO_COMPAT.GET_INFO)`, `argsz ${total}`, `argsz ${need}`));
  }

  /**
   * VFIO_IOMMU_GET_INFO answers the size the whole capability chain needs in
   * argsz, and points cap_offset at the chain (just past the struct) only
   * when the caller's argsz held all of it (iommufd_vfio_iommu_get_info).
   */
  private checkGetInfo(ev: StepEvent, v: StructValue, o: StructValue | undefined, out: Objection[], ctx: CtxRec, ioas: IoasObj | undefined): void {
    this.checkPageSizes(ev, v, o, out, ctx, ioas);
    // flags is VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS on every answer: the capabilities exist
    // whatever room the caller gave for them (argsz then says how much they need).
    const flags = o?.['flags'];
    if (flags !== undefined) {
      this.ctx.count('invariants.abi-hygiene');
      const want = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
      if (toNum(flags) !== want) {
        out.push(this.obj('abi-hygiene', ev, `VFIO_IOMMU_GET_INFO answered flags 0x${toNum(flags).toString(16)}: iommufd_vfio_iommu_get_info sets VFIO_IOMMU_INFO_PGSIZES and VFIO_IOMMU_INFO_CAPS (0x${want.toString(16)}) on every answer, however little room the chain had (VFIO_COMPAT.GET_INFO)`, `flags 0x${want.toString(16)}`, `flags 0x${toNum(flags).toString(16)}`));
        return;
      }
    }
    const sent = toNum(v['argsz']);
    const info = requireLayout(this.profile, 'vfio_iommu_type1_info').size; // sizeof(info), padding included
    if (!o || sent < offsetofend(this.profile, 'vfio_iommu_type1_info', 'cap_offset') || o['argsz'] === undefined || o['cap_offset'] === undefined) return;
    const need = toNum(o['argsz']);
    const at = toNum(o['cap_offset']);
    this.ctx.count('invariants.abi-hygiene');
    const want = sent >= need ? info : 0;
    if (need < info || at !== want) {
      out.push(this.obj('abi-hygiene', ev, `VFIO_IOMMU_GET_INFO with argsz ${sent} answered argsz ${need} and cap_offset ${at}: the chain starts right after the struct (${info}) when the caller's argsz holds all of it, else cap_offset is 0`, `cap_offset ${want}`, `cap_offset ${at}`));
    }
    if (sent >= need && at === info && ioas) this.checkCapIovaRange(ev, ctx, ioas, out);
    if (sent >= need && at === info) this.checkChainSize(ev, sent, need, out);
    // The kernel fills a zeroed struct (iommufd_vfio_iommu_get_info: info = {}): pad goes back 0, whatever the caller sent.
    const pad = o['pad'];
    if (sent >= info && pad !== undefined && toNum(pad) !== 0) out.push(this.obj('abi-hygiene', ev, `VFIO_IOMMU_GET_INFO answered pad 0x${toNum(pad).toString(16)}: the struct goes back zeroed but for what the kernel fills in`, 'pad 0', `pad 0x${toNum(pad).toString(16)}`));
  }

  /**
   * Requests the kernel refuses whatever the implementation: VFIO_SET_IOMMU
   * of a type other than TYPE1, TYPE1v2 or NOIOMMU (EINVAL); IOMMU_OPTION
   * RLIMIT_MODE SET without CAP_SYS_RESOURCE (EPERM) or on a context that
   * already holds objects (EBUSY) (iommufd_option_rlimit_mode); and large
   * IOPTEs turned off under a domain that maps areas (checkLargePagesOff).
   */
  private checkRefusals(ev: StepEvent, ok: boolean, out: Objection[]): void {
    const req = ev.request;
    if (req.op === 'set_process') {
      if (req.capSysResource !== undefined) this.capSysResource = req.capSysResource;
      return;
    }
    if (!ok || req.op !== 'ioctl' || this.shadow.lost || (ev.template.defects ?? []).some((d) => d.abi)) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (req.arg.kind === 'struct' && req.arg.readOnly && ((typeof req.cmd === 'string' && ANSWERED_ON_SUCCESS.has(req.cmd)) || (req.cmd === 'IOMMU_VFIO_IOAS' && toNum(req.arg.fields['op']) === IOMMU_VFIO_IOAS_GET))) {
      this.ctx.count('invariants.abi-hygiene');
      out.push(this.obj('abi-hygiene', ev, `${commandName(req)} succeeded with a read-only argument: it writes its answer into the caller's struct on every success, and that copy faults (EFAULT) (DISPATCH.ANSWER_WRITTEN)`, 'EFAULT', 'ok'));
    }
    const token = enumValue(this.profile, 'VFIO_DEVICE_BIND_FLAG_TOKEN');
    if (req.cmd === 'VFIO_DEVICE_BIND_IOMMUFD' && req.arg.kind === 'struct' && token !== undefined && (toNum(req.arg.fields['flags'] ?? 0) & token) !== 0) {
      this.ctx.count('invariants.abi-hygiene');
      out.push(this.obj('abi-hygiene', ev, `VFIO_DEVICE_BIND_IOMMUFD with VFIO_DEVICE_BIND_FLAG_TOKEN succeeded, but the device is neither an SR-IOV PF nor a VF (ADAPTER.md §3.6), so it takes no VF token: vfio_pci_core_match_token_uuid refuses one (EINVAL) (VFIO_BIND.TOKEN)`, 'EINVAL', 'ok'));
    }
    if (req.cmd === 'IOMMU_HWPT_ALLOC' && req.arg.kind === 'struct') this.checkDriverPagingFlags(ev, ctx, req.arg.fields, out);
    if (req.cmd === 'VFIO_SET_IOMMU' && req.arg.kind === 'int') {
      const type = Number(req.arg.value);
      this.ctx.count('invariants.abi-hygiene');
      if (type !== VFIO_TYPE1_IOMMU && type !== VFIO_TYPE1v2_IOMMU && type !== VFIO_NOIOMMU_IOMMU) out.push(this.obj('abi-hygiene', ev, `VFIO_SET_IOMMU of type ${type} succeeded: only TYPE1, TYPE1v2 and NOIOMMU are accepted (EINVAL)`, 'EINVAL', 'ok'));
      // NOIOMMU is taken only by a context in no-IOMMU mode (a VFIO no-iommu group's container,
      // iommufd_vfio_compat_set_no_iommu), which no context here is: every device sits behind an IOMMU.
      if (type === VFIO_NOIOMMU_IOMMU) out.push(this.obj('abi-hygiene', ev, `VFIO_SET_IOMMU of VFIO_NOIOMMU_IOMMU succeeded on a context not in no-IOMMU mode (no VFIO no-iommu group set it: every device here sits behind an IOMMU): iommufd_vfio_set_iommu refuses it (EINVAL) (VFIO_COMPAT.SET_IOMMU)`, 'EINVAL', 'ok'));
      if (type === VFIO_TYPE1_IOMMU && ctx) this.checkLargePagesOff(ev, ctx, ctx.compatIoas, out);
      return;
    }
    if (req.cmd === 'IOMMU_IOAS_ALLOW_IOVAS' && req.arg.kind === 'struct') {
      const ranges = allowIovasRanges(req.arg.fields);
      if (!ranges) return;
      this.ctx.count('invariants.abi-hygiene');
      const flat = ranges.find((r) => r.start >= r.last);
      if (flat) out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_ALLOW_IOVAS succeeded with the range ${hexOf(flat.start)}..${hexOf(flat.last)}, whose start is not below its last: iommufd_ioas_load_iovas refuses it (EINVAL) (IOAS_ALLOW_IOVAS.START_GE_LAST)`, 'EINVAL', 'ok'));
      const j = ranges.findIndex((r, i) => ranges.slice(0, i).some((q) => overlaps(q, r)));
      const a = ranges[j];
      if (a && !flat) out.push(this.obj('abi-hygiene', ev, `IOMMU_IOAS_ALLOW_IOVAS succeeded with the range ${hexOf(a.start)}..${hexOf(a.last)} overlapping one before it in the same request: iommufd_ioas_load_iovas refuses any range the ones before it meet (interval_tree_iter_first over [start, last]: EINVAL) (IOAS_ALLOW_IOVAS.OVERLAP)`, 'EINVAL', 'ok'));
      return;
    }
    // The first test of IOAS_MAP, MAP_FILE and COPY: an IOVA or length field of ULONG_MAX or more is
    // EOVERFLOW, an automatic map's iova field included (iommufd_ioas_map, _map_file, _copy).
    const top = OVERFLOW_FIELDS[req.cmd as string];
    if (top && req.arg.kind === 'struct') {
      const args = req.arg.fields;
      this.ctx.count('invariants.abi-hygiene');
      const big = top.find((f) => args[f] !== undefined && toBig(args[f]) >= U64_MAX);
      if (big) out.push(this.obj('abi-hygiene', ev, `${req.cmd} succeeded with ${big} ${hexOf(toBig(args[big]))}: an IOVA or length of ULONG_MAX or more is refused first (EOVERFLOW), whatever the flags (IOAS_MAP.U64_MAX, IOAS_COPY.U64_MAX)`, 'EOVERFLOW', 'ok'));
    }
    if (req.cmd !== 'IOMMU_OPTION' || req.arg.kind !== 'struct') return;
    const v = req.arg.fields;
    if (toNum(v['op']) !== IOMMU_OPTION_OP_SET) return;
    if (toNum(v['option_id']) === IOMMU_OPTION_HUGE_PAGES && toBig(v['val64']) === 0n && ctx) this.checkLargePagesOff(ev, ctx, v['object_id'], out);
    if (toNum(v['option_id']) !== IOMMU_OPTION_RLIMIT_MODE) return;
    this.ctx.count('invariants.accounting');
    if (this.capSysResource === false) {
      out.push(this.obj('accounting', ev, 'IOMMU_OPTION RLIMIT_MODE SET succeeded for a process without CAP_SYS_RESOURCE: choosing how pins are charged takes it (EPERM)', 'EPERM', 'ok'));
    } else if (ctx && ctx.objects.size > 0) {
      out.push(this.obj('accounting', ev, `IOMMU_OPTION RLIMIT_MODE SET succeeded on a context holding ${ctx.objects.size} object(s): the mode changes only while it holds none (EBUSY)`, 'EBUSY', 'ok'));
    }
  }

  /**
   * VFIO_COMPAT.EXTENSIONS: the container advertises what it implements
   * (iommufd_vfio_check_extension): TYPE1, TYPE1v2 and UNMAP_ALL (1 outside
   * no-IOMMU mode), NOIOMMU as built, DMA_CC_IOMMU as its domains enforce
   * (judged on its own). Everything else — nesting, which SET_IOMMU refuses,
   * UPDATE_VADDR, the SPAPR types, a number nothing defines — answers 0: a
   * user that believes the answer builds on a container type it cannot have.
   */
  private checkExtensionHonoured(ev: StepEvent, ext: number, out: Objection[]): void {
    const known = [VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL, VFIO_NOIOMMU_IOMMU, VFIO_DMA_CC_IOMMU];
    if (known.includes(ext) || !ev.response.ok) return;
    const ret = (ev.response.result as { ret?: number }).ret;
    this.ctx.count('invariants.abi-hygiene');
    if (ret !== 0) out.push(this.obj('abi-hygiene', ev, `VFIO_CHECK_EXTENSION(${ext}) answers ${ret}, but the iommufd container implements no such extension: it answers 1 for TYPE1, TYPE1v2 and UNMAP_ALL, NOIOMMU as built and DMA_CC_IOMMU as its domains enforce, 0 for the rest (VFIO_COMPAT.EXTENSIONS)`, 'ret=0', `ret=${ret}`));
  }

  /**
   * VFIO_COMPAT.SET_IOMMU: iommufd_vfio_set_iommu tests the type before
   * anything else (the no-iommu branch aside, which no context here takes):
   * a type other than TYPE1 or TYPE1v2 is EINVAL, whether or not the context
   * has a compat IOAS (ENODEV comes after it).
   */
  private checkSetIommuType(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'VFIO_SET_IOMMU' || req.arg.kind !== 'int' || this.shadow.lost || this.failNth || (ev.template.defects ?? []).some((d) => d.abi)) return;
    const type = Number(req.arg.value);
    if (type === VFIO_TYPE1_IOMMU || type === VFIO_TYPE1v2_IOMMU || !this.shadow.ctxOfFd(req.fd)?.alive) return;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EINVAL') out.push(this.obj('abi-hygiene', ev, `VFIO_SET_IOMMU of type ${type} failed with ${name}: a type other than TYPE1 and TYPE1v2 is refused first (EINVAL), before the compat IOAS is looked up (VFIO_COMPAT.SET_IOMMU)`, 'EINVAL', name));
  }

  /**
   * HWPT.AUTO_DOMAIN_REUSE, the side that must succeed: a device file's
   * attach by IOAS id, for a device bound and attached nowhere whose group
   * has no device attached — or its replace, the group together on one
   * paging HWPT — ends on an automatic domain — an existing one
   * its driver accepts, else a new one made for the device
   * (iommufd_device_auto_get_domain). The new one is refused only where the
   * IOAS cannot take it (iopt_table_add_domain,
   * iommufd_device_attach_reserved_iova): an area or allowed range outside
   * the unit's aperture or over a reserved region of the group's, an
   * area not aligned to the unit's smallest page, a smallest page above
   * PAGE_SIZE, an area mapped with neither READ nor WRITE (which a driver
   * may refuse to map). Judged where filling it pins nothing new (the IOAS is empty
   * or a domain already holds it: no RLIMIT_MEMLOCK, no user page that went
   * away), so any other refusal leaves a device that should translate
   * blocked (or where it was). Not judged for a group whose members differ
   * in unit or coherency, or sit apart.
   */
  private checkAttachRefused(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly || errnoName(errno ?? 0) === 'EFAULT') return;
    const v = req.arg.fields;
    const f = this.shadow.fds.get(req.fd);
    const d = f?.device;
    if (toNum(v['flags']) !== 0 || !d?.bound || d.bound.file !== f || !f?.fdOpen || d.removed || !d.bound.ctx.alive) return;
    const ctx = d.bound.ctx;
    // A replace (the device attached: iommufd_device_replace) moves the whole group off a paging HWPT.
    const from = d.hwpt === undefined ? undefined : ctx.objects.get(d.hwpt);
    if (d.hwpt !== undefined && from?.type !== 'hwpt_paging') return;
    const target = ctx.objects.get(toNum(v['pt_id']));
    if (target?.type === 'hwpt_paging') {
      this.checkAttachToHwptRefused(ev, errno, d, target, out);
      return;
    }
    const ioas = this.shadow.ioas(ctx, v['pt_id']);
    const unit = this.shadow.unit(d.iommu);
    if (!ioas || !unit) return;
    // The domain goes to the whole group (__iommu_attach_group): each member must take it — the
    // same unit, and coherency enforced only if every member can (the new domain enforces when
    // the attaching device can) — and none may sit anywhere but where the device sits.
    const group = this.shadow.liveDevices().filter((x) => x.group === d.group);
    if (d.hwpt === undefined && group.some((x) => x !== d && x.hwpt !== undefined)) {
      this.checkJoinRefused(ev, errno, d, ioas, group, out);
      return;
    }
    if (group.some((x) => x !== d && (x.hwpt !== d.hwpt || x.iommu !== d.iommu || (d.capable && !x.capable)))) return;
    if (!this.takesNewDomain(ctx, ioas, unit, group.flatMap((x) => x.reserved))) return;
    this.ctx.count('invariants.lifetime');
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    const how = d.hwpt === undefined ? 'bound, attached nowhere, its group detached' : `attached to HWPT ${d.hwpt} with its group: a replace`;
    out.push(this.obj('lifetime', ev, `VFIO_DEVICE_ATTACH_IOMMUFD_PT of device ${d.handle} (${d.iommu}, ${how}) to IOAS ${ioas.id} failed with ${name}, but the IOAS can take a domain of its unit: every area and allowed range lies in the aperture, clear of the device's reserved regions and aligned to its smallest page, and ${ioas.segs.length === 0 ? 'nothing is mapped' : 'a domain already holds what is mapped'}: an attach by IOAS id finds or makes an automatic domain (HWPT.AUTO_DOMAIN_REUSE)`, 'ok', name));
  }

  /**
   * HWPT.AUTO_DOMAIN_REUSE, for a device that joins its group: a device
   * attached nowhere whose group's other members (bound to the same context,
   * of the same unit and coherency, no PASID attached) all sit on one
   * automatic HWPT of the IOAS it names, is added to that HWPT
   * (iommufd_device_auto_get_domain skips the others with EINVAL; the group
   * already holds the domain, iommufd_hw_pagetable_attach only adds the
   * device). Only the device's own reserved regions over the IOAS's areas or
   * allowed ranges (EADDRINUSE) or memory refuse it: any other answer is a
   * group iommufd lost track of (a sibling's igroup freed under it).
   */
  private checkJoinRefused(ev: StepEvent, errno: number | undefined, d: DeviceRec, ioas: IoasObj, group: readonly DeviceRec[], out: Objection[]): void {
    const ctx = d.bound?.ctx;
    const others = group.filter((x) => x !== d);
    const on = others[0]?.hwpt;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    if (!ctx || on === undefined || d.pasid || d.mock || name === 'ENOMEM') return;
    if (others.some((x) => x.hwpt !== on || x.bound?.ctx !== ctx || x.iommu !== d.iommu || x.capable !== d.capable || x.pasid)) return;
    const h = ctx.objects.get(on);
    if (h?.type !== 'hwpt_paging' || !h.auto || h.mock || h.ioas !== ioas.id || ioas.domainsUnknown) return;
    const meets = (r: Range): boolean => d.reserved.some((y) => overlaps(y, r));
    if (ioas.segs.some((x) => x.uncertain || meets(x)) || ioas.allowed.some(meets)) return;
    this.ctx.count('invariants.group-isolation');
    out.push(this.obj('group-isolation', ev, `VFIO_DEVICE_ATTACH_IOMMUFD_PT of device ${d.handle} (${d.iommu}, attached nowhere) to IOAS ${ioas.id} failed with ${name}, but the rest of its group sits on HWPT ${on}, an automatic HWPT of that IOAS, and the device's reserved regions are clear of it: the search finds the group's HWPT and adds the device to it (HWPT.AUTO_DOMAIN_REUSE)`, 'ok', name));
  }

  /**
   * HWPT.SAME_UNIT_ATTACH: a domain allocated for a device of one IOMMU
   * instance takes every device of that instance (the drivers' compatibility
   * tests — VT-d paging_domain_compatible, AMD's, the SMMU's smmu_domain->smmu
   * — compare the domain with the instance it was made for), coherency
   * aside: an enforcing domain refuses a device that cannot enforce. So an
   * attach by HWPT id to a paging HWPT made for the device's own unit, of a
   * group attached nowhere (or, for a replace, together on one paging HWPT),
   * fails only where the group's reserved regions meet the HWPT's IOAS
   * (iommufd_device_attach_reserved_iova: EADDRINUSE) or for memory. Not
   * judged for the selftest's mock devices (their domains follow each mock
   * device's flags), for a device with a PASID attached (7.3: the RID's
   * HWPT must then be PASID-compatible), nor for a HWPT with dirty tracking
   * and a device that does not track (the domain's dirty ops refuse it).
   */
  private checkAttachToHwptRefused(ev: StepEvent, errno: number | undefined, d: DeviceRec, h: HwptObj, out: Objection[]): void {
    const ctx = d.bound?.ctx;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    if (!ctx || name === 'ENOMEM' || h.unit !== d.iommu || h.mock || d.mock || d.pasid || (h.enforcing && !d.capable) || (h.dirtyTracking && d.dirty !== true) || h.ioas === undefined) return;
    const ioas = this.shadow.ioas(ctx, h.ioas);
    const from = d.hwpt === undefined ? undefined : ctx.objects.get(d.hwpt);
    if (!ioas || ioas.domainsUnknown || (d.hwpt !== undefined && from?.type !== 'hwpt_paging')) return;
    const group = this.shadow.liveDevices().filter((x) => x.group === d.group);
    if (group.some((x) => x !== d && (x.hwpt !== d.hwpt || x.iommu !== d.iommu || x.pasid || (h.enforcing && !x.capable) || (h.dirtyTracking && x.dirty !== true)))) return;
    const reserved = group.flatMap((x) => x.reserved);
    const meets = (r: Range): boolean => reserved.some((y) => overlaps(y, r));
    if (ioas.segs.some((x) => x.uncertain || meets(x)) || ioas.allowed.some(meets)) return;
    this.ctx.count('invariants.lifetime');
    const how = d.hwpt === undefined ? 'its group attached nowhere' : `a replace from HWPT ${d.hwpt} with its group`;
    out.push(this.obj('lifetime', ev, `VFIO_DEVICE_ATTACH_IOMMUFD_PT of device ${d.handle} (${d.iommu}, ${how}) to HWPT ${h.id} failed with ${name}, but HWPT ${h.id}'s domain was allocated for a device of ${d.iommu} too${h.enforcing ? ' (enforcing, and the device can enforce)' : ''}, and the group's reserved regions are clear of IOAS ${ioas.id}: a domain takes the devices of the instance it was made for (HWPT.SAME_UNIT_ATTACH)`, 'ok', name));
  }

  /**
   * The search of an attach by IOAS id goes through the IOAS's automatic
   * HWPTs in order and takes the first whose domain accepts the device
   * (iommufd_device_auto_get_domain; EINVAL skips one): with an automatic
   * HWPT made for the device's own unit on the list (coherency allowing), it
   * never ends on a new domain, nor on a later one than the first such
   * (ioas->hwpt_list is in creation order: list_add_tail). Judged for a
   * device attached nowhere whose group is attached nowhere
   * (HWPT.AUTO_DOMAIN_REUSE).
   */
  private checkAutoReuse(ev: StepEvent, ctx: CtxRec, ioasId: number, answered: number, existing: boolean, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || toNum(req.arg.fields['flags']) !== 0) return;
    const d = this.shadow.fds.get(req.fd)?.device;
    if (!d || d.mock || d.pasid || d.bound?.ctx !== ctx) return;
    // A device on an automatic HWPT of this IOAS moved to it again (a replace) goes through the same
    // search, oldest first: it stays only where its own is the first that takes it.
    const current = d.hwpt === undefined ? undefined : ctx.objects.get(d.hwpt);
    if (d.hwpt !== undefined && !(existing && current?.type === 'hwpt_paging' && current.auto && current.ioas === ioasId)) return;
    const group = this.shadow.liveDevices().filter((x) => x.group === d.group);
    if (group.some((x) => x !== d && (x.hwpt !== undefined || x.iommu !== d.iommu || x.pasid))) return;
    const fits = [...ctx.objects.values()].find((o): o is HwptObj => o.type === 'hwpt_paging' && o.auto && o.ioas === ioasId && o.unit === d.iommu && !o.mock && !(o.enforcing && group.some((x) => !x.capable)));
    if (!fits || fits.id === answered) return;
    this.ctx.count('invariants.lifetime');
    if (existing) {
      // The answer is an automatic HWPT of the IOAS made after the first that takes the device (ctx.objects keeps creation order).
      const order = [...ctx.objects.keys()];
      if (order.indexOf(answered) > order.indexOf(fits.id)) out.push(this.obj('lifetime', ev, `VFIO_DEVICE_ATTACH_IOMMUFD_PT of device ${d.handle} (${d.iommu}) to IOAS ${ioasId} answered automatic HWPT ${answered}, but automatic HWPT ${fits.id}, made before it for ${d.iommu} too, takes the device: the search goes through the IOAS's HWPTs in the order they were made (list_add_tail onto ioas->hwpt_list) and stops at the first that accepts (HWPT.AUTO_DOMAIN_REUSE)`, `HWPT ${fits.id}`, `HWPT ${answered}`));
      return;
    }
    out.push(this.obj('lifetime', ev, `VFIO_DEVICE_ATTACH_IOMMUFD_PT of device ${d.handle} (${d.iommu}) to IOAS ${ioasId} answered HWPT ${answered}, a new automatic domain, but automatic HWPT ${fits.id} of that IOAS was made for ${d.iommu} too and takes the device: the search reuses the first automatic domain that accepts it and allocates only when none does (HWPT.AUTO_DOMAIN_REUSE)`, `an existing automatic HWPT (HWPT ${fits.id} takes it)`, `a new HWPT ${answered}`));
  }

  /**
   * A new domain of `unit` can be added to the IOAS without pinning anything
   * (iopt_table_add_domain): the IOAS is empty or a domain already holds
   * what it maps; every area and allowed range lies in the aperture (the
   * rest is reserved for the domain: EADDRINUSE over one), clear of
   * `reserved` (the attaching group's regions, iommufd_device_attach_reserved_iova)
   * and aligned to the unit's smallest page, itself at most PAGE_SIZE; and
   * no area has neither READ nor WRITE (type1's MAP_DMA with flags 0), which
   * some drivers refuse to map (6.12 VT-d __domain_mapping: EINVAL).
   */
  private takesNewDomain(ctx: CtxRec, ioas: IoasObj, unit: IommuInfo, reserved: readonly Range[], { pinsJudged = false }: { readonly pinsJudged?: boolean } = {}): boolean {
    if (ioas.domainsUnknown || unit.minPage <= 0n || unit.minPage > PAGE) return false;
    if (ioas.segs.some((x) => x.uncertain || (!x.read && !x.write))) return false;
    // Pages no domain holds yet are pinned by the fill, which may fail (EFAULT, ENOMEM): only a
    // caller that lets those two through may judge an IOAS whose areas no domain holds.
    const held = [...ctx.objects.values()].some((o) => o.type === 'hwpt_paging' && o.ioas === ioas.id);
    if (ioas.segs.length > 0 && !held && !pinsJudged) return false;
    const clear = (r: Range): boolean => r.start >= unit.aperture.start && r.last <= unit.aperture.last && !reserved.some((y) => overlaps(y, r));
    const aligned = (x: Segment): boolean => x.start % unit.minPage === 0n && (x.last + 1n) % unit.minPage === 0n && (x.ps.va + x.psOff) % unit.minPage === 0n;
    return ioas.segs.every((x) => clear(x) && aligned(x)) && ioas.allowed.every(clear);
  }

  /**
   * HWPT_ALLOC.PAGING_SUCCEEDS: IOMMU_HWPT_ALLOC of a plain paging HWPT — no
   * flags, no driver data (data_type NONE, data_len 0), reserved fields 0 —
   * for a device bound in the context, over one of its IOASes, refuses
   * nothing iommufd_hwpt_alloc and iommufd_hwpt_paging_alloc check: the
   * driver allocates a domain (only ENOMEM) and iopt_table_add_domain takes
   * it where the IOAS can (takesNewDomain; the group's reserved regions
   * matter only at attach). An older caller's struct (a size between the
   * minimum and sizeof) is the same request with the rest read as 0.
   */
  private checkPagingAllocRefused(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_HWPT_ALLOC' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly) return;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    // ERANGE: the fill of an area past what the new table can reach though inside its aperture (6.12
    // AMD v1: iommu_v1_map_pages past the sixth level), a driver's limit, as for a map.
    if (name === 'EFAULT' || name === 'ENOMEM' || name === 'ERANGE') return;
    const v = kernelFields(this.profile, req);
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!v || !ctx?.alive || toNum(v['__reserved']) !== 0 || toNum(v['__reserved2']) !== 0) return;
    const dev = ctx.objects.get(toNum(v['dev_id']));
    const d = dev?.type === 'device' ? dev.dev : undefined;
    // 7.3's PASID-capable paging HWPT is built as the plain one by VT-d (its second stage takes
    // the flag) and the mock; AMD needs PASID support for it (v2 tables), SMMUv3 stage 1.
    const driver = d && this.driverOf(d.iommu);
    const pasid = this.profile === '7.3' && toNum(v['flags']) === IOMMU_HWPT_ALLOC_PASID && (driver === 'intel' || driver === 'mock');
    // 7.3: IOMMU_HWPT_FAULT_ID_VALID alone is the core's, taken off before the driver builds the
    // plain domain (flags & ~IOMMU_HWPT_FAULT_ID_VALID); then a fault_id naming no fault queue
    // (an object the shadow knows to be something else, or nothing) is the lookup's ENOENT.
    const faultAt = ctx.objects.get(toNum(v['fault_id']));
    const faultOnly = this.profile === '7.3' && toNum(v['flags']) === IOMMU_HWPT_FAULT_ID_VALID && faultAt?.type !== 'other' && (faultAt !== undefined || this.followsEveryHolder(ctx));
    if (toNum(v['flags']) !== 0 && !pasid && !faultOnly) return;
    if (faultOnly && name === 'ENOENT') return;
    const data = toNum(v['data_type']) !== 0 || toNum(v['data_len']) !== 0;
    // The 7.3 mock's MOCK_IOMMUPT_HUGE table: PAGE_SIZE | MOCK_HUGE_PAGE_SIZE, and the AMDv1
    // aperture itself, not the mock's (its end is past MOCK_APERTURE_LAST: mock_domain_alloc_pgtable
    // WARNs otherwise), so what lies in [0, MOCK_APERTURE_LAST] on 4 KiB boundaries fits.
    const huge = enumValue(this.profile, 'MOCK_IOMMUPT_HUGE');
    const hugeTable = data && d?.mockFlags !== undefined && huge !== undefined && this.shadow.selftestPagetable(v) === huge;
    if (data && !hugeTable && (d?.mockFlags === undefined || !this.mockTakesPagingData(v))) return;
    const ioas = this.shadow.ioas(ctx, v['pt_id']);
    const own = d && this.shadow.unit(d.iommu);
    const unit = own && hugeTable ? { ...own, aperture: { start: 0n, last: BigInt(MOCK_APERTURE_LAST) }, minPage: PAGE } : own;
    // EFAULT and ENOMEM, the pins' answers, pass above: areas no domain holds yet are judged too.
    if (!d || d.removed || d.bound?.ctx !== ctx || !ioas || !unit || !this.takesNewDomain(ctx, ioas, unit, [], { pinsJudged: true })) return;
    this.ctx.count('invariants.lifetime');
    const size = req.arg.fields['size'];
    const older = size !== undefined && toNum(size) < requireLayout(this.profile, 'iommu_hwpt_alloc').size ? toNum(size) : undefined;
    out.push(this.obj('lifetime', ev, `IOMMU_HWPT_ALLOC of a paging HWPT (${pasid ? 'IOMMU_HWPT_ALLOC_PASID alone' : faultOnly ? 'IOMMU_HWPT_FAULT_ID_VALID alone, with a fault_id naming no fault queue: the fault lookup\u2019s ENOENT once the domain is built' : 'no flags'}, ${data ? `selftest data of ${toNum(v['data_len'])} bytes asking for the ${hugeTable ? 'huge' : 'default'} mock page table` : 'no driver data'}${older ? `, an older caller\u2019s ${older}-byte struct` : ''}) for device ${d.bound.id} (${d.iommu}) over IOAS ${ioas.id} failed with ${name}, but the IOAS can take a domain of its unit: every area and allowed range lies in the aperture, aligned to its smallest page, and ${ioas.segs.length === 0 ? 'nothing is mapped' : 'what is mapped can be pinned and reached (EFAULT, ENOMEM and ERANGE aside)'} (HWPT_ALLOC.PAGING_SUCCEEDS)`, faultOnly ? 'ENOENT' : 'ok', name));
  }

  /**
   * HWPT_ALLOC.NESTED_PARENT: a nested HWPT_ALLOC over a paging HWPT that is
   * no nesting parent of the device's driver — an automatic domain, one
   * allocated without IOMMU_HWPT_ALLOC_NEST_PARENT, or one another driver
   * made — is refused with EINVAL (iommufd_hwpt_nested_alloc:
   * parent->auto_domain || !parent->nest_parent || domain->owner != ops),
   * once the flags (IOMMU_HWPT_FAULT_ID_VALID, 7.3 also IOMMU_HWPT_ALLOC_PASID),
   * the data and the driver's nested op (7.3 domain_alloc_nested: VT-d and
   * the mock only; 6.12 domain_alloc_user: every driver) passed. A domain
   * handed to a driver that did not make it is read as its own.
   */
  private checkNestedOnForeignParent(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const n = this.nestedAllocOf(ev);
    if (!n || (n.flags & ~this.nestedFlags()) !== 0) return;
    const { dev, parent } = n;
    const mine = this.driverOf(dev.iommu);
    if (!mine) return;
    if (this.profile !== '6.12' && mine !== 'intel' && mine !== 'mock') {
      this.checkNestedWithoutDriverOp(ev, n, mine, ok, errno, out);
      return;
    }
    const theirs = parent.unit === undefined ? undefined : this.driverOf(parent.unit);
    const why = parent.auto
      ? 'an automatic domain (made by an attach to an IOAS)'
      : parent.nestParent === false
        ? 'allocated without IOMMU_HWPT_ALLOC_NEST_PARENT'
        : theirs && theirs !== mine
          ? `a domain the ${theirs} driver made for ${parent.unit}`
          : undefined;
    if (!why) {
      this.checkNestedOnOwnParent(ev, n, mine, theirs, ok, errno, out);
      return;
    }
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EINVAL') out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC of a nested HWPT (flags 0x${n.flags.toString(16)}) for device ${dev.handle ?? dev.key} (${dev.iommu}, driver ${mine}) over HWPT ${parent.id}, ${why}, answered ${name}: a parent that is no nesting parent of this driver is refused before the driver sees it (EINVAL) (HWPT_ALLOC.NESTED_PARENT)`, 'EINVAL', name));
  }

  /**
   * HWPT_ALLOC.NESTED_PARENT, the driver's op: in 7.3 only VT-d and the mock
   * have domain_alloc_nested (AMD and SMMUv3 nest through a vIOMMU), and
   * iommufd_hwpt_nested_alloc tests for it with the flags and the data, before
   * it looks at the parent: a nested allocation with valid flags and data for
   * any other driver's device is EOPNOTSUPP, whatever the parent is.
   */
  private checkNestedWithoutDriverOp(ev: StepEvent, n: { flags: number; dev: DeviceRec; parent: HwptObj; dataLen: number }, mine: string, ok: boolean, errno: number | undefined, out: Objection[]): void {
    if (n.dataLen === 0) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EOPNOTSUPP') out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC of a nested HWPT (flags 0x${n.flags.toString(16)}, ${n.dataLen} bytes of data) for device ${n.dev.handle ?? n.dev.key} (${n.dev.iommu}, driver ${mine}) over HWPT ${n.parent.id} answered ${name}: the ${mine} driver has no domain_alloc_nested, which iommufd_hwpt_nested_alloc tests before the parent (EOPNOTSUPP) (HWPT_ALLOC.NESTED_PARENT)`, 'EOPNOTSUPP', name));
  }

  /**
   * HWPT_ALLOC.NESTED_PARENT, the other way: over a nesting parent the
   * user allocated for a mock device (IOMMU_HWPT_ALLOC_NEST_PARENT, so
   * hwpt_paging->nest_parent), a mock device's nested allocation with
   * selftest data passes the core's parent test and reaches the driver's
   * nested allocation (6.12 mock_domain_alloc_user, 7.3
   * mock_domain_alloc_nested), whose copy of the data refuses with EINVAL
   * only a length short of the iotlb word or longer than the profile's struct
   * iommu_hwpt_selftest (__iommu_copy_struct_from_user: len < min_len ||
   * sizeof < len; 4 bytes in 6.12, 8 in 7.3: the 6.12 lane's EINVAL for 8
   * bytes). Between those, a kernel without nesting in its driver, or the
   * reference, answers EOPNOTSUPP, the mock builds the HWPT, and EINVAL is
   * the parent refused: a nest_parent the allocation never recorded.
   */
  private checkNestedOnOwnParent(ev: StepEvent, n: { flags: number; dev: DeviceRec; parent: HwptObj; dataType: number; dataLen: number }, mine: string, theirs: string | undefined, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const { dev, parent } = n;
    if (mine !== 'mock' || theirs !== 'mock' || parent.nestParent !== true || parent.auto || n.dataType !== IOMMU_HWPT_DATA_SELFTEST) return;
    if (n.dataLen < offsetofend(this.profile, 'iommu_hwpt_selftest', 'iotlb') || n.dataLen > requireLayout(this.profile, 'iommu_hwpt_selftest').size) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EINVAL') return;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC of a nested HWPT (flags 0x${n.flags.toString(16)}) for mock device ${dev.key} over HWPT ${parent.id}, a nesting parent allocated for the mock unit, failed with EINVAL: the core's parent test passes a user nesting parent of the device's own driver, and the driver refuses selftest data of ${n.dataLen} bytes (the iotlb word at least, its struct at most) for nothing but memory (HWPT_ALLOC.NESTED_PARENT)`, 'not EINVAL', 'EINVAL'));
  }

  /**
   * HWPT_ALLOC.NESTED_PARENT, its first test: a nested allocation takes IOMMU_HWPT_FAULT_ID_VALID
   * (and, 7.3, IOMMU_HWPT_ALLOC_PASID) only; any other flag, a paging HWPT's
   * NEST_PARENT or DIRTY_TRACKING included, is EOPNOTSUPP before the parent
   * is looked at (iommufd_hwpt_nested_alloc).
   */
  private checkNestedFlags(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const n = this.nestedAllocOf(ev);
    const extra = n ? n.flags & ~this.nestedFlags() : 0;
    if (!n || extra === 0) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EOPNOTSUPP') out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC of a nested HWPT over HWPT ${n.parent.id} with flags 0x${n.flags.toString(16)} answered ${name}: a flag a nested HWPT cannot have (0x${extra.toString(16)}) is refused before its parent is looked at (EOPNOTSUPP) (HWPT_ALLOC.NESTED_PARENT)`, 'EOPNOTSUPP', name));
  }

  /**
   * iommufd_hwpt_alloc's first tests, before it looks anything up: after
   * __reserved (EOPNOTSUPP), a data_type and data_len that disagree — NONE
   * with a length, a type with none — are EINVAL, whatever the ids name
   * (HWPT_ALLOC.DATA_LEN_MISMATCH). Then, over an IOAS, FAULT_ID_VALID with
   * NEST_PARENT is EOPNOTSUPP before a domain is built: every test of
   * iommufd_hwpt_paging_alloc ahead of that one answers EOPNOTSUPP as well,
   * and 6.12 takes no FAULT_ID_VALID for a paging HWPT at all
   * (HWPT_ALLOC.FAULT_WITH_NEST_PARENT); building the nesting parent first
   * and failing the fault lookup (ENOENT) answers another errno. And over a
   * paging HWPT, no driver data is EOPNOTSUPP, the nested allocation's first
   * test, before the parent is judged (HWPT_ALLOC.NESTED_PARENT).
   */
  private checkHwptAllocFirst(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_HWPT_ALLOC' || req.arg.kind !== 'struct' || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0)) return;
    const v = kernelFields(this.profile, req);
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!v || !ctx?.alive || toNum(v['__reserved'] ?? 0) !== 0) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    const type = toNum(v['data_type'] ?? 0);
    const len = toNum(v['data_len'] ?? 0);
    if ((type !== IOMMU_HWPT_DATA_NONE) !== (len !== 0)) {
      this.ctx.count('invariants.abi-hygiene');
      if (name !== 'EINVAL') out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC with data_type ${type} and data_len ${len} ${ok ? 'succeeded' : `failed with ${name}`}: iommufd_hwpt_alloc refuses ${type !== IOMMU_HWPT_DATA_NONE ? 'a data type with no data' : 'data with no type'} (EINVAL) before it looks up the device or pt_id (HWPT_ALLOC.DATA_LEN_MISMATCH)`, 'EINVAL', name));
      return;
    }
    if (this.shadow.lost) return;
    const dev = ctx.objects.get(toNum(v['dev_id']));
    const pt = ctx.objects.get(toNum(v['pt_id']));
    if (dev?.type !== 'device' || dev.dev.removed) return;
    if (pt?.type === 'hwpt_paging' && len === 0) {
      this.ctx.count('invariants.abi-hygiene');
      if (name !== 'EOPNOTSUPP') out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC of a nested HWPT over HWPT ${pt.id} with no driver data ${ok ? 'succeeded' : `failed with ${name}`}: iommufd_hwpt_nested_alloc's first test refuses a nested allocation without user data (EOPNOTSUPP), before it looks at the parent (HWPT_ALLOC.NESTED_PARENT)`, 'EOPNOTSUPP', name));
      return;
    }
    const both = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_FAULT_ID_VALID;
    if ((toNum(v['flags']) & both) !== both || pt?.type !== 'ioas') return;
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EOPNOTSUPP') out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC of a paging HWPT over IOAS ${pt.id} for device ${dev.dev.handle ?? dev.dev.key} with IOMMU_HWPT_FAULT_ID_VALID and IOMMU_HWPT_ALLOC_NEST_PARENT ${ok ? 'succeeded' : `failed with ${name}`}: a nesting parent takes no fault queue, refused (EOPNOTSUPP) before its domain is built (iommufd_hwpt_paging_alloc; 6.12: a flag a paging HWPT does not take) (HWPT_ALLOC.FAULT_WITH_NEST_PARENT)`, 'EOPNOTSUPP', name));
  }

  /**
   * OBJECTS.UNFINALIZED_INVISIBLE: an object holds its id from its
   * allocation (an XA_ZERO_ENTRY) but is found only once finalized
   * (iommufd_object_finalize), so a lookup in between sees nothing.
   * IOMMU_TEST_OP_MOCK_DOMAIN allocates its selftest object first — the
   * lowest free id (XA_FLAGS_ALLOC1) — and then looks its cmd->id up to
   * attach the new device: naming that very id finds nothing (ENOENT), as
   * for any id that names no object. Judged where the shadow knows every id
   * of the context.
   */
  private checkUnfinalizedInvisible(ev: StepEvent, ok: boolean, errno: number | undefined, before: IdsBefore | undefined, out: Objection[]): void {
    const req = ev.request;
    if (!before || before.hidden > 0 || before.unfollowed || this.failNth || req.op !== 'ioctl' || req.cmd !== 'IOMMU_TEST_CMD' || req.arg.kind !== 'struct') return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || TEST_OP.get(toNum(req.arg.fields['op'])) !== 'IOMMU_TEST_OP_MOCK_DOMAIN') return;
    let lowest = 1;
    while (before.live.has(lowest)) lowest++;
    if (toNum(req.arg.fields['id']) !== lowest) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.lifetime');
    if (name === 'ENOENT' || name === 'ENOMEM') return;
    out.push(this.obj('lifetime', ev, `IOMMU_TEST_OP_MOCK_DOMAIN naming id ${lowest}, the lowest id free in the context, ${ok ? 'succeeded' : `failed with ${name}`}: its own selftest object is allocated first and holds that id, but is found only once finalized, so the attach to it finds nothing (ENOENT) (OBJECTS.UNFINALIZED_INVISIBLE)`, 'ENOENT', name));
  }

  /**
   * What iommufd_hwpt_alloc does with pt_id, once __reserved, the data's
   * type and length, and the device passed: an id that names no IOAS and no
   * paging HWPT (nothing at all, a device, a nested HWPT) is EINVAL, not
   * ENOENT (iommufd_get_object(..., IOMMUFD_OBJ_ANY) failing, or the type
   * switch's default: rc = -EINVAL) (HWPT_ALLOC.PT_ID). And a paging domain
   * (pt_id an IOAS) takes no driver data but the selftest's: VT-d, AMD and
   * SMMUv3 refuse user_data for a paging allocation (7.3 *_domain_alloc_paging_flags,
   * 6.12 *_domain_alloc_user with no parent: EOPNOTSUPP) (HWPT_ALLOC.PAGING_DATA).
   */
  private checkHwptAllocTarget(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_HWPT_ALLOC' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0)) return;
    const v = kernelFields(this.profile, req);
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!v || !ctx?.alive || toNum(v['__reserved'] ?? 0) !== 0) return;
    const typed = toNum(v['data_type'] ?? 0) !== 0;
    if (typed !== (toNum(v['data_len'] ?? 0) !== 0)) return;
    const dev = ctx.objects.get(toNum(v['dev_id']));
    if (dev?.type !== 'device' || dev.dev.removed) return;
    const pt = ctx.objects.get(toNum(v['pt_id']));
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    if (pt?.type === 'ioas') {
      const driver = this.driverOf(dev.dev.iommu);
      if (!ok || !typed || !driver || driver === 'mock') return;
      this.ctx.count('invariants.abi-hygiene');
      out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC of a paging HWPT over IOAS ${pt.id} for device ${dev.dev.handle ?? dev.dev.key} (${dev.dev.iommu}, driver ${driver}) succeeded with driver data of type ${toNum(v['data_type'])}: a paging domain takes no user data there, the driver refuses it (EOPNOTSUPP) (HWPT_ALLOC.PAGING_DATA)`, 'EOPNOTSUPP', 'ok'));
      return;
    }
    // An id the shadow does not know is no IOAS or paging HWPT only where it follows every object of the context.
    if (pt?.type === 'hwpt_paging' || pt?.type === 'other' || (pt === undefined && !this.followsEveryHolder(ctx))) return;
    this.ctx.count('invariants.abi-hygiene');
    if (name === 'EINVAL') return;
    const what = pt === undefined ? 'names no object of the context' : `names ${objType(pt)} ${pt.id}`;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC with pt_id ${toNum(v['pt_id'])}, which ${what}, answered ${name}: a pt_id that is no IOAS and no paging HWPT is refused with EINVAL once the device is found (iommufd_hwpt_alloc) (HWPT_ALLOC.PT_ID)`, 'EINVAL', name));
  }

  /**
   * VFIO_BIND.ARGSZ_FLAGS_FD: a negative iommufd is refused with the argument
   * checks (EINVAL: bind.iommufd < 0), before any file is looked up — not
   * fget's EBADF.
   */
  private checkBindNegativeFd(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'VFIO_DEVICE_BIND_IOMMUFD' || req.arg.kind !== 'struct' || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || this.shadow.fds.get(req.fd)?.kind !== 'device') return;
    const fd = toNum(req.arg.fields['iommufd']) | 0;
    if (fd >= 0) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EINVAL') out.push(this.obj('abi-hygiene', ev, `VFIO_DEVICE_BIND_IOMMUFD with iommufd ${fd} ${ok ? 'succeeded' : `failed with ${name}`}: vfio_df_ioctl_bind_iommufd refuses a negative descriptor with its argument checks (EINVAL), before it looks any file up (VFIO_BIND.ARGSZ_FLAGS_FD)`, 'EINVAL', name));
  }

  /**
   * TEST_CMD.MD_CHECK_REFS: a uptr or length not page aligned, or a range
   * past the top of the address space (check_add_overflow), is refused first
   * (EINVAL), before any page is looked up: a success walked pages it was
   * never asked about, or skipped part of one; another errno looked them up.
   */
  private checkCheckRefsArgs(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_TEST_CMD' || req.arg.kind !== 'struct' || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0)) return;
    const v = req.arg.fields;
    if (TEST_OP.get(toNum(v['op'])) !== 'IOMMU_TEST_OP_MD_CHECK_REFS' || !this.shadow.ctxOfFd(req.fd)?.alive) return;
    const m = (v['check_refs'] ?? {}) as StructValue;
    if (!checkRefsRefused(m)) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EINVAL') out.push(this.obj('abi-hygiene', ev, `IOMMU_TEST_OP_MD_CHECK_REFS of ${hexOf(toBig(m['length']))} bytes at ${hexOf(toBig(m['uptr']))} ${ok ? 'succeeded' : `failed with ${name}`}, but a uptr or length not page aligned (or a range past the top) is refused first (EINVAL, TEST_CMD.MD_CHECK_REFS)`, 'EINVAL', name));
  }

  /**
   * What the selftest's ops refuse by what their ids name, before any work
   * (selftest.c; TEST_CMD.OP_LOOKUPS):
   * - MD_CHECK_IOTLB looks its id up as a nested HWPT (get_md_pagetable_nested):
   *   an id naming nothing, or an object of another type (an IOAS, a paging
   *   HWPT, a device), is ENOENT;
   * - MD_CHECK_MAP over a mock paging HWPT with a uptr + length that wraps is
   *   EINVAL (check_add_overflow; 6.12 before the lookup, 7.3 after it);
   * - ACCESS_PAGES through an access created without
   *   MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES is EOPNOTSUPP (ops !=
   *   &selftest_access_ops_pin), once its length (16 MiB at most) and flags pass;
   * - MOCK_DOMAIN_REPLACE looks its id up as a selftest object
   *   (iommufd_test_get_selftest_obj, IOMMUFD_OBJ_SELFTEST): an id naming
   *   nothing, or an object of another type (the device's own id, an IOAS, a
   *   HWPT), is ENOENT before the replace is tried.
   */
  private checkTestOpLookups(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_TEST_CMD' || req.arg.kind !== 'struct' || this.failNth || this.shadow.lost) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly) return;
    const v = req.arg.fields;
    const op = TEST_OP.get(toNum(v['op']));
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!ctx?.alive) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    const refuse = (want: string, why: string): void => {
      this.ctx.count('invariants.abi-hygiene');
      if (name !== want) out.push(this.obj('abi-hygiene', ev, `${op} ${ok ? 'succeeded' : `failed with ${name}`}: ${why} (${want}, TEST_CMD.OP_LOOKUPS)`, want, name));
    };
    if (op === 'IOMMU_TEST_OP_MD_CHECK_IOTLB') {
      const id = toNum(v['id']);
      const o = ctx.objects.get(id);
      if (o?.type === 'hwpt_nested' || o?.type === 'other' || ctx.dead.has(id)) return;
      refuse('ENOENT', `id ${id} names ${o ? `${o.type === 'hwpt_paging' ? 'a paging HWPT' : `an object of type ${o.type}`}` : 'no object'}, and the check looks it up as a nested HWPT (get_md_pagetable_nested)`);
    } else if (op === 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE') {
      const id = toNum(v['id']);
      const o = ctx.objects.get(id);
      if (o?.type === 'selftest' || o?.type === 'other' || ctx.dead.has(id)) return;
      refuse('ENOENT', `id ${id} names ${o ? `an object of type ${o.type}` : 'no object'}, and the replace looks it up as a selftest device (iommufd_test_get_selftest_obj)`);
    } else if (op === 'IOMMU_TEST_OP_MD_CHECK_MAP') {
      const h = ctx.objects.get(toNum(v['id']));
      const m = (v['check_map'] ?? {}) as StructValue;
      if (h?.type !== 'hwpt_paging' || !h.mock || toBig(m['uptr']) + toBig(m['length']) <= U64_MAX) return;
      refuse('EINVAL', `a uptr of ${hexOf(toBig(m['uptr']))} and a length of ${hexOf(toBig(m['length']))} wrap past the top of the address space, which iommufd_test_md_check_pa refuses (check_add_overflow) before it walks HWPT ${h.id}`);
    } else if (op === 'IOMMU_TEST_OP_ACCESS_PAGES') {
      const af = this.shadow.fds.get(toNum(v['id']));
      const m = (v['access_pages'] ?? {}) as StructValue;
      const a = af?.access;
      if (!a || af.ctx !== ctx || a.alignment !== 1n || toBig(m['length']) > 16n << 20n || (toNum(m['flags']) & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) !== 0) return;
      refuse('EOPNOTSUPP', `access fd ${toNum(v['id'])} was created without MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, and iommufd_test_access_pages pins only through an access with the pinning ops (ops != &selftest_access_ops_pin)`);
    }
  }

  /**
   * IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT guards _batch_init: a limit below
   * sizeof(unsigned long) + sizeof(u32) is EINVAL, any other is taken and
   * nothing else is checked (iommufd_test) (TEST_CMD.TEMP_MEMORY_LIMIT).
   */
  private checkTempMemoryLimit(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_TEST_CMD' || req.arg.kind !== 'struct' || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0)) return;
    const v = req.arg.fields;
    if (toNum(v['op']) !== IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT || !this.shadow.ctxOfFd(req.fd)?.alive) return;
    const limit = toNum(((v['memory_limit'] ?? {}) as StructValue)['limit']);
    const least = 8 + 4; // sizeof(unsigned long) + sizeof(u32): one batch entry
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if ((limit < least) === (name === 'EINVAL')) return;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT of ${limit} bytes answered ${name}: a limit below ${least} bytes (one batch entry, sizeof(unsigned long) + sizeof(u32)) is refused with EINVAL, any other is taken (TEST_CMD.TEMP_MEMORY_LIMIT)`, limit < least ? 'EINVAL' : 'ok', name));
  }

  /** The flags iommufd_hwpt_nested_alloc takes. */
  private nestedFlags(): number {
    return IOMMU_HWPT_FAULT_ID_VALID | (this.profile === '6.12' ? 0 : IOMMU_HWPT_ALLOC_PASID);
  }

  /**
   * A well-formed nested IOMMU_HWPT_ALLOC that reaches iommufd_hwpt_nested_alloc:
   * reserved field 0, driver data named and given, a device bound in the
   * context, a paging HWPT of it as pt_id.
   */
  private nestedAllocOf(ev: StepEvent): { flags: number; dev: DeviceRec; parent: HwptObj; dataType: number; dataLen: number } | undefined {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_HWPT_ALLOC' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return undefined;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly) return undefined;
    const v = kernelFields(this.profile, req);
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!v || !ctx?.alive || toNum(v['__reserved'] ?? 0) !== 0 || toNum(v['data_type'] ?? 0) === 0 || toNum(v['data_len'] ?? 0) === 0) return undefined;
    const dev = ctx.objects.get(toNum(v['dev_id']));
    const parent = ctx.objects.get(toNum(v['pt_id']));
    if (dev?.type !== 'device' || dev.dev.removed || dev.dev.bound?.ctx !== ctx || parent?.type !== 'hwpt_paging') return undefined;
    return { flags: toNum(v['flags']), dev: dev.dev, parent, dataType: toNum(v['data_type']), dataLen: toNum(v['data_len']) };
  }

  /**
   * The driver data GET_HW_INFO writes is a struct the driver zeroed and then
   * filled (intel_iommu_hw_info, amd_iommufd_hw_info, arm_smmu_hw_info:
   * kzalloc): every member the uAPI marks reserved reads 0, and a flags
   * member holds only bits its enum defines (GET_HW_INFO.VENDOR). False when
   * it objected.
   */
  private checkVendorMembers(ev: StepEvent, struct: string, info: StructValue, who: string, out: Objection[]): boolean {
    this.ctx.count('invariants.abi-hygiene');
    for (const f of requireLayout(this.profile, struct).root.fields) {
      const value = info[f.name];
      const flags = f.def?.flags;
      const undefinedBits = flags && f.kind === 'scalar' ? toNum(value) & ~flagMask(this.profile, flags) : 0;
      if (f.def?.role === 'reserved' ? allZero(value) : undefinedBits === 0) continue;
      const what = f.def?.role === 'reserved' ? `its reserved member ${f.name} non-zero` : `${f.name} 0x${toNum(value).toString(16)}, with bits ${flags} does not define (0x${undefinedBits.toString(16)})`;
      out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered ${struct} for ${who} with ${what}: the driver fills a zeroed struct, so what it does not set reads 0 (GET_HW_INFO.VENDOR)`, `${f.name} 0`, `${f.name} ${String(value)}`));
      return false;
    }
    return true;
  }

  /**
   * A driver's hardware info is its unit's registers as read, and the
   * driver decides from the same registers (GET_HW_INFO.VTD_REGISTERS,
   * GET_HW_INFO.VENDOR), so what a device reads must agree with what its
   * IOMMU does for it; registers read from another unit, or a decision made
   * on another unit's, show:
   * - VT-d (intel_iommu_hw_info: cap, ecap; flags always ERRATA_772415_SPR17):
   *   ENFORCE_CACHE_COHERENCY is ecap.SC, DIRTY_TRACKING ssads_supported
   *   (SMTS, SLADS, SMPWC), a nesting parent or nested HWPT needs
   *   nested_supported (SMTS, NEST) (intel_iommu_capable, 6.12
   *   intel_iommu_domain_alloc_user, 7.3 intel_iommu_domain_alloc_second_stage
   *   and intel_iommu_domain_alloc_nested). Scalable mode is on wherever
   *   ecap.SMTS is set (ADAPTER.md §3.6).
   * - AMD, 7.3 (amd_iommufd_hw_info: EFR, EFR2): DIRTY_TRACKING is EFR.HDSUP
   *   (amd_iommu_hd_support), a nesting parent needs EFR.GT, EFR.GIOSUP and
   *   EFR2.GCR3TRPMODE (is_nest_parent_supported).
   * - SMMUv3, 7.3 (arm_smmu_hw_info: IDR0..IDR5, IIDR, AIDR): every page size
   *   the unit maps comes from a granule IDR5 reports (arm_smmu_device_hw_probe:
   *   GRAN4K 4K/2M/1G, GRAN16K 16K/32M, GRAN64K 64K/512M); AIDR holds the
   *   architecture revision, bits 31:8 RES0 and ArchMajorRev 0 (SMMUv3.x).
   */
  private checkDriverRegisters(ev: StepEvent, dev: DeviceRec, v: StructValue, o: StructValue | undefined, out: Objection[]): void {
    if (!o || !ev.response.ok) return;
    const type = toNum(o['out_data_type'] ?? -1);
    const driver = this.driverOf(dev.iommu);
    if (driver === 'mock' && type === enumValue(this.profile, 'IOMMU_HW_INFO_TYPE_SELFTEST')) {
      this.checkMockHwInfo(ev, dev, v, out);
      return;
    }
    const struct = type === IOMMU_HW_INFO_TYPE_INTEL_VTD && driver === 'intel' ? 'iommu_hw_info_vtd' : type === IOMMU_HW_INFO_TYPE_AMD && driver === 'amd' ? 'iommu_hw_info_amd' : type === IOMMU_HW_INFO_TYPE_ARM_SMMUV3 && driver === 'smmuv3' ? 'iommu_hw_info_arm_smmuv3' : undefined;
    if (!struct) return;
    const layout = requireLayout(this.profile, struct);
    const bytes = (ev.response.result as IoctlResult).buffers?.['data_uptr'];
    const who = `device ${dev.handle ?? dev.key} (${dev.iommu})`;
    this.ctx.count('invariants.abi-hygiene');
    if (toNum(o['data_len']) < layout.size) {
      // The driver gives the length of its whole struct (intel_iommu_hw_info: *length = sizeof(*vtd)),
      // which iommufd_get_hw_info reports whatever the caller's buffer holds.
      out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered type ${type} for ${who} with data_len ${toNum(o['data_len'])}, short of struct ${struct} (${layout.size} bytes in this profile's header): the driver reports its whole struct, the length the kernel supports, whatever the caller's buffer holds (GET_HW_INFO.VENDOR)`, `data_len >= ${layout.size}`, `data_len ${toNum(o['data_len'])}`));
      return;
    }
    if (!bytes || toNum(v['data_len']) < layout.size || bytes.length < layout.size) return;
    const info = decodeStruct(this.profile, struct, bytes.subarray(0, layout.size));
    if (!this.checkVendorMembers(ev, struct, info, who, out)) return;
    const bitOf = (reg: bigint) => (n: number): boolean => ((reg >> BigInt(n)) & 1n) === 1n;
    // [what the registers decide, what the device has (undefined: not known), what the registers say]
    let facts: [string, boolean | undefined, boolean][];
    let regs: string;
    let source: string;
    if (struct === 'iommu_hw_info_vtd') {
      const ecap = toBig(info['ecap_reg']);
      const bit = bitOf(ecap);
      const sm = bit(VTD_ECAP_SMTS);
      regs = `ecap_reg 0x${ecap.toString(16)}`;
      source = 'intel_iommu_capable';
      facts = [
        ['IOMMU_CAP_ENFORCE_CACHE_COHERENCY (ecap.SC)', dev.capable, bit(VTD_ECAP_SC)],
        ['IOMMU_CAP_DIRTY_TRACKING (ssads_supported: ecap.SMTS, SLADS, SMPWC)', dev.dirty, sm && bit(VTD_ECAP_SLADS) && bit(VTD_ECAP_SMPWC)],
      ];
      this.nestRegs.set(dev.key, { regs, canNest: sm && bit(VTD_ECAP_NEST), plainCan: sm && bit(VTD_ECAP_NEST) && (this.profile === '6.12' || bit(VTD_ECAP_SLTS)), needs: `nested_supported (ecap.SMTS and NEST)${this.profile === '6.12' ? '' : ', and second-stage tables (SLTS) for a plain one'}` });
      const flags = toNum(info['flags']);
      this.ctx.count('invariants.abi-hygiene');
      if ((flags & IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17) === 0) {
        out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered VT-d flags 0x${flags.toString(16)} for ${who}, without IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17: intel_iommu_hw_info sets it for every unit (GET_HW_INFO.VTD_REGISTERS)`, 'ERRATA_772415_SPR17 set', `flags 0x${flags.toString(16)}`));
        return;
      }
    } else if (struct === 'iommu_hw_info_amd') {
      const efr = toBig(info['efr']);
      const efr2 = toBig(info['efr2']);
      const canNest = bitOf(efr)(AMD_EFR_GT) && bitOf(efr)(AMD_EFR_GIOSUP) && bitOf(efr2)(AMD_EFR2_GCR3TRPMODE);
      regs = `efr 0x${efr.toString(16)}, efr2 0x${efr2.toString(16)}`;
      source = 'amd_iommu_capable';
      facts = [['IOMMU_CAP_DIRTY_TRACKING (amd_iommu_hd_support: EFR.HDSUP)', dev.dirty, bitOf(efr)(AMD_EFR_HDSUP)]];
      this.nestRegs.set(dev.key, { regs, canNest, plainCan: canNest, needs: 'is_nest_parent_supported (EFR.GT, EFR.GIOSUP, EFR2.GCR3TRPMODE)' });
    } else {
      this.checkSmmuRegisters(ev, dev, info, out);
      return;
    }
    this.ctx.count('invariants.abi-hygiene');
    for (const [what, has, says] of facts) {
      if (has === undefined || has === says) continue;
      out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered ${regs} for ${who}, which ${says ? 'grants' : 'denies'} ${what}, but its IOMMU ${has ? 'gives' : 'does not give'} it that: the registers are its unit's, and ${source} reads the same ones (GET_HW_INFO.VTD_REGISTERS)`, `registers ${has ? 'with' : 'without'} it`, `registers ${says ? 'with' : 'without'} it`));
      return;
    }
    const r = this.nestRegs.get(dev.key) as NestRegs;
    const madeAt = this.nestMade.get(dev.key);
    const refusedAt = this.nestRefused.get(dev.key);
    if (refusedAt !== undefined && r.plainCan) out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered ${regs} for ${who}, with ${r.needs}, but step ${refusedAt} refused it a plain nesting parent with EOPNOTSUPP: the driver's capability checks pass (GET_HW_INFO.VTD_REGISTERS)`, 'registers that cannot nest', regs));
    if (madeAt !== undefined && !r.canNest) out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered ${regs} for ${who}, without ${r.needs}, but step ${madeAt} made a nesting HWPT for it: the driver refuses one (EOPNOTSUPP) on a unit that cannot nest (GET_HW_INFO.VTD_REGISTERS)`, 'registers that can nest', regs));
  }

  /** The SMMUv3 half of checkDriverRegisters: IDR5's granules against the unit's page sizes, AIDR's revision. */
  private checkSmmuRegisters(ev: StepEvent, dev: DeviceRec, info: StructValue, out: Objection[]): void {
    const idr = info['idr'] as unknown[];
    const idr5 = toNum(idr[5]);
    const aidr = toNum(info['aidr']);
    const pgsizes = this.shadow.unit(dev.iommu)?.pgsizes;
    const who = `device ${dev.handle ?? dev.key} (${dev.iommu})`;
    const granules: [string, number, bigint][] = [['GRAN4K', 4, (1n << 12n) | (1n << 21n) | (1n << 30n)], ['GRAN16K', 5, (1n << 14n) | (1n << 25n)], ['GRAN64K', 6, (1n << 16n) | (1n << 29n)]];
    this.ctx.count('invariants.abi-hygiene');
    const missing = pgsizes !== undefined ? granules.find(([, bit, sizes]) => (pgsizes & sizes) !== 0n && ((idr5 >>> bit) & 1) === 0) : undefined;
    if (missing && pgsizes !== undefined) {
      out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered IDR5 0x${idr5.toString(16)} for ${who}, without ${missing[0]}, but the unit maps pages of that granule (pgsize_bitmap 0x${pgsizes.toString(16)}): the driver takes its page sizes from the granules IDR5 reports, and the info is the registers as read (arm_smmu_hw_info) (GET_HW_INFO.VENDOR)`, `IDR5 with ${missing[0]}`, `IDR5 0x${idr5.toString(16)}`));
      return;
    }
    if ((aidr & ~0xff) !== 0 || ((aidr >>> 4) & 0xf) !== 0) out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered AIDR 0x${aidr.toString(16)} for ${who}: an SMMUv3's AIDR has bits 31:8 RES0 and ArchMajorRev (7:4) 0, its minor revision alone in 3:0, so this is another register's value (arm_smmu_hw_info reads ARM_SMMU_AIDR) (GET_HW_INFO.VENDOR)`, 'AIDR 0x0..0xf', `AIDR 0x${aidr.toString(16)}`));
  }

  /**
   * The HWPT_ALLOC half of checkDriverRegisters: a nesting parent (or a
   * nested HWPT) made for a device whose registers, read earlier, cannot
   * nest; or a plain nesting-parent request (no other flag, no data) refused
   * with EOPNOTSUPP, the driver's capability answer, where they can.
   */
  private checkNestingRegisters(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_HWPT_ALLOC' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly) return;
    const v = kernelFields(this.profile, req);
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!v || !ctx?.alive || toNum(v['__reserved'] ?? 0) !== 0) return;
    const dev = ctx.objects.get(toNum(v['dev_id']));
    const driver = dev?.type === 'device' ? this.driverOf(dev.dev.iommu) : undefined;
    if (dev?.type !== 'device' || dev.dev.removed || dev.dev.bound?.ctx !== ctx || (driver !== 'intel' && !(driver === 'amd' && this.profile === '7.3'))) return;
    const parent = ctx.objects.get(toNum(v['pt_id']));
    const nestParent = (toNum(v['flags']) & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
    const nested = driver === 'intel' && parent?.type === 'hwpt_paging' && toNum(v['data_type'] ?? 0) !== 0;
    const r = this.nestRegs.get(dev.dev.key);
    const who = `device ${dev.dev.handle ?? dev.dev.key} (${dev.dev.iommu})`;
    if (ok && (nestParent || nested)) {
      this.nestMade.set(dev.dev.key, ev.step);
      if (!r) return;
      this.ctx.count('invariants.abi-hygiene');
      if (!r.canNest) out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC made ${nestParent ? 'a nesting parent' : 'a nested HWPT'} for ${who}, whose GET_HW_INFO answered ${r.regs}, without ${r.needs}: the driver refuses it (EOPNOTSUPP) (GET_HW_INFO.VTD_REGISTERS)`, 'EOPNOTSUPP', 'ok'));
      return;
    }
    const plain = toNum(v['flags']) === IOMMU_HWPT_ALLOC_NEST_PARENT && toNum(v['data_type'] ?? 0) === 0 && toNum(v['data_len'] ?? 0) === 0 && this.shadow.ioas(ctx, v['pt_id']) !== undefined;
    if (ok || !plain || errnoName(errno ?? 0) !== 'EOPNOTSUPP') return;
    if (!r) {
      this.nestRefused.set(dev.dev.key, ev.step);
      return;
    }
    this.ctx.count('invariants.abi-hygiene');
    if (r.plainCan) out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC of a nesting parent (no other flag, no data) for ${who} failed with EOPNOTSUPP, but its GET_HW_INFO answered ${r.regs}, with ${r.needs}: the driver's capability checks pass (GET_HW_INFO.VTD_REGISTERS)`, 'not EOPNOTSUPP', 'EOPNOTSUPP'));
  }

  /**
   * IOMMU_TEST_OP_ADD_RESERVED's first checks are its length's
   * (iommufd_test_add_reserved): none is EINVAL, and one whose last byte
   * would pass ULONG_MAX is EOVERFLOW, before the IOAS is looked up. A length
   * of 0 read as ULONG_MAX + 1 reserves everything from its start on.
   */
  private checkAddReservedLength(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_TEST_CMD' || req.arg.kind !== 'struct' || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly) return;
    const v = kernelFields(this.profile, req);
    if (!v || TEST_OP.get(toNum(v['op'])) !== 'IOMMU_TEST_OP_ADD_RESERVED') return;
    const m = (v['add_reserved'] ?? {}) as StructValue;
    const start = toBig(m['start'] ?? 0);
    const length = toBig(m['length'] ?? 0);
    const want = length === 0n ? 'EINVAL' : start + length - 1n > U64_MAX ? 'EOVERFLOW' : undefined;
    if (!want || !this.shadow.ctxOfFd(req.fd)) return;
    const got = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (got !== want) out.push(this.obj('abi-hygiene', ev, `IOMMU_TEST_OP_ADD_RESERVED of length ${hexOf(length)} at ${hexOf(start)} answered ${got}: ${length === 0n ? 'a length of 0 is refused first (EINVAL)' : 'a range whose last byte passes ULONG_MAX is refused (EOVERFLOW)'}, before the IOAS is looked up (iommufd_test_add_reserved) (TEST_CMD.ADD_RESERVED)`, want, got));
  }

  /**
   * SMMUv3's and AMD's paging allocations take fixed sets of flag
   * combinations, EOPNOTSUPP for any other (HWPT_ALLOC.DRIVER_REFUSES):
   * - SMMUv3, 7.3 arm_smmu_domain_alloc_paging_flags' switch: none,
   *   NEST_PARENT alone, DIRTY_TRACKING and PASID alone or together (a nesting
   *   parent is a stage-2 table, which neither tracks dirty pages nor serves a
   *   PASID); 6.12 arm_smmu_domain_alloc_user: DIRTY_TRACKING only;
   * - AMD, 7.3 amd_iommu_domain_alloc_paging_flags' switch: none,
   *   DIRTY_TRACKING and NEST_PARENT alone or together (a v1 table), PASID
   *   alone (a v2 table); 6.12 amd_iommu_domain_alloc_user: DIRTY_TRACKING only.
   */
  private checkDriverPagingFlags(ev: StepEvent, ctx: CtxRec | undefined, v: StructValue, out: Objection[]): void {
    const dev = ctx?.objects.get(toNum(v['dev_id']));
    if (!ctx || dev?.type !== 'device' || this.shadow.ioas(ctx, v['pt_id']) === undefined) return;
    const driver = this.driverOf(dev.dev.iommu);
    if (driver !== 'smmuv3' && driver !== 'amd') return;
    const flags = toNum(v['flags']) & ~IOMMU_HWPT_FAULT_ID_VALID;
    const dirty = enumValue(this.profile, 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING') ?? 0;
    const [parent, pasid] = [IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID];
    const taken = this.profile === '6.12' ? [0, dirty] : driver === 'smmuv3' ? [0, parent, dirty, pasid, dirty | pasid] : [0, parent, dirty, dirty | parent, pasid];
    this.ctx.count('invariants.abi-hygiene');
    if (taken.includes(flags)) return;
    const rule =
      this.profile === '6.12'
        ? `DIRTY_TRACKING only (${driver === 'smmuv3' ? 'arm_smmu_domain_alloc_user' : 'amd_iommu_domain_alloc_user'})`
        : driver === 'smmuv3'
          ? 'no flag, NEST_PARENT alone, or DIRTY_TRACKING and PASID (arm_smmu_domain_alloc_paging_flags)'
          : 'no flag, DIRTY_TRACKING and NEST_PARENT (a v1 table), or PASID alone (a v2 table) (amd_iommu_domain_alloc_paging_flags)';
    out.push(this.obj('abi-hygiene', ev, `IOMMU_HWPT_ALLOC of a paging HWPT with flags 0x${flags.toString(16)} succeeded for device ${dev.dev.handle ?? dev.dev.key} (${dev.dev.iommu}, ${driver === 'smmuv3' ? 'SMMUv3' : 'AMD'}), whose driver takes ${rule} and refuses the rest (EOPNOTSUPP) (HWPT_ALLOC.DRIVER_REFUSES)`, 'EOPNOTSUPP', 'ok'));
  }

  /**
   * GET_HW_INFO.VENDOR for the selftest's mock driver (mock_domain_hw_info):
   * struct iommu_test_hw_info comes from a zeroing allocation with only
   * test_reg set (IOMMU_HW_INFO_SELFTEST_REGVAL), so flags is 0: any other
   * bytes there are the kernel's heap reaching the caller.
   */
  private checkMockHwInfo(ev: StepEvent, dev: DeviceRec, v: StructValue, out: Objection[]): void {
    const layout = requireLayout(this.profile, 'iommu_test_hw_info');
    const bytes = ev.response.ok ? (ev.response.result as IoctlResult).buffers?.['data_uptr'] : undefined;
    if (!bytes || toNum(v['data_len']) < layout.size || bytes.length < layout.size) return;
    const info = decodeStruct(this.profile, 'iommu_test_hw_info', bytes.subarray(0, layout.size));
    const [flags, reg] = [toNum(info['flags']), toNum(info['test_reg'])];
    this.ctx.count('invariants.abi-hygiene');
    if (flags !== 0 || reg !== IOMMU_HW_INFO_SELFTEST_REGVAL) out.push(this.obj('abi-hygiene', ev, `IOMMU_GET_HW_INFO answered struct iommu_test_hw_info { flags 0x${flags.toString(16)}, test_reg 0x${reg.toString(16)} } for mock device ${dev.key}: mock_domain_hw_info zero-allocates it and sets test_reg to IOMMU_HW_INFO_SELFTEST_REGVAL alone (GET_HW_INFO.VENDOR)`, `flags 0, test_reg 0x${IOMMU_HW_INFO_SELFTEST_REGVAL.toString(16)}`, `flags 0x${flags.toString(16)}, test_reg 0x${reg.toString(16)}`));
  }

  /** The IOMMU driver a unit's domains belong to, from its page-table format. */
  private driverOf(unit: string): 'intel' | 'amd' | 'smmuv3' | 'mock' | undefined {
    const format = this.shadow.unit(unit)?.format ?? '';
    return format.startsWith('vtd') ? 'intel' : format.startsWith('amd-') ? 'amd' : format.startsWith('arm-') ? 'smmuv3' : format.includes('mock') ? 'mock' : undefined;
  }

  /**
   * Driver data a mock device's paging allocation takes (7.3
   * mock_domain_alloc_paging_flags): IOMMU_HWPT_DATA_SELFTEST read by
   * iommu_copy_struct_from_user up to its first member (iotlb, 4 bytes) at
   * least, so an older caller's 4 bytes leave pagetable_type 0, the default
   * table, as 8 bytes naming MOCK_IOMMUPT_DEFAULT do. 6.12's mock takes no
   * data for a paging domain.
   */
  private mockTakesPagingData(v: StructValue): boolean {
    const pagetable = enumValue(this.profile, 'MOCK_IOMMUPT_DEFAULT');
    return pagetable !== undefined && this.shadow.selftestPagetable(v) === pagetable;
  }

  /**
   * Requests whose handlers have nothing to refuse once the object they name
   * is live (OBJECTS.NOTHING_TO_REFUSE): IOMMU_IOAS_ALLOC with no flags
   * (iommufd_ioas_alloc_ioctl: only ENOMEM); IOMMU_VFIO_IOAS SET of a live
   * IOAS, CLEAR, and GET while the compat IOAS lives (iommufd_vfio_ioas);
   * IOMMU_IOAS_IOVA_RANGES of a live IOAS (iommufd_ioas_iova_ranges: only
   * EMSGSIZE for a short array, EFAULT for the copies); VFIO_GET_API_VERSION
   * on an iommufd (iommufd_vfio_ioctl returns VFIO_API_VERSION). A refusal
   * leaves a caller without what the kernel always gives.
   */
  private checkNeverRefused(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || this.shadow.lost || this.failNth || (ev.template.defects ?? []).some((d) => d.abi)) return;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    if (name === 'EFAULT' || name === 'ENOMEM') return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!ctx?.alive) return;
    let what: string | undefined;
    let clause = 'OBJECTS.NOTHING_TO_REFUSE';
    if (req.cmd === 'VFIO_GET_API_VERSION') what = 'VFIO_GET_API_VERSION on an iommufd returns VFIO_API_VERSION';
    else if (req.arg.kind === 'struct' && !req.arg.readOnly && !req.arg.tail?.some((b) => b !== 0)) {
      const v = req.arg.fields;
      if (req.cmd === 'IOMMU_IOAS_ALLOC' && toNum(v['flags']) === 0) what = 'IOMMU_IOAS_ALLOC with no flags fails only for memory';
      else if (req.cmd === 'IOMMU_IOAS_IOVA_RANGES' && toNum(v['__reserved']) === 0 && name !== 'EMSGSIZE' && this.shadow.ioas(ctx, v['ioas_id'])) what = `IOMMU_IOAS_IOVA_RANGES of IOAS ${toNum(v['ioas_id'])}, which lives, fails only for a short array (EMSGSIZE)`;
      else if (req.cmd === 'IOMMU_IOAS_ALLOW_IOVAS' && name !== 'EADDRINUSE') [what, clause] = [this.allowIovasWellFormed(ctx, v), 'IOAS_ALLOW_IOVAS.WELL_FORMED'];
      // iommufd_get_hw_info: without IOMMU_HW_INFO_FLAG_INPUT_TYPE the type member is set to DEFAULT
      // (7.3; 6.12 has no input type), and every driver answers DEFAULT with its own data.
      else if (req.cmd === 'IOMMU_GET_HW_INFO' && toNum(v['flags']) === 0 && allZero(v['__reserved']) && ctx.objects.get(toNum(v['dev_id']))?.type === 'device') what = `IOMMU_GET_HW_INFO of device ${toNum(v['dev_id'])}, bound to this context, without IOMMU_HW_INFO_FLAG_INPUT_TYPE (whatever the type member holds: the kernel sets it to DEFAULT) fails only for memory or the user buffer`;
      else if (req.cmd === 'IOMMU_VFIO_IOAS' && toNum(v['__reserved']) === 0) {
        const op = toNum(v['op']);
        if (op === IOMMU_VFIO_IOAS_SET && this.shadow.ioas(ctx, v['ioas_id'])) what = `IOMMU_VFIO_IOAS SET of IOAS ${toNum(v['ioas_id'])}, which lives, cannot fail`;
        else if (op === IOMMU_VFIO_IOAS_CLEAR) what = 'IOMMU_VFIO_IOAS CLEAR cannot fail';
        else if (op === IOMMU_VFIO_IOAS_GET && ctx.compatIoas !== undefined && this.shadow.ioas(ctx, ctx.compatIoas)) what = `IOMMU_VFIO_IOAS GET while IOAS ${ctx.compatIoas}, the compat IOAS, lives cannot fail`;
      }
    }
    if (!what) return;
    this.ctx.count('invariants.abi-hygiene');
    out.push(this.obj('abi-hygiene', ev, `${commandName(req)} failed with ${name}, but ${what} (${clause})`, 'ok', name));
  }

  /**
   * IOAS_ALLOW_IOVAS.WELL_FORMED: a list the kernel reads whole (every range
   * sent, __reserved 0) whose ranges each have start < last and meet no other
   * (iommufd_ioas_load_iovas's two tests), for a live IOAS, is refused only
   * where a range meets a reserved IOVA (iopt_set_allow_iova: EADDRINUSE,
   * judged by checkReservedConflicts), for memory or for the copy. What it
   * says of such a list, or undefined when the list is not one.
   */
  private allowIovasWellFormed(ctx: CtxRec, v: StructValue): string | undefined {
    const ioas = this.shadow.ioas(ctx, v['ioas_id']);
    const n = toNum(v['num_iovas']);
    const ranges = n === 0 ? [] : allowIovasRanges(v);
    if (!ioas || !ranges || toNum(v['__reserved']) !== 0) return undefined;
    if (ranges.some((r, i) => r.start >= r.last || ranges.slice(0, i).some((q) => overlaps(q, r)))) return undefined;
    return `its ${n} range(s) (${ranges.map((r) => `${hexOf(r.start)}..${hexOf(r.last)}`).join(' ') || 'none'}) each start below their last and meet no other: iommufd_ioas_load_iovas takes them, and iopt_set_allow_iova refuses only a range that meets a reserved IOVA (EADDRINUSE)`;
  }

  /**
   * IOMMU_OPTION requests no state can refuse: a GET of either option (the
   * context's RLIMIT_MODE, object_id 0; a live IOAS's HUGE_PAGES); a SET
   * of HUGE_PAGES to 1 on a live IOAS, which only lowers the IOAS's
   * alignment and cannot fail (iopt_enable_large_pages returns nothing, in
   * both profiles); a SET of HUGE_PAGES to 0 on an IOAS with no area
   * (iopt_disable_large_pages refuses areas a domain maps, and areas off
   * PAGE_SIZE); a SET of RLIMIT_MODE to 0 or 1 by a process with
   * CAP_SYS_RESOURCE in a context holding no object
   * (iommufd_option_rlimit_mode). Only a malformed argument (the ABI
   * defects) or the copy back of val64 (EFAULT) fails them.
   */
  private checkOptionRefused(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_OPTION' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly || errnoName(errno ?? 0) === 'EFAULT') return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const v = req.arg.fields;
    if (!ctx?.alive || toNum(v['__reserved']) !== 0) return;
    const op = toNum(v['op']);
    const id = toNum(v['option_id']);
    const get = op === IOMMU_OPTION_OP_GET;
    const val = toBig(v['val64']);
    const ioas = id === IOMMU_OPTION_HUGE_PAGES ? this.shadow.ioas(ctx, v['object_id']) : undefined;
    let what: string | undefined;
    if (id === IOMMU_OPTION_RLIMIT_MODE && toNum(v['object_id']) === 0) {
      if (get) what = 'a GET of the context\u2019s RLIMIT_MODE';
      // iommufd_option_rlimit_mode: EPERM without CAP_SYS_RESOURCE, EBUSY while the context holds any object.
      else if (op === IOMMU_OPTION_OP_SET && val <= 1n && this.capSysResource === true && ctx.objects.size === 0 && !this.idsOpen.has(ctx)) what = `a SET of RLIMIT_MODE to ${val} by a process with CAP_SYS_RESOURCE in a context that holds no object`;
    } else if (ioas) {
      if (get) what = `a GET of IOAS ${ioas.id}'s HUGE_PAGES`;
      else if (op === IOMMU_OPTION_OP_SET && val === 1n) what = `a SET of IOAS ${ioas.id}'s HUGE_PAGES to 1 (large IOPTEs back on: the alignment can only go down, iopt_enable_large_pages cannot fail)`;
      // iopt_disable_large_pages returns 0 at once when they are off already, before it looks at domains and areas.
      else if (op === IOMMU_OPTION_OP_SET && val === 0n && !ioas.largePages && !this.optionUnknown.has(ioas)) what = `a SET of IOAS ${ioas.id}'s HUGE_PAGES to 0 while they are off already (iopt_disable_large_pages returns at once, before it looks at domains and areas)`;
      // iopt_disable_large_pages refuses only an IOAS whose domains map areas, or areas off PAGE_SIZE.
      else if (op === IOMMU_OPTION_OP_SET && val === 0n && ioas.segs.length === 0) what = `a SET of IOAS ${ioas.id}'s HUGE_PAGES to 0 on an IOAS with no area (iopt_disable_large_pages refuses only areas a domain maps or areas off PAGE_SIZE)`;
    }
    if (!what) return;
    this.ctx.count('invariants.abi-hygiene');
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_OPTION failed with ${name}, but ${what} fails only on a malformed argument`, 'ok', name));
  }

  /**
   * IOMMU_OPTION GET answers what the last successful SET left (for
   * HUGE_PAGES also VFIO_SET_IOMMU TYPE1, which turns large pages off): a
   * failed SET changes nothing (iopt_disable_large_pages puts the flag back
   * when the alignment cannot be raised). A SET that failed with EFAULT may
   * have kept its effect (only the copy back failed), so its option is not
   * judged until the next SET succeeds.
   */
  private checkOptionGet(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_OPTION' || req.arg.kind !== 'struct' || this.shadow.lost || (ev.template.defects ?? []).some((d) => d.abi)) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const v = req.arg.fields;
    const huge = toNum(v['option_id']) === IOMMU_OPTION_HUGE_PAGES;
    const ioas = ctx && huge ? this.shadow.ioas(ctx, v['object_id']) : undefined;
    if (!ctx || (huge && !ioas) || (!huge && toNum(v['option_id']) !== IOMMU_OPTION_RLIMIT_MODE)) return;
    const key = huge ? ioas : ctx;
    if (toNum(v['op']) === IOMMU_OPTION_OP_SET) {
      // A SET from a read-only struct of the value the option has already fails only at that copy
      // back: the option is as it was.
      const same = req.arg.readOnly && !this.optionUnknown.has(key!) && (huge ? ioas!.largePages === (toBig(v['val64']) !== 0n) : ctx.accountMM === (toBig(v['val64']) === 1n));
      if (ok) this.optionUnknown.delete(key!);
      else if (errnoName(errno ?? 0) === 'EFAULT' && !same) this.optionUnknown.add(key!);
      // The accounting mode changes only in a context with no object (iommufd_option_rlimit_mode:
      // EBUSY under the objects' lock): what is pinned was charged in the mode it was charged in,
      // and would be uncharged in the other. An IOAS goes only by DESTROY or the file's release.
      const held = !huge && ok ? [...ctx.objects.values()].find((o) => o.type === 'ioas') : undefined;
      if (held) {
        this.ctx.count('invariants.accounting');
        out.push(this.obj('accounting', ev, `IOMMU_OPTION SET of RLIMIT_MODE succeeded in a context that holds IOAS ${held.id}: the accounting mode changes only while the context has no object, so pages already charged would be uncharged in the other mode`, 'EBUSY', 'ok'));
      }
      return;
    }
    const answer = ev.response.ok ? (ev.response.result as IoctlResult).out?.['val64'] : undefined;
    if (!ok || answer === undefined || this.optionUnknown.has(key!)) return;
    this.ctx.count('invariants.abi-hygiene');
    const want = (ioas ? ioas.largePages : ctx.accountMM) ? 1n : 0n;
    if (toBig(answer) === want) return;
    const what = ioas ? `HUGE_PAGES of IOAS ${ioas.id}` : 'RLIMIT_MODE';
    out.push(this.obj('abi-hygiene', ev, `IOMMU_OPTION GET of ${what} answered ${toBig(answer)}, but the last successful SET left ${want}: a failed SET changes nothing`, String(want), String(toBig(answer))));
  }

  /**
   * EADDRINUSE is the answer to a conflict the shadow can see
   * (io_pagetable.c): ALLOW_IOVAS refuses a range that meets the reserved
   * tree (iopt_set_allow_iova, after the list loaded: EINVAL comes before),
   * a reservation refuses a range that meets an area or an allowed range
   * (iopt_reserve_iova). Refused with nothing in the way, the IOAS holds a
   * reservation or an allowed range it should not (one a failed command left
   * behind, or a refused ALLOW_IOVAS that kept its ranges).
   */
  private checkReservedConflicts(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (errnoName(errno ?? 0) !== 'EADDRINUSE' || req.op !== 'ioctl' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    const v = req.arg.fields;
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!ctx) return;
    if (req.cmd === 'IOMMU_IOAS_ALLOW_IOVAS') {
      const ioas = this.shadow.ioas(ctx, v['ioas_id']);
      const asked = allowIovasRanges(v);
      const reserved = ioas && this.possiblyReserved(ctx, ioas);
      if (!ioas || !reserved || !asked) return;
      this.ctx.count('invariants.dma-confinement');
      if (!asked.some((a) => reserved.some((x) => overlaps(a, x)))) {
        out.push(this.obj('dma-confinement', ev, `IOMMU_IOAS_ALLOW_IOVAS of IOAS ${ioas.id} failed with EADDRINUSE, but none of ${asked.map((r) => `${hexOf(r.start)}..${hexOf(r.last)}`).join(' ')} meets a reserved IOVA (its own reservations, its devices' regions, its domains' apertures): a reservation left behind?`, 'ok', 'EADDRINUSE'));
      }
      return;
    }
    if (req.cmd === 'IOMMU_TEST_CMD' && TEST_OP.get(toNum(v['op'])) === 'IOMMU_TEST_OP_ADD_RESERVED') {
      const ioas = this.shadow.ioas(ctx, v['id']);
      const m = v['add_reserved'] as StructValue | undefined;
      const r = m && rangeOf(toBig(m['start']), toBig(m['length']));
      if (!ioas || !r || ioas.segs.some((x) => x.uncertain)) return;
      this.ctx.count('invariants.dma-confinement');
      if (!ioas.segs.some((x) => overlaps(x, r)) && !ioas.allowed.some((x) => overlaps(x, r))) {
        out.push(this.obj('dma-confinement', ev, `IOMMU_TEST_OP_ADD_RESERVED of ${hexOf(r.start)}..${hexOf(r.last)} in IOAS ${ioas.id} failed with EADDRINUSE, but no area and no allowed range meets it (an allowed range a refused ALLOW_IOVAS kept?)`, 'ok', 'EADDRINUSE'));
      }
    }
  }

  /**
   * Large IOPTEs go off (IOMMU_OPTION HUGE_PAGES 0, VFIO_SET_IOMMU TYPE1) only
   * while no domain of the IOAS maps anything: a large IOPTE already in place
   * could not be split by a later unmap inside it (iopt_disable_large_pages:
   * EINVAL with domains and areas; nothing to do when already off).
   */
  private checkLargePagesOff(ev: StepEvent, ctx: CtxRec, ioasId: unknown, out: Objection[]): void {
    const ioas = ioasId === undefined ? undefined : this.shadow.ioas(ctx, ioasId);
    if (!ioas) return;
    this.ctx.count('invariants.dma-confinement');
    const domain = [...ctx.objects.values()].find((o) => o.type === 'hwpt_paging' && o.ioas === ioas.id);
    // An area a failed unmap may have taken (uncertain) leaves the answer open.
    const mapped = ioas.segs.filter((x) => !x.uncertain).length;
    if (!ioas.largePages || !domain || mapped === 0 || mapped < ioas.segs.length) return;
    out.push(this.obj('dma-confinement', ev, `${commandName(ev.request)} turned large IOPTEs off for IOAS ${ioas.id}, whose HWPT ${domain.id} already maps its ${mapped} area piece(s): a large IOPTE in place could not be split by an unmap inside it (EINVAL)`, 'EINVAL', 'ok'));
  }

  /** The shadow knows every object of the context that can hold another (no unfollowed allocations). */
  private followsEveryHolder(ctx: CtxRec): boolean {
    if (this.idsOpen.has(ctx)) return false;
    for (const o of ctx.objects.values()) if (o.type === 'other') return false;
    return true;
  }

  /**
   * The context whose object table an ioctl names ids of: an iommufd file's
   * own; for a VFIO device file, the one it binds to (BIND) or the one the
   * file bound (another file of the same device binds nothing: vfio_df_open).
   */
  private ctxOfIoctl(req: Extract<Request, { op: 'ioctl' }>, cmd: string, v: StructValue): CtxRec | undefined {
    const f = this.shadow.fds.get(req.fd);
    if (f?.kind === 'iommufd') return f.ctx;
    if (f?.kind !== 'device' || !cmd.startsWith('VFIO_DEVICE_')) return undefined;
    if (cmd === 'VFIO_DEVICE_BIND_IOMMUFD') return this.shadow.ctxOfFd(toNum(v['iommufd']));
    return f.device?.bound?.file === f ? f.device.bound.ctx : undefined;
  }

  /**
   * Before a command that may create objects: the ids its context holds —
   * the ones the shadow knows, and how many it holds without reporting them
   * (an access object takes an id the uAPI never shows).
   */
  private idsBefore(req: Request): IdsBefore | undefined {
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || typeof req.cmd !== 'string' || this.shadow.lost) return undefined;
    const cmd = req.cmd;
    const v = req.arg.fields;
    const creates = cmd === 'IOMMU_IOAS_ALLOC' || cmd === 'IOMMU_HWPT_ALLOC' || cmd === 'VFIO_DEVICE_BIND_IOMMUFD' || cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' || (cmd === 'IOMMU_TEST_CMD' && CREATING_TEST_OPS.has(TEST_OP.get(toNum(v['op'])) ?? ''));
    const unfollowed = takesUnfollowedIds(cmd, v);
    if (!creates && !unfollowed) return undefined;
    const ctx = this.ctxOfIoctl(req, cmd, v);
    if (!ctx?.alive || this.idsOpen.has(ctx)) return undefined;
    const live = new Map<number, Obj>();
    let hidden = 0;
    for (const [id, o] of ctx.objects) {
      if (o.type === 'access') hidden++;
      else live.set(id, o);
    }
    return { ctx, live, hidden, unfollowed };
  }

  /**
   * OBJECTS.LOWEST_FREE_ID: ids are the lowest free from 1 (xa_alloc with
   * XA_FLAGS_ALLOC1), and a failed command gives back the ids it reserved
   * (iommufd_object_abort). So the k objects a command created hold ids no
   * higher than the k-th id free before it — or the (k+h)-th, when h objects
   * the uAPI does not report (accesses) may sit in the lower gaps. An id
   * above that is one an earlier failure leaked, or one not reused.
   */
  private checkNewIds(ev: StepEvent, before: IdsBefore | undefined, out: Objection[]): void {
    if (!before || this.shadow.lost) return;
    if (before.unfollowed) {
      this.idsOpen.add(before.ctx);
      return;
    }
    const req = ev.request as Extract<Request, { op: 'ioctl' }>;
    if (this.checkIdsNotLive(ev, req, before, out)) return;
    const created: number[] = [];
    for (const [id, o] of before.ctx.objects) if (o.type !== 'access' && !before.live.has(id)) created.push(id);
    if (created.length === 0) return;
    this.ctx.count('invariants.lifetime');
    const bound = nthFreeId(before.live, created.length + before.hidden);
    const high = Math.max(...created);
    if (high <= bound) return;
    const lowest = nthFreeId(before.live, 1);
    const hidden = before.hidden > 0 ? ` (or up to ${bound}: ${before.hidden} access object(s) hold ids the uAPI does not report)` : '';
    out.push(this.obj('lifetime', ev, `${commandName(req)} created object(s) ${created.join(', ')}, but ${created.length === 1 ? `id ${lowest} was the lowest free` : `ids from ${lowest} were free`}${hidden}: ids are the lowest free from 1 (xa_alloc, XA_FLAGS_ALLOC1; OBJECTS.LOWEST_FREE_ID), so one was leaked by an earlier failure or not reused`, `ids ≤ ${bound}`, `id ${high}`));
  }

  /**
   * OBJECTS.LOWEST_FREE_ID, the other half: an id is free only once its
   * object is destroyed. An id a command answers for the object it created
   * is none that still names another object of the context; and the HWPT an
   * attach by IOAS id answers is a new one or a paging HWPT of that IOAS
   * (the automatic domain it reused), never a live object of another kind or
   * IOAS. Otherwise one id would name two objects, and every later command
   * given it reaches the wrong one.
   */
  private checkIdsNotLive(ev: StepEvent, req: Extract<Request, { op: 'ioctl' }>, before: IdsBefore, out: Objection[]): boolean {
    const res = ev.response.ok ? (ev.response.result as IoctlResult).out : undefined;
    if (!res || req.arg.kind !== 'struct') return false;
    const named = answeredIds(req.cmd, req.arg.fields, res);
    for (const { field, id, attachedTo } of named) {
      if (id === 0) {
        this.ctx.count('invariants.lifetime');
        out.push(this.obj('lifetime', ev, `${commandName(req)} succeeded and answered ${field} 0, which names no object: ids start from 1 (xa_alloc with XA_FLAGS_ALLOC1; OBJECTS.LOWEST_FREE_ID)`, 'an id from 1', '0'));
        return true;
      }
      const was = before.live.get(id);
      if (!was) continue;
      if (attachedTo !== undefined && (id === attachedTo || (was.type === 'hwpt_paging' && was.ioas === attachedTo))) continue;
      this.ctx.count('invariants.lifetime');
      const what = attachedTo !== undefined ? `as the HWPT it attached to (asked: ${before.live.get(attachedTo)?.type === 'ioas' ? `IOAS ${attachedTo}, whose automatic HWPT is a new object or a paging HWPT of that IOAS` : `HWPT ${attachedTo}`})` : 'for the object it created';
      out.push(this.obj('lifetime', ev, `${commandName(req)} answered ${field} ${id} ${what}, but id ${id} names a live ${was.type.replace('_', ' ')} of the context, never destroyed: an id names one object until DESTROY frees it (xa_alloc hands out only free ids; OBJECTS.LOWEST_FREE_ID)`, `an id no live object holds`, `id ${id} (a live ${was.type})`));
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- group isolation, coherency

  private checkOwnership(ev: StepEvent, ok: boolean, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'VFIO_DEVICE_BIND_IOMMUFD' || req.arg.kind !== 'struct') return;
    const d = this.shadow.fds.get(req.fd)?.device;
    const target = this.shadow.fds.get(toNum(req.arg.fields['iommufd']))?.ctx;
    if (!d || !target || this.shadow.lost) return;
    if (!ok) {
      const errno = errnoName((ev.response.ok && (ev.response.result as IoctlResult).errno) || 0);
      if ((ev.template.defects ?? []).some((x) => x.abi)) return;
      // EPERM is the group owned by another context (iommu_device_claim_dma_owner); with no device
      // of the group bound elsewhere, the ownership outlived the last bind that held it.
      if (errno === 'EPERM') {
        this.ctx.count('invariants.lifetime');
        const holder = this.shadow.liveDevices().find((x) => x.group === d.group && x.bound && x.bound.ctx !== target);
        if (!holder) out.push(this.obj('lifetime', ev, `binding device ${d.handle} to context #${target.no} failed with EPERM, but no device of its iommu group is bound to another context: the group's DMA ownership was not given back when its last bind went`, 'ok', 'EPERM'));
      } else if (errno === 'EBUSY') {
        // GROUP.OWNERSHIP: while a device of the group is bound, the group has an owner, and
        // iommu_device_claim_dma_owner answers EPERM (another owner) or counts one more user (the
        // same): EBUSY is the unowned group's answer (not in its default domain), never an owned one's.
        const holder = this.shadow.liveDevices().find((x) => x !== d && x.group === d.group && x.bound?.ctx.alive);
        this.ctx.count('invariants.group-isolation');
        if (holder) out.push(this.obj('group-isolation', ev, `binding device ${d.handle} to context #${target.no} failed with EBUSY while device ${holder.handle} of its iommu group is bound to context #${holder.bound!.ctx.no}: an owned group answers a claim with EPERM (another context) or takes it (the same), the group's attachment does not matter`, holder.bound!.ctx === target ? 'ok' : 'EPERM', 'EBUSY'));
      } else if (errno === 'EINVAL') this.checkBindEinval(ev, d, target, out);
      // A read-only argument's EFAULT comes from the copy-back of out_devid, after the bind itself
      // went through: the unit has IOMMU_CAP_CACHE_COHERENCY for the device (checkBindEinval).
      else if (errno === 'EFAULT' && req.arg.readOnly) this.coherentUnits.add(d.iommu);
      return;
    }
    this.coherentUnits.add(d.iommu);
    this.ctx.count('invariants.group-isolation');
    for (const other of this.shadow.liveDevices()) {
      if (other === d || other.group !== d.group || !other.bound || !other.bound.ctx.alive) continue;
      if (other.bound.ctx !== target) {
        out.push(this.obj('group-isolation', ev, `device ${d.handle} was bound to context #${target.no} while device ${other.handle} of the same iommu group is bound to context #${other.bound.ctx.no}: the group is owned by one context`, 'EPERM', 'ok'));
      }
    }
  }

  /**
   * A clean BIND_IOMMUFD (argsz up to out_devid, no flags, an iommufd) of a
   * device no file has bound is refused with EINVAL for one reason left:
   * vfio_df_open's `open_count != 0` on the cdev path, the device open
   * through another file. (The file itself bound — access_granted — is a
   * bound device too; iommufd_bind_iommu's missing IOMMU_CAP_CACHE_COHERENCY
   * is ruled out by a bind that succeeded behind the same unit.) With no
   * file holding the device, an open count outlived the bind or close that
   * took it: the device can never be bound again.
   */
  private checkBindEinval(ev: StepEvent, d: DeviceRec, target: CtxRec, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || req.arg.readOnly || req.arg.tail?.some((b) => b !== 0)) return;
    const v = req.arg.fields;
    const whole = v['argsz'] === undefined || toNum(v['argsz']) >= offsetofend(this.profile, 'vfio_device_bind_iommufd', 'out_devid');
    if (!whole || toNum(v['flags'] ?? 0) !== 0 || !target.alive || d.removed || d.bound || !this.coherentUnits.has(d.iommu)) return;
    this.ctx.count('invariants.lifetime');
    out.push(this.obj('lifetime', ev, `binding device ${d.handle} to context #${target.no} failed with EINVAL, but no file has the device bound: the cdev path refuses only a device another file has open (vfio_df_open, open_count), so an earlier bind or close left it counted open`, 'ok', 'EINVAL'));
  }

  private checkGroupsAndCoherency(ev: StepEvent, ok: boolean, out: Objection[]): void {
    const req = ev.request;
    if (!ok || req.op !== 'ioctl' || typeof req.cmd !== 'string') return;
    const attaches = req.cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' || (req.cmd === 'IOMMU_TEST_CMD' && req.arg.kind === 'struct' && /MOCK_DOMAIN/.test(TEST_OP.get(toNum(req.arg.fields['op'])) ?? ''));
    if (!attaches) return;
    for (const d of this.shadow.liveDevices()) {
      if (!d.bound || d.hwpt === undefined) continue;
      const h = d.bound.ctx.objects.get(d.hwpt);
      this.ctx.count('invariants.coherency');
      if (h && h.type === 'hwpt_paging' && h.enforcing && !d.capable) {
        out.push(this.obj('coherency', ev, `HWPT ${h.id} enforces cache coherency (made for a device whose IOMMU enforces it) but now holds device ${d.handle ?? d.key}, whose IOMMU (${d.iommu}) cannot enforce it`, 'EINVAL', 'ok'));
      }
      this.checkReach(ev, d, h, out);
      this.ctx.count('invariants.group-isolation');
      for (const other of this.shadow.liveDevices()) {
        if (other === d || other.group !== d.group || other.bound?.ctx !== d.bound.ctx || other.hwpt === undefined) continue;
        if (other.hwpt !== d.hwpt) {
          out.push(this.obj('group-isolation', ev, `devices ${d.handle ?? d.key} and ${other.handle ?? other.key} of one iommu group sit in different HWPTs (${d.hwpt} and ${other.hwpt})`, 'one HWPT per group', `${d.hwpt} and ${other.hwpt}`));
          return;
        }
      }
    }
  }

  /**
   * A device sits on a paging domain only if its own unit reaches the whole
   * of the domain's aperture (HWPT.UNIT_REACHES_APERTURE). The IOAS
   * reserves IOVA around each of its domains' apertures, not around its
   * devices' units, so a narrower unit would be offered IOVA it cannot
   * translate (and be handed a table deeper than it walks). Every driver
   * refuses such a domain with EINVAL: VT-d compares the domain's width with
   * the unit's (paging_domain_compatible), and another driver's domain fails
   * the core's owner check (__iommu_attach_group) before that.
   */
  private checkReach(ev: StepEvent, d: DeviceRec, h: Obj | undefined, out: Objection[]): void {
    const unit = this.shadow.unit(d.iommu)?.aperture;
    if (h?.type !== 'hwpt_paging' || !h.aperture || !unit) return;
    this.ctx.count('invariants.dma-confinement');
    if (h.aperture.start >= unit.start && h.aperture.last <= unit.last) return;
    const span = (r: Range): string => `${hexOf(r.start)}..${hexOf(r.last)}`;
    out.push(this.obj('dma-confinement', ev, `device ${d.handle ?? d.key} is attached to HWPT ${h.id}, whose domain spans ${span(h.aperture)} (the unit it was allocated for), but its own unit ${d.iommu} reaches ${span(unit)} only: the IOAS offers IOVA the device cannot reach, so the driver refuses the domain (EINVAL)`, 'EINVAL', 'ok'));
  }

  // ---------------------------------------------------------------- expected translation

  /**
   * The device whose attachment decides what `d` reaches: itself, or another
   * attached device of its iommu group. The domain belongs to the group, not
   * the device: drivers/iommu/iommufd/device.c iommufd_hw_pagetable_attach
   * (6.12 and 7.3) attaches the group (iommu_attach_group_handle) for its
   * first device only — "All the other devices will follow this attachment" —
   * so every device of the group, bound or not, DMAs through it until the
   * last attached one detaches.
   */
  private groupAttachment(d: DeviceRec): DeviceRec | undefined {
    if (d.bound && d.hwpt !== undefined) return d;
    return this.shadow.liveDevices().find((x) => x !== d && x.group === d.group && !x.removed && x.bound !== undefined && x.hwpt !== undefined);
  }

  /** What a device must see at an IOVA, per the shadow. */
  private expectAt(d: DeviceRec, iova: bigint): Expect | undefined {
    if (this.shadow.lost) return undefined;
    if (d.removed) return undefined;
    const via = this.groupAttachment(d);
    if (!via?.bound || via.hwpt === undefined) {
      const owned = this.shadow.liveDevices().some((x) => x.group === d.group && x.bound !== undefined);
      return { mapped: false, open: false, blocked: owned, why: 'no device of its iommu group is attached: its DMA must be blocked' };
    }
    const h = via.bound.ctx.objects.get(via.hwpt);
    if (!h || h.type !== 'hwpt_paging') return undefined; // nested or unknown: the user owns the stage-1 table
    const at = this.shadow.deviceIoas(via);
    if (!at) return { mapped: false, open: false, why: `HWPT ${d.hwpt}'s IOAS is gone` };
    const seg = this.shadow.segmentAt(at.ioas, iova);
    if (!seg) return { mapped: false, open: false, ioasId: at.ioas.id, iova };
    const va = seg.ps.va + seg.psOff + (iova - seg.start);
    const gone = this.shadow.vaGone(va, va);
    // A page whose user mapping is gone is still the buffer page it was while it stays pinned.
    const kept = gone ? this.shadow.keptFrame(seg.ps, va) : undefined;
    const b = gone ? undefined : this.shadow.bufferOfVa(va);
    return {
      mapped: true,
      open: seg.uncertain,
      landingOpen: gone && !kept,
      buffer: kept?.buffer ?? b?.buffer.handle,
      offset: kept?.offset ?? b?.offset,
      read: seg.read,
      write: seg.write,
      last: seg.last,
      ioasId: at.ioas.id,
      iova,
      va,
    };
  }

  private checkTranslate(ev: { step: number; request: Request } | undefined, d: DeviceRec, iova: bigint, t: TranslateResult, probe: { request: Request; response?: Response } | undefined, out: Objection[]): void {
    const e = this.expectAt(d, iova);
    if (!e) return;
    this.ctx.count('invariants.dma-confinement');
    const dev = `device ${d.handle}`;
    if (t.mapped) {
      if (!e.mapped && !e.open) {
        // A translation to memory no buffer holds (a freed table, another domain's page) names no buffer.
        const to = t.buffer === undefined ? 'memory outside every buffer' : `buffer ${t.buffer}+${t.offset}`;
        out.push(this.obj('dma-confinement', ev, `${dev} translates ${hexOf(iova)} to ${to}, but ${reasonOf(e)}`, 'not mapped', `mapped to ${to}`, probe));
        return;
      }
      if (e.mapped && (t.buffer !== e.buffer || t.offset !== e.offset) && !e.open && !e.landingOpen) {
        out.push(this.obj('dma-confinement', ev, `${dev} translates ${hexOf(iova)} to ${t.buffer === undefined ? 'memory outside every user buffer' : `buffer ${t.buffer} + ${t.offset}`}, but ${reasonOf(e)}`, `buffer ${e.buffer}+${e.offset}`, `buffer ${t.buffer}+${t.offset}`, probe));
        return;
      }
      if (e.mapped && !e.open && t.write && !e.write && d.permissions) {
        out.push(this.obj('dma-confinement', ev, `${dev} may write at ${hexOf(iova)}, but the mapping is read-only (${reasonOf(e)})`, 'read-only', 'writable', probe));
        return;
      }
      if (e.mapped && !e.open && t.read && !e.read && this.writeOnlyHeld(d)) {
        out.push(this.obj('dma-confinement', ev, `${dev} may read at ${hexOf(iova)}, but the mapping is write-only (${reasonOf(e)}) and its domain's IOPTEs keep read and write apart (AMD v1 IR/IW, the 7.3 VT-d second stage, an SMMUv3 stage 2) (DMA.WRITE_ONLY_UNREADABLE)`, 'write-only', 'readable', probe));
        return;
      }
    }
    if (e.mapped && !e.open) {
      this.ctx.count('invariants.group-isolation');
      if (!t.mapped) out.push(this.obj('group-isolation', ev, `${dev} cannot reach ${hexOf(iova)}, but ${reasonOf(e)}: a device reaches exactly what its HWPT maps`, 'mapped', 'not mapped', probe));
      else if ((e.read && !t.read && d.permissions) || (e.write && !t.write && d.permissions)) {
        out.push(this.obj('group-isolation', ev, `${dev} has ${t.read ? 'R' : ''}${t.write ? 'W' : ''} at ${hexOf(iova)}, but ${reasonOf(e)}`, `${e.read ? 'R' : ''}${e.write ? 'W' : ''}`, `${t.read ? 'R' : ''}${t.write ? 'W' : ''}`, probe));
      }
    }
  }

  /**
   * What each page a DMA of `length` bytes at `iova` crosses must do, with
   * the bytes of the access in each (up to the page's end, or its mapping
   * segment's); undefined when the shadow cannot say.
   */
  private accessPages(d: DeviceRec, iova: bigint, length: number): { pages: Expect[]; spans: number[] } | undefined {
    const pages: Expect[] = [];
    const spans: number[] = [];
    for (let off = 0n; off < BigInt(Math.max(length, 1)); ) {
      const e = this.expectAt(d, iova + off);
      if (!e) return undefined;
      pages.push(e);
      const pageEnd = ((iova + off) / PAGE + 1n) * PAGE - iova;
      const next = e.mapped && e.last !== undefined && e.last + 1n - iova < pageEnd ? e.last + 1n - iova : pageEnd;
      spans.push(Number((next < BigInt(length) ? next : BigInt(length)) - off));
      off = next;
    }
    return { pages, spans };
  }

  /**
   * The user-buffer bytes a DMA must reach, in order: defined only when every
   * page is mapped to a known buffer page and nothing about it is open.
   */
  private landing(d: DeviceRec, iova: bigint, length: number): Span[] | undefined {
    const a = length > 0 ? this.accessPages(d, iova, length) : undefined;
    if (!a || a.pages.some((e) => !e.mapped || e.open || e.landingOpen || e.buffer === undefined || e.offset === undefined)) return undefined;
    return coalesce(a.pages.map((e, i) => ({ buffer: e.buffer as number, offset: e.offset as number, length: a.spans[i] ?? 0 })));
  }

  private checkDma(ev: { step: number; request: Request } | undefined, d: DeviceRec, iova: bigint, length: number, dir: 'read' | 'write', r: DmaResult, probe: { request: Request; response?: Response } | undefined, out: Objection[]): void {
    const dev = `device ${d.handle}`;
    // A faulted read hands nothing back (ADAPTER.md §3.7), whatever the shadow knows of the device:
    // bytes from a page it may not read would leak there.
    if (!r.ok && r.data !== undefined && r.data.length > 0) {
      this.ctx.count('invariants.dma-confinement');
      out.push(this.obj('dma-confinement', ev, `${dev} DMA ${dir} at ${hexOf(iova)} faulted (${r.fault}) but returned ${r.data.length} byte(s) of data`, 'a fault with no data', `fault: ${r.fault}, ${r.data.length} byte(s)`, probe));
      return;
    }
    // Every page the access crosses must allow it.
    const a = this.accessPages(d, iova, length);
    if (!a) return;
    const { pages, spans } = a;
    this.ctx.count('invariants.dma-confinement');
    const open = pages.some((e) => e.open);
    const allowed = pages.every((e) => e.mapped && (dir === 'read' ? e.read || !d.permissions || e.write : e.write || !d.permissions));
    if (r.ok && !allowed && !open) {
      const bad = pages.find((e) => !e.mapped || (dir === 'write' && !e.write)) ?? pages[0];
      out.push(this.obj('dma-confinement', ev, `${dev} DMA ${dir} of ${length} byte(s) at ${hexOf(iova)} succeeded, but ${bad ? reasonOf(bad) : 'nothing maps it'}${dir === 'write' && bad?.mapped ? ' (read-only)' : ''}`, 'a fault', `ok, touched ${JSON.stringify(r.touched ?? [])}`, probe));
      return;
    }
    if (r.ok && !open) {
      if (pages.some((e) => e.landingOpen)) return;
      // Where it landed: exactly the bytes behind the mapping of each page
      // it crossed (an access may run from one area into the next, and from
      // one user buffer into another).
      const touched = r.touched ?? [];
      const want = coalesce(pages.map((e, i) => ({ buffer: e.buffer ?? -1, offset: e.offset ?? 0, length: spans[i] ?? 0 })));
      if (touched.length > 0 && !sameSpans(coalesce(touched), want)) {
        const wanted = want.map((w) => `buffer ${w.buffer}+${w.offset}, ${w.length} byte(s)`).join('; ');
        out.push(this.obj('dma-confinement', ev, `${dev} DMA ${dir} at ${hexOf(iova)} touched ${JSON.stringify(touched)}, but ${pages.map((e) => reasonOf(e)).filter((w, i, a) => a.indexOf(w) === i).join('; ')}`, wanted, JSON.stringify(touched), probe));
      }
      return;
    }
    // An owned group attached to nothing sits in the blocking domain (iommu_group_claim_dma_owner):
    // a fault of any other kind says the device still translates through some paging domain.
    if (!r.ok && r.fault !== 'blocked' && pages.every((e) => e.blocked)) {
      out.push(this.obj('dma-confinement', ev, `${dev} DMA ${dir} at ${hexOf(iova)} faulted as '${r.fault}', but ${reasonOf(pages[0] as Expect)} (its group is owned: the blocking domain, fault 'blocked'): it still goes through a paging domain`, "fault: 'blocked'", `fault: ${r.fault}`, probe));
      return;
    }
    // Why it faulted (ADAPTER.md §3.7): at the first page it may not cross, 'unmapped' where
    // nothing translates, 'permission' where a read-only page was written. A read of a write-only
    // page may fault there ('permission': VT-d, AMD) or go on (a format whose write implies read).
    const whys = new Set<string>();
    let stop: Expect | undefined;
    if (!r.ok && !open && pages.every((e) => !e.blocked && e.ioasId !== undefined)) {
      for (const e of pages) {
        const [why, last] = !e.mapped ? ['unmapped', true] : d.permissions && dir === 'write' && !e.write ? ['permission', true] : d.permissions && dir === 'read' && !e.read ? ['permission', this.writeOnlyHeld(d)] : [undefined, false];
        if (!why) continue;
        whys.add(why);
        stop ??= e;
        if (last) break;
      }
    }
    if (stop && !whys.has(r.fault ?? '')) {
      const want = [...whys].map((w) => `'${w}'`).join(' or ');
      out.push(this.obj('dma-confinement', ev, `${dev} DMA ${dir} at ${hexOf(iova)} faulted as '${r.fault}', but ${reasonOf(stop)}: the fault there is ${want}`, `fault: ${[...whys].join(' or ')}`, `fault: ${r.fault}`, probe));
      return;
    }
    // A read of a write-only page where the unit keeps read and write apart must fault.
    const denied = dir === 'read' && this.writeOnlyHeld(d) ? pages.find((e) => e.mapped && !e.open && !e.read) : undefined;
    if (r.ok && denied) {
      out.push(this.obj('dma-confinement', ev, `${dev} DMA read at ${hexOf(iova)} succeeded, but the mapping is write-only (${reasonOf(denied)}), and its domain's IOPTEs keep read and write apart (AMD v1 IR/IW, the 7.3 VT-d second stage, an SMMUv3 stage 2) (DMA.WRITE_ONLY_UNREADABLE)`, "fault: 'permission'", 'ok', probe));
      return;
    }
    const mustWork = pages.every((e) => e.mapped && !e.open && (dir === 'read' ? e.read : e.write));
    if (!r.ok && mustWork) {
      this.ctx.count('invariants.group-isolation');
      out.push(this.obj('group-isolation', ev, `${dev} DMA ${dir} at ${hexOf(iova)} faulted (${r.fault}), but ${reasonOf(pages[0] as Expect)}`, 'ok', `fault: ${r.fault}`, probe));
    }
  }

  /**
   * Whether a device's paging domains hold a write-only mapping as such: AMD
   * v1 IOPTEs carry IR and IW apart (iommu_v1_map_pages, 7.3 amdv1pt), so
   * a write-only page is not readable. Formats whose write implies read (Arm
   * stage 1's AP bits, x86 first stage) and the rest are not judged.
   */
  /**
   * The device's domain keeps read and write apart (DMA.WRITE_ONLY_UNREADABLE):
   * AMD v1; the 7.3 VT-d second stage (6.12's leaves always carry read); an
   * SMMUv3 stage-2 table, which a 7.3 nesting parent is.
   */
  private writeOnlyHeld(d: DeviceRec): boolean {
    if (!d.permissions) return false;
    const format = this.shadow.unit(d.iommu)?.format ?? '';
    if (format === 'amd-v1') return true;
    if (this.profile === '6.12') return false;
    if (format === 'vtd-ss') return true;
    const hwpt = d.hwpt !== undefined ? d.bound?.ctx.objects.get(d.hwpt) : undefined;
    return format.startsWith('arm-') && hwpt?.type === 'hwpt_paging' && hwpt.nestParent === true;
  }

  /** Generated observation steps (translate, dma, pin_count, process_info, kvm_state) are checked as they come. */
  private checkObservation(ev: StepEvent, out: Objection[]): void {
    const req = ev.request;
    if (!ev.response.ok) return;
    const dev = (h: number): DeviceRec | undefined => this.shadow.devices.get(`env:${h}`);
    switch (req.op) {
      case 'translate': {
        const d = dev(req.device);
        if (d && req.pasid === undefined) this.checkTranslate(ev, d, req.iova, ev.response.result as TranslateResult, undefined, out);
        return;
      }
      case 'dma': {
        const d = dev(req.device);
        if (d && req.pasid === undefined) this.checkDma(ev, d, req.iova, req.dir === 'write' ? (req.data?.length ?? 0) : (req.length ?? 0), req.dir, ev.response.result as DmaResult, undefined, out);
        return;
      }
      case 'pin_count': {
        const b = this.shadow.buffers.get(req.buffer);
        if (b) this.checkPins(ev, b.handle, req.offset, req.length, (ev.response.result as { pins: number[] }).pins, undefined, out);
        return;
      }
      case 'process_info':
        this.checkVm(ev, ev.response.result as { pinnedVmPages: number; lockedVmPages: number }, undefined, out);
        return;
      case 'kvm_state':
        this.checkKvm(ev, req.vm, ev.response.result as { noncoherentDma: boolean }, undefined, out);
        return;
      default:
        return;
    }
  }

  /** mem_read requests for the bytes of `spans`, in order. */
  private readsOf(spans: readonly Span[]): Request[] {
    return spans.map((x) => ({ op: 'mem_read', buffer: x.buffer, offset: x.offset, length: x.length }));
  }

  /** The parts of `spans` the process can still read (mem_unmap took the rest: a pinned frame there is read by DMA only). */
  private readable(spans: readonly Span[]): Span[] {
    const out: Span[] = [];
    for (const x of spans) {
      const b = this.shadow.buffers.get(x.buffer);
      if (!b || !this.shadow.vaGone(b.va + BigInt(x.offset), b.va + BigInt(x.offset + x.length - 1))) {
        out.push(x);
        continue;
      }
      for (let at = x.offset; at < x.offset + x.length; ) {
        const next = Math.min(x.offset + x.length, (Math.floor(at / PAGE_BYTES) + 1) * PAGE_BYTES);
        const last = out[out.length - 1];
        if (!this.shadow.vaGone(b.va + BigInt(at), b.va + BigInt(next - 1))) {
          if (last && last.buffer === x.buffer && last.offset + last.length === at) out[out.length - 1] = { ...last, length: last.length + next - at };
          else out.push({ buffer: x.buffer, offset: at, length: next - at });
        }
        at = next;
      }
    }
    return out;
  }

  /** The bytes the mem_read answers hold, joined; undefined when one was refused (the range is no longer readable). */
  private bytesOf(responses: readonly (Response | undefined)[]): Uint8Array | undefined {
    const parts: Uint8Array[] = [];
    for (const r of responses) {
      if (!r?.ok) return undefined;
      parts.push((r.result as { data: Uint8Array }).data);
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /**
   * The data a DMA moved, checked against the memory itself (not against the
   * implementation's own `touched` report): a read returns the bytes of the
   * buffer pages the IOAS maps there; after a write those pages hold what was
   * written. A write that lands elsewhere, or a read served from other
   * memory, is a confinement failure whatever the report says.
   */
  private dataObjection(ev: { step: number; request: Request } | undefined, d: DeviceRec, iova: bigint, dir: 'read' | 'write', spans: readonly Span[], moved: Uint8Array, memory: Uint8Array, probe: { request: Request; response?: Response } | undefined): Objection | undefined {
    this.ctx.count('invariants.dma-confinement');
    if (Buffer.compare(Buffer.from(moved.buffer, moved.byteOffset, moved.byteLength), Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength)) === 0) return undefined;
    const where = spans.map((x) => `buffer ${x.buffer}+${x.offset}`).join(', ');
    const i = moved.findIndex((x, k) => x !== memory[k]);
    const message = dir === 'read' ? `device ${d.handle} DMA read at ${hexOf(iova)} returned bytes that are not those of ${where}, which the IOAS maps there (first difference at byte ${i})` : `device ${d.handle} DMA write at ${hexOf(iova)} succeeded, but ${where}, which the IOAS maps there, does not hold the bytes written (first difference at byte ${i}): the write landed elsewhere`;
    return this.obj('dma-confinement', ev, message, `byte ${i} = ${moved[i]}`, `byte ${i} = ${memory[i]}`, probe);
  }

  /**
   * What the memory behind `spans` holds: from the content shadow when it
   * knows, else read (and learnt); undefined when it cannot be read.
   */
  private async memoryAt(spans: readonly Span[]): Promise<Uint8Array | undefined> {
    const known = this.knownAt(spans);
    if (known || !this.can.mem || this.readable(spans).length !== spans.length) return known;
    const reads = this.readsOf(spans);
    const answers = await this.ctx.observe(reads);
    answers.forEach((r, i) => r.ok && this.content.learn(spans[i]!.buffer, spans[i]!.offset, (r.result as { data: Uint8Array }).data));
    return this.bytesOf(answers);
  }

  /** The content shadow's bytes for `spans`, joined; undefined when any of it is unknown. */
  private knownAt(spans: readonly Span[]): Uint8Array | undefined {
    const parts: Uint8Array[] = [];
    for (const x of spans) {
      const b = this.content.read(x.buffer, x.offset, x.length);
      if (!b) return undefined;
      parts.push(b);
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /**
   * A generated DMA step that succeeded. A read must return what the mapped
   * pages hold. A write must leave them holding what was written — and
   * every byte around them as it was: the landing and a margin on each side
   * are read back and compared with the content shadow.
   */
  private async checkDmaData(ev: StepEvent, out: Objection[]): Promise<void> {
    const req = ev.request;
    if (req.op !== 'dma' || req.pasid !== undefined || !ev.response.ok) return;
    const r = ev.response.result as DmaResult;
    const d = this.shadow.devices.get(`env:${req.device}`);
    const moved = req.dir === 'write' ? req.data : r.data;
    if (!d || !moved || moved.length === 0) return;
    if (!r.ok) {
      if (req.dir === 'write') await this.checkFaultedWrite(ev, d, req.iova, moved, out);
      return;
    }
    const spans = this.landing(d, req.iova, moved.length);
    if (req.dir === 'read') {
      const memory = spans && (await this.memoryAt(spans));
      const o = spans && memory && this.dataObjection(ev, d, req.iova, 'read', spans, moved, memory, undefined);
      if (o) out.push(o);
      return;
    }
    this.wrote = true;
    // A landing the oracle cannot name, or a write through two IOVAs of one page (the later
    // bytes overwrite the earlier): whatever it wrote is unknown from now on.
    if (!spans || overlapping(spans)) {
      if (this.shadow.lost || !this.accessPages(d, req.iova, moved.length)?.pages.every((e) => !e.mapped || e.landingOpen)) this.content.forgetAll();
      return;
    }
    let at = 0;
    for (const x of spans) {
      this.content.write(x.buffer, x.offset, moved.subarray(at, at + x.length));
      at += x.length;
    }
    if (!this.can.mem) return;
    const around = this.readable(coalesce(spans.map((x) => this.widened(x))));
    const answers = await this.ctx.observe(this.readsOf(around));
    around.forEach((w, i) => {
      const r2 = answers[i];
      if (out.length > 0 || !r2?.ok) return;
      const got = (r2.result as { data: Uint8Array }).data;
      // Every byte of the window where the content shadow knows it; where it does not (a page
      // something else wrote), at least the bytes written, where they must have landed.
      const want = this.content.read(w.buffer, w.offset, w.length) ?? this.writtenIn(w, spans, moved);
      const k = firstDifference(want, got);
      if (k < 0) return;
      this.ctx.count('invariants.dma-confinement');
      const inside = spans.some((x) => x.buffer === w.buffer && w.offset + k >= x.offset && w.offset + k < x.offset + x.length);
      out.push(this.obj('dma-confinement', ev, inside ? `device ${d.handle} DMA write at ${hexOf(req.iova)} succeeded, but buffer ${w.buffer}+${w.offset + k}, which the IOAS maps there, does not hold the byte written: the write landed elsewhere` : `device ${d.handle} DMA write of ${moved.length} byte(s) at ${hexOf(req.iova)} changed buffer ${w.buffer}+${w.offset + k}, outside the bytes it was asked to write`, `byte ${want[k]}`, `byte ${got[k]}`));
    });
  }

  /**
   * A DMA write that faulted: it may have written the pages before the fault
   * (ADAPTER.md §3.7, a partial DMA), which the content shadow then no longer
   * knows, but never a page it may not write — a read-only page it crossed
   * must hold what it held.
   */
  private async checkFaultedWrite(ev: StepEvent, d: DeviceRec, iova: bigint, data: Uint8Array, out: Objection[]): Promise<void> {
    this.wrote = true;
    const a = this.accessPages(d, iova, data.length);
    if (!a) {
      this.content.forgetAll();
      return;
    }
    let guarded: Span[] = [];
    for (const [i, e] of a.pages.entries()) {
      if (!e.mapped) continue;
      if (e.open || e.landingOpen || e.buffer === undefined || e.offset === undefined) {
        this.content.forgetAll();
        return;
      }
      const span = { buffer: e.buffer, offset: e.offset, length: a.spans[i] ?? 0 };
      if (e.write || !d.permissions) this.content.forget(span.buffer, span.offset, span.length);
      else guarded.push(span);
    }
    if (guarded.length === 0 || !this.can.mem) return;
    guarded = this.readable(guarded);
    const answers = await this.ctx.observe(this.readsOf(guarded));
    guarded.forEach((g, i) => {
      const r = answers[i];
      const want = this.content.read(g.buffer, g.offset, g.length);
      if (out.length > 0 || !r?.ok || !want) return;
      const got = (r.result as { data: Uint8Array }).data;
      const k = firstDifference(want, got);
      this.ctx.count('invariants.dma-confinement');
      if (k >= 0) out.push(this.obj('dma-confinement', ev, `device ${d.handle} DMA write of ${data.length} byte(s) at ${hexOf(iova)} faulted, but it changed buffer ${g.buffer}+${g.offset + k}, which is mapped read-only there`, `byte ${want[k]}`, `byte ${got[k]}`));
    });
  }

  /** The bytes a write put in window `w` (undefined where it wrote nothing). */
  private writtenIn(w: Span, spans: readonly Span[], moved: Uint8Array): (number | undefined)[] {
    const out = new Array<number | undefined>(w.length).fill(undefined);
    let at = 0;
    for (const x of spans) {
      if (x.buffer === w.buffer) for (let j = 0; j < x.length; j++) if (x.offset + j >= w.offset && x.offset + j < w.offset + w.length) out[x.offset + j - w.offset] = moved[at + j];
      at += x.length;
    }
    return out;
  }

  /** Bytes around a DMA's landing that it must not touch (within the buffer). */
  private widened(x: Span): Span {
    const b = this.shadow.buffers.get(x.buffer);
    const start = Math.max(0, x.offset - DATA_MARGIN);
    const end = Math.min(b?.length ?? x.offset + x.length, x.offset + x.length + DATA_MARGIN);
    return { buffer: x.buffer, offset: start, length: end - start };
  }

  /**
   * The content shadow follows a step: allocation (zeros), environment
   * writes, unmapping, and ioctls handed a pointer into a buffer that are
   * not known to only read it (what they wrote there is unknown). DMA and
   * ACCESS_RW are followed where they are checked.
   */
  private trackContent(ev: StepEvent, ok: boolean): void {
    const req = ev.request;
    const res = ev.response.ok ? (ev.response.result as Record<string, unknown>) : undefined;
    switch (req.op) {
      case 'mem_alloc':
        if (ok && res) this.content.alloc(res['buffer'] as number, res['length'] as number);
        return;
      case 'mem_write':
        if (ok) this.content.write(req.buffer, req.offset, req.data);
        return;
      case 'mem_unmap':
        // What stays pinned keeps its bytes (Shadow.keptFrame); the rest is gone.
        for (let at = req.offset; at < req.offset + req.length; at += PAGE_BYTES) if (!this.shadow.keepsBufferPage(req.buffer, at)) this.content.forget(req.buffer, at, Math.min(PAGE_BYTES, req.offset + req.length - at));
        return;
      case 'ioctl':
        if (req.arg.kind !== 'struct') {
          if (req.arg.kind === 'raw') this.forgetPointedAtRaw(req.arg.bytes);
          return;
        }
        this.forgetPointedAt(req.arg.fields);
        if (!ok && req.cmd === 'IOMMU_TEST_CMD' && TEST_OP.get(toNum(req.arg.fields['op'])) === 'IOMMU_TEST_OP_ACCESS_RW') {
          // A failed write may have copied part of the way (page by page); a failed read copies
          // nothing out (checkFailedAccessRead) unless the copy out itself faulted.
          const m = (req.arg.fields['access_rw'] ?? {}) as StructValue;
          if (toNum(m['flags']) & MOCK_ACCESS_RW_WRITE) this.content.forgetAll();
          else if (errnoName(statusOf(req, ev.response).errno ?? 0) === 'EFAULT') {
            const user = this.shadow.bufferOfVa(toBig(m['uptr']));
            if (user) this.content.forget(user.buffer.handle, user.offset, Number(toBig(m['length'])));
          }
        }
        return;
      default:
        return;
    }
  }

  /** Buffers a struct points into through a field that may be written (not a mapping's source VA). */
  private forgetPointedAt(v: StructValue): void {
    for (const [k, x] of Object.entries(v)) {
      if (READ_ONLY_POINTERS.has(k)) continue;
      if (typeof x === 'bigint' || typeof x === 'number') {
        const b = typeof x === 'bigint' || Number.isSafeInteger(x) ? this.shadow.bufferOfVa(BigInt(x)) : undefined;
        if (b) this.content.forgetBuffer(b.buffer.handle);
      } else if (typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && !Array.isArray(x)) this.forgetPointedAt(x as StructValue);
    }
  }

  /** A raw argument: any 64-bit word of it may be a pointer the kernel writes through. */
  private forgetPointedAtRaw(bytes: Uint8Array | undefined): void {
    if (!bytes) return;
    for (let at = 0; at + 8 <= bytes.length; at += 8) {
      let va = 0n;
      for (let j = 7; j >= 0; j--) va = (va << 8n) | BigInt(bytes[at + j] as number);
      const b = this.shadow.bufferOfVa(va);
      if (b) this.content.forgetBuffer(b.buffer.handle);
    }
  }

  /**
   * What an access may do through its IOAS, judged before the shadow applies
   * the step: ACCESS_RW and ACCESS_PAGES succeed only over IOVA that areas map
   * end to end (iopt_area_contig_done: ENOENT) with the permission the
   * transfer needs, WRITE for a write and READ otherwise (check_area_prot:
   * EPERM); and an item the access pinned stays until DESTROY_ACCESS_PAGES,
   * an unmap that covers it, or a replace of the IOAS takes it, so ENOENT for
   * an item whose pages are still certainly mapped is an item lost early
   * (the access was told to unpin pages nobody unmapped).
   */
  private checkAccessOps(ev: StepEvent, ok: boolean, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_TEST_CMD' || req.arg.kind !== 'struct' || this.shadow.lost) return;
    const v = req.arg.fields;
    const op = TEST_OP.get(toNum(v['op']));
    if (op !== 'IOMMU_TEST_OP_ACCESS_RW' && op !== 'IOMMU_TEST_OP_ACCESS_PAGES' && op !== 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES' && op !== 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS') return;
    // The selftest is reached through an open iommufd only: on any other file (a device file that
    // took a closed iommufd's number) the answer is that file's own.
    if ((ev.template.defects ?? []).some((d) => d.abi) || !this.shadow.ctxOfFd(req.fd)) return;
    const file = this.shadow.fds.get(toNum(v['id']));
    const access = file?.access;
    const ioas = access && file.ctx ? this.shadow.ioas(file.ctx, access.ioas) : undefined;
    if (!access || !ioas) return;
    if (op === 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS') {
      if (!ok) this.checkAccessReplaceRefused(ev, errno, file.ctx!, access, out);
      return;
    }
    if (op === 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES') {
      const itemId = toNum(((v['destroy_access_pages'] ?? {}) as StructValue)['access_pages_id']);
      if (ok && !access.items.has(itemId) && !this.failNth) {
        // iommufd_test_access_item_destroy finds only an item on the access's list: one it never
        // answered (a failed ACCESS_PAGES must take its item back off) or one already released.
        this.ctx.count('invariants.lifetime');
        out.push(this.obj('lifetime', ev, `IOMMU_TEST_OP_DESTROY_ACCESS_PAGES of item ${itemId} succeeded, but the access holds no such item: none was answered with that id, or it was already destroyed or released by an unmap (a failed ACCESS_PAGES that left its item on the list?)`, 'ENOENT', 'ok'));
        return;
      }
      if (ok || errnoName(errno ?? 0) !== 'ENOENT') return;
      const item = access.items.get(itemId);
      if (!item || !this.certainlyMapped(ioas, item)) return;
      this.ctx.count('invariants.lifetime');
      out.push(this.obj('lifetime', ev, `IOMMU_TEST_OP_DESTROY_ACCESS_PAGES answered ENOENT for an item pinned at ${hexOf(item.start)}..${hexOf(item.last)}, which IOAS ${ioas.id} still maps: nothing unmapped or replaced it, so the access dropped it (told to unpin pages nobody unmapped?)`, 'ok', 'ENOENT'));
      return;
    }
    const m = ((op === 'IOMMU_TEST_OP_ACCESS_RW' ? v['access_rw'] : v['access_pages']) ?? {}) as StructValue;
    if (toBig(m['length']) === 0n) {
      this.checkAccessZeroLength(ev, ok, errno, op, access, m, out);
      return;
    }
    if (!ok && op === 'IOMMU_TEST_OP_ACCESS_PAGES' && errnoName(errno ?? 0) === 'EBADE') {
      this.checkPagesBehindUptr(ev, ioas, m, out);
      return;
    }
    if (!ok) {
      // ENOENT is a range its IOAS does not map all of (iommufd_access_pin_pages, iommufd_access_rw:
      // !iopt_area_contig_done), or an access with no IOAS: with the whole range mapped, the access
      // lost track of its IOAS or of areas still there.
      const start = this.accessIova(ioas, m);
      const r = start === undefined ? undefined : rangeOf(start, toBig(m['length']));
      if (!r) return;
      if (errnoName(errno ?? 0) !== 'ENOENT') {
        this.checkAccessOpRefused(ev, op, access, ioas, m, r, errno, out);
        return;
      }
      this.ctx.count('invariants.lifetime');
      if (this.certainlyMapped(ioas, r)) out.push(this.obj('lifetime', ev, `${op} of ${hexOf(r.start)}..${hexOf(r.last)} failed with ENOENT, but IOAS ${ioas.id}, the access's, maps all of it: the access lost its IOAS or areas that are still there`, 'not ENOENT', 'ENOENT'));
      return;
    }
    const flags = toNum(m['flags']);
    const write = (flags & (op === 'IOMMU_TEST_OP_ACCESS_RW' ? MOCK_ACCESS_RW_WRITE : MOCK_FLAGS_ACCESS_WRITE)) !== 0;
    const start = this.accessIova(ioas, m);
    const r = start === undefined ? undefined : rangeOf(start, toBig(m['length']));
    if (!r) return;
    if (op === 'IOMMU_TEST_OP_ACCESS_PAGES' && this.pinStartsOffPage(ev, ioas, r, out)) return;
    this.ctx.count('invariants.dma-confinement');
    for (let at = r.start; ; ) {
      const seg = this.shadow.segmentAt(ioas, at);
      if (seg?.uncertain) return;
      if (!seg || !(write ? seg.write : seg.read)) {
        const why = !seg ? `IOAS ${ioas.id} maps nothing at ${hexOf(at)}` : `the area at ${hexOf(at)} is mapped without ${write ? 'WRITE' : 'READ'}`;
        out.push(this.obj('dma-confinement', ev, `${op} (${write ? 'write' : 'read'}) of ${hexOf(r.start)}..${hexOf(r.last)} succeeded, but ${why}: an access reaches only what is mapped, with the permission it was mapped with`, !seg ? 'ENOENT' : 'EPERM', 'ok'));
        return;
      }
      const last = seg.last < r.last ? seg.last : r.last;
      if (write && op === 'IOMMU_TEST_OP_ACCESS_RW' && this.writesUnwritable(ev, seg, at, last, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0, out)) return;
      if (seg.last >= r.last) return;
      at = seg.last + 1n;
    }
  }

  /**
   * ACCESS.PIN_PAGES: iommufd_access_pin_pages refuses a range whose first
   * piece does not start on a page boundary of its pages
   * (iopt_area_contig_is_aligned: EINVAL): a pin hands out whole pages, so
   * one that took from the middle of a page gave the caller bytes before the
   * range. True when it objected.
   */
  private pinStartsOffPage(ev: StepEvent, ioas: IoasObj, r: Range, out: Objection[]): boolean {
    const seg = this.shadow.segmentAt(ioas, r.start);
    if (!seg || seg.uncertain) return false;
    const byte = seg.ps.va + seg.psOff + (r.start - seg.start);
    this.ctx.count('invariants.abi-hygiene');
    if (byte % PAGE === 0n) return false;
    out.push(this.obj('abi-hygiene', ev, `IOMMU_TEST_OP_ACCESS_PAGES of ${hexOf(r.start)}..${hexOf(r.last)} succeeded, but its first byte is at offset ${hexOf(byte % PAGE)} in its page (user address ${hexOf(byte)}): iommufd_access_pin_pages refuses a range that does not start on a page boundary of its pages (iopt_area_contig_is_aligned: EINVAL) (ACCESS.PIN_PAGES)`, 'EINVAL', 'ok'));
    return true;
  }

  /**
   * ACCESS.PIN_PAGES, ACCESS.RW: an ACCESS_RW or ACCESS_PAGES of length 0 with flags
   * the selftest takes, on an access that can do it (a pin needs pin ops):
   * the selftest's own tests pass it (its kvzalloc of nothing does not fail)
   * and iommufd_access_rw / iommufd_access_pin_pages refuse a zero length
   * first (EINVAL), before the IOVA is computed: a wrapped last IOVA answers
   * EOVERFLOW or ENOENT instead.
   */
  private checkAccessZeroLength(ev: StepEvent, ok: boolean, errno: number | undefined, op: 'IOMMU_TEST_OP_ACCESS_RW' | 'IOMMU_TEST_OP_ACCESS_PAGES', access: AccessObj, m: StructValue, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || this.failNth || req.arg.tail?.some((b) => b !== 0)) return;
    const pin = op === 'IOMMU_TEST_OP_ACCESS_PAGES';
    if ((toNum(m['flags']) & ~(pin ? MOCK_FLAGS_ACCESS_WRITE : MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH)) !== 0 || (pin && access.alignment !== PAGE)) return;
    const name = ok ? 'ok' : (errnoName(errno ?? 0) ?? `E${errno}`);
    this.ctx.count('invariants.abi-hygiene');
    if (name !== 'EINVAL') out.push(this.obj('abi-hygiene', ev, `${op} of length 0 at ${hexOf(toBig(m['iova']))} ${ok ? 'succeeded' : `failed with ${name}`}: ${pin ? 'iommufd_access_pin_pages' : 'iommufd_access_rw'} refuses a zero length first (EINVAL), before it computes the last IOVA (${pin ? 'ACCESS.PIN_PAGES' : 'ACCESS.RW'})`, 'EINVAL', name));
  }

  /**
   * ACCESS.OPS_SUCCEED: what refuses an ACCESS_RW or ACCESS_PAGES whose
   * flags are known, whose length is 1 byte to 16 MiB and whose range the
   * access's IOAS maps end to end with the permission it needs
   * (iommufd_access_rw, iommufd_access_pin_pages and the selftest around
   * them): only memory (ENOMEM), the user buffer or the pages (EFAULT), the
   * selftest's comparison with the pages behind uptr (EBADE), an access that
   * does not pin (EOPNOTSUPP for ACCESS_PAGES), an area being unmapped
   * (prevent_access, only while an unmap waits on the accesses), and for a
   * pin a piece that does not start, or a piece before the last that does not
   * end, on a page boundary of its pages (iopt_area_contig_is_aligned: EINVAL).
   * Anything else turns down a valid access: an area left blocked after a
   * refused unmap, an alignment test that measures the wrong end. Every
   * boundary between two of the shadow's segments is taken as a possible
   * area boundary (a COPY makes an area per source piece).
   */
  private checkAccessOpRefused(ev: StepEvent, op: 'IOMMU_TEST_OP_ACCESS_RW' | 'IOMMU_TEST_OP_ACCESS_PAGES', access: AccessObj, ioas: IoasObj, m: StructValue, r: Range, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || this.failNth || req.arg.readOnly || req.arg.tail?.some((b) => b !== 0)) return;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    if (name === 'ENOMEM' || name === 'EFAULT' || name === 'EBADE') return;
    const pin = op === 'IOMMU_TEST_OP_ACCESS_PAGES';
    const flags = toNum(m['flags']);
    if ((flags & ~(pin ? MOCK_FLAGS_ACCESS_WRITE : MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH)) !== 0 || r.last - r.start + 1n > 16n << 20n) return;
    if (pin && access.alignment !== PAGE) return; // an access without pin ops: EOPNOTSUPP
    const write = (flags & (pin ? MOCK_FLAGS_ACCESS_WRITE : MOCK_ACCESS_RW_WRITE)) !== 0;
    const byteAt = (seg: Segment, iova: bigint): bigint => seg.ps.va + seg.psOff + (iova - seg.start);
    for (let at = r.start; ; ) {
      const seg = this.shadow.segmentAt(ioas, at);
      if (!seg || seg.uncertain || !(write ? seg.write && seg.ps.writable : seg.read)) return;
      if (pin && (byteAt(seg, at) % PAGE !== 0n || (seg.last < r.last && (byteAt(seg, seg.last) + 1n) % PAGE !== 0n))) return;
      if (seg.last >= r.last) break;
      at = seg.last + 1n;
    }
    this.ctx.count('invariants.lifetime');
    const how = pin ? `a ${write ? 'write' : 'read'} pin` : `a ${write ? 'write' : 'read'}`;
    out.push(this.obj('lifetime', ev, `${op} (${how}) of ${hexOf(r.start)}..${hexOf(r.last)} failed with ${name}, but IOAS ${ioas.id}, the access's, maps all of it with ${write ? 'WRITE' : 'READ'}${pin ? ', every piece starting (and, but the last, ending) on a page boundary of its pages' : ''}, and the flags and length are valid: only memory, the user buffer${pin ? ', the pages behind uptr' : ''} or an unmap in progress can refuse it (ACCESS.OPS_SUCCEED)`, 'ok (or ENOMEM/EFAULT)', name));
  }

  /**
   * ACCESS.REPLACE_SUCCEEDS: an access on an IOAS moves to another live IOAS
   * of its own context (iommufd_access_change_ioas_id: access->ictx, whatever
   * iommufd the command came through), refused only where the new IOAS holds
   * an area off the access's alignment (iopt_add_access →
   * iopt_calculate_iova_alignment: EADDRINUSE) or for memory.
   */
  private checkAccessReplaceRefused(ev: StepEvent, errno: number | undefined, ctx: CtxRec, access: AccessObj, out: Objection[]): void {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth || req.arg.readOnly) return;
    const name = errnoName(errno ?? 0) ?? `E${errno}`;
    if (name === 'ENOMEM' || name === 'EFAULT' || !ctx.alive) return;
    const to = this.shadow.ioas(ctx, ((req.arg.fields['access_replace_ioas'] ?? {}) as StructValue)['ioas_id']);
    const align = access.alignment;
    if (!to || to.segs.some((x) => x.uncertain || x.start % align !== 0n || (x.last + 1n) % align !== 0n || (x.ps.va + x.psOff) % align !== 0n)) return;
    this.ctx.count('invariants.lifetime');
    out.push(this.obj('lifetime', ev, `IOMMU_TEST_OP_ACCESS_REPLACE_IOAS of an access on IOAS ${access.ioas} to IOAS ${to.id} failed with ${name}, but IOAS ${to.id} is live in the access's own context and its areas are aligned to the access's ${align}: the access moves (iommufd_access_change_ioas_id looks the id up in the access's context, whatever iommufd the command came through; ACCESS.REPLACE_SUCCEEDS)`, 'ok', name));
  }

  /**
   * An access write lands in user memory the process may still write, or in
   * frames already pinned for writing (pages.c iopt_pages_rw_access): the
   * fast path is copy_to_user into the mapping's VA (EFAULT where it is now
   * read-only or gone); the slow path (MOCK_ACCESS_RW_SLOW_PATH) pins a lone
   * page with FOLL_WRITE for a write (iopt_pages_rw_page), and for several
   * pages (iopt_pages_rw_slow) reads the frames a domain or an access of the
   * same pages already pins and pins the rest with FOLL_WRITE. `at..last` is
   * one area's piece of the write (each area is its own call). True when it
   * objected.
   */
  private writesUnwritable(ev: StepEvent, seg: Segment, at: bigint, last: bigint, slow: boolean, out: Objection[]): boolean {
    if (this.shadow.readOnlyPages.size === 0 && !this.shadow.vaGone(0n, U64_MAX)) return false;
    const firstVa = seg.ps.va + seg.psOff + (at - seg.start);
    const lastVa = firstVa + (last - at);
    const [first, final] = [firstVa / PAGE, lastVa / PAGE];
    const viaPins = slow && first !== final;
    if (viaPins && this.shadow.uncertainPageSet(seg.ps)) return false;
    for (let p = first; p <= final; p++) {
      const unwritable = this.shadow.readOnlyPages.has(Number(p)) || this.shadow.vaGone(p * PAGE, p * PAGE + PAGE - 1n);
      if (!unwritable || (viaPins && this.shadow.pinnedPages(seg.ps).has(Number(p - seg.ps.va / PAGE)))) continue;
      const path = !slow ? 'the fast path copies to the user VA (copy_to_user)' : viaPins ? 'the slow path pins a page no domain or access holds with FOLL_WRITE' : 'the slow path pins a lone page with FOLL_WRITE for a write';
      out.push(this.obj('dma-confinement', ev, `IOMMU_TEST_OP_ACCESS_RW (write${slow ? ', slow path' : ''}) succeeded into user page ${hexOf(p * PAGE)}, which the process can no longer write (made read-only or unmapped after it was mapped): ${path}, which fails there`, 'EFAULT', 'ok'));
      return true;
    }
    return false;
  }

  /** Every IOVA of r is in a segment the shadow is sure of. */
  private certainlyMapped(ioas: IoasObj, r: Range): boolean {
    for (let at = r.start; ; ) {
      const seg = this.shadow.segmentAt(ioas, at);
      if (!seg || seg.uncertain) return false;
      if (seg.last >= r.last) return true;
      at = seg.last + 1n;
    }
  }

  /**
   * IOMMU_TEST_OP_MD_CHECK_MAP's refusal is testimony too. selftest.c
   * iommufd_test_md_check_pa answers EINVAL for a domain that is not a mock
   * domain, an IOVA, length or uptr not aligned to the mock page size (2 KiB,
   * or PAGE_SIZE for 7.3's huge page table), or a page whose IOVA translates
   * (iova_to_phys) to another physical address than the page under uptr.
   * With everything aligned to the domain's smallest page on a mock domain of
   * an IOAS that certainly maps each byte to the user memory at uptr, EINVAL
   * says the domain translates an IOVA somewhere the IOAS does not map it, or
   * the check compares another address than uptr's (an IOVA and a uptr at
   * different offsets in their pages, which 2 KiB IO pages allow). Only writable
   * page sets are judged: they were pinned with FOLL_WRITE, so the user page
   * under the VA is the pinned one for as long as the VA stays mapped, while
   * a read-only pin of untouched memory may hold the shared zero page that a
   * later write replaces under the VA.
   */
  private checkMapCheckRefusal(ev: StepEvent, errno: number | undefined, out: Objection[]): void {
    const req = ev.request;
    if (errnoName(errno ?? 0) !== 'EINVAL' || req.op !== 'ioctl' || req.cmd !== 'IOMMU_TEST_CMD' || req.arg.kind !== 'struct' || this.shadow.lost || this.failNth) return;
    if ((ev.template.defects ?? []).some((d) => d.abi)) return;
    const v = req.arg.fields;
    if (TEST_OP.get(toNum(v['op'])) !== 'IOMMU_TEST_OP_MD_CHECK_MAP') return;
    // A replayed program carries no defect list: the struct itself must be whole and clean.
    if ((v['size'] !== undefined && toNum(v['size']) < requireLayout(this.profile, 'iommu_test_cmd').size) || (v['__reserved'] !== undefined && toNum(v['__reserved']) !== 0) || req.arg.tail?.some((b) => b !== 0) || req.arg.readOnly) return;
    const ctx = this.shadow.ctxOfFd(req.fd);
    const h = ctx?.objects.get(toNum(v['id']));
    const ioas = ctx && h?.type === 'hwpt_paging' && h.mock ? this.shadow.ioas(ctx, h.ioas) : undefined;
    const m = (v['check_map'] ?? {}) as StructValue;
    const [iova, length, uptr] = [toBig(m['iova']), toBig(m['length']), toBig(m['uptr'])];
    // The check steps by the domain's smallest page: MOCK_IO_PAGE_SIZE, or PAGE_SIZE on 7.3's huge table.
    const step = h?.type === 'hwpt_paging' && h.mockHuge ? PAGE : PAGE / 2n;
    if (!ioas || iova % step !== 0n || length % step !== 0n || uptr % step !== 0n || uptr + length > U64_MAX) return;
    // A length of 0 checks nothing, and nothing can be found wrong.
    const r = rangeOf(iova, length);
    if (length !== 0n && (!r || !this.mapsMemoryFrom(ioas, r, uptr, (seg) => seg.ps.writable))) return;
    this.ctx.count('invariants.dma-confinement');
    out.push(this.obj('dma-confinement', ev, `IOMMU_TEST_OP_MD_CHECK_MAP of IOVA ${hexOf(iova)}..+${hexOf(length)} in mock domain ${h!.id} failed with EINVAL, but IOAS ${ioas.id} maps each of those bytes to the user memory at the same offset from ${hexOf(uptr)}, and everything is aligned to the domain's smallest page: the domain translates one of them somewhere else (or the check compares the wrong address)`, 'ok', 'EINVAL'));
  }

  /** IOMMU_TEST_CMD ops that are observations themselves: their success claims a mapping. */
  private async checkDataOp(ev: StepEvent, ok: boolean, out: Objection[]): Promise<void> {
    const req = ev.request;
    if (!ok || req.op !== 'ioctl' || req.cmd !== 'IOMMU_TEST_CMD' || req.arg.kind !== 'struct') return;
    const v = req.arg.fields;
    const op = TEST_OP.get(toNum(v['op']));
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!ctx || this.shadow.lost) return;
    const check = (ioas: IoasObj | undefined, m: StructValue, what: string): void => {
      if (!ioas) return;
      const iova = toBig(m['iova']);
      const length = toBig(m['length']);
      const uptr = toBig(m['uptr']);
      if (length === 0n) return;
      this.ctx.count('invariants.dma-confinement');
      // Each page of [iova, iova+length) must map the page of uptr at the same offset.
      for (let off = 0n; off < length; off += PAGE) {
        const seg = this.shadow.segmentAt(ioas, iova + off);
        if (seg?.uncertain) return;
        const va = seg ? seg.ps.va + seg.psOff + (iova + off - seg.start) : undefined;
        if (va === undefined || va / PAGE !== (uptr + off) / PAGE) {
          out.push(this.obj('dma-confinement', ev, `${what} succeeded for IOVA ${hexOf(iova + off)}, but ${va === undefined ? `IOAS ${ioas.id} maps nothing there` : `it maps user address ${hexOf(va)}, not ${hexOf(uptr + off)}`}`, 'a failure', 'ok'));
          return;
        }
      }
    };
    if (op === 'IOMMU_TEST_OP_MD_CHECK_MAP') {
      const h = ctx.objects.get(toNum(v['id']));
      // get_md_pagetable: a paging HWPT whose domain is not the mock driver's is EINVAL.
      if (h?.type === 'hwpt_paging' && !h.mock && this.shadow.knownNonMockUnit(h.unit)) {
        this.ctx.count('invariants.abi-hygiene');
        out.push(this.obj('abi-hygiene', ev, `IOMMU_TEST_OP_MD_CHECK_MAP succeeded on HWPT ${h.id}, a domain of unit ${h.unit}, not of the selftest's mock driver: get_md_pagetable refuses any other domain (EINVAL), so nothing was checked (MOCK_DOMAIN.CHECK_MAP)`, 'EINVAL', 'ok'));
        return;
      }
      const cm = (v['check_map'] ?? {}) as StructValue;
      // 7.3: the check steps by the domain's smallest page, PAGE_SIZE on the MOCK_IOMMUPT_HUGE table,
      // and refuses an iova, length or uptr aligned to less (EINVAL) before it walks anything.
      if (h?.type === 'hwpt_paging' && h.mockHuge && [cm['iova'], cm['length'], cm['uptr']].some((x) => toBig(x) % PAGE !== 0n)) {
        this.ctx.count('invariants.abi-hygiene');
        out.push(this.obj('abi-hygiene', ev, `IOMMU_TEST_OP_MD_CHECK_MAP of IOVA ${hexOf(toBig(cm['iova']))}..+${hexOf(toBig(cm['length']))} from ${hexOf(toBig(cm['uptr']))} succeeded on HWPT ${h.id}, a mock domain of the MOCK_IOMMUPT_HUGE table, whose smallest page is 4 KiB: the check refuses a range or address not aligned to it (EINVAL, MOCK_DOMAIN.CHECK_MAP)`, 'EINVAL', 'ok'));
        return;
      }
      if (h?.type === 'hwpt_paging') check(this.shadow.ioas(ctx, h.ioas), cm, 'IOMMU_TEST_OP_MD_CHECK_MAP');
    } else if (op === 'IOMMU_TEST_OP_ACCESS_PAGES') {
      const af = this.shadow.fds.get(toNum(v['id']));
      const m = (v['access_pages'] ?? {}) as StructValue;
      const ioas = af?.access ? this.shadow.ioas(af.ctx, af.access.ioas) : undefined;
      // syzkaller's form names an area and an offset (MOCK_FLAGS_ACCESS_SYZ): judged at the IOVA they decode to.
      const syz = (toNum(m['flags']) & MOCK_FLAGS_ACCESS_SYZ) !== 0;
      const iova = ioas && syz ? this.shadow.syzIova(ioas, toBig(m['iova'])) : toBig(m['iova']);
      if (ioas && iova !== undefined && toBig(m['uptr']) !== 0n) check(ioas, { ...m, iova }, 'IOMMU_TEST_OP_ACCESS_PAGES');
    } else if (op === 'IOMMU_TEST_OP_MD_CHECK_REFS') {
      const m = (v['check_refs'] ?? {}) as StructValue;
      const va = toBig(m['uptr']);
      if (checkRefsRefused(m)) return; // checkCheckRefsArgs
      const b = this.shadow.bufferOfVa(va);
      const length = Number(toBig(m['length']));
      if (!b || length <= 0 || va % PAGE !== 0n || length % Number(PAGE) !== 0 || b.offset + length > b.buffer.length) return;
      const want = this.shadow.expectedPins(b.buffer, b.offset, length);
      const refs = toNum(m['refs']);
      this.ctx.count('invariants.accounting');
      const i = want.findIndex((w) => w !== undefined && w !== refs);
      if (i >= 0) out.push(this.obj('accounting', ev, `IOMMU_TEST_OP_MD_CHECK_REFS claims ${refs} pin(s) on buffer ${b.buffer.handle} page ${(b.offset >> 12) + i}, but what is mapped pins it ${want[i]} time(s)`, String(want[i]), String(refs)));
    } else if (op === 'IOMMU_TEST_OP_ACCESS_RW') {
      await this.checkAccessRw(ev, v, out);
    }
  }

  /**
   * A failed access read leaves the caller's buffer as it was: the selftest
   * reads into a bounce buffer and copies it out only once the access
   * succeeded (iommufd_test_access_rw: copy_to_user after `if (rc) goto
   * out_free`). Only an EFAULT, which that copy itself may answer after
   * writing part of the way, leaves the bytes unknown.
   */
  private async checkFailedAccessRead(ev: StepEvent, errno: number | undefined, out: Objection[]): Promise<void> {
    const req = ev.request;
    if (req.op !== 'ioctl' || req.cmd !== 'IOMMU_TEST_CMD' || req.arg.kind !== 'struct' || !this.can.mem || TEST_OP.get(toNum(req.arg.fields['op'])) !== 'IOMMU_TEST_OP_ACCESS_RW') return;
    const m = (req.arg.fields['access_rw'] ?? {}) as StructValue;
    const length = toBig(m['length']);
    if (toNum(m['flags']) & MOCK_ACCESS_RW_WRITE || errnoName(errno ?? 0) === 'EFAULT' || length <= 0n || length > BigInt(ACCESS_RW_CHECKED)) return;
    const user = this.shadow.bufferOfVa(toBig(m['uptr']));
    if (!user || user.offset + Number(length) > user.buffer.length) return;
    const known = this.content.read(user.buffer.handle, user.offset, Number(length));
    if (!known) return;
    const [y] = await this.ctx.observe([{ op: 'mem_read', buffer: user.buffer.handle, offset: user.offset, length: Number(length) }]);
    if (!y?.ok) return;
    this.ctx.count('invariants.abi-hygiene');
    const now = (y.result as { data: Uint8Array }).data;
    const i = now.findIndex((b, k) => b !== known[k]);
    if (i < 0) return;
    this.content.write(user.buffer.handle, user.offset, now);
    out.push(this.obj('abi-hygiene', ev, `IOMMU_TEST_OP_ACCESS_RW (read) failed with ${errnoName(errno ?? 0) ?? errno}, but buffer ${user.buffer.handle} changed at offset ${user.offset + i} (0x${(known[i] ?? 0).toString(16)} before, 0x${(now[i] ?? 0).toString(16)} after): a failed read copies nothing out (iommufd_test_access_rw copies the bounce buffer to uptr only on success)`, 'the buffer as it was', 'changed bytes'));
  }

  /**
   * An access read copies what the IOAS maps at iova into uptr, a write the
   * other way: afterwards both hold the same bytes (read from memory, not
   * taken from the implementation's word), which the content shadow learns.
   * Where the oracle cannot name both ends, what was written is unknown.
   */
  private async checkAccessRw(ev: StepEvent, v: StructValue, out: Objection[]): Promise<void> {
    // The access's own context: the selftest finds the access by its fd, whatever iommufd the ioctl went to.
    const af = this.shadow.fds.get(toNum(v['id']));
    const m = (v['access_rw'] ?? {}) as StructValue;
    const ioas = af?.access ? this.shadow.ioas(af.ctx, af.access.ioas) : undefined;
    const length = Number(toBig(m['length']));
    const write = (toNum(m['flags']) & MOCK_ACCESS_RW_WRITE) !== 0;
    if (write) this.wrote = true;
    const iova = this.accessIova(ioas, m);
    const user = this.shadow.bufferOfVa(toBig(m['uptr']));
    // The buffer bytes behind [iova, iova+length), area by area: an access may run from one area into the next.
    const mapped = ioas && iova !== undefined && length > 0 && length <= ACCESS_RW_CHECKED ? this.ioasSpans(ioas, iova, length) : undefined;
    const named = mapped && user && user.offset + length <= user.buffer.length;
    // A copy between overlapping bytes leaves them unlike each other (each page is copied in turn).
    const overlap = named && (overlapping(mapped) || mapped.some((x) => x.buffer === user.buffer.handle && x.offset < user.offset + length && user.offset < x.offset + x.length));
    if (!named || overlap || !this.can.mem) {
      if (!write) {
        if (user) this.content.forget(user.buffer.handle, user.offset, length);
      } else if (mapped) for (const x of mapped) this.content.forget(x.buffer, x.offset, x.length);
      else this.content.forgetAll();
      return;
    }
    const answers = await this.ctx.observe([...this.readsOf(mapped), { op: 'mem_read', buffer: user.buffer.handle, offset: user.offset, length }]);
    const atIova = this.bytesOf(answers.slice(0, -1));
    const y = answers[answers.length - 1];
    if (!atIova || !y?.ok) {
      if (write) for (const x of mapped) this.content.forget(x.buffer, x.offset, x.length);
      else this.content.forget(user.buffer.handle, user.offset, length);
      return;
    }
    this.ctx.count('invariants.dma-confinement');
    const atUser = (y.result as { data: Uint8Array }).data;
    // The end it copied to holds the other end's bytes now (where the two differ, the objection below says so).
    if (write) {
      let at = 0;
      for (const x of mapped) {
        this.content.write(x.buffer, x.offset, atUser.subarray(at, at + x.length));
        at += x.length;
      }
    } else this.content.write(user.buffer.handle, user.offset, atIova);
    if (Buffer.compare(Buffer.from(atIova.buffer, atIova.byteOffset, atIova.byteLength), Buffer.from(atUser.buffer, atUser.byteOffset, atUser.byteLength)) !== 0) {
      const where = mapped.map((x) => `buffer ${x.buffer}+${x.offset} (${x.length} byte(s))`).join(', ');
      const message = write
        ? `IOMMU_TEST_OP_ACCESS_RW wrote ${length} byte(s) from buffer ${user.buffer.handle}+${user.offset} at ${hexOf(iova!)}, but ${where}, which the IOAS maps there, does not hold them: the write landed elsewhere`
        : `IOMMU_TEST_OP_ACCESS_RW read ${length} byte(s) at ${hexOf(iova!)} into buffer ${user.buffer.handle}+${user.offset}, but they are not the bytes of ${where} that the IOAS maps there`;
      out.push(this.obj('dma-confinement', ev, message, 'the same bytes', 'other bytes'));
    }
  }

  /**
   * The IOVA an ACCESS_RW or ACCESS_PAGES names: its iova, or in syzkaller's
   * form (MOCK_FLAGS_ACCESS_SYZ) the nth area of the access's IOAS plus an
   * offset (iommufd_test_syz_conv_iova); undefined where the shadow cannot tell.
   */
  private accessIova(ioas: IoasObj | undefined, m: StructValue): bigint | undefined {
    return (toNum(m['flags']) & MOCK_FLAGS_ACCESS_SYZ) !== 0 ? this.shadow.syzIova(ioas, toBig(m['iova'])) : toBig(m['iova']);
  }

  /**
   * ACCESS.PAGES_ARE_MAPPED: the selftest's ACCESS_PAGES compares the pages
   * the access was handed with the ones behind uptr (iommufd_test_check_pages,
   * EBADE when they differ). Where the IOAS maps [iova, iova + length) to
   * exactly the VAs from uptr on, through writable areas (pinned for write: no
   * copy-on-write can have moved the VA off the pinned page) whose memory is
   * still there, the pages are the same: EBADE says the access got pages other
   * than the ones mapped at those IOVAs.
   */
  private checkPagesBehindUptr(ev: StepEvent, ioas: IoasObj, m: StructValue, out: Objection[]): void {
    const uptr = toBig(m['uptr']);
    const r = rangeOf(toBig(m['iova']), toBig(m['length']));
    if (!r || uptr === 0n || (toNum(m['flags']) & MOCK_FLAGS_ACCESS_SYZ) !== 0) return;
    if (!this.mapsMemoryFrom(ioas, r, uptr, (seg) => seg.write)) return;
    this.ctx.count('invariants.dma-confinement');
    out.push(this.obj('dma-confinement', ev, `IOMMU_TEST_OP_ACCESS_PAGES of ${hexOf(r.start)}..${hexOf(r.last)} failed with EBADE (the pages handed to the access are not the ones behind uptr), but IOAS ${ioas.id} maps exactly the memory from uptr ${hexOf(uptr)} on there, writable: the access was handed pages other than the ones mapped at those IOVAs`, 'ok', 'EBADE'));
  }

  /**
   * Whether the IOAS certainly maps all of `r` to the user memory from `uptr`
   * on, byte for byte in order, through segments `writable` accepts, with none
   * of that memory unmapped since.
   */
  private mapsMemoryFrom(ioas: IoasObj, r: Range, uptr: bigint, writable: (seg: Segment) => boolean): boolean {
    for (let at = r.start; ; ) {
      const seg = this.shadow.segmentAt(ioas, at);
      if (!seg || seg.uncertain || !writable(seg)) return false;
      const last = seg.last < r.last ? seg.last : r.last;
      const va = seg.ps.va + seg.psOff + (at - seg.start);
      if (va !== uptr + (at - r.start) || this.shadow.vaGone(va, va + (last - at))) return false;
      if (last >= r.last) return true;
      at = last + 1n;
    }
  }

  /** The user-buffer bytes an IOAS maps at [iova, iova+length), segment by segment; undefined where any of it is unmapped, uncertain or no buffer page. */
  private ioasSpans(ioas: IoasObj, iova: bigint, length: number): Span[] | undefined {
    const out: Span[] = [];
    const end = iova + BigInt(length) - 1n;
    for (let at = iova; at <= end; ) {
      const seg = this.shadow.segmentAt(ioas, at);
      if (!seg || seg.uncertain) return undefined;
      const last = seg.last < end ? seg.last : end;
      const va = seg.ps.va + seg.psOff + (at - seg.start);
      const n = Number(last - at + 1n);
      const b = this.shadow.bufferOfVa(va);
      if (!b || b.offset + n > b.buffer.length || this.shadow.vaGone(va, va + BigInt(n) - 1n)) return undefined;
      out.push({ buffer: b.buffer.handle, offset: b.offset, length: n });
      at = last + 1n;
    }
    return coalesce(out);
  }

  private checkPins(ev: { step: number; request: Request } | undefined, buffer: number, offset: number, length: number, pins: readonly number[], probe: { request: Request; response?: Response } | undefined, out: Objection[]): void {
    const b = this.shadow.buffers.get(buffer);
    if (!b || this.shadow.lost) return;
    const want = this.shadow.expectedPins(b, offset, length);
    this.ctx.count('invariants.accounting');
    for (let i = 0; i < want.length && i < pins.length; i++) {
      const w = want[i];
      if (w !== undefined && w !== pins[i]) {
        const page = Math.floor(offset / Number(PAGE)) + i;
        out.push(this.obj('accounting', ev, `buffer ${buffer} page ${page} is pinned ${pins[i]} time(s), but what is mapped pins it ${w} time(s)`, String(w), String(pins[i]), probe));
        return;
      }
    }
  }

  private checkVm(ev: { step: number; request: Request } | undefined, p: { pinnedVmPages: number; lockedVmPages: number }, probe: { request: Request; response?: Response } | undefined, out: Objection[]): void {
    if (!this.baseline || this.shadow.lost) return;
    const want = this.shadow.expectedVm();
    if (!want) return;
    this.ctx.count('invariants.accounting');
    if (p.pinnedVmPages !== this.baseline.pinned + want.pinned) {
      out.push(this.obj('accounting', ev, `pinned_vm is ${p.pinnedVmPages} pages, but what is mapped pins ${want.pinned} (above the ${this.baseline.pinned} the session started with)`, String(this.baseline.pinned + want.pinned), String(p.pinnedVmPages), probe));
    } else if (p.lockedVmPages !== this.baseline.locked + want.locked) {
      out.push(this.obj('accounting', ev, `locked_vm is ${p.lockedVmPages} pages, but the MM-accounted mappings charge ${want.locked} (above ${this.baseline.locked})`, String(this.baseline.locked + want.locked), String(p.lockedVmPages), probe));
    }
  }

  private checkKvm(ev: { step: number; request: Request } | undefined, vm: number, s: { noncoherentDma: boolean }, probe: { request: Request; response?: Response } | undefined, out: Objection[]): void {
    const rec = this.shadow.vms.get(vm);
    if (!rec) return;
    this.ctx.count('invariants.coherency');
    const incoherent = rec.files.map((f) => f.device).find((d) => d !== undefined && !d.capable);
    if (incoherent && !s.noncoherentDma) {
      out.push(this.obj('coherency', ev, `VM ${vm} has device ${incoherent.handle}'s file registered, whose IOMMU (${incoherent.iommu}) cannot enforce cache coherency, but WBINVD is not emulated`, 'noncoherentDma: true', 'noncoherentDma: false', probe));
      return;
    }
    // The other direction: the state is re-derived from the files on every ADD and DEL
    // (kvm_vfio_update_coherency), so once the last non-coherent file is gone WBINVD stops.
    if (rec.noncoherent === false && s.noncoherentDma) {
      const files = rec.files.map((f) => f.device?.handle).join(', ');
      out.push(this.obj('coherency', ev, `VM ${vm} emulates WBINVD, but every device file registered (${files || 'none'}) is coherency-enforced when the last ADD/DEL re-derived the state (kvm_vfio_update_coherency)`, 'noncoherentDma: false', 'noncoherentDma: true', probe));
    }
  }

  // ---------------------------------------------------------------- probes

  /** IOVA ranges (per IOAS) a request may change, read before the shadow applies it (an unmap's with the mapped page on each side, unless `neighbours` is false). */
  private touchedBefore(req: Request, neighbours = true): { ioas: IoasObj; ranges: Range[] }[] {
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct' || typeof req.cmd !== 'string') return [];
    const ctx = this.shadow.ctxOfFd(req.fd);
    if (!ctx) return [];
    const v = req.arg.fields;
    const segsIn = (ioas: IoasObj, r: Range): Range[] => ioas.segs.filter((s) => overlaps(s, r)).map((s) => ({ start: s.start > r.start ? s.start : r.start, last: s.last < r.last ? s.last : r.last }));
    // What an unmap takes, and the mapped page on each side of it: what stays must stay mapped and
    // pinned (a type1 v1 unmap cuts an area in two, and the half left must keep its pages).
    const unmapped = (ioas: IoasObj, r: Range): Range[] => !neighbours ? segsIn(ioas, r) : [
      ...segsIn(ioas, r),
      ...(r.start >= PAGE ? segsIn(ioas, { start: r.start - PAGE, last: r.start - 1n }) : []),
      ...(r.last <= U64_MAX - PAGE ? segsIn(ioas, { start: r.last + 1n, last: r.last + PAGE }) : []),
    ];
    switch (req.cmd) {
      case 'IOMMU_IOAS_MAP': {
        const ioas = this.shadow.ioas(ctx, v['ioas_id']);
        const r = rangeOf(toBig(v['iova']), toBig(v['length']));
        return ioas && r ? [{ ioas, ranges: [r] }] : [];
      }
      case 'IOMMU_IOAS_COPY': {
        const ioas = this.shadow.ioas(ctx, v['dst_ioas_id']);
        const r = rangeOf(toBig(v['dst_iova']), toBig(v['length']));
        return ioas && r ? [{ ioas, ranges: [r] }] : [];
      }
      case 'IOMMU_IOAS_UNMAP': {
        const ioas = this.shadow.ioas(ctx, v['ioas_id']);
        const iova = toBig(v['iova']);
        const length = toBig(v['length']);
        const r = iova === 0n && length === U64_MAX ? { start: 0n, last: U64_MAX } : rangeOf(iova, length);
        return ioas && r ? [{ ioas, ranges: unmapped(ioas, r) }] : [];
      }
      case 'VFIO_IOMMU_MAP_DMA':
      case 'VFIO_IOMMU_UNMAP_DMA': {
        const ioas = this.shadow.ioas(ctx, ctx.compatIoas);
        const all = req.cmd === 'VFIO_IOMMU_UNMAP_DMA' && (toNum(v['flags']) & VFIO_DMA_UNMAP_FLAG_ALL) !== 0;
        const r = all ? { start: 0n, last: U64_MAX } : rangeOf(toBig(v['iova']), toBig(v['size']));
        return ioas && r ? [{ ioas, ranges: req.cmd === 'VFIO_IOMMU_UNMAP_DMA' ? unmapped(ioas, r) : [r] }] : [];
      }
      default:
        return [];
    }
  }

  /**
   * Where a MAP or COPY put its area: the IOVA it reported back, not the one
   * asked for (an automatic IOVA is iopt_alloc_iova's choice; the request's
   * field is ignored without IOMMU_IOAS_MAP_FIXED_IOVA).
   */
  private placed(ev: StepEvent, ok: boolean, touched: { ioas: IoasObj; ranges: Range[] }[]): { ioas: IoasObj; ranges: Range[] }[] {
    const req = ev.request;
    if (!ok || !ev.response.ok || req.op !== 'ioctl' || req.arg.kind !== 'struct' || (req.cmd !== 'IOMMU_IOAS_MAP' && req.cmd !== 'IOMMU_IOAS_COPY')) return touched;
    const out = (ev.response.result as { out?: StructValue }).out;
    const iova = out?.[req.cmd === 'IOMMU_IOAS_MAP' ? 'iova' : 'dst_iova'];
    if (iova === undefined) return touched;
    const r = rangeOf(toBig(iova), toBig(req.arg.fields['length']));
    return touched.map((t) => ({ ioas: t.ioas, ranges: r ? [r] : [] }));
  }

  /**
   * Remembers what an unmap took (its first page per range, the last eight
   * kept), and after a step that builds page tables (a map, a new domain)
   * probes one of them again, by DMA, from a device now on that IOAS.
   */
  private reprobeUnmapped(cmd: string | number, touched: readonly { ioas: IoasObj; ranges: Range[] }[], devices: readonly DeviceRec[], targets: { d: DeviceRec; iova: bigint; dma: boolean }[]): void {
    if (cmd === 'IOMMU_IOAS_UNMAP' || cmd === 'VFIO_IOMMU_UNMAP_DMA') {
      for (const t of touched) for (const r of t.ranges) this.unmappedRecently.push({ ioas: t.ioas, iova: r.start - (r.start % PAGE) });
      if (this.unmappedRecently.length > 8) this.unmappedRecently.splice(0, this.unmappedRecently.length - 8);
      // A device away from the IOAS comes back to a domain whose IOTLB must hold none of this (the
      // unmap had no device of that domain to invalidate for, on some unit).
      for (const away of this.leftPages.values()) {
        for (const t of touched) {
          if (t.ioas !== away.ioas) continue;
          for (const r of t.ranges) {
            const iova = r.start - (r.start % PAGE);
            if (away.pages.length < 8 && !away.pages.includes(iova)) away.pages.push(iova);
          }
        }
      }
      return;
    }
    if (!BUILDS_TABLES.test(String(cmd))) return;
    const again = this.pickRandom(this.unmappedRecently);
    const d = again && this.pickRandom(devices.filter((x) => this.shadow.deviceIoas(x)?.ioas === again.ioas));
    if (again && d) targets.push({ d, iova: again.iova, dma: this.can.dma });
  }

  /** Up to `cap` mapped pages of the segments, evenly spread over all of their pages (no bigint per page skipped). */
  private spreadPages(segs: readonly Segment[], cap: number): bigint[] {
    const counts = segs.map((x) => Number((x.last - (x.start - (x.start % PAGE))) / PAGE) + 1);
    const total = counts.reduce((a, b) => a + b, 0);
    const stride = Math.max(1, Math.ceil(total / cap));
    const out: bigint[] = [];
    let seen = 0;
    segs.forEach((x, k) => {
      const n = counts[k] as number;
      const base = x.start - (x.start % PAGE);
      if (!x.uncertain) for (let j = (stride - (seen % stride)) % stride; j < n; j += stride) out.push(base + BigInt(j) * PAGE);
      seen += n;
    });
    return out;
  }

  /** The pages of a range a probe looks at: its first byte, its last page and one in the middle (each once). */
  private pagesOf(r: Range): bigint[] {
    const first = r.start - (r.start % PAGE);
    const lastPage = r.last - (r.last % PAGE);
    const out = [r.start];
    if (lastPage > first) out.push(lastPage);
    if (lastPage - first > 2n * PAGE) out.push(first + ((lastPage - first) / PAGE / 2n) * PAGE);
    return out;
  }

  private pickRandom<T>(list: readonly T[]): T | undefined {
    return list.length === 0 ? undefined : list[Math.floor(this.ctx.random() * list.length)];
  }

  /** pickRandom over a map's values, in insertion order, without copying them. */
  private pickRandomOf<T>(map: ReadonlyMap<unknown, T>): T | undefined {
    if (map.size === 0) return undefined;
    let i = Math.floor(this.ctx.random() * map.size);
    for (const v of map.values()) if (i-- === 0) return v;
    return undefined;
  }

  /** VFIO_DEVICE_ATTACH_IOMMUFD_PT for a PASID (7.3's VFIO_DEVICE_ATTACH_PASID). */
  private pasidAttach(req: Request): boolean {
    const flag = enumValue(this.profile, 'VFIO_DEVICE_ATTACH_PASID') ?? 0;
    return req.op === 'ioctl' && req.cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' && req.arg.kind === 'struct' && (toNum(req.arg.fields['flags']) & flag) !== 0;
  }

  private async probe(ev: StepEvent, ok: boolean, touched: { ioas: IoasObj; ranges: Range[] }[], out: Objection[], moved: readonly Moved[] = [], group?: string): Promise<void> {
    const req = ev.request;
    const stateful = req.op === 'ioctl' || req.op === 'close' || req.op === 'kvm_vfio_add' || req.op === 'kvm_vfio_del' || req.op === 'kvm_destroy' || req.op === 'device_remove';
    if (!stateful && req.op !== 'set_process') return;
    const devices = this.shadow.liveDevices().filter((d) => d.handle !== undefined);
    const targets: { d: DeviceRec; iova: bigint; dma: boolean }[] = [];
    const canMap = this.can.translate || this.can.dma;
    if (canMap && !this.shadow.lost && req.op === 'ioctl') {
      // The pages the step touched, on every device whose IOAS it is.
      for (const t of touched) {
        const on = devices.filter((d) => this.shadow.deviceIoas(d)?.ioas === t.ioas);
        for (const r of t.ranges) for (const iova of this.pagesOf(r)) for (const d of on) targets.push({ d, iova, dma: this.can.dma && (!this.can.translate || this.ctx.random() < this.dmaRate || DMA_ALWAYS.test(String(req.cmd))) });
      }
      if (ok) this.reprobeUnmapped(req.cmd, touched, devices, targets);
      // A command acts on exactly its range: the bytes just outside each end, where another area
      // sits, stay as they were (an area may end inside a CPU page, on a 2 KiB mock domain, and an
      // unmap or a failed map's unwind that runs to the page's end takes its neighbour's head).
      for (const t of touched) {
        const on = devices.filter((d) => this.shadow.deviceIoas(d)?.ioas === t.ioas);
        if (on.length === 0) continue;
        for (const r of t.ranges) {
          for (const iova of [r.start - EDGE_BYTES, r.last + 1n]) {
            const seg = iova >= 0n ? this.shadow.segmentAt(t.ioas, iova) : undefined;
            if (!seg || seg.uncertain || this.shadow.segmentAt(t.ioas, iova + EDGE_BYTES - 1n) !== seg) continue;
            for (const d of on) targets.push({ d, iova, dma: this.can.dma });
          }
        }
      }
    }
    if (canMap && !this.shadow.lost) {
      // A device whose reach the step changed: the first page of a mapping of the IOAS it left and of the one it joined, by DMA (through the IOTLB).
      for (const { d, ioas, left } of moved) {
        const seg = ioas.segs[0];
        const pages: bigint[] = [];
        if (seg) pages.push(seg.start - (seg.start % PAGE));
        const other = this.pickRandom(ioas.segs);
        if (other && other !== seg) pages.push(other.start - (other.start % PAGE));
        // A device that left an IOAS that maps nothing: its DMA anywhere shows what it is attached to now (the blocking domain's fault, or another).
        if (left && pages.length === 0) pages.push(0n);
        for (const iova of pages) targets.push({ d, iova, dma: this.can.dma });
        // A device that joined: the IOAS's mapped pages by translation, spread over all of them. A new
        // domain is filled from what the IOAS's pages hold (iopt_area_fill_domain: the frames an
        // access or another domain stored), so a fill that stored or read a wrong frame shows here.
        if (!left && this.can.translate) for (const iova of this.spreadPages(ioas.segs, JOIN_SWEEP_PAGES)) if (!pages.includes(iova)) targets.push({ d, iova, dma: false });
        // What it reached before, again once it is attached elsewhere: a new domain that inherits
        // the old one's IOTLB tag without a flush still answers from the old entries.
        if (left) {
          this.leftPages.set(d, { ioas, pages });
        } else {
          for (const iova of this.leftPages.get(d)?.pages ?? []) if (!pages.includes(iova)) targets.push({ d, iova, dma: this.can.dma });
          this.leftPages.delete(d);
        }
      }
      // The members of the group the step acted on: a mapped page of what each reaches now, by DMA.
      if (group !== undefined) {
        for (const d of devices) {
          if (d.group !== group || moved.some((x) => x.d === d)) continue;
          const via = this.groupAttachment(d);
          const seg = this.pickRandom((via && this.shadow.deviceIoas(via)?.ioas.segs) || []);
          if (seg) targets.push({ d, iova: seg.start - (seg.start % PAGE), dma: this.can.dma });
        }
      }
      // An attach that failed leaves the device where it was: a mapped page of the IOAS it named,
      // by DMA, unless it reached that IOAS already (an unwind that forgot to detach shows here).
      // So does a PASID's attach, whatever its answer: the device's own requests (no PASID) must
      // not reach what only the PASID was given.
      if ((!ok || this.pasidAttach(req)) && req.op === 'ioctl' && req.cmd === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' && req.arg.kind === 'struct') {
        const d = this.shadow.fds.get(req.fd)?.device;
        const ctx = d?.bound?.ctx;
        const named = ctx?.objects.get(toNum(req.arg.fields['pt_id']));
        const ioas = named?.type === 'ioas' ? named : named && 'ioas' in named && typeof named.ioas === 'number' ? this.shadow.ioas(ctx as CtxRec, named.ioas) : undefined;
        const seg = ioas && this.shadow.deviceIoas(d as DeviceRec)?.ioas !== ioas ? this.pickRandom(ioas.segs) : undefined;
        if (d?.handle !== undefined && seg) targets.push({ d, iova: seg.start - (seg.start % PAGE), dma: this.can.dma });
      }
    }
    if (canMap && !this.shadow.lost && (stateful || targets.length > 0)) {
      // A random sample: some device at a mapped page of its IOAS, or anywhere a device used to reach.
      for (let i = 0; i < this.sample; i++) {
        const d = this.pickRandom(devices);
        if (!d) break;
        const at = this.shadow.deviceIoas(d);
        const ioas = at?.ioas ?? this.pickRandom(this.shadow.ctxs.filter((c) => c.alive).flatMap((c) => [...c.objects.values()].filter((o): o is IoasObj => o.type === 'ioas')));
        const seg = ioas ? this.pickRandom(ioas.segs) : undefined;
        if (!seg) continue;
        const span = (seg.last - seg.start) / PAGE;
        const iova = seg.start + BigInt(Math.floor(this.ctx.random() * Number(span + 1n))) * PAGE;
        targets.push({ d, iova: iova > seg.last ? seg.start : iova, dma: this.can.dma && (!this.can.translate || this.ctx.random() < this.dmaRate) });
      }
    }
    const requests: Request[] = [];
    const checks: ((r: Response, probe: { request: Request; response?: Response }) => void)[] = [];
    for (const t of targets) {
      if (this.can.translate) {
        requests.push({ op: 'translate', device: t.d.handle as number, iova: t.iova });
        checks.push((r, p) => {
          if (r.ok) this.checkTranslate(ev, t.d, t.iova, r.result as TranslateResult, p, out);
        });
      }
      if (t.dma) {
        requests.push({ op: 'dma', device: t.d.handle as number, iova: t.iova, dir: 'read', length: 8 });
        let dmaAnswer: Response | undefined;
        // And what it read against what the mapped pages hold: the content shadow's bytes, or
        // (where it does not know them) the memory read in the same batch, after it.
        const spans = this.landing(t.d, t.iova, 8);
        const known = spans && this.knownAt(spans);
        checks.push((r, p) => {
          dmaAnswer = r;
          if (!r.ok) return;
          this.checkDma(ev, t.d, t.iova, 8, 'read', r.result as DmaResult, p, out);
          const got = r.result as DmaResult;
          const o = out.length === 0 && spans && known && got.ok && got.data ? this.dataObjection(ev, t.d, t.iova, 'read', spans, got.data, known, p) : undefined;
          if (o) out.push(o);
        });
        if (spans && !known && this.can.mem) {
          const reads = this.readsOf(spans);
          const answers: Response[] = [];
          reads.forEach((read, i) => {
            requests.push(read);
            checks.push((r, p) => {
              answers.push(r);
              if (r.ok) this.content.learn(spans[i]!.buffer, spans[i]!.offset, (r.result as { data: Uint8Array }).data);
              const got = dmaAnswer?.ok ? (dmaAnswer.result as DmaResult) : undefined;
              if (i < reads.length - 1 || !got?.ok || !got.data) return;
              const memory = this.bytesOf(answers);
              const o = memory && this.dataObjection(ev, t.d, t.iova, 'read', spans, got.data, memory, p);
              if (o) out.push(o);
            });
          });
        }
      }
    }
    // Pins: the buffer pages behind what the step touched, and one at random.
    if (this.can.pins && req.op === 'ioctl' && (ok || touched.length > 0)) {
      const pages = new Map<string, { buffer: number; offset: number }>();
      for (const t of touched) {
        for (const r of t.ranges) {
          for (const iova of this.pagesOf(r)) {
            const seg = this.shadow.segmentAt(t.ioas, iova);
            const va = seg ? seg.ps.va + seg.psOff + (iova - seg.start) : undefined;
            const b = va !== undefined ? this.shadow.bufferOfVa(va) : undefined;
            if (b) pages.set(`${b.buffer.handle}:${b.offset >> 12}`, { buffer: b.buffer.handle, offset: b.offset - (b.offset % 4096) });
          }
        }
      }
      // What accesses hold elsewhere in the IOAS the step touched stays held: an unmap notifies
      // the accesses of its own range only (iommufd_access_notify_unmap).
      for (const t of touched) {
        for (const ctx of this.shadow.ctxs) {
          if (!ctx.alive) continue;
          for (const a of ctx.objects.values()) {
            if (a.type !== 'access' || this.shadow.ioas(ctx, a.ioas) !== t.ioas) continue;
            for (const item of a.items.values()) {
              if (pages.size >= ACCESS_PIN_PROBES || t.ranges.some((r) => overlaps(r, item))) continue;
              for (const iova of [item.start, item.last]) {
                const seg = this.shadow.segmentAt(t.ioas, iova);
                const va = seg && !seg.uncertain ? seg.ps.va + seg.psOff + (iova - seg.start) : undefined;
                const b = va !== undefined ? this.shadow.bufferOfVa(va) : undefined;
                if (b) pages.set(`${b.buffer.handle}:${b.offset >> 12}`, { buffer: b.buffer.handle, offset: b.offset - (b.offset % 4096) });
              }
            }
          }
        }
      }
      const rb = this.pickRandomOf(this.shadow.buffers);
      if (rb) {
        const off = Math.floor(this.ctx.random() * Math.max(1, Math.floor(rb.length / 4096))) * 4096;
        pages.set(`${rb.handle}:${off >> 12}`, { buffer: rb.handle, offset: off });
      }
      for (const p of pages.values()) {
        requests.push({ op: 'pin_count', buffer: p.buffer, offset: p.offset, length: 4096 });
        checks.push((r, pr) => {
          if (r.ok) this.checkPins(ev, p.buffer, p.offset, 4096, (r.result as { pins: number[] }).pins, pr, out);
        });
      }
    }
    if (this.can.proc && (req.op === 'ioctl' || req.op === 'close' || req.op === 'kvm_destroy' || req.op === 'kvm_vfio_del') && (ok || touched.length > 0)) {
      requests.push({ op: 'process_info' });
      checks.push((r, p) => {
        if (r.ok) this.checkVm(ev, r.result as { pinnedVmPages: number; lockedVmPages: number }, p, out);
      });
    }
    if (this.can.kvm && (req.op.startsWith('kvm_') || req.op === 'close')) {
      for (const vm of this.shadow.vms.keys()) {
        requests.push({ op: 'kvm_state', vm });
        checks.push((r, p) => {
          if (r.ok) this.checkKvm(ev, vm, r.result as { noncoherentDma: boolean }, p, out);
        });
      }
    }
    if (requests.length === 0) return;
    const responses = await this.ctx.observe(requests);
    responses.forEach((r, i) => {
      if (out.length === 0) checks[i]?.(r, { request: requests[i] as Request, response: r });
    });
  }

  // ---------------------------------------------------------------- end of case

  async end(): Promise<readonly Objection[]> {
    const out: Objection[] = [];
    const requests: Request[] = [];
    const checks: ((r: Response, p: { request: Request; response?: Response }) => void)[] = [];
    const add = (req: Request, check: (r: Response, p: { request: Request; response?: Response }) => void): void => {
      requests.push(req);
      checks.push(check);
    };
    // Full sweep: every device over every segment (both ends and the middle) of its IOAS, and over
    // up to END_SWEEP_PAGES of its mapped pages spread over all of them (a wrong frame inside an
    // area shows nowhere else); unattached ones over every IOAS's segments.
    if ((this.can.translate || this.can.dma) && !this.shadow.lost) {
      const allSegs = this.shadow.ctxs.filter((c) => c.alive).flatMap((c) => [...c.objects.values()].filter((o): o is IoasObj => o.type === 'ioas').flatMap((o) => o.segs));
      for (const d of this.shadow.liveDevices()) {
        if (d.handle === undefined) continue;
        const at = this.shadow.deviceIoas(d);
        const segs = (at ? at.ioas.segs : allSegs).slice(0, 24);
        const pages = new Set(segs.flatMap((x) => this.pagesOf(x)));
        if (at) for (const iova of this.spreadPages(at.ioas.segs, END_SWEEP_PAGES)) pages.add(iova);
        for (const iova of pages) {
          if (this.can.translate) add({ op: 'translate', device: d.handle, iova }, (r, p) => r.ok && this.checkTranslate(undefined, d, iova, r.result as TranslateResult, p, out));
          else add({ op: 'dma', device: d.handle, iova, dir: 'read', length: 8 }, (r, p) => r.ok && this.checkDma(undefined, d, iova, 8, 'read', r.result as DmaResult, p, out));
        }
      }
    }
    // After writes by DMA or an access: every byte the content shadow knows (a buffer's first
    // SWEEP_BYTES) is still what it must be — a write that landed somewhere else too shows here.
    if (this.wrote && this.can.mem && !this.shadow.lost) {
      for (const b of this.shadow.buffers.values()) {
        for (const r of this.readable(this.content.knownRanges(b.handle, SWEEP_BYTES).map((x) => ({ buffer: b.handle, ...x })))) {
          add({ op: 'mem_read', buffer: b.handle, offset: r.offset, length: r.length }, (res, p) => {
            const want = this.content.read(b.handle, r.offset, r.length);
            if (!res.ok || !want) return;
            this.ctx.count('invariants.dma-confinement');
            const got = (res.result as { data: Uint8Array }).data;
            const k = firstDifference(want, got);
            if (k >= 0) out.push(this.obj('dma-confinement', undefined, `at the end of the case buffer ${b.handle}+${r.offset + k} holds ${got[k]}, but nothing the oracle saw wrote there since it held ${want[k]}: a DMA or access write landed where the IOAS did not map it`, String(want[k]), String(got[k]), p));
          });
        }
      }
    }
    if (this.can.pins && !this.shadow.lost) {
      for (const b of this.shadow.buffers.values()) add({ op: 'pin_count', buffer: b.handle, offset: 0, length: b.length }, (r, p) => r.ok && this.checkPins(undefined, b.handle, 0, b.length, (r.result as { pins: number[] }).pins, p, out));
    }
    // Every live IOAS's IOVA_RANGES: a reservation or a domain aperture that something left behind
    // (a failed command that did not unwind, a detach, a freed domain) shows whether or not the case
    // happened to ask. A read-only command: it changes nothing the rest of the sweep judges.
    if (this.can.iovaRanges && !this.shadow.lost) {
      for (const [fd, file] of this.shadow.fds) {
        const ctx = file.kind === 'iommufd' && file.fdOpen ? file.ctx : undefined;
        if (!ctx?.alive) continue;
        for (const o of ctx.objects.values()) {
          if (o.type !== 'ioas') continue;
          const request: Request = { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { kind: 'struct', fields: { ioas_id: o.id, num_iovas: END_RANGES, allowed_iovas: { room: END_RANGES * 16 } } } };
          add(request, (r, p) => {
            const res = r.ok ? (r.result as IoctlResult) : undefined;
            const n = res?.out ? toNum(res.out['num_iovas']) : 0;
            const data = res?.buffers?.['allowed_iovas'];
            if (!res || res.ret < 0 || n > END_RANGES || !data || data.length < n * 16) return;
            this.ctx.count('invariants.abi-hygiene');
            this.judgeAlignment(undefined, ctx, o, toBig(res.out!['out_iova_alignment']), out, p);
            if (out.length === 0) this.judgeRanges(undefined, ctx, o, decodeRanges(data, n), out, p);
          });
        }
      }
    }
    // Every live context's RLIMIT_MODE and every live IOAS's HUGE_PAGES: a SET that answered a
    // failure but took effect (or a success that did not) shows whether or not the case asked again.
    if (this.can.option && !this.shadow.lost && !this.failNth) {
      const asked = new Set<CtxRec>();
      for (const [fd, file] of this.shadow.fds) {
        const ctx = file.kind === 'iommufd' && file.fdOpen ? file.ctx : undefined;
        if (!ctx?.alive || asked.has(ctx)) continue;
        asked.add(ctx);
        const get = (option: number, objectId: number, key: object, want: boolean, what: string): void => {
          if (this.optionUnknown.has(key)) return;
          const request: Request = { op: 'ioctl', fd, cmd: 'IOMMU_OPTION', arg: { kind: 'struct', fields: { option_id: option, op: IOMMU_OPTION_OP_GET, object_id: objectId, val64: 0n } } };
          add(request, (r, p) => {
            const res = r.ok ? (r.result as IoctlResult) : undefined;
            const got = res && res.ret >= 0 ? res.out?.['val64'] : undefined;
            if (got === undefined) return;
            this.ctx.count('invariants.abi-hygiene');
            if (toBig(got) !== (want ? 1n : 0n)) out.push(this.obj('abi-hygiene', undefined, `at the end of the case, IOMMU_OPTION GET of ${what} answered ${toBig(got)}, but the last successful SET left ${want ? 1 : 0}: a failed SET changes nothing, a successful one takes effect`, want ? '1' : '0', String(toBig(got)), p));
          });
        };
        get(IOMMU_OPTION_RLIMIT_MODE, 0, ctx, ctx.accountMM, 'RLIMIT_MODE');
        for (const o of ctx.objects.values()) if (o.type === 'ioas') get(IOMMU_OPTION_HUGE_PAGES, o.id, o, o.largePages, `HUGE_PAGES of IOAS ${o.id}`);
      }
    }
    if (this.can.proc) add({ op: 'process_info' }, (r, p) => r.ok && this.checkVm(undefined, r.result as { pinnedVmPages: number; lockedVmPages: number }, p, out));
    if (this.can.kvm) for (const vm of this.shadow.vms.keys()) add({ op: 'kvm_state', vm }, (r, p) => r.ok && this.checkKvm(undefined, vm, r.result as { noncoherentDma: boolean }, p, out));
    if (requests.length > 0) {
      const responses = await this.ctx.observe(requests);
      responses.forEach((r, i) => {
        if (out.length === 0) checks[i]?.(r, { request: requests[i] as Request, response: r });
      });
    }
    if (out.length > 0) return out;
    await this.unmapEachArea(out);
    if (out.length > 0) return out;
    await this.destroyUnheld(out);
    if (out.length > 0) return out;
    return this.teardown();
  }

  /**
   * Every area the shadow is sure of is where the MAP or COPY that made it
   * said: IOMMU_IOAS_UNMAP of exactly its range succeeds and unmaps exactly
   * its length (iopt_unmap_iova_range answers ENOENT for an area that runs
   * past either end of the range, and unmaps nothing then). Devices see an
   * area only while one is attached there; this shows one the
   * implementation placed somewhere else than it answered, or left out, in
   * an IOAS no device reached. An area the shadow is unsure of (a failed
   * unmap may or may not have taken it) is left alone, as is one that a
   * type1 cut left in pieces; an access's pins in it are given back through
   * its unmap notification, as for any unmap (the selftest's accesses always
   * unpin: checkUnmapDeadlock). Half the contexts, drawn at random, leave the
   * IOASes a domain holds mapped for the teardown.
   */
  private async unmapEachArea(out: Objection[]): Promise<void> {
    if (this.shadow.lost || this.failNth || this.ctx.caps.commands['IOMMU_IOAS_UNMAP']?.supported !== true) return;
    const unmaps: { request: Request; start: bigint; last: bigint; ioas: number }[] = [];
    for (const [fd, file] of this.shadow.fds) {
      const ctx = file.kind === 'iommufd' && file.fdOpen ? file.ctx : undefined;
      // A context holding objects the shadow does not follow may lock areas (7.3's num_locks: EBUSY).
      if (!ctx?.alive || !this.followsEveryHolder(ctx)) continue;
      // One context in two keeps the areas a domain holds (DMA probes judged where they are): what
      // they pin is what closing its file must give back, and the only trace a context a
      // reference kept alive leaves (teardown).
      const keepDomains = this.ctx.random() < 0.5;
      for (const o of ctx.objects.values()) {
        if (o.type !== 'ioas' || (keepDomains && this.refsOf(ctx, o).some((r) => r.startsWith('HWPT')))) continue;
        // Lowest first or highest first: a walk that runs on past the area it unmapped (a wrap
        // past the top of the address space, say) takes areas the other order left behind.
        const areas = wholeAreas(o.segs);
        for (const [start, last] of this.ctx.random() < 0.5 ? areas : [...areas].reverse()) {
          if (unmaps.length < END_UNMAPS) unmaps.push({ start, last, ioas: o.id, request: { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_UNMAP', arg: { kind: 'struct', fields: { ioas_id: o.id, iova: start, length: last - start + 1n } } } });
        }
      }
    }
    if (unmaps.length === 0) return;
    const rs = await this.ctx.observe(unmaps.map((u) => u.request));
    unmaps.forEach(({ request, start, last, ioas }, i) => {
      const r = rs[i];
      if (!r) return;
      this.shadow.apply(request, r);
      const s = statusOf(request, r);
      if (s.status === 'skipped' || s.status === 'error' || out.length > 0) return;
      this.ctx.count('invariants.dma-confinement');
      const length = s.status === 'ok' && r.ok ? toBig((r.result as IoctlResult).out?.['length']) : undefined;
      if (length === last - start + 1n) return;
      const observed = length === undefined ? (errnoName(s.errno ?? 0) ?? `E${s.errno}`) : `ok, length ${hexOf(length)}`;
      out.push(this.obj('dma-confinement', undefined, `at the end of the case, IOMMU_IOAS_UNMAP of exactly the area at ${hexOf(start)}..${hexOf(last)} in IOAS ${ioas} answered ${observed}: the area is not where the command that made it said (an unmap of an area's exact range unmaps all of it)`, `ok, length ${hexOf(last - start + 1n)}`, observed, { request, response: r }));
    });
  }

  /**
   * Every IOAS nothing holds (no paging HWPT, no access: the shadow follows
   * every holder of its context) is destroyed before the files close: DESTROY
   * must succeed. A reference an error path or a detach kept (a COPY that
   * failed without putting its source, say) shows here even when the case
   * never asked to destroy that IOAS, where closing the file would only
   * free it quietly. Once every other file is closed (`afterFiles`), the
   * same again, paging HWPTs first (no device, no nested HWPT on it, over
   * an IOAS that maps nothing): a reference kept while devices held the
   * object shows then. (A HWPT whose domain holds pages stays: what it pins
   * is the only trace a leaked context leaves, at the teardown.)
   */
  private async destroyUnheld(out: Objection[], afterFiles = false): Promise<void> {
    if (this.shadow.lost || this.ctx.caps.commands['IOMMU_DESTROY']?.supported !== true) return;
    const when = afterFiles ? 'once every device, access and VM was closed' : 'at the end of the case';
    for (const type of afterFiles ? (['hwpt_paging', 'ioas'] as const) : (['ioas'] as const)) {
      const requests: { request: Request; id: number }[] = [];
      for (const [fd, file] of this.shadow.fds) {
        const ctx = file.kind === 'iommufd' && file.fdOpen ? file.ctx : undefined;
        if (!ctx?.alive || !this.followsEveryHolder(ctx)) continue;
        for (const o of ctx.objects.values()) {
          // A HWPT only over an IOAS that maps nothing: a domain's pins are a leaked context's trace (teardown).
          const over = o.type === 'hwpt_paging' && o.ioas !== undefined ? ctx.objects.get(o.ioas) : undefined;
          const pins = o.type === 'hwpt_paging' && !(over?.type === 'ioas' && over.segs.length === 0);
          if (o.type === type && !pins && this.refsOf(ctx, o).length === 0) requests.push({ id: o.id, request: { op: 'ioctl', fd, cmd: 'IOMMU_DESTROY', arg: { kind: 'struct', fields: { id: o.id } } } });
        }
      }
      if (requests.length === 0) continue;
      const rs = await this.ctx.observe(requests.map((x) => x.request));
      requests.forEach(({ request, id }, i) => {
        const r = rs[i];
        if (!r) return;
        this.shadow.apply(request, r);
        const s = statusOf(request, r);
        if (s.status === 'skipped' || s.status === 'error') return;
        this.ctx.count('invariants.lifetime');
        if (out.length === 0 && s.status !== 'ok' && errnoName(s.errno ?? 0) === 'EBUSY') {
          const what = type === 'ioas' ? `IOAS ${id} failed with EBUSY, but nothing holds it: no paging HWPT and no access is on it` : `HWPT ${id} failed with EBUSY, but nothing holds it: no device and no nested HWPT is on it`;
          out.push(this.obj('lifetime', undefined, `${when}, DESTROY of ${what} (a reference an earlier command took and kept)`, 'ok', 'EBUSY', { request, response: r }));
        }
      });
      if (out.length > 0) return;
    }
  }

  /** Close everything: pins and locked memory must return to where the session started. */
  private async teardown(): Promise<Objection[]> {
    const out: Objection[] = [];
    if (this.floorClose) this.judgeOwnClose(this.floorClose.request, this.floorClose.response, 'opened at the case\u2019s start to find the lowest free number', out);
    if (out.length > 0) return out;
    // Every file but the contexts first (VMs, device files, accesses): what they held goes with
    // them, and every HWPT and IOAS nothing holds then must be destroyable before the contexts close.
    const fds = this.shadow.openFds().sort((a, b) => b - a);
    const isCtx = (fd: number): boolean => this.shadow.fds.get(fd)?.kind === 'iommufd';
    const first: Request[] = [...[...this.shadow.vms.keys()].sort((a, b) => b - a).map((vm): Request => ({ op: 'kvm_destroy', vm })), ...fds.filter((fd) => !isCtx(fd)).map((fd): Request => ({ op: 'close', fd }))];
    for (const closing of [first, fds.filter(isCtx).map((fd): Request => ({ op: 'close', fd }))]) {
      if (closing.length === 0) continue;
      const rs = await this.ctx.observe(closing);
      closing.forEach((c, i) => {
        const r = rs[i];
        if (!r) return;
        // FILES.OPEN_UNTIL_CLOSED: each fd closed here is one the process holds open.
        const s = statusOf(c, r);
        const o = c.op === 'close' && out.length === 0 && s.status !== 'error' && s.status !== 'skipped' ? this.openFileRefused(c, s.status === 'ok', s.errno) : undefined;
        if (o) out.push(this.obj('lifetime', undefined, `at the end of the case, ${o.message}`, o.expected, o.observed, { request: c, response: r }));
        this.shadow.apply(c, r);
      });
      if (out.length > 0) return out;
      if (closing === first) await this.destroyUnheld(out, true);
      if (out.length > 0) return out;
    }
    const after: Request[] = [];
    if (this.can.proc && this.baseline) after.push({ op: 'process_info' });
    if (this.can.pins) for (const b of this.shadow.buffers.values()) after.push({ op: 'pin_count', buffer: b.handle, offset: 0, length: b.length });
    if (after.length === 0) return out;
    const rs = await this.ctx.observe(after);
    this.ctx.count('invariants.accounting');
    after.forEach((req, i) => {
      const r = rs[i];
      if (!r?.ok || out.length > 0) return;
      const probe = { request: req, response: r };
      if (req.op === 'process_info' && this.baseline) {
        const p = r.result as { pinnedVmPages: number; lockedVmPages: number };
        if (p.pinnedVmPages !== this.baseline.pinned || p.lockedVmPages !== this.baseline.locked) {
          out.push(this.obj('accounting', undefined, `after every file and VM was closed, pinned_vm/locked_vm are ${p.pinnedVmPages}/${p.lockedVmPages} pages, not the ${this.baseline.pinned}/${this.baseline.locked} the session started with`, `${this.baseline.pinned}/${this.baseline.locked}`, `${p.pinnedVmPages}/${p.lockedVmPages}`, probe));
        }
      } else if (req.op === 'pin_count') {
        const pins = (r.result as { pins: number[] }).pins;
        const i2 = pins.findIndex((n) => n !== 0);
        if (i2 >= 0) out.push(this.obj('accounting', undefined, `after every file and VM was closed, buffer ${req.buffer} page ${i2} is still pinned ${pins[i2]} time(s)`, '0', String(pins[i2]), probe));
      }
    });
    if (out.length === 0) await this.checkUserChargeGone(out);
    if (out.length === 0) await this.checkRebind(out);
    if (out.length === 0) await this.checkFdsFree(out);
    return out;
  }

  /**
   * FILES.NUMBERS_FREED: once every file of the case is closed, every number
   * it was handed is free again. An implementation handing fds out lowest-free
   * (ADAPTER.md §6) then gives, for as many opens, every number from the
   * case's lowest to two past its highest; one that stays taken is a
   * descriptor reserved and never released (get_unused_fd_flags without
   * put_unused_fd on an error path): every later open of the process skips
   * it. The case's lowest counts the number the process's first open got at
   * the case's start (fdFloor), so a file left open by the case's own first
   * open, one that answered failure, is seen too. Counter-style numbering
   * (the first open past the highest) is not judged.
   */
  private async checkFdsFree(out: Objection[]): Promise<void> {
    const seen = [...this.shadow.seenFds, ...(this.fdFloor === undefined ? [] : [this.fdFloor])];
    if (this.failNth || this.shadow.lost || seen.length === 0) return;
    const lo = Math.min(...seen);
    const hi = Math.max(...seen) + 2;
    if (hi - lo >= 256) return;
    const opens: Request[] = Array.from({ length: hi - lo + 1 }, () => ({ op: 'open', node: 'iommu' }));
    const rs = await this.ctx.observe(opens);
    const got = rs.map((r) => (r?.ok ? (r.result as { fd?: number }).fd : undefined)).filter((fd): fd is number => typeof fd === 'number' && fd >= 0);
    try {
      if (got.length !== opens.length || (got[0] as number) > hi) return;
      this.ctx.count('invariants.lifetime');
      const taken = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i).find((fd) => !got.includes(fd));
      if (taken === undefined) return;
      const i = got.findIndex((fd) => fd > hi);
      out.push(
        this.obj(
          'lifetime',
          undefined,
          `after every file and VM was closed, fd ${taken} is still taken: ${opens.length} opens gave ${got.join(', ')}, not every number from ${lo} (the case's lowest) to ${hi}: a descriptor reserved and never released or installed`,
          `fds ${lo}..${hi}`,
          got.join(', '),
          { request: opens[Math.max(0, i)] as Request, response: rs[Math.max(0, i)] as Response },
        ),
      );
    } finally {
      await this.closeOwn(got, 'opened to count the free numbers', out);
    }
  }

  /**
   * FILES.OPEN_UNTIL_CLOSED for the files an end-of-case check opened itself:
   * each closes with success. Their answers are otherwise nobody's concern,
   * so a close that fails (or says it failed) would go unseen there.
   */
  private async closeOwn(fds: readonly number[], why: string, out: Objection[], more: readonly Request[] = []): Promise<Response[]> {
    const closing = fds.map((fd): Request => ({ op: 'close', fd }));
    const rs = await this.ctx.observe([...closing, ...more]);
    closing.forEach((request, i) => this.judgeOwnClose(request, rs[i], why, out));
    return rs.slice(closing.length);
  }

  /** One close of a file the oracle opened itself: it must succeed (FILES.OPEN_UNTIL_CLOSED). */
  private judgeOwnClose(request: Request, response: Response | undefined, why: string, out: Objection[]): void {
    const s = response ? statusOf(request, response) : undefined;
    if (!response || out.length > 0 || !s || s.status === 'ok' || s.status === 'skipped' || s.status === 'error') return;
    this.ctx.count('invariants.lifetime');
    const observed = errnoName(s.errno ?? 0) ?? `E${s.errno}`;
    out.push(this.obj('lifetime', undefined, `at the end of the case, close of fd ${(request as { fd: number }).fd}, ${why}, failed with ${observed}: a descriptor names its file until it is closed, and closing it succeeds`, 'ok', observed, { request, response }));
  }

  /**
   * Closing every file and VM releases every device (VFIO_BIND.DEVID,
   * KVM.RELEASE_DROPS_FILES) and with the last unbind its group's DMA
   * ownership (GROUP.OWNERSHIP): a fresh context then binds each device of
   * a group one of whose devices was bound in the case. A file a reference
   * kept alive (a VM's, an error path's) keeps its device bound and its
   * group owned, which no pin count shows when nothing was mapped through it.
   */
  private async checkRebind(out: Objection[]): Promise<void> {
    if (!this.can.rebind || this.failNth || this.shadow.lost) return;
    const devices = this.shadow.liveDevices().filter((d) => d.handle !== undefined && this.shadow.boundGroups.has(d.group));
    if (devices.length === 0) return;
    const fdOf = (r: Response | undefined): number | undefined => {
      const fd = r?.ok ? (r.result as { fd?: number }).fd : undefined;
      return typeof fd === 'number' && fd >= 0 ? fd : undefined;
    };
    const opened = await this.ctx.observe([{ op: 'open', node: 'iommu' }, ...devices.map((d): Request => ({ op: 'open_device', device: d.handle as number }))]);
    const ctxFd = fdOf(opened[0]);
    const devFds = devices.map((_, i) => fdOf(opened[i + 1]));
    try {
      if (ctxFd === undefined) return;
      const binds = devices.flatMap((d, i): { d: typeof d; request: Request }[] => {
        const fd = devFds[i];
        return fd === undefined ? [] : [{ d, request: { op: 'ioctl', fd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { flags: 0, iommufd: ctxFd } } } }];
      });
      const rs = await this.ctx.observe(binds.map((b) => b.request));
      this.ctx.count('invariants.lifetime');
      // The context is new: its k-th device takes id k (OBJECTS.LOWEST_FREE_ID; a refused bind takes none).
      let nextId = 1;
      binds.forEach(({ d, request }, i) => {
        const r = rs[i];
        if (!r || out.length > 0) return;
        const s = statusOf(request, r);
        if (s.status === 'ok') {
          const devid = r.ok ? (r.result as IoctlResult).out?.['out_devid'] : undefined;
          if (devid !== undefined && toNum(devid) !== nextId) out.push(this.obj('lifetime', undefined, `after every file and VM was closed, a fresh context's VFIO_DEVICE_BIND_IOMMUFD of device ${d.handle} answered out_devid ${toNum(devid)}, but the context's lowest free id was ${nextId}: ids are the lowest free from 1 (OBJECTS.LOWEST_FREE_ID)`, String(nextId), String(toNum(devid)), { request, response: r }));
          nextId++;
          return;
        }
        if (s.status !== 'failed') return;
        const errno = errnoName(s.errno ?? 0) ?? `E${s.errno}`;
        out.push(this.obj('lifetime', undefined, `after every file and VM was closed, a fresh context's VFIO_DEVICE_BIND_IOMMUFD of device ${d.handle} (group ${d.group.slice(2)}, bound earlier in the case) failed with ${errno}: something the case closed still holds the device or its group's DMA ownership`, 'ok', errno, { request, response: r }));
      });
      devices.forEach((d, i) => {
        const r = opened[i + 1];
        if (devFds[i] !== undefined || out.length > 0 || !r?.ok) return;
        const errno = (r.result as { errno?: number }).errno ?? 0;
        const observed = errnoName(errno) ?? `E${errno}`;
        out.push(this.obj('lifetime', undefined, `after every file and VM was closed, opening device ${d.handle}'s file (bound earlier in the case) failed with ${observed}: something the case closed still holds it`, 'an fd', observed, { request: { op: 'open_device', device: d.handle as number }, response: r }));
      });
    } finally {
      await this.closeOwn([...devFds, ctxFd].filter((fd): fd is number => fd !== undefined), 'opened to bind the case\u2019s devices again', out);
    }
  }

  /**
   * Closing everything gives the user's locked_vm back too (PAGES.RELEASE).
   * Under user accounting, a /dev/iommu context's default, the charge is the
   * user's (incr_user_locked_vm), which no observation shows: only
   * RLIMIT_MEMLOCK's refusals do. So with a limit of L pages in force and
   * CAP_IPC_LOCK dropped, a new context whose IOAS a mock domain holds (an
   * area with no domain pins nothing) must pin exactly L pages, and be
   * refused one more: a charge the case left behind refuses the first, one
   * given back twice lets the second through. Not judged after fail_nth, nor
   * where the buffers could exhaust the implementation's memory first.
   */
  private async checkUserChargeGone(out: Objection[]): Promise<void> {
    const limit = this.shadow.rlimitPages;
    if (limit === null || limit < 1 || limit > USER_CHARGE_PROBE_PAGES || this.shadow.capIpcLock || this.failNth || this.shadow.lost || !this.can.userCharge) return;
    let bufferBytes = (limit + 1) * 4096;
    for (const b of this.shadow.buffers.values()) bufferBytes += b.length;
    if (bufferBytes > MEMLOCK_CHECKED_BUFFER_BYTES) return;
    const ioctl = (fd: number, cmd: string, fields: StructValue): Request => ({ op: 'ioctl', fd, cmd, arg: { kind: 'struct', fields } });
    const result = (r: Response | undefined): IoctlResult | undefined => (r?.ok ? (r.result as IoctlResult) : undefined);
    const [opened, buffer] = await this.ctx.observe([{ op: 'open', node: 'iommu' }, { op: 'mem_alloc', length: (limit + 1) * 4096 }]);
    const fd = opened?.ok ? (opened.result as { fd: number }).fd : -1;
    if (fd < 0) return;
    try {
      const va = buffer?.ok ? (buffer.result as { va: bigint }).va : undefined;
      const alloc = ioctl(fd, 'IOMMU_IOAS_ALLOC', {});
      const [allocated] = await this.ctx.observe([alloc]);
      const ioas = result(allocated)?.out?.['out_ioas_id'];
      if (ioas !== undefined && toNum(ioas) !== 1) {
        this.ctx.count('invariants.lifetime');
        out.push(this.obj('lifetime', undefined, `a fresh context's first IOMMU_IOAS_ALLOC answered out_ioas_id ${toNum(ioas)}: a new context's first object takes id 1 (OBJECTS.LOWEST_FREE_ID)`, '1', String(toNum(ioas)), { request: alloc, response: allocated as Response }));
        return;
      }
      if (va === undefined || ioas === undefined || result((await this.ctx.observe([ioctl(fd, 'IOMMU_TEST_CMD', { op: MOCK_DOMAIN_OP, id: ioas, mock_domain: {} })]))[0])?.ret !== 0) return;
      const flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
      const maps = [ioctl(fd, 'IOMMU_IOAS_MAP', { ioas_id: ioas, flags, user_va: va, length: BigInt(limit) * PAGE, iova: 0n }), ioctl(fd, 'IOMMU_IOAS_MAP', { ioas_id: ioas, flags, user_va: va + BigInt(limit) * PAGE, length: PAGE, iova: 0n })];
      const [all, more] = await this.ctx.observe(maps);
      const [a, m] = [result(all), result(more)];
      if (!a || !m) return;
      this.ctx.count('invariants.accounting');
      const probe = (i: number, response: Response | undefined): { request: Request; response?: Response } => ({ request: maps[i] as Request, ...(response && { response }) });
      if (a.ret !== 0 && errnoName(a.errno) === 'ENOMEM') {
        out.push(this.obj('accounting', undefined, `after every file and VM was closed, a new context pinning ${limit} page(s) — RLIMIT_MEMLOCK, without CAP_IPC_LOCK — was refused with ENOMEM: the user's locked_vm still holds pages the case charged and gave back`, 'ok (the user’s charge is 0)', 'ENOMEM', probe(0, all)));
      } else if (a.ret === 0 && m.ret === 0) {
        out.push(this.obj('accounting', undefined, `after every file and VM was closed, a new context pinned ${limit + 1} page(s) under an RLIMIT_MEMLOCK of ${limit}, without CAP_IPC_LOCK: the user's locked_vm is below what is pinned (a charge given back twice, or never taken)`, 'ENOMEM', 'ok', probe(1, more)));
      }
    } finally {
      const [info] = await this.closeOwn([fd], 'a context opened to pin up to RLIMIT_MEMLOCK', out, this.can.proc ? [{ op: 'process_info' }] : []);
      const p = info?.ok ? (info.result as { pinnedVmPages: number; lockedVmPages: number }) : undefined;
      if (out.length === 0 && p && this.baseline && (p.pinnedVmPages !== this.baseline.pinned || p.lockedVmPages !== this.baseline.locked)) {
        out.push(this.obj('accounting', undefined, `a context that pinned pages under RLIMIT_MEMLOCK was closed, and pinned_vm/locked_vm are ${p.pinnedVmPages}/${p.lockedVmPages} pages, not the ${this.baseline.pinned}/${this.baseline.locked} the session started with`, `${this.baseline.pinned}/${this.baseline.locked}`, `${p.pinnedVmPages}/${p.lockedVmPages}`, { request: { op: 'process_info' }, response: info as Response }));
      }
    }
  }

  async close(): Promise<void> {}
}
