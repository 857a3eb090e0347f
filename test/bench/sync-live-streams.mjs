// The live bench's many idle devices, in a process of their own: each holds one live stream
// (GET /v1/changes/live) open and reads its events, as a device that is on but idle does. Their
// HTTP and parsing work must not share the server's event loop, and their memory must not be
// counted as the server's, so they run here rather than in the bench process. Plain JavaScript so
// it loads the same way under tsx and vitest. Driven over the IPC channel:
//   {type:'open', url, protocolVersion, tokens}  → {type:'opened', open} once every stream sent resync
//   {type:'report'}                              → {type:'report', open, ended, latestSeqs}
//   {type:'close'}                               → aborts every stream and exits
import { request } from 'node:http';

const PROTOCOL_HEADER = 'chairside-protocol';
const OPEN_AT_ONCE = 50;

const requests = [];
/** The latest sequence number each stream was told (resync or changes); -1 before its resync. */
const latestSeqs = [];
let open = 0;
let ended = 0;

/**
 * Opens one stream with node:http (far cheaper per event than fetch's web streams: these clients
 * share the machine's cores with the server being measured); resolves at its resync.
 */
function openStream(url, protocolVersion, token, index) {
  latestSeqs[index] = -1;
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/changes/live`, {
      headers: {
        [PROTOCOL_HEADER]: String(protocolVersion),
        accept: 'text/event-stream',
        authorization: `Bearer ${token}`,
      },
    });
    requests.push(req);
    req.on('error', reject);
    req.on('response', (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`live stream refused: ${response.statusCode}`));
        response.resume();
        return;
      }
      response.setEncoding('utf8');
      let buffer = '';
      response.on('data', (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if ((name === 'resync' || name === 'changes') && data !== undefined) {
            latestSeqs[index] = JSON.parse(data).latestSeq;
            if (name === 'resync') {
              open++;
              resolve();
            }
          }
        }
      });
      response.on('end', () => {
        ended++;
        resolve();
      });
      // Aborted at close.
      response.on('error', () => undefined);
    });
    req.end();
  });
}

process.on('message', (message) => {
  if (message.type === 'open') {
    void (async () => {
      const { url, protocolVersion, tokens } = message;
      for (let start = 0; start < tokens.length; start += OPEN_AT_ONCE) {
        const slice = tokens.slice(start, start + OPEN_AT_ONCE);
        await Promise.all(slice.map((token, offset) => openStream(url, protocolVersion, token, start + offset)));
      }
      process.send({ type: 'opened', open });
    })().catch((error) => process.send({ type: 'error', message: String(error?.message ?? error) }));
  } else if (message.type === 'report') {
    process.send({ type: 'report', open, ended, latestSeqs });
  } else if (message.type === 'close') {
    for (const req of requests) req.destroy();
    process.exit(0);
  }
});
