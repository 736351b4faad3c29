"""Turns the JSON the benchmark clients printed into bench/results/:
one markdown file and one PNG chart per benchmark, with the machine and the
exact command. Usage: report.py RAW_DIR RESULTS_DIR COMMAND [SECTIONS]"""
import json
import os
import platform
import subprocess
import sys
import textwrap
from datetime import date

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

raw, out, command = sys.argv[1], sys.argv[2], sys.argv[3]
sections = (sys.argv[4] if len(sys.argv) > 4 else "transport,password,redis,image,postgres,kafka").split(",")
os.makedirs(out, exist_ok=True)
today = date.today().isoformat()


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
machine = (
    f"- CPU: {cpu}, {os.cpu_count()} cores; memory {mem_gib} GiB\n"
    f"- Kernel: {platform.release()}; {sh('rustc --version')}; Node {sh('node --version')}; {sh('php --version | head -1')}; "
    f"Go {(sh('go version').split()[2:3] or ['?'])[0]}; "
    f"{sh(os.environ.get('ATTACHE_PYTHON_SDK_VENV', 'target/python-sdk-venv') + '/bin/python --version') or 'Python ?'}\n"
    f"- attache release build, default config except where a row says otherwise\n"
)


def write(name, lines):
    """Writes RESULTS_DIR/<today>-<name>.md: `lines`, then the machine and
    the command, so every report says where and how it was measured."""
    lines = [*lines, "", "## Machine", machine, "## Command", f"`{command}`", ""]
    with open(os.path.join(out, f"{today}-{name}.md"), "w") as fh:
        fh.write("\n".join(lines))


def load(name):
    with open(os.path.join(raw, name)) as f:
        return json.loads(f.read().strip().splitlines()[-1])


# Transport ---------------------------------------------------------------
# The transport clients, in the tables' order: each printed
# transport-<client>.json with its language's floors, `floor` (the blocking
# echo) and `floor_tokio` (the tokio echo), and its calls to attache.
TRANSPORT_CLIENTS = ("rust", "node", "php", "go", "python")
# The clients judged by the older target of "the client's own share": the
# call at ≤ 1.5 × the language's tokio echo + the sidecar's share.
SHARE_TARGET_CLIENTS = ("rust", "node", "php")
# Each SDK's call against its language's floor (the tokio echo, the same
# runtime attache serves on, called from the same language): (client, key in
# its JSON, the call, target for p50 over the echo's p50 in µs, or None).
SDK_CALLS = [
    ("node", "attache", "Node SDK `info()`", None),
    ("php", "attache", "PHP SDK `info()`", None),
    ("go", "attache", "Go SDK `Client.Info(ctx)`", 50),
    ("python", "attache", "Python SDK `Client.info()` (sync)", 150),
    # `attache` in transport-rust.json is the generated connectrpc client.
    ("rust", "attache_sdk", "Rust SDK (attache-client) `Client::info()`", 50),
]


