/**
 * mlp: `layers` linear layers of width dModel, Relu between them (none after the last).
 * Even layers are Gemm(transB=1) with a [out, in] weight (torch's export of Linear on 2-D input),
 * odd layers are MatMul([in, out]) + Add (the 3-D-input form), so both shapes of a linear
 * layer appear. Input `x` [batch, dModel], output `y` [batch, dModel].
 * int8 weights: every weight is per-output-channel int8 + DequantizeLinear (biases stay float).
 */
import type { ModelProto } from "../onnx/onnx_pb.js";
import { float } from "../builder.js";
import type { ModelOptions } from "./options.js";
import { ModelWriter } from "./writer.js";

/** Builds mlp from resolved options. */
export function buildMlp(o: Required<ModelOptions>): ModelProto {
  const w = new ModelWriter("mlp", o.seed, o.int8Weights);
  const d = o.dModel;
  let h = w.b.input("x", "float32", ["batch", d]);
  for (let i = 0; i < o.layers; i++) {
    const last = i === o.layers - 1;
    const out = last ? "y" : undefined; // the last layer writes the model output directly
    h = w.scoped(`fc.${i}`, () => {
      const std = Math.sqrt((last ? 1 : 2) / d);
      const bias = w.param(`fc.${i}.bias`, [d], 0.02);
      let z: string;
      if (i % 2 === 0) {
        const weight = w.weight(`fc.${i}.weight`, [d, d], std, 0);
        z = w.op("Gemm", [h, weight, bias], { alpha: float(1), beta: float(1), transB: 1 }, out);
      } else {
        const weight = w.weight(`fc.${i}.weight`, [d, d], std, 1);
        z = w.op("Add", [w.op("MatMul", [h, weight]), bias], {}, out);
      }
      return z;
    });
    if (!last) h = w.scoped(`act.${i}`, () => w.op("Relu", [h]));
  }
  w.b.output("y", "float32", ["batch", d]);
  return w.b.build();
}
