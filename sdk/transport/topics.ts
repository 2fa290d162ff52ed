/**
 * The topic scheme of the offload protocol:
 *
 *   requests  <prefix>/v1/req/<deviceId>/<splitId>    device -> worker
 *   sessions  <prefix>/v1/req/<deviceId>/<splitId>/<workerId>   device -> the worker holding its session
 *   replies   <prefix>/v1/reply/<deviceId>            worker -> device
 *   probes    <prefix>/v1/probe/<token>               a worker checking shared subscriptions
 *
 * The worker answers on the reply topic derived from the topic a request arrived on, so a
 * device cannot make a worker publish anywhere else. Workers of one pool subscribe to
 * `$share/<group>/<prefix>/v1/req/+/+` (MQTT 5 §4.8.2: every device, every split the group
 * serves) so each request runs once; workerFilter can also name a single split.
 * Every id becomes one topic level, hence the validation: no `/`, no wildcards, no NUL.
 */
import * as os from "node:os";
import { fail } from "../errors.js";

/** Topic prefix when none is configured. */
export const DEFAULT_PREFIX = "edgecut";
/** Version level of the topic scheme; a new wire protocol gets a new level. */
export const TOPIC_VERSION = "v1";

/** Longest deviceId / splitId / share group, in UTF-8 bytes. */
export const MAX_ID_BYTES = 128;
/** Longest prefix, in UTF-8 bytes (a topic is at most 65,535 bytes, MQTT 3.1.1 §1.5.3). */
export const MAX_PREFIX_BYTES = 256;

/** The ids a request topic carries (workerId: a session topic, docs/wire-format.md §9.2). */
export interface RequestAddress {
  deviceId: string;
  splitId: string;
  workerId?: string;
}

/** Topic helpers bound to one prefix (see {@link topics}). */
export interface Topics {
  readonly prefix: string;
  /** `<prefix>/v1/req/<deviceId>/<splitId>`; throws E_USAGE for an invalid id. */
  requestTopic(deviceId: string, splitId: string): string;
  /** `<prefix>/v1/req/<deviceId>/<splitId>/<workerId>`: a generation session's later steps, to the worker holding it. */
  sessionTopic(deviceId: string, splitId: string, workerId: string): string;
  /** `<prefix>/v1/req/+/+/<workerId>`: what a worker subscribes to (plainly, not shared) for its sessions. */
  sessionFilter(workerId: string): string;
  /** `<prefix>/v1/reply/<deviceId>`; throws E_USAGE for an invalid id. */
  replyTopic(deviceId: string): string;
  /** The ids of a request topic of this prefix, or undefined for any other topic or invalid ids. */
  parseRequestTopic(topic: string): RequestAddress | undefined;
  /** The reply topic for a request that arrived on `topic`, or undefined when it is no request topic. */
  replyTopicForRequest(topic: string): string | undefined;
  /**
   * The filter a worker subscribes to: `$share/<group>/<prefix>/v1/req/+/<splitId>` with a
   * group (MQTT 5 §4.8.2), `<prefix>/v1/req/+/<splitId>` without; splitId "+" serves every split.
   */
  workerFilter(splitId: string, group?: string): string;
  /** `<prefix>/v1/probe/<token>` (see probeSharedSubscription). */
  probeTopic(token: string): string;
  /** `<prefix>/v1/telemetry/<deviceId>`: the agent's periodic fleet summary (JSON). */
  telemetryTopic(deviceId: string): string;
  /**
   * `<prefix>/v1/relay/<group>/claim` and `.../to/<workerId>`: where the workers of a shared group
   * claim fragmented frames and forward fragments to the claimer (cloud-stub/relay.ts). Only
   * workers publish here; a broker ACL should keep devices off `<prefix>/v1/relay/#`.
   */
  relayTopics(group: string, workerId: string): { claim: string; inbox: string; inboxOf(workerId: string): string };
}

type IdKind = "deviceId" | "splitId" | "share group" | "probe token" | "worker id" | "workerId";