def transport():
    rows = {c: load(f"transport-{c}.json") for c in TRANSPORT_CLIENTS}
    rust = rows["rust"]
    tokio_floor = rust["floor_tokio"]
    raw = rust["attache_connect_h1_blocking"]
    share = raw["p50_us"] - tokio_floor["p50_us"]
    cpu_ratio = raw["server_cpu_us_per_call"] / tokio_floor["server_cpu_us_per_call"]
    lines = [
        f"# Transport: a trivial unary call over the Unix socket ({today})",
        "",
        "SidecarService.GetInfo, sequential calls on one connection, beside two raw",
        "Unix-socket echoes of 32 bytes called from the same language: `echo` (one",
        "blocking thread per connection) and `echo tokio` (the runtime attache serves",
        "on). The servers take turns in 5 rounds. `server CPU` is the called",
        "process's CPU time per call (all threads, from /proc schedstat). The",
        "sidecar runs with every feature on: default log level, metrics, admission.",
        "",
        "Rust: `connect h1 blocking` is a hand-written Connect HTTP/1.1 call with",
        "blocking socket calls, the least a client can do, so its distance from the",
        "tokio echo is the sidecar's own share; `grpc h2` and `connect h2` are the",
        "generated connectrpc client (tokio, h2c); `sdk` is the Rust SDK's",
        "`Client::info()` (attache-client: Connect binary over its own pooled",
        "HTTP/1.1 on tokio). Node: the SDK (Connect binary",
        "over HTTP/1.1). PHP: the SDK (Connect JSON over HTTP/1.1 on a persistent",
        "Unix-socket stream; `new connection` = a fresh client per call, as a",
        "short-lived PHP request would). Go: the SDK's `Client.Info` (Connect",
        "binary over its own pooled HTTP/1.1 transport). Python: the SDK's sync",
        "`Client.info()` (Connect binary over HTTP/1.1).",
        "",
        "## The sidecar's own share",
        "",
        f"From a blocking client: attache {raw['p50_us']:.1f} µs p50 ({raw['p99_us']:.1f} p99) against the tokio echo's "
        f"{tokio_floor['p50_us']:.1f} µs ({tokio_floor['p99_us']:.1f} p99): **{raw['p50_us'] / tokio_floor['p50_us']:.2f}×** "
        f"the echo's round trip (target ≤ 1.5×), a share of {share:+.1f} µs. CPU per call "
        f"{raw['server_cpu_us_per_call']:.1f} µs against the echo's {tokio_floor['server_cpu_us_per_call']:.1f} µs: "
        f"**{cpu_ratio:.2f}×** (target ≤ 2×).",
        "",
        "## Every client",
        "",
        "| client | server | p50 | p99 | p50 / tokio echo | server CPU per call | CPU / tokio echo's |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    chart = []
    sdk_lines = []
    for client, r in rows.items():
        ft = r["floor_tokio"]
        for key, a in r.items():
            if key == "client":
                continue
            server = {"floor": "echo", "floor_tokio": "echo tokio"}.get(key)
            if server is None:
                server = "attache" + ("" if key == "attache" else " " + key.replace("attache_", "").replace("_", " "))
            if client == "rust" and key == "attache":
                server = "attache grpc h2"
            lines.append(
                f"| {client} | {server} | {a['p50_us']:.1f} µs | {a['p99_us']:.1f} µs | {a['p50_us'] / ft['p50_us']:.2f}× "
                f"| {a['server_cpu_us_per_call']:.1f} µs | {a['server_cpu_us_per_call'] / ft['server_cpu_us_per_call']:.2f}× |"
            )
            chart.append((client + "\n" + "\n".join(textwrap.wrap(server, 12)), a["p50_us"], a["p99_us"]))
        if client not in SHARE_TARGET_CLIENTS:
            continue
        # Rust's SDK is attache-client; `attache` there is the generated client.
        a = r["attache_sdk"] if client == "rust" and "attache_sdk" in r else r["attache"]
        target = 1.5 * ft["p50_us"] + share
        sdk_lines.append(
            f"| {client} | {ft['p50_us']:.1f} µs | {a['p50_us']:.1f} µs | {a['p50_us'] - ft['p50_us'] - share:+.1f} µs "
            f"| {target:.1f} µs | {'met' if a['p50_us'] <= target else 'not met'} |"
        )
    lines += [
        "",
        "## The client's own share",
        "",
        "Each language's client over its own echo round trip and the sidecar's share",
        "(above); target: the call at ≤ 1.5 × the language's echo + the sidecar's share.",
        "Rust's row is its SDK (attache-client). (Go and Python have targets of",
        "their own, in the next section.)",
        "",
        "| client | its echo (tokio) p50 | attache p50 | client's own share | target | |",
        "|---|---:|---:|---:|---:|---|",
        *sdk_lines,
        "",
        "## Each SDK over its language's floor",
        "",
        "Each SDK's call against the tokio echo called from the same language (its",
        "floor: the socket round trip that language pays anyway), at p50 and p99;",
        "the target bounds the p50 over the floor's p50 (Go and Rust ≤ 50 µs, Python ≤ 150 µs).",
        "",
        "| SDK call | echo p50 | call p50 | p50 over echo | echo p99 | call p99 | p99 over echo | target (p50 over echo) | |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for client, key, call, target_us in SDK_CALLS:
        ft, a = rows[client]["floor_tokio"], rows[client][key]
        over = a["p50_us"] - ft["p50_us"]
        verdict = "—" if target_us is None else ("met" if over <= target_us else "not met")
        lines.append(
            f"| {call} | {ft['p50_us']:.1f} µs | {a['p50_us']:.1f} µs | {over:+.1f} µs | {ft['p99_us']:.1f} µs "
            f"| {a['p99_us']:.1f} µs | {a['p99_us'] - ft['p99_us']:+.1f} µs "
            f"| {'—' if target_us is None else f'≤ {target_us} µs'} | {verdict} |"
        )
    write("transport", lines)

    fig, ax = plt.subplots(figsize=(max(11, 0.75 * len(chart)), 5))
    x = range(len(chart))
    ax.bar([i - 0.2 for i in x], [c[1] for c in chart], 0.4, label="p50")
    ax.bar([i + 0.2 for i in x], [c[2] for c in chart], 0.4, label="p99")
    ax.set_xticks(list(x), [c[0] for c in chart], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("µs per call, log scale (lower is better)")
    ax.set_title("Trivial unary call over the Unix socket, beside raw echoes")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"{today}-transport.png"), dpi=110)


# Password offload ----------------------------------------------------------
def password():
    pw = load("password.json")
    by = {r["name"]: r for r in pw["results"]}
    lines = [
        f"# Password hashing from Node, {pw['concurrency']} hashes in flight ({today})",
        "",
        "bcrypt cost 10 and argon2id with OWASP parameters (m=19456 KiB, t=2, p=1),",
        "through attache (its default pool: one thread per core), in-process with",
        "pure-JS bcryptjs, and with native addons on libuv's thread pool. The",
        "event-loop delay is `perf_hooks.monitorEventLoopDelay` while the hashes run.",
        "",
        "| how | hashes/s | event-loop delay p99 | max |",
        "|---|---:|---:|---:|",
    ]
    for r in pw["results"]:
        lines.append(f"| {r['name']} | {r['hashes_per_s']:.1f} | {r['loop_delay_p99_ms']:.1f} ms | {r['loop_delay_max_ms']:.1f} ms |")
    ratios = []
    for algo in ("bcrypt-10", "argon2id"):
        two, one = by[f"{algo} attache"], by[f"{algo} attache (1 worker)"]
        ratios.append(f"- {algo}: attache on 2 cores is **{two['hashes_per_s'] / one['hashes_per_s']:.2f}×** one core's rate (target ≥ 1.8×); event-loop delay p99 **{two['loop_delay_p99_ms']:.1f} ms** (target ≤ 5 ms).")
    js = by["bcrypt-10 bcryptjs (in-process)"]
    ratios.append(f"- bcrypt-10 through attache vs bcryptjs: **{by['bcrypt-10 attache']['hashes_per_s'] / js['hashes_per_s']:.1f}×** the throughput; loop delay p99 {by['bcrypt-10 attache']['loop_delay_p99_ms']:.1f} ms vs {js['loop_delay_p99_ms']:.1f} ms.")
    native = by["bcrypt-10 bcrypt (native, libuv pool)"]
    ratios.append(f"- bcrypt-10 through attache vs native bcrypt: **{by['bcrypt-10 attache']['hashes_per_s'] / native['hashes_per_s']:.2f}×** the throughput.")
    nra = by["argon2id @node-rs/argon2 (libuv pool)"]
    ratios.append(f"- argon2id through attache vs @node-rs/argon2: **{by['argon2id attache']['hashes_per_s'] / nra['hashes_per_s']:.2f}×** the throughput.")
    lines += ["", "## Ratios", *ratios]
    write("password", lines)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.8))
    names = [r["name"] for r in pw["results"]]
    a1.barh(names, [r["hashes_per_s"] for r in pw["results"]], color="tab:blue")
    a1.set_xlabel("hashes/s (higher is better)")
    a1.invert_yaxis()
    a2.barh(names, [r["loop_delay_p99_ms"] for r in pw["results"]], color="tab:orange")
    a2.set_xscale("log")
    a2.set_xlabel("event-loop delay p99, ms, log scale (lower is better)")
    for i, r in enumerate(pw["results"]):
        a2.text(r["loop_delay_p99_ms"], i, f" {r['loop_delay_p99_ms']:.1f}", va="center")
    a2.invert_yaxis()
    a2.set_yticks([])
    fig.suptitle(f"Password hashing from Node, {pw['concurrency']} in flight")
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"{today}-password.png"), dpi=110)


