/**
 * Shared by the faults that change one step of IOMMU_TEST_OP_ACCESS_PAGES: a
 * copy of iommufd_test_access_pages (selftest.c) → iommufd_access_pin_pages
 * (device.c) whose iopt_area_add_access, area permission test, unpin and
 * check-failure label are parameters, and of iommufd_access_get; and the
 * hooks that send every unpin of the selftest's access through a fault's
 * own iommufd_access_unpin_pages (accessUnpinHooks).
 * With the reference's own it answers exactly as the reference does.
 */
import { EBADE, EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptAreaContig, ioptAreaIovaToIndex, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import { iommufdUcmdRespond, PAGE_SIZE, ULONG_MAX, type IoptArea, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessDestroy, iommufdAccessUnpinPages, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import type { KFile } from '../../../impl/process/file.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { patchOwn, type MutantHooks } from '../harness.ts';

const SZ_16M = 16n * 1024n * 1024n;
const P = BigInt(PAGE_SIZE);

/** check_area_prot (device.c), the reference's. */
export function checkAreaProt(area: IoptArea, write: boolean): boolean {
  return (area.iommuProt & (write ? IOMMU_WRITE : IOMMU_READ)) !== 0;
}

/** iopt_area_contig_is_aligned, the reference's: a piece starts, and but the last ends, on a page boundary of its pages. */
export function contigIsAligned(area: IoptArea, cur: bigint, isLastPiece: boolean): boolean {
  if (ioptAreaStartByte(area, cur) % P) return false;
  if (!isLastPiece && ioptAreaStartByte(area, area.last) % P !== P - 1n) return false;
  return true;
}

export interface AccessPinSteps {
  /** iopt_area_add_access: pin [start, last] of the area's pages for the access. */
  readonly addAccess?: (area: IoptArea, start: number, last: number, write: boolean) => Result<number[]>;
  /** check_area_prot: whether the area allows the access's direction (EPERM if not). */
  readonly checkProt?: (area: IoptArea, write: boolean) => boolean;
  /** iopt_area_remove_access, for the err_remove unwind. */
  readonly removeAccess?: AreaRemoveAccess;
  /** iopt_area_contig_is_aligned: whether the piece from `cur` may be pinned (EINVAL if not). */
  readonly isAligned?: (area: IoptArea, cur: bigint, isLastPiece: boolean) => boolean;
  /** iopt_for_each_contig_area: the areas' pieces of [iova, last], and whether they reached last. */
  readonly contig?: typeof ioptAreaContig;
}

/** iopt_area_remove_access: drop the access's pin of [start, last] of the area's pages. */
export type AreaRemoveAccess = (access: IommufdAccess, area: IoptArea, start: number, last: number) => void;

/** The reference's iopt_area_remove_access. */
const areaRemoveAccess: AreaRemoveAccess = (_access, area, start, last) => ioptAreaRemoveAccess(area, start, last);

export type AccessPinPages = (access: IommufdAccess, iova: bigint, length: bigint, write: boolean) => Result<number[]>;

/** iommufd_access_pin_pages with the given steps (the reference's where none is given). */
export function accessPinPagesWith({ addAccess = ioptAreaAddAccess, checkProt = checkAreaProt, removeAccess = areaRemoveAccess, isAligned = contigIsAligned, contig = ioptAreaContig }: AccessPinSteps): AccessPinPages {
  return (access, iova, length, write) => {
    if (!access.ops.needsPinPages) return err(-EINVAL);
    if (!length) return err(-EINVAL);
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return err(-EOVERFLOW);
    const ioas = access.ioas;
    if (!ioas) return err(-ENOENT);
    const { pieces, done } = contig(ioas.iopt, iova, last);
    const out: number[] = [];
    const unwind = new Unwind();
    for (const { area, cur } of pieces) {
      const pieceLast = last < area.last ? last : area.last;
      if (area.preventAccess || !isAligned(area, cur, pieceLast === last)) return unwind.exit(err(-EINVAL));
      if (!checkProt(area, write)) return unwind.exit(err(-EPERM));
      const first = ioptAreaIovaToIndex(area, cur);
      const lastIndex = ioptAreaIovaToIndex(area, pieceLast);
      const r = addAccess(area, first, lastIndex, write);
      if (r.errno) return unwind.exit(err(r.errno));
      unwind.onError('err_remove', () => removeAccess(access, area, first, lastIndex));
      out.push(...r.value!);
    }
    if (!done) return unwind.exit(err(-ENOENT));
    return unwind.exit(ok(out));
  };
}

/** iommufd_access_get: the selftest access behind fd `fd` (with a file reference the caller puts), or EBADFD. */
export function accessGet(ucmd: Ucmd, fd: number): { errno: number; staccess?: SelftestAccess; file?: KFile } {
  const file = ucmd.ctx.proc.fds.fget(fd);
  if (!file) return { errno: -EBADFD };
  if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) {
    file.put();
    return { errno: -EBADFD };
  }
  return { errno: 0, staccess: file.private_data, file };
}

/** iommufd_test_check_pages: the pinned frames are the ones behind uptr. */
function checkPages(ucmd: Ucmd, uptr: bigint, pfns: readonly number[]): number {
  for (let i = 0; i < pfns.length; i++) {
    const t = ucmd.ctx.proc.translateVa(uptr + BigInt(i) * P);
    if (!t || !t.prot.read) return -EFAULT;
    if (t.pfn !== pfns[i]) return -EBADE;
  }
  return 0;
}

export interface AccessPagesSteps {
  readonly pinPages?: AccessPinPages;
  /** iommufd_access_unpin_pages, for the out_unaccess unwind. */
  readonly unpinPages?: (access: IommufdAccess, iova: bigint, length: bigint) => void;
  /** Whether a failed iommufd_test_check_pages unwinds through out_unaccess (the kernel's label) or skips it. */
  readonly checkFailUnpins?: boolean;
  /** The IOVA the item records: the one pinned (decoded from syzkaller's form; the kernel's) or the one the user wrote. */
  readonly itemIova?: 'pinned' | 'user';
  /** Whether a failed copy-back unwinds through out_free_id (the item taken off the list; the kernel's label) or jumps past it to out_unaccess. */
  readonly copyFaultFreesItem?: boolean;
  /** iommufd_test_syz_conv_iova: syzkaller's (nth area, offset) IOVA decoded in the access's IOAS. */
  readonly syzConv?: (access: IommufdAccess, iova: bigint) => bigint;
  /** Whether iommufd_test_check_pages runs: the kernel's `if (uptr)`. */
  readonly checksPages?: (flags: number, uptr: bigint) => boolean;
}

/** iommufd_test_access_pages with the given steps (the reference's where none is given). */
export function accessPagesHandler({ pinPages = accessPinPagesWith({}), unpinPages = iommufdAccessUnpinPages, checkFailUnpins = true, itemIova = 'pinned', copyFaultFreesItem = true, syzConv = syzConvIova, checksPages = (_flags, uptr) => uptr !== 0n }: AccessPagesSteps): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    const userIova = cmd.big('access_pages.iova');
    let iova = userIova;
    const length = cmd.big('access_pages.length');
    const uptr = cmd.big('access_pages.uptr');
    const flags = cmd.num('access_pages.flags');
    if (length > SZ_16M) return -ENOMEM;
    if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
    const g = accessGet(ucmd, cmd.num('id'));
    if (g.errno) return g.errno;
    const staccess = g.staccess!;
    const access = staccess.access!;
    const unwind = new Unwind();
    unwind.always('out_put', () => g.file!.put());
    if (!staccess.needsPin) return unwind.exit(-EOPNOTSUPP);
    if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConv(access, iova);
    if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kvcalloc(pages)
    const pinned = pinPages(access, iova, length, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
    if (pinned.errno) return unwind.exit(pinned.errno);
    const unaccess = (): void => unpinPages(access, iova, length);
    if (checkFailUnpins) unwind.onError('out_unaccess', unaccess);
    if (checksPages(flags, uptr)) {
      const rc = checkPages(ucmd, uptr - (iova % P), pinned.value!);
      if (rc) return unwind.exit(rc);
    }
    if (!checkFailUnpins) unwind.onError('out_unaccess', unaccess);
    if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(item)
    const item = { iova: itemIova === 'pinned' ? iova : userIova, length, id: staccess.nextId++ };
    staccess.items.push(item);
    if (copyFaultFreesItem) unwind.onError('out_free_id', () => staccess.items.splice(staccess.items.indexOf(item), 1));
    cmd.set('access_pages.out_access_pages_id', item.id);
    return unwind.exit(iommufdUcmdRespond(ucmd));
  };
}

