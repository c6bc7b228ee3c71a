// SPDX-License-Identifier: MIT
/*
 * iommufd-spec kernel adapter: serves the adapter contract's JSON-lines
 * protocol (spec/contract/ADAPTER.md; kernel specifics in conformance/kernel/README.md)
 * inside a QEMU guest, with real system calls against the running kernel.
 *
 *   usage: iommufd-adapter [CHANNEL]     CHANNEL = the virtio-serial port the
 *                                        guest's /init found (/dev/vportNpM), a
 *                                        tty (default /dev/ttyS1, set raw here),
 *                                        or "-" for stdin/stdout (host testing)
 *
 * The adapter exits on "bye" (or "shutdown") or at end of input; /init then
 * powers the VM off.
 *
 * Struct arguments arrive already encoded: the host lowers {kind:"struct"} to
 * {kind:"raw", bytes, ptrs:[{offset, data|room, ptrs?}]} with the spec's codec;
 * this program only places pointer targets in scratch memory, patches their
 * addresses into the bytes, issues the ioctl and returns bytes and targets.
 * Everything iommufd (IOMMU_TEST_CMD included) goes through ioctl(2).
 *
 * Built statically by scripts/kernel/guest.sh against the profile's exported
 * headers and drivers/iommu/iommufd/iommufd_test.h; PROFILE is set with -D.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>
#include <linux/capability.h>

#include "json.h"
#include "names.h"

#ifndef PROFILE
#error "build with -DPROFILE=\"6.12\" or \"7.3\""
#endif

#define CONTRACT_VERSION 1
#define MAX_BUFFERS 65536 /* handles restart only at reset; BSS costs nothing until used */
#define MAX_REQUEST_ID "9007199254740991" /* 2^53 - 1: every JSON parser reads ids up to it exactly */
/* drivers/iommu/iommufd/selftest.c: size_t iommufd_test_memory_limit = 65536 (both profiles). */
#define MOCK_DEFAULT_MEMORY_LIMIT 65536
#define MAX_PTR_DEPTH 4
#define READY_LINE "{\"event\":\"ready\",\"profile\":\"" PROFILE "\"}\n"

static long page_size;
static int chan_in = -1, chan_out = -1;
static int proc_mem_fd = -1;
static void *fault_page;       /* PROT_NONE: the 'fault' argument kind */
static unsigned int pending_fail_nth;
static int fail_nth_fd = -1;   /* /proc/self/task/<tid>/fail-nth, opened on the first fail_nth */
static bool shutting_down;
static bool hello_done;

struct buffer {
	unsigned char *va;
	size_t length;
	bool live;
	unsigned char *gone; /* per page: taken away by mem_unmap (its VA stays reserved) */
};
static struct buffer buffers[MAX_BUFFERS + 1]; /* handle 0 is never issued */
static unsigned int nr_buffers;

/* A protocol error; `field` is the dotted path of the offending request field. */
struct perr {
	const char *code;
	char message[256];
	char field[96];
};

static int fail_req(struct perr *e, const char *code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_req(struct perr *e, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* -- request field accessors ------------------------------------------------ */

/* Integers arrive as JSON numbers or, for u64, decimal strings. */
static int get_u64(const struct json *req, const char *key, uint64_t *out, bool required,
		   struct perr *e)
{
	const struct json *v = json_get(req, key);
	char *end;

	if (!v) {
		if (required)
			return fail_req(e, "bad-request", key, "missing field '%s'", key);
		return 1;
	}
	if (v->type != JSON_NUMBER && v->type != JSON_STRING)
		return fail_req(e, "bad-request", key, "'%s' must be an integer or a decimal string", key);
	errno = 0;
	if (v->text[0] == '-') {
		long long s = strtoll(v->text, &end, 0);
		*out = (uint64_t)s;
	} else {
		*out = strtoull(v->text, &end, 0);
	}
	if (errno || *end || end == v->text)
		return fail_req(e, "bad-request", key, "'%s' is not an integer: '%s'", key, v->text);
	return 0;
}

static int get_int(const struct json *req, const char *key, long long *out, bool required,
		   struct perr *e)
{
	uint64_t u;
	int rc = get_u64(req, key, &u, required, e);

	if (rc == 0)
		*out = (long long)u;
	return rc;
}

static int get_bytes(const struct json *v, const char *field, unsigned char **out, size_t *len,
		     struct perr *e)
{
	const struct json *b = json_get(v, "b64");

	if (!b || b->type != JSON_STRING)
		return fail_req(e, "bad-request", field, "bytes must be {\"b64\": \"...\"}");
	*out = b64_decode(b->text, b->text_len, len);
	if (!*out)
		return fail_req(e, "bad-request", field, "invalid base64");
	return 0;
}

static const char *get_str(const struct json *req, const char *key)
{
	const struct json *v = json_get(req, key);

	return v && v->type == JSON_STRING ? v->text : NULL;
}

static bool is_reserved_fd(long long fd)
{
	return fd == chan_in || fd == chan_out || fd == proc_mem_fd || (fail_nth_fd >= 0 && fd == fail_nth_fd) || (fd >= 0 && fd <= 2);
}

static int get_fd(const struct json *req, long long *fd, struct perr *e)
{
	if (get_int(req, "fd", fd, true, e))
		return -1;
	if (is_reserved_fd(*fd))
		return fail_req(e, "bad-handle", "fd", "fd %lld belongs to the adapter itself", *fd);
	return 0;
}

/* -- scratch memory with a guard page -------------------------------------------
 * Argument buffers and pointer targets end right before a PROT_NONE page, so a
 * kernel access past what the request provided faults (EFAULT) instead of
 * silently reading or corrupting the adapter's heap.
 */
struct scratch {
	void *map;
	size_t map_len;
	unsigned char *p;
	size_t len;
};

static int scratch_alloc(struct scratch *s, const void *data, size_t len)
{
	size_t rounded = (len + 7) & ~(size_t)7;
	size_t body = (rounded + (size_t)page_size - 1) & ~((size_t)page_size - 1);

	if (body == 0)
		body = (size_t)page_size;
	s->map_len = body + (size_t)page_size;
	s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->map == MAP_FAILED)
		return -1;
	mprotect((char *)s->map + body, (size_t)page_size, PROT_NONE);
	s->p = (unsigned char *)s->map + body - rounded;
	s->len = len;
	if (data && len)
		memcpy(s->p, data, len);
	return 0;
}

static void scratch_free(struct scratch *s)
{
	if (s->map && s->map != MAP_FAILED)
		munmap(s->map, s->map_len);
	s->map = NULL;
}

/* -- ioctl with pointer patches ------------------------------------------------ */

struct patch {
	size_t offset;
	struct scratch mem;
	struct patch *kids;
	size_t nkids;
};

static void patches_free(struct patch *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		patches_free(p[i].kids, p[i].nkids);
		scratch_free(&p[i].mem);
	}
	free(p);
}

/*
 * Places each pointer target ({offset, data|room, ptrs?}) in scratch memory and
 * writes its address (u64, little endian) at `offset` of the parent bytes.
 */
static int patches_build(const struct json *list, unsigned char *parent, size_t parent_len,
			 const char *field, int depth, struct patch **out, size_t *nout,
			 struct perr *e)
{
	struct patch *p;
	char sub[80], at[96];

