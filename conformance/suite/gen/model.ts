/**
 * The generator's model: pools of the names earlier steps bound, with just
 * enough of what the implementation answered to aim later commands well
 * (which context an object lives in, where an area was mapped, which device
 * file is bound). fast-check generates every command before any runs, so a
 * command carries indices into these pools and picks its operands at run
 * time (`pick(list, k)` = list[k mod length]): the fast-check docs' and
 * syzkaller's resources pattern, with DESTROY and close moving a name to the
 * stale pools instead of forgetting it (stale handles are interesting inputs).
 */
import type { Capabilities, IommuInstanceInfo } from '../../../spec/contract/types.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import type { Tmpl } from '../step.ts';

export interface CtxEntry {
  readonly name: string;
  readonly vfio: boolean;
  open: boolean;
  /** The IOAS name set as the VFIO compat IOAS (IOMMU_VFIO_IOAS SET). */
  compat?: string;
  compatType?: number;
}

export type ObjKind = 'ioas' | 'hwpt' | 'devid' | 'stdev';

export interface ObjEntry {
  readonly name: string;
  readonly kind: ObjKind;
  readonly ctx: string;
  alive: boolean;
  /** hwpt: its IOAS name when known; stdev: its device id name. */
  readonly ioas?: string;
  readonly nestParent?: boolean;
  readonly auto?: boolean;
  /** hwpt: allocated (IOMMU_HWPT_ALLOC) for a selftest mock device: a mock domain another mock device can join. */
  readonly mock?: boolean;
  /** hwpt: a 7.3 mock's MOCK_IOMMUPT_HUGE table (IOMMU_HWPT_DATA_SELFTEST): its smallest page is 4 KiB, not 2 KiB. */
  readonly mockHuge?: boolean;
  /** hwpt: allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING. */
  readonly dirty?: boolean;
  /** ioas: the ranges IOMMU_IOAS_ALLOW_IOVAS last set (automatic IOVAs come only from them). */
  allowed?: readonly { readonly start: bigint; readonly last: bigint }[];
  /** ioas: the ranges IOMMU_TEST_OP_ADD_RESERVED reserved in it. */
  reserved?: readonly { readonly start: bigint; readonly last: bigint }[];
  /** ioas: made for two mock domains of their own (the mockPair constructor), and nothing else; the buffer made for it. */
  mockPair?: string;
}

export interface BufEntry {
  readonly name: string;
  readonly length: number;
  readonly readonly: boolean;
  /** Allocated huge-aligned (physically contiguous: maps with large leaves). */
  readonly huge?: boolean;
}

export interface DevEntry {
  readonly name: string;
  readonly iommu: IommuInstanceInfo;
  /** Name bound to its group handle. */
  readonly group: string;
  /** Whether it was created able to enforce cache coherency (the spec's value, else its unit's). */
  readonly ecc?: boolean;
  /** Created with a reserved region of its own (DEVICE_RESV_IOVA, DEVICE_RESV_PAGES pages). */
  readonly resv?: boolean;
  /** The IOVA of the page of a reserved region that is its own alone (every such device after the first has one). */
  readonly ownResv?: bigint;
  alive: boolean;
}

export interface DfdEntry {
  readonly name: string;
  readonly dev: DevEntry;
  open: boolean;
  ctx?: string;
  devid?: string;
  attached?: string;
  /** The HWPT it last left (detach, replace) and the areas its IOAS had then; cleared by an attach from no HWPT. */
  left?: { readonly hwpt: string; readonly areas: readonly string[] };
}

export interface AccEntry {
  readonly name: string;
  readonly ctx: string;
  ioas: string;
  open: boolean;
  /** Created with MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES: only such an access may pin (iommufd_access_pin_pages). */
  readonly pin: boolean;
}

export interface ItemEntry {
  readonly name: string;
  readonly acc: string;
  alive: boolean;
  /** What it pins, when the pin was of an area the model knows (a second pin of the same pages repeats it). */
  readonly pin?: { readonly area: string; readonly iova: Tmpl; readonly length: bigint; readonly uptr: Tmpl; readonly flags: number };
}

export interface AreaEntry {
  readonly name: string;
  readonly ctx: string;
  readonly ioas: string;
  /** The IOVA the implementation placed it at (its out.iova / out.dst_iova). */
  readonly iova: bigint;
  readonly length: bigint;
  readonly buf?: string;
  readonly bufOff: number;
  readonly read: boolean;
  readonly write: boolean;
  alive: boolean;
}

export interface VmEntry {
  readonly name: string;
  alive: boolean;
  /** Device files registered with its kvm-vfio device (KVM_DEV_VFIO_FILE_ADD), by name. */
  readonly files: string[];
}