type UnpinPages = (access: IommufdAccess, iova: bigint, length: bigint) => void;

/** iopt_area_remove_access as the kernel writes it: WARN_ON(!access) skips a range nobody pinned. */
export function areaRemoveAccessWarn(access: IommufdAccess, area: IoptArea, start: number, last: number): void {
  const pages = area.pages!;
  if (!pages.accesses.some((a) => a.start === start && a.last === last)) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access) for [${start}, ${last}]`);
    return;
  }
  ioptAreaRemoveAccess(area, start, last);
}

/**
 * iommufd_access_unpin_pages as the kernel writes it, its WARNs recorded (the
 * reference's asserts instead), over the given iopt_area_remove_access.
 */
export function accessUnpinPagesWith(removeAccess: AreaRemoveAccess): UnpinPages {
  return (access, iova, length) => {
    if (!length) return;
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return;
    const ioas = access.ioasUnpin;
    if (!ioas) {
      access.ctx.warnings.push('iommufd_access_unpin_pages: WARN_ON(!access->ioas_unpin)');
      return;
    }
    const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
    for (const { area, cur } of pieces) {
      const pieceLast = last < area.last ? last : area.last;
      removeAccess(access, area, ioptAreaIovaToIndex(area, cur), ioptAreaIovaToIndex(area, pieceLast));
    }
    if (!done) access.ctx.warnings.push('iommufd_access_unpin_pages: WARN_ON(!iopt_area_contig_done(&iter))');
  };
}

/**
 * Every way the selftest's access gives its pages back goes through
 * `unpinPages` (and ACCESS_PAGES pins through `pinPages`, when given) instead
 * of the reference's iommufd_access_unpin_pages: IOMMU_TEST_OP_ACCESS_PAGES
 * (its out_unaccess unwind), IOMMU_TEST_OP_DESTROY_ACCESS_PAGES
 * (iommufd_test_access_item_destroy), the access's unmap notification
 * (iommufd_test_access_unmap: every item the range meets) and its file's
 * release (iommufd_test_staccess_release: every item, then
 * iommufd_access_destroy). The hooks, for mutantImplementation; call once per
 * adapter (they remember each access's selftest access).
 */
export function accessUnpinHooks({
  pinPages,
  unpinPages,
  unmapUnpins = (item) => [item.iova, item.length],
  unmapDrops = (meeting) => meeting,
  itemDestroyUnpins = true,
}: {
  readonly pinPages?: AccessPinPages;
  readonly unpinPages: UnpinPages;
  /** The range iommufd_test_access_unmap unpins for an item the notified [iova, iova + length) meets (the kernel's: the item's). */
  readonly unmapUnpins?: (item: { readonly iova: bigint; readonly length: bigint }, iova: bigint, length: bigint) => readonly [bigint, bigint];
  /** Which of the items the notified range meets, in list order, iommufd_test_access_unmap drops (the kernel's: all of them). */
  readonly unmapDrops?: <T>(meeting: readonly T[]) => readonly T[];
  /** Whether iommufd_test_access_item_destroy unpins the item it takes off the list (the kernel's: it does). */
  readonly itemDestroyUnpins?: boolean;
}): Pick<MutantHooks, 'handlers' | 'object' | 'process'> {
  const testAccessPages = accessPagesHandler({ ...(pinPages && { pinPages }), unpinPages });
  /** iommufd_test_access_unmap: drop every item intersecting the range. */
  const testAccessUnmap = (staccess: SelftestAccess, iova: bigint, length: bigint): void => {
    const last = iova + length - 1n;
    for (const item of unmapDrops(staccess.items.filter((x) => iova <= x.iova + x.length - 1n && last >= x.iova))) {
      staccess.items.splice(staccess.items.indexOf(item), 1);
      const [from, bytes] = unmapUnpins(item, iova, length);
      unpinPages(staccess.access!, from, bytes);
    }
  };
  /** iommufd_test_access_item_destroy */
  const testAccessItemDestroy = (ucmd: Ucmd): number => {
    const g = accessGet(ucmd, ucmd.cmd.num('id'));
    if (g.errno) return g.errno;
    try {
      const staccess = g.staccess!;
      const itemId = ucmd.cmd.num('destroy_access_pages.access_pages_id');
      const item = staccess.items.find((i) => i.id === itemId);
      if (!item) return -ENOENT;
      staccess.items.splice(staccess.items.indexOf(item), 1);
      if (itemDestroyUnpins) unpinPages(staccess.access!, item.iova, item.length);
      return 0;
    } finally {
      g.file!.put();
    }
  };
  /** The selftest access each access object belongs to (known once its fd is installed). */
  const staccessOf = new WeakMap<IommufdAccess, SelftestAccess>();
  return {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_ACCESS_PAGES) return testAccessPages(ucmd);
        if (op === IOMMU_TEST_OP_DESTROY_ACCESS_PAGES) return testAccessItemDestroy(ucmd);
        return original(ucmd);
      },
    },
    // access->ops->unmap (iommufd_test_access_unmap): unmap notifications and IOAS changes.
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchOwn(access.ops, 'unmap', () => (iova: bigint, length: bigint) => {
        const staccess = staccessOf.get(access);
        if (staccess) testAccessUnmap(staccess, iova, length);
      });
    },
    // iommufd_test_staccess_release: unmap every item, then iommufd_access_destroy.
    process: (proc) => {
      patchOwn(proc.fds, 'fdInstall', (fdInstall) => (fd, file) => {
        if (file.kind === 'selftest-access' && file.private_data instanceof SelftestAccess) {
          const staccess = file.private_data;
          if (staccess.access) staccessOf.set(staccess.access, staccess);
          const ops = {
            ...file.ops,
            release: () => {
              if (!staccess.access) return;
              testAccessUnmap(staccess, 0n, ULONG_MAX);
              iommufdAccessDestroy(staccess.access);
            },
          };
          Object.defineProperty(file, 'ops', { value: ops, writable: false, configurable: true, enumerable: true });
        }
        fdInstall(fd, file);
      });
    },
  };
}
