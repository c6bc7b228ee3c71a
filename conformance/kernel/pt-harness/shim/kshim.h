/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The userspace stand-in for the kernel headers the page-table code includes
 * (every <linux/...> / <asm/...> header the harness build resolves lands here;
 * build.ts writes one forwarding header per name). It provides only what the
 * page-table code uses: types, bit helpers, READ_ONCE/WRITE_ONCE, cmpxchg
 * (single-threaded), WARN (counted, so a kernel WARN fails the vector), list
 * heads, and no-op tracing, locking and DMA cache maintenance. The page
 * allocator is in iommu-pages.h (a deterministic arena), the iommu core's
 * structures in iommu.h. The page-table logic itself is never written here.
 */
#ifndef KSHIM_H
#define KSHIM_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <errno.h>	/* the uapi numbers, which are the kernel's */
#undef __CONCAT

/* ---- kconfig ---- */
#define __ARG_PLACEHOLDER_1 0,
#define __take_second_arg(__ignored, val, ...) val
#define __is_defined(x) ___is_defined(x)
#define ___is_defined(val) ____is_defined(__ARG_PLACEHOLDER_##val)
#define ____is_defined(arg1_or_junk) __take_second_arg(arg1_or_junk 1, 0)
#define IS_ENABLED(option) __is_defined(option)
#define IS_BUILTIN(option) __is_defined(option)
#define CONFIG_IOMMU_API 1
#define CONFIG_IOMMU_PT 1
#define CONFIG_IOMMUFD_DRIVER 1
#define CONFIG_IOMMUFD_TEST 1
#define CONFIG_X86 1
#define CONFIG_64BIT 1
#define CONFIG_PHYS_ADDR_T_64BIT 1
#define CONFIG_ARCH_DMA_ADDR_T_64BIT 1

/* ---- types ---- */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef u8 __u8;
typedef u16 __u16;
typedef u32 __u32;
typedef u64 __u64;
typedef s64 __s64;
typedef u64 phys_addr_t;
typedef u64 dma_addr_t;
typedef u64 resource_size_t;
typedef unsigned int gfp_t;
typedef long ssize_t;
typedef unsigned long pgoff_t;
typedef struct { int counter; } atomic_t;
typedef struct { int dummy; } spinlock_t;
typedef struct { unsigned sequence; } seqcount_t;
typedef int irqreturn_t;

/* ---- compiler ---- */
#ifndef __always_inline
#define __always_inline inline __attribute__((__always_inline__))
#endif
#define noinline __attribute__((__noinline__))
#define __maybe_unused __attribute__((__unused__))
#define __always_unused __attribute__((__unused__))
#define __must_check __attribute__((__warn_unused_result__))
#define __init
#define __initdata
#define __initconst
#define __read_mostly
#define __force
#define __rcu
#define __iomem
#define __user
#define __packed __attribute__((__packed__))
#define __aligned(x) __attribute__((__aligned__(x)))
#define fallthrough __attribute__((__fallthrough__))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" ::: "memory")
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val) do { *(volatile __typeof__(x) *)&(x) = (val); } while (0)
#define __stringify_1(x...) #x
#define __stringify(x...) __stringify_1(x)
#define __CONCAT(a, b) a##b
#define CONCATENATE(a, b) __CONCAT(a, b)
#define ARRAY_SIZE(arr) (sizeof(arr) / sizeof((arr)[0]))
#define __same_type(a, b) __builtin_types_compatible_p(__typeof__(a), __typeof__(b))
#define static_assert(expr, ...) __static_assert(expr, ##__VA_ARGS__, #expr)
#define __static_assert(expr, msg, ...) _Static_assert(expr, msg)
#define BUILD_BUG_ON(cond) ((void)sizeof(char[1 - 2 * !!(cond)]))
#define BUILD_BUG() do { } while (0)
#define BUILD_BUG_ON_ZERO(e) (0)
#define __must_be_array(a) 0
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define container_of_const(ptr, type, member) container_of(ptr, type, member)
#define typeof_member(T, m) __typeof__(((T *)0)->m)
#define memset_after(obj, v, member) \
	memset((u8 *)(obj) + offsetofend(__typeof__(*(obj)), member), v, \
	       sizeof(*(obj)) - offsetofend(__typeof__(*(obj)), member))
