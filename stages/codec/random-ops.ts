// Random ops in an ONNX graph, and the rewrite that makes them reproducible. SNAC's decoder has
// noise blocks (`RandomNormalLike` without a seed): onnxruntime then seeds from the clock, so the
// same codes decode to different audio on every run. Giving each random op a `seed` attribute
// derived from the caller's seed and the node makes a fresh session draw the same numbers every
// time (onnxruntime seeds the kernel's generator once, when the session is created, so each
// decode must use a session of its own).
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Graph = InstanceType<typeof onnx.GraphProto>;
type Node = InstanceType<typeof onnx.NodeProto>;

const { FLOAT, INT, GRAPH, GRAPHS } = onnx.AttributeProto.AttributeType;

/** Ops that draw random numbers, and the type of their `seed` attribute (ONNX operator spec). */
const SEEDED_BY: Record<string, 'float' | 'int'> = {
  RandomNormal: 'float',
  RandomNormalLike: 'float',
  RandomUniform: 'float',
  RandomUniformLike: 'float',
  Multinomial: 'float',
  Bernoulli: 'float',
  // Random only with its training_mode input (opset 12+); seeding it is harmless otherwise.
  Dropout: 'int',
};

export interface RandomOp {
  /** The node's name, or `#index` (its place in a depth-first walk) when it has none. */
  node: string;
  op: string;
}

export interface SeededOp extends RandomOp {
  seeded_with: number;
}

/** Every node of the graph and of its subgraphs (If/Loop/Scan bodies), depth first. */
function* walk(graph: Graph): Generator<Node> {
  for (const node of graph.node ?? []) {
    yield node as Node;
    for (const attr of node.attribute ?? []) {
      if (attr.type === GRAPH && attr.g) yield* walk(attr.g as Graph);
      if (attr.type === GRAPHS) for (const g of attr.graphs ?? []) yield* walk(g as Graph);
    }
  }
}

function randomNodes(model: InstanceType<typeof onnx.ModelProto>): { node: Node; id: string }[] {
  if (!model.graph) return [];
  return [...walk(model.graph as Graph)].flatMap((node, index) =>
    node.opType && node.opType in SEEDED_BY ? [{ node, id: node.name || `#${index}` }] : [],
  );
}

/** The graph's random ops (the codec stage records them; empty for a deterministic model). */
export function listRandomOps(bytes: Uint8Array): RandomOp[] {
  return randomNodes(onnx.ModelProto.decode(bytes)).map(({ node, id }) => ({ node: id, op: node.opType! }));
}

/**
 * A node's seed: FNV-1a of "seed/node", cut to 24 bits so that the float attribute holds it
 * exactly (onnxruntime casts the float seed to an integer).
 */
export function nodeSeed(seed: number, node: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(`${seed}/${node}`)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0xffffff;
}

/** The model with every random op's `seed` set from `seed` (any seed it had is replaced). */
export function seedRandomOps(bytes: Uint8Array, seed: number): { model: Uint8Array; seeded: SeededOp[] } {
  const model = onnx.ModelProto.decode(bytes);
  const seeded: SeededOp[] = [];
  for (const { node, id } of randomNodes(model)) {
    const value = nodeSeed(seed, id);
    const attr =
      SEEDED_BY[node.opType!] === 'float'
        ? onnx.AttributeProto.create({ name: 'seed', type: FLOAT, f: value })
        : onnx.AttributeProto.create({ name: 'seed', type: INT, i: value });
    node.attribute = [...(node.attribute ?? []).filter((a) => a.name !== 'seed'), attr];
    seeded.push({ node: id, op: node.opType!, seeded_with: value });
  }
  if (seeded.length === 0) return { model: bytes, seeded };
  return { model: onnx.ModelProto.encode(model).finish(), seeded };
}