	*out = NULL;
	*nout = 0;
	if (!list)
		return 0;
	if (list->type != JSON_ARRAY)
		return fail_req(e, "bad-request", field, "ptrs must be an array");
	if (depth > MAX_PTR_DEPTH)
		return fail_req(e, "bad-request", field, "pointer patches nest too deep");
	p = calloc(list->n ? list->n : 1, sizeof(*p));
	*out = p;
	*nout = list->n;
	for (size_t i = 0; i < list->n; i++) {
		const struct json *item = &list->items[i];
		const struct json *data = json_get(item, "data");
		unsigned char *bytes = NULL;
		size_t len = 0;
		uint64_t off, room, addr;

		snprintf(sub, sizeof(sub), "%s.%zu", field, i);
		/* The field is named as the reference names it: arg.ptrs.<i>.offset. */
		snprintf(at, sizeof(at), "%s.offset", sub);
		if (get_u64(item, "offset", &off, true, e)) {
			snprintf(e->field, sizeof(e->field), "%s", at);
			return -1;
		}
		if (off + 8 > parent_len)
			return fail_req(e, "bad-request", at, "pointer offset %llu does not fit in %zu bytes",
					(unsigned long long)off, parent_len);
		if (data) {
			if (get_bytes(data, sub, &bytes, &len, e))
				return -1;
		} else if (get_u64(item, "room", &room, true, e) == 0) {
			len = room;
		} else {
			return fail_req(e, "bad-request", sub, "a pointer patch needs 'data' or 'room'");
		}
		if (len > (64u << 20)) {
			free(bytes);
			return fail_req(e, "bad-request", sub, "pointer target of %zu bytes is too large", len);
		}
		p[i].offset = off;
		if (scratch_alloc(&p[i].mem, bytes, len)) {
			free(bytes);
			return fail_req(e, "internal", sub, "mmap of scratch memory failed: %s", strerror(errno));
		}
		free(bytes);
		addr = (uint64_t)(uintptr_t)p[i].mem.p;
		memcpy(parent + off, &addr, 8);
		if (patches_build(json_get(item, "ptrs"), p[i].mem.p, p[i].mem.len, sub, depth + 1,
				  &p[i].kids, &p[i].nkids, e))
			return -1;
	}
	return 0;
}

static void patches_emit(struct sbuf *b, const struct patch *p, size_t n)
{
	sb_puts(b, "[");
	for (size_t i = 0; i < n; i++) {
		sb_puts(b, i ? ",{\"data\":" : "{\"data\":");
		sb_b64obj(b, p[i].mem.p, p[i].mem.len);
		if (p[i].nkids) {
			sb_puts(b, ",\"ptrs\":");
			patches_emit(b, p[i].kids, p[i].nkids);
		}
		sb_puts(b, "}");
	}
	sb_puts(b, "]");
}

static int resolve_cmd(const struct json *req, unsigned long *request, struct perr *e)
{
	const struct json *v = json_get(req, "cmd");
	uint64_t n;

	if (!v)
		return fail_req(e, "bad-request", "cmd", "missing field 'cmd'");
	if (v->type == JSON_STRING && (v->text[0] < '0' || v->text[0] > '9')) {
		for (size_t i = 0; i < ARRAY_LEN(cmd_names); i++) {
			/* An unsupported command is executed anyway (ADAPTER.md §4 rule 4). */
			if (strcmp(cmd_names[i].name, v->text))
				continue;
			*request = cmd_names[i].request;
			return 0;
		}
		return fail_req(e, "bad-request", "cmd",
				"'%s' is not a command of the %s headers (send the request number to issue it anyway)",
				v->text, PROFILE);
	}
	if (get_u64(req, "cmd", &n, true, e))
		return -1;
	*request = (unsigned long)n;
	return 0;
}

/* Arms /proc/self/task/<tid>/fail-nth right before the syscall, as the kernel's
 * iommufd_fail_nth.c does; nothing may allocate in between. */

static void fail_nth_arm(void)
{
	char buf[32];
	int n;

	if (!pending_fail_nth)
		return;
	n = snprintf(buf, sizeof(buf), "%u", pending_fail_nth);
	if (pwrite(fail_nth_fd, buf, (size_t)n, 0) != n)
		fprintf(stderr, "adapter: arming fail-nth failed: %s\n", strerror(errno));
}

static void fail_nth_disarm(void)
{
	if (!pending_fail_nth)
		return;
	/* Disabling can itself be failed by the injector (see iommufd_fail_nth.c). */
	if (pwrite(fail_nth_fd, "0", 1, 0) != 1)
		(void)!pwrite(fail_nth_fd, "0", 1, 0);
	pending_fail_nth = 0;
}

static int op_ioctl(const struct json *req, struct sbuf *res, struct perr *e)
{
	const struct json *arg = json_get(req, "arg");
	const char *kind = get_str(arg, "kind");
	unsigned long request = 0;
	long long fd;
	struct scratch argbuf = { 0 };
	const struct json *ro;
	struct patch *patches = NULL;
	size_t npatches = 0;
	unsigned long argval = 0;
	long ret;
	int err;

	if (get_fd(req, &fd, e) || resolve_cmd(req, &request, e))
		return -1;
	if (!kind)
		return fail_req(e, "bad-request", "arg.kind", "missing arg.kind");
	if (!strcmp(kind, "raw")) {
		unsigned char *bytes;
		size_t len;
		const struct json *b = json_get(arg, "bytes");

		if (!b)
			return fail_req(e, "bad-request", "arg.bytes", "missing arg.bytes");
		if (get_bytes(b, "arg.bytes", &bytes, &len, e))
			return -1;
		if (scratch_alloc(&argbuf, bytes, len)) {
			free(bytes);
			return fail_req(e, "internal", "arg.bytes", "mmap failed: %s", strerror(errno));
		}
		free(bytes);
		if (patches_build(json_get(arg, "ptrs"), argbuf.p, argbuf.len, "arg.ptrs", 0, &patches,
				  &npatches, e)) {
			patches_free(patches, npatches);
			scratch_free(&argbuf);
			return -1;
		}
		/* readOnly (ADAPTER.md §3.3): the kernel may read the argument, every copy back faults. */
		ro = json_get(arg, "readOnly");
		if (ro && ro->type != JSON_BOOL) {
			patches_free(patches, npatches);
			scratch_free(&argbuf);
			return fail_req(e, "bad-request", "arg.readOnly", "readOnly must be a boolean");
		}
		if (ro && ro->boolean && mprotect(argbuf.map, argbuf.map_len - (size_t)page_size, PROT_READ)) {
			patches_free(patches, npatches);
			scratch_free(&argbuf);
			return fail_req(e, "internal", "arg.readOnly", "mprotect(PROT_READ) failed: %s", strerror(errno));
		}
		argval = (unsigned long)argbuf.p;
	} else if (!strcmp(kind, "int")) {
		uint64_t v;

		if (get_u64(arg, "value", &v, true, e)) {
			snprintf(e->field, sizeof(e->field), "arg.value");
			return -1;
		}
		argval = (unsigned long)v;
	} else if (!strcmp(kind, "null")) {
		argval = 0;
	} else if (!strcmp(kind, "fault")) {
		argval = (unsigned long)fault_page;
	} else if (!strcmp(kind, "struct")) {
		return fail_req(e, "bad-request", "arg.kind",
				"struct arguments are lowered to raw bytes plus pointer patches by the host lane driver (conformance/kernel/README.md)");
	} else {
		return fail_req(e, "bad-request", "arg.kind", "unknown argument kind '%s'", kind);
	}

	fail_nth_arm();
	ret = ioctl((int)fd, request, argval);
	err = ret < 0 ? errno : 0;
	fail_nth_disarm();

	sb_printf(res, "{\"ret\":%ld,\"errno\":%d", ret < 0 ? -1L : ret, err);
	if (argbuf.p) {
		sb_puts(res, ",\"bytes\":");
		sb_b64obj(res, argbuf.p, argbuf.len);
		if (npatches) {
			sb_puts(res, ",\"ptrs\":");
			patches_emit(res, patches, npatches);
		}
	}
	sb_puts(res, "}");
	patches_free(patches, npatches);
	scratch_free(&argbuf);
	return 0;
}

