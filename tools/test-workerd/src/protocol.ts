/**
 * What the Node side and the Worker side of the workerd store suite say to
 * each other: plain JSON over `dispatchFetch`.
 */
import type { CheckGroup, ClockKind, StoreCheckReport } from '@idem/conformance/store/checks';

/** The variables that steer fast-check, forwarded from Node's `process.env` to the Worker. */
export const FC_VARIABLES: readonly string[] = ['FC_NUM_RUNS', 'FC_SEED', 'FC_PATH'];

/** One check of a suite, as `GET /checks` lists it. */
export interface CheckListing {
  readonly group: CheckGroup;
  readonly name: string;
  /** Why the suite's options leave it out; absent when it runs. */
  readonly skip?: string;
}

/** One suite of the Worker, as `GET /checks` lists it. */
export interface SuiteListing {
  /** The key the Worker registered the suite under; `POST /run/<id>/<index>` names it. */
  readonly id: string;
  /** The suite's `name` option, which titles its `describe` block. */
  readonly name: string;
  /** Why the whole suite is skipped; absent when it runs. */
  readonly skip?: string;
  /** How the suite's stores tell time: with `'server'`, the expiry checks wait in real time. */
  readonly clock: ClockKind;
  /** The suite's per-check timeout in ms. */
  readonly timeoutMs: number;
  readonly checks: readonly CheckListing[];
}

/** The body of `POST /run/<suite>/<index>`. */
export interface RunRequest {
  /** The check's name, so a Worker whose list changed since cannot run another check. */
  readonly name: string;
  /** `FC_*` variables from the Node test's environment. */
  readonly env: Readonly<Record<string, string>>;
}

/** The answer of `POST /run/<suite>/<index>`: the check's report, or why it failed. */
export type RunAnswer =
  | { readonly ok: true; readonly report: StoreCheckReport | null }
  | { readonly ok: false; readonly name: string; readonly message: string; readonly stack: string };
