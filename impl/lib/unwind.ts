/**
 * The error path of a kernel function, as one mechanism: what a function
 * takes it registers, right after taking it, with the label the kernel's goto
 * ladder gives its release; the single exit releases in reverse order.
 *
 *   const unwind = new Unwind();
 *   const obj = alloc();                                     // obj = iommufd_object_alloc(...)
 *   unwind.onError('err_abort', () => abort(obj));           //   ... goto err_abort
 *   if ((rc = attach(obj))) return unwind.exit(rc);          // rc = attach(); if (rc) goto err_detach
 *   unwind.onError('err_detach', () => detach(obj));
 *   unwind.always('out_put', () => put(ref));                // out_put: runs on success too
 *   return unwind.exit(respond());                           // return rc;  err_detach: ... err_abort: ...
 *
 * `onError` entries (the kernel's err_* labels) run only when the exit value
 * is a failure (a non-zero errno); `always` entries (out_* labels) on every
 * exit. `goto(ret)` runs the whole ladder whatever `ret` is, for the kernel's
 * `ret = 0; goto out_abort;` (give back what was taken, yet succeed). `commit()` drops the error entries when the resources now belong to
 * someone else but the function goes on. Node 20 has no DisposableStack, and
 * a ladder that runs only on failure is not what `using` does anyway.
 */

/** A function's exit value: 0 / a negative errno, or a Result-like `{ errno }`. */
export type ExitValue = number | { readonly errno: number };

interface Step {
  readonly label: string;
  readonly onErrorOnly: boolean;
  readonly release: () => void;
}

export class Unwind {
  private steps: Step[] = [];
  private exited = false;

  /** Release `release` if the function fails after this point (an err_* label). */
  onError(label: string, release: () => void): void {
    this.steps.push({ label, onErrorOnly: true, release });
  }

  /** Release `release` on every exit from this point on (an out_* label). */
  always(label: string, release: () => void): void {
    this.steps.push({ label, onErrorOnly: false, release });
  }

  /** The error entries so far no longer apply (ownership moved on); `always` entries stay. */
  commit(): void {
    this.steps = this.steps.filter((s) => !s.onErrorOnly);
  }

  /** The labels that a failure here would run, latest first (for tests and debugging). */
  get pending(): readonly string[] {
    return this.steps.map((s) => s.label).reverse();
  }

  /**
   * The single exit: run the entries that apply — every entry on failure,
   * the `always` ones on success — latest first, and return `ret` unchanged.
   */
  exit<T extends ExitValue>(ret: T): T {
    return this.run(ret, (typeof ret === 'number' ? ret : ret.errno) !== 0);
  }

  /** Jump into the ladder: run every entry, latest first, even though `ret` may be a success. */
  goto<T extends ExitValue>(ret: T): T {
    return this.run(ret, true);
  }

  private run<T extends ExitValue>(ret: T, all: boolean): T {
    if (this.exited) throw new Error('Unwind: the function already exited');
    this.exited = true;
    for (let i = this.steps.length - 1; i >= 0; i--) {
      const s = this.steps[i]!;
      if (all || !s.onErrorOnly) s.release();
    }
    this.steps = [];
    return ret;
  }
}
