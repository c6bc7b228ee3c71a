// Worker threads do not inherit the main thread's TypeScript loader: register it here, then run
// the worker: the suite's (--jobs) unless workerData names another entry module by URL.
import { workerData } from 'node:worker_threads';
import { registerTypeScript } from './typescript.mjs';

registerTypeScript();
await import(workerData?.entry ?? './worker.ts');