# Redis ---------------------------------------------------------------------
def redis():
    node, rust, php = load("redis-node.json"), load("redis-rust.json"), load("redis-php.json")
    by = {r["name"]: r for r in node["results"]}
    direct = by["ioredis direct"]
    lines = [
        f"# Redis through attache vs the client a Node or PHP app would use ({today})",
        "",
        f"## Node: {node['callers']} concurrent callers, {node['keys'] // 1000}k keys, Zipf(0.99) reads, 5% writes, {node['seconds']} s per client",
        "",
        "One Node process. ioredis talks to Redis directly (one connection; with and",
        "without its auto-pipelining option); attache is called through the Node SDK,",
        "whose calls of one event-loop tick travel in one Batch RPC. DoCached reads",
        "are served from attache's cache (filled beforehand with every key, as a",
        "long-running sidecar's would be; writes invalidate). Redis commands are",
        "counted by `INFO commandstats` over the measured period. Each client is",
        "measured in five rounds interleaved with the others and its rounds are",
        "pooled, because this machine's speed drifts by tens of percent over",
        "minutes.",
        "",
        "| client | ops/s | vs ioredis | p50 | p99 | Redis commands / op | Redis read commands / read |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in node["results"]:
        lines.append(
            f"| {r['name']} | {r['ops_per_s']:,.0f} | {r['ops_per_s'] / direct['ops_per_s']:.2f}× | {r['p50_us']:,.0f} µs "
            f"| {r['p99_us']:,.0f} µs | {r['redis_commands_per_op']:.3f} | {r['redis_read_commands_per_read']:.3f} |"
        )
    lat = node["latency"]
    lines += [
        "",
        "## One caller at a time (sequential GET of one key, interleaved rounds)",
        "",
        "| client | p50 | p99 |",
        "|---|---:|---:|",
        f"| Node, ioredis GET | {lat['ioredis_get']['p50_us']:.0f} µs | {lat['ioredis_get']['p99_us']:.0f} µs |",
        f"| Node, attache Do GET | {lat['attache_do_get']['p50_us']:.0f} µs | {lat['attache_do_get']['p99_us']:.0f} µs |",
        f"| Node, attache DoCached hit | {lat['attache_cache_hit']['p50_us']:.0f} µs | {lat['attache_cache_hit']['p99_us']:.0f} µs |",
        f"| Rust, DoCached hit (generated client, Connect h2c) | {rust['cache_hit_connect_h2']['p50_us']:.0f} µs | {rust['cache_hit_connect_h2']['p99_us']:.0f} µs |",
        f"| Rust, DoCached hit (blocking Connect HTTP/1.1) | {rust['cache_hit_connect_h1_blocking']['p50_us']:.0f} µs | {rust['cache_hit_connect_h1_blocking']['p99_us']:.0f} µs |",
        "",
        f"## PHP: {php['workers']} worker processes, a new client per request, {php['seconds']:.0f} s per client (interleaved rounds)",
        "",
        "Each request makes its client, does one operation (same key distribution",
        "and write share) and drops it, as a PHP-FPM request does. phpredis with",
        "`connect()` (a new TCP connection per request) and with `pconnect()` (the",
        "worker's persistent connection); the attache SDK always keeps its socket",
        "connection persistent across requests.",
        "",
        "| client | requests/s | p50 | p99 | Redis commands / request |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in php["results"]:
        lines.append(f"| {r['name']} | {r['requests_per_s']:,.0f} | {r['p50_us']:,.0f} µs | {r['p99_us']:,.0f} µs | {r['redis_commands_per_request']:.3f} |")
    cached, do = by["attache DoCached"], by["attache Do"]
    lines += [
        "",
        "## Against the targets (issue 3)",
        f"- DoCached ops/s vs ioredis direct: **{cached['ops_per_s'] / direct['ops_per_s']:.2f}×** (target ≥ 3×).",
        f"- Redis read commands per app read with DoCached: **{cached['redis_read_commands_per_read']:.3f}** (target ≤ 0.1).",
        f"- Uncached Do p50 vs ioredis p50 under load: **{do['p50_us'] / direct['p50_us']:.2f}×** (target ≤ 1.3×); one caller at a time: {lat['attache_do_get']['p50_us'] / lat['ioredis_get']['p50_us']:.2f}×.",
        f"- Cache-hit p50 from Node: **{lat['attache_cache_hit']['p50_us']:.0f} µs** (target ≤ 60 µs); from Rust (blocking HTTP/1.1): {rust['cache_hit_connect_h1_blocking']['p50_us']:.0f} µs.",
    ]
    write("redis", lines)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [r["name"] for r in node["results"]]
    a1.barh(names, [r["ops_per_s"] for r in node["results"]], color="tab:blue")
    a1.set_xlabel("ops/s from Node, 64 callers (higher is better)")
    a1.invert_yaxis()
    a2.barh(names, [r["redis_commands_per_op"] for r in node["results"]], color="tab:green")
    a2.set_xlabel("Redis commands per app operation (lower is better)")
    a2.invert_yaxis()
    a2.set_yticks([])
    fig.suptitle("Redis: Zipf(0.99) reads, 5% writes, 100k keys")
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"{today}-redis.png"), dpi=110)


