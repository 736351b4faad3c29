use std::sync::Arc;
use std::time::Instant;

use attache_pool::Pool;
use prometheus_client::registry::Registry;

use crate::decode::{decode, jpeg_shrink};
use crate::encode::{Encoding, encode};
use crate::plan::{Geometry, Gravity, Plan, plan};
use crate::probe::{Format, Info, exif_upright, probe};
use crate::{Config, Error};

/// One output the caller wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub geometry: Geometry,
    pub gravity: Gravity,
    /// `None` keeps the input's format.
    pub format: Option<Format>,
    /// 1..=100; 0 means `image.default_quality`.
    pub quality: u32,
    pub progressive: bool,
    /// Keep EXIF (its orientation reset, the pixels being upright). The
    /// ICC profile is always kept when it fits the output.
    pub keep_metadata: bool,
    /// RGBA for `contain` padding and for flattening alpha into JPEG.
    pub background: [u8; 4],
}

impl Default for Options {
    fn default() -> Self {
        Self {
            geometry: Geometry::default(),
            gravity: Gravity::default(),
            format: None,
            quality: 0,
            progressive: false,
            keep_metadata: false,
            background: [255, 255, 255, 255],
        }
    }
}

/// An encoded result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: Format,
}

/// Resizes and probes images on a dedicated pool. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    pool: Pool,
}