#define offsetofend(TYPE, MEMBER) (offsetof(TYPE, MEMBER) + sizeof(((TYPE *)0)->MEMBER))
#define EXPORT_SYMBOL(x)
#define EXPORT_SYMBOL_GPL(x)
#define EXPORT_SYMBOL_NS_GPL(x, ns)
#define MODULE_LICENSE(x)
#define MODULE_DESCRIPTION(x)
#define MODULE_IMPORT_NS(x)
#define subsys_initcall(x)

/* ---- limits, bits ---- */
#define U8_MAX ((u8)~0U)
#define U16_MAX ((u16)~0U)
#define U32_MAX ((u32)~0U)
#define U64_MAX ((u64)~0ULL)
#define S64_MAX ((s64)(U64_MAX >> 1))
#define PHYS_ADDR_MAX (~(phys_addr_t)0)
#define BITS_PER_LONG 64
#define BITS_PER_LONG_LONG 64
#define BITS_PER_BYTE 8
#define BIT(nr) (1UL << (nr))
#define BIT_ULL(nr) (1ULL << (nr))
#define BIT_MASK(nr) (1UL << ((nr) % BITS_PER_LONG))
#define GENMASK(h, l) (((~0UL) - (1UL << (l)) + 1) & (~0UL >> (BITS_PER_LONG - 1 - (h))))
#define GENMASK_ULL(h, l) (((~0ULL) - (1ULL << (l)) + 1) & (~0ULL >> (BITS_PER_LONG_LONG - 1 - (h))))
#define GENMASK_U64(h, l) GENMASK_ULL(h, l)
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define ALIGN(x, a) (((x) + ((__typeof__(x))(a) - 1)) & ~((__typeof__(x))(a) - 1))
#define round_down(x, y) ((x) & ~((__typeof__(x))((y) - 1)))
#define round_up(x, y) ((((x) - 1) | ((__typeof__(x))((y) - 1))) + 1)
#define lower_32_bits(n) ((u32)((n) & 0xffffffff))
#define upper_32_bits(n) ((u32)(((n) >> 16) >> 16))

/* ---- bitfield.h (same definitions as include/linux/bitfield.h, without its checks) ---- */
#define __bf_shf(x) (__builtin_ffsll(x) - 1)
#define FIELD_PREP(_mask, _val) (((__typeof__(_mask))(_val) << __bf_shf(_mask)) & (_mask))
#define FIELD_GET(_mask, _reg) ((__typeof__(_mask))(((_reg) & (_mask)) >> __bf_shf(_mask)))
#define FIELD_MAX(_mask) ((__typeof__(_mask))((_mask) >> __bf_shf(_mask)))
#define FIELD_FIT(_mask, _val) (!((((__typeof__(_mask))(_val)) << __bf_shf(_mask)) & ~(_mask)))

/* ---- bitops ---- */
static inline unsigned long __ffs(unsigned long w) { return __builtin_ctzl(w); }
static inline unsigned long __fls(unsigned long w) { return 63 - __builtin_clzl(w); }
static inline unsigned long ffz(unsigned long w) { return __ffs(~w); }
#define ffs(x) __builtin_ffs(x)
static inline int fls(unsigned int x) { return x ? 32 - __builtin_clz(x) : 0; }
static inline int fls64(u64 x) { return x ? 64 - __builtin_clzll(x) : 0; }
static inline unsigned int __ffs64(u64 w) { return __builtin_ctzll(w); }
static inline int fls_long(unsigned long l) { return fls64(l); }
#define ilog2(n) ((n) ? (int)(63 - __builtin_clzll((u64)(n))) : -1)
#define is_power_of_2(n) ((n) != 0 && (((n) & ((n) - 1)) == 0))
static inline unsigned long roundup_pow_of_two(unsigned long n) { return 1UL << fls_long(n - 1); }
static inline unsigned long rounddown_pow_of_two(unsigned long n) { return 1UL << (fls_long(n) - 1); }
#define order_base_2(n) ((n) > 1 ? ilog2((n) - 1) + 1 : 0)
static inline void set_bit(long nr, volatile unsigned long *addr) { addr[nr / 64] |= 1UL << (nr % 64); }
static inline void clear_bit(long nr, volatile unsigned long *addr) { addr[nr / 64] &= ~(1UL << (nr % 64)); }
static inline bool test_bit(long nr, const volatile unsigned long *addr) { return (addr[nr / 64] >> (nr % 64)) & 1; }
static inline bool test_and_clear_bit(long nr, volatile unsigned long *addr)
{
	bool old = test_bit(nr, addr);
	clear_bit(nr, addr);
	return old;
}
static inline bool test_and_set_bit(long nr, volatile unsigned long *addr)
{
	bool old = test_bit(nr, addr);
	set_bit(nr, addr);
	return old;
}
#define for_each_set_bit(bit, addr, size) \
	for ((bit) = 0; (bit) < (size); (bit)++) if (test_bit(bit, addr))
