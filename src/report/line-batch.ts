// Lines written in one turn of the event loop leave in one write. A fully cached run of 5,000 stages
// finishes thousands of stages per turn; a write(2) per line was 5 % of its time. Order is kept:
// everything goes through the same buffer, and `flush` empties it before any later direct write.
export interface LineBatch {
  write: (text: string) => void;
  flush: () => void;
}

export function batchLines(write: (text: string) => void): LineBatch {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    write(text);
  };
  return {
    write(text) {
      pending.push(text);
      if (scheduled) return;
      scheduled = true;
      setImmediate(flush);
    },
    flush,
  };
}
