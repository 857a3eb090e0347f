// Runs bcryptjs in a worker thread so cost-12 hashing (about a quarter of a second) never blocks
// the main process. Plain JavaScript so it loads the same way under tsx, vitest and Electron.
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

parentPort.on('message', (request) => {
  try {
    const result =
      request.op === 'hash'
        ? bcrypt.hashSync(request.password, request.cost)
        : bcrypt.compareSync(request.password, request.hash);
    parentPort.postMessage({ id: request.id, result });
  } catch {
    // Never echo the password or hash back in an error.
    parentPort.postMessage({ id: request.id, error: 'bcrypt operation failed' });
  }
});