static inline void memset64(u64 *s, u64 v, size_t count) { while (count--) *s++ = v; }

/* ---- minmax ---- */
#define min(a, b) ({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a < _b ? _a : _b; })
#define max(a, b) ({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a > _b ? _a : _b; })
#define min_t(t, a, b) ({ t _a = (a); t _b = (b); _a < _b ? _a : _b; })
#define max_t(t, a, b) ({ t _a = (a); t _b = (b); _a > _b ? _a : _b; })
#define clamp(v, lo, hi) min(max(v, lo), hi)
#define swap(a, b) do { __typeof__(a) __t = (a); (a) = (b); (b) = __t; } while (0)

/* ---- overflow ---- */
#define check_add_overflow(a, b, d) __builtin_add_overflow(a, b, d)
#define check_sub_overflow(a, b, d) __builtin_sub_overflow(a, b, d)
#define check_mul_overflow(a, b, d) __builtin_mul_overflow(a, b, d)

/* ---- errors ---- */
#define MAX_ERRNO 4095
#define ENOTSUPP 524
#define IS_ERR_VALUE(x) unlikely((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }
static inline bool IS_ERR_OR_NULL(const void *ptr) { return !ptr || IS_ERR(ptr); }

/* ---- WARN/BUG: counted; a kernel WARN in a vector run is reported with the op ---- */
extern int kshim_warns;
void kshim_bug(const char *file, int line) __attribute__((noreturn));
#define __WARN_ON_COUNT(c) ({ bool __c = !!(c); if (unlikely(__c)) kshim_warns++; unlikely(__c); })
#define WARN_ON(c) __WARN_ON_COUNT(c)
#define WARN_ON_ONCE(c) __WARN_ON_COUNT(c)
#define WARN(c, fmt...) __WARN_ON_COUNT(c)
#define WARN_ONCE(c, fmt...) __WARN_ON_COUNT(c)
#define BUG() kshim_bug(__FILE__, __LINE__)
#define BUG_ON(c) do { if (unlikely(c)) BUG(); } while (0)
#define VM_BUG_ON(c) BUG_ON(c)
#define might_sleep_if(c) do { } while (0)
#define might_sleep() do { } while (0)

/* ---- printk: silent ---- */
#define pr_fmt(fmt) fmt
static inline __attribute__((format(printf, 1, 2))) int kshim_printk(const char *fmt, ...) { (void)fmt; return 0; }
#define printk(fmt...) kshim_printk(fmt)
#define pr_err(fmt...) kshim_printk(fmt)
#define pr_err_ratelimited(fmt...) kshim_printk(fmt)
#define pr_warn(fmt...) kshim_printk(fmt)
#define pr_warn_once(fmt...) kshim_printk(fmt)
#define pr_info(fmt...) kshim_printk(fmt)
#define pr_notice(fmt...) kshim_printk(fmt)
#define pr_crit(fmt...) kshim_printk(fmt)
#define pr_debug(fmt...) kshim_printk(fmt)
#define dev_err(dev, fmt...) kshim_printk(fmt)
#define dev_warn(dev, fmt...) kshim_printk(fmt)
#define trace_map(iova, paddr, size) do { } while (0)
#define trace_unmap(iova, size, unmapped) do { } while (0)