/**
 * How a case's process, contexts and first device start: a case-level choice (the
 * environment dimension syzkaller varies per program), shrinking to the
 * default, the contract's fresh process (CAP_IPC_LOCK held: nothing is
 * charged). Accounting faults need an unprivileged process, often MM
 * accounting, and pins, all in one case; as independent commands they
 * rarely meet, so the setting is applied before the first context and to
 * each new context before anything is created in it.
 */
export interface CaseSetting {
  /** Drop CAP_IPC_LOCK before the first context opens: pins are charged to locked_vm (USER or MM accounting). */
  readonly unprivileged: boolean;
  /** RLIMIT_MEMLOCK in bytes for the unprivileged process (undefined: unlimited, as set_process leaves it). */
  readonly rlimit?: bigint;
  /** Every new context goes to MM accounting (IOMMU_OPTION_RLIMIT_MODE 1, mm->locked_vm) while it is still empty. */
  readonly mmAccounting: boolean;
  /** The IOMMU unit (an index into the capability report's iommus) of the first device a constructor makes. */
  readonly unit: number;
}

export const DEFAULT_SETTING: CaseSetting = { unprivileged: false, mmAccounting: false, unit: 0 };

export class GenModel {
  private n = 0;
  readonly ctxs: CtxEntry[] = [];
  readonly objs: ObjEntry[] = [];
  readonly bufs: BufEntry[] = [];
  readonly devs: DevEntry[] = [];
  readonly dfds: DfdEntry[] = [];
  readonly accs: AccEntry[] = [];
  readonly items: ItemEntry[] = [];
  readonly areas: AreaEntry[] = [];
  readonly vms: VmEntry[] = [];
  /**
   * The environment ops the implementation refused in this case (an
   * open_device answering ENODEV, a device_create it does not support):
   * what they make may be missing after its constructor ran.
   */
  readonly refused = new Set<string>();
  /**
   * Groups whose members differ in what they can attach to (the mixedGroup
   * constructor): device files `a` and `b` of one group on HWPT `shared`, and
   * a HWPT `refused` of another IOAS that `a` could take but `b` cannot.
   */
  readonly mixed: { readonly a: string; readonly b: string; readonly shared: string; readonly refused: string }[] = [];
  /** Literal fds never handed out (EBADF on both sides). */
  readonly badFd = 1021;
  /**
   * The area a device last DMA'd through successfully: its translation sits
   * in that device's IOTLB, so unmapping it is the unmap that shows whether
   * invalidation reaches every unit the domain is on.
   */
  used: string | undefined;

  constructor(
    readonly profile: Profile,
    readonly caps: Capabilities,
    /** Swarm: the command kinds this case enables (undefined: all). */
    readonly enabled: ReadonlySet<string> | undefined,
    readonly setting: CaseSetting = DEFAULT_SETTING,
  ) {}

  /** What of the setting has been applied: the process, and the contexts put in MM accounting. */
  readonly settled = { process: false, ctxs: new Set<string>() };
  /** Whether the process holds CAP_IPC_LOCK now (the contract's default: it does; set_process changes it). */
  capIpcLock = true;

  fresh(prefix: string): string {
    this.n += 1;
    return `${prefix}${this.n}`;
  }

  on(kind: string): boolean {
    return this.enabled === undefined || this.enabled.has(kind);
  }

  openCtxs(): CtxEntry[] {
    return this.ctxs.filter((c) => c.open);
  }

  live(kind: ObjKind, ctx?: string): ObjEntry[] {
    return this.objs.filter((o) => o.kind === kind && o.alive && (ctx === undefined || o.ctx === ctx));
  }

  stale(): ObjEntry[] {
    return this.objs.filter((o) => !o.alive);
  }

  liveAreas(ctx?: string, ioas?: string): AreaEntry[] {
    return this.areas.filter((a) => a.alive && (ctx === undefined || a.ctx === ctx) && (ioas === undefined || a.ioas === ioas));
  }

  openDfds(): DfdEntry[] {
    return this.dfds.filter((d) => d.open);
  }

  /** Everything in a context goes when the context is released: its entries become stale. */
  dropCtx(ctx: string): void {
    for (const o of this.objs) if (o.ctx === ctx) o.alive = false;
    for (const a of this.areas) if (a.ctx === ctx) a.alive = false;
  }
}

/** list[k mod length], or undefined for an empty list. */
export function pick<T>(list: readonly T[], k: number): T | undefined {
  return list.length === 0 ? undefined : list[Math.abs(Math.trunc(k)) % list.length];
}
