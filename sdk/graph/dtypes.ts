/**
 * ONNX element types <-> the type names edgecut uses (dtype-names.ts), plus the protobuf schema's
 * TensorProto.DataType enum for the graph library.
 */
import { TensorProto_DataType as DT } from "./onnx/onnx_pb.js";

export { DTYPE_CODES, dtypeName, dtypeCode, dtypeBits, byteLength, isFloat, type DTypeName } from "./dtype-names.js";
export { DT };
