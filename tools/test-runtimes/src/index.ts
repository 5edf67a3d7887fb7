export type { Answers, ServerSpec, StoreSpec } from './protocol.js';
export { type RemoteSuite, type Runtime, remoteSuite } from './remote.js';
export { type FetchSuiteApp, type Handler, suiteFetchHandler } from './routes.js';
export { type DuplicateStormReport, duplicateStorm } from './storm.js';
