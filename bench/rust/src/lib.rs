//! Shared helpers of the benchmark binaries.
#![forbid(unsafe_code)]

/// p50 and p99 of latencies in nanoseconds, as microseconds.
pub fn percentiles(mut samples: Vec<u64>) -> serde_json::Value {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    serde_json::json!({ "p50_us": at(0.50), "p99_us": at(0.99), "n": samples.len() })
}
