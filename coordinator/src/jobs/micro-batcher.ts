interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/**
 * Turns a batch operation into a per-item function: items submitted while a batch is running
 * wait and go out together in the next one (at most `maxBatch`), so under load the number of
 * database round trips falls with the batch size, and when idle an item goes out one
 * event-loop turn after it arrives. `run` returns one output per input, in order; if it
 * throws, every item of that batch is rejected with the error.
 */
export function createMicroBatcher<I, O>(run: (items: I[]) => Promise<O[]>, maxBatch = 500): (item: I) => Promise<O> {
  let queue: Array<Pending<I, O>> = [];
  let running = false;

  async function flush(): Promise<void> {
    if (running || queue.length === 0) return;
    running = true;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    try {
      const outputs = await run(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(outputs[i] as O));
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      running = false;
      if (queue.length > 0) setImmediate(() => void flush());
    }
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!running) setImmediate(() => void flush());
    });
}
