/**
 * A program (a replay file the suite saved, or any corpus program) as a
 * standalone C program against /dev/iommu and the kernel's mock-driver test
 * ops (IOMMU_TEST_CMD, as tools/testing/selftests/iommu/iommufd_utils.h
 * issues them), so kernel developers can reproduce a failure without the
 * project: `iommufd-spec replay FILE --emit-c OUT.c`.
 *
 * Struct arguments are encoded by the project's one encoder (spec/abi
 * buildIoctlArg, the one the reference and the kernel lanes use), so defects
 * the suite injects (non-zero reserved fields, odd sizes, non-zero tails)
 * reach the kernel byte for byte; the emitted bytes carry a comment with the
 * fields by name. Ids, fds and user addresses that earlier steps returned are
 * patched in at run time at the member's offset (spec/uapi layout), pointer
 * members get scratch memory that ends right before a PROT_NONE page, as the
 * kernel lane's adapter does (conformance/kernel/adapter/adapter.c).
 *
 * The program checks what C can: each step's status and errno against the
 * step's `expect` set (ok / errno names). It prints every step and exits 1
 * when a step answers outside its set (the divergence reproduces), 0 when
 * every step is inside (it does not), 2 when its own set-up fails.
 */
import type { IoctlArg, PointerArg, Profile } from '../../spec/contract/types.ts';
import { buildIoctlArg, buildUntypedArg, resolveCommand } from '../../spec/abi/arg.ts';
import { CodecError } from '../../spec/abi/codec.ts';
import { structLayout } from '../../spec/uapi/layout.ts';
import { testOpByValue } from '../../spec/uapi/lookup.ts';
import type { Program, StepExpect } from '../programs/types.ts';
import { ResolveError } from '../programs/values.ts';
import { compileProgramStep, Ref, refPaths, resolveStep, type StepTemplate, type Tmpl } from './step.ts';

/** A step the C program cannot express; names the step (1-based) and the field. */
export class EmitCError extends Error {
  constructor(
    readonly step: number,
    readonly field: string,
    detail: string,
  ) {
    super(`step ${step}${field ? `: ${field}` : ''}: ${detail}`);
    this.name = 'EmitCError';
  }
}

type Binding = { readonly kind: 'buffer' } | { readonly kind: 'scalar' };

