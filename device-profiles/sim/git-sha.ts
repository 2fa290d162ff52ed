/**
 * The commit a simulation ran on (SimResult.meta.gitSha), read from the repository's files rather
 * than by running git: a simulation must work where git is not installed, and must stay fast.
 */
import * as fs from "node:fs";
import * as path from "node:path";

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** The HEAD commit of the repository holding `from` (default: this source tree), or "unknown". */
export function gitSha(from: string = import.meta.dirname): string {
  let dir = path.resolve(from);
  for (;;) {
    const dotGit = path.join(dir, ".git");
    if (fs.existsSync(dotGit)) {
      // A worktree or submodule: .git is a file naming the real folder.
      const pointer = fs.statSync(dotGit).isFile() ? /^gitdir:\s*(.+)$/m.exec(read(dotGit) ?? "")?.[1] : undefined;
      const gitDir = pointer !== undefined ? path.resolve(dir, pointer) : dotGit;
      const head = read(path.join(gitDir, "HEAD"));
      if (head === undefined) return "unknown";
      const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
      if (ref === undefined) return /^[0-9a-f]{40}$/.test(head) ? head : "unknown";
      const loose = read(path.join(gitDir, ref));
      if (loose !== undefined && /^[0-9a-f]{40}$/.test(loose)) return loose;
      const packed = read(path.join(gitDir, "packed-refs")) ?? "";
      for (const line of packed.split("\n")) {
        const [sha, name] = line.split(" ");
        if (name === ref && sha !== undefined && /^[0-9a-f]{40}$/.test(sha)) return sha;
      }
      return "unknown";
    }
    const up = path.dirname(dir);
    if (up === dir) return "unknown";
    dir = up;
  }
}
