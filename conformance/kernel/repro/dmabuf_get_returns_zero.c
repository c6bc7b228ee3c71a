// SPDX-License-Identifier: MIT
/*
 * Minimal reproducer (Linux 7.3.4, CONFIG_IOMMUFD_TEST=y): IOMMU_TEST_CMD
 * IOMMU_TEST_OP_DMABUF_GET returns 0 instead of the dma-buf fd it installs.
 *
 * drivers/iommu/iommufd/selftest.c, iommufd_test_dmabuf_get():
 *	rc = dma_buf_fd(dmabuf, open_flags);
 *	if (rc < 0) { dma_buf_put(dmabuf); return rc; }
 *	return 0;        <- should be: return rc;
 *
 * Expected: the ioctl returns a new fd (>= 3 here) that is a dma-buf.
 * Observed: it returns 0, and the fd it did install (the lowest free one) is leaked.
 *
 * Build: gcc -static -I<kernel>/include -o repro dmabuf_get_returns_zero.c
 * (<kernel> = ~/.cache/iommufd-spec/kernels/7.3-*; include/ holds the exported
 * headers and iommufd_test.h). Run as root in the 7.3 lane's guest.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "iommufd_test.h"

int main(void)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_DMABUF_GET,
		.dmabuf_get = { .length = 4096, .open_flags = O_CLOEXEC },
	};
	int fd = open("/dev/iommu", O_RDWR);
	int probe, ret;

	if (fd < 0) {
		perror("open /dev/iommu");
		return 2;
	}
	ret = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	/* The fd the kernel installed is the lowest free one: the next open shows it was taken. */
	probe = open("/dev/null", O_RDONLY);
	printf("IOMMU_TEST_OP_DMABUF_GET returned %d; /dev/iommu is fd %d, the next free fd is %d\n", ret, fd, probe);
	if (ret == 0 && probe == fd + 2) {
		printf("BUG: returned 0, and fd %d was installed but never reported\n", fd + 1);
		return 1;
	}
	if (ret > 2)
		printf("OK: returned the dma-buf fd\n");
	return ret > 2 ? 0 : 1;
}