impl Service {
    /// Starts the image threads (see `Limits::pool_capacity`).
    pub fn new(config: Config) -> std::io::Result<Self> {
        let pool = Pool::new("image", config.workers, config.limits.pool_capacity(), config.nice)?;
        Ok(Self { inner: Arc::new(Inner { config, pool }) })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Reads the header only; no pixel is decoded. The header is parsed on
    /// the pool, as a resize is: the parser reads hostile input, and a slow
    /// or panicking one must cost an image thread and this call's answer,
    /// never an async worker.
    pub async fn probe(
        &self,
        input: impl AsRef<[u8]> + Send + 'static,
        deadline: Option<Instant>,
    ) -> Result<Info, Error> {
        self.check_size(input.as_ref())?;
        self.inner.pool.run(deadline, move || probe(input.as_ref())).await?
    }

    /// `input` is any owned buffer (a `Vec<u8>`, or a slice of the request's
    /// own `Bytes`, so the image is not copied on its way to the pool).
    pub async fn resize(
        &self,
        input: impl AsRef<[u8]> + Send + 'static,
        options: Options,
        deadline: Option<Instant>,
    ) -> Result<Output, Error> {
        let mut outputs = self.resize_many(input, vec![options], deadline).await?;
        Ok(outputs.remove(0))
    }

    /// Decodes `input` once and produces every output from it. What can be
    /// refused without reading the file is refused here; the header, and
    /// every limit it is checked against, are read on the pool before any
    /// decoder runs (a refusal there costs microseconds of a thread).
    pub async fn resize_many(
        &self,
        input: impl AsRef<[u8]> + Send + 'static,
        outputs: Vec<Options>,
        deadline: Option<Instant>,
    ) -> Result<Vec<Output>, Error> {
        let config = &self.inner.config;
        if outputs.is_empty() || outputs.len() > config.max_outputs {
            return Err(Error::InvalidParams(format!(
                "ask for 1 to {} outputs (image.max_outputs), not {}",
                config.max_outputs,
                outputs.len()
            )));
        }
        if let Some(q) = outputs.iter().map(|o| o.quality).find(|&q| q > 100) {
            return Err(Error::InvalidParams(format!(
                "quality {q} is out of range; use 1 to 100, or 0 for the default"
            )));
        }
        self.check_size(input.as_ref())?;
        // A copy, not the `Arc<Inner>`: a job holding the last reference
        // would drop the pool on its own worker, which then joins itself.
        let config = config.clone();
        self.inner
            .pool
            .run(deadline, move || {
                let input = input.as_ref();
                let info = probe(input)?;
                let plans = admit(&config, &info, &outputs)?;
                process(input, &info, &outputs, &plans, config.default_quality, deadline)
            })
            .await?
    }
}

/// Checks the header against every size limit and plans each output: what
/// stands between a decompression bomb and a decoder.
fn admit(config: &Config, info: &Info, outputs: &[Options]) -> Result<Vec<Plan>, Error> {
    if info.pixels() > config.max_source_pixels {
        return Err(Error::TooLarge(format!(
            "the image is {}x{} ({:.1} megapixels), over the limit of {:.1} megapixels (image.max_source_pixels)",
            info.width,
            info.height,
            info.pixels() as f64 / 1e6,
            config.max_source_pixels as f64 / 1e6
        )));
    }
    let max = (config.max_output_width, config.max_output_height);
    outputs.iter().map(|o| plan(info.oriented_size(), o.geometry, max)).collect()
}

/// The whole pipeline, on a pool thread: decode once (a JPEG at the
/// smallest scale every output allows), then per output resample, turn
/// upright, crop or pad, and encode. Past the deadline, the outputs not
/// yet begun are not made: nobody waits for them, and the thread is freed.
fn process(
    input: &[u8],
    info: &Info,
    outputs: &[Options],
    plans: &[Plan],
    default_quality: u8,
    deadline: Option<Instant>,
) -> Result<Vec<Output>, Error> {
    let check_deadline = || match deadline {
        Some(d) if Instant::now() >= d => Err(Error::DeadlineExceeded),
        _ => Ok(()),
    };
    let transposed = info.orientation >= 5;
    let stored = |(w, h): (u32, u32)| if transposed { (h, w) } else { (w, h) };
    let largest = plans.iter().map(|p| p.resize).fold((1, 1), |a, b| (a.0.max(b.0), a.1.max(b.1)));
    let shrink = if info.format == Format::Jpeg { jpeg_shrink((info.width, info.height), stored(largest)) } else { 1 };
    let decoded = decode(input, info, shrink)?;
    let exif = info.exif.as_deref().map(exif_upright);
    outputs
        .iter()
        .zip(plans)
        .map(|(options, plan)| {
            check_deadline()?;
            let (w, h) = stored(plan.resize);
            let mut img = decoded.pixels.resize(w, h)?.orient(info.orientation);
            if let Some((cw, ch)) = plan.crop {
                let (x, y) = match options.gravity {
                    Gravity::Entropy => img.entropy_crop(cw, ch),
                    g => g.offset((img.width, img.height), (cw, ch)),
                };
                img = img.crop(x, y, cw, ch);
            }
            if let Some((pw, ph)) = plan.pad {
                let (x, y) = options.gravity.offset((pw, ph), (img.width, img.height));
                img = img.pad(pw, ph, x, y, options.background);
            }
            let format = options.format.unwrap_or(info.format);
            if format == Format::Jpeg {
                img = img.flatten(options.background);
            }
            let encoding = Encoding {
                format,
                quality: if options.quality == 0 { default_quality } else { options.quality.min(100) as u8 },
                progressive: options.progressive,
                icc: decoded.icc.as_deref(),
                exif: exif.as_deref().filter(|_| options.keep_metadata),
            };
            let data = encode(&img, &encoding)?;
            Ok(Output { data, width: img.width, height: img.height, format })
        })
        .collect()
}

impl Service {
    fn check_size(&self, input: &[u8]) -> Result<(), Error> {
        let max = self.inner.config.max_input();
        if input.len() > max {
            return Err(Error::TooLarge(format!(
                "the input is {} bytes, over the limit of {max} bytes (image.max_input_bytes)",
                input.len()
            )));
        }
        Ok(())
    }
}

impl attache_core::Module for Service {
    fn name(&self) -> &'static str {
        "image"
    }

    fn limits(&self) -> attache_core::Limits {
        self.inner.config.limits
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.inner.pool.metrics().register(registry);
    }

