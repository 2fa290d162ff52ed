// A NOTIFY_SOCKET listener for tests of systemd notification (test/agent/systemd.test.ts and the
// agent service test), and finding tools whose absence skips a test (and fails it under CI=true).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fail } from "../../sdk/errors.js";

/** Path of a tool, or undefined. */
export function which(tool: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
  const found = r.stdout.trim();
  return r.status === 0 && found ? found : undefined;
}

/** Why a test needing `tool` must skip (undefined: it can run). Under CI=true a missing tool fails the run instead. */
export function toolSkipReason(tool: string, install: string): string | undefined {
  if (which(tool) !== undefined) return undefined;
  const reason = `${tool} is not installed (${install})`;
  if (process.env.CI === "true") throw fail("E_TOOL_MISSING", `${reason}; CI=true requires it`);
  return reason;
}

/** A NOTIFY_SOCKET listener: Node cannot bind an AF_UNIX datagram socket, python3 can. */
const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True:
    # recv() drops the ancillary data: the fd of systemd-notify's BARRIER=1 closes, which answers the barrier.
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

/** A running listener and the datagrams it received (each a string of NAME=value lines). */
export interface Listener {
  socket: string;
  datagrams: string[];
  waitFor(pred: (d: string[]) => boolean, what: string): Promise<void>;
  close(): void;
}

/** Starts a listener on a fresh socket under `root`. */
export async function startListener(root: string): Promise<Listener> {
  const dir = fs.mkdtempSync(path.join(root, "sock-"));
  const socket = path.join(dir, "notify.sock");
  const child: ChildProcess = spawn("python3", ["-c", LISTENER, socket], { stdio: ["ignore", "pipe", "pipe"] });
  const datagrams: string[] = [];
  let stderr = "";
  let buf = "";
  let listening = false;
  const waiters = new Set<() => void>();
  child.stderr!.on("data", (b: Buffer) => { stderr += b.toString(); });
  child.stdout!.on("data", (b: Buffer) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === "LISTENING") listening = true;
      else datagrams.push(JSON.parse(line) as string);
    }
    for (const w of waiters) w();
  });
  const waitFor = (pred: (d: string[]) => boolean, what: string): Promise<void> => new Promise((resolve, reject) => {
    const check = (): void => {
      if (pred(datagrams)) { waiters.delete(check); clearTimeout(timer); resolve(); }
    };
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`no ${what} after 10 s; got ${JSON.stringify(datagrams)}; listener stderr: ${stderr}`)); }, 10_000);
    waiters.add(check);
    child.once("exit", () => { if (!pred(datagrams)) { clearTimeout(timer); reject(new Error(`the listener exited: ${stderr}`)); } });
    check();
  });
  await waitFor(() => listening, "LISTENING line");
  return { socket, datagrams, waitFor, close: () => { child.kill("SIGKILL"); } };
}
