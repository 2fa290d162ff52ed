/**
 * Reply frames and how they leave the worker: encoded once (float32 outputs as fp32, other types
 * raw), fragmented when larger than the message cap, published to the reply topic derived from
 * the topic the request arrived on.
 *
 * The message cap is the configured maxMessageBytes, else the broker's Maximum Packet Size minus
 * the PUBLISH overhead of the reply topic when the broker announces one (MQTT 5), else 128 MiB;
 * with both, the smaller. It is read at send time because a reconnect may bring another broker limit.
 */
import type { Logger } from "pino";
import { EdgecutError } from "../sdk/errors.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import { messageCap } from "../sdk/transport/limits.js";
import type { Transport } from "../sdk/transport/transport.js";
import { encodeFrame, fragmentFrame } from "../sdk/wire/index.js";
import type { ReplyHeader } from "../sdk/wire/types.js";

/** Timings every reply carries (docs/wire-format.md §3.2). */
export interface ReplyTimes {
  computeMs: number;
  queueMs: number;
}

/** Where a reply goes: the request's id, the device the request topic named, and that device's reply topic. */
export interface ReplyAddress {
  requestId: string;
  deviceId: string;
  replyTopic: string;
}

const ms = (v: number): number => Math.max(0, Number.isFinite(v) ? v : 0);

/** An ok reply frame with the outputs (float32 travels fp32). Throws E_FRAME when an output cannot travel (a string tensor). */
export function okReplyFrame(to: ReplyAddress, times: ReplyTimes, outputs: TensorMap): Uint8Array {
  const header: ReplyHeader = { kind: "reply", requestId: to.requestId, deviceId: to.deviceId, computeMs: ms(times.computeMs), queueMs: ms(times.queueMs), ok: true };
  return encodeFrame(header, outputs, { encoding: "fp32" });
}

/** An error reply frame (no tensors); the message is cut to the wire's 65536 characters. */
export function errorReplyFrame(to: ReplyAddress, times: ReplyTimes, code: string, message: string): Uint8Array {
  const header: ReplyHeader = {
    kind: "reply", requestId: to.requestId, deviceId: to.deviceId, computeMs: ms(times.computeMs), queueMs: ms(times.queueMs),
    ok: false, error: { code, message: message.length > 65536 ? `${message.slice(0, 65533)}...` : message },
  };
  return encodeFrame(header, {});
}

/** Publishes reply frames, fragmenting those over the message cap. */
export class ReplySender {
  constructor(
    private readonly transport: Transport,
    private readonly configuredMax: number | undefined,
    private readonly log: Logger,
  ) {}

  /** The message cap for `topic` now (see the module comment). */
  maxMessageBytes(topic: string): number {
    return messageCap(topic, this.configuredMax, this.transport);
  }

  /**
   * Sends one reply frame (in fragments when needed). Resolves when the broker acknowledged
   * every message; a failure is logged and swallowed, because the device's retry is the remedy
   * and the worker must keep serving. Returns whether it was sent.
   */
  async send(to: ReplyAddress, frame: Uint8Array): Promise<boolean> {
    let messages: Uint8Array[];
    try {
      messages = fragmentFrame(frame, this.maxMessageBytes(to.replyTopic), { requestId: to.requestId, deviceId: to.deviceId });
    } catch (e) {
      this.log.error({ requestId: to.requestId, deviceId: to.deviceId, code: e instanceof EdgecutError ? e.code : undefined, err: (e as Error).message }, "cannot fragment the reply");
      return false;
    }
    try {
      // Published together: one publisher's messages keep their order (MQTT 3.1.1 §4.6), and the
      // PUBACKs need not be waited for one by one.
      await Promise.all(messages.map((m) => this.transport.publish(to.replyTopic, m)));
      return true;
    } catch (e) {
      this.log.error({ requestId: to.requestId, deviceId: to.deviceId, topic: to.replyTopic, err: (e as Error).message }, "publishing the reply failed");
      return false;
    }
  }
}
