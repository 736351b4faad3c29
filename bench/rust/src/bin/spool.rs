//! The Kafka module's spool alone (crates/spool, no attache, no Kafka):
//! 100-byte records appended from concurrent tokio tasks (a 2-thread
//! runtime) for each fsync mode (always, interval 100 ms, never), in two
//! shapes: one record per append from 64 tasks (many small produces: group
//! commit at work) and 100 records per append from 8 tasks (as ProduceStream
//! sends carry them). Each run appends for SECONDS after a 0.5 s warm-up, to
//! a fresh spool in a directory of its own under DIR (default: the temp
//! directory) with a budget no run can fill, and nothing released; the
//! directory is removed afterwards. Reports appends/s, records/s, append
//! latency p50/p99 (from the call to its acknowledgement, durable as the
//! mode promises) and the syncs the spool made (records per sync).
//! Usage: spool [SECONDS] [DIR]  -> JSON on stdout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attache_bench::percentiles;
use attache_spool::{Budget, Config, Fsync, OnFull, OsFs, Spool};

const RECORD_BYTES: usize = 100;

struct Shape {
    tasks: usize,
    records_per_append: usize,
}

const SHAPES: [Shape; 2] = [Shape { tasks: 64, records_per_append: 1 }, Shape { tasks: 8, records_per_append: 100 }];

/// Appends from `shape.tasks` tasks until `seconds` are up: per-append
/// latencies (ns), records appended, and the time it took.
async fn appends(spool: &Spool, shape: &Shape, seconds: f64) -> (Vec<u64>, u64, f64) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..shape.tasks)
        .map(|task| {
            let spool = spool.clone();
            let per_append = shape.records_per_append;
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut records = 0u64;
                let mut payload = vec![b'x'; RECORD_BYTES];
                payload[0] = task as u8;
                while Instant::now() < deadline {
                    let batch = vec![payload.clone(); per_append];
                    let t = Instant::now();
                    spool.append(batch).await.expect("append");
                    samples.push(t.elapsed().as_nanos() as u64);
                    records += per_append as u64;
                }
                (samples, records)
            })
        })
        .collect();
    let (mut samples, mut records) = (Vec::new(), 0);
    for task in tasks {
        let (s, r) = task.await.expect("append task");
        samples.extend(s);
        records += r;
    }
    (samples, records, started.elapsed().as_secs_f64())
}

fn run(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    mode: &str,
    fsync: Fsync,
    shape: &Shape,
    seconds: f64,
) -> serde_json::Value {
    let _ = std::fs::remove_dir_all(dir);
    let config = Config {
        dir: dir.to_path_buf(),
        segment_bytes: 64 << 20,
        max_record_bytes: 1_024_000,
        fsync,
        on_full: OnFull::Block,
    };
    let (spool, _recovered) = Spool::open(Arc::new(OsFs), config, Budget::new(1 << 40)).expect("open the spool");
    runtime.block_on(appends(&spool, shape, 0.5));
    let before = spool.stats();
    let (samples, records, elapsed) = runtime.block_on(appends(&spool, shape, seconds));
    let after = spool.stats();
    spool.close();
    drop(spool);
    let _ = std::fs::remove_dir_all(dir);
    let count = samples.len() as u64;
    let syncs = after.syncs - before.syncs;
    let mut result = serde_json::json!({
        "fsync": mode,
        "tasks": shape.tasks,
        "records_per_append": shape.records_per_append,
        "record_bytes": RECORD_BYTES,
        "seconds": elapsed,
        "appends": count,
        "records": records,
        "appends_per_s": count as f64 / elapsed,
        "records_per_s": records as f64 / elapsed,
        "syncs": syncs,
        "records_per_sync": if syncs > 0 { Some(records as f64 / syncs as f64) } else { None },
    });
    let latency = percentiles(samples);
    for key in ["p50_us", "p99_us"] {
        result[key] = latency[key].clone();
    }
    eprintln!(
        "spool fsync {mode:<15} {:>3} tasks × {:>3} records/append: {:>9.0} appends/s {:>9.0} records/s  p50 {:>8.1} µs  p99 {:>8.1} µs  {syncs} syncs",
        shape.tasks,
        shape.records_per_append,
        result["appends_per_s"].as_f64().unwrap(),
        result["records_per_s"].as_f64().unwrap(),
        result["p50_us"].as_f64().unwrap(),
        result["p99_us"].as_f64().unwrap(),
    );
    result
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).map_or(5.0, |s| s.parse().expect("SECONDS: a number"));
    let base = args.get(2).map_or_else(std::env::temp_dir, PathBuf::from);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let modes = [
        ("always", Fsync::Always),
        ("interval 100ms", Fsync::Interval(Duration::from_millis(100))),
        ("never", Fsync::Never),
    ];
    let mut results = Vec::new();
    for (mode, fsync) in modes {
        for shape in &SHAPES {
            let name = mode.split(' ').next().unwrap_or(mode);
            let dir =
                base.join(format!("attache-bench-spool-{}-{name}-{}", std::process::id(), shape.records_per_append));
            results.push(run(&runtime, &dir, mode, fsync, shape, seconds));
        }
    }
    println!("{}", serde_json::json!({ "seconds": seconds, "record_bytes": RECORD_BYTES, "results": results }));
}
