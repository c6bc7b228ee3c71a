/**
 * How a mutant is made: the reference implementation with one small fault,
 * applied from here — never by a switch inside impl/.
 *
 * A mutant adapter owns one reference instance (`createReferenceAdapter`, as
 * `--impl ref` builds it) and patches only objects that instance owns, as own
 * properties of those objects (never a prototype, never a module export):
 *
 *   - the iommufd files it opens: their `ops.ioctl` is replaced by the
 *     reference's own dispatch (`iommufdIoctlDecode`, `IOMMUFD_IOCTL_HANDLERS`)
 *     composed with one faulty handler (`handlers`), a faulty decode step
 *     (`decodeFailed`), or a faulty VFIO type1 compat command (`compat`);
 *   - the iommufd files' ioctl, whole, with its decode (`iommufdIoctl`);
 *   - the VFIO device files it opens: their `ops.ioctl` is wrapped (`vfioIoctl`);
 *   - its process (pin/unpin), its machine (`Machine` methods, the per-machine
 *     IOMMU drivers and their hardware units) and every paging domain those
 *     drivers allocate (`domain`);
 *   - the objects each of its iommufd contexts stores (`object`);
 *   - environment requests (KVM, …) around the reference's handling (`request`).
 *
 * The differential oracle's reference (conformance/suite/reference.ts) is
 * another instance: another process, machine, drivers and files, none of which
 * these patches reach. `assertPristine` (mutants.test.ts) checks that no
 * prototype or export changed.
 */
import type { Implementation, Profile, Response, SingleRequest } from '../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../impl/adapter/adapter.ts';
import { IOMMUFD_IOCTL_HANDLERS, iommufdIoctlDecode } from '../../impl/iommufd/main.ts';
import type { IoctlExecute, IommufdCtx, Ucmd } from '../../impl/iommufd/iommufd_private.ts';
import type { IommufdObject } from '../../impl/iommufd/object.ts';
import { layoutOf, UcmdStruct } from '../../impl/iommufd/ucmd.ts';
import type { VfioDeviceFile } from '../../impl/iommufd/vfio_cdev.ts';
import { machineFor, type IommuDomain, type Machine } from '../../impl/platform/index.ts';
import type { KFile, KFileOps } from '../../impl/process/file.ts';
import type { Process } from '../../impl/process/process.ts';
import type { IoctlDecode } from '../../spec/abi/dispatch.ts';

/** What a mutant changes; each hook patches objects the mutant's own reference instance owns. */
export interface MutantHooks {
  /** Faulty iommufd ioctl handlers by command name: `original` is the reference's handler. */
  readonly handlers?: { readonly [cmd: string]: (ucmd: Ucmd, original: IoctlExecute) => number };
  /** A decode that failed (`d.ok` false): answer instead of the reference (`original()` = the reference's errno). */
  readonly decodeFailed?: (ctx: IommufdCtx, cmd: number, arg: bigint, d: Extract<IoctlDecode, { ok: false }>, original: () => number, dispatch: (d: IoctlDecode) => number) => number;
  /**
   * Faulty VFIO type1 compat commands on an iommufd file, by command name (VFIO_IOMMU_MAP_DMA, …):
   * `d` is the decoded argsz-style argument, `original()` the reference's own dispatch of it.
   */
  readonly compat?: { readonly [cmd: string]: (ctx: IommufdCtx, d: CompatDecode, arg: bigint, original: () => number) => number };
  /**
   * Around every ioctl on an iommufd file, with its decode (the reference's iommufd_fops_ioctl
   * decode): for commands outside the handler table (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU, whose
   * argument is an integer) and for faults around a whole command. `original()` is the file's
   * ioctl as the other hooks left it.
   */
  readonly iommufdIoctl?: (ctx: IommufdCtx, d: IoctlDecode, original: () => number) => number;
  /** Around every ioctl on a VFIO device file. */
  readonly vfioIoctl?: (df: VfioDeviceFile, cmd: number, arg: bigint, original: () => number) => number;
  /** The process, once per process (reset makes a new one). */
  readonly process?: (proc: Process, env: MutantEnv) => void;
  /** The machine, once per process. */
  readonly machine?: (m: Machine, env: MutantEnv) => void;
  /** Every paging domain a driver of the machine allocates. */
  readonly domain?: (d: IommuDomain, env: MutantEnv) => void;
  /** Every object an iommufd context of the process publishes. */
  readonly object?: (obj: IommufdObject, ctx: IommufdCtx, env: MutantEnv) => void;
  /** Every iommufd context the process opens. */
  readonly ctx?: (ctx: IommufdCtx, env: MutantEnv) => void;
  /** Around the reference's handling of a request. */
  readonly request?: (req: SingleRequest, next: (r: SingleRequest) => Response, env: MutantEnv) => Response;
}

/** A VFIO type1 compat command's decoded argument (argsz-style struct). */
export type CompatDecode = Extract<IoctlDecode, { kind: 'extensible' | 'vfio-argsz' }> & { readonly kind: 'vfio-argsz' };

/** What a hook sees of the mutant's reference instance. */
export interface MutantEnv {
  readonly profile: Profile;
  readonly proc: Process;
  machine(): Machine;
  /** Set while an ioctl of this command name is in the iommufd dispatch (the innermost). */
  readonly inIoctl: string | undefined;
}

/** Replace `obj[key]` by an own property built from the current value. Refuses prototypes. */
export function patchOwn<T extends object, K extends keyof T>(obj: T, key: K, make: (original: T[K]) => T[K]): void {
  const ctor = (obj as { constructor?: { prototype?: unknown } }).constructor;
  if (ctor && ctor.prototype === obj) throw new Error(`mutant harness: refusing to patch a prototype (${String(key)})`);
  const original = obj[key];
  const bound = typeof original === 'function' ? (original as (...a: unknown[]) => unknown).bind(obj) : original;
  Object.defineProperty(obj, key, { value: make(bound as T[K]), writable: true, configurable: true, enumerable: false });
}

