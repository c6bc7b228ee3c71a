// SPDX-License-Identifier: GPL-2.0-only
/*
 * The page-table harness driver: reads commands on stdin, runs them through
 * the kernel's page-table code (linked in from fmt_*.c and core_*.c) and
 * prints the results on stdout, one response per command:
 *
 *   new <driver> key=value...   -> "ok pgsizes=<hex> aperture=<hex>-<hex> warn=<n>" | "err <errno>"
 *   map <iova> <pa> <size> <prot>  (iommu_map)   -> "ret <int> warn=<n>"
 *   unmap <iova> <size>            (iommu_unmap) -> "ret <hex> warn=<n>"
 *   phys <iova>                    (iova_to_phys)-> "ret <hex> warn=<n>"
 *   setdirty <iova>                              -> "ret <int> warn=<n>"
 *   dirty <iova> <size> <flags>  (read_and_clear_dirty)
 *                                -> "rec <iova> <len>"... then "ret <int> warn=<n>"
 *   dump                         -> canonical table lines, then "pages <n>" and "end"
 *   free                         -> "ok"
 *
 * Numbers are hexadecimal with 0x (prot and flags decimal). The table pages
 * come from an arena at a fixed address, so runs are deterministic.
 */
#include "harness.h"
#include <linux/iommu.h>
#include <sys/mman.h>
#include <signal.h>
#include <unistd.h>

int kshim_warns;

void kshim_bug(const char *file, int line)
{
	fprintf(stdout, "bug %s:%d\n", file, line);
	fflush(stdout);
	exit(3);
}

/* ------------------------------------------------------------ the arena */

#define ARENA_BASE 0x40000000UL
#define ARENA_SIZE (1UL << 30)
#define ARENA_PAGES (ARENA_SIZE >> PAGE_SHIFT)
#define MAX_ORDER 6

static u8 *arena;
static struct page *pages;
static unsigned long bump;
static unsigned long freelist[MAX_ORDER + 1][4096];
static unsigned int nfree[MAX_ORDER + 1];
static unsigned long live_pages;

