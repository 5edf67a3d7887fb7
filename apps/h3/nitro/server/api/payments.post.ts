// defineHandler, idempotent and idem are auto-imported (h3, and server/utils).
export default defineHandler({
  middleware: [idempotent(idem)],
  handler: async (event) => {
    const { amount } = (await event.req.json()) as { amount: number };
    event.res.status = 201;
    return { id: `pay_${crypto.randomUUID()}`, amount };
  },
});
