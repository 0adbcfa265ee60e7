// Which stage writes which path. Lookups walk a path's ancestors (O(depth)) instead of scanning
// every out, so a 200-wide pipeline wires its edges in microseconds.
import type { Loc } from '../errors.ts';

export interface Producer {
  stage: string;
  loc: Loc;
}

export class OutIndex {
  private readonly owners = new Map<string, Producer>();
  /** Folder → one registered out somewhere below it. */
  private readonly below = new Map<string, string>();

  /** The registered out equal to `path` or containing it, with its producer. */
  ownerOf(path: string): { out: string; producer: Producer } | undefined {
    for (let p = path; p !== ''; p = parent(p)) {
      const producer = this.owners.get(p);
      if (producer) return { out: p, producer };
    }
    return undefined;
  }

  /** A registered out strictly inside folder `path`. */
  outBelow(path: string): string | undefined {
    return this.below.get(path);
  }

  producer(out: string): Producer | undefined {
    return this.owners.get(out);
  }

  add(path: string, producer: Producer): void {
    this.owners.set(path, producer);
    for (let p = parent(path); p !== ''; p = parent(p)) if (!this.below.has(p)) this.below.set(p, path);
  }
}

function parent(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}
