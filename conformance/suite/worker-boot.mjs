// Worker threads do not inherit the main thread's TypeScript loader: register it here, then run the worker.
import { registerTypeScript } from './typescript.mjs';

registerTypeScript();
await import('./worker.ts');