/* -- files ---------------------------------------------------------------------- */

static int op_open(const struct json *req, struct sbuf *res, struct perr *e)
{
	const char *node = get_str(req, "node");
	const char *path;
	int fd;

	if (!node)
		return fail_req(e, "bad-request", "node", "missing node");
	if (!strcmp(node, "iommu"))
		path = "/dev/iommu";
	else if (!strcmp(node, "vfio"))
		path = "/dev/vfio/vfio";
	else
		return fail_req(e, "bad-request", "node", "unknown node '%s' (iommu | vfio)", node);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		sb_printf(res, "{\"fd\":-1,\"errno\":%d}", errno);
	else
		sb_printf(res, "{\"fd\":%d}", fd);
	return 0;
}

static int op_close(const struct json *req, struct sbuf *res, struct perr *e)
{
	long long fd;
	int ret;

	if (get_fd(req, &fd, e))
		return -1;
	ret = close((int)fd);
	sb_printf(res, "{\"ret\":%d,\"errno\":%d}", ret, ret < 0 ? errno : 0);
	return 0;
}

static int op_read(const struct json *req, struct sbuf *res, struct perr *e)
{
	long long fd, count, offset = -1;
	unsigned char *buf;
	ssize_t ret;
	int err;

	if (get_fd(req, &fd, e) || get_int(req, "count", &count, true, e) ||
	    get_int(req, "offset", &offset, false, e) < 0)
		return -1;
	if (count < 0 || count > (16 << 20))
		return fail_req(e, "bad-request", "count", "count %lld out of range", count);
	buf = malloc((size_t)count + 1);
	ret = offset >= 0 ? pread((int)fd, buf, (size_t)count, offset) : read((int)fd, buf, (size_t)count);
	err = ret < 0 ? errno : 0;
	sb_printf(res, "{\"ret\":%zd,\"errno\":%d", ret < 0 ? (ssize_t)-1 : ret, err);
	if (ret >= 0) {
		sb_puts(res, ",\"data\":");
		sb_b64obj(res, buf, (size_t)ret);
	}
	sb_puts(res, "}");
	free(buf);
	return 0;
}

static int op_write(const struct json *req, struct sbuf *res, struct perr *e)
{
	long long fd, offset = -1;
	unsigned char *data;
	size_t len;
	ssize_t ret;
	const struct json *d = json_get(req, "data");

	if (get_fd(req, &fd, e) || get_int(req, "offset", &offset, false, e) < 0)
		return -1;
	if (!d)
		return fail_req(e, "bad-request", "data", "missing data");
	if (get_bytes(d, "data", &data, &len, e))
		return -1;
	ret = offset >= 0 ? pwrite((int)fd, data, len, offset) : write((int)fd, data, len);
	sb_printf(res, "{\"ret\":%zd,\"errno\":%d}", ret < 0 ? (ssize_t)-1 : ret, ret < 0 ? errno : 0);
	free(data);
	return 0;
}

static int op_poll(const struct json *req, struct sbuf *res, struct perr *e)
{
	long long fd, events;
	struct pollfd p;

	if (get_fd(req, &fd, e) || get_int(req, "events", &events, true, e))
		return -1;
	p.fd = (int)fd;
	p.events = (short)events;
	p.revents = 0;
	if (poll(&p, 1, 0) < 0)
		return fail_req(e, "internal", "fd", "poll failed: %s", strerror(errno));
	sb_printf(res, "{\"revents\":%d}", p.revents);
	return 0;
}

/* -- the calling process --------------------------------------------------------- */

static int set_cap_effective(int cap, bool on)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	unsigned int word = (unsigned int)cap / 32, bit = 1u << ((unsigned int)cap % 32);

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	if (on) {
		if (!(data[word].permitted & bit)) {
			errno = EPERM;
			return -1;
		}
		data[word].effective |= bit;
	} else {
		data[word].effective &= ~bit;
	}
	return (int)syscall(SYS_capset, &hdr, data);
}

static bool cap_effective(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[(unsigned int)cap / 32].effective & (1u << ((unsigned int)cap % 32));
}

/* set_process is the harness setting the process state (ADAPTER.md), not a
 * syscall under test: a limit is set whatever the capabilities the program
 * dropped earlier. Raising a hard limit needs CAP_SYS_RESOURCE (kernel/sys.c
 * do_prlimit), still permitted, so it is held for the setrlimit only. */
static int set_memlock_limit(const struct rlimit *r)
{
	bool had = cap_effective(CAP_SYS_RESOURCE);
	int ret, err;

	if (!had && set_cap_effective(CAP_SYS_RESOURCE, true))
		return -1;
	ret = setrlimit(RLIMIT_MEMLOCK, r);
	err = errno;
	if (!had)
		set_cap_effective(CAP_SYS_RESOURCE, false);
	errno = err;
	return ret;
}

static int op_set_process(const struct json *req, struct sbuf *res, struct perr *e)
{
	const struct json *lim = json_get(req, "rlimitMemlock");
	const struct json *v;

	if (lim) {
		struct rlimit r;
		uint64_t bytes;

		if (lim->type == JSON_NULL) {
			r.rlim_cur = r.rlim_max = RLIM_INFINITY;
		} else {
			if (get_u64(req, "rlimitMemlock", &bytes, true, e))
				return -1;
			r.rlim_cur = r.rlim_max = bytes;
		}
		if (set_memlock_limit(&r))
			return fail_req(e, "internal", "rlimitMemlock", "setrlimit(RLIMIT_MEMLOCK) failed: %s",
					strerror(errno));
	}
	v = json_get(req, "capIpcLock");
	if (v && v->type == JSON_BOOL && set_cap_effective(CAP_IPC_LOCK, v->boolean))
		return fail_req(e, "internal", "capIpcLock", "capset(CAP_IPC_LOCK) failed: %s", strerror(errno));
	v = json_get(req, "capSysResource");
	if (v && v->type == JSON_BOOL && set_cap_effective(CAP_SYS_RESOURCE, v->boolean))
		return fail_req(e, "internal", "capSysResource", "capset(CAP_SYS_RESOURCE) failed: %s",
				strerror(errno));
	sb_puts(res, "{}");
	return 0;
}

static long status_kb(const char *key)
{
	char line[256];
	long kb = -1;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			kb = strtol(line + kl + 1, NULL, 10);
	fclose(f);
	return kb;
}

/* mm->locked_vm (VmLck) and mm->pinned_vm (VmPin): what /proc shows. iommufd's
 * default accounting charges user->locked_vm, which no /proc file exposes. */