static void arena_init(void)
{
	arena = mmap((void *)ARENA_BASE, ARENA_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (arena != (void *)ARENA_BASE) {
		fprintf(stdout, "fatal cannot map the arena at %#lx\n", ARENA_BASE);
		exit(2);
	}
	pages = calloc(ARENA_PAGES, sizeof(*pages));
	bump = 1; /* page 0 stays unused */
}

static void arena_reset(void)
{
	munmap(arena, ARENA_SIZE);
	free(pages);
	memset(nfree, 0, sizeof(nfree));
	live_pages = 0;
	arena_init();
}

void *kshim_alloc_table(size_t size)
{
	unsigned int order = 0;
	unsigned long pfn;

	while ((PAGE_SIZE << order) < size)
		order++;
	if (order > MAX_ORDER)
		return NULL;
	if (nfree[order]) {
		pfn = freelist[order][--nfree[order]];
	} else {
		unsigned long n = 1UL << order;
		unsigned long aligned = (bump + n - 1) & ~(n - 1);

		if (aligned + n > ARENA_PAGES)
			return NULL;
		bump = aligned + n;
		pfn = aligned;
	}
	memset(arena + (pfn << PAGE_SHIFT), 0, PAGE_SIZE << order);
	pages[pfn].virt = arena + (pfn << PAGE_SHIFT);
	pages[pfn].order = order;
	pages[pfn].in_use = true;
	live_pages += 1UL << order;
	return pages[pfn].virt;
}

void kshim_free_table(void *virt)
{
	unsigned long pfn = ((u8 *)virt - arena) >> PAGE_SHIFT;
	struct page *p = &pages[pfn];

	if ((u8 *)virt < arena || pfn >= ARENA_PAGES || !p->in_use || p->virt != virt) {
		fprintf(stdout, "fatal free of a non-table %p\n", virt);
		exit(2);
	}
	p->in_use = false;
	live_pages -= 1UL << p->order;
	if (nfree[p->order] >= 4096) {
		fprintf(stdout, "fatal arena free list full\n");
		exit(2);
	}
	freelist[p->order][nfree[p->order]++] = pfn;
}

/*
 * Addresses outside the arena (output addresses of leaves) translate into a
 * reserved PROT_NONE region: computing such a pointer is harmless (the kernel
 * does it, e.g. free_clear_pte), dereferencing it faults and the harness stops
 * with "fatal" instead of touching its own memory.
 */
#define POISON_SIZE (1UL << 30)
static u8 *poison;

static void segv(int sig)
{
	static const char msg[] = "fatal the kernel code dereferenced a non-table address\n";

	(void)sig;
	fflush(stdout);
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(4);
	_exit(2);
}

void *kshim_phys_to_virt(phys_addr_t pa)
{
	if (pa < ARENA_BASE || pa >= ARENA_BASE + ARENA_SIZE)
		return poison + (pa % POISON_SIZE);
	return arena + (pa - ARENA_BASE);
}

phys_addr_t kshim_virt_to_phys(const void *v)
{
	return (phys_addr_t)(uintptr_t)v;
}

struct page *kshim_virt_to_page(const void *v)
{
	unsigned long pfn = ((const u8 *)v - arena) >> PAGE_SHIFT;

	if ((const u8 *)v < arena || pfn >= ARENA_PAGES) {
		fprintf(stdout, "fatal virt_to_page(%p) outside the table arena\n", v);
		exit(2);
	}
	if (!pages[pfn].virt)
		pages[pfn].virt = arena + (pfn << PAGE_SHIFT);
	return &pages[pfn];
}

/* ------------------------------------------------------------ dirty bitmap */

void iova_bitmap_set(struct iova_bitmap *bitmap, unsigned long iova, size_t length)
{
	(void)bitmap;
	printf("rec %#lx %#zx\n", iova, length);
}

/* ------------------------------------------------------------ dump */

static unsigned int run_index, run_count;
static u64 run_first, run_stride;

static void run_flush(void)
{
	if (run_count == 1)
		printf("%u 0x%llx\n", run_index, (unsigned long long)run_first);
	else if (run_count > 1)
		printf("%u*%u 0x%llx 0x%llx\n", run_index, run_count, (unsigned long long)run_first,
		       (unsigned long long)run_stride);
	run_count = 0;
}

void hdump_table_begin(unsigned int level, unsigned int nitems)
{
	run_flush();
	printf("L%u N%u\n", level, nitems);
}

void hdump_entry(unsigned int index, u64 value)
{
	if (run_count >= 1 && index == run_index + run_count) {
		u64 last = run_first + run_stride * (run_count - 1);

		if (run_count == 1) {
			run_stride = value - run_first;
			run_count = 2;
			return;
		}
		if (value - last == run_stride) {
			run_count++;
			return;
		}
	}
	run_flush();
	run_index = index;
	run_first = value;
	run_stride = 0;
	run_count = 1;
}

void hdump_table_ptr(unsigned int index, u64 value_without_address)
{
	run_flush();
	printf("%u T 0x%llx\n", index, (unsigned long long)value_without_address);
}

void hdump_table_end(void)
{
	run_flush();
	printf("E\n");
}

/* ------------------------------------------------------------ drivers */

static const struct hdriver *drivers[16];
static unsigned int ndrivers;

void hregister(const struct hdriver *drv)
{
	drivers[ndrivers++] = drv;
}

static u64 num(const char *s)
{
	return strtoull(s, NULL, 0);
}

static int parse_params(char *rest, struct hparams *p)
{
	char *tok;

	memset(p, 0, sizeof(*p));
	for (tok = strtok(rest, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
		char *eq = strchr(tok, '=');
		u64 v;

		if (!eq)
			return -1;
		*eq = 0;
		v = num(eq + 1);
#define P(name) if (!strcmp(tok, #name)) { p->name = v; continue; }
		P(top) P(vasz) P(oasz) P(feat) P(pgmask) P(pgsizes) P(ias) P(oas) P(stage) P(quirks) P(huge) P(sp) P(fl) P(snp) P(np)
#undef P
		return -1;
	}
	return 0;
}

int main(void)
{
	char line[4096];
	const struct hdriver *drv = NULL;
	struct iommu_domain *dom = NULL;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	poison = mmap(NULL, POISON_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	signal(SIGSEGV, segv);
	arena_init();
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32];
		int off = 0;

		if (sscanf(line, "%31s %n", cmd, &off) < 1)
			continue;
		kshim_warns = 0;
		if (!strcmp(cmd, "new")) {
			char name[64];
			int off2 = 0;
			struct hparams p;
			unsigned int i;

			if (dom) {
				drv->destroy(dom);
				dom = NULL;
			}
			arena_reset();
			if (sscanf(line + off, "%63s %n", name, &off2) < 1 || parse_params(line + off + off2, &p)) {
				printf("fatal bad new: %s", line);
				return 2;
			}
			drv = NULL;
			for (i = 0; i < ndrivers; i++)
				if (!strcmp(drivers[i]->name, name))
					drv = drivers[i];
			if (!drv) {
				printf("fatal no driver %s\n", name);
				return 2;
			}
			dom = drv->create(&p);
			if (IS_ERR_OR_NULL(dom)) {
				printf("err %ld\n", dom ? PTR_ERR(dom) : -ENOMEM);
				dom = NULL;
			} else {
				printf("ok pgsizes=%#lx aperture=%#llx-%#llx warn=%d\n", dom->pgsize_bitmap,
				       (unsigned long long)dom->geometry.aperture_start,
				       (unsigned long long)dom->geometry.aperture_end, kshim_warns);
			}
		} else if (!dom) {
			printf("fatal no domain for: %s", line);
			return 2;
		} else if (!strcmp(cmd, "map")) {
			char a[32], b[32], c[32];
			int prot;

			if (sscanf(line + off, "%31s %31s %31s %d", a, b, c, &prot) != 4)
				return 2;
			int r = iommu_map(dom, num(a), num(b), num(c), prot, GFP_KERNEL);
			printf("ret %d warn=%d\n", r, kshim_warns);
		} else if (!strcmp(cmd, "unmap")) {
			char a[32], b[32];

			if (sscanf(line + off, "%31s %31s", a, b) != 2)
				return 2;
			size_t r = iommu_unmap(dom, num(a), num(b));
			printf("ret %#zx warn=%d\n", r, kshim_warns);
		} else if (!strcmp(cmd, "phys")) {
			phys_addr_t r = dom->ops->iova_to_phys(dom, num(line + off));
			printf("ret %#llx warn=%d\n", (unsigned long long)r, kshim_warns);
		} else if (!strcmp(cmd, "setdirty")) {
			int r = drv->set_dirty ? drv->set_dirty(dom, num(line + off)) : -EOPNOTSUPP;
			printf("ret %d warn=%d\n", r, kshim_warns);
		} else if (!strcmp(cmd, "dirty")) {
			char a[32], b[32];
			unsigned long flags;

			if (sscanf(line + off, "%31s %31s %lu", a, b, &flags) != 3)
				return 2;
			int r = drv->read_and_clear_dirty ? drv->read_and_clear_dirty(dom, num(a), num(b), flags) : -EOPNOTSUPP;
			printf("ret %d warn=%d\n", r, kshim_warns);
		} else if (!strcmp(cmd, "dump")) {
			drv->dump(dom);
			printf("pages %lu\nend\n", live_pages);
		} else if (!strcmp(cmd, "free")) {
			drv->destroy(dom);
			dom = NULL;
			printf("ok pages=%lu\n", live_pages);
		} else {
			printf("fatal unknown command: %s", line);
			return 2;
		}
		fflush(stdout);
	}
	return 0;
}
