// onnx-graph.ts — writes a tiny ONNX graph (protobuf wire format by hand) for tests that need a hostile model: no onnx package in JS or Python here.
// Field numbers from onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto).

type Field = Uint8Array;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return bytes;
}

function concat(parts: readonly Field[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Wire type 0 (varint). */
function int(field: number, value: number): Field {
  return new Uint8Array([...varint(field << 3), ...varint(value)]);
}

/** Wire type 2 (length-delimited): bytes, a string or a nested message. */
function bytes(field: number, value: Uint8Array | string | readonly Field[]): Field {
  const body = typeof value === 'string' ? new TextEncoder().encode(value) : value instanceof Uint8Array ? value : concat(value);
  return concat([new Uint8Array([...varint((field << 3) | 2), ...varint(body.length)]), body]);
}

const FLOAT = 1;
const INT64 = 7;

/** ValueInfoProto of a float tensor; a string dimension is symbolic. */
function floatValue(name: string, dims: readonly (number | string)[]): Field {
  const shape = dims.map((d) => bytes(1, [typeof d === 'string' ? bytes(2, d) : int(1, d)]));
  return concat([bytes(1, name), bytes(2, [bytes(1, [int(1, FLOAT), bytes(2, shape)])])]);
}

function node(op: string, inputs: readonly string[], outputs: readonly string[], attributes: readonly Field[] = []): Field {
  return concat([...inputs.map((i) => bytes(1, i)), ...outputs.map((o) => bytes(2, o)), bytes(4, op), ...attributes.map((a) => bytes(5, a))]);
}

/**
 * A binary model of one numeric feature `x` ([batch, 1]) whose score is `table[int64(x)]` (ONNX Gather, opset 13): rows
 * with x in [0, table length) score `table[x]`; any other value is an index out of bounds, and ONNX Runtime's error names it
 * ("indices element out of data bounds, idx=<x>"). The attack on H1: a model that makes the runtime report a patient's value.
 */
export function gatherByFeatureModel(table: readonly number[] | Float32Array = [0.25, 0.75]): Uint8Array {
  const values = new Uint8Array(Float32Array.from(table).buffer);
  const tableTensor = concat([int(1, table.length), int(2, FLOAT), bytes(8, 'table'), bytes(9, values)]);
  const castTo = concat([bytes(1, 'to'), int(3, INT64), int(20, 2)]);
  const gatherAxis = concat([bytes(1, 'axis'), int(3, 0), int(20, 2)]);
  const graph = [
    bytes(1, node('Cast', ['x'], ['index'], [castTo])),
    bytes(1, node('Gather', ['table', 'index'], ['y'], [gatherAxis])),
    bytes(2, 'gather-by-feature'),
    bytes(5, tableTensor),
    bytes(11, floatValue('x', ['batch', 1])),
    bytes(12, floatValue('y', ['batch', 1])),
  ];
  return concat([int(1, 7), bytes(2, 'fedval-tests'), bytes(7, graph), bytes(8, [bytes(1, ''), int(2, 13)])]);
}
