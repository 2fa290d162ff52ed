/**
 * The wire format: versioned binary frames carrying a request or reply header and the tensors
 * at a cut, fragmentation for transports with a message cap, and reassembly. Transport-independent
 * (no MQTT here) and dependency-free apart from zod. Specified in docs/wire-format.md.
 */
export {
  PROTOCOL_VERSION, DEFAULT_LIMITS, ALIGN, MAGIC, PREFIX_BYTES, ENCODINGS,
  type Encoding, type WireLimits, type WireType, type RequestHeader, type ReplyHeader, type FrameHeader, type Frame,
  type FragmentHeader, type TensorEntry,
} from "./types.js";
export { encodeFrame, encodedByteLength, checkEncoding, type EncodeOptions } from "./encode.js";
export { decodeFrame } from "./decode.js";
export { peekHeader, type PeekedHeader } from "./prefix.js";
export { fragmentFrame } from "./fragment.js";
export { Reassembler, type ReassemblerOptions, type ExpiredFrame } from "./reassembler.js";
