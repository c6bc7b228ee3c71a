/* SPDX-License-Identifier: MIT */
/*
 * Force-included (gcc -include) when building the kernel's own iommufd
 * selftests of Debian's 6.12.117 tree, whose tools/testing/selftests/iommu was
 * backported from a newer kernel and uses names 6.12's uAPI does not have.
 * Each definition keeps the test compiling and gives the assertion its 6.12
 * meaning; what that weakens is said next to it. No selftest source is edited.
 */
#ifndef IOMMUFD_SPEC_SELFTEST_COMPAT_612_H
#define IOMMUFD_SPEC_SELFTEST_COMPAT_612_H

/*
 * IOMMU_GET_HW_INFO input types are newer than 6.12: 6.12 reports the driver's
 * own type (IOMMU_HW_INFO_TYPE_SELFTEST for the mock) and refuses any flag or
 * non-zero __reserved with EOPNOTSUPP (iommufd_get_hw_info).
 *  - "default" therefore means the driver's type, SELFTEST;
 *  - asking for another type sets a flag 6.12 does not know, so the
 *    "wrong data_type gives EOPNOTSUPP" assertion still tests a refusal (of the
 *    flag, not of the type);
 *  - the initializer's .in_data_type lands in out_data_type, which 6.12 only
 *    writes (it is overwritten before copy-out), so nothing else changes.
 */
#define IOMMU_HW_INFO_TYPE_DEFAULT IOMMU_HW_INFO_TYPE_SELFTEST
#define IOMMU_HW_INFO_FLAG_INPUT_TYPE (1U << 31)
#define in_data_type out_data_type

/*
 * 6.12's mock driver has no PASID-capable devices (MOCK_FLAGS_DEVICE_PASID and
 * MOCK_PASID_WIDTH arrived later). The iommufd_ioas.mock_domain variant's
 * "PASID device" becomes an ordinary mock device (dev_flags 0), and its
 * max_pasid_log2 assertion checks 0, which is what 6.12 reports.
 */
#define MOCK_FLAGS_DEVICE_PASID 0
#define MOCK_PASID_WIDTH 0

#endif