interface ReferenceInternals extends Implementation {
  proc: Process;
}

/** The reference behind the adapter contract with `hooks` applied to its own objects. */
export function mutantImplementation(name: string, profile: Profile, hooks: MutantHooks): Implementation {
  const ref = createReferenceAdapter(profile) as ReferenceInternals;
  let installed: Process | undefined;
  const state: { inIoctl: string | undefined } = { inIoctl: undefined };
  const env = (): MutantEnv => ({
    profile,
    proc: ref.proc,
    machine: () => machineFor(ref.proc, profile),
    get inIoctl() {
      return state.inIoctl;
    },
  });

  const wrapIommufdFile = (file: KFile): void => {
    const ctx = file.private_data as IommufdCtx;
    hooks.ctx?.(ctx, env());
    if (hooks.object) {
      const onObject = hooks.object;
      patchOwn(ctx.objects, 'store', (store) => (id, obj) => {
        store(id, obj);
        onObject(obj, ctx, env());
      });
    }
    if (hooks.handlers || hooks.decodeFailed || hooks.compat) wrapDispatch(file, ctx);
    const around = hooks.iommufdIoctl;
    if (!around) return;
    const inner = file.ops;
    const ops: KFileOps = { ...inner, ioctl: (f, cmd, arg) => around(ctx, iommufdIoctlDecode(ctx, cmd, arg), () => inner.ioctl!(f, cmd, arg)) };
    Object.defineProperty(file, 'ops', { value: ops, writable: false, configurable: true, enumerable: true });
  };

  /** The iommufd file's ioctl over the reference's own decode and handler table, with the faulty handlers, decode step or compat commands. */
  const wrapDispatch = (file: KFile, ctx: IommufdCtx): void => {
    const original = file.ops;
    /** op->execute for a decoded command: the faulty handler, or (for a decode the mutant changed) the reference's own. */
    const dispatch = (d: IoctlDecode, cmd: number, arg: bigint, redecoded = false): number => {
      if (!d.ok) return -d.errno;
      if (d.kind !== 'extensible') {
        const compat = d.kind === 'vfio-argsz' ? hooks.compat?.[d.command.name] : undefined;
        return compat ? compat(ctx, d as CompatDecode, arg, () => original.ioctl!(file, cmd, arg)) : original.ioctl!(file, cmd, arg);
      }
      const name = d.command.name;
      const faulty = hooks.handlers?.[name];
      const execute = IOMMUFD_IOCTL_HANDLERS[name];
      if (!execute) return original.ioctl!(file, cmd, arg);
      if (!faulty && !redecoded) return original.ioctl!(file, cmd, arg);
      const ucmd: Ucmd = { ctx, ubuffer: arg, userSize: d.size, cmd: new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes) };
      const outer = state.inIoctl;
      state.inIoctl = name;
      try {
        return faulty ? faulty(ucmd, execute) : execute(ucmd);
      } finally {
        state.inIoctl = outer;
      }
    };
    const ops: KFileOps = {
      ...original,
      release: (f) => original.release(f),
      ioctl: (_f, cmd, arg) => {
        const d = iommufdIoctlDecode(ctx, cmd, arg);
        if (!d.ok) return hooks.decodeFailed ? hooks.decodeFailed(ctx, cmd, arg, d, () => -d.errno, (d2) => dispatch(d2, cmd, arg, true)) : -d.errno;
        return dispatch(d, cmd, arg);
      },
    };
    Object.defineProperty(file, 'ops', { value: ops, writable: false, configurable: true, enumerable: true });
  };

  const wrapVfioFile = (file: KFile): void => {
    const vfio = hooks.vfioIoctl;
    if (!vfio) return;
    const original = file.ops;
    const ops: KFileOps = { ...original, ioctl: (f, cmd, arg) => vfio(file.private_data as VfioDeviceFile, cmd, arg, () => original.ioctl!(f, cmd, arg)) };
    Object.defineProperty(file, 'ops', { value: ops, writable: false, configurable: true, enumerable: true });
  };

  const install = (): void => {
    if (installed === ref.proc) return;
    const proc = ref.proc;
    installed = proc;
    patchOwn(proc.fds, 'fdInstall', (fdInstall) => (fd, file) => {
      if (file.kind === 'iommufd') wrapIommufdFile(file);
      else if (file.kind === 'vfio-device') wrapVfioFile(file);
      fdInstall(fd, file);
    });
    hooks.process?.(proc, env());
    if (hooks.machine || hooks.domain) {
      const m = machineFor(proc, profile);
      hooks.machine?.(m, env());
      const onDomain = hooks.domain;
      if (onDomain) {
        const drivers = new Set([...m.instances.values()].map((i) => i.driver));
        for (const drv of drivers) {
          patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
            const r = alloc(dev, flags, data);
            if (r.errno === 0 && 'domain' in r) onDomain(r.domain, env());
            return r;
          });
        }
      }
    }
  };

  const handle = (req: SingleRequest): Response => {
    install();
    const next = (r: SingleRequest): Response => {
      const res = ref.handle(r) as Response;
      install(); // a reset inside makes a new process
      return res;
    };
    return hooks.request ? hooks.request(req, next, env()) : next(req);
  };

  return {
    name: `mutant:${name}`,
    version: ref.version,
    profile,
    handle,
    close: () => ref.close?.(),
  };
}

/** The machine's hardware IOMMU units, each once (units of one driver may share one). */
export function hwUnits(m: Machine) {
  return [...new Set([...m.instances.values()].map((i) => i.hw))];
}
