import type { RouteOptions } from './route.js';

/** The providers idem has presets for. */
export type WebhookProvider = 'stripe' | 'github' | 'shopify' | 'standardWebhooks';

/**
 * Route options for inbound webhooks, which providers deliver at least once:
 * the delivery's own id is the key, each provider has a scope of its own,
 * and the fingerprint is what stays the same between deliveries of one
 * event, so a redelivery replays the stored answer while a different event
 * sent with a reused id is refused (422). Signatures and timestamps travel in
 * headers, which fingerprints leave out.
 *
 * | preset | key | fingerprint | kept for |
 * | --- | --- | --- | --- |
 * | `stripe` | the event's `id` in the body | the body, without `pending_webhooks` (it counts down between deliveries) | 4 days (Stripe retries for 3) |
 * | `github` | `X-GitHub-Hook-ID` and `X-GitHub-Delivery` | the body | 4 days (redeliveries are offered for 3) |
 * | `shopify` | `X-Shopify-Webhook-Id` | the body | 3 days (Shopify retries for 2) |
 * | `standardWebhooks` | `webhook-id` (Standard Webhooks), or `svix-id` (Svix) | the body | 2 days (Svix retries for about 28 hours) |
 *
 * GitHub's delivery id names the event, and every webhook subscribed to it
 * (a repository's, its organisation's, an App's) gets a delivery with the
 * same id: the hook id makes each webhook's delivery a key of its own, so
 * each runs once and each redelivery replays its own answer.
 *
 * Verify the provider's signature before idem runs, so forged deliveries
 * store nothing, and pass `scope` yourself when one endpoint takes the
 * deliveries of several accounts whose ids could meet.
 */
const DAY = 86_400_000;

export const webhooks: Readonly<Record<WebhookProvider, RouteOptions<unknown>>> = Object.freeze({
  stripe: Object.freeze({
    key: { body: '/id' },
    ttlMs: 4 * DAY,
    scope: () => 'webhooks:stripe',
    fingerprint: { omit: ['/pending_webhooks'] },
    methods: ['POST'],
  }),
  github: Object.freeze({
    key: { headers: ['x-github-hook-id', 'x-github-delivery'] },
    ttlMs: 4 * DAY,
    scope: () => 'webhooks:github',
    methods: ['POST'],
  }),
  shopify: Object.freeze({
    key: 'x-shopify-webhook-id',
    ttlMs: 3 * DAY,
    scope: () => 'webhooks:shopify',
    methods: ['POST'],
  }),
  standardWebhooks: Object.freeze({
    key: ['webhook-id', 'svix-id'],
    ttlMs: 2 * DAY,
    scope: () => 'webhooks:standard',
    methods: ['POST'],
  }),
});
