// The element-type table the manifest, the wire format and the agent use without the protobuf
// schema (sdk/graph/dtype-names.ts) must agree with the schema's TensorProto.DataType enum.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TensorProto_DataType } from "../../sdk/graph/onnx/onnx_pb.js";
import { byteLength, DTYPE_CODES, dtypeCode, dtypeName, isFloat } from "../../sdk/graph/dtype-names.js";

test("every code equals the generated enum's, and every non-UNDEFINED enum member has a code", () => {
  for (const [name, code] of Object.entries(DTYPE_CODES)) {
    assert.equal(TensorProto_DataType[name as keyof typeof TensorProto_DataType], code, name);
  }
  const members = Object.entries(TensorProto_DataType).filter(([k, v]) => typeof v === "number" && k !== "UNDEFINED");
  assert.deepEqual(members.map(([k]) => k).sort(), Object.keys(DTYPE_CODES).sort());
});

test("names and codes round-trip; sizes; float kinds", () => {
  for (const code of Object.values(DTYPE_CODES)) assert.equal(dtypeCode(dtypeName(code)!), code);
  assert.equal(dtypeName(0), undefined);
  assert.equal(dtypeCode("float128"), undefined);
  assert.equal(byteLength(DTYPE_CODES.FLOAT, 3), 12);
  assert.equal(byteLength(DTYPE_CODES.INT4, 3), 2);
  assert.equal(byteLength(DTYPE_CODES.STRING, 3), undefined);
  assert.ok(isFloat(DTYPE_CODES.BFLOAT16) && !isFloat(DTYPE_CODES.INT64));
});
