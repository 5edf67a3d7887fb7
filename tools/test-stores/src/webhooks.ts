import type { webhooks as corePresets, RouteOptions } from '@idem/core/http';
import type { Store } from '@idem/core/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestStores } from './index.js';
import {
  type Accepted,
  type Delivery,
  githubOrgProvider,
  githubProvider,
  type Header,
  type Provider,
  shopifyProvider,
  standardWebhooksProvider,
  stripeProvider,
  svixProvider,
} from './webhook-providers.js';

export type { Accepted, Delivery, Header, Verdict } from './webhook-providers.js';

/** One webhook endpoint of the test app. */
export interface WebhookRoute {
  readonly path: string;
  /** Verify a delivery with the provider's SDK; the adapter runs it before idem, on the raw body. */
  verify: Provider['verify'];
  /**
   * idem's options for the route: the adapter's preset, with `scope` reading
   * the verdict where one endpoint serves several accounts. `accepted` finds,
   * on the framework's request, the verdict the adapter kept there.
   */
  options<Ctx>(accepted: (ctx: Ctx) => Accepted): RouteOptions<Ctx>;
}

/** The handler's answer: the adapter sends it as JSON. */
export interface Answer {
  readonly status: 200;
  readonly body: { readonly received: string; readonly account: string; readonly run: number };
}

/** What an adapter's test app serves: each route as verifier, then idem, then `receive`. */
export interface WebhookApp {
  readonly store: Store;
  readonly routes: readonly WebhookRoute[];
  /** The handler, behind verification and idem: counts the run and acknowledges the delivery. */
  receive(route: WebhookRoute, accepted: Accepted, body: string, header: Header): Promise<Answer>;
}

/** A started test server. */
export interface WebhookServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serve a {@link WebhookApp} with the adapter. */
export type StartWebhookServer = (app: WebhookApp) => Promise<WebhookServer>;

/** Options of {@link describeWebhooks}. */
export interface DescribeWebhooksOptions {
  /** The presets as the adapter re-exports them. */
  readonly webhooks: typeof corePresets;
  /** The stores to run on (`reachableStores`), with their skip reasons. */
  readonly stores: TestStores;
  readonly start: StartWebhookServer;
}

const PROVIDERS = [
  stripeProvider,
  githubProvider,
  githubOrgProvider,
  shopifyProvider,
  standardWebhooksProvider,
  svixProvider,
] as const;

/** A handler the test can hold, to keep a delivery in flight. */
interface Hold {
  readonly entered: Promise<void>;
  release(): void;
}

