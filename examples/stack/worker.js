'use strict';
// The stack's worker: a BullMQ Worker, concurrency 16 (CONCURRENCY), in a
// process of its own. With HANDLER_ARGV (a JSON array) each job execs that
// program with the body on stdin and succeeds on exit 0, as a handler script
// per event would; without it the handler is an in-process no-op. Counts
// completed jobs and answers the count on 127.0.0.1:COUNT_PORT.
const http = require('http');
const { spawn } = require('child_process');
const { Worker } = require('bullmq');

const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT) };
const argv = process.env.HANDLER_ARGV ? JSON.parse(process.env.HANDLER_ARGV) : null;
const concurrency = Number(process.env.CONCURRENCY || 16);
let completed = 0;

function run(body) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`exit ${code ?? signal}`))));
    child.stdin.on('error', () => {});
    child.stdin.end(body);
  });
}

const worker = new Worker('webhooks', async (job) => (argv ? run(job.data.body) : undefined), {
  connection,
  concurrency,
});
worker.on('completed', () => {
  completed += 1;
});
worker.on('error', (e) => console.error('worker:', e.message));

http
  .createServer((_req, res) => res.end(String(completed)))
  .listen(Number(process.env.COUNT_PORT), '127.0.0.1');
