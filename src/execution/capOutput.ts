/** A byte sink that keeps at most `cap` bytes and remembers whether it dropped any. Pure. */
export interface CappedBuffer {
  readonly push: (chunk: Uint8Array) => void;
  readonly bytes: () => Uint8Array;
  readonly truncated: () => boolean;
}

export function cappedBuffer(cap: number): CappedBuffer {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let dropped = false;
  return {
    push: (chunk) => {
      const room = cap - kept;
      if (chunk.length > room) dropped = true;
      if (room <= 0) return;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      chunks.push(part);
      kept += part.length;
    },
    bytes: () => {
      const out = new Uint8Array(kept);
      let at = 0;
      for (const chunk of chunks) {
        out.set(chunk, at);
        at += chunk.length;
      }
      return out;
    },
    truncated: () => dropped,
  };
}
