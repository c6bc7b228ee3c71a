/**
 * Named checks. A spec clause names the checks that verify it; a check is a
 * vitest test declared with `check(name, fn)`, whose title is `check: <name>`.
 * The clause registry test finds every declared check by scanning the test
 * sources for `check('<name>'`, so a clause naming a check that does not exist
 * fails `npm test`. Only literal names can be found that way: a name built at
 * run time (a template with ${…}) still runs, but no clause can name it.
 */
import { it } from 'vitest';

export const CHECK_TITLE_PREFIX = 'check: ';

export function check(name: string, fn: () => void | Promise<void>, timeout?: number): void {
  it(`${CHECK_TITLE_PREFIX}${name}`, fn, timeout);
}
