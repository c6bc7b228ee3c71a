/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Harness glue appended to one generic_pt format translation unit (7.3): the
 * kernel's fmt/iommu_<fmt>.c has been included verbatim just before this, so
 * the format's own entry decoding (pt_load_entry_raw, pt_table_pa,
 * pt_num_items_lg2) is in scope. Provides create/dump/destroy/dirty for the
 * harness the way the IOMMU drivers set the table up (intel/iommu.c,
 * amd/iommu.c, iommufd/selftest.c): pt_iommu_<fmt>_init, then the driver's
 * own pgsize_bitmap adjustment, iotlb_sync freeing the gathered pages.
 *
 * Expects: GLUE_NAME (string), GLUE_INIT (pt_iommu_<fmt>_init),
 * GLUE_ADDR_MASK (the format's address field), GLUE_CFG_SETUP(cfg, p).
 */
#include "harness.h"

#define GLUE_IOVA_TO_PHYS CONCATENATE(CONCATENATE(pt_iommu_, PTPFX), iova_to_phys)
#define GLUE_DIRTY CONCATENATE(CONCATENATE(pt_iommu_, PTPFX), read_and_clear_dirty)

struct glue_domain {
	struct pt_iommu_table t;
	unsigned int top_changes;
};

static const struct iommu_domain_ops glue_ops = {
	.iova_to_phys = &GLUE_IOVA_TO_PHYS,
	.iotlb_sync = hiotlb_sync,
};

static const struct iommu_dirty_ops glue_dirty_ops = {
	.read_and_clear_dirty = &GLUE_DIRTY,
};

static spinlock_t glue_lock;

static spinlock_t *glue_get_top_lock(struct pt_iommu *iommu_table)
{
	return &glue_lock;
}

/* amd/iommu.c amd_iommu_change_top: rewrites the DTEs; nothing to rewrite here. */
static void glue_change_top(struct pt_iommu *iommu_table, phys_addr_t top_paddr, unsigned int top_level)
{
	container_of(iommu_table, struct glue_domain, t.iommu)->top_changes++;
}

static const struct pt_iommu_driver_ops glue_driver_ops = {
	.change_top = glue_change_top,
	.get_top_lock = glue_get_top_lock,
};

static struct iommu_domain *glue_create(const struct hparams *p)
{
	struct glue_domain *g = calloc(1, sizeof(*g));
	struct pt_iommu_table_cfg cfg = {};
	int rc;

	cfg.common.hw_max_vasz_lg2 = p->vasz;
	cfg.common.hw_max_oasz_lg2 = p->oasz;
	cfg.common.features = p->feat;
	GLUE_CFG_SETUP(cfg, p);
	g->t.iommu.nid = NUMA_NO_NODE;
	g->t.iommu.driver_ops = &glue_driver_ops;
	rc = GLUE_INIT(&g->t, &cfg, GFP_KERNEL);
	if (rc) {
		free(g);
		return ERR_PTR(rc);
	}
	g->t.iommu.domain.type = __IOMMU_DOMAIN_PAGING;
	g->t.iommu.domain.ops = &glue_ops;
	g->t.iommu.domain.dirty_ops = &glue_dirty_ops;
	if (p->pgmask)
		g->t.iommu.domain.pgsize_bitmap &= p->pgmask;
#ifdef GLUE_POST_INIT
	GLUE_POST_INIT(&g->t.iommu.domain, p);
#endif
	return &g->t.iommu.domain;
}

static struct glue_domain *to_glue(struct iommu_domain *d)
{
	return container_of(d, struct glue_domain, t.iommu.domain);
}

static void glue_dump_level(struct pt_range *range, unsigned int level, struct pt_table_p *table)
{
	struct pt_state pts = pt_init(range, level, table);
	unsigned int n = 1u << pt_num_items_lg2(&pts);
	unsigned int i;

	hdump_table_begin(level, n);
	for (i = 0; i < n; i++) {
		pts.index = i;
		switch (pt_load_entry_raw(&pts)) {
		case PT_ENTRY_EMPTY:
			if (pts.entry)
				hdump_entry(i, pts.entry);
			break;
		case PT_ENTRY_OA:
			hdump_entry(i, pts.entry);
			break;
		case PT_ENTRY_TABLE:
			hdump_table_ptr(i, pts.entry & ~(u64)(GLUE_ADDR_MASK));
			glue_dump_level(range, level - 1, pt_table_ptr(&pts));
			break;
		}
	}
	hdump_table_end();
}

static void glue_dump(struct iommu_domain *d)
{
	struct glue_domain *g = to_glue(d);
	struct pt_range range = pt_top_range(common_from_iommu(&g->t.iommu));

	glue_dump_level(&range, range.top_level, range.top_table);
}

static void glue_destroy(struct iommu_domain *d)
{
	struct glue_domain *g = to_glue(d);

	pt_iommu_deinit(&g->t.iommu);
	free(g);
}

static int glue_set_dirty(struct iommu_domain *d, u64 iova)
{
	struct glue_domain *g = to_glue(d);

	if (!g->t.iommu.ops->set_dirty)
		return -EOPNOTSUPP;
	return g->t.iommu.ops->set_dirty(&g->t.iommu, iova);
}

/* iommufd's iopt_read_and_clear_dirty_data: read_and_clear_dirty, then iommu_iotlb_sync. */
static int glue_read_and_clear_dirty(struct iommu_domain *d, u64 iova, u64 size, unsigned long flags)
{
	struct iommu_iotlb_gather gather;
	struct iommu_dirty_bitmap dirty;
	int rc;

	iommu_dirty_bitmap_init(&dirty, (struct iova_bitmap *)1, &gather);
	rc = d->dirty_ops->read_and_clear_dirty(d, iova, size, flags, &dirty);
	iommu_iotlb_sync(d, &gather);
	return rc;
}

static const struct hdriver glue_driver = {
	.name = GLUE_NAME,
	.create = glue_create,
	.dump = glue_dump,
	.destroy = glue_destroy,
	.set_dirty = glue_set_dirty,
	.read_and_clear_dirty = glue_read_and_clear_dirty,
};
HREGISTER(glue_driver)