def image():
    runs = [json.loads(l) for l in open(os.path.join(raw, "image.jsonl")) if l.strip()]
    cases = [("jpeg_720", "2725×2225 JPEG → 720×588 JPEG q80 (sharp's benchmark case)"),
             ("jpeg_thumb", "4000×3000 JPEG → 400×300 JPEG q80 (thumbnail)"),
             ("png_alpha", "1600×1200 PNG with alpha → 400×300 PNG")]
    modes = [("attache", "attache (Node SDK → sidecar)"), ("sharp", "sharp 0.35.5 in-process (libvips 8.18)"),
             ("jimp", "jimp 1.6.1 in-process (pure JS)")]
    mib = lambda b: f"{b / 2**20:.0f} MiB"

    def pooled(mode, case):
        rs = [r for r in runs if r["mode"] == mode and r["case"] == case]
        rs_sorted = sorted(r["p50_ms"] for r in rs)
        return {
            "images_per_s": sum(r["images"] for r in rs) / sum(r["seconds"] for r in rs),
            "p50_ms": rs_sorted[len(rs_sorted) // 2],
            "p99_ms": max(r["p99_ms"] for r in rs),
            "loop_p99_ms": sorted(r["loop_delay_p99_ms"] for r in rs)[len(rs) // 2],
            "loop_p99_worst_ms": max(r["loop_delay_p99_ms"] for r in rs),
            "work_rss": max((r["sidecar_peak_rss"] or r["node_peak_rss"]) for r in rs),
            "node_rss": max(r["node_peak_rss"] for r in rs),
            "images": sum(r["images"] for r in rs),
            "output_bytes": rs[-1]["output_bytes"],
            "input_bytes": rs[-1]["input_bytes"],
        }

    table = {(m, c): pooled(m, c) for m, _ in modes for c, _ in cases}
    lines = [
        f"# Image resizing from Node: attache vs sharp vs jimp ({today})",
        "",
        "One Node process per (library, case) run, 4 images in flight, the same",
        "input bytes every time (sharp's operation cache off, as different uploads",
        "would be). attache is called through the Node SDK; sharp runs libvips on",
        "libuv's thread pool; jimp decodes and resizes in JavaScript. Each run is",
        "repeated in 3 rounds interleaved with the others and pooled (images/s over",
        "all rounds, median p50, worst p99 and RSS; the event-loop delay p99 is the",
        "median of the rounds' with the worst round's in brackets). Event-loop delay:",
        "how late a 1 ms timer fires while the images are processed. Peak RSS is",
        "the peak resident memory of the process doing the work during the run:",
        "the sidecar for attache (its high-water mark reset before the run), the",
        "Node process for sharp and jimp; the Node client's own peak is beside it.",
        "Inputs are mosaics of real photographs (scikit-image's sample data, made",
        "by testing/images/fixtures.py), so they have a camera image's detail.",
        "",
    ]
    for case, title in cases:
        sharp = table[("sharp", case)]
        lines += [f"## {title}", "",
                  f"Input {table[('attache', case)]['input_bytes'] / 1e6:.2f} MB.", "",
                  "| library | images/s | vs sharp | p50 | p99 | event-loop delay p99 | peak RSS (worker) | peak RSS (Node) | output |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for mode, label in modes:
            r = table[(mode, case)]
            lines.append(
                f"| {label} | {r['images_per_s']:.1f} | {r['images_per_s'] / sharp['images_per_s']:.2f}× | {r['p50_ms']:.0f} ms "
                f"| {r['p99_ms']:.0f} ms | {r['loop_p99_ms']:.1f} ms ({r['loop_p99_worst_ms']:.1f}) | {mib(r['work_rss'])} | {mib(r['node_rss'])} | {r['output_bytes'] / 1e3:.0f} kB |"
            )
        lines.append("")
    a, sh_ = table[("attache", "jpeg_720")], table[("sharp", "jpeg_720")]
    lines += [
        "## Against the targets (issue 4)",
        *[f"- {title.split(' (')[0]}: attache **{table[('attache', c)]['images_per_s'] / table[('sharp', c)]['images_per_s']:.2f}×** sharp's images/s "
          f"(target ≥ 1.0×), event-loop delay p99 **{table[('attache', c)]['loop_p99_ms']:.1f} ms** (worst round {table[('attache', c)]['loop_p99_worst_ms']:.1f}; target ≤ 5 ms), "
          f"peak RSS {mib(table[('attache', c)]['work_rss'])} vs sharp's {mib(table[('sharp', c)]['work_rss'])} (target ≤ sharp's)."
          for c, title in cases],
    ]
    write("image", lines)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    colors = {"attache": "tab:blue", "sharp": "tab:orange", "jimp": "tab:gray"}
    x = range(len(cases))
    for i, (mode, label) in enumerate(modes):
        off = [v + (i - 1) * 0.27 for v in x]
        axes[0].bar(off, [table[(mode, c)]["images_per_s"] for c, _ in cases], 0.27, label=label, color=colors[mode])
        axes[1].bar(off, [table[(mode, c)]["loop_p99_ms"] for c, _ in cases], 0.27, color=colors[mode])
        axes[2].bar(off, [table[(mode, c)]["work_rss"] / 2**20 for c, _ in cases], 0.27, color=colors[mode])
    for ax, ylabel, log in ((axes[0], "images/s (higher is better)", True), (axes[1], "event-loop delay p99, ms (lower is better)", True),
                            (axes[2], "peak RSS of the worker, MiB (lower is better)", False)):
        ax.set_xticks(list(x), [c for c, _ in cases])
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=9)
    fig.suptitle("Image resizing from Node, 4 in flight")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(os.path.join(out, f"{today}-image.png"), dpi=110)


# PostgreSQL ----------------------------------------------------------------
def postgres():
    node, php = load("postgres-node.json"), load("postgres-php.json")
    by = {r["name"]: r for r in node["results"]}
    pool_name = f"pg Pool (max {node['pool_size']})"
    pool, att = by[pool_name], by["attache Query"]
    cached, rds = by["attache Query cached"], by["attache Redis DoCached"]
    lat = node["latency"]
    ident = node["identical"]
    ins = node["inserts"]
    insby = {r["name"]: r for r in ins["results"]}
    ins_pool, ins_att = insby[f"{pool_name} per-row INSERT"], insby["attache Insert"]
    phpby = {r["mode"]: r for r in php["results"]}
    pdo_new, pdo_p, php_att = phpby["pdo"], phpby["pdo-persistent"], phpby["attache"]
    mib = lambda b: f"{b / 2**20:.0f} MiB" if b else "?"
    median = lambda xs: sorted(xs)[len(xs) // 2]
    us = lambda v: f"{v:,.0f} µs" if v is not None else "–"
    pct = lambda r: f"{r['hit_ratio'] * 100:.1f}%" if r.get("hit_ratio") is not None else "–"
    ttl_min = node["cache_ttl_ms"] / 60_000
    lines = [
        f"# PostgreSQL through attache vs the client a Node or PHP app would use ({today})",
        "",
        "A fresh PostgreSQL 15 (testing/postgres/, fsync and synchronous_commit on: durable commits as in production; pg_stat_statements",
        f"loaded) on a Unix socket, a table of {node['rows'] // 1000}k rows",
        "(`bench_rows (id int primary key, name text, score int)`), a fresh",
        "redis-server, and a sidecar pointed at both, with its default pool",
        f"(`postgres.pool_size`, {node['pool_size']} connections) on the same socket; the pg Pool is",
        "given the same size. Uncached attache reads all go to the database, except",
        "that identical plain reads in flight at the same moment run once",
        "(single-flight) and share the result; cached reads (`cacheTtlMs`) are",
        "answered from the sidecar's response cache. Server executions are",
        "counted with `pg_stat_statements` (reset before each measured period).",
        "",
        f"## Node: {node['callers']} concurrent callers, primary-key reads, Zipf(0.99) ids, {node['seconds']} s per client",
        "",
        "`SELECT id, name, score FROM bench_rows WHERE id = $1`. node-postgres",
        f"(`pg`) with a Pool of {node['pool_size']} connections (`pool.query(text, values)`, an",
        "unnamed statement each time) vs attache Query through the Node SDK:",
        f"uncached, and cached (`cacheTtlMs: {node['cache_ttl_ms']:_}`, the {ttl_min:.0f}-minute",
        "`postgres.cache.max_ttl`). For the cache-hit latency to compare with,",
        "attache Redis DoCached: `GET bench:row:<id>`, whose value is the row's",
        "JSON (MSET for every id beforehand), from the sidecar's Redis client",
        "cache. Both caches are filled with every id before measuring (each id",
        "read once through the cached Query, every key through MGetCached), as",
        "a long-running sidecar's would be; `cache hits` is the share of reads",
        "that said so (`cache.status` \"hit\", `cacheHit`), `hit p50` the p50 of",
        "those reads alone. After a warm-up, each client is measured in five",
        "rounds interleaved with the others and its rounds are pooled, because",
        "this machine's speed drifts by tens of percent over minutes.",
        "",
        "| client | ops/s | vs pg Pool | p50 | p50 vs pg Pool | p99 | cache hits | hit p50 | server executions / read |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in node["results"]:
        lines.append(
            f"| {r['name']} | {r['ops_per_s']:,.0f} | {r['ops_per_s'] / pool['ops_per_s']:.2f}× | {us(r['p50_us'])} "
            f"| {r['p50_us'] / pool['p50_us']:.2f}× | {us(r['p99_us'])} | {pct(r)} | {us(r.get('hit_p50_us'))} "
            f"| {r['server_executions_per_op']:.3f} |"
        )
    lines += [
        "",
        "Executions per read below 1 for uncached attache Query are hot ids read",
        "by several callers at once (coalesced); for the cached Query they are",
        "its misses. The Redis row reads no Postgres at all.",
        "",
        f"## One caller at a time (sequential primary-key reads, {lat['pg_pool']['queries']} per client, interleaved rounds)",
        "",
        "The caches are still warm from above, so the cached reads are mostly hits.",
        "",
        "| client | p50 | p99 | cache hits | hit p50 |",
        "|---|---:|---:|---:|---:|",
    ]
    lone_rows = [(f"Node, {pool_name}", lat["pg_pool"]), ("Node, attache Query", lat["attache_query"]),
                 ("Node, attache Query cached", lat["attache_query_cached"]),
                 ("Node, attache Redis DoCached", lat["attache_redis_docached"])]
    for label, r in lone_rows:
        lines.append(f"| {label} | {us(r['p50_us'])} | {us(r['p99_us'])} | {pct(r)} | {us(r.get('hit_p50_us'))} |")
    lines += [
        "",
        f"## {ident['reads']} identical reads at once",
        "",
        f"`{ident['sql']}` with the same parameter ({ident['param']}), {ident['reads']} calls",
        "started together from Node (attache uncached), in rounds alternating between",
        "the clients.",
        "",
        "| client | server executions per round | wall time per round (median) |",
        "|---|---|---:|",
        f"| {pool_name} | {', '.join(str(x) for x in ident['pg_pool']['executions'])} | {median(ident['pg_pool']['wall_ms']):.0f} ms |",
        f"| attache Query | {', '.join(str(x) for x in ident['attache']['executions'])} | {median(ident['attache']['wall_ms']):.0f} ms |",
        "",
        f"## Merged inserts: {ins['callers']} concurrent callers inserting one row per call, {ins['seconds']} s per client",
        "",
        "Into `bench_inserts (id bigserial primary key, name text, score int)`,",
        f"returning the id: the pg Pool runs `{ins['sql']}`",
        "per row; attache `insert(\"bench_inserts\", { name, score }, { returning: [\"id\"] })`",
        "merges the inserts of one shape that arrive while a batch runs into one",
        "statement (`postgres.insert`, default `max_batch` 1000, `max_wait` 0).",
        "Interleaved rounds after a warm-up, as above; the table just grows.",
        "Statements: `pg_stat_statements` calls of `INSERT INTO…bench_inserts`",
        "per row inserted; `batchSize` is what each caller was told its statement",
        "carried, averaged over callers. attache's writes also tell other",
        "attaches what they touched (`SELECT pg_notify`, batched), counted apart.",
        "",
        "| client | rows/s | vs pg Pool | p50 | p99 | INSERT statements / row | rows / statement | mean batchSize | NOTIFYs / row |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ins["results"]:
        per = r["server_statements_per_row"]
        batch = f"{r['mean_batch_size']:.1f}" if r["mean_batch_size"] is not None else "–"
        lines.append(
            f"| {r['name']} | {r['rows_per_s']:,.0f} | {r['rows_per_s'] / ins_pool['rows_per_s']:.2f}× | {us(r['p50_us'])} | {us(r['p99_us'])} "
            f"| {per:.4f} | {f'{1 / per:.1f}' if per else '–'} | {batch} | {r['server_notifies_per_row']:.4f} |"
        )
    lines += [
        "",
        f"## PHP: {php['workers']} worker processes, a new client per request, {php['seconds']:.0f} s per client (interleaved rounds)",
        "",
        "Each request makes its client, runs one primary-key SELECT (same id",
        "distribution; PDO prepares and executes it; attache uncached) and drops",
        "the client, as a PHP-FPM request does: PDO with a new connection per",
        "request, PDO with `PDO::ATTR_PERSISTENT` (the worker keeps its",
        "connection), and a new `Attache\\Client` per request (the SDK keeps its",
        "socket connection persistent across requests). Server connections:",
        "client backends in `pg_stat_activity`, sampled with psql (which counts",
        "itself) twice a second while each client ran; the sidecar's pool stays",
        "open throughout, so the PDO rows count its idle connections too (in",
        "brackets), and every row counts its cache-invalidation channel (one",
        "LISTEN connection outside the pool, open since the Node run's first",
        "cached read or write).",
        "",
        "| client | requests/s | vs PDO new | p50 | p99 | server executions / request | max server connections (the sidecar's pool) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in php["results"]:
        lines.append(
            f"| {r['name']} | {r['requests_per_s']:,.0f} | {r['requests_per_s'] / pdo_new['requests_per_s']:.2f}× | {r['p50_us']:,.0f} µs "
            f"| {r['p99_us']:,.0f} µs | {r['server_executions_per_request']:.3f} | {r['server_connections_max']} ({r['sidecar_connections_max']}) |"
        )
    hwm = [m["vm_hwm_bytes"] for m in (node["sidecar"], php["sidecar"]) if m]
    lines += [
        "",
        "## Sidecar memory",
        "",
        f"The sidecar serving these runs (started for them), holding both caches",
        f"filled with the {node['rows'] // 1000}k rows: peak RSS (VmHWM) {mib(node['sidecar'] and node['sidecar']['vm_hwm_bytes'])}",
        f"after the Node runs, {mib(php['sidecar'] and php['sidecar']['vm_hwm_bytes'])} after the PHP runs; RSS at the end",
        f"{mib(php['sidecar'] and php['sidecar']['vm_rss_bytes'])}.",
    ]
    ratio = att["p50_us"] / pool["p50_us"]
    cached_x = cached["ops_per_s"] / pool["ops_per_s"]
    hit_load = cached["hit_p50_us"] / rds["hit_p50_us"] if cached.get("hit_p50_us") and rds.get("hit_p50_us") else None
    lc, lr = lat["attache_query_cached"], lat["attache_redis_docached"]
    hit_lone = lc["hit_p50_us"] / lr["hit_p50_us"] if lc.get("hit_p50_us") and lr.get("hit_p50_us") else None
    ins_x = ins_att["rows_per_s"] / ins_pool["rows_per_s"]
    runs = ident["attache"]["executions"]
    php_ratio = php_att["requests_per_s"] / pdo_new["requests_per_s"]
    conns, bound = php_att["server_connections_max"], node["pool_size"] + 2
    met = lambda ok: "met" if ok else "**not met**"
    fmt = lambda v: f"{v:.2f}" if v is not None else "?"
    lines += [
        "",
        "## Against the targets",
        f"- Uncached attache Query p50 vs pg Pool p50 under load: **{ratio:.2f}×** (target ≤ 1.3×: {met(ratio <= 1.3)}); "
        f"p99 {att['p99_us'] / pool['p99_us']:.2f}×; ops/s {att['ops_per_s'] / pool['ops_per_s']:.2f}×; one caller at a time: "
        f"p50 {lat['attache_query']['p50_us'] / lat['pg_pool']['p50_us']:.2f}×, p99 {lat['attache_query']['p99_us'] / lat['pg_pool']['p99_us']:.2f}×.",
        f"- Cached attache Query throughput **{cached_x:.2f}×** pg Pool's (target ≥ 2×: {met(cached_x >= 2)}); "
        f"p50 {cached['p50_us'] / pool['p50_us']:.2f}×, p99 {cached['p99_us'] / pool['p99_us']:.2f}× pg Pool's; "
        f"{pct(cached)} hits, {cached['server_executions_per_op']:.3f} server executions per read.",
        f"- Cached Query hit p50 / Redis DoCached hit p50, same run: **{fmt(hit_load)}** under load "
        f"({us(cached.get('hit_p50_us'))} vs {us(rds.get('hit_p50_us'))}; target ≤ 1.2: {met(hit_load is not None and hit_load <= 1.2)}), "
        f"**{fmt(hit_lone)}** one caller at a time ({us(lc.get('hit_p50_us'))} vs {us(lr.get('hit_p50_us'))}; "
        f"{met(hit_lone is not None and hit_lone <= 1.2)}).",
        f"- Merged inserts: attache Insert **{ins_x:.1f}×** the rows/s of per-row INSERT through the pg Pool "
        f"(target ≥ 10×: {met(ins_x >= 10)}); {ins_att['server_statements_per_row']:.4f} INSERT statements per row "
        f"(mean batchSize {ins_att['mean_batch_size'] or 0:.1f}); p50 {ins_att['p50_us'] / ins_pool['p50_us']:.2f}×, "
        f"p99 {ins_att['p99_us'] / ins_pool['p99_us']:.2f}× the pg Pool's.",
        f"- {ident['reads']} identical concurrent reads: the server ran attache's **{max(runs)}** time(s) at most "
        f"(rounds: {', '.join(str(x) for x in runs)}; target 1: {met(max(runs) <= 1)}); the pg Pool's {max(ident['pg_pool']['executions'])}.",
        f"- PHP, attache vs PDO with a new connection per request: **{php_ratio:.1f}×** the requests/s (target ≥ 5×: {met(php_ratio >= 5)}); "
        f"vs persistent PDO {php_att['requests_per_s'] / pdo_p['requests_per_s']:.2f}×.",
        f"- Server client connections while PHP called attache: at most **{conns}**, the sidecar's pool {php_att['sidecar_connections_max']} "
        f"(target ≤ pool size {node['pool_size']} + 1 for psql + 1 for the cache channel = {bound}: {met(conns is not None and conns <= bound)}); "
        f"with PDO a new connection per request {pdo_new['server_connections_max']}, persistent {pdo_p['server_connections_max']} (each with the sidecar's idle pool).",
        f"- Sidecar peak RSS after the Postgres runs: **{mib(max(hwm) if hwm else None)}**.",
    ]
    write("postgres", lines)

    def color(label):
        if "Redis" in label:
            return "tab:purple"
        if "cached" in label:
            return "tab:green"
        return "tab:blue" if "attache" in label else "tab:orange"

    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(19, 6), gridspec_kw={"width_ratios": [1.1, 1.1, 0.9]})
    rows = [(f"Node, {node['callers']} callers: {r['name']}", r["ops_per_s"], r["p50_us"], r["p99_us"]) for r in node["results"]]
    rows += [(f"PHP, {php['workers']} workers: {r['name']}", r["requests_per_s"], r["p50_us"], r["p99_us"]) for r in php["results"]]
    a1.barh([r[0] for r in rows], [r[1] for r in rows], color=[color(r[0]) for r in rows])
    for i, r in enumerate(rows):
        a1.text(r[1], i, f" {r[1]:,.0f}", va="center", fontsize=8)
    a1.set_xscale("log")
    a1.set_xlabel("reads/s (Node) or requests/s (PHP), log scale (higher is better)")
    a1.tick_params(axis="y", labelsize=8)
    a1.invert_yaxis()
    lrows = rows + [(f"Node, one caller: {label.removeprefix('Node, ')}", None, r["p50_us"], r["p99_us"]) for label, r in lone_rows]
    y = range(len(lrows))
    a2.barh([i - 0.2 for i in y], [r[2] for r in lrows], 0.4, label="p50", color="tab:green")
    a2.barh([i + 0.2 for i in y], [r[3] for r in lrows], 0.4, label="p99", color="tab:red")
    a2.set_yticks(list(y), [r[0] for r in lrows], fontsize=8)
    a2.set_xscale("log")
    a2.set_xlabel("latency, µs, log scale (lower is better)")
    a2.invert_yaxis()
    a2.legend()
    irows = ins["results"]
    a3.bar(range(len(irows)), [r["rows_per_s"] for r in irows], color=[color(r["name"]) for r in irows])
    for i, r in enumerate(irows):
        note = f"{r['rows_per_s']:,.0f} rows/s\np50 {r['p50_us']:,.0f} µs\n{r['server_statements_per_row']:.3f} statements/row"
        a3.text(i, r["rows_per_s"], note, ha="center", va="bottom", fontsize=7)
    a3.set_xticks(range(len(irows)), [r["name"].replace(" per-row", "\nper-row") for r in irows], fontsize=8)
    a3.set_ylim(0, max(r["rows_per_s"] for r in irows) * 1.3)
    a3.set_ylabel("rows inserted/s (higher is better)")
    a3.set_title(f"single-row inserts, {ins['callers']} callers", fontsize=10)
    fig.suptitle(f"PostgreSQL primary-key reads, {node['rows'] // 1000}k rows, Zipf(0.99): uncached, cached, Redis DoCached; merged inserts")
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"{today}-postgres.png"), dpi=110)


def soak():
    runs = [json.loads(l) for l in open(os.path.join(raw, "soak.jsonl")) if l.strip()]
    mib = lambda b: f"{b / 2**20:.0f} MiB"
    # What the configuration lets the sidecar hold, by default: bodies in
    # flight, the Redis cache, each image worker's largest decode (50 MP at
    # 4 bytes, source and resampled copies), each hashing worker's argon2
    # memory, and the runtime itself.
    cores = os.cpu_count()
    bound = 512 * 2**20 + 64 * 2**20 + cores * 2 * 4 * 50_000_000 + cores * 19 * 2**20 + 64 * 2**20
    lines = [
        f"# Soak: mixed overload against one sidecar ({today})",
        "",
        "bench/node/soak.mjs drives one sidecar (default config, Redis on loopback)",
        "with 6 image resizes, 6 argon2id hashes, 32 cached Redis reads and 4",
        "writes in flight, Batches of 64 cached reads of a 1 MiB value (over",
        "redis.max_reply_bytes, so some calls must fail alone), a publisher to",
        "9 subscribers and one subscriber that never reads, 2 callers asking for",
        "a 10 MiB value and never reading it, 3 uploads of 3 MiB held one byte",
        "short, and a 40 MiB upload over image.max_input_bytes, over and over.",
        "The sidecar's RSS is sampled every second; \"after idle\" is 15 s after",
        "the load stops. Outcomes are counted by code.",
        "",
        f"RSS bound from the default config on this machine ({cores} cores):",
        "server.max_in_flight_bytes 512 MiB + redis.cache.max_bytes 64 MiB +",
        "per image worker 2 × 4 B × 50 MP (image.max_source_pixels) + per hashing",
        f"worker 19 MiB (argon2id m) + 64 MiB runtime = **{mib(bound)}**.",
        "",
        "| allocator | seconds | peak RSS | RSS after idle | within bound | internal errors | normal calls failed |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    normal = ("image", "password", "redis-get", "redis-set", "publish")
    for r in runs:
        internal = sum(v for k, v in r["outcomes"].items() if k.endswith(":internal"))
        failed = sum(v for k, v in r["outcomes"].items() if k.split(":")[0] in normal and not k.endswith(":ok"))
        lines.append(f"| {r['allocator']} | {r['seconds']:.0f} | {mib(r['peak_rss'])} | {mib(r['final_rss'])} "
                     f"| {'yes' if r['peak_rss'] <= bound else '**no**'} | {internal} | {failed} |")
    lines += ["", "Outcomes by caller and code:", ""]
    for r in runs:
        lines.append(f"- {r['allocator']}: " + ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items())))
    write("soak", lines)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for r in runs:
        ax.plot(range(len(r["rss_samples"])), [b / 2**20 for b in r["rss_samples"]], label=r["allocator"])
    ax.axhline(bound / 2**20, color="tab:red", linestyle="--", label="bound from config")
    ax.set_xlabel("seconds")
    ax.set_ylabel("sidecar RSS, MiB")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("Soak: sidecar RSS under mixed overload, then idle")
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"{today}-soak.png"), dpi=110)


