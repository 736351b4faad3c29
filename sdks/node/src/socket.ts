// Where the sidecar's socket is when neither the `socket` option nor
// ATTACHE_SOCKET says. The sidecar picks its default by the same rule
// (crates/server/src/socket_path.rs; keep the two, and the PHP SDK's, in
// step), always in a directory only its user may write: a fixed path in /tmp
// could be bound first by any local user, who would then receive the calls.
import { lstatSync, existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { AttacheError, Code } from "./errors.js";

const ROOT_SOCKET = "/run/attache/attache.sock";

export interface SocketEnv {
  RUNTIME_DIRECTORY?: string;
  XDG_RUNTIME_DIR?: string;
  TMPDIR?: string;
}

/**
 * The default socket path: `$RUNTIME_DIRECTORY/attache.sock` (the first of
 * several), else `/run/attache/attache.sock` when running as root or when it
 * exists, else `$XDG_RUNTIME_DIR/attache/attache.sock`, else
 * `$TMPDIR/attache-<euid>/attache.sock` (`/tmp` when TMPDIR is unset). Empty
 * or relative values count as unset. Throws if the last one's directory
 * exists but another user owns it or may write it: that user could be
 * listening there in the sidecar's place.
 */
export function defaultSocket(
  env: SocketEnv = process.env,
  euid: number = process.geteuid?.() ?? 0,
  exists: (path: string) => boolean = existsSync,
): string {
  const absolute = (value: string | undefined) => (value && isAbsolute(value) ? value : undefined);
  const runtime = absolute(env.RUNTIME_DIRECTORY?.split(":")[0]);
  if (runtime) return join(runtime, "attache.sock");
  if (euid === 0 || exists(ROOT_SOCKET)) return ROOT_SOCKET;
  const xdg = absolute(env.XDG_RUNTIME_DIR);
  if (xdg) return join(xdg, "attache", "attache.sock");
  const dir = join(absolute(env.TMPDIR) ?? "/tmp", `attache-${euid}`);
  checkPrivate(dir, euid);
  return join(dir, "attache.sock");
}

// Only this last directory sits where other users may create files; the
// others are made by systemd, root or the login session.
function checkPrivate(dir: string, euid: number): void {
  let stat;
  try {
    stat = lstatSync(dir);
  } catch {
    return; // Not made yet: the sidecar creates it, privately, when it starts.
  }
  const fix = "remove it, or set ATTACHE_SOCKET";
  if (!stat.isDirectory()) {
    throw new AttacheError(Code.Unavailable, `refusing ${dir}: the socket directory is a symbolic link or not a directory; ${fix}`);
  }
  if (stat.uid !== euid) {
    throw new AttacheError(
      Code.Unavailable,
      `refusing ${dir}: the socket directory is owned by uid ${stat.uid}, not by this process's uid ${euid}, and its owner could answer in the sidecar's place; ${fix}`,
    );
  }
  if (stat.mode & 0o022) {
    throw new AttacheError(
      Code.Unavailable,
      `refusing ${dir}: the socket directory has mode ${(stat.mode & 0o7777).toString(8)}, so other users may write it; chmod 750 it, or set ATTACHE_SOCKET`,
    );
  }
}
