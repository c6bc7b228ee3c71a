/**
 * Single lies: how strong the invariants are against a fault nobody wrote.
 *
 * The catalogues (catalogue.ts, answer-faults.ts, unseen/) are faults someone
 * thought of. A lie here is drawn instead: the reference answers honestly
 * except for one answer per case, picked at random among the answers of one
 * kind (a translation, a DMA, a pin count, locked memory, KVM's WBINVD state,
 * an ioctl's errno, out field or copied-out array, a close, a device file's
 * open, a KVM file registration, a read of user memory), which comes
 * back changed in a way that contradicts what the implementation did.
 * Nothing else changes, so the lie is the whole fault and the only thing
 * that can expose it is an oracle that compares the answer with what it
 * knows.
 *
 * `runLies` (lies-run.ts) runs cases with the invariants alone and counts,
 * per kind, the cases where the lie was told and the ones that failed: the
 * detection rate. A case that fails without a lie told is a false alarm (the reference
 * is honest then). A lie is told to whoever asks — a case's own step or one
 * of the oracle's probes — since both are answers a user acts on.
 *
 * Kinds the invariants are held to (`held`) are the contradictions they can
 * see from what a step did: a lie about memory, translations, pins, WBINVD,
 * ids, placement or a file. The others are measured and not held, with the
 * reason (which errno among failures is the differential oracle's to judge).
 */
import type { DmaResult, Implementation, IoctlResult, KvmState, Profile, Response, SingleRequest, TranslateResult } from '../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../impl/adapter/adapter.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

const PAGE = 4096;
const toNum = (v: unknown): number => Number((v as number | bigint | undefined) ?? 0);

/** What a lie sees of the case so far (the last mapped translation, to invent one like it). */
interface Memory {
  lastMapped?: TranslateResult;
}

export interface Lie {
  readonly name: string;
  /** The kind of answer it changes. */
  readonly answer: SingleRequest['op'];
  /** The change, in one sentence. */
  readonly change: string;
  /** Held to detection by the invariants alone, or measured only and why. */
  readonly held: true | { readonly why: string };
  /** The lie told instead of `res`, or undefined where this answer is not one it changes. */
  tell(req: SingleRequest, res: Response, memory: Memory): Response | undefined;
}

const answer = (result: unknown): Response => ({ ok: true, result }) as Response;
const resultOf = <T>(res: Response): T | undefined => (res.ok ? (res.result as T) : undefined);
const succeeded = (res: Response): IoctlResult | undefined => {
  const r = resultOf<IoctlResult>(res);
  return r && r.errno === 0 && r.ret >= 0 ? r : undefined;
};
/** Out fields the kernel writes an IOVA into (an automatic placement). */
const IOVA_OUTS = ['iova', 'dst_iova'];
/** Out fields that report a value (the bytes unmapped, a count, an alignment, an option, capabilities), in the order a lie picks them. */
const REPORTED = ['length', 'num_iovas', 'out_iova_alignment', 'val64', 'out_capabilities'];