# Kafka ----------------------------------------------------------------------
def kafka():
    node, php = load("kafka-node.json"), load("kafka-php.json")
    spool, fill = load("kafka-spool.json"), load("kafka-fill.json")
    v = node["versions"]
    mib = lambda b: f"{b / 2**20:.0f} MiB" if b else "?"
    ms = lambda x: f"{x:.2f} ms" if x is not None else "–"
    met = lambda ok: "met" if ok else "**not met**"
    short = {"attache-spooled": "attache spooled (fsync interval)", "attache-spooled-always": "attache spooled (fsync always)",
             "attache-delivered": "attache delivered", "kafkajs": "kafkajs", "confluent": "confluent-kafka-javascript"}
    sizes = [s["size"] for s in node["sizes"]]
    by = {(r["key"], r["size"]): r for r in node["results"]}
    keys = [k for k in short if any((k, s) in by for s in sizes)]
    label = lambda size: "100 B" if size == 100 else f"{size / 1024:.0f} KB" if size % 1024 == 0 else f"{size} B"
    lines = [
        f"# Kafka producing through attache vs kafkajs vs librdkafka in Node ({today})",
        "",
        "One fresh Kafka 4.1 broker (testing/kafka/, KRaft, one node, on this same",
        "machine, so it shares the two cores), a topic of 3 partitions per client",
        "and record size, created up front. Two release sidecars pointed at it,",
        "each with its own spool on this disk: `kafka.spool.fsync = \"interval\"`",
        "(the default, synced every 100 ms) and `\"always\"` (synced before the",
        "acknowledgement; appends arriving during a sync share the next: group",
        "commit). attache's own producer is one idempotent librdkafka producer",
        "(acks all, lz4, linger 5 ms); every record it delivers carries an",
        "`attache-id` header.",
        "",
        "From one Node process (bench/node/kafka.mjs): attache through the Node",
        "SDK's `produceStream()` (one stream, `send(records, { ack })`), ack",
        "`spooled` (on the sidecar's disk; delivered to Kafka afterwards) on each",
        "sidecar, and ack `delivered` (Kafka has it) on the interval one;",
        f"kafkajs {v['kafkajs']} (idempotent, acks -1, no compression: it has no",
        "LZ4 of its own, and its gzip is zlib on the event loop);",
        f"@confluentinc/kafka-javascript {v['confluent']} (librdkafka {v['librdkafka']} in the Node",
        "process, its KafkaJS-compatible API; idempotent, acks -1, lz4, linger 5 ms:",
        "attache's own settings). Keys `user-0`…`user-1023`, values random base64",
        "text of the record size.",
        "",
        f"**Throughput**: {node['batch']} records per send, {node['in_flight']} sends in flight, as fast as",
        "each client goes, timed from the first send to the last acknowledgement, in",
        f"{node['rounds']} rounds interleaved between the clients after a warm-up, pooled.",
        "Its per-send latency is mostly waiting in line",
        f"({node['batch'] * node['in_flight']} records in flight over the rate). **At the broker**: from the",
        "first send until the broker's end offsets (all partitions) counted every",
        "record; for spooled acknowledgements that is when delivery caught up.",
        f"**Steady load**: an open loop offering {node['rate']:,} records/s (about every",
        "millisecond one send of the records due, whether earlier sends were",
        f"answered or not), {node['paced_seconds']:.0f} s per client and size: the acknowledgement",
        "latency a producer sees below saturation. Event-loop delay: how late a",
        "1 ms timer fires (`monitorEventLoopDelay`), p99 over the run, the median of",
        "the rounds (the worst round's in brackets). Sidecar RSS: VmRSS sampled",
        "every 200 ms while it was driven, the highest.",
    ]
    for size in sizes:
        base = by.get(("kafkajs", size))
        rows = [by[(k, size)] for k in keys if (k, size) in by]
        n = rows[0]["records"] if rows else 0
        lines += [
            "",
            f"## {label(size)} records, {n:,} per client",
            "",
            "| client | records/s | vs kafkajs | MB/s | send p50 | send p99 | event-loop delay p99 | at the broker, records/s | sidecar RSS (max) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            vs = f"{r['records_per_s'] / base['records_per_s']:.2f}×" if base else "–"
            lines.append(
                f"| {r['name']} | {r['records_per_s']:,.0f} | {vs} | {r['mb_per_s']:.1f} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} "
                f"| {r['loop_delay_p99_ms']:.1f} ms ({r['loop_delay_p99_worst_ms']:.1f}) | {r['at_broker_records_per_s']:,.0f} "
                f"| {mib(r['sidecar_rss_max_bytes']) if r['sidecar_rss_max_bytes'] else '–'} |"
            )
        lines += [
            "",
            f"Steady load, {node['rate']:,} records/s offered:",
            "",
            "| client | records/s achieved | send p50 | send p99 | event-loop delay p99 | sidecar RSS (max) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            p = r["paced"]
            lines.append(
                f"| {r['name']} | {p['records_per_s']:,.0f} | {ms(p['p50_ms'])} | {ms(p['p99_ms'])} "
                f"| {p['loop_delay_p99_ms']:.1f} ms ({p['loop_delay_p99_worst_ms']:.1f}) "
                f"| {mib(p['sidecar_rss_max_bytes']) if p['sidecar_rss_max_bytes'] else '–'} |"
            )
        extra = [r for r in rows if r["extra_at_broker"]]
        if extra:
            lines += ["", "More records at the broker than were sent (duplicates): " +
                      ", ".join(f"{r['name']} {r['extra_at_broker']}" for r in extra) + "."]

    phprows = php["results"]
    phpby = {r["mode"]: r for r in phprows}
    rd = php["rdkafka"]
    lines += [
        "",
        f"## PHP: {php['workers']} worker processes, one event per request, {php['seconds']:.0f} s per client ({php['rounds']} interleaved rounds)",
        "",
        f"Each request makes its client, produces one {php['value_bytes']}-byte event with a key, and drops",
        "the client, as a PHP-FPM request does: a new `Attache\\Client` and",
        "`$attache->kafka->produceOne(...)` (the SDK keeps its socket connection",
        "persistent across requests) with ack `spooled` and with ack `delivered`;",
        "and, where the rdkafka extension is available, a new `RdKafka\\Producer`",
        "per request (idempotent, lz4), one message, `flush()`. Records at the",
        "broker per request: end offsets read with kcat once every record was in.",
        "",
        "| client | requests/s | p50 | p99 | records at the broker / request |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in phprows:
        lines.append(f"| {r['name']} | {r['requests_per_s']:,.0f} | {r['p50_us']:,.0f} µs | {r['p99_us']:,.0f} µs | {r['at_broker_per_request']:.3f} |")
    if not rd["available"]:
        lines.append(f"| php-rdkafka, a producer per request | not measured: {rd['reason']} | | | |")

    lines += [
        "",
        f"## The spool alone (Rust, crates/spool), {spool['record_bytes']}-byte records, {spool['seconds']:.0f} s per run",
        "",
        "bench/rust/src/bin/spool.rs: a fresh spool on this disk, appends from",
        "concurrent tokio tasks (2 runtime threads), one record per append from 64",
        "tasks (many small produces) and 100 per append from 8 tasks (as",
        "ProduceStream sends carry them); latency from the call to the",
        "acknowledgement (durable as the mode promises).",
        "",
        "| fsync | tasks × records per append | appends/s | records/s | append p50 | append p99 | records per sync |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in spool["results"]:
        per_sync = f"{r['records_per_sync']:,.0f}" if r.get("records_per_sync") else "–"
        lines.append(
            f"| {r['fsync']} | {r['tasks']} × {r['records_per_append']} | {r['appends_per_s']:,.0f} | {r['records_per_s']:,.0f} "
            f"| {r['p50_us']:,.1f} µs | {r['p99_us']:,.1f} µs | {per_sync} |"
        )

    sc = node["sidecar"]
    load_rss = max((r["sidecar_rss_max_bytes"] or 0) for r in node["results"]) or None
    paced_rss = max((r["paced"]["sidecar_rss_max_bytes"] or 0) for r in node["results"]) or None
    lines += [
        "",
        "## Sidecar memory",
        "",
        f"- Under load (the Node runs above): RSS at most **{mib(max(filter(None, (load_rss, paced_rss)), default=None))}** "
        f"(idle before: {mib(sc['interval'] and sc['interval']['idle_rss_bytes'])} with fsync interval, "
        f"{mib(sc['always'] and sc['always']['idle_rss_bytes'])} with fsync always); peak (VmHWM) after them "
        f"{mib(sc['interval'] and sc['interval']['vm_hwm_bytes'])} and {mib(sc['always'] and sc['always']['vm_hwm_bytes'])}.",
        f"- With {fill['spooled_bytes'] / 2**30:.2f} GiB spooled ({fill['records']:,} records of {fill['record_bytes']} B produced "
        f"through ProduceStream at {fill['records_per_s']:,.0f} records/s to a sidecar of its own whose brokers are a closed port, "
        f"so nothing leaves the spool): RSS **{mib(fill['rss_after_bytes'])}** 3 s after the last acknowledgement "
        f"(at most {mib(fill['rss_max_while_filling_bytes'])} while filling, {mib(fill['idle_rss_bytes'])} before; VmHWM {mib(fill['vm_hwm_bytes'])}).",
    ]

    # Against the targets.
    a100, kjs100 = by.get(("attache-spooled", 100)), by.get(("kafkajs", 100))
    al100 = by.get(("attache-spooled-always", 100))
    targets = ["", "## Against the targets", ""]
    if a100:
        targets.append(
            f"- 100 B records through attache from Node (ack spooled, fsync interval): **{a100['records_per_s']:,.0f} records/s** "
            f"(target ≥ 100,000: {met(a100['records_per_s'] >= 100_000)}); delivered on to the broker at "
            f"{a100['at_broker_records_per_s']:,.0f} records/s; with fsync always {al100['records_per_s']:,.0f} records/s." if al100 else
            f"- 100 B records through attache from Node (ack spooled, fsync interval): **{a100['records_per_s']:,.0f} records/s** "
            f"(target ≥ 100,000: {met(a100['records_per_s'] >= 100_000)})."
        )
        if kjs100:
            x = a100["records_per_s"] / kjs100["records_per_s"]
            targets.append(f"- vs kafkajs: **{x:.2f}×** its records/s (target ≥ 1.5×: {met(x >= 1.5)}); "
                           f"at the broker {a100['at_broker_records_per_s'] / kjs100['at_broker_records_per_s']:.2f}×.")
        ck = by.get(("confluent", 100))
        if ck:
            targets.append(f"- vs @confluentinc/kafka-javascript (librdkafka in-process): {a100['records_per_s'] / ck['records_per_s']:.2f}× its records/s; "
                           f"event-loop delay p99 {a100['loop_delay_p99_ms']:.1f} ms vs {ck['loop_delay_p99_ms']:.1f} ms "
                           f"(kafkajs {kjs100['loop_delay_p99_ms']:.1f} ms)." if kjs100 else
                           f"- vs @confluentinc/kafka-javascript (librdkafka in-process): {a100['records_per_s'] / ck['records_per_s']:.2f}× its records/s.")
        p = a100["paced"]
        targets.append(f"- Spooled-ack p99, fsync interval, at a steady {node['rate']:,} records/s of 100 B: **{ms(p['p99_ms'])}** "
                       f"(target ≤ 2 ms: {met(p['p99_ms'] <= 2)}); p50 {ms(p['p50_ms'])}; at full throughput {ms(a100['p99_ms'])} (queueing).")
    if al100:
        p = al100["paced"]
        targets.append(f"- Spooled-ack p99, fsync always (group commit), at a steady {node['rate']:,} records/s of 100 B: **{ms(p['p99_ms'])}** "
                       f"(target ≤ 5 ms: {met(p['p99_ms'] <= 5)}); p50 {ms(p['p50_ms'])}; at full throughput {ms(al100['p99_ms'])} (queueing).")
    if rd["available"] and "rdkafka" in phpby:
        x = phpby["attache"]["requests_per_s"] / phpby["rdkafka"]["requests_per_s"]
        targets.append(f"- PHP, one event per request: attache **{x:.1f}×** the requests/s of a php-rdkafka producer per request.")
    else:
        targets.append(f"- PHP, one event per request: attache {phpby['attache']['requests_per_s']:,.0f} requests/s; "
                       f"the direct producer per request was not measured: {rd['reason']}.")
    sp = {(r["fsync"].split()[0], r["records_per_append"]): r for r in spool["results"]}
    targets.append("- The spool alone, one record per append from 64 tasks: " + "; ".join(
        f"fsync {m} {sp[(m, 1)]['appends_per_s']:,.0f} appends/s, p99 {sp[(m, 1)]['p99_us']:,.0f} µs"
        for m in ("always", "interval", "never") if (m, 1) in sp) + ".")
    targets.append(f"- Sidecar RSS under load {mib(max(filter(None, (load_rss, paced_rss)), default=None))}; with "
                   f"{fill['spooled_bytes'] / 2**30:.2f} GiB spooled {mib(fill['rss_after_bytes'])}.")
    lines += targets
    write("kafka", lines)

    colors = {"attache-spooled": "tab:blue", "attache-spooled-always": "tab:cyan", "attache-delivered": "tab:purple",
              "kafkajs": "tab:orange", "confluent": "tab:red"}
    fig, ((a1, a2), (a3, a4)) = plt.subplots(2, 2, figsize=(15, 10))
    width = 0.8 / max(1, len(keys))
    x = range(len(sizes))
    for i, k in enumerate(keys):
        off = [j + (i - (len(keys) - 1) / 2) * width for j in x]
        rs = [by.get((k, s)) for s in sizes]
        a1.bar(off, [r["records_per_s"] if r else 0 for r in rs], width, label=short[k], color=colors[k])
        for o, r in zip(off, rs):
            if r:
                a1.text(o, r["records_per_s"], f"{r['records_per_s'] / 1000:.0f}k", ha="center", va="bottom", fontsize=7)
        a3.bar(off, [r["loop_delay_p99_ms"] if r else 0 for r in rs], width, color=colors[k])
    a1.set_xticks(list(x), [label(s) for s in sizes])
    a1.set_ylabel("records/s, as fast as it goes (higher is better)")
    a1.axhline(100_000, color="gray", linestyle="--", linewidth=1)
    a1.text(-0.45, 100_000, "target: 100k records/s of 100 B through attache", va="bottom", ha="left", fontsize=8, color="gray")
    a1.set_title(f"throughput: {node['batch']} records per send, {node['in_flight']} sends in flight", fontsize=9)
    a1.legend(fontsize=8, loc="upper right")
    a3.set_xticks(list(x), [label(s) for s in sizes])
    a3.set_yscale("log")
    a3.set_ylabel("event-loop delay p99, ms, log (lower is better)")
    a3.set_title("the Node event loop's delay at full throughput (colors as above)", fontsize=9)
    rows = [(short[k], by[(k, 100)]["paced"], colors[k]) for k in keys if (k, 100) in by]
    y = range(len(rows))
    a2.barh([i - 0.2 for i in y], [r[1]["p50_ms"] for r in rows], 0.4, label="p50", color="tab:green")
    a2.barh([i + 0.2 for i in y], [r[1]["p99_ms"] for r in rows], 0.4, label="p99", color="tab:red")
    a2.set_yticks(list(y), [r[0] for r in rows], fontsize=8)
    a2.set_xscale("log")
    a2.set_xlabel(f"ack latency per send at a steady {node['rate']:,} records/s of 100 B, ms, log (lower is better)")
    a2.axvline(2, color="gray", linestyle="--", linewidth=1, label="target, spooled, fsync interval: 2 ms")
    a2.axvline(5, color="gray", linestyle=":", linewidth=1, label="target, spooled, fsync always: 5 ms")
    a2.set_title("acknowledgement latency below saturation", fontsize=9)
    a2.invert_yaxis()
    a2.legend(fontsize=8, loc="best")
    srows = spool["results"]
    labels = [f"{r['fsync'].split()[0]}\n{r['tasks']}×{r['records_per_append']}" for r in srows]
    a4.bar(range(len(srows)), [r["records_per_s"] for r in srows], color="tab:blue")
    for i, r in enumerate(srows):
        a4.text(i, r["records_per_s"], f"p99 {r['p99_us']:,.0f} µs", ha="center", va="bottom", fontsize=7)
    a4.set_xticks(range(len(srows)), labels, fontsize=8)
    a4.set_yscale("log")
    a4.set_ylabel("spool alone: records/s, log (higher is better)")
    a4.set_title("fsync mode, tasks × records per append", fontsize=9)
    fig.suptitle("Kafka producing from Node: attache's spool vs kafkajs vs librdkafka in-process; the spool alone")
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"{today}-kafka.png"), dpi=110)


done = []
for name, section in (("transport", transport), ("password", password), ("redis", redis), ("image", image),
                      ("postgres", postgres), ("soak", soak), ("kafka", kafka)):
    if name in sections:
        section()
        done.append(name)
print("\n\n".join(open(os.path.join(out, f"{today}-{n}.md")).read() for n in done))
