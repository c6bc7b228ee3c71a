/**
 * Shared by the faults in a paging HWPT's teardown: a copy of
 * iommufd_hwpt_paging_destroy (hw_pagetable.c) whose steps are parameters.
 * With the defaults it tears down exactly as the reference does.
 */
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptTableRemoveDomain } from '../../../impl/iommufd/io_pagetable.ts';
import { refcount_dec } from '../../../impl/iommufd/object.ts';

export interface HwptDestroySteps {
  /** iopt_table_remove_domain */
  readonly removeDomain?: typeof ioptTableRemoveDomain;
  /** The last step, refcount_dec(&hwpt_paging->ioas->obj.users). */
  readonly putIoas?: boolean;
}

/** iommufd_hwpt_paging_destroy with the given steps. */
export function hwptPagingDestroy(hwpt: IommufdHwptPaging, { removeDomain = ioptTableRemoveDomain, putIoas = true }: HwptDestroySteps = {}): void {
  if (hwpt.inList) {
    const l = hwpt.ioas.hwptList;
    l.splice(l.indexOf(hwpt), 1);
    hwpt.inList = false;
    if (hwpt.domain) removeDomain(hwpt.ioas.iopt, hwpt.domain);
  }
  // __iommufd_hwpt_destroy
  hwpt.domain?.free();
  if (hwpt.fault) refcount_dec(hwpt.fault);
  hwpt.fault = null;
  if (putIoas) refcount_dec(hwpt.ioas);
}
