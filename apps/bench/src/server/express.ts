import type { Server } from 'node:http';
import { idempotency } from '@idem/express';
import express, { type NextFunction, type Request, type Response } from 'express';
import expressIdempotency from 'express-idempotency';
import {
  type BuildContext,
  errorBody,
  type NodeIdempotency,
  type NodeIdempotencyParams,
  type Payment,
  peerErrorStatus,
  WITHOUT_CONTEXT_PATH,
} from './context.js';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

export async function expressServer(ctx: BuildContext): Promise<Server> {
  const app = express();
  app.set('etag', false);
  app.set('x-powered-by', false);
  app.use(express.json());
  app.get('/stats', (_req, res) => {
    res.json(ctx.stats());
  });
  app.get('/counts', (_req, res) => {
    res.json(ctx.stormCounts());
  });

  const key = (req: Request) => () => req.get('idempotency-key');
  const { library } = ctx.unit;
  if (library === 'idem' || library === 'idem-cache') {
    // As the README shows: after the body parser (and authentication), before the routes.
    app.use(idempotency({ store: ctx.idemStore!, scope: () => 'bench', ...ctx.idemOptions }));
    app.post('/payments', async (req, res) => {
      res.status(201).json(await ctx.charge(req.body as Payment, key(req)));
    });
  } else if (library === 'express-idempotency') {
    // Its README: the middleware always calls next(); the route must check isHit() itself.
    const middleware = expressIdempotency.idempotency({
      dataAdapter: ctx.expressIdempotencyAdapter as never,
    });
    const service = expressIdempotency.getSharedIdempotencyService();
    app.post('/payments', middleware, async (req, res) => {
      if (service.isHit(req)) return;
      res.status(201).json(await ctx.charge(req.body as Payment, key(req)));
    });
  } else if (library === 'node-idempotency') {
    app.post('/payments', nodeIdempotencyMiddleware(ctx.nodeIdempotency!), async (req, res) => {
      res.status(201).json(await ctx.charge(req.body as Payment, key(req)));
    });
  } else if (library === 'powertools') {
    const route = (
      path: string,
      idempotentCharge: NonNullable<BuildContext['powertools']>['withContext'],
    ) =>
      app.post(path, (req, res) => {
        const idempotencyKey = req.get('idempotency-key');
        if (!idempotencyKey) {
          res.status(400).json({ error: 'Idempotency-Key required' });
          return;
        }
        idempotentCharge({ key: idempotencyKey, body: req.body as Payment }).then(
          (receipt) => res.status(201).json(receipt),
          (error: unknown) => res.status(peerErrorStatus(error)).json(errorBody(error)),
        );
      });
    route('/payments', ctx.powertools!.withContext);
    route(WITHOUT_CONTEXT_PATH, ctx.powertools!.withoutContext);
  } else {
    app.post('/payments', async (req, res) => {
      res.status(201).json(await ctx.charge(req.body as Payment, key(req)));
    });
  }

  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return server;
}

/**
 * @node-idempotency/core wired to Express as its README describes (its
 * `@node-idempotency/express` is not on the registry): onRequest before the
 * route, onResponse with the body `res.json` was given, awaited before the
 * response goes out so a retry after it replays.
 */
function nodeIdempotencyMiddleware(idem: NodeIdempotency): Middleware {
  return (req, res, next) => {
    const params: NodeIdempotencyParams = {
      headers: req.headers,
      path: req.path,
      method: req.method,
      body: req.body as Record<string, unknown>,
    };
    idem.onRequest(params).then(
      (cached) => {
        if (cached) {
          res.status((cached.additional as { status: number }).status).json(cached.body);
          return;
        }
        const json = res.json.bind(res);
        res.json = (body: unknown) => {
          idem
            .onResponse(params, { body, additional: { status: res.statusCode } })
            .then(() => json(body), next);
          return res;
        };
        next();
      },
      (error: unknown) => {
        res.status(peerErrorStatus(error)).json(errorBody(error));
      },
    );
  };
}
