export { type FetchSuiteApp, suiteFetchHandler } from './routes.js';
