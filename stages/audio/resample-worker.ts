// Worker thread entry: converts the files it is sent, one at a time, and reports progress.
import { parentPort } from 'node:worker_threads';
import { convertFile } from './convert.ts';
import { AudioDecodeError } from './decode.ts';
import type { WorkerReply, WorkerRequest } from './worker-protocol.ts';

// The FLAC decoder also prints decode errors with console.error; we report them as results instead.
console.error = () => undefined;

const port = parentPort!;
port.on('message', async ({ id, job }: WorkerRequest) => {
  const reply = (message: WorkerReply) => port.postMessage(message);
  try {
    let last = 0;
    const result = await convertFile(job, (seconds) => {
      if (seconds - last >= 30) {
        last = seconds;
        reply({ id, progress: seconds });
      }
    });
    reply({ id, result });
  } catch (error) {
    const e = error as Error;
    reply({
      id,
      error:
        e instanceof AudioDecodeError
          ? { decode: true, message: e.message }
          : { decode: false, message: e.stack ?? String(e) },
    });
  }
});