const C_PRELUDE = String.raw`#define _GNU_SOURCE
#pragma GCC diagnostic ignored "-Wunused-function"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>
#include "iommufd_test.h"

static long page_size;
static int proc_mem_fd = -1;
static int fail_nth_fd = -1;
static unsigned int pending_fail_nth;
static int diverged, steps_checked;

/* User buffers (the contract's mem_alloc): handle -> mapping. */
struct buf { unsigned char *va; size_t len; };
static struct buf bufs[256];
static unsigned int nr_bufs;

static void die(const char *what)
{
	fprintf(stderr, "setup failed: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Scratch memory ending right before a PROT_NONE page: a kernel access past
 * what the step provided faults (EFAULT) instead of reading other memory. */
static void *scratch(const void *data, size_t len)
{
	size_t rounded = (len + 7) & ~(size_t)7;
	size_t body = (rounded + page_size - 1) & ~((size_t)page_size - 1);
	unsigned char *map;

	if (body == 0)
		body = page_size;
	map = mmap(NULL, body + page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		die("mmap scratch");
	if (mprotect(map + body, page_size, PROT_NONE))
		die("mprotect guard page");
	if (data && len)
		memcpy(map + body - rounded, data, len);
	return map + body - rounded;
}

/* A read-only argument (ADAPTER.md §3.3): the kernel reads it, every copy back faults. */
static void read_only(void *arg, size_t len)
{
	uintptr_t start = (uintptr_t)arg & ~((uintptr_t)page_size - 1);
	uintptr_t end = ((uintptr_t)arg + (len ? len : 1) + page_size - 1) & ~((uintptr_t)page_size - 1);

	if (mprotect((void *)start, end - start, PROT_READ))
		die("mprotect read-only argument");
}

static void *fault_page(void)
{
	void *p = mmap(NULL, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap PROT_NONE page");
	return p;
}

static uint64_t get_le(const unsigned char *p, size_t off, size_t size)
{
	uint64_t v = 0;

	for (size_t i = 0; i < size; i++)
		v |= (uint64_t)p[off + i] << (8 * i);
	return v;
}

static void put_le(unsigned char *p, size_t off, size_t size, uint64_t v)
{
	for (size_t i = 0; i < size; i++)
		p[off + i] = (unsigned char)(v >> (8 * i));
}

/* Populated, small-page anonymous memory (as the kernel lane's adapter gives it). */
static unsigned int mem_alloc(size_t len, int prot, int huge_aligned)
{
	size_t hp = 2u << 20, map_len = huge_aligned ? len + hp : len;
	unsigned char *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *va;

	if (map == MAP_FAILED)
		die("mmap buffer");
	va = huge_aligned ? (unsigned char *)(((uintptr_t)map + hp - 1) & ~(uintptr_t)(hp - 1)) : map;
	madvise(map, map_len, MADV_NOHUGEPAGE);
	memset(map, 0, map_len);
	if (prot != (PROT_READ | PROT_WRITE) && mprotect(map, map_len, prot))
		die("mprotect buffer");
	if (++nr_bufs >= sizeof(bufs) / sizeof(bufs[0]))
		die("too many buffers");
	bufs[nr_bufs] = (struct buf){ .va = va, .len = len };
	return nr_bufs;
}

/* Through /proc/self/mem, so read-only pages can still be filled (FOLL_FORCE). */
static void mem_write(unsigned int h, size_t off, const void *data, size_t len)
{
	if (pwrite(proc_mem_fd, data, len, (off_t)(uintptr_t)(bufs[h].va + off)) != (ssize_t)len)
		die("write /proc/self/mem");
}

static void set_cap(int cap, int on)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		die("capget");
	if (on)
		d[cap / 32].effective |= 1u << (cap % 32);
	else
		d[cap / 32].effective &= ~(1u << (cap % 32));
	if (syscall(SYS_capset, &h, d))
		die("capset");
}

/* /proc/self/task/<tid>/fail-nth, armed right before the next ioctl (iommufd_fail_nth.c). */
static void fail_nth(unsigned int nth)
{
	if (fail_nth_fd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth", (long)syscall(SYS_gettid));
		fail_nth_fd = open(path, O_RDWR | O_CLOEXEC);
		if (fail_nth_fd < 0)
			die(path);
	}
	pending_fail_nth = nth;
}

static long do_ioctl(int fd, unsigned long request, unsigned long arg)
{
	char n[16];
	long ret;
	int err;

	if (pending_fail_nth) {
		int len = snprintf(n, sizeof(n), "%u", pending_fail_nth);

		if (pwrite(fail_nth_fd, n, len, 0) != len)
			die("arm fail-nth");
	}
	ret = ioctl(fd, request, arg);
	err = errno;
	if (pending_fail_nth) {
		(void)!pwrite(fail_nth_fd, "0", 1, 0);
		pending_fail_nth = 0;
	}
	errno = err;
	return ret;
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
%ERRNO_CASES%
	default: return "E?";
	}
}

/* Judges one step: its status against the allowed set. ok: 1 must succeed, 0 must fail, -1 either. */
static void check(int step, const char *what, long ret, int err, int ok, const int *errnos, int n, const char *allowed,
		  int has_ret, long want_ret)
{
	int inside = 1;

	if (has_ret && ret != want_ret)
		inside = 0;
	if (ok == 1 && ret < 0)
		inside = 0;
	if (ok == 0 && ret >= 0)
		inside = 0;
	if (n > 0) {
		inside = 0;
		for (int i = 0; i < n; i++)
			if (ret < 0 && err == errnos[i])
				inside = 1;
	}
	steps_checked++;
	if (ret < 0)
		printf("%3d. %-40s -> -1 %s", step, what, errname(err));
	else
		printf("%3d. %-40s -> %ld", step, what, ret);
	if (!inside) {
		diverged++;
		printf("   DIVERGES: expected %s", allowed);
	}
	printf("\n");
}
`;

function cString(s: string): string {
  return JSON.stringify(s).replace(/\?/g, '\\?');
}