function testApp(store: Store, presets: typeof corePresets) {
  const runs = new Map<string, number>();
  let total = 0;
  const holds = new Map<string, { enter(): void; released: Promise<void> }>();
  const routes = new Map<Provider, WebhookRoute>();
  for (const provider of PROVIDERS) {
    routes.set(provider, {
      path: provider.path,
      verify: (body, header) => provider.verify(body, header),
      options: <Ctx>(accepted: (ctx: Ctx) => Accepted): RouteOptions<Ctx> =>
        provider.accounts.length > 1
          ? // One endpoint, several senders: each one's ids in a scope of its own.
            {
              ...presets[provider.preset],
              scope: (ctx: Ctx) => `webhooks:${provider.name}:${accepted(ctx).account}`,
            }
          : presets[provider.preset],
    });
  }
  const providerOf = new Map([...routes].map(([provider, route]) => [route, provider]));
  const app: WebhookApp = {
    store,
    routes: [...routes.values()],
    async receive(route, accepted, body, header) {
      const provider = providerOf.get(route)!;
      const id = provider.idOf(body, header) ?? '';
      const hold = holds.get(id);
      if (hold) {
        hold.enter();
        await hold.released;
      }
      const key = `${provider.name}:${accepted.account}:${id}`;
      runs.set(key, (runs.get(key) ?? 0) + 1);
      return { status: 200, body: { received: id, account: accepted.account, run: ++total } };
    },
  };
  return {
    app,
    /** How many times the handler ran, for any delivery. */
    total: () => total,
    /** How many times the handler ran for this delivery id. */
    runs: (provider: Provider, id: string, account = provider.accounts[0]!) =>
      runs.get(`${provider.name}:${account}:${id}`) ?? 0,
    /** Keep the handler of this delivery id waiting until `release()`. */
    hold(id: string): Hold {
      let enter!: () => void;
      let release!: () => void;
      const entered = new Promise<void>((resolve) => {
        enter = resolve;
      });
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      holds.set(id, { enter, released });
      return {
        entered,
        release() {
          holds.delete(id);
          release();
        },
      };
    },
  };
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** Send a delivery; `chunked`: as a stream, without `Content-Length`, as a proxy may pass it on. */
async function send(url: string, delivery: Delivery, chunked = false): Promise<Reply> {
  const res = await fetch(`${url}${delivery.path}`, {
    method: 'POST',
    headers: delivery.headers,
    body: chunked ? new Blob([delivery.body]).stream() : delivery.body,
    ...(chunked ? { duplex: 'half' } : {}),
    signal: AbortSignal.timeout(10_000),
  } as RequestInit);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function expectProblem(reply: Reply, status: number, kind: string): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(JSON.parse(reply.text)).toMatchObject({ type: `urn:idem:problem:${kind}`, status });
}

function expectFresh(reply: Reply, id: string): void {
  expect(reply.status, reply.text).toBe(200);
  expect(reply.headers.get('idempotent-replayed')).toBeNull();
  expect(JSON.parse(reply.text)).toMatchObject({ received: id });
}

/**
 * Real-shaped deliveries and redeliveries of Stripe, GitHub, Shopify,
 * Standard Webhooks and Svix through one adapter, on each store of
 * `stores`: signed and verified with each provider's own SDK before idem
 * runs, keyed, scoped and fingerprinted by the `webhooks` presets.
 */
export function describeWebhooks(adapter: string, options: DescribeWebhooksOptions): void {
  const { stores, start } = options;
  describe(`${adapter}: webhook presets`, () => {
    for (const [name, create] of Object.entries(stores.stores)) {
      describe(`on the ${name} store`, () => {
        let server: WebhookServer;
        let t: ReturnType<typeof testApp>;
        beforeAll(async () => {
          t = testApp(await create(), options.webhooks);
          server = await start(t.app);
        });
        afterAll(() => server?.close());

        for (const provider of PROVIDERS) {
          describeProvider(
            provider,
            () => server.url,
            () => t,
          );
        }

        it('deliveries of different providers with the same id never meet', async () => {
          const id = `shared-${stripeProvider.newId()}`;
          for (const provider of PROVIDERS) {
            expectFresh(await send(server.url, await provider.deliver(id)), id);
          }
          for (const provider of PROVIDERS) expect(t.runs(provider, id), provider.name).toBe(1);
        });

        it('one endpoint, two senders (a scope per account): the same id from each runs once for each', async () => {
          const id = svixProvider.newId();
          const [acme, globex] = svixProvider.accounts as [string, string];
          const fromAcme = await svixProvider.deliver(id, { account: acme });
          const fromGlobex = await svixProvider.deliver(id, { event: 'b', account: globex });
          expectFresh(await send(server.url, fromAcme), id);
          expectFresh(await send(server.url, fromGlobex), id);
          const again = await send(
            server.url,
            await svixProvider.deliver(id, { account: globex, event: 'b', attempt: 2 }),
          );
          expect(again.headers.get('idempotent-replayed')).toBe('true');
          expect(JSON.parse(again.text)).toMatchObject({ account: globex });
          expect(t.runs(svixProvider, id, acme)).toBe(1);
          expect(t.runs(svixProvider, id, globex)).toBe(1);
        });

        // One GitHub event reaches a server once per webhook subscribed to it
        // (a repository's and its organisation's), all with one X-GitHub-Delivery.
        it('GitHub, two webhooks to one path: the event runs once per webhook, each redelivery replays its own answer', async () => {
          const id = githubProvider.newId();
          const orgHook = '1140000321';
          const repo = await send(server.url, await githubProvider.deliver(id));
          const org = await send(server.url, await githubProvider.deliver(id, { hookId: orgHook }));
          expectFresh(repo, id);
          expectFresh(org, id);
          expect(t.runs(githubProvider, id)).toBe(2);
          for (const [hookId, answer] of [
            [undefined, repo],
            [orgHook, org],
          ] as const) {
            const again = await send(
              server.url,
              await githubProvider.deliver(id, { attempt: 2, ...(hookId && { hookId }) }),
            );
            expect(again.headers.get('idempotent-replayed')).toBe('true');
            expect(again.text).toBe(answer.text);
          }
          expect(t.runs(githubProvider, id)).toBe(2);
        });

        it('GitHub, two webhooks to two paths: the event runs once at each, neither gets 422', async () => {
          const id = githubProvider.newId();
          expectFresh(await send(server.url, await githubProvider.deliver(id)), id);
          expectFresh(await send(server.url, await githubOrgProvider.deliver(id)), id);
          const again = await send(server.url, await githubOrgProvider.deliver(id, { attempt: 2 }));
          expect(again.headers.get('idempotent-replayed')).toBe('true');
          expect(t.runs(githubProvider, id)).toBe(1);
          expect(t.runs(githubOrgProvider, id)).toBe(1);
        });
      });
    }
    for (const [name, reason] of Object.entries(stores.skipped)) {
      describe(`on the ${name} store`, () => {
        it.skip(`skipped: ${reason}`, () => {});
      });
    }
  });
}

function describeProvider(
  provider: Provider,
  url: () => string,
  test: () => ReturnType<typeof testApp>,
): void {
  describe(provider.name, () => {
    it('a redelivery replays the stored 2xx, byte for byte; the handler ran once', async () => {
      const id = provider.newId();
      const first = await provider.deliver(id);
      const redelivery = await provider.deliver(id, { attempt: 2 });
      // The redelivery really differs where the provider changes it.
      expect(redelivery.headers[provider.signatureHeader]).not.toBe(
        first.headers[provider.signatureHeader],
      );
      const answer = await send(url(), first);
      expectFresh(answer, id);
      const replay = await send(url(), redelivery);
      expect(replay.status).toBe(200);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.text).toBe(answer.text);
      expect(replay.headers.get('content-type')).toBe(answer.headers.get('content-type'));
      expect(test().runs(provider, id)).toBe(1);
    });

    it('a delivery without Content-Length (chunked) is verified, runs once and replays like any other', async () => {
      const id = provider.newId();
      // The verifier reads the body before idem: idem must read it from where the framework keeps it.
      const answer = await send(url(), await provider.deliver(id), true);
      expectFresh(answer, id);
      for (const chunked of [true, false]) {
        const replay = await send(url(), await provider.deliver(id, { attempt: 2 }), chunked);
        expect(replay.headers.get('idempotent-replayed'), `chunked: ${chunked}`).toBe('true');
        expect(replay.text).toBe(answer.text);
      }
      expectProblem(
        await send(url(), await provider.deliver(id, { event: 'b' }), true),
        422,
        'fingerprint-mismatch',
      );
      expect(test().runs(provider, id)).toBe(1);
    });

    it('a redelivery while the first is still in the handler gets 409 with Retry-After, then the replay', async () => {
      const id = provider.newId();
      const hold = test().hold(id);
      const first = send(url(), await provider.deliver(id));
      try {
        await hold.entered;
        const early = await send(url(), await provider.deliver(id, { attempt: 2 }));
        expectProblem(early, 409, 'request-in-flight');
        expect(early.headers.get('retry-after')).toBe('1');
      } finally {
        hold.release();
      }
      const answer = await first;
      expectFresh(answer, id);
      const later = await send(url(), await provider.deliver(id, { attempt: 2 }));
      expect(later.headers.get('idempotent-replayed')).toBe('true');
      expect(later.text).toBe(answer.text);
      expect(test().runs(provider, id)).toBe(1);
    });

    it('a different event sent with a reused id gets 422 and does not run', async () => {
      const id = provider.newId();
      expectFresh(await send(url(), await provider.deliver(id)), id);
      expectProblem(
        await send(url(), await provider.deliver(id, { event: 'b' })),
        422,
        'fingerprint-mismatch',
      );
      expect(test().runs(provider, id)).toBe(1);
    });

    it("a forged delivery gets the verifier's refusal and stores nothing", async () => {
      const id = provider.newId();
      const before = test().total();
      const forged = await send(url(), await provider.deliver(id, { tampered: true }));
      expect([400, 401]).toContain(forged.status);
      expect(forged.headers.get('content-type')).not.toMatch(/problem/);
      expect(test().total()).toBe(before);
      // Had idem stored the forgery, the genuine delivery would get its replay or a 422.
      expectFresh(await send(url(), await provider.deliver(id)), id);
      expect(test().runs(provider, id)).toBe(1);
    });

    it(
      provider.idSigned
        ? 'a delivery without its id is refused by the verifier (the id is signed)'
        : 'a delivery without its id gets 400 key-missing and does not run',
      async () => {
        const id = provider.newId();
        const before = test().total();
        const reply = await send(url(), await provider.deliver(id, { withoutId: true }));
        if (provider.idSigned) {
          expect(reply.status).toBe(400);
          expect(reply.headers.get('content-type')).not.toMatch(/problem/);
        } else {
          expectProblem(reply, 400, 'key-missing');
        }
        expect(test().total()).toBe(before);
      },
    );
  });
}
