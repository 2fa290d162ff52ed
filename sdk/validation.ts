/** Helpers shared by the zod-validated file formats (manifests, device profiles, configs). */

/** Formats a zod issue path as `segments[1].outputs[0].type`, for error messages naming the bad field. */
export function fieldPath(p: readonly PropertyKey[]): string {
  let s = "";
  for (const k of p) s += typeof k === "number" ? `[${k}]` : s ? `.${String(k)}` : String(k);
  return s || "(top level)";
}