/* ---- atomics (the harness is single threaded) ---- */
#define cmpxchg64(ptr, o, n) ({ __typeof__(*(ptr)) __o = (o), __cur = *(ptr); if (__cur == __o) *(ptr) = (n); __cur; })
#define cmpxchg64_relaxed(ptr, o, n) cmpxchg64(ptr, o, n)
#define cmpxchg64_local(ptr, o, n) cmpxchg64(ptr, o, n)
#define cmpxchg(ptr, o, n) cmpxchg64(ptr, o, n)
#define cmpxchg_relaxed(ptr, o, n) cmpxchg64(ptr, o, n)
#define try_cmpxchg64(ptr, po, n) ({ __typeof__(*(ptr)) __cur = *(ptr); bool __ok = __cur == *(po); if (__ok) *(ptr) = (n); else *(po) = __cur; __ok; })
#define try_cmpxchg64_local(ptr, po, n) try_cmpxchg64(ptr, po, n)
#define try_cmpxchg64_release(ptr, po, n) try_cmpxchg64(ptr, po, n)
#define try_cmpxchg(ptr, po, n) try_cmpxchg64(ptr, po, n)
#define try_cmpxchg_release(ptr, po, n) try_cmpxchg64(ptr, po, n)
#define smp_store_release(p, v) WRITE_ONCE(*(p), v)
#define smp_load_acquire(p) READ_ONCE(*(p))
#define wmb() barrier()
#define dma_wmb() barrier()
#define smp_wmb() barrier()
#define smp_mb() barrier()
#define atomic_read(v) ((v)->counter)
#define atomic_set(v, i) ((v)->counter = (i))

/* ---- locking (single threaded) ---- */
#define spin_lock_init(l) do { (void)(l); } while (0)
#define spin_lock(l) do { (void)(l); } while (0)
#define spin_unlock(l) do { (void)(l); } while (0)
#define spin_lock_irqsave(l, f) do { (void)(l); (f) = 0; } while (0)
#define spin_unlock_irqrestore(l, f) do { (void)(l); (void)(f); } while (0)
#define assert_spin_locked(l) do { } while (0)
#define lockdep_assert_held(l) do { } while (0)
#define seqcount_init(s) do { (s)->sequence = 0; } while (0)
#define read_seqcount_begin(s) ((s)->sequence)
#define read_seqcount_retry(s, start) ((s)->sequence != (start))
#define write_seqcount_begin(s) do { (s)->sequence++; } while (0)
#define write_seqcount_end(s) do { (s)->sequence++; } while (0)

/* ---- lists (include/linux/list.h semantics) ---- */
struct list_head {
	struct list_head *next, *prev;
};
#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)
static inline void INIT_LIST_HEAD(struct list_head *list) { list->next = list; list->prev = list; }
static inline void __list_add(struct list_head *n, struct list_head *prev, struct list_head *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}
static inline void list_add(struct list_head *n, struct list_head *head) { __list_add(n, head, head->next); }
static inline void list_add_tail(struct list_head *n, struct list_head *head) { __list_add(n, head->prev, head); }
static inline void list_del(struct list_head *entry)
{
	entry->next->prev = entry->prev;
	entry->prev->next = entry->next;
	entry->next = entry->prev = NULL;
}
static inline int list_empty(const struct list_head *head) { return head->next == head; }
static inline void __list_splice(const struct list_head *list, struct list_head *prev, struct list_head *next)
{
	struct list_head *first = list->next, *last = list->prev;
	first->prev = prev;
	prev->next = first;
	last->next = next;
	next->prev = last;
}
static inline void list_splice(const struct list_head *list, struct list_head *head)
{
	if (!list_empty(list))
		__list_splice(list, head, head->next);
}
static inline void list_splice_init(struct list_head *list, struct list_head *head)
{
	if (!list_empty(list)) {
		__list_splice(list, head, head->next);
		INIT_LIST_HEAD(list);
	}
}
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(ptr, type, member) list_entry((ptr)->next, type, member)
#define list_for_each_entry(pos, head, member)                                      \
	for (pos = list_entry((head)->next, __typeof__(*pos), member); &pos->member != (head); \
	     pos = list_entry(pos->member.next, __typeof__(*pos), member))