static int op_process_info(const struct json *req, struct sbuf *res, struct perr *e)
{
	long lck = status_kb("VmLck"), pin = status_kb("VmPin");

	(void)req;
	if (lck < 0 || pin < 0)
		return fail_req(e, "internal", NULL, "cannot read VmLck/VmPin from /proc/self/status");
	sb_printf(res, "{\"lockedVmPages\":%ld,\"pinnedVmPages\":%ld}", lck * 1024 / page_size,
		  pin * 1024 / page_size);
	return 0;
}

/* -- user memory ------------------------------------------------------------------- */

static int get_buffer(const struct json *req, struct buffer **b, struct perr *e)
{
	long long h;

	if (get_int(req, "buffer", &h, true, e))
		return -1;
	if (h <= 0 || h > (long long)nr_buffers || !buffers[h].live)
		return fail_req(e, "bad-handle", "buffer", "no buffer %lld", h);
	*b = &buffers[h];
	return 0;
}

static int get_range(const struct json *req, const struct buffer *b, size_t *off, size_t *len,
		     const char *len_key, struct perr *e)
{
	long long o, l;

	if (get_int(req, "offset", &o, true, e) || get_int(req, len_key, &l, true, e))
		return -1;
	if (o < 0 || (size_t)o > b->length)
		return fail_req(e, "bad-request", "offset", "offset %lld outside the buffer (%zu bytes)", o,
				b->length);
	if (l < 0 || (size_t)(o + l) > b->length)
		return fail_req(e, "bad-request", len_key, "range %lld+%lld outside the buffer (%zu bytes)",
				o, l, b->length);
	*off = (size_t)o;
	*len = (size_t)l;
	return 0;
}

/* Whether any page of [off, off+len) was taken away by mem_unmap. */
static bool range_gone(const struct buffer *b, size_t off, size_t len)
{
	for (size_t p = off / (size_t)page_size; len && p <= (off + len - 1) / (size_t)page_size; p++)
		if (b->gone[p])
			return true;
	return false;
}

static int prot_of(const char *s, int *prot)
{
	if (!s || !strcmp(s, "rw"))
		*prot = PROT_READ | PROT_WRITE;
	else if (!strcmp(s, "r"))
		*prot = PROT_READ;
	else if (!strcmp(s, "none"))
		*prot = PROT_NONE;
	else
		return -1;
	return 0;
}

/*
 * Buffers are laid out as the reference lays them out (impl/process/process.ts
 * mmap): upward from the start of an arena reserved PROT_NONE at startup,
 * each page-aligned (2 MiB with hugeAligned) and followed by one unmapped
 * page, never reusing an address until reset. What lies past a buffer — the
 * gap, the next buffer, or nothing — is then the same on both sides, and no
 * other mapping (this adapter's scratch memory for ioctl arguments, which
 * mmap would put in any hole) ever lands next to a buffer, where an IOAS
 * area running past the buffer would reach it.
 */
#define BUFFER_ARENA (64ULL << 30)
static unsigned char *buffer_arena;
static size_t buffer_arena_used;

