/**
 * HWPT_PAGING objects: an iommu_domain of the device's IOMMU linked to an IOAS,
 * mirroring exactly the IOAS areas in its page table. Mirrors
 * drivers/iommu/iommufd/hw_pagetable.c: iommufd_hwpt_paging_alloc,
 * iommufd_hwpt_paging_enforce_cc, iommufd_hwpt_paging_destroy/_abort,
 * iommufd_hwpt_alloc (IOMMU_HWPT_ALLOC), and iommufd_hw_pagetable_put
 * (iommufd_private.h: auto domains self-destruct with their last device).
 *
 * Nested HWPTs (pt_id = a NEST_PARENT HWPT_PAGING) are the next issue: the
 * kernel's pre-driver checks are made here in order, and the driver step
 * answers EOPNOTSUPP.
 *
 * Public: class IommufdHwptPaging, type IommufdHwpt, iommufdHwptPagingAlloc,
 * iommufdHwptAlloc(ucmd) -> errno, iommufdHwPagetablePut(ctx, hwpt),
 * ioasHwptList(ioas), iommufdTestMdCheckPa, iommufdTestMdCheckIotlb,
 * types DeviceCtx / DevUcmd / IoasObj (aliases of CORE's
 * IommufdCtx / Ucmd / IommufdIoas).
 */
import { EFAULT, EINVAL, ENOENT, EOPNOTSUPP } from './errno.ts';
import {
  type IommufdObject,
  iommufdGetObject,
  iommufdObjectAbortAndDestroy,
  iommufdObjectAlloc,
  iommufdObjectFinalize,
  iommufdObjectRemove,
  type ObjectCtx,
  refcount_dec,
  refcount_inc,
  type Result,
} from './object.ts';
import { ioptTableAddDomain, ioptTableRemoveDomain } from './io_pagetable.ts';
import type { IommufdCtx, Ucmd } from './main.ts';
import { iommufdUcmdRespond } from './main.ts';
import type { IommufdIoas } from './ioas.ts';
import {
  type HwptAllocData,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_FAULT_ID_VALID,
  type IommuDomain,
  MOCK_IO_PAGE_SIZE,
} from '../platform/iommu.ts';
import { iommufdHwPagetableAttach, iommufdHwPagetableDetach, type IommufdDevice, iommufdGetDevice } from './device.ts';

// ---- what the device side uses of CORE's ctx, ucmd and IOAS ---------------------

/** The iommufd_ctx (CORE's IommufdCtx: objects, proc, faults, profile, file). */
export type DeviceCtx = IommufdCtx;
/** struct iommufd_ucmd (CORE's Ucmd); responses go through iommufdUcmdRespond. */
export type DevUcmd = Ucmd;
/** An IOAS object: what a HWPT_PAGING links to. */
export type IoasObj = IommufdIoas;

// ---- objects -----------------------------------------------------------------------

/** ioas->hwpt_list: the IOAS's paging HWPTs in creation order (auto-domain search order). */
export function ioasHwptList(ioas: IoasObj): IommufdHwptPaging[] {
  return ioas.hwptList as IommufdHwptPaging[];
}

export class IommufdHwptPaging implements IommufdObject {
  readonly type = 'HWPT_PAGING' as const;
  id = 0;
  users = 0;
  domain: IommuDomain | null = null;
  autoDomain = false;
  nestParent = false;
  enforceCacheCoherency = false;
  /** 7.3 IOMMU_HWPT_ALLOC_PASID */
  pasidCompat = false;
  msiCookie = false;
  /** hwpt->fault (FAULT_ID_VALID), holding a users reference. */
  fault: IommufdObject | null = null;
  /** On ioas->hwpt_list (and the domain in the iopt). */
  inList = false;

  constructor(
    readonly ictx: DeviceCtx,
    readonly ioas: IoasObj,
  ) {}

  /** __iommufd_hwpt_destroy */
  private commonDestroy(): void {
    this.domain?.free();
    if (this.fault) refcount_dec(this.fault);
    this.fault = null;
  }

  /** iommufd_hwpt_paging_destroy */
  destroy(): void {
    if (this.inList) {
      const l = ioasHwptList(this.ioas);
      l.splice(l.indexOf(this), 1);
      this.inList = false;
      if (this.domain) ioptTableRemoveDomain(this.ioas.iopt, this.domain);
    }
    this.commonDestroy();
    refcount_dec(this.ioas);
  }

  /** iommufd_hwpt_paging_abort */
  abort(): void {
    this.destroy();
  }
}

/** Paging only in this issue; nested HWPTs join the union later. */
export type IommufdHwpt = IommufdHwptPaging;

/** find_hwpt_paging */
export function findHwptPaging(hwpt: IommufdHwpt | null): IommufdHwptPaging | null {
  return hwpt && hwpt.type === 'HWPT_PAGING' ? hwpt : null;
}

