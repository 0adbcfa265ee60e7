// A small ONNX graph builder: nodes of standard operators (opset 17), graph inputs and outputs,
// constants as initializers, and the ModelProto bytes that onnxruntime-node loads from memory.
// Values are referred to by name; each op returns the names of its outputs.
import { Message } from './protobuf.ts';

export type ElemType = 'float32' | 'float64' | 'int64' | 'bool';
/** An attribute: an integer, a list of integers, a string, or a float written `{ f: 0.5 }`. */
export type Attr = number | readonly number[] | string | { f: number };

/** TensorProto.DataType codes. */
const DATA_TYPE: Record<ElemType, number> = { float32: 1, bool: 9, int64: 7, float64: 11 };
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;
export const OPSET = 17;

export class Graph {
  private readonly nodes: Message[] = [];
  private readonly inputs: Message[] = [];
  private readonly outputs: Message[] = [];
  private readonly initializers: Message[] = [];
  private readonly scalars = new Map<string, string>();
  private count = 0;

  /** `float` is the type of every floating value in the graph (float64 for gradient checks). */
  constructor(readonly float: 'float32' | 'float64') {}

  /** A fresh value name: `hint` plus a counter, so names in a dump say where they came from. */
  name(hint: string): string {
    return `${hint}_${this.count++}`;
  }

  /** Declares a graph input; a string dimension is symbolic (e.g. "batch"); no dims: any shape. */
  input(name: string, type: ElemType, dims: readonly (number | string)[] | undefined): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Makes `value` a graph output under `name` (through Identity when the names differ). */
  output(name: string, value: string, type: ElemType = this.float): void {
    if (value !== name) this.node('Identity', [value], [name]);
    this.outputs.push(valueInfo(name, type, undefined));
  }

  /** A constant tensor (an initializer); floats take the graph's float type unless `type` says. */
  constant(
    values: ArrayLike<number>,
    dims: readonly number[],
    type: ElemType = this.float,
    hint = 'const',
  ): string {
    return this.initializer(this.name(hint), values, dims, type);
  }

  /** An initializer under an exact name (e.g. a weight baked into an inference graph). */
  initializer(
    name: string,
    values: ArrayLike<number>,
    dims: readonly number[],
    type: ElemType = this.float,
  ): string {
    const data =
      type === 'float32'
        ? Float32Array.from(values)
        : type === 'float64'
          ? Float64Array.from(values)
          : type === 'int64'
            ? BigInt64Array.from(Array.from(values, (v) => BigInt(v)))
            : Uint8Array.from(values);
    const tensor = new Message();
    for (const d of dims) tensor.int(1, d);
    tensor.int(2, DATA_TYPE[type]).string(8, name);
    tensor.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.initializers.push(tensor);
    return name;
  }

  /** A float scalar of the graph's type, one initializer per value. */
  scalar(value: number): string {
    const key = String(value);
    let name = this.scalars.get(key);
    if (!name) {
      name = this.constant([value], [], this.float, 'scalar');
      this.scalars.set(key, name);
    }
    return name;
  }

  /** An int64 vector constant (shapes, axes, pads). */
  ints(values: readonly number[]): string {
    return this.constant(values, [values.length], 'int64', 'ints');
  }

  /** Adds a node with named outputs. */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attrs: Record<string, Attr> = {},
  ): void {
    const node = new Message();
    for (const i of inputs) node.string(1, i);
    for (const o of outputs) node.string(2, o);
    node.string(3, outputs[0]!).string(4, opType);
    for (const [name, value] of Object.entries(attrs)) node.message(5, attribute(name, value));
    this.nodes.push(node);
  }

  /** Adds a node with one fresh output and returns its name. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}): string {
    const out = this.name(opType);
    this.node(opType, inputs, [out], attrs);
    return out;
  }

  /** Adds a node with `count` fresh outputs. */
  ops(opType: string, inputs: readonly string[], count: number, attrs: Record<string, Attr> = {}): string[] {
    const outs = Array.from({ length: count }, () => this.name(opType));
    this.node(opType, inputs, outs, attrs);
    return outs;
  }

  /** The ModelProto bytes. */
  model(name: string): Uint8Array {
    const graph = new Message();
    for (const n of this.nodes) graph.message(1, n);
    graph.string(2, name);
    for (const t of this.initializers) graph.message(5, t);
    for (const i of this.inputs) graph.message(11, i);
    for (const o of this.outputs) graph.message(12, o);
    const model = new Message().int(1, 8).string(2, 'gpt2o-pipe');
    model.message(7, graph);
    model.message(8, new Message().string(1, '').int(2, OPSET));
    return model.finish();
  }
}

function valueInfo(name: string, type: ElemType, dims: readonly (number | string)[] | undefined): Message {
  const tensorType = new Message().int(1, DATA_TYPE[type]);
  if (dims) {
    const shape = new Message();
    for (const d of dims)
      shape.message(1, typeof d === 'number' ? new Message().int(1, d) : new Message().string(2, d));
    tensorType.message(2, shape);
  }
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

function attribute(name: string, value: Attr): Message {
  const a = new Message().string(1, name);
  if (typeof value === 'number') return a.int(3, value).int(20, ATTR_INT);
  if (typeof value === 'string') return a.string(4, value).int(20, ATTR_STRING);
  if (isInts(value)) return a.packedInts(8, value).int(20, ATTR_INTS);
  return a.float(2, value.f).int(20, ATTR_FLOAT);
}

function isInts(value: Attr): value is readonly number[] {
  return Array.isArray(value);
}
