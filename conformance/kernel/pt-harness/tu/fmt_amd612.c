// SPDX-License-Identifier: GPL-2.0-only
/*
 * 6.12 AMD v1 (drivers/iommu/amd/io_pgtable.c, included unmodified) with the
 * domain entry points of amd/iommu.c (amd_iommu_map_pages,
 * amd_iommu_unmap_pages, amd_iommu_iova_to_phys, cut verbatim). Set up as
 * do_iommu_domain_alloc does: v1 table starting in 3-level mode,
 * pgsize_bitmap AMD_IOMMU_PGSIZES, aperture 0..~0.
 */
#include "drivers/iommu/amd/io_pgtable.c"
#include "amd612_drv.h"
#include "harness.h"

unsigned long amd_iommu_pgsize_bitmap = AMD_IOMMU_PGSIZES;
bool amd_iommu_np_cache;

void amd_iommu_update_and_flush_device_table(struct protection_domain *domain) { }
void amd_iommu_domain_flush_pages(struct protection_domain *domain, u64 address, size_t size) { }

static void amd_iotlb_sync(struct iommu_domain *domain, struct iommu_iotlb_gather *gather)
{
	hiotlb_sync(domain, gather);
}

static const struct iommu_domain_ops amd612_ops = {
	.map_pages = amd_iommu_map_pages,
	.unmap_pages = amd_iommu_unmap_pages,
	.iotlb_sync = amd_iotlb_sync,
	.iova_to_phys = amd_iommu_iova_to_phys,
};

static struct iommu_domain *amd612_create(const struct hparams *p)
{
	struct protection_domain *d = calloc(1, sizeof(*d));
	struct io_pgtable *iop;

	d->pd_mode = PD_MODE_V1;
	d->dirty_tracking = true;
	amd_iommu_np_cache = p->np;
	iop = io_pgtable_amd_iommu_v1_init_fns.alloc(&d->iop.pgtbl.cfg, d);
	if (!iop) {
		free(d);
		return ERR_PTR(-ENOMEM);
	}
	iop->fmt = AMD_IOMMU_V1;
	iop->cookie = d;
	d->domain.type = __IOMMU_DOMAIN_PAGING;
	d->domain.ops = &amd612_ops;
	d->domain.pgsize_bitmap = d->iop.pgtbl.cfg.pgsize_bitmap;
	if (p->pgmask)
		d->domain.pgsize_bitmap &= p->pgmask;
	d->domain.geometry.aperture_end = ~0ULL;
	return &d->domain;
}

static void amd612_dump_level(u64 *table, int level, unsigned int n)
{
	unsigned int i;

	hdump_table_begin(level, n);
	for (i = 0; i < n; i++) {
		u64 pte = table[i];

		if (!pte)
			continue;
		/* fetch_pte / free_pt_lvl: a present entry with NextLevel 1..6 is a table. */
		if (level > 0 && IOMMU_PTE_PRESENT(pte) && PM_PTE_LEVEL(pte) != 0 && PM_PTE_LEVEL(pte) != 7) {
			hdump_table_ptr(i, pte & ~(u64)PM_ADDR_MASK);
			amd612_dump_level(IOMMU_PTE_PAGE(pte), level - 1, 512);
		} else {
			hdump_entry(i, pte);
		}
	}
	hdump_table_end();
}

static void amd612_dump(struct iommu_domain *dom)
{
	struct protection_domain *d = to_pdomain(dom);

	amd612_dump_level(d->iop.root, d->iop.mode - 1, 512);
}

static void amd612_destroy(struct iommu_domain *dom)
{
	struct protection_domain *d = to_pdomain(dom);

	v1_free_pgtable(&d->iop.pgtbl);
	free(d);
}

static int amd612_read_and_clear_dirty(struct iommu_domain *dom, u64 iova, u64 size, unsigned long flags)
{
	struct protection_domain *d = to_pdomain(dom);
	struct io_pgtable_ops *ops = &d->iop.pgtbl.ops;
	struct iommu_iotlb_gather gather;
	struct iommu_dirty_bitmap dirty;
	int rc;

	iommu_dirty_bitmap_init(&dirty, (struct iova_bitmap *)1, &gather);
	rc = ops->read_and_clear_dirty(ops, iova, size, flags, &dirty);
	iommu_iotlb_sync(dom, &gather);
	return rc;
}

/* What the IOMMU does on a write with DTE[HAD]: set HD in the leaf PTE it used (the first replica). */
static int amd612_set_dirty(struct iommu_domain *dom, u64 iova)
{
	struct protection_domain *d = to_pdomain(dom);
	unsigned long pgsize;
	u64 *pte = fetch_pte(&d->iop, iova, &pgsize);

	if (!pte || !IOMMU_PTE_PRESENT(*pte))
		return -ENOENT;
	*pte |= IOMMU_PTE_HD;
	return 0;
}

static const struct hdriver amd612_driver = {
	.name = "amd612",
	.create = amd612_create,
	.dump = amd612_dump,
	.destroy = amd612_destroy,
	.set_dirty = amd612_set_dirty,
	.read_and_clear_dirty = amd612_read_and_clear_dirty,
};
HREGISTER(amd612_driver)
