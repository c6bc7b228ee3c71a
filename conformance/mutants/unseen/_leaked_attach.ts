/**
 * Shared by the faults that leave a device's group attached when the device
 * goes (an attachment iommufd lost track of): its teardown through the
 * kernel's WARN paths instead of the reference's model, which would throw, and
 * a device walk of a domain freed under its group.
 */
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdPutGroup } from '../../../impl/iommufd/group.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import { patchOwn } from '../harness.ts';

/** iommufd_device_destroy → iommu_device_release_dma_owner, iommufd_put_group → iommufd_group_release. */
export function deviceDestroy(idev: IommufdDevice): void {
  const dev = idev.dev;
  const g = dev.group;
  if (g.ownerCnt === 1 && g.domain !== g.blockingDomain && g.domain !== g.defaultDomain) {
    // __iommu_release_dma_ownership: WARN_ON(!xa_empty(&group->pasid_array)) → return; ownership and domain stay.
    idev.ictx.warnings.push(`__iommu_release_dma_ownership: group ${g.id} still has an attach handle; ownership kept`);
  } else {
    dev.machine.releaseDmaOwner(dev);
  }
  const igroup = idev.igroup;
  if (igroup.ref === 1 && (igroup.hwpt !== null || igroup.deviceList.length > 0)) {
    // iommufd_group_release: WARN_ON(igroup->hwpt || !list_empty(&igroup->device_list)) (7.3: pasid_attach); freed anyway.
    idev.ictx.warnings.push(`iommufd_group_release: group ${g.id} released with an attachment recorded`);
    igroup.hwpt = null;
    igroup.deviceList.splice(0);
  }
  iommufdPutGroup(igroup);
  if (!dev.isMock) idev.ictx.file?.put();
}

/** A table walk of a domain freed under its group: nothing is mapped (the reference would read freed table memory). */
export function patchTranslate(m: Machine): void {
  patchOwn(m, 'translate', (translate) => (handle, iova, pasid) => {
    const dev = m.device(handle);
    if (dev && pasid === undefined && dev.group.domain.type === 'paging' && dev.group.domain.isFreed) return { mapped: false };
    return translate(handle, iova, pasid);
  });
}