/** iommufd_hwpt_paging_enforce_cc: switch the domain to enforce coherency (before any map). */
export function iommufdHwptPagingEnforceCc(hwpt: IommufdHwptPaging): number {
  const domain = hwpt.domain;
  if (hwpt.enforceCacheCoherency) return 0;
  if (domain && domain.owner.enforceCacheCoherency(domain)) {
    domain.enforceCacheCoherency = true;
    hwpt.enforceCacheCoherency = true;
  }
  return hwpt.enforceCacheCoherency ? 0 : EINVAL;
}

/**
 * iommufd_hwpt_paging_alloc: a new (unfinalized) paging HWPT for idev on ioas.
 * Check order: flags/data without a driver op → EOPNOTSUPP (every modelled
 * driver has one); unknown flags → EOPNOTSUPP; DIRTY_TRACKING without the
 * device capability → EOPNOTSUPP; FAULT_ID_VALID with NEST_PARENT → EOPNOTSUPP;
 * object alloc (ENOMEM); driver allocation; coherency; immediate attach; then
 * iopt_table_add_domain. On failure nothing is left behind.
 */
export function iommufdHwptPagingAlloc(
  ictx: DeviceCtx,
  ioas: IoasObj,
  idev: IommufdDevice,
  flags: number,
  immediateAttach: boolean,
  userData: HwptAllocData | undefined,
): Result<IommufdHwptPaging> {
  const machine = idev.dev.machine;
  const validFlags =
    ictx.profile === '6.12'
      ? IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING
      : IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
  if (flags & ~validFlags) return { errno: EOPNOTSUPP };
  if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING && !machine.capable(idev.dev, 'DIRTY_TRACKING')) return { errno: EOPNOTSUPP };
  if (flags & IOMMU_HWPT_FAULT_ID_VALID && flags & IOMMU_HWPT_ALLOC_NEST_PARENT) return { errno: EOPNOTSUPP };

  const hwpt = new IommufdHwptPaging(ictx, ioas);
  const rc0 = iommufdObjectAlloc(ictx, hwpt);
  if (rc0) return { errno: rc0 };
  hwpt.pasidCompat = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  refcount_inc(ioas); // pairs with iommufd_hwpt_paging_destroy
  hwpt.nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;

  const alloc = idev.dev.iommu.driver.domainAllocPaging(idev.dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, userData);
  if (!('domain' in alloc)) {
    iommufdObjectAbortAndDestroy(ictx, hwpt);
    return { errno: alloc.errno };
  }
  hwpt.domain = alloc.domain;

  // Decide coherency before iopt_table_add_domain maps anything: some formats
  // carry it in every PTE. A driver reporting the capability but refusing here
  // is a driver bug (WARN_ON in the kernel).
  if (idev.enforceCacheCoherency) {
    const rc = iommufdHwptPagingEnforceCc(hwpt);
    if (rc) {
      iommufdObjectAbortAndDestroy(ictx, hwpt);
      return { errno: rc };
    }
  }

  if (immediateAttach) {
    const rc = iommufdHwPagetableAttach(hwpt, idev);
    if (rc) {
      iommufdObjectAbortAndDestroy(ictx, hwpt);
      return { errno: rc };
    }
  }

  const rc = ioptTableAddDomain(ioas.iopt, hwpt.domain);
  if (rc) {
    if (immediateAttach) iommufdHwPagetableDetach(idev);
    iommufdObjectAbortAndDestroy(ictx, hwpt);
    return { errno: rc };
  }
  ioasHwptList(ioas).push(hwpt);
  hwpt.inList = true;
  return { errno: 0, value: hwpt };
}

/** Reader for struct iommu_user_data from the calling process. */
function userDataOf(ictx: DeviceCtx, type: number, len: number, uptr: bigint): HwptAllocData {
  return {
    type,
    len,
    read: () => ictx.proc.copyFromUser(uptr, len) ?? undefined,
  };
}

/**
 * IOMMU_HWPT_ALLOC (iommufd_hwpt_alloc). Order: __reserved → EOPNOTSUPP;
 * data_type/data_len mismatch → EINVAL; dev_id → ENOENT; pt_id absent →
 * EINVAL; by pt type (IOAS → paging; HWPT_PAGING → nested; else EINVAL);
 * FAULT_ID_VALID → fault lookup (ENOENT); copy-back (EFAULT aborts the HWPT).
 */
