/**
 * tiny-cnn: a small ResNet shaped like a torch export in eval mode (BatchNorm folded into Conv,
 * so every Conv has a bias and there is no BatchNormalization node).
 *
 * pixels [batch, 3, 32, 32] -> stem Conv3x3 + Relu -> `layers` BasicBlocks -> GlobalAveragePool
 * -> Flatten -> Gemm(transB=1) -> logits [batch, vocab]. Block 0 keeps the stem's width; blocks
 * 1..3 halve the resolution (stride 2) and double the channels with a 1x1 Conv shortcut, the rest
 * are identity blocks. A one-block model downsamples in that block, so every model has one.
 * int8 weights: every Conv weight (per output channel) and the fc weight are int8 + DequantizeLinear.
 */
import type { ModelProto } from "../onnx/onnx_pb.js";
import { float } from "../builder.js";
import type { ModelOptions } from "./options.js";
import { ModelWriter } from "./writer.js";

/** Builds tiny-cnn from resolved options. */
export function buildTinyCnn(o: Required<ModelOptions>): ModelProto {
  const w = new ModelWriter("tiny-cnn", o.seed, o.int8Weights);
  const pixels = w.b.input("pixels", "float32", ["batch", 3, 32, 32]);

  let c = o.dModel;
  let h = w.scoped("conv1", () => conv(w, "conv1", pixels, 3, c, 3, 1));
  h = w.op("Relu", [h]);
  for (let i = 0; i < o.layers; i++) {
    const down = o.layers === 1 || (i >= 1 && i <= 3);
    const out = down ? 2 * c : c;
    h = w.scoped(`layer${i}`, () => basicBlock(w, `layer${i}`, h, c, out, down ? 2 : 1));
    c = out;
  }
  const pooled = w.op("GlobalAveragePool", [h]);
  const flat = w.op("Flatten", [pooled], { axis: 1 });
  w.scoped("fc", () => {
    const weight = w.weight("fc.weight", [o.vocab, c], 1 / Math.sqrt(c), 0);
    const bias = w.param("fc.bias", [o.vocab], 0.02);
    w.op("Gemm", [flat, weight, bias], { alpha: float(1), beta: float(1), transB: 1 }, "logits");
  });
  w.b.output("logits", "float32", ["batch", o.vocab]);
  return w.b.build();
}

/** Conv with a (folded-BatchNorm) bias and every attribute spelled out, as torch emits them. */
function conv(w: ModelWriter, name: string, x: string, cin: number, cout: number, k: number, stride: number, gain = 1): string {
  const std = gain * Math.sqrt(2 / (cin * k * k)); // He init
  const weight = w.weight(`${name}.weight`, [cout, cin, k, k], std, 0);
  const bias = w.param(`${name}.bias`, [cout], 0.02);
  const pad = (k - 1) / 2;
  return w.op("Conv", [x, weight, bias], {
    dilations: [1, 1], group: 1, kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [stride, stride],
  });
}

/** Conv-Relu-Conv plus shortcut (identity, or 1x1 Conv when the shape changes), then Relu. */
function basicBlock(w: ModelWriter, p: string, x: string, cin: number, cout: number, stride: number): string {
  const a = w.op("Relu", [w.scoped("conv1", () => conv(w, `${p}.conv1`, x, cin, cout, 3, stride))]);
  // Half gain on the last conv keeps the residual stream from growing block after block.
  const b = w.scoped("conv2", () => conv(w, `${p}.conv2`, a, cout, cout, 3, 1, 0.5));
  const shortcut = stride === 1 && cin === cout ? x : w.scoped("downsample", () => conv(w, `${p}.downsample`, x, cin, cout, 1, stride));
  return w.op("Relu", [w.op("Add", [b, shortcut])]);
}