/**
 * Characters a topic level must not hold: the separator and wildcards (MQTT 3.1.1 §4.7.1),
 * NUL (§1.5.3: MUST NOT) and the other control characters (§1.5.3: SHOULD NOT).
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[/+#\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const FORBIDDEN_IN_PREFIX = /[+#\u0000-\u001f\u007f-\u009f]/;

/** A lone surrogate: a UTF-16 string that has no UTF-8 encoding (String#isWellFormed is ES2024). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

function describeChar(s: string, re: RegExp): string {
  const ch = re.exec(s)?.[0] ?? "";
  return /^[/+#]$/.test(ch) ? `'${ch}'` : `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Checks that a value can be one topic level: a non-empty string of at most MAX_ID_BYTES
 * UTF-8 bytes, well-formed UTF-16 (so well-formed UTF-8 on the wire, MQTT 3.1.1 §1.5.3),
 * without `/`, `+`, `#` or control characters. Returns the reason when it cannot, else undefined.
 */
export function idProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return `must be a string, got ${typeof value}`;
  if (value === "") return "must not be empty";
  if (FORBIDDEN.test(value)) return `must not contain ${describeChar(value, FORBIDDEN)} (it is one MQTT topic level: no '/', '+', '#' or control characters)`;
  if (!isWellFormed(value)) return "must be well-formed Unicode (a lone surrogate cannot be sent as UTF-8)";
  if (utf8Bytes(value) > MAX_ID_BYTES) return `is ${utf8Bytes(value)} UTF-8 bytes, over the limit of ${MAX_ID_BYTES}`;
  return undefined;
}

/** Throws E_USAGE naming the id and the reason when `value` cannot be a topic level. */
export function assertId(kind: IdKind, value: unknown): asserts value is string {
  const problem = idProblem(value);
  if (problem !== undefined) throw fail("E_USAGE", `${kind} ${JSON.stringify(value)} ${problem}`);
}

function assertPrefix(prefix: unknown): asserts prefix is string {
  const bad = (why: string): never => { throw fail("E_USAGE", `topic prefix ${JSON.stringify(prefix)} ${why}`); };
  if (typeof prefix !== "string") return bad(`must be a string, got ${typeof prefix}`);
  if (prefix === "") bad("must not be empty");
  if (FORBIDDEN_IN_PREFIX.test(prefix)) bad(`must not contain ${describeChar(prefix, FORBIDDEN_IN_PREFIX)} (no wildcards or control characters)`);
  if (prefix.split("/").some((level) => level === "")) bad("must not start or end with '/' or contain '//' (empty topic levels)");
  // MQTT 3.1.1 §4.7.2: topics beginning with '$' are the server's ($SYS, $share).
  if (prefix.startsWith("$")) bad("must not start with '$' (reserved for the broker, MQTT 3.1.1 §4.7.2)");
  if (!isWellFormed(prefix)) bad("must be well-formed Unicode");
  if (utf8Bytes(prefix) > MAX_PREFIX_BYTES) bad(`is ${utf8Bytes(prefix)} UTF-8 bytes, over the limit of ${MAX_PREFIX_BYTES}`);
}

