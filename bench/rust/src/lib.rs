//! Shared helpers of the benchmark binaries.
#![forbid(unsafe_code)]

/// p50 and p99 of latencies in nanoseconds, as microseconds.
pub fn percentiles(mut samples: Vec<u64>) -> serde_json::Value {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    serde_json::json!({ "p50_us": at(0.50), "p99_us": at(0.99), "n": samples.len() })
}

/// Nanoseconds process `pid` has run on a CPU so far, all its threads
/// together (`/proc/<pid>/task/*/schedstat`, nanosecond resolution where
/// `/proc/<pid>/stat` counts 10 ms ticks). A thread that exits between two
/// readings takes its time with it; the servers measured keep theirs.
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
        .sum()
}