/* ---- memory: identity physical = virtual; table pages come from the arena in iommu-pages.h ---- */
#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define PAGE_ALIGN(addr) ALIGN(addr, PAGE_SIZE)
#define NUMA_NO_NODE (-1)
#define GFP_KERNEL 0x1u
#define GFP_ATOMIC 0x2u
#define GFP_NOWAIT 0x4u
#define __GFP_ZERO 0x100u
#define __GFP_HIGHMEM 0x200u
#define __GFP_COMP 0x400u
#define __GFP_DMA 0x800u
#define __GFP_DMA32 0x1000u
#define gfpflags_allow_blocking(g) (0)
struct page {
	struct list_head lru;
	void *virt;
	unsigned int order;
	bool in_use;
};
struct folio;
struct device { int node; };
struct mm_struct;
struct iova_bitmap;
struct scatterlist;
struct iommu_ops;
struct iopf_group;
struct iommu_group;
struct iommu_fwspec;
void *kshim_phys_to_virt(phys_addr_t pa);
phys_addr_t kshim_virt_to_phys(const void *v);
struct page *kshim_virt_to_page(const void *v);
#define virt_to_phys(v) kshim_virt_to_phys(v)
#define phys_to_virt(pa) kshim_phys_to_virt(pa)
#define __pa(v) kshim_virt_to_phys(v)
#define __va(pa) kshim_phys_to_virt(pa)
#define virt_to_page(v) kshim_virt_to_page(v)
#define page_address(pg) ((pg)->virt)
#define pfn_to_page(pfn) kshim_virt_to_page(kshim_phys_to_virt((phys_addr_t)(pfn) << PAGE_SHIFT))
#define page_to_pfn(pg) (kshim_virt_to_phys((pg)->virt) >> PAGE_SHIFT)
#define dev_to_node(dev) NUMA_NO_NODE
#define set_dev_node(dev, n) do { } while (0)
static inline int get_order(unsigned long size)
{
	int order = 0;
	size = (size - 1) >> PAGE_SHIFT;
	while (size) {
		order++;
		size >>= 1;
	}
	return order;
}
#define kmalloc(size, gfp) calloc(1, size)
#define kzalloc(size, gfp) calloc(1, size)
#define kfree(p) free(p)
#define kmalloc_obj(obj, ...) calloc(1, sizeof(obj))
#define kzalloc_obj(obj, ...) calloc(1, sizeof(obj))

/* ---- mem_encrypt: no SME ---- */
#define __sme_set(x) (x)
#define __sme_clr(x) (x)
#define sme_me_mask 0ULL

/* ---- DMA cache maintenance: the harness walker is coherent ---- */
enum dma_data_direction { DMA_BIDIRECTIONAL = 0, DMA_TO_DEVICE = 1, DMA_FROM_DEVICE = 2, DMA_NONE = 3 };
#define dma_sync_single_for_device(dev, addr, size, dir) do { (void)(dev); } while (0)
#define dma_map_single(dev, p, size, dir) ((dma_addr_t)kshim_virt_to_phys(p))
#define dma_mapping_error(dev, addr) 0
#define dma_unmap_single(dev, addr, size, dir) do { } while (0)
#define clflush_cache_range(addr, size) do { } while (0)

/* ---- sizes.h ---- */
#define SZ_64 0x00000040
#define SZ_4K 0x00001000
#define SZ_8K 0x00002000
#define SZ_16K 0x00004000
#define SZ_32K 0x00008000
#define SZ_64K 0x00010000
#define SZ_1M 0x00100000
#define SZ_2M 0x00200000
#define SZ_4M 0x00400000
#define SZ_32M 0x02000000
#define SZ_512M 0x20000000
#define SZ_1G 0x40000000
#define SZ_2G 0x0000000080000000ULL
#define SZ_4G 0x0000000100000000ULL
#define SZ_512G 0x0000008000000000ULL
#define SZ_1T 0x0000010000000000ULL
#define SZ_4T 0x0000040000000000ULL

#endif /* KSHIM_H */