export const LIES: readonly Lie[] = [
  {
    name: 'translate-says-unmapped',
    answer: 'translate',
    change: 'a translation of a mapped page answers not mapped',
    held: true,
    tell: (req, res) => (req.op === 'translate' && resultOf<TranslateResult>(res)?.mapped ? answer({ mapped: false }) : undefined),
  },
  {
    name: 'translate-invents-a-mapping',
    answer: 'translate',
    change: 'a translation of an unmapped page answers the page after the last one a translation found mapped',
    held: true,
    tell: (req, res, m) => (req.op === 'translate' && resultOf<TranslateResult>(res)?.mapped === false && m.lastMapped ? answer({ ...m.lastMapped, offset: (m.lastMapped.offset ?? 0) + PAGE }) : undefined),
  },
  {
    name: 'translate-flips-write',
    answer: 'translate',
    change: 'a translation of a mapped page answers the opposite write permission',
    held: true,
    tell: (req, res) => {
      const t = req.op === 'translate' ? resultOf<TranslateResult>(res) : undefined;
      return t?.mapped ? answer({ ...t, write: !t.write }) : undefined;
    },
  },
  {
    name: 'translate-neighbour-page',
    answer: 'translate',
    change: 'a translation of a mapped page answers the neighbouring page of the same buffer',
    held: true,
    tell: (req, res) => {
      const t = req.op === 'translate' ? resultOf<TranslateResult>(res) : undefined;
      return t?.mapped ? answer({ ...t, offset: (t.offset ?? 0) ^ PAGE }) : undefined;
    },
  },
  {
    name: 'dma-read-wrong-byte',
    answer: 'dma',
    change: 'a DMA read that succeeded answers one byte changed',
    held: true,
    tell: (req, res) => {
      const d = req.op === 'dma' && req.dir === 'read' ? resultOf<DmaResult>(res) : undefined;
      if (!d?.ok || !d.data?.length) return undefined;
      const data = d.data.slice();
      data[data.length - 1] = (data[data.length - 1] as number) ^ 0x5a;
      return answer({ ...d, data });
    },
  },
  {
    name: 'dma-faults-where-mapped',
    answer: 'dma',
    change: 'a DMA that succeeded answers a translation fault',
    held: true,
    tell: (req, res) => (req.op === 'dma' && resultOf<DmaResult>(res)?.ok ? answer({ ok: false, fault: 'unmapped' }) : undefined),
  },
  {
    name: 'dma-reads-where-unmapped',
    answer: 'dma',
    change: 'a DMA read that faulted answers success with zeros',
    held: true,
    tell: (req, res) => (req.op === 'dma' && req.dir === 'read' && resultOf<DmaResult>(res)?.ok === false ? answer({ ok: true, data: new Uint8Array(req.length ?? 8), touched: [] }) : undefined),
  },
  {
    name: 'pin-count-off-by-one',
    answer: 'pin_count',
    change: 'one page of a pin count answers one pin more or one fewer',
    held: true,
    tell: (req, res) => {
      const pins = req.op === 'pin_count' ? resultOf<{ pins: number[] }>(res)?.pins : undefined;
      if (!pins?.length) return undefined;
      const out = pins.slice();
      const i = out.length >> 1;
      out[i] = (out[i] as number) > 0 ? (out[i] as number) - 1 : 1;
      return answer({ pins: out });
    },
  },
  {
    name: 'locked-vm-off-by-one',
    answer: 'process_info',
    change: "the process's locked_vm answers one page more",
    held: true,
    tell: (req, res) => {
      const p = req.op === 'process_info' ? resultOf<{ lockedVmPages: number; pinnedVmPages: number }>(res) : undefined;
      return p ? answer({ ...p, lockedVmPages: p.lockedVmPages + 1 }) : undefined;
    },
  },
  {
    name: 'pinned-vm-off-by-one',
    answer: 'process_info',
    change: "the process's pinned_vm answers one page more",
    held: true,
    tell: (req, res) => {
      const p = req.op === 'process_info' ? resultOf<{ lockedVmPages: number; pinnedVmPages: number }>(res) : undefined;
      return p ? answer({ ...p, pinnedVmPages: p.pinnedVmPages + 1 }) : undefined;
    },
  },
  {
    name: 'kvm-wbinvd-flipped',
    answer: 'kvm_state',
    change: "a VM's WBINVD state (non-coherent DMA) answers the opposite",
    held: true,
    tell: (req, res) => {
      const k = req.op === 'kvm_state' ? resultOf<KvmState>(res) : undefined;
      return k ? answer({ ...k, noncoherentDma: !k.noncoherentDma }) : undefined;
    },
  },
  {
    name: 'new-id-off-by-one',
    answer: 'ioctl',
    change: 'an ioctl that created an object answers the id after the one it created',
    held: true,
    tell: (req, res) => {
      const r = req.op === 'ioctl' ? succeeded(res) : undefined;
      const key = r?.out && Object.keys(r.out).find((k) => /^out_.*id$/.test(k) && typeof r.out?.[k] === 'number');
      return r?.out && key ? answer({ ...r, out: { ...r.out, [key]: (r.out[key] as number) + 1 } }) : undefined;
    },
  },
  {
    name: 'automatic-iova-a-page-off',
    answer: 'ioctl',
    change: 'a MAP or COPY that chose its IOVA answers one page higher than where it mapped',
    held: true,
    tell: (req, res) => {
      const r = req.op === 'ioctl' && req.arg.kind === 'struct' ? succeeded(res) : undefined;
      const fields = req.op === 'ioctl' && req.arg.kind === 'struct' ? req.arg.fields : {};
      const key = r?.out && IOVA_OUTS.find((k) => typeof r.out?.[k] === 'bigint' && fields[k] !== r.out[k]);
      return r?.out && key ? answer({ ...r, out: { ...r.out, [key]: (r.out[key] as bigint) + BigInt(PAGE) } }) : undefined;
    },
  },
  {
    name: 'close-answers-ebadf',
    answer: 'close',
    change: 'a close that closed the file answers EBADF',
    held: true,
    tell: (req, res) => (req.op === 'close' && resultOf<{ ret: number }>(res)?.ret === 0 ? answer({ ret: -1, errno: ERRNO.EBADF }) : undefined),
  },
  {
    name: 'out-value-changed',
    answer: 'ioctl',
    change: 'an ioctl that succeeded answers one value it reports changed: the bytes an unmap removed, the count of IOVA ranges, the IOAS alignment, an option\u2019s value or the capabilities a device reports',
    held: true,
    tell: (req, res) => {
      const r = req.op === 'ioctl' ? succeeded(res) : undefined;
      const key = r?.out && REPORTED.find((k) => typeof r.out?.[k] === 'bigint' || typeof r.out?.[k] === 'number');
      if (!r?.out || !key) return undefined;
      const v = r.out[key] as bigint | number;
      const changed = typeof v === 'bigint' ? (key === 'length' ? v + BigInt(PAGE) : v === 0n ? 1n : v * 2n) : v + 1;
      return answer({ ...r, out: { ...r.out, [key]: changed } });
    },
  },
  {
    name: 'mem-read-wrong-byte',
    answer: 'mem_read',
    change: 'a read of user memory answers one byte changed',
    held: true,
    tell: (req, res) => {
      const m = req.op === 'mem_read' ? resultOf<{ data: Uint8Array }>(res) : undefined;
      if (!m?.data?.length) return undefined;
      const data = m.data.slice();
      data[0] = (data[0] as number) ^ 0x5a;
      return answer({ data });
    },
  },
  {
    name: 'success-answers-einval',
    answer: 'ioctl',
    change: 'an ioctl that succeeded (and did what it does) answers EINVAL',
    held: { why: 'a refusal that changed nothing visible (an IOMMU_OPTION get, a bind of a device already bound elsewhere) contradicts no invariant: the differential and lifecycle oracles judge whether it may fail' },
    tell: (req, res) => {
      const r = req.op === 'ioctl' ? succeeded(res) : undefined;
      return r && r.ret === 0 ? answer({ ...r, ret: -1, errno: ERRNO.EINVAL }) : undefined;
    },
  },
  {
    name: 'failure-answers-success',
    answer: 'ioctl',
    change: 'an ioctl that failed (and did nothing) answers success',
    held: true,
    tell: (req, res) => {
      const r = req.op === 'ioctl' ? resultOf<IoctlResult>(res) : undefined;
      return r && r.errno !== 0 ? answer({ ...r, ret: 0, errno: 0 }) : undefined;
    },
  },
  {
    name: 'errno-swapped',
    answer: 'ioctl',
    change: 'an ioctl that failed answers ENOENT for EINVAL and EINVAL for any other errno',
    held: { why: 'which errno a refusal carries is decided by the check order, which the differential oracle judges; the invariants judge an errno only where a rule decides it (ENOENT for a destroyed id, EBUSY, E2BIG, EBADF)' },
    tell: (req, res) => {
      const r = req.op === 'ioctl' ? resultOf<IoctlResult>(res) : undefined;
      return r && r.errno !== 0 ? answer({ ...r, errno: r.errno === ERRNO.EINVAL ? ERRNO.ENOENT : ERRNO.EINVAL }) : undefined;
    },
  },
  {
    name: 'destroy-answers-ebusy',
    answer: 'ioctl',
    change: 'an IOMMU_DESTROY that destroyed its object answers EBUSY',
    held: true,
    tell: (req, res) => (req.op === 'ioctl' && req.cmd === 'IOMMU_DESTROY' && succeeded(res) ? answer({ ...(resultOf<IoctlResult>(res) as IoctlResult), ret: -1, errno: ERRNO.EBUSY }) : undefined),
  },
  {
    name: 'unmap-answers-enoent',
    answer: 'ioctl',
    change: 'an IOMMU_IOAS_UNMAP or VFIO_IOMMU_UNMAP_DMA that unmapped something answers ENOENT',
    held: true,
    tell: (req, res) => {
      const r = req.op === 'ioctl' && (req.cmd === 'IOMMU_IOAS_UNMAP' || req.cmd === 'VFIO_IOMMU_UNMAP_DMA') ? succeeded(res) : undefined;
      const removed = r?.out?.['length'] ?? r?.out?.['size'];
      return r && removed !== undefined && BigInt(removed as bigint) > 0n ? answer({ ...r, ret: -1, errno: ERRNO.ENOENT }) : undefined;
    },
  },
  {
    name: 'iova-ranges-entry-narrowed',
    answer: 'ioctl',
    change: 'an IOMMU_IOAS_IOVA_RANGES that succeeded answers its first range a page shorter at the start',
    held: true,
    tell: (req, res) => {
      const r = req.op === 'ioctl' && req.cmd === 'IOMMU_IOAS_IOVA_RANGES' ? succeeded(res) : undefined;
      const key = r?.buffers && Object.keys(r.buffers).find((k) => k.startsWith('allowed_iovas'));
      const bytes = key ? r?.buffers?.[key] : undefined;
      if (!r || !key || !bytes || bytes.length < 16 || toNum(r.out?.['num_iovas']) === 0) return undefined;
      const copy = bytes.slice();
      const view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
      view.setBigUint64(0, view.getBigUint64(0, true) + BigInt(PAGE), true);
      return answer({ ...r, buffers: { ...r.buffers, [key]: copy } });
    },
  },
  {
    name: 'open-device-answers-failure',
    answer: 'open_device',
    change: "a device file's open that succeeded answers ENODEV (the file stays open)",
    held: true,
    tell: (req, res) => (req.op === 'open_device' && (resultOf<{ fd: number }>(res)?.fd ?? -1) >= 0 ? answer({ fd: -1, errno: ERRNO.ENODEV }) : undefined),
  },
  {
    name: 'kvm-add-answers-failure',
    answer: 'kvm_vfio_add',
    change: 'a KVM_DEV_VFIO_FILE_ADD that registered the file answers EBADF',
    held: true,
    tell: (req, res) => (req.op === 'kvm_vfio_add' && resultOf<{ ret: number }>(res)?.ret === 0 ? answer({ ret: -1, errno: ERRNO.EBADF }) : undefined),
  },
];

