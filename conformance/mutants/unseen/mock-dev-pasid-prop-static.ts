/**
 * mock-dev-pasid-prop-static (drivers/iommu/iommufd/selftest.c
 * mock_dev_create, reached by IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS); seen through
 * drivers/iommu/iommufd/device.c iommufd_get_hw_info, IOMMU_GET_HW_INFO;
 * 7.3 only: 6.12 has no MOCK_FLAGS_DEVICE_PASID).
 *
 * A mock device's PASID width is a firmware property of the device,
 * "pasid-num-bits", that the iommu core reads when the device is probed
 * (dev_iommu_get_max_pasids → dev->iommu->max_pasids = min(1 << bits, the
 * unit's max_pasids)). mock_dev_create builds the property list on its
 * stack, 0 bits by default, and puts MOCK_PASID_WIDTH there only for a
 * device created with MOCK_FLAGS_DEVICE_PASID:
 *
 *     static struct mock_dev *mock_dev_create(unsigned long dev_flags)
 *     {
 *             struct property_entry prop[] = {
 *                     PROPERTY_ENTRY_U32("pasid-num-bits", 0),
 *                     {},
 *             };
 *             ...
 *             if (dev_flags & MOCK_FLAGS_DEVICE_PASID)
 *                     prop[0] = PROPERTY_ENTRY_U32("pasid-num-bits", MOCK_PASID_WIDTH);
 *
 *             rc = device_create_managed_software_node(&mdev->dev, prop, NULL);
 *
 * THE FAULT makes the table static (`static struct property_entry prop[]`,
 * the way constant property tables are usually declared: it looks like
 * one, and the initializer is constant). The initializer then runs once,
 * at boot; the first PASID-capable mock device writes its width into the
 * shared table and nothing ever writes the 0 back. Every mock device
 * created after it — in any context, by any later MOCK_DOMAIN or
 * MOCK_DOMAIN_FLAGS without MOCK_FLAGS_DEVICE_PASID — is probed with
 * pasid-num-bits = MOCK_PASID_WIDTH.
 *
 * Consequence, across two devices: the first device is right and so is
 * every device created before it; a later plain mock device gets
 * max_pasids = 1 << 20, so IOMMU_GET_HW_INFO on its idev answers
 * out_max_pasid_log2 = 20 where it must answer 0, and userspace (a VMM
 * sizing a vIOMMU's PASID table, deciding to expose PASID to a guest)
 * believes the device issues PASID-tagged DMA; the iommu core would accept
 * PASID attachments for a device that cannot use them (iommu_attach_device_pasid
 * checks pasid < dev->iommu->max_pasids). The harm shows only on a device
 * other than the one whose creation caused it, and only after that
 * creation.
 *
 * Applied as: the machine's mockDevCreate (mock_dev_create) keeps the
 * table across calls: once a device was created with MOCK_FLAGS_DEVICE_PASID,
 * every later mock device of the machine (the process: the kernel's table
 * is global) is probed with MOCK_PASID_WIDTH bits.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { MOCK_FLAGS_DEVICE_PASID, MOCK_PASID_WIDTH } from '../../../spec/uapi/constants.ts';
import type { DeviceCaps } from '../../../impl/platform/iommu.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-dev-pasid-prop-static', profile, {
    machine: (m, env) => {
      if (env.profile !== '7.3') return; // 6.12: no MOCK_FLAGS_DEVICE_PASID, the table is never written
      /** THE FAULT: `static struct property_entry prop[]` — pasid-num-bits as the last PASID device left it. */
      let pasidNumBits = 0;
      patchOwn(m, 'mockDevCreate', (create) => (devFlags: number) => {
        const r = create(devFlags);
        if (r.errno !== 0 || !('dev' in r)) return r;
        if (devFlags & MOCK_FLAGS_DEVICE_PASID) pasidNumBits = MOCK_PASID_WIDTH;
        const dev = r.dev;
        if (dev.caps.maxPasidLog2 !== pasidNumBits) patchOwn(dev, 'caps', (caps): DeviceCaps => ({ ...caps, maxPasidLog2: pasidNumBits }));
        return r;
      });
    },
  });
}