static int buffer_arena_reserve(void)
{
	void *p = mmap(NULL, BUFFER_ARENA, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	buffer_arena = p;
	return 0;
}

/* Give [va, va+len) back to the reservation: unmapped memory, whose address stays ours. */
static int buffer_arena_release(unsigned char *va, size_t len)
{
	return mmap(va, len, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED ? -1 : 0;
}

static int op_mem_alloc(const struct json *req, struct sbuf *res, struct perr *e)
{
	long long length;
	const struct json *huge = json_get(req, "hugeAligned");
	const char *prot_s = get_str(req, "prot");
	bool aligned = huge && huge->type == JSON_BOOL && huge->boolean;
	size_t align = aligned ? 2u << 20 : (size_t)page_size, len, start;
	int prot;
	unsigned char *va;
	struct buffer *b;

	if (get_int(req, "length", &length, true, e))
		return -1;
	if (length <= 0 || length > (1LL << 30) || length % page_size)
		return fail_req(e, "bad-request", "length",
				"length %lld: a positive multiple of the page size (%ld), at most 1 GiB (ADAPTER.md 3.5)",
				length, page_size);
	if (prot_of(prot_s, &prot) || prot == PROT_NONE)
		return fail_req(e, "bad-request", "prot", "prot must be 'rw' or 'r'");
	if (nr_buffers >= MAX_BUFFERS)
		return fail_req(e, "internal", NULL, "too many buffers");
	len = (size_t)length;
	start = ((uintptr_t)buffer_arena + buffer_arena_used + align - 1) & ~(uintptr_t)(align - 1);
	start -= (uintptr_t)buffer_arena;
	if (start + len + (size_t)page_size > BUFFER_ARENA)
		return fail_req(e, "internal", "length", "the buffer arena (%llu bytes) is full until reset", BUFFER_ARENA);
	/* Mapped writable first so every page can be populated below. */
	va = mmap(buffer_arena + start, len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (va == MAP_FAILED)
		return fail_req(e, "internal", "length", "mmap failed: %s", strerror(errno));
	buffer_arena_used = start + len + (size_t)page_size; /* the page after it stays reserved: the gap */
	/*
	 * Small pages only, whatever the alignment: the guest kernel runs THP
	 * "always", and whether a fault then gets a huge page depends on free
	 * memory, which would make results vary from run to run (selftest.c's
	 * MD_CHECK_REFS skips compound pages, for one). The contract's memory is
	 * plain anonymous memory; hugeAligned is about the address only.
	 */
	if (madvise(va, len, MADV_NOHUGEPAGE))
		fprintf(stderr, "adapter: madvise(MADV_NOHUGEPAGE): %s\n", strerror(errno));
	/*
	 * Populate every page, as the kernel selftests' buffers are: an untouched
	 * private page is the shared zero page on a read fault, whose refcount
	 * depends on the rest of the system, so MD_CHECK_REFS on it would answer
	 * differently from run to run.
	 */
	memset(va, 0, len);
	if (prot != (PROT_READ | PROT_WRITE) && mprotect(va, len, prot)) {
		buffer_arena_release(va, len);
		return fail_req(e, "internal", "prot", "mprotect failed: %s", strerror(errno));
	}
	b = &buffers[nr_buffers + 1];
	*b = (struct buffer){ .va = va, .length = len, .live = true, .gone = calloc(len / (size_t)page_size, 1) };
	if (!b->gone) {
		buffer_arena_release(va, len);
		*b = (struct buffer){ 0 };
		return fail_req(e, "internal", NULL, "out of memory for the buffer's page map");
	}
	nr_buffers++;
	sb_printf(res, "{\"buffer\":%u,\"va\":", nr_buffers);
	sb_u64str(res, (uint64_t)(uintptr_t)va);
	sb_printf(res, ",\"length\":%lld}", length);
	return 0;
}

/* Through /proc/self/mem so read-only and PROT_NONE pages can still be set up
 * and inspected (the kernel's FOLL_FORCE access), like a debugger would. */
static int op_mem_write(const struct json *req, struct sbuf *res, struct perr *e)
{
	struct buffer *b;
	unsigned char *data;
	size_t len, off;
	long long o;
	const struct json *d = json_get(req, "data");

	if (get_buffer(req, &b, e) || get_int(req, "offset", &o, true, e))
		return -1;
	if (!d)
		return fail_req(e, "bad-request", "data", "missing data");
	if (get_bytes(d, "data", &data, &len, e))
		return -1;
	off = (size_t)o;
	if (o < 0 || off > b->length || len > b->length - off) {
		free(data);
		return fail_req(e, "bad-request", "data", "%zu bytes at offset %lld do not fit in the buffer (%zu bytes)",
				len, o, b->length);
	}
	if (range_gone(b, off, len)) {
		free(data);
		return fail_req(e, "bad-request", "offset", "the range is not mapped (mem_unmap)");
	}
	if (pwrite(proc_mem_fd, data, len, (off_t)(uintptr_t)(b->va + off)) != (ssize_t)len) {
		free(data);
		return fail_req(e, "bad-request", "offset", "cannot write there (unmapped?): %s", strerror(errno));
	}
	free(data);
	sb_puts(res, "{}");
	return 0;
}

static int op_mem_read(const struct json *req, struct sbuf *res, struct perr *e)
{
	struct buffer *b;
	size_t off, len;
	unsigned char *data;

	if (get_buffer(req, &b, e) || get_range(req, b, &off, &len, "length", e))
		return -1;
	if (range_gone(b, off, len))
		return fail_req(e, "bad-request", "offset", "the range is not mapped (mem_unmap)");
	data = malloc(len + 1);
	if (pread(proc_mem_fd, data, len, (off_t)(uintptr_t)(b->va + off)) != (ssize_t)len) {
		free(data);
		return fail_req(e, "bad-request", "offset", "cannot read there (unmapped?): %s", strerror(errno));
	}
	sb_puts(res, "{\"data\":");
	sb_b64obj(res, data, len);
	sb_puts(res, "}");
	free(data);
	return 0;
}

static int page_range(const struct buffer *b, size_t off, size_t len, struct perr *e)
{
	if (((uintptr_t)(b->va + off) | len) & (size_t)(page_size - 1))
		return fail_req(e, "bad-request", "offset", "offset and length must be page aligned (%ld)", page_size);
	return 0;
}

static int op_mem_unmap(const struct json *req, struct sbuf *res, struct perr *e)
{
	struct buffer *b;
	size_t off, len;

	if (get_buffer(req, &b, e) || get_range(req, b, &off, &len, "length", e) || page_range(b, off, len, e))
		return -1;
	/*
	 * The pages go as with munmap (pinned ones stay pinned, nothing user-visible
	 * is left there), but the address stays in the arena's reservation: no later
	 * mmap may take it, or an IOAS area still naming it would pin or read that
	 * memory instead of failing (EFAULT) — the reference never reuses a buffer's
	 * address either (see buffer_arena).
	 */
	if (buffer_arena_release(b->va + off, len))
		return fail_req(e, "internal", NULL, "mmap(PROT_NONE) over the range failed: %s", strerror(errno));
	memset(b->gone + off / (size_t)page_size, 1, len / (size_t)page_size);
	sb_puts(res, "{}");
	return 0;
}

static int op_mem_protect(const struct json *req, struct sbuf *res, struct perr *e)
{
	struct buffer *b;
	size_t off, len;
	int prot;

	if (get_buffer(req, &b, e) || get_range(req, b, &off, &len, "length", e) || page_range(b, off, len, e))
		return -1;
	if (prot_of(get_str(req, "prot"), &prot))
		return fail_req(e, "bad-request", "prot", "prot must be 'rw', 'r' or 'none'");
	if (range_gone(b, off, len))
		return fail_req(e, "bad-request", "offset", "range is not mapped");
	if (mprotect(b->va + off, len, prot)) {
		/* ENOMEM: part of the range is not mapped, a bad request as on the reference (ADAPTER.md §3.5) */
		if (errno == ENOMEM)
			return fail_req(e, "bad-request", "offset", "range is not mapped");
		return fail_req(e, "internal", NULL, "mprotect failed: %s", strerror(errno));
	}
	sb_puts(res, "{}");
	return 0;
}

/* -- fault injection --------------------------------------------------------------- */

/* The debugfs setup of the kernel's iommufd_fail_nth.c (setup_fault_injection):
 * let every allocation be failed, and quiet the injectors' log. */
static void fault_injection_setup(void)
{
	static const char *const quiet[] = { "failslab", "fail_page_alloc", "fail_iommufd",
					     "fail_usercopy", "fail_futex" };
	char path[128];
	int fd;

#define WRITEAT(p, v)                                          \
	do {                                                   \
		fd = open(p, O_WRONLY);                        \
		if (fd >= 0) {                                 \
			(void)!write(fd, v, strlen(v));        \
			close(fd);                             \
		}                                              \
	} while (0)
	WRITEAT("/sys/kernel/debug/failslab/ignore-gfp-wait", "N");
	WRITEAT("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N");
	WRITEAT("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N");
	for (size_t i = 0; i < ARRAY_LEN(quiet); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/%s/verbose", quiet[i]);
		WRITEAT(path, "0");
	}
#undef WRITEAT
}

static int op_fail_nth(const struct json *req, struct sbuf *res, struct perr *e)
{
	long long nth;

	if (get_int(req, "nth", &nth, true, e))
		return -1;
	if (nth < 0 || nth > 1000000)
		return fail_req(e, "bad-request", "nth", "nth %lld out of range", nth);
	if (fail_nth_fd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth", (long)syscall(SYS_gettid));
		fail_nth_fd = open(path, O_RDWR | O_CLOEXEC);
		if (fail_nth_fd < 0)
			return fail_req(e, "unsupported", NULL, "cannot open %s: %s", path, strerror(errno));
		fault_injection_setup();
	}
	pending_fail_nth = (unsigned int)nth;
	sb_puts(res, "{}");
	return 0;
}

/* -- starting over (ADAPTER.md 3.11) ------------------------------------------------------ */

static bool is_own_fd(int fd, int dir_fd)
{
	return fd == dir_fd || is_reserved_fd(fd);
}

/* Closes every fd the session opened: iommufd contexts, the fds commands
 * returned (fault queues, vEVENTQs, access objects, dma-bufs, even one an
 * ioctl installed without returning it). The kernel destroys their objects
 * and unpins and uncharges their pages as process exit would. */
static int close_session_fds(struct perr *e)
{
	DIR *d = opendir("/proc/self/fd");
	int fds[4096], n = 0;
	struct dirent *de;

	if (!d)
		return fail_req(e, "unsupported", NULL, "reset: cannot list /proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || de->d_name[0] == '.' || is_own_fd((int)fd, dirfd(d)))
			continue;
		if (n == (int)ARRAY_LEN(fds)) {
			closedir(d);
			return fail_req(e, "unsupported", NULL, "reset: more than %d open fds", n);
		}
		fds[n++] = (int)fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}

/* The mock driver keeps IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT in a global
 * (selftest.c: iommufd_test_memory_limit): put its default back. */
static int restore_mock_memory_limit(struct perr *e)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
		.memory_limit = { .limit = MOCK_DEFAULT_MEMORY_LIMIT },
	};
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return fail_req(e, "unsupported", NULL, "reset: cannot open /dev/iommu to restore the mock memory limit: %s",
				strerror(errno));
	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	close(fd);
	if (rc)
		return fail_req(e, "unsupported", NULL, "reset: cannot restore the mock memory limit: %s", strerror(errno));
	return 0;
}

/* The process defaults of ADAPTER.md 3.2: RLIMIT_MEMLOCK unlimited, CAP_IPC_LOCK
 * and CAP_SYS_RESOURCE held (set_process only ever drops them from the
 * effective set, so they are still permitted). */
static int restore_process_defaults(struct perr *e)
{
	struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };

	/* Capabilities first: set_process lowers the hard limit too, and raising a
	 * hard limit again needs CAP_SYS_RESOURCE (kernel/sys.c do_prlimit). */
	if (set_cap_effective(CAP_IPC_LOCK, true) || set_cap_effective(CAP_SYS_RESOURCE, true))
		return fail_req(e, "unsupported", NULL, "reset: cannot raise CAP_IPC_LOCK / CAP_SYS_RESOURCE again: %s",
				strerror(errno));
	if (setrlimit(RLIMIT_MEMLOCK, &r))
		return fail_req(e, "unsupported", NULL, "reset: setrlimit(RLIMIT_MEMLOCK, unlimited): %s", strerror(errno));
	return 0;
}

/* reset: the fresh state of ADAPTER.md 1. Answers {} only when all of it is
 * restored; anything that stays is an 'unsupported' error, and the host then
 * opens a new session (boots a new guest). */
static int op_reset(const struct json *req, struct sbuf *res, struct perr *e)
{
	(void)req;
	pending_fail_nth = 0;
	if (fail_nth_fd >= 0 && pwrite(fail_nth_fd, "0", 1, 0) != 1)
		return fail_req(e, "unsupported", NULL, "reset: cannot turn fail-nth off: %s", strerror(errno));
	if (close_session_fds(e))
		return -1;
	for (unsigned int i = 1; i <= nr_buffers; i++) {
		buffers[i].live = false;
		free(buffers[i].gone);
		buffers[i].gone = NULL;
	}
	nr_buffers = 0;
	if (buffer_arena_used && buffer_arena_release(buffer_arena, buffer_arena_used))
		return fail_req(e, "internal", NULL, "reset: cannot release the buffers: %s", strerror(errno));
	buffer_arena_used = 0;
	if (restore_process_defaults(e) || restore_mock_memory_limit(e))
		return -1;
	sb_puts(res, "{}");
	return 0;
}

/* -- what the mock driver cannot serve ----------------------------------------------- */

struct unsupported_op {
	const char *op;
	const char *reason;
};

static const struct unsupported_op unsupported_ops[] = {
	{ "open_device", "mock devices (IOMMU_TEST_OP_MOCK_DOMAIN) have no VFIO device cdev" },
	{ "device_create", "the mock driver creates a device only through the IOMMU_TEST_CMD ioctl IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS), which also binds it and attaches it to a page table; issue that ioctl instead" },
	{ "device_remove", "a mock device goes away through IOMMU_DESTROY of its stdev id (an ioctl)" },
	{ "dma", "mock devices have no DMA engine; IOMMU_TEST_OP_ACCESS_RW (an ioctl) is the nearest: an in-kernel access through iommufd_access, not a device DMA through the domain" },
	{ "translate", "the mock driver cannot report a translation; IOMMU_TEST_OP_MD_CHECK_MAP (an ioctl) only compares a range with expected user memory" },
	{ "pin_count", "the mock driver cannot report page pin counts; IOMMU_TEST_OP_MD_CHECK_REFS (an ioctl) only compares them with an expected count" },
	{ "iotlb", "the mock driver cannot list IOTLB entries; IOMMU_TEST_OP_MD_CHECK_IOTLB (an ioctl) only compares one nested-domain IOTLB value" },
	{ "kvm_create", "no KVM in the guest (nested virtualisation is not available on these hosts)" },
	{ "kvm_destroy", "no KVM in the guest" },
	{ "kvm_vfio_add", "no KVM in the guest" },
	{ "kvm_vfio_del", "no KVM in the guest" },
	{ "kvm_state", "no KVM in the guest" },
};

static const char *unsupported_reason(const char *op)
{
	for (size_t i = 0; i < ARRAY_LEN(unsupported_ops); i++)
		if (!strcmp(unsupported_ops[i].op, op))
			return unsupported_ops[i].reason;
	return NULL;
}

static void emit_unsupported(struct sbuf *b, const char *reason)
{
	sb_puts(b, "{\"supported\":false,\"reason\":");
	sb_str(b, reason);
	sb_puts(b, "}");
}

static const char *const served_ops[] = { "open", "close", "ioctl", "read", "write", "poll",
					  "set_process", "process_info", "mem_alloc", "mem_write",
					  "mem_read", "mem_unmap", "mem_protect", "fail_nth", "reset" };

/*
 * capabilities.features (spec/contract/features.ts): the uAPI values the
 * commands carry, as the profile's mock driver serves them (selftest.c:
 * mock_domain_alloc_paging(_flags) takes NEST_PARENT, DIRTY_TRACKING and (7.3)
 * PASID; mock_domain_alloc_nested IOMMU_HWPT_DATA_SELFTEST;
 * mock_cache_invalidate_user IOMMU_HWPT_INVALIDATE_DATA_SELFTEST; 7.3:
 * mock_viommu_init IOMMU_VIOMMU_TYPE_SELFTEST with its invalidation, vEVENTQ
 * and HW queue types). The other drivers' types need hardware the guest has not.
 * Names are those of features.ts for the profile; `only73` ones do not exist
 * in 6.12 and are left out there.
 */
struct feature {
	const char *name;
	bool only73;
	const char *unsupported; /* NULL = served */
};

#define NO_VTD "no Intel VT-d in the guest: only the mock driver's types are served"
#define NO_SMMU "no Arm SMMUv3 in the guest: only the mock driver's types are served"
#define NO_AMD "no AMD IOMMU in the guest: only the mock driver's types are served"
#define NO_TEGRA "no NVIDIA Tegra241 CMDQV in the guest: only the mock driver's types are served"

static const struct feature features[] = {
	{ "IOMMU_HWPT_ALLOC_NEST_PARENT", false, NULL },
	{ "IOMMU_HWPT_ALLOC_DIRTY_TRACKING", false, NULL },
	{ "IOMMU_HWPT_FAULT_ID_VALID", false, NULL },
	{ "IOMMU_HWPT_ALLOC_PASID", true, NULL },
	{ "IOMMU_HWPT_DATA_VTD_S1", false, NO_VTD },
	{ "IOMMU_HWPT_DATA_ARM_SMMUV3", true, NO_SMMU },
	{ "IOMMU_HWPT_DATA_AMD_GUEST", true, NO_AMD },
	{ "IOMMU_HWPT_DATA_SELFTEST", false, NULL },
	{ "IOMMU_HWPT_INVALIDATE_DATA_VTD_S1", false, NO_VTD },
	{ "IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3", true, NO_SMMU },
	{ "IOMMU_HWPT_INVALIDATE_DATA_SELFTEST", false, NULL },
	{ "IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST", true, NULL },
	{ "IOMMU_VIOMMU_TYPE_ARM_SMMUV3", true, NO_SMMU },
	{ "IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV", true, NO_TEGRA },
	{ "IOMMU_VIOMMU_TYPE_SELFTEST", true, NULL },
	{ "IOMMU_VEVENTQ_TYPE_ARM_SMMUV3", true, NO_SMMU },
	{ "IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV", true, NO_TEGRA },
	{ "IOMMU_VEVENTQ_TYPE_SELFTEST", true, NULL },
	{ "IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV", true, NO_TEGRA },
	{ "IOMMU_HW_QUEUE_TYPE_SELFTEST", true, NULL },
};

static void emit_release(struct sbuf *b)
{
	struct utsname u;

	sb_str(b, uname(&u) ? "unknown" : u.release);
}

static int op_capabilities(const struct json *req, struct sbuf *res, struct perr *e)
{
	bool v73 = !strcmp(PROFILE, "7.3");
	static const char *const no_devices =
		"device features are chosen through IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS dev_flags, not device_create";

	(void)req;
	(void)e;
	sb_printf(res, "{\"contract\":%d,\"implementation\":{\"name\":\"linux\",\"version\":", CONTRACT_VERSION);
	emit_release(res);
	sb_puts(res, "},\"profile\":\"" PROFILE "\",\"commands\":{");
	for (size_t i = 0; i < ARRAY_LEN(cmd_names); i++) {
		sb_printf(res, "%s\"%s\":", i ? "," : "", cmd_names[i].name);
		if (cmd_names[i].unsupported)
			emit_unsupported(res, cmd_names[i].unsupported);
		else
			sb_puts(res, "{\"supported\":true}");
	}
	sb_puts(res, "},\"testOps\":{");
	for (size_t i = 0; i < ARRAY_LEN(test_op_names); i++)
		sb_printf(res, "%s\"%s\":{\"supported\":true}", i ? "," : "", test_op_names[i].name);
	sb_puts(res, "},\"ops\":{");
	for (size_t i = 0; i < ARRAY_LEN(served_ops); i++)
		sb_printf(res, "%s\"%s\":{\"supported\":true}", i ? "," : "", served_ops[i]);
	for (size_t i = 0; i < ARRAY_LEN(unsupported_ops); i++) {
		sb_printf(res, ",\"%s\":", unsupported_ops[i].op);
		emit_unsupported(res, unsupported_ops[i].reason);
	}
	sb_puts(res, "},\"deviceFeatures\":{");
	{
		static const char *const feats[] = { "pasid", "dirtyTracking", "hugeIova", "reservedRegions" };

		sb_puts(res, "\"multiDeviceGroups\":");
		emit_unsupported(res, "every mock device sits in its own group");
		sb_puts(res, ",\"enforceCacheCoherency\":");
		emit_unsupported(res, "the mock IOMMU cannot enforce cache coherency");
		sb_puts(res, ",\"noSnoop\":");
		emit_unsupported(res, "mock devices issue no DMA");
		for (size_t i = 0; i < ARRAY_LEN(feats); i++) {
			sb_printf(res, ",\"%s\":", feats[i]);
			emit_unsupported(res, no_devices);
		}
	}
	sb_puts(res, "},\"iommus\":[{\"name\":\"mock\",\"format\":");
	/* 6.12: selftest.c's own xarray "page table" of MOCK_IO_PAGE_SIZE (PAGE_SIZE/2)
	 * pages; 7.3: the generic page table in AMD v1 format with 2 KiB pages. Only the
	 * smallest page size is listed: the uAPI does not expose the rest. */
	sb_str(res, v73 ? "amdv1-mock" : "mock");
	sb_printf(res, ",\"pgsizeBitmap\":\"%ld\",\"apertureStart\":\"%lu\",\"apertureLast\":\"%lu\"",
		  page_size / 2, (unsigned long)MOCK_APERTURE_START, (unsigned long)MOCK_APERTURE_LAST);
	sb_printf(res, ",\"enforceCacheCoherency\":false,\"dirtyTracking\":true,\"maxPasidLog2\":%d,\"nesting\":true}]",
		  v73 ? 20 : 0);
	/* The host lane sends struct arguments as raw bytes with pointer patches (ADAPTER.md §3.3). */
	sb_puts(res, ",\"rawPointerPatches\":{\"supported\":true},\"readOnlyArgs\":{\"supported\":true},\"features\":{");
	for (size_t i = 0, n = 0; i < ARRAY_LEN(features); i++) {
		if (features[i].only73 && !v73)
			continue;
		sb_printf(res, "%s\"%s\":", n++ ? "," : "", features[i].name);
		if (features[i].unsupported)
			emit_unsupported(res, features[i].unsupported);
		else
			sb_puts(res, "{\"supported\":true}");
	}
	sb_puts(res, "}}");
	return 0;
}

/* -- dispatch ------------------------------------------------------------------------ */

typedef int (*handler_t)(const struct json *req, struct sbuf *res, struct perr *e);

static int op_batch(const struct json *req, struct sbuf *res, struct perr *e);

static const struct {
	const char *op;
	handler_t fn;
} handlers[] = {
	{ "capabilities", op_capabilities }, { "open", op_open }, { "close", op_close },
	{ "ioctl", op_ioctl }, { "read", op_read }, { "write", op_write }, { "poll", op_poll },
	{ "set_process", op_set_process }, { "process_info", op_process_info },
	{ "mem_alloc", op_mem_alloc }, { "mem_write", op_mem_write }, { "mem_read", op_mem_read },
	{ "mem_unmap", op_mem_unmap }, { "mem_protect", op_mem_protect },
	{ "fail_nth", op_fail_nth }, { "reset", op_reset }, { "batch", op_batch },
};

static void emit_error(struct sbuf *b, const struct perr *e)
{
	sb_puts(b, "\"ok\":false,\"error\":{\"code\":");
	sb_str(b, e->code);
	sb_puts(b, ",\"message\":");
	sb_str(b, e->message);
	if (e->field[0]) {
		sb_puts(b, ",\"field\":");
		sb_str(b, e->field);
	}
	sb_puts(b, "}");
}

/* Appends `"ok":...,"result"|"error":...` for one request; `batch_index` >= 0
 * for an item of a batch (its error field is prefixed "requests.<i>."). */
static void dispatch(const struct json *req, struct sbuf *out, long batch_index)
{
	bool in_batch = batch_index >= 0;
	struct perr e = { 0 };
	const char *op = get_str(req, "op");
	size_t mark = out->len;

	if (!op) {
		fail_req(&e, "bad-request", "op", "missing op");
		goto error;
	}
	for (size_t i = 0; i < ARRAY_LEN(handlers); i++) {
		if (strcmp(handlers[i].op, op))
			continue;
		if (in_batch && handlers[i].fn == op_batch) {
			fail_req(&e, "bad-request", "op", "batches do not nest");
			goto error;
		}
		sb_puts(out, "\"ok\":true,\"result\":");
		if (handlers[i].fn(req, out, &e) == 0)
			return;
		out->len = mark;
		goto error;
	}
	if (unsupported_reason(op))
		fail_req(&e, "unsupported", "op", "%s: %s", op, unsupported_reason(op));
	else
		fail_req(&e, "bad-request", "op", "unknown op '%s'", op);
error:
	out->len = mark;
	if (in_batch) {
		char prefixed[sizeof(e.field) + 32];

		snprintf(prefixed, sizeof(prefixed), "requests.%ld%s%s", batch_index, e.field[0] ? "." : "", e.field);
		memcpy(e.field, prefixed, sizeof(e.field) - 1);
		e.field[sizeof(e.field) - 1] = 0;
	}
	emit_error(out, &e);
}

static int op_batch(const struct json *req, struct sbuf *res, struct perr *e)
{
	const struct json *list = json_get(req, "requests");

	if (!list || list->type != JSON_ARRAY)
		return fail_req(e, "bad-request", "requests", "requests must be an array");
	sb_puts(res, "{\"responses\":[");
	for (size_t i = 0; i < list->n; i++) {
		sb_puts(res, i ? ",{" : "{");
		dispatch(&list->items[i], res, (long)i);
		sb_puts(res, "}");
	}
	sb_puts(res, "]}");
	return 0;
}

static void handle_hello(const struct json *req, struct sbuf *out)
{
	const struct json *contract = json_get(req, "contract");
	const char *profile = get_str(req, "profile");
	bool ok = false;
	struct perr e = { 0 };

	if (contract && contract->type == JSON_ARRAY)
		for (size_t i = 0; i < contract->n; i++)
			if (contract->items[i].type == JSON_NUMBER && atoi(contract->items[i].text) == CONTRACT_VERSION)
				ok = true;
	if (!ok) {
		fail_req(&e, "unsupported", "contract", "this adapter speaks contract %d only", CONTRACT_VERSION);
		emit_error(out, &e);
		return;
	}
	if (profile && strcmp(profile, PROFILE)) {
		fail_req(&e, "unsupported", "profile", "this guest runs the %s profile, not %s", PROFILE, profile);
		emit_error(out, &e);
		return;
	}
	hello_done = true;
	sb_printf(out, "\"ok\":true,\"result\":{\"contract\":%d,\"implementation\":{\"name\":\"linux\",\"version\":",
		  CONTRACT_VERSION);
	emit_release(out);
	sb_puts(out, "},\"profile\":\"" PROFILE "\"}");
}

/* A JSON number that is a decimal integer from 0 to 2^53-1, as its text shows it. */
static bool valid_id(const struct json *id)
{
	const char *t;
	size_t n;

	if (!id || id->type != JSON_NUMBER)
		return false;
	t = id->text;
	n = strlen(t);
	if (n == 0 || n > strlen(MAX_REQUEST_ID) || (n > 1 && t[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (t[i] < '0' || t[i] > '9')
			return false;
	return n < strlen(MAX_REQUEST_ID) || strcmp(t, MAX_REQUEST_ID) <= 0;
}

static void handle_line(const char *line, size_t len, struct sbuf *out)
{
	const char *err = NULL;
	struct json *req = json_parse(line, len, &err);
	const struct json *id;
	const char *op;

	out->len = 0;
	sb_puts(out, "{\"id\":");
	if (!req) {
		struct perr e = { 0 };

		fail_req(&e, "bad-request", NULL, "malformed JSON: %s", err ? err : "?");
		sb_puts(out, "null,");
		emit_error(out, &e);
		sb_puts(out, "}\n");
		return;
	}
	id = json_get(req, "id");
	if (!valid_id(id)) {
		struct perr e = { 0 };

		/* ADAPTER.md 7.2: an id is an integer 0 .. 2^53-1; a request without one is not carried out. */
		fail_req(&e, "bad-request", "id", "field 'id' must be an integer from 0 to 2^53-1");
		sb_puts(out, "null,");
		emit_error(out, &e);
		sb_puts(out, "}\n");
		json_free(req);
		return;
	}
	sb_puts(out, id->text);
	sb_puts(out, ",");
	op = get_str(req, "op");
	if (op && !strcmp(op, "hello") && !hello_done) {
		handle_hello(req, out);
	} else if (!hello_done || (op && !strcmp(op, "hello"))) {
		struct perr e = { 0 };

		fail_req(&e, "bad-request", "op", hello_done ? "a second hello" : "the first request must be the hello");
		emit_error(out, &e);
	} else if (op && (!strcmp(op, "shutdown") || !strcmp(op, "bye"))) {
		sb_puts(out, "\"ok\":true,\"result\":{}");
		shutting_down = true;
	} else {
		dispatch(req, out, -1);
	}
	sb_puts(out, "}\n");
	json_free(req);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int open_channel(const char *path)
{
	struct termios t;
	int fd;

	if (!strcmp(path, "-")) {
		chan_in = 0;
		chan_out = 1;
		return 0;
	}
	fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "adapter: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		cfsetspeed(&t, B115200);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		tcsetattr(fd, TCSANOW, &t);
	}
	chan_in = chan_out = fd;
	/* Drop whatever reached the port before it was raw, then tell the host we
	 * listen (a transport banner, not a protocol message: it has no id). */
	tcflush(fd, TCIFLUSH);
	(void)!write_all(fd, READY_LINE, strlen(READY_LINE));
	return 0;
}

int main(int argc, char **argv)
{
	struct sbuf line = { 0 }, out = { 0 };
	char chunk[65536];

	signal(SIGPIPE, SIG_IGN);
	page_size = sysconf(_SC_PAGESIZE);
	if (open_channel(argc > 1 ? argv[1] : "/dev/ttyS1"))
		return 1;
	/* The session defaults ADAPTER.md §3.2 states for a kernel adapter: root,
	 * RLIMIT_MEMLOCK unlimited (init starts with the kernel's 8 MiB), both
	 * capabilities held. */
	{
		struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };

		if (setrlimit(RLIMIT_MEMLOCK, &r))
			fprintf(stderr, "adapter: setrlimit(RLIMIT_MEMLOCK, unlimited): %s\n", strerror(errno));
	}
	/*
	 * No transparent huge pages for this process: the lane kernels are built
	 * from tinyconfig, which leaves CONFIG_ADVISE_SYSCALLS off, so the
	 * madvise(MADV_NOHUGEPAGE) in mem_alloc fails with ENOSYS; a buffer that
	 * happened to cover an aligned 2 MiB range then got a THP, and
	 * MD_CHECK_REFS skips compound pages (selftest.c:
	 * iommufd_test_md_check_refs), so it "confirmed" any pin count. prctl
	 * works without that option (kernel/sys.c: PR_SET_THP_DISABLE).
	 */
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		fprintf(stderr, "adapter: prctl(PR_SET_THP_DISABLE): %s\n", strerror(errno));
	proc_mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	fault_page = mmap(NULL, (size_t)page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buffer_arena_reserve()) {
		fprintf(stderr, "adapter: cannot reserve the buffer arena (%llu bytes): %s\n", BUFFER_ARENA, strerror(errno));
		return 1;
	}
	fprintf(stderr, "adapter: serving contract %d, profile %s\n", CONTRACT_VERSION, PROFILE);

	while (!shutting_down) {
		ssize_t n = read(chan_in, chunk, sizeof(chunk));
		size_t start = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sb_putn(&line, chunk, (size_t)n);
		for (size_t i = 0; i < line.len; i++) {
			if (line.p[i] != '\n')
				continue;
			if (i > start && !(i == start + 1 && line.p[start] == '\r')) {
				handle_line(line.p + start, i - start, &out);
				if (write_all(chan_out, out.p, out.len))
					return 1;
			}
			start = i + 1;
			if (shutting_down)
				break;
		}
		memmove(line.p, line.p + start, line.len - start);
		line.len -= start;
	}
	fprintf(stderr, "adapter: exiting\n");
	return 0;
}