export function iommufdHwptAlloc(ucmd: DevUcmd): number {
  const { cmd, ctx: ictx } = ucmd;
  if (cmd.num('__reserved')) return EOPNOTSUPP;
  const dataType = cmd.num('data_type');
  const dataLen = cmd.num('data_len');
  if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return EINVAL;
  const flags = cmd.num('flags');

  const idevR = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (idevR.errno || !idevR.value) return idevR.errno;
  const idev = idevR.value;

  const ptR = iommufdGetObject(ictx, cmd.num('pt_id'), 'ANY');
  if (ptR.errno || !ptR.value) return EINVAL;
  const pt = ptR.value;

  const userData = dataLen ? userDataOf(ictx, dataType, dataLen, cmd.big('data_uptr')) : undefined;
  let hwpt: IommufdHwpt;
  if (pt.type === 'IOAS') {
    const r = iommufdHwptPagingAlloc(ictx, pt as IoasObj, idev, flags, false, userData);
    if (r.errno || !r.value) return r.errno;
    hwpt = r.value;
  } else if (pt.type === 'HWPT_PAGING') {
    return iommufdHwptNestedAllocChecks(pt as IommufdHwptPaging, idev, flags, dataLen);
  } else {
    return EINVAL;
  }

  if (flags & IOMMU_HWPT_FAULT_ID_VALID) {
    const f = iommufdGetObject(ictx, cmd.num('fault_id'), 'FAULT');
    if (f.errno || !f.value) {
      iommufdObjectAbortAndDestroy(ictx, hwpt);
      return f.errno;
    }
    hwpt.fault = f.value;
    refcount_inc(f.value);
  }

  cmd.set('out_hwpt_id', hwpt.id);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) {
    iommufdObjectAbortAndDestroy(ictx, hwpt);
    return rc;
  }
  iommufdObjectFinalize(ictx, hwpt);
  return 0;
}

/**
 * iommufd_hwpt_nested_alloc's checks before the driver: flags other than
 * FAULT_ID_VALID, no data, → EOPNOTSUPP; an auto / non-NEST_PARENT / foreign
 * parent → EINVAL. The driver's nested domains are the next issue (EOPNOTSUPP).
 */
function iommufdHwptNestedAllocChecks(parent: IommufdHwptPaging, idev: IommufdDevice, flags: number, dataLen: number): number {
  if (flags & ~IOMMU_HWPT_FAULT_ID_VALID || !dataLen) return EOPNOTSUPP;
  if (parent.autoDomain || !parent.nestParent || parent.domain?.owner !== idev.dev.iommu.driver) return EINVAL;
  return EOPNOTSUPP;
}

/**
 * iommufd_hw_pagetable_put: drop the reference a device attachment held; an
 * auto domain is destroyed with its last user (iommufd_object_put_and_try_destroy).
 */
export function iommufdHwPagetablePut(ictx: ObjectCtx, hwpt: IommufdHwpt): void {
  if (hwpt.type === 'HWPT_PAGING' && hwpt.autoDomain) {
    refcount_dec(hwpt);
    iommufdObjectRemove(ictx, hwpt.id);
    return;
  }
  refcount_dec(hwpt);
}

// ---- selftest checks (selftest.c) ------------------------------------------------

/** get_md_pagetable: a HWPT_PAGING whose domain is the mock driver's, else ENOENT / EINVAL. */
function getMdPagetable(ictx: DeviceCtx, id: number): Result<IommufdHwptPaging> {
  const r = iommufdGetObject<IommufdHwptPaging>(ictx, id, 'HWPT_PAGING');
  if (r.errno || !r.value) return { errno: r.errno || ENOENT };
  if (!r.value.domain || r.value.domain.type !== 'paging' || r.value.domain.owner.name !== 'mock') return { errno: EINVAL };
  return r;
}

/**
 * IOMMU_TEST_OP_MD_CHECK_MAP (iommufd_test_md_check_pa): every 2 KiB IO page
 * of [iova, iova+length) translates to the frame under uptr. EINVAL for
 * misalignment or a mismatch; EFAULT for an unmapped user address.
 */
export function iommufdTestMdCheckPa(ictx: DeviceCtx, mockptId: number, iova: bigint, length: bigint, uptr: bigint): number {
  // 6.12 checks alignment (2 KiB) before the lookup; 7.3 looks up first and
  // aligns to the domain's smallest page size.
  let page = BigInt(MOCK_IO_PAGE_SIZE);
  const misaligned = () => iova % page !== 0n || length % page !== 0n || uptr % page !== 0n || uptr + length > (1n << 64n) - 1n;
  if (ictx.profile === '6.12' && misaligned()) return EINVAL;
  const r = getMdPagetable(ictx, mockptId);
  if (r.errno || !r.value) return r.errno;
  const domain = r.value.domain as IommuDomain;
  if (ictx.profile !== '6.12') {
    page = BigInt(domain.minPageSize);
    if (misaligned()) return EINVAL;
  }
  for (; length > 0n; length -= page, iova += page, uptr += page) {
    const t = ictx.proc.translateVa(uptr - (uptr % 4096n));
    if (!t) return EFAULT;
    const pa = domain.iovaToPhys(Number(iova));
    if (pa < 0 || pa !== t.pfn * 4096 + Number(uptr % 4096n)) return EINVAL;
  }
  return 0;
}

/**
 * IOMMU_TEST_OP_MD_CHECK_IOTLB: the mock nested domain's IOTLB slot value.
 * Nested HWPTs are the next issue: any id is ENOENT (no HWPT_NESTED exists).
 */
export function iommufdTestMdCheckIotlb(ictx: DeviceCtx, mockptId: number): number {
  const r = iommufdGetObject(ictx, mockptId, 'HWPT_NESTED');
  return r.errno || EINVAL;
}
