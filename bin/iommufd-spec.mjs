#!/usr/bin/env node
// Entry point of the `iommufd-spec` command: runs the TypeScript CLI through
// its loader (tsx, with the project's files compiled without keepNames: see
// conformance/suite/typescript-hooks.mjs), so it works from a fresh clone
// after `npm install` with no build step.
import { registerTypeScript } from '../conformance/suite/typescript.mjs';

registerTypeScript();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
