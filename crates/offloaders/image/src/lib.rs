//! The image offloader: resize, crop, rotate upright and re-encode JPEG,
//! PNG and WebP on a dedicated pool.
//!
//! Key decision: the header is read by our own parser ([`probe`]) before any
//! decoder runs, and every limit — input bytes, source pixels, the size of
//! each intermediate and output image — is checked against it, so a
//! decompression bomb is refused having cost a few microseconds. JPEGs are
//! decoded by libjpeg-turbo at the smallest DCT scale (1/2, 1/4, 1/8) that
//! still leaves at least the target size, as libvips's shrink-on-load, then
//! resampled with Lanczos3 (`fast_image_resize`, SIMD) with alpha
//! premultiplied. Work is refused, never queued without bound.
#![forbid(unsafe_code)]

mod config;
mod decode;
mod encode;
mod error;
mod pixels;
mod plan;
mod probe;
mod service;

pub use config::Config;
pub use error::Error;
pub use plan::{Fit, Geometry, Gravity};
pub use probe::{ColorSpace, Format, Info};
pub use service::{Options, Output, Service};
