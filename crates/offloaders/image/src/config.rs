use attache_core::Limits;
use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// The image offloader's configuration: the hostile-input limits, encoder
/// defaults and the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Serve the image module. On by default: it needs no backend.
    pub enabled: bool,
    /// Largest encoded input accepted, checked before anything is parsed.
    pub max_input_bytes: ByteSize,
    /// Largest source image, in pixels (width × height), read from the
    /// header before any pixel is decoded. A decompression bomb stops here.
    pub max_source_pixels: u64,
    /// Widest and tallest image attache will produce, including the
    /// intermediate size a `cover` or `outside` resize goes through.
    pub max_output_width: u32,
    pub max_output_height: u32,
    /// Outputs one `ResizeMany` request may ask for.
    pub max_outputs: usize,
    /// Quality when a request gives none (JPEG and WebP, 1..=100).
    pub default_quality: u8,
    /// Image threads; 0 means one per available core.
    pub workers: usize,
    /// Niceness of the image threads, 0 to 19 (see `password.nice`).
    pub nice: i32,
    /// Admission: requests in flight (resizing or waiting for a thread) and
    /// requests queued behind them. Each holds its input in memory, so these
    /// times `max_input_bytes` bound the memory queued work can take.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            max_input_bytes: ByteSize::mib(32),
            // imgproxy's default is 16.8 MP; 50 MP admits a 61 MP camera's
            // half-size output and a 8688 × 5792 (50.3 MP) frame does not.
            max_source_pixels: 50_000_000,
            max_output_width: 8192,
            max_output_height: 8192,
            max_outputs: 16,
            // sharp's JPEG and WebP default.
            default_quality: 80,
            workers: 0,
            nice: 10,
            limits: Limits { max_in_flight: 16, max_queued: 64 },
        }
    }
}

impl Config {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(0..=19).contains(&self.nice) {
            return Err(format!("image.nice {} must be between 0 and 19", self.nice));
        }
        if !(1..=100).contains(&self.default_quality) {
            return Err(format!("image.default_quality {} must be between 1 and 100", self.default_quality));
        }
        if self.limits.max_in_flight == 0 {
            return Err("image.limits.max_in_flight must be at least 1".into());
        }
        if self.max_output_width == 0 || self.max_output_height == 0 || self.max_source_pixels == 0 {
            return Err("image.max_output_width, max_output_height and max_source_pixels must be above 0".into());
        }
        if self.max_outputs == 0 {
            return Err("image.max_outputs must be at least 1".into());
        }
        Ok(())
    }

    pub(crate) fn max_input(&self) -> usize {
        usize::try_from(self.max_input_bytes.as_u64()).unwrap_or(usize::MAX)
    }
}