function cIdent(name: string): string {
  return `v_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

function bytesC(b: Uint8Array): string {
  if (b.length === 0) return '{ 0 }';
  const parts: string[] = [];
  for (let i = 0; i < b.length; i += 16) parts.push(Array.from(b.subarray(i, i + 16), (x) => `0x${x.toString(16).padStart(2, '0')}`).join(', '));
  return `{\n\t\t\t${parts.join(',\n\t\t\t')}\n\t\t}`;
}

function u64C(v: bigint | number): string {
  const b = BigInt.asUintN(64, BigInt(v));
  return `0x${b.toString(16)}ULL`;
}

function show(t: Tmpl): string {
  if (t instanceof Ref) return t.toString();
  if (typeof t === 'bigint') return t > 0xffffn ? `0x${t.toString(16)}` : t.toString();
  if (t instanceof Uint8Array) return `${t.length} bytes`;
  if (Array.isArray(t)) return `[${t.map((x) => show(x as Tmpl)).join(', ')}]`;
  if (t !== null && typeof t === 'object') return `{${Object.entries(t).map(([k, x]) => `${k}: ${show(x as Tmpl)}`).join(', ')}}`;
  return String(t);
}

/** Comment-safe text. */
function comment(s: string): string {
  return s.replace(/\*\//g, '*\\/');
}

interface StepExpectC {
  readonly ok: -1 | 0 | 1;
  readonly ret?: number;
  readonly errnos: readonly string[];
  readonly text: string;
  readonly unchecked: readonly string[];
}

/** What of a step's expect set C can check: the status and the errno set. */
function expectC(e: StepExpect | undefined): StepExpectC {
  if (!e) return { ok: -1, errnos: [], text: 'anything', unchecked: [] };
  const ret = typeof e.ret === 'number' ? e.ret : undefined;
  const unchecked = Object.keys(e).filter((k) => k !== 'ok' && k !== 'errno' && !(k === 'ret' && ret !== undefined));
  if (e.errno && e.errno.length > 0) return { ok: 0, errnos: e.errno, text: e.errno.join('|'), unchecked };
  if (ret !== undefined) return { ok: 1, ret, errnos: [], text: `success returning ${ret}`, unchecked };
  if (e.ok === true) return { ok: 1, errnos: [], text: 'success', unchecked };
  if (e.ok === false) return { ok: 0, errnos: [], text: 'a failure', unchecked };
  return { ok: -1, errnos: [], text: 'anything', unchecked };
}

class Emitter {
  private readonly out: string[] = [];
  private readonly bindings = new Map<string, Binding>();
  private readonly errnos = new Set<string>();
  private n = 0;

  constructor(
    private readonly profile: Profile,
  ) {}

  line(s = ''): void {
    this.out.push(s);
  }

  get body(): string {
    return this.out.join('\n');
  }

  get errnoNames(): readonly string[] {
    return [...this.errnos].sort();
  }

  /** A C expression for a reference (its binding plus a path and an offset). */
  refExpr(r: Ref, step: number, field: string): string {
    const b = this.bindings.get(r.name);
    if (!b) throw new EmitCError(step, field, `$${r.name} is not bound by an earlier step`);
    const v = cIdent(r.name);
    let e: string;
    if (b.kind === 'buffer') {
      if (r.path === 'va') e = '(uint64_t)(uintptr_t)bufs[' + v + '].va';
      else if (r.path === 'length') e = `(uint64_t)bufs[${v}].len`;
      else if (r.path === '' || r.path === 'buffer') e = `(uint64_t)${v}`;
      else throw new EmitCError(step, field, `a buffer has no ${r.path}`);
    } else {
      if (r.path !== '') throw new EmitCError(step, field, `$${r.name} is a number; it has no ${r.path}`);
      e = v;
    }
    return r.add !== 0n ? `(${e} + ${u64C(r.add)})` : e;
  }

  /** Steps that need a name their binding step did not bind are not run (FORMAT.md). */
  guard(t: StepTemplate): string | undefined {
    const names = [...new Set([...refPaths(t).values()].map((r) => r.name))].filter((n) => this.bindings.has(n));
    return names.length ? names.map((n) => `b_${cIdent(n)}`).join(' && ') : undefined;
  }

  expr(t: Tmpl, step: number, field: string): string {
    if (t instanceof Ref) return this.refExpr(t, step, field);
    if (typeof t === 'number' || typeof t === 'bigint') return u64C(t);
    throw new EmitCError(step, field, `expected a number or a reference, got ${show(t)}`);
  }

  declareBinding(name: string, kind: Binding['kind']): void {
    if (!this.bindings.has(name)) {
      this.bindings.set(name, { kind });
    } else if (this.bindings.get(name)?.kind !== kind) {
      this.bindings.set(name, { kind });
    }
  }

  /** `ok` branch binds; otherwise the name is unbound (later steps needing it are not run). */
  emitBinds(t: StepTemplate, step: number, okCond: string, valueOf: (path: string) => { expr: string; kind: Binding['kind'] }): void {
    for (const [name, path] of Object.entries(t.bind ?? {})) {
      const { expr, kind } = valueOf(path);
      this.declareBinding(name, kind);
      const v = cIdent(name);
      this.line(`\t\tif (${okCond}) { ${v} = ${expr}; b_${v} = 1; } else b_${v} = 0;`);
      void step;
    }
  }

  emitCheck(step: number, what: string, e: StepExpect | undefined, ret: string, err: string): void {
    const x = expectC(e);
    for (const n of x.errnos) this.errnos.add(n);
    const arr = x.errnos.length ? `(const int[]){ ${x.errnos.join(', ')} }` : 'NULL';
    if (x.unchecked.length) this.line(`\t\t/* not checked here: ${x.unchecked.join(', ')} of the expect set */`);
    this.line(`\t\tcheck(${step}, ${cString(what)}, ${ret}, ${err}, ${x.ok}, ${arr}, ${x.errnos.length}, ${cString(x.text)}, ${x.ret !== undefined ? 1 : 0}, ${x.ret ?? 0});`);
  }

  step(t: StepTemplate, expect: StepExpect | undefined, note: string | undefined): void {
    const step = ++this.n;
    const f = t.fields as Record<string, Tmpl>;
    const head = t.op === 'ioctl' ? `ioctl(${show(f['fd'] as Tmpl)}, ${String(show(f['cmd'] as Tmpl))}, ${show(((f['arg'] as Record<string, Tmpl>)['fields'] ?? (f['arg'] as Record<string, Tmpl>)['kind']) as Tmpl)})` : `${t.op}(${Object.entries(f).map(([k, x]) => `${k}: ${show(x)}`).join(', ')})`;
    this.line(`\t/* step ${step}: ${comment(head)}${note ? `\n\t * ${comment(note)}` : ''} */`);
    const g = this.guard(t);
    this.line(g ? `\tif (!(${g})) {\n\t\tprintf("%3d. not run: it needs a name an earlier step did not bind\\n", ${step});\n\t} else {` : '\t{');
    switch (t.op) {
      case 'ioctl':
        this.ioctl(t, step, expect);
        break;
      case 'open': {
        const node = f['node'];
        const path = node === 'iommu' ? '/dev/iommu' : node === 'vfio' ? '/dev/vfio/vfio' : undefined;
        if (!path) throw new EmitCError(step, 'node', `unknown node ${show(node as Tmpl)}`);
        this.line(`\t\tint fd = open(${cString(path)}, O_RDWR | O_CLOEXEC);`);
        this.line('\t\tint err = fd < 0 ? errno : 0;');
        this.emitCheck(step, `open ${path}`, expect, 'fd', 'err');
        this.emitBinds(t, step, 'fd >= 0', (p) => {
          if (p !== 'fd') throw new EmitCError(step, `bind`, `open binds fd, not ${p}`);
          return { expr: '(uint64_t)fd', kind: 'scalar' };
        });
        break;
      }
      case 'close':
        this.line(`\t\tlong ret = close((int)${this.expr(f['fd'] as Tmpl, step, 'fd')});`);
        this.line('\t\tint err = ret < 0 ? errno : 0;');
        this.emitCheck(step, 'close', expect, 'ret', 'err');
        break;
      case 'mem_alloc': {
        const prot = f['prot'] === 'r' ? 'PROT_READ' : 'PROT_READ | PROT_WRITE';
        this.line(`\t\tunsigned int h = mem_alloc(${Number(f['length'])}, ${prot}, ${f['hugeAligned'] === true ? 1 : 0});`);
        this.line(`\t\tprintf("%3d. mem_alloc ${Number(f['length'])} bytes at %p\\n", ${step}, (void *)bufs[h].va);`);
        this.emitBinds(t, step, '1', (p) => {
          if (p === '.' || p === '' || p === 'buffer') return { expr: 'h', kind: 'buffer' };
          if (p === 'va') return { expr: '(uint64_t)(uintptr_t)bufs[h].va', kind: 'scalar' };
          if (p === 'length') return { expr: '(uint64_t)bufs[h].len', kind: 'scalar' };
          throw new EmitCError(step, 'bind', `mem_alloc has no ${p}`);
        });
        break;
      }
      case 'mem_write': {
        const data = f['data'];
        if (!(data instanceof Uint8Array)) throw new EmitCError(step, 'data', 'expected bytes');
        this.line(`\t\tstatic const unsigned char data[] = ${bytesC(data)};`);
        this.line(`\t\tmem_write((unsigned int)${this.expr(f['buffer'] as Tmpl, step, 'buffer')}, ${Number(f['offset'] ?? 0)}, data, ${data.length});`);
        this.line(`\t\tprintf("%3d. mem_write ${data.length} bytes\\n", ${step});`);
        break;
      }
      case 'mem_read': {
        this.line(`\t\tunsigned char data[${Math.max(1, Number(f['length']))}];`);
        this.line(`\t\tunsigned int h = (unsigned int)${this.expr(f['buffer'] as Tmpl, step, 'buffer')};`);
        this.line(`\t\tif (pread(proc_mem_fd, data, ${Number(f['length'])}, (off_t)(uintptr_t)(bufs[h].va + ${Number(f['offset'] ?? 0)})) != ${Number(f['length'])}) die("read /proc/self/mem");`);
        this.line(`\t\tprintf("%3d. mem_read ${Number(f['length'])} bytes: %02x %02x ...\\n", ${step}, data[0], ${Number(f['length']) > 1 ? 'data[1]' : '0'});`);
        break;
      }
      case 'mem_unmap':
      case 'mem_protect': {
        const h = this.expr(f['buffer'] as Tmpl, step, 'buffer');
        const at = `bufs[(unsigned int)${h}].va + ${Number(f['offset'] ?? 0)}`;
        if (t.op === 'mem_unmap') this.line(`\t\tif (munmap(${at}, ${Number(f['length'])})) die("munmap");`);
        else {
          const prot = f['prot'] === 'r' ? 'PROT_READ' : f['prot'] === 'none' ? 'PROT_NONE' : 'PROT_READ | PROT_WRITE';
          this.line(`\t\tif (mprotect(${at}, ${Number(f['length'])}, ${prot})) die("mprotect");`);
        }
        this.line(`\t\tprintf("%3d. ${t.op}\\n", ${step});`);
        break;
      }
      case 'set_process': {
        if ('rlimitMemlock' in f) {
          const v = f['rlimitMemlock'];
          const lim = v === null ? 'RLIM_INFINITY' : this.expr(v as Tmpl, step, 'rlimitMemlock');
          this.line(`\t\tstruct rlimit r = { .rlim_cur = ${lim}, .rlim_max = ${lim} };`);
          this.line('\t\tif (setrlimit(RLIMIT_MEMLOCK, &r)) die("setrlimit(RLIMIT_MEMLOCK)");');
        }
        if (typeof f['capIpcLock'] === 'boolean') this.line(`\t\tset_cap(CAP_IPC_LOCK, ${f['capIpcLock'] ? 1 : 0});`);
        if (typeof f['capSysResource'] === 'boolean') this.line(`\t\tset_cap(CAP_SYS_RESOURCE, ${f['capSysResource'] ? 1 : 0});`);
        this.line(`\t\tprintf("%3d. set_process\\n", ${step});`);
        break;
      }
      case 'fail_nth':
        this.line(`\t\tfail_nth(${Number(f['nth'])});`);
        this.line(`\t\tprintf("%3d. fail_nth ${Number(f['nth'])} (armed for the next ioctl)\\n", ${step});`);
        break;
      case 'read':
      case 'write':
      case 'poll': {
        const fd = `(int)${this.expr(f['fd'] as Tmpl, step, 'fd')}`;
        if (t.op === 'read') {
          const count = Number(f['count']);
          this.line(`\t\tunsigned char data[${Math.max(1, count)}];`);
          this.line(`\t\tlong ret = ${f['offset'] !== undefined ? `pread(${fd}, data, ${count}, ${Number(f['offset'])})` : `read(${fd}, data, ${count})`};`);
        } else if (t.op === 'write') {
          const data = f['data'];
          if (!(data instanceof Uint8Array)) throw new EmitCError(step, 'data', 'expected bytes');
          this.line(`\t\tstatic const unsigned char data[] = ${bytesC(data)};`);
          this.line(`\t\tlong ret = ${f['offset'] !== undefined ? `pwrite(${fd}, data, ${data.length}, ${Number(f['offset'])})` : `write(${fd}, data, ${data.length})`};`);
        } else {
          this.line(`\t\tstruct pollfd p = { .fd = ${fd}, .events = ${Number(f['events'])} };`);
          this.line('\t\tlong ret = poll(&p, 1, 0);');
        }
        this.line('\t\tint err = ret < 0 ? errno : 0;');
        this.emitCheck(step, t.op, expect, 'ret', 'err');
        break;
      }
      case 'process_info':
        this.line(`\t\tprintf("%3d. process_info:\\n", ${step}); fflush(stdout);`);
        this.line('\t\t(void)!system("grep -E \'VmLck|VmPin\' /proc/self/status");');
        break;
      case 'capabilities':
      case 'reset':
        this.line(`\t\t/* ${t.op}: nothing to do in a fresh process */`);
        break;
      default:
        throw new EmitCError(step, 'op', `${t.op} has no C equivalent on the kernel lanes (they do not serve it)`);
    }
    this.line('\t}');
  }

  private ioctl(t: StepTemplate, step: number, expect: StepExpect | undefined): void {
    const f = t.fields as Record<string, Tmpl>;
    const fd = `(int)${this.expr(f['fd'] as Tmpl, step, 'fd')}`;
    const cmd = f['cmd'];
    const command = typeof cmd === 'string' || typeof cmd === 'number' ? resolveCommand(this.profile, cmd) : undefined;
    const request = command ? command.name : typeof cmd === 'number' ? `0x${cmd.toString(16)}UL` : undefined;
    if (!request) throw new EmitCError(step, 'cmd', `'${show(cmd as Tmpl)}' is not a command of profile ${this.profile}`);
    const arg = f['arg'] as Record<string, Tmpl>;
    // Resolve with every reference at 0: the bytes hold everything else; references are patched at run time.
    let resolved: IoctlArg;
    try {
      resolved = (resolveStep({ op: 'ioctl', fields: { arg } as never }, () => 0n) as unknown as { arg: IoctlArg }).arg;
    } catch (err) {
      if (err instanceof ResolveError) throw new EmitCError(step, err.field, err.message);
      throw err;
    }
    let what = request;
    if (arg['kind'] === 'struct') {
      const fields = arg['fields'] as Record<string, Tmpl>;
      const op = typeof fields['op'] === 'number' ? testOpByValue(this.profile, fields['op'])?.name : undefined;
      if (op) what = `${request}(${op})`;
      if (!command?.struct) throw new EmitCError(step, 'arg.kind', `${request} takes no struct argument`);
      const pointers: { offset: number; path: string; target: PointerArg }[] = [];
      let built;
      try {
        built = buildIoctlArg(this.profile, command, resolved, (path, target) => {
          pointers.push({ offset: -1, path, target });
          return 0n;
        });
      } catch (err) {
        if (err instanceof CodecError) throw new EmitCError(step, `fields.${err.field ?? ''}`, err.message);
        throw err;
      }
      if (built.kind !== 'bytes') throw new EmitCError(step, 'arg', 'not a struct argument');
      const layout = structLayout(this.profile, command.struct);
      if (!layout) throw new EmitCError(step, 'cmd', `struct ${command.struct} is not in profile ${this.profile}`);
      this.line(`\t\t/* struct ${command.struct} ${comment(show(fields))}${arg['readOnly'] === true ? ', read-only' : ''}${arg['tail'] !== undefined ? ' + a tail' : ''}${arg['truncate'] !== undefined ? `, truncated to ${String(arg['truncate'])} bytes` : ''} */`);
      this.line(`\t\tstatic const unsigned char init[${built.bytes.length || 1}] = ${bytesC(built.bytes)};`);
      this.line(`\t\tunsigned char *arg = scratch(init, ${built.bytes.length});`);
      for (const [path, r] of refPaths({ op: 'ioctl', fields: { fields } as never })) {
        const member = path.replace(/^fields\./, '');
        const row = rowOf(layout.rows, member);
        if (!row) throw new EmitCError(step, `fields.${member}`, `a reference in a place C cannot patch (not a scalar member of struct ${command.struct})`);
        if (row.offset + row.size > built.bytes.length) continue; // truncated away
        this.line(`\t\tput_le(arg, ${row.offset}, ${row.size}, ${this.refExpr(r, step, `fields.${member}`)}); /* ${member} = ${r.toString()} */`);
      }
      for (const p of built.pointers) {
        const target = p.arg;
        if ('data' in target) {
          this.line(`\t\tstatic const unsigned char ${cVar(p.path)}_data[${target.data.length || 1}] = ${bytesC(target.data)};`);
          this.line(`\t\tput_le(arg, ${p.offset}, 8, (uintptr_t)scratch(${cVar(p.path)}_data, ${target.data.length})); /* ${p.path}: ${target.data.length} bytes */`);
        } else {
          this.line(`\t\tput_le(arg, ${p.offset}, 8, (uintptr_t)scratch(NULL, ${target.room})); /* ${p.path}: room for ${target.room} bytes */`);
        }
      }
      if (arg['readOnly'] === true) this.line(`\t\tread_only(arg, ${built.bytes.length}); /* readOnly: the copy back faults */`);
      this.line(`\t\tlong ret = do_ioctl(${fd}, ${request}, (unsigned long)arg);`);
      this.line('\t\tint err = ret < 0 ? errno : 0;');
      this.emitCheck(step, what, expect, 'ret', 'err');
      this.emitBinds(t, step, 'ret >= 0', (bindPath) => {
        if (bindPath === 'ret') return { expr: '(uint64_t)ret', kind: 'scalar' };
        const m = /^out\.(.+)$/.exec(bindPath);
        const row = m ? rowOf(layout.rows, m[1] as string) : undefined;
        if (!row || row.size > 8) throw new EmitCError(step, 'bind', `cannot bind ${bindPath} in C (only ret and scalar out.* members)`);
        return { expr: `get_le(arg, ${row.offset}, ${row.size})`, kind: 'scalar' };
      });
      return;
    }
    // int, null, fault, raw arguments.
    let argExpr: string;
    if (arg['kind'] === 'int') argExpr = `(unsigned long)${this.expr(arg['value'] as Tmpl, step, 'arg.value')}`;
    else if (arg['kind'] === 'null') argExpr = '0';
    else if (arg['kind'] === 'fault') argExpr = '(unsigned long)fault_page()';
    else if (arg['kind'] === 'raw') {
      if (refPaths({ op: 'ioctl', fields: { arg } as never }).size > 0) throw new EmitCError(step, 'arg.bytes', 'references inside raw bytes');
      const built = buildUntypedArg(resolved as Exclude<IoctlArg, { kind: 'struct' }>, () => 0n);
      if (built.kind !== 'bytes') throw new EmitCError(step, 'arg', 'raw argument without bytes');
      if (built.pointers.some((p) => p.path.split('.').length > 2)) throw new EmitCError(step, 'arg.ptrs', 'nested pointer patches');
      this.line(`\t\tstatic const unsigned char init[${built.bytes.length || 1}] = ${bytesC(built.bytes)};`);
      this.line(`\t\tunsigned char *arg = scratch(init, ${built.bytes.length});`);
      for (const p of built.pointers) {
        const target = p.arg;
        if ('data' in target) {
          this.line(`\t\tstatic const unsigned char ${cVar(p.path)}_data[${target.data.length || 1}] = ${bytesC(target.data)};`);
          this.line(`\t\tput_le(arg, ${p.offset}, 8, (uintptr_t)scratch(${cVar(p.path)}_data, ${target.data.length}));`);
        } else this.line(`\t\tput_le(arg, ${p.offset}, 8, (uintptr_t)scratch(NULL, ${target.room}));`);
      }
      if (arg['readOnly'] === true) this.line(`\t\tread_only(arg, ${built.bytes.length}); /* readOnly: the copy back faults */`);
      argExpr = '(unsigned long)arg';
    } else throw new EmitCError(step, 'arg.kind', `unknown argument kind ${String(arg['kind'])}`);
    this.line(`\t\tlong ret = do_ioctl(${fd}, ${request}, ${argExpr});`);
    this.line('\t\tint err = ret < 0 ? errno : 0;');
    this.emitCheck(step, `${what} (${String(arg['kind'])} arg)`, expect, 'ret', 'err');
    this.emitBinds(t, step, 'ret >= 0', (bindPath) => {
      if (bindPath === 'ret') return { expr: '(uint64_t)ret', kind: 'scalar' };
      throw new EmitCError(step, 'bind', `cannot bind ${bindPath} of a ${String(arg['kind'])} argument`);
    });
  }

  declarations(): string {
    return [...this.bindings.entries()]
      .map(([name, b]) => `\t${b.kind === 'buffer' ? 'unsigned int' : 'uint64_t'} ${cIdent(name)} __attribute__((unused)) = 0; int b_${cIdent(name)} __attribute__((unused)) = 0;`)
      .join('\n');
  }
}

function cVar(path: string): string {
  return `p_${path.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** A member's row: a plain path, or an element of an array member (`a.3`). */
function rowOf(rows: readonly { path: string; offset: number; size: number; elemSize?: number }[], member: string): { offset: number; size: number } | undefined {
  const exact = rows.find((r) => r.path === member && r.elemSize === undefined);
  if (exact) return exact;
  const m = /^(.*)\.(\d+)$/.exec(member);
  if (!m) return undefined;
  const arr = rows.find((r) => r.path === m[1] && r.elemSize !== undefined);
  if (!arr || arr.elemSize === undefined) return undefined;
  const i = Number(m[2]);
  if ((i + 1) * arr.elemSize > arr.size) return undefined;
  return { offset: arr.offset + i * arr.elemSize, size: arr.elemSize };
}

export interface EmitCOptions {
  readonly profile?: Profile;
  /** Where the program came from (a file name), for the header comment. */
  readonly source?: string;
}

/** The program as C source. Throws EmitCError for a step C cannot express. */
export function emitC(program: Program, opts: EmitCOptions = {}): string {
  const profile = opts.profile ?? program.profiles[0];
  if (!profile) throw new EmitCError(0, 'profiles', 'the program names no profile');
  const em = new Emitter(profile);
  program.steps.forEach((s, i) => {
    let t: StepTemplate;
    try {
      t = compileProgramStep(s, profile);
    } catch (err) {
      if (err instanceof ResolveError) throw new EmitCError(i + 1, err.field, err.message);
      throw err;
    }
    em.step(t, s.expect, s.note);
  });
  const r = program.replay ?? {};
  const header = [
    `// SPDX-License-Identifier: MIT`,
    `/*`,
    ` * ${comment(program.name)}: emitted by \`iommufd-spec replay --emit-c\` from ${comment(opts.source ?? 'a program')}.`,
    ` * ${comment(program.description ?? '')}`.trimEnd(),
    ...(r['implementation'] !== undefined
      ? [
          ` *`,
          ` * Found by the conformance suite on ${comment(String(r['implementation']))} (seed ${String(r['seed'])}, oracle ${comment(String(r['oracle']))},`,
          ` * property ${comment(String(r['property']))}): ${comment(String(r['message'] ?? ''))}`,
          ` * expected ${comment(String(r['expected'] ?? '?'))}, observed ${comment(String(r['observed'] ?? '?'))}.`,
        ]
      : []),
    ` *`,
    ` * Linux ${profile} profile, CONFIG_IOMMUFD_TEST=y (the mock IOMMU driver and IOMMU_TEST_CMD).`,
    ` * Build: gcc -static -O2 -I<kernel>/include -o repro repro.c, where <kernel>/include holds the`,
    ` * exported uAPI headers (make headers_install) and drivers/iommu/iommufd/iommufd_test.h.`,
    ` * Run as root. Each step prints its result; a step outside its allowed set prints DIVERGES.`,
    ` * Exit 1: a step diverged (the failure reproduces); 0: every step as allowed; 2: set-up failed.`,
    ` * Checked here: statuses and errnos. Output values, translations and pin counts are not.`,
    ` */`,
  ];
  const main = [
    'int main(void)',
    '{',
    em.declarations(),
    '',
    '\tsetvbuf(stdout, NULL, _IONBF, 0);',
    '\t/* Small pages, as the kernel lane adapter has them: MD_CHECK_REFS skips compound pages. */',
    '\tif (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))',
    '\t\tdie("prctl(PR_SET_THP_DISABLE)");',
    '\tpage_size = sysconf(_SC_PAGESIZE);',
    '\tproc_mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);',
    '\tif (proc_mem_fd < 0)',
    '\t\tdie("open /proc/self/mem");',
    '\t{',
    '\t\tstruct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };',
    '\t\t(void)setrlimit(RLIMIT_MEMLOCK, &r); /* ADAPTER.md 3.2: the session starts unlimited */',
    '\t}',
    '',
    em.body,
    '',
    `\tprintf("%d step(s) checked, %d outside their allowed set: %s\\n", steps_checked, diverged, diverged ? "REPRODUCED" : "not reproduced");`,
    '\treturn diverged ? 1 : 0;',
    '}',
    '',
  ];
  const errnoCases = em.errnoNames.length ? em.errnoNames : [];
  const all = [...new Set([...errnoCases, 'EPERM', 'ENOENT', 'EBADF', 'ENOMEM', 'EFAULT', 'EBUSY', 'EEXIST', 'ENODEV', 'EINVAL', 'ENOSPC', 'ENOTTY', 'ERANGE', 'EOVERFLOW', 'EOPNOTSUPP', 'E2BIG', 'EAGAIN', 'EIO', 'ENXIO', 'EMSGSIZE', 'ENOSYS', 'EBADFD'])].sort();
  const prelude = C_PRELUDE.replace('%ERRNO_CASES%', all.map((e) => `\tcase ${e}: return "${e}";`).join('\n'));
  return `${header.join('\n')}\n${prelude}\n${main.join('\n')}`;
}
