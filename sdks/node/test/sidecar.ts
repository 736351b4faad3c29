// Starts a real attache binary on a temporary socket for the SDK tests.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
export const binary = process.env.ATTACHE_BIN ?? resolve(here, "../../../../target/debug/attache");

export interface Sidecar {
  socket: string;
  process: ChildProcess;
  stop(): Promise<number | null>;
}

/**
 * Starts attache on a fresh socket (or on `socket`), or with `defaultSocket`
 * on no configured socket at all, expecting it to pick that path by its own
 * default rule. Each sidecar gets a Kafka spool directory of its own (a
 * spool is locked by one attache at a time), removed when it stops, unless
 * `env` names one (`ATTACHE_KAFKA_SPOOL_DIR`), which is left as it is.
 */
export async function startSidecar(
  env: Record<string, string> = {},
  options: { defaultSocket?: string; socket?: string } = {},
): Promise<Sidecar> {
  if (!existsSync(binary)) throw new Error(`no attache binary at ${binary}; run cargo build or set ATTACHE_BIN`);
  const socket = options.defaultSocket ?? options.socket ?? join(mkdtempSync(join(tmpdir(), "attache-node-")), "attache.sock");
  const args = options.defaultSocket ? ["run", "--admin", "off"] : ["run", "--socket", socket, "--admin", "off"];
  const spool = env.ATTACHE_KAFKA_SPOOL_DIR ? undefined : mkdtempSync(join(tmpdir(), "attache-node-spool-"));
  const child = spawn(binary, args, {
    env: { PATH: process.env.PATH ?? "", ATTACHE_LOG_LEVEL: "warn", ...(spool ? { ATTACHE_KAFKA_SPOOL_DIR: spool } : {}), ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const started = Date.now();
  while (!(await canConnect(socket))) {
    if (child.exitCode !== null) throw new Error(`attache exited with ${child.exitCode}`);
    if (Date.now() - started > 10_000) throw new Error("attache did not start within 10 s");
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    socket,
    process: child,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", (code) => {
          if (spool) rmSync(spool, { recursive: true, force: true });
          resolve(code);
        });
        child.kill("SIGTERM");
      }),
  };
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
