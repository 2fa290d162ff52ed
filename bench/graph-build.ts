/** Child of bench/graph.ts: writes the GPT-2-small-sized model with external data; prints JSON. */
import * as fs from "node:fs";
import * as path from "node:path";
import { buildModel } from "../sdk/graph/models/index.js";
import { ExternalDataWriter, saveModel } from "../sdk/graph/model-io.js";

const file = process.argv[2]!;
const t0 = performance.now();
const model = buildModel("tiny-gpt", { layers: 12, dModel: 768, heads: 12, vocab: 50257, maxPositions: 1024 });
const writer = new ExternalDataWriter(`${file}.data`);
try {
  saveModel(model, file, { sourceDir: path.dirname(file), externalData: writer });
} finally {
  writer.close();
}
const bytes = fs.statSync(file).size + fs.statSync(`${file}.data`).size;
console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1e3, bytes }));
