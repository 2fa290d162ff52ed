/**
 * MQTT topic-filter matching, shared by every Transport: the in-process memory bus routes with it
 * and the mqtt.js transport dispatches an incoming message to the handlers whose filters match.
 * No I/O and no broker dependency.
 */

/** A filter split into its share group (MQTT 5 §4.8.2) and the topic filter proper. */
export interface ParsedFilter {
  /** The ShareName of a `$share/<group>/<filter>` subscription, else undefined. */
  group: string | undefined;
  /** The topic filter without the `$share/<group>/` prefix. */
  filter: string;
}

const SHARE_PREFIX = "$share/";

/**
 * Splits `$share/<group>/<filter>` into group and filter (MQTT 5 §4.8.2 shared subscriptions);
 * any other filter comes back with group undefined. Returns undefined for a malformed shared
 * filter (empty ShareName, a ShareName holding `+` or `#`, or no filter after it), which a
 * broker refuses.
 */
export function parseFilter(filter: string): ParsedFilter | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return { group: undefined, filter };
  const rest = filter.slice(SHARE_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return undefined;
  const group = rest.slice(0, slash);
  const inner = rest.slice(slash + 1);
  // MQTT 5 §4.8.2: "The ShareName MUST NOT contain the characters '/', '+' or '#'", and it is
  // followed by a Topic Filter of at least one character.
  if (group.includes("+") || group.includes("#") || inner === "") return undefined;
  return { group, filter: inner };
}

/**
 * True when `filter` is a well-formed topic filter: non-empty, no NUL (MQTT 3.1.1 §1.5.3),
 * `#` only as the whole last level and `+` only as a whole level (MQTT 3.1.1 §4.7.1.2,
 * §4.7.1.3). A `$share/...` filter is checked after its share prefix.
 */
export function isValidFilter(filter: string): boolean {
  const parsed = parseFilter(filter);
  if (parsed === undefined) return false;
  const f = parsed.filter;
  if (f === "" || f.includes("\u0000")) return false;
  const levels = f.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) return false;
    if (level.includes("+") && level !== "+") return false;
  }
  return true;
}

/** True when `topic` is a well-formed topic name: non-empty, no wildcards, no NUL (MQTT 3.1.1 §4.7.3, §1.5.3). */
export function isValidTopic(topic: string): boolean {
  return topic !== "" && !topic.includes("+") && !topic.includes("#") && !topic.includes("\u0000");
}

/**
 * True when the topic name matches the topic filter, per MQTT 3.1.1 §4.7: `+` matches exactly
 * one level (possibly empty), `#` matches the parent level and any number of levels below it
 * (§4.7.1.2: "sport/#" also matches "sport"), and a wildcard in the first level does not match
 * a topic starting with `$` (§4.7.2). A `$share/<group>/` prefix on the filter is ignored
 * here: a shared subscription matches the same topics as its filter (MQTT 5 §4.8.2). With
 * `sharedSubscriptions` false the filter is taken literally, as a broker without shared
 * subscriptions (aedes) does: `$share/g/a` then matches only the topic `$share/g/a`.
 * A malformed filter matches nothing.
 */
export function topicMatches(filter: string, topic: string, sharedSubscriptions = true): boolean {
  const parsed = sharedSubscriptions ? parseFilter(filter) : { group: undefined, filter };
  if (parsed === undefined || !isValidFilter(parsed.filter)) return false;
  const f = parsed.filter.split("/");
  const t = topic.split("/");
  // MQTT 3.1.1 §4.7.2: "#" or "+" as the first level does not match topics beginning with "$".
  if (topic.startsWith("$") && (f[0] === "#" || f[0] === "+")) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === "#") return true;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
}
