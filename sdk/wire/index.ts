/**
 * The wire format: versioned binary frames carrying a request or reply header and the tensors
 * at a cut, fragmentation for transports with a message cap, and reassembly. Transport-independent
 * (no MQTT here) and dependency-free apart from zod. Specified in docs/wire-format.md.
 */
export {
  PROTOCOL_VERSION, DEFAULT_LIMITS, ALIGN, MAGIC, PREFIX_BYTES, ENCODINGS,
  type Encoding, type WireLimits, type WireType, type RequestHeader, type ReplyHeader, type FrameHeader, type Frame,
  type FragmentHeader, type TensorEntry, type SessionOpen, type WireSampling,
} from "./types.js";
export { encodeFrame, encodedByteLength, checkEncoding, type EncodeOptions } from "./encode.js";
export { decodeFrame } from "./decode.js";
export { peekHeader, type PeekedHeader } from "./prefix.js";
export { fragmentFrame } from "./fragment.js";
export { Reassembler, type ReassemblerOptions, type ExpiredFrame } from "./reassembler.js";
export {
  encodeStepRequest, encodeStepReply, decodeStepRequest, decodeStepReply, peekStep, isStepFrame, stepRequestId,
  STEP_MAGIC, MAX_STEP_TENSORS, MAX_SESSION_ID_BYTES, type StepRequest, type StepReply, type StepTensor,
} from "./step.js";