export function selectLies(only: readonly string[] | undefined): Lie[] {
  if (!only) return [...LIES];
  const unknown = only.filter((n) => !LIES.some((l) => l.name === n));
  if (unknown.length > 0) throw new Error(`unknown lie ${unknown.join(', ')} (known: ${LIES.map((l) => l.name).join(', ')})`);
  return LIES.filter((l) => only.includes(l.name));
}

/** The reference, lying once per case (between `reset`s) in the `skip`-th answer `lie` changes. */
export interface LyingImplementation extends Implementation {
  /** The lie told since the last reset: the request and the answer given instead of the true one. */
  told(): { readonly request: SingleRequest; readonly response: Response } | undefined;
  /** How many eligible answers to let through before lying, from the next reset on. */
  skipNext(n: number): void;
}

export function lyingImplementation(lie: Lie, profile: Profile): LyingImplementation {
  const ref = createReferenceAdapter(profile);
  const memory: Memory = {};
  let skip = 0;
  let nextSkip = 0;
  let told: { request: SingleRequest; response: Response } | undefined;
  return {
    name: `lie:${lie.name}`,
    version: ref.version,
    profile,
    told: () => told,
    skipNext: (n) => void (nextSkip = n),
    handle: (req) => {
      if (req.op === 'reset') {
        told = undefined;
        skip = nextSkip;
        delete memory.lastMapped;
      }
      // The reference answers synchronously (createReferenceAdapter's handle never returns a promise).
      const res = ref.handle(req) as Response;
      const lied = told ? undefined : lie.tell(req, res, memory);
      if (req.op === 'translate' && resultOf<TranslateResult>(res)?.mapped) memory.lastMapped = res.ok ? (res.result as TranslateResult) : undefined;
      if (!lied || skip-- > 0) return res;
      told = { request: req, response: lied };
      return lied;
    },
    close: () => ref.close?.(),
  };
}