/** Topic helpers for a prefix (default "edgecut"; may have several levels, e.g. "site-3/edgecut"). Throws E_USAGE for a bad prefix. */
export function topics(prefix: string = DEFAULT_PREFIX): Topics {
  assertPrefix(prefix);
  const req = `${prefix}/${TOPIC_VERSION}/req/`;
  const reply = `${prefix}/${TOPIC_VERSION}/reply/`;

  const requestTopic = (deviceId: string, splitId: string): string => {
    assertId("deviceId", deviceId);
    assertId("splitId", splitId);
    return `${req}${deviceId}/${splitId}`;
  };
  const replyTopic = (deviceId: string): string => {
    assertId("deviceId", deviceId);
    return `${reply}${deviceId}`;
  };
  const parseRequestTopic = (topic: string): RequestAddress | undefined => {
    if (typeof topic !== "string" || !topic.startsWith(req)) return undefined;
    const levels = topic.slice(req.length).split("/");
    if (levels.length !== 2 && levels.length !== 3) return undefined;
    if (levels.some((l) => idProblem(l) !== undefined)) return undefined;
    const [deviceId, splitId, workerId] = levels as [string, string, string | undefined];
    return workerId === undefined ? { deviceId, splitId } : { deviceId, splitId, workerId };
  };
  const sessionTopic = (deviceId: string, splitId: string, workerId: string): string => {
    assertId("workerId", workerId);
    return `${requestTopic(deviceId, splitId)}/${workerId}`;
  };
  const sessionFilter = (workerId: string): string => {
    assertId("workerId", workerId);
    return `${req}+/+/${workerId}`;
  };
  const replyTopicForRequest = (topic: string): string | undefined => {
    const address = parseRequestTopic(topic);
    return address === undefined ? undefined : `${reply}${address.deviceId}`;
  };
  const workerFilter = (splitId: string, group?: string): string => {
    if (splitId !== "+") assertId("splitId", splitId);
    const filter = `${req}+/${splitId}`;
    if (group === undefined) return filter;
    // MQTT 5 §4.8.2: the ShareName must not contain '/', '+' or '#'.
    assertId("share group", group);
    return `$share/${group}/${filter}`;
  };
  const probeTopic = (token: string): string => {
    assertId("probe token", token);
    return `${prefix}/${TOPIC_VERSION}/probe/${token}`;
  };
  const telemetryTopic = (deviceId: string): string => {
    assertId("deviceId", deviceId);
    return `${prefix}/${TOPIC_VERSION}/telemetry/${deviceId}`;
  };
  const relayTopics = (group: string, workerId: string): { claim: string; inbox: string; inboxOf(id: string): string } => {
    assertId("share group", group);
    const base = `${prefix}/${TOPIC_VERSION}/relay/${group}`;
    const inboxOf = (id: string): string => {
      assertId("worker id", id);
      return `${base}/to/${id}`;
    };
    return { claim: `${base}/claim`, inbox: inboxOf(workerId), inboxOf };
  };
  return Object.freeze({ prefix, requestTopic, sessionTopic, sessionFilter, replyTopic, parseRequestTopic, replyTopicForRequest, workerFilter, probeTopic, telemetryTopic, relayTopics });
}

const defaults = topics();

/** `edgecut/v1/req/<deviceId>/<splitId>` (default prefix; use {@link topics} for another). */
export const requestTopic: Topics["requestTopic"] = defaults.requestTopic;
/** `edgecut/v1/reply/<deviceId>` (default prefix). */
export const replyTopic: Topics["replyTopic"] = defaults.replyTopic;
/** `{ deviceId, splitId }` of an `edgecut/v1/req/...` topic, else undefined (default prefix). */
export const parseRequestTopic: Topics["parseRequestTopic"] = defaults.parseRequestTopic;
/** Reply topic for a request topic (default prefix). */
export const replyTopicForRequest: Topics["replyTopicForRequest"] = defaults.replyTopicForRequest;
/** `[$share/<group>/]edgecut/v1/req/+/<splitId>` (default prefix). */
export const workerFilter: Topics["workerFilter"] = defaults.workerFilter;

/**
 * The hostname as one topic level: characters a level cannot hold become '-', cut to the id
 * limit. Stable across runs, so a worker's per-device view (and any ACL) keeps recognising it.
 */
export function defaultDeviceId(hostname: string = os.hostname()): string {
  // eslint-disable-next-line no-control-regex
  let id = hostname.replace(/[/+#\s\u0000-\u001f\u007f-\u009f]/g, "-");
  while (Buffer.byteLength(id, "utf8") > MAX_ID_BYTES) id = id.slice(0, -1);
  return id === "" ? "edgecut-device" : id;
}
