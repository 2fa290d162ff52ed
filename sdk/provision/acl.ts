/**
 * Broker ACLs for the topic scheme (sdk/transport/topics.ts), as mosquitto acl_file blocks:
 * `user <name>` followed by `topic read|write|readwrite <filter>` lines (mosquitto.conf(5),
 * acl_file). With an acl_file every topic not granted is denied, so each role gets exactly:
 *
 *   device <id>   write  <p>/v1/req/<id>/+            its own requests, any split
 *                 write  <p>/v1/req/<id>/+/+          a session stuck to one worker
 *                 read   <p>/v1/reply/<id>            its own replies only
 *                 write  <p>/v1/telemetry/<id>        its own fleet summary
 *   worker <user> read   <p>/v1/req/+/<split>         every device's requests for the splits it serves
 *                                                     (each --split; "+": every split), $share/<group>/...
 *                                                     checked against the topic itself
 *                 read   <p>/v1/req/+/<split>/<workerId>  sessions stuck to this worker only (or to
 *                                                     any worker, "+", when its id is random per start)
 *                 write  <p>/v1/reply/+               replies to any device
 *                 readwrite <p>/v1/relay/<group>/#    its group's fragment relay (cloud-stub/relay.ts)
 *                 readwrite <p>/v1/probe/#            the shared-subscription probe
 *   monitor <user> read  <p>/v1/telemetry/+           every device's fleet summary
 *
 * So a device cannot publish as another (the worker answers on the reply topic of the request
 * topic, which names the device), read another's replies, or reach the relay. The ACL is what
 * makes the deviceId in a topic mean anything.
 */
import { DEFAULT_GROUP } from "../../cloud-stub/config.js";
import { TOPIC_VERSION } from "../transport/topics.js";
import type { Upserted } from "./password.js";

/** What an account is for. */
export type Role = "device" | "worker" | "monitor";
/** A worker's workerId in an AclSpec meaning "whatever id it starts with". */
export const ANY_WORKER = "+";

/** The roles, in help order. */
export const ROLES: readonly Role[] = ["device", "worker", "monitor"];

/** One acl_file grant. */
export interface AclRule {
  access: "read" | "write" | "readwrite";
  topic: string;
}

/** Whom an ACL block is for (names already checked: see identity.ts). */
export interface AclSpec {
  role: Role;
  /** The MQTT user name (a device's id). */
  user: string;
  /** Topic prefix. */
  prefix: string;
  /** Worker role: the id its sticky sessions name, `<p>/v1/req/+/+/<workerId>` (default ANY_WORKER). */
  workerId?: string;
  /** Worker role: its shared-subscription group, scoping the relay topics (default DEFAULT_GROUP). */
  group?: string;
  /** Worker role: the splitIds it serves, the only requests it may read (default: every split). */
  splits?: readonly string[];
}

/** The grants of one account (see the module comment). */
export function aclRules(spec: AclSpec): AclRule[] {
  const v = `${spec.prefix}/${TOPIC_VERSION}`;
  switch (spec.role) {
    case "device":
      return [
        { access: "write", topic: `${v}/req/${spec.user}/+` },
        { access: "write", topic: `${v}/req/${spec.user}/+/+` },
        { access: "read", topic: `${v}/reply/${spec.user}` },
        { access: "write", topic: `${v}/telemetry/${spec.user}` },
      ];
    case "worker":
      return [
        ...(spec.splits?.length ? spec.splits : ["+"]).flatMap((split): AclRule[] => [
          { access: "read", topic: `${v}/req/+/${split}` },
          { access: "read", topic: `${v}/req/+/${split}/${spec.workerId ?? ANY_WORKER}` },
        ]),
        { access: "write", topic: `${v}/reply/+` },
        { access: "readwrite", topic: `${v}/relay/${spec.group ?? DEFAULT_GROUP}/#` },
        { access: "readwrite", topic: `${v}/probe/#` },
      ];
    case "monitor":
      return [{ access: "read", topic: `${v}/telemetry/+` }];
  }
}

/** The comment line edgecut puts above its blocks (recognised when a block is replaced). */
const MARKER = "# edgecut ";

/** The acl_file lines of one account: a marker comment, `user <name>`, its topic lines. */
export function renderAclBlock(spec: AclSpec): string[] {
  const id = spec.workerId ?? ANY_WORKER;
  const what = spec.role === "worker" ? `worker (${id === ANY_WORKER ? "any worker id" : `worker id ${id}`}, group ${spec.group ?? DEFAULT_GROUP})` : spec.role;
  return [`${MARKER}${what}`, `user ${spec.user}`, ...aclRules(spec).map((r) => `topic ${r.access} ${r.topic}`)];
}

/** The name of a `user <name>` line (as mosquitto reads it: the rest of the line, trimmed), else undefined. */
function userLine(line: string): string | undefined {
  const m = /^\s*user\s+(.*?)\s*$/.exec(line);
  return m === null ? undefined : m[1];
}

/** A line that starts another block: `user ...` or a `pattern ...` (patterns apply to everyone, wherever they stand). */
function startsBlock(line: string): boolean {
  return /^\s*(user|pattern)\s/.test(line);
}

const isFiller = (line: string): boolean => line.trim() === "" || line.trimStart().startsWith("#");

/**
 * The acl_file content with `block` (from renderAclBlock) in place of the user's block, where it
 * was, or appended after a blank line. A user's block runs from its `user` line (and an edgecut
 * marker right above it) to the next `user` or `pattern` line, less the comments and blank lines
 * before that one (they belong to what follows). Further blocks of the same user (hand edits) go.
 */
export function upsertAclBlock(text: string, user: string, block: readonly string[]): Upserted {
  const lines = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/);
  const out: string[] = [];
  let replaced = false;
  let i = 0;
  while (i < lines.length) {
    if (userLine(lines[i]!) !== user) { out.push(lines[i]!); i++; continue; }
    // Our marker comment right above belongs to the block.
    if (out.length > 0 && out[out.length - 1]!.startsWith(MARKER)) out.pop();
    let end = i + 1;
    while (end < lines.length && !startsBlock(lines[end]!)) end++;
    while (end > i + 1 && isFiller(lines[end - 1]!)) end--;
    if (!replaced) out.push(...block);
    replaced = true;
    i = end;
  }
  if (!replaced) {
    if (out.length > 0 && out[out.length - 1]!.trim() !== "") out.push("");
    out.push(...block);
  }
  return { text: out.join("\n") + "\n", replaced };
}

/** The user names of an acl_file's `user` lines, in file order. */
export function aclFileUsers(text: string): string[] {
  return text.split(/\r?\n/).map(userLine).filter((u): u is string => u !== undefined);
}
