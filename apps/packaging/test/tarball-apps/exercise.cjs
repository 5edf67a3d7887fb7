// What a user's client does against an app it started, shared by the apps
// installed from the tarballs (tarballs.deep.test.ts): the same payment
// POSTed twice under one key with @idem/client (a retry), then once under
// another key. The app passes the client it loaded, ESM or CommonJS.

/**
 * @param {string} url The app's POST route.
 * @param {{ idempotentFetch: typeof fetch, idempotencyInfo: (response: Response) => any }} client
 * @param {Record<string, string>} [headers] Sent on every call (the caller's account).
 */
exports.postTwice = async function postTwice(url, client, headers = {}) {
  const key = `pay-${process.pid}-${Date.now()}`;
  const send = async (k) => {
    const response = await client.idempotentFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ amount: 1999, currency: 'eur' }),
      idempotency: { key: k },
    });
    const info = client.idempotencyInfo(response);
    return {
      status: response.status,
      body: await response.json(),
      replayed: info?.replayed,
      key: info?.key,
    };
  };
  const first = await send(key);
  const second = await send(key);
  const other = await send(`${key}-other`);
  return { key, first, second, other };
};
