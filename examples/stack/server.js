'use strict';
// The receiver of the stack hookd replaces, built the way the usual guides
// build it: Fastify keeps the raw body, stripe.webhooks.constructEvent
// checks the Stripe-Signature on it, and the event becomes a BullMQ job
// (jobId = the event id, so a retried delivery is not queued twice) in a
// Redis that runs with `appendfsync always`; the sender gets its 202 once
// Redis has answered the add. The load tool starts it (`load stack`):
//   PORT, REDIS_PORT, STRIPE_WEBHOOK_SECRET in the environment.
const Fastify = require('fastify');
const Stripe = require('stripe');
const { Queue } = require('bullmq');

const port = Number(process.env.PORT);
const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT) };
const secret = process.env.STRIPE_WEBHOOK_SECRET;
// constructEvent needs no API key; the client wants one to exist.
const stripe = new Stripe('sk_test_not_used');
const queue = new Queue('webhooks', { connection });
const app = Fastify({ logger: false, bodyLimit: 1 << 20 });

app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.get('/readyz', async () => ({ ok: true }));
app.post('/webhooks/stripe', async (req, reply) => {
  let event;
  try {
    // 1 h tolerance, as in the load tool's hookd config.
    event = stripe.webhooks.constructEvent(req.body, req.headers['stripe-signature'], secret, 3600);
  } catch (e) {
    return reply.code(400).send({ error: 'signature: ' + e.message });
  }
  await queue.add(
    event.type,
    { id: event.id, type: event.type, body: req.body.toString('utf8') },
    { jobId: event.id, removeOnComplete: true, attempts: 5, backoff: { type: 'exponential', delay: 1000 } },
  );
  return reply.code(202).send({ received: true, id: event.id });
});

app.listen({ host: '127.0.0.1', port }).catch((e) => {
  console.error(e);
  process.exit(1);
});
