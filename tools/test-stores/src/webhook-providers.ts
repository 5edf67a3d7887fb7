import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { WebhookProvider } from '@idem/core/http';
import { sign as signGitHub, verifyWithFallback } from '@octokit/webhooks-methods';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { Webhook as SvixWebhook } from 'svix';

/** A webhook request as its provider sends it. */
export interface Delivery {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A request header's value, as the framework reads it. */
export type Header = (name: string) => string | undefined;

/** A delivery the provider's SDK accepted: `account` names the secret that signed it. */
export interface Accepted {
  readonly ok: true;
  readonly account: string;
}

/** What a verifier made of a delivery: accepted, or refused with the status the provider's guide answers. */
export type Verdict =
  | Accepted
  | { readonly ok: false; readonly status: 400 | 401; readonly error: string };

/** How one delivery of an event is sent. */
export interface Attempt {
  /** The event sent: `'a'`, or `'b'`, a different event (sent with a reused id). @default 'a' */
  readonly event?: 'a' | 'b';
  /** `1` for the first delivery, `2` for a redelivery: what the provider changes between them changes. @default 1 */
  readonly attempt?: 1 | 2;
  /** The body altered after signing, as a forger would (who lacks the secret). @default false */
  readonly tampered?: boolean;
  /** The delivery id left out (its header, or the event's `id`). @default false */
  readonly withoutId?: boolean;
  /** The account whose secret signs it (providers with several). @default the first */
  readonly account?: string;
  /**
   * GitHub: the webhook that delivers it (`X-GitHub-Hook-ID`). Every webhook
   * subscribed to an event gets its own delivery, with the same
   * `X-GitHub-Delivery`. @default the provider's own hook
   */
  readonly hookId?: string;
}

/** One provider's wire format, signer and verifier (its own SDK's). */
export interface Provider {
  readonly name: string;
  /** The idem preset for its deliveries. */
  readonly preset: WebhookProvider;
  /** The route it delivers to. */
  readonly path: string;
  /** A fresh delivery id in the provider's format. */
  newId(): string;
  /** A delivery of the event with this id. */
  deliver(id: string, attempt?: Attempt): Promise<Delivery>;
  /** Verify the raw body and headers with the provider's SDK, before idem runs. */
  verify(body: string | Uint8Array, header: Header): Promise<Verdict>;
  /** The delivery id, as the handler reads it. */
  idOf(body: string, header: Header): string | undefined;
  /** The header carrying the signature (it changes between deliveries, or with a rotated secret). */
  readonly signatureHeader: string;
  /**
   * Whether the delivery id is part of what is signed: a delivery without
   * it is then refused by the verifier, before idem sees it.
   */
  readonly idSigned: boolean;
  /** The accounts whose secrets the verifier accepts (one for most providers). */
  readonly accounts: readonly string[];
}

const text = (body: string | Uint8Array) =>
  typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
const seconds = () => Math.floor(Date.now() / 1000);
const random = (n: number) => randomUUID().replaceAll('-', '').slice(0, n);

// Stripe ------------------------------------------------------------------

const STRIPE_SECRET = 'whsec_idem_test_0b5c1d7e9f2a4c6e8a0b2d4f6a8c0e2f';
// The SDK needs a key to be constructed; nothing here calls Stripe's API.
const stripe = new Stripe('sk_test_idem_offline');

function stripeEvent(id: string | undefined, event: 'a' | 'b', pendingWebhooks: number): string {
  const object =
    event === 'a'
      ? {
          id: 'pi_3RqZ8bLkdIwHu7ix0mQ2eK7f',
          object: 'payment_intent',
          amount: 2000,
          amount_received: 2000,
          currency: 'usd',
          customer: 'cus_SmP4c2Yx1VdQ8r',
          metadata: { order_id: '6735' },
          status: 'succeeded',
        }
      : {
          id: 'ch_3RqZ8bLkdIwHu7ix0c1Vt9Qe',
          object: 'charge',
          amount: 2000,
          amount_refunded: 2000,
          currency: 'usd',
          refunded: true,
          status: 'succeeded',
        };
  const body = {
    ...(id !== undefined && { id }),
    object: 'event',
    api_version: '2025-06-30.basil',
    created: 1751284800,
    data: { object },
    livemode: false,
    pending_webhooks: pendingWebhooks,
    request: { id: 'req_8ZpQx2mT9vLk3a', idempotency_key: 'b0d4c1f8-2a7e-4f3b-9c61-5e8d0a3f7b12' },
    type: event === 'a' ? 'payment_intent.succeeded' : 'charge.refunded',
  };
  // Stripe sends its events pretty-printed.
  return JSON.stringify(body, null, 2);
}

/** Stripe: the event's `id` in the body; `Stripe-Signature` covers a timestamp and the body. */
export const stripeProvider: Provider = {
  name: 'stripe',
  preset: 'stripe',
  path: '/webhooks/stripe',
  signatureHeader: 'stripe-signature',
  idSigned: false,
  accounts: ['stripe'],
  newId: () => `evt_3Rq${random(21)}`,
  async deliver(id, { event = 'a', attempt = 1, tampered = false, withoutId = false } = {}) {
    // A redelivery counts down pending_webhooks and is signed anew, later.
    const body = stripeEvent(withoutId ? undefined : id, event, attempt === 1 ? 2 : 1);
    const signature = stripe.webhooks.generateTestHeaderString({
      payload: body,
      secret: STRIPE_SECRET,
      timestamp: seconds() - (attempt === 1 ? 120 : 0),
    });
    return {
      path: this.path,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'stripe-signature': signature,
        'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        accept: '*/*; q=0.5, application/xml',
        'cache-control': 'no-cache',
      },
      body: tampered ? body.replace('"amount": 2000', '"amount": 200000') : body,
    };
  },
  async verify(body, header) {
    try {
      stripe.webhooks.constructEvent(body, header('stripe-signature') ?? '', STRIPE_SECRET);
      return { ok: true, account: 'stripe' };
    } catch (error) {
      // Stripe's guide answers 400 to a delivery whose signature does not verify.
      return { ok: false, status: 400, error: `Webhook Error: ${(error as Error).message}` };
    }
  },
  idOf: (body) => (JSON.parse(body) as { id?: string }).id,
};

// GitHub ------------------------------------------------------------------

// A secret rotated between the first delivery and its redelivery: the
// verifier takes the new one and, for a while, the old one.
const GITHUB_SECRET = 'idem-github-secret-2025-07';
const GITHUB_PREVIOUS_SECRET = 'idem-github-secret-2025-01';

function githubEvent(event: 'a' | 'b'): string {
  const repository = {
    id: 1296269,
    node_id: 'MDEwOlJlcG9zaXRvcnkxMjk2MjY5',
    name: 'Hello-World',
    full_name: 'octocat/Hello-World',
    private: false,
  };
  const sender = { login: 'octocat', id: 1, type: 'User' };
  const issue = {
    id: 1801549563,
    number: 1347,
    title: 'Found a bug',
    user: sender,
    state: event === 'a' ? 'open' : 'closed',
    body: "I'm having a problem with this.",
    created_at: '2025-06-30T12:00:00Z',
  };
  return JSON.stringify({ action: event === 'a' ? 'opened' : 'closed', issue, repository, sender });
}

/**
 * GitHub: `X-GitHub-Delivery` names the event, shared by every webhook
 * subscribed to it, and `X-GitHub-Hook-ID` the webhook; `X-Hub-Signature-256`
 * covers the body only.
 */
function githubHook(
  name: string,
  path: string,
  hook: string,
  target: { id: string; type: 'repository' | 'organization' },
): Provider {
  return {
    name,
    preset: 'github',
    path,
    signatureHeader: 'x-hub-signature-256',
    idSigned: false,
    accounts: ['github'],
    newId: () => randomUUID(),
    async deliver(
      id,
      { event = 'a', attempt = 1, tampered = false, withoutId = false, hookId = hook } = {},
    ) {
      // GitHub redelivers the same body; a redelivery after the secret was
      // rotated is signed with the new secret, by a newer Hookshot.
      const body = githubEvent(event);
      const secret = attempt === 1 ? GITHUB_PREVIOUS_SECRET : GITHUB_SECRET;
      return {
        path,
        headers: {
          'content-type': 'application/json',
          'user-agent': `GitHub-Hookshot/${attempt === 1 ? '044aadd' : '7d1f2b4'}`,
          ...(!withoutId && { 'x-github-delivery': id }),
          'x-github-event': 'issues',
          'x-github-hook-id': hookId,
          'x-github-hook-installation-target-id': target.id,
          'x-github-hook-installation-target-type': target.type,
          'x-hub-signature': `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`,
          'x-hub-signature-256': await signGitHub(secret, body),
        },
        body: tampered ? body.replace('"number":1347', '"number":1348') : body,
      };
    },
    async verify(body, header) {
      const signature = header('x-hub-signature-256');
      const valid =
        signature !== undefined &&
        (await verifyWithFallback(GITHUB_SECRET, text(body), signature, [GITHUB_PREVIOUS_SECRET]));
      return valid
        ? { ok: true, account: 'github' }
        : { ok: false, status: 401, error: 'invalid X-Hub-Signature-256' };
    },
    idOf: (_body, header) => header('x-github-delivery'),
  };
}

/** GitHub, through a repository's webhook. */
export const githubProvider: Provider = githubHook('github', '/webhooks/github', '528734619', {
  id: '1296269',
  type: 'repository',
});

/**
 * GitHub, through the organisation's webhook, at a path of its own: the same
 * events as {@link githubProvider}, with the same `X-GitHub-Delivery`.
 */
export const githubOrgProvider: Provider = githubHook(
  'github-org',
  '/webhooks/github-org',
  '1140000321',
  { id: '9919', type: 'organization' },
);

// Shopify -----------------------------------------------------------------

const SHOPIFY_SECRET = 'shpss_idem_test_7a1c9e3b5d7f9a1c3e5b7d9f1a3c5e7b';
const SHOPIFY_PREVIOUS_SECRET = 'shpss_idem_test_2f4e6a8c0e2a4c6e8a0c2e4a6c8e0a2c';

function shopifyOrder(event: 'a' | 'b'): string {
  // Shopify's ids are 64-bit: written as JSON numbers past 2^53.
  return `{"id":820982911946154508,"admin_graphql_api_id":"gid://shopify/Order/820982911946154508","email":"jon@example.com","created_at":"2025-06-30T08:00:00-04:00","currency":"USD","financial_status":"${event === 'a' ? 'paid' : 'refunded'}","total_price":"${event === 'a' ? '199.00' : '0.00'}","line_items":[{"id":866550311766439020,"product_id":632910392,"title":"IPod Nano - 8GB","quantity":1,"price":"199.00"}]}`;
}

const shopifyHmac = (secret: string, body: string | Uint8Array) =>
  createHmac('sha256', secret).update(body).digest('base64');

/** Shopify: `X-Shopify-Webhook-Id`; `X-Shopify-Hmac-Sha256` is a base64 HMAC-SHA256 of the raw body. */
export const shopifyProvider: Provider = {
  name: 'shopify',
  preset: 'shopify',
  path: '/webhooks/shopify',
  signatureHeader: 'x-shopify-hmac-sha256',
  idSigned: false,
  accounts: ['shopify'],
  newId: () => randomUUID(),
  async deliver(id, { event = 'a', attempt = 1, tampered = false, withoutId = false } = {}) {
    // Shopify retries with the original payload and trigger time; this
    // retry comes after the app's secret was rotated.
    const body = shopifyOrder(event);
    const secret = attempt === 1 ? SHOPIFY_PREVIOUS_SECRET : SHOPIFY_SECRET;
    return {
      path: this.path,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Shopify-Captain-Hook',
        'x-shopify-topic': event === 'a' ? 'orders/paid' : 'refunds/create',
        'x-shopify-hmac-sha256': shopifyHmac(secret, body),
        'x-shopify-shop-domain': 'idem-test.myshopify.com',
        'x-shopify-api-version': '2025-07',
        ...(!withoutId && { 'x-shopify-webhook-id': id }),
        'x-shopify-triggered-at': '2025-06-30T12:00:00.123456789Z',
        'x-shopify-event-id': '98880550-7158-44d4-b7cd-2c97c8a091b5',
      },
      body: tampered ? body.replace('"quantity":1', '"quantity":10') : body,
    };
  },
  async verify(body, header) {
    const sent = Buffer.from(header('x-shopify-hmac-sha256') ?? '', 'base64');
    const valid = [SHOPIFY_SECRET, SHOPIFY_PREVIOUS_SECRET].some((secret) => {
      const expected = Buffer.from(shopifyHmac(secret, body), 'base64');
      return sent.length === expected.length && timingSafeEqual(sent, expected);
    });
    return valid
      ? { ok: true, account: 'shopify' }
      : { ok: false, status: 401, error: 'invalid X-Shopify-Hmac-Sha256' };
  },
  idOf: (_body, header) => header('x-shopify-webhook-id'),
};

// Standard Webhooks and Svix ------------------------------------------------

const base64Secret = (seed: string) =>
  `whsec_${Buffer.from(seed.padEnd(32, '.').slice(0, 32)).toString('base64')}`;

function standardEvent(event: 'a' | 'b'): string {
  return JSON.stringify({
    type: event === 'a' ? 'invoice.paid' : 'invoice.voided',
    timestamp: '2025-06-30T12:00:00.000Z',
    data: { invoice_id: 'inv_01J1Z9K3QX', amount: event === 'a' ? 4900 : 0, currency: 'EUR' },
  });
}

/** A Standard Webhooks sender, signed and verified with `standardwebhooks` or `svix`. */
function standardFamily(options: {
  name: string;
  path: string;
  prefix: 'webhook' | 'svix';
  /** Account name to signing secret; the first signs by default. */
  secrets: Readonly<Record<string, string>>;
}): Provider {
  const { prefix } = options;
  const Library = prefix === 'svix' ? SvixWebhook : StandardWebhook;
  const signers = Object.entries(options.secrets).map(
    ([account, secret]) => [account, new Library(secret)] as const,
  );
  const accounts = signers.map(([account]) => account);
  return {
    name: options.name,
    preset: 'standardWebhooks',
    path: options.path,
    signatureHeader: `${prefix}-signature`,
    // The signed content is `${id}.${timestamp}.${body}`.
    idSigned: true,
    accounts,
    newId: () => `msg_2${random(26)}`,
    async deliver(
      id,
      { event = 'a', attempt = 1, tampered = false, withoutId = false, account } = {},
    ) {
      // A redelivery: the same id and body, a new timestamp and signature.
      const body = standardEvent(event);
      const signer = (signers.find(([name]) => name === account) ?? signers[0]!)[1];
      const at = new Date((seconds() - (attempt === 1 ? 90 : 0)) * 1000);
      return {
        path: this.path,
        headers: {
          'content-type': 'application/json',
          'user-agent': prefix === 'svix' ? 'Svix-Webhooks/1.66.0' : 'Standard-Webhooks/1.0',
          ...(!withoutId && { [`${prefix}-id`]: id }),
          [`${prefix}-timestamp`]: String(Math.floor(at.getTime() / 1000)),
          [`${prefix}-signature`]: signer.sign(id, at, body),
        },
        body: tampered ? body.replace('"amount":4900', '"amount":49') : body,
      };
    },
    async verify(body, header) {
      const headers: Record<string, string> = {};
      for (const name of ['id', 'timestamp', 'signature']) {
        const value = header(`${prefix}-${name}`);
        if (value !== undefined) headers[`${prefix}-${name}`] = value;
      }
      let error = 'no account';
      for (const [account, verifier] of signers) {
        try {
          verifier.verify(text(body), headers);
          return { ok: true, account };
        } catch (e) {
          error = (e as Error).message;
        }
      }
      return { ok: false, status: 400, error };
    },
    idOf: (_body, header) => header(`${prefix}-id`),
  };
}

/** A Standard Webhooks sender: `webhook-id`, `webhook-timestamp`, `webhook-signature`. */
export const standardWebhooksProvider: Provider = standardFamily({
  name: 'standard',
  path: '/webhooks/standard',
  prefix: 'webhook',
  secrets: { standard: base64Secret('idem standard webhooks secret') },
});

/**
 * One endpoint for two apps that send through Svix (`svix-id`,
 * `svix-timestamp`, `svix-signature`), each with its own signing secret:
 * the account whose secret verifies is the scope.
 */
export const svixProvider: Provider = standardFamily({
  name: 'svix',
  path: '/webhooks/svix',
  prefix: 'svix',
  secrets: {
    acme: base64Secret('idem svix secret of acme'),
    globex: base64Secret('idem svix secret of globex'),
  },
});
