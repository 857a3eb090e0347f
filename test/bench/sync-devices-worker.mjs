// The sync throughput bench's 20 devices, in a worker thread: real devices are other computers,
// so their HTTP and JSON work must not share the server's event loop. Each device sends its
// pre-encoded pushes one after another (the next after the answer, as the device engine does) or
// pages through the log from cursor 0, all devices at once. Plain JavaScript so it loads the same
// way under tsx and vitest. Answers are checked (every batch accepted, every page well formed);
// anything else fails the run.
import { parentPort } from 'node:worker_threads';

const PROTOCOL_HEADER = 'chairside-protocol';

async function request(url, token, protocolVersion, init) {
  // Node's fetch, reached through globalThis (the lint globals of .mjs files do not list it).
  const response = await globalThis.fetch(url, {
    ...init,
    headers: {
      [PROTOCOL_HEADER]: String(protocolVersion),
      accept: 'application/json',
      authorization: `Bearer ${token}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`sync request refused: ${response.status} ${answer?.error?.code ?? ''}`);
  return answer;
}

async function pushAll({ serverUrl, protocolVersion, devices }) {
  const latencies = [];
  let accepted = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    devices.map(async ({ token, bodies }) => {
      for (const body of bodies) {
        const sent = process.hrtime.bigint();
        const answer = await request(`${serverUrl}/v1/changes`, token, protocolVersion, { method: 'POST', body });
        latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
        if (!Array.isArray(answer.batches)) throw new Error('a push answer without batches');
        for (const batch of answer.batches) {
          // A bench whose pushes are quarantined would measure refusals: fail loudly instead.
          if (batch.status !== 'accepted') throw new Error(`a bench batch was ${batch.status}, not accepted`);
          accepted += batch.changes.length;
        }
      }
    }),
  );
  return { accepted, latencies, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

async function pullAll({ serverUrl, protocolVersion, tokens, pageSize }) {
  const latencies = [];
  let delivered = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    tokens.map(async (token) => {
      let cursor = 0;
      for (;;) {
        const sent = process.hrtime.bigint();
        const page = await request(
          `${serverUrl}/v1/changes?after=${cursor}&limit=${pageSize}`,
          token,
          protocolVersion,
          {
            method: 'GET',
          },
        );
        latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
        if (!Array.isArray(page.changes) || typeof page.hasMore !== 'boolean' || !Number.isSafeInteger(page.cursor)) {
          throw new Error('a pull answer of another shape');
        }
        delivered += page.changes.length;
        if (!page.hasMore || page.cursor <= cursor) break;
        cursor = page.cursor;
      }
    }),
  );
  return { delivered, latencies, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

parentPort.on('message', (task) => {
  const run = task.kind === 'push' ? pushAll(task) : pullAll(task);
  run.then(
    (result) => parentPort.postMessage({ ok: true, result }),
    (error) => parentPort.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