    /// Lets the pool finish its queued jobs and joins its threads.
    fn shutdown(&self) -> attache_core::Stopping {
        Box::pin(self.inner.pool.stop())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixels::Pixels;
    use crate::plan::{Fit, Geometry};

    /// A 40x20 RGB PNG made by our own encoder.
    fn png() -> Vec<u8> {
        let pixels = Pixels::new(40, 20, 3, (0..40 * 20 * 3).map(|i| (i % 251) as u8).collect());
        let encoding = Encoding { format: Format::Png, quality: 80, progressive: false, icc: None, exif: None };
        encode(&pixels, &encoding).unwrap()
    }

    fn service(configure: impl FnOnce(&mut Config)) -> Service {
        let mut config = Config { workers: 1, nice: 0, ..Config::default() };
        configure(&mut config);
        Service::new(config).unwrap()
    }

    fn thumb() -> Options {
        Options {
            geometry: Geometry { width: 10, height: 10, fit: Fit::Cover, without_enlargement: false },
            ..Options::default()
        }
    }

    #[tokio::test]
    async fn resizes_and_converts() {
        let out = service(|_| {}).resize(png(), Options { format: Some(Format::Jpeg), ..thumb() }, None).await.unwrap();
        assert_eq!((out.width, out.height, out.format), (10, 10, Format::Jpeg));
        assert!(out.data.starts_with(&[0xFF, 0xD8, 0xFF]));
    }

    #[tokio::test]
    async fn limits_are_checked_before_decoding() {
        let small = service(|c| c.max_source_pixels = 799);
        let err = small.resize(png(), thumb(), None).await.unwrap_err();
        assert!(matches!(err, Error::TooLarge(ref m) if m.contains("40x20")), "{err}");
        let tiny_input = service(|c| c.max_input_bytes = bytesize::ByteSize::b(10));
        assert!(matches!(tiny_input.resize(png(), thumb(), None).await, Err(Error::TooLarge(_))));
        let svc = service(|c| c.max_outputs = 2);
        let err = svc.resize_many(png(), vec![thumb(); 3], None).await.unwrap_err();
        assert!(matches!(err, Error::InvalidParams(_)), "{err}");
        let err = svc.resize(png(), Options { quality: 1000, ..thumb() }, None).await.unwrap_err();
        assert!(err.to_string().contains("quality 1000"), "{err}");
    }

    #[tokio::test]
    async fn probing_queues_on_the_pool_like_a_resize() {
        let max = png().len();
        let svc = service(|c| c.max_input_bytes = bytesize::ByteSize::b(max as u64));
        let info = svc.probe(png(), None).await.unwrap();
        assert_eq!((info.format, info.width, info.height), (Format::Png, 40, 20));
        // Only a pool job is dropped for its deadline: the header was not
        // read on the caller's thread.
        let past = Instant::now() - std::time::Duration::from_millis(5);
        assert_eq!(svc.probe(png(), Some(past)).await, Err(Error::DeadlineExceeded));
        assert!(matches!(svc.probe(vec![0; max + 1], None).await, Err(Error::TooLarge(_))));
        let cut_webp = b"RIFF\x12\0\0\0WEBPVP8 \x0a\0\0\0\x10\x02\x00\x9d\x01\x2a".to_vec();
        assert!(matches!(svc.probe(cut_webp, None).await, Err(Error::Corrupt { format: "WebP", .. })));
    }

    #[test]
    fn outputs_not_begun_by_the_deadline_are_not_made() {
        let input = png();
        let info = probe(&input).unwrap();
        let outputs = vec![thumb(); 3];
        let plans: Vec<_> = outputs.iter().map(|o| plan((40, 20), o.geometry, (100, 100)).unwrap()).collect();
        let past = Some(Instant::now());
        assert_eq!(process(&input, &info, &outputs, &plans, 80, past), Err(Error::DeadlineExceeded));
        let future = Some(Instant::now() + std::time::Duration::from_secs(60));
        assert_eq!(process(&input, &info, &outputs, &plans, 80, future).unwrap().len(), 3);
    }

    #[tokio::test]
    async fn an_expired_deadline_is_not_started() {
        let past = Instant::now() - std::time::Duration::from_millis(5);
        assert_eq!(service(|_| {}).resize(png(), thumb(), Some(past)).await, Err(Error::DeadlineExceeded));
    }
}
