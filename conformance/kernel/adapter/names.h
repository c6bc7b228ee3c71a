/* SPDX-License-Identifier: MIT */
/*
 * ioctl command and IOMMU_TEST_CMD op names, resolved against the profile's own
 * exported headers (make headers_install) and the tree's iommufd_test.h, so the
 * numbers are the kernel's and a name the profile lacks is simply absent.
 */
#ifndef IOMMUFD_SPEC_NAMES_H
#define IOMMUFD_SPEC_NAMES_H

#include <linux/iommufd.h>
#include <linux/vfio.h>
#include "iommufd_test.h"

struct cmd_name {
	const char *name;
	unsigned long request;
	/* NULL = served; else why the kernel lane cannot serve it. */
	const char *unsupported;
};

#define CMD(x) { #x, x, NULL },
#define NO_VFIO_DEVICE(x) \
	{ #x, x, "the mock driver's devices have no VFIO device cdev (open_device is unsupported), so device-fd commands cannot be issued" },

static const struct cmd_name cmd_names[] = {
	CMD(IOMMU_DESTROY)
	CMD(IOMMU_IOAS_ALLOC)
	CMD(IOMMU_IOAS_IOVA_RANGES)
	CMD(IOMMU_IOAS_ALLOW_IOVAS)
	CMD(IOMMU_IOAS_MAP)
	CMD(IOMMU_IOAS_COPY)
	CMD(IOMMU_IOAS_UNMAP)
	CMD(IOMMU_OPTION)
	CMD(IOMMU_VFIO_IOAS)
	CMD(IOMMU_HWPT_ALLOC)
	CMD(IOMMU_GET_HW_INFO)
	CMD(IOMMU_HWPT_SET_DIRTY_TRACKING)
	CMD(IOMMU_HWPT_GET_DIRTY_BITMAP)
	CMD(IOMMU_HWPT_INVALIDATE)
	CMD(IOMMU_FAULT_QUEUE_ALLOC)
#ifdef IOMMU_IOAS_MAP_FILE
	CMD(IOMMU_IOAS_MAP_FILE)
#endif
#ifdef IOMMU_VIOMMU_ALLOC
	CMD(IOMMU_VIOMMU_ALLOC)
#endif
#ifdef IOMMU_VDEVICE_ALLOC
	CMD(IOMMU_VDEVICE_ALLOC)
#endif
#ifdef IOMMU_IOAS_CHANGE_PROCESS
	CMD(IOMMU_IOAS_CHANGE_PROCESS)
#endif
#ifdef IOMMU_VEVENTQ_ALLOC
	CMD(IOMMU_VEVENTQ_ALLOC)
#endif
#ifdef IOMMU_HW_QUEUE_ALLOC
	CMD(IOMMU_HW_QUEUE_ALLOC)
#endif
#ifdef IOMMU_IOAS_NOIOMMU_GET_PA
	CMD(IOMMU_IOAS_NOIOMMU_GET_PA)
#endif
	CMD(IOMMU_TEST_CMD)
	/* The type-1 container API, served by iommufd's vfio_compat.c on /dev/vfio/vfio. */
	CMD(VFIO_GET_API_VERSION)
	CMD(VFIO_CHECK_EXTENSION)
	CMD(VFIO_SET_IOMMU)
	CMD(VFIO_IOMMU_GET_INFO)
	CMD(VFIO_IOMMU_MAP_DMA)
	CMD(VFIO_IOMMU_UNMAP_DMA)
	CMD(VFIO_IOMMU_ENABLE)
	CMD(VFIO_IOMMU_DISABLE)
	CMD(VFIO_IOMMU_DIRTY_PAGES)
	NO_VFIO_DEVICE(VFIO_DEVICE_BIND_IOMMUFD)
	NO_VFIO_DEVICE(VFIO_DEVICE_ATTACH_IOMMUFD_PT)
	NO_VFIO_DEVICE(VFIO_DEVICE_DETACH_IOMMUFD_PT)
	NO_VFIO_DEVICE(VFIO_DEVICE_GET_INFO)
	NO_VFIO_DEVICE(VFIO_DEVICE_FEATURE)
};

struct test_op_name {
	const char *name;
	unsigned int op;
};

#define TOP(x) { #x, x },
static const struct test_op_name test_op_names[] = {
	TOP(IOMMU_TEST_OP_ADD_RESERVED)
	TOP(IOMMU_TEST_OP_MOCK_DOMAIN)
	TOP(IOMMU_TEST_OP_MD_CHECK_MAP)
	TOP(IOMMU_TEST_OP_MD_CHECK_REFS)
	TOP(IOMMU_TEST_OP_CREATE_ACCESS)
	TOP(IOMMU_TEST_OP_DESTROY_ACCESS_PAGES)
	TOP(IOMMU_TEST_OP_ACCESS_PAGES)
	TOP(IOMMU_TEST_OP_ACCESS_RW)
	TOP(IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT)
	TOP(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE)
	TOP(IOMMU_TEST_OP_ACCESS_REPLACE_IOAS)
	TOP(IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS)
	TOP(IOMMU_TEST_OP_DIRTY)
	TOP(IOMMU_TEST_OP_MD_CHECK_IOTLB)
	TOP(IOMMU_TEST_OP_TRIGGER_IOPF)
#ifdef IOMMU_VIOMMU_ALLOC /* the 7.3 test ops (an enum, so keyed on a 7.3-only macro) */
	TOP(IOMMU_TEST_OP_DEV_CHECK_CACHE)
	TOP(IOMMU_TEST_OP_TRIGGER_VEVENT)
	TOP(IOMMU_TEST_OP_PASID_ATTACH)
	TOP(IOMMU_TEST_OP_PASID_REPLACE)
	TOP(IOMMU_TEST_OP_PASID_DETACH)
	TOP(IOMMU_TEST_OP_PASID_CHECK_HWPT)
	TOP(IOMMU_TEST_OP_DMABUF_GET)
	TOP(IOMMU_TEST_OP_DMABUF_REVOKE)
#endif
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
