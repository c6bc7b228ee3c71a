// How a process or worker thread of the suite loads TypeScript: tsx for
// resolution (and anything outside the project), the project's own files
// compiled by typescript-hooks.mjs (why: see there). Registered once per
// thread, before the first .ts import.
import { register } from 'node:module';
import { URL } from 'node:url';
import { register as registerTsx } from 'tsx/esm/api';

export function registerTypeScript() {
  registerTsx();
  // Hooks registered later run first: ours compile the project's files, tsx's serve the rest.
  register(new URL('./typescript-hooks.mjs', import.meta.url));
}
