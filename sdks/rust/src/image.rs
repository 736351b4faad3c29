//! Image probing and resizing off the caller's threads (libjpeg-turbo,
//! libwebp, SIMD resampling in the sidecar).

use attache_proto::attache::image::v1 as pb;
use buffa::EnumValue;

use crate::{Client, Result};

/// An image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// Lossy WebP.
    Webp,
    /// AVIF (not built into the sidecar: `Unimplemented`).
    Avif,
}

/// How the image fills the box of `width` × `height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fit {
    /// Fill the box, cropping what overflows (the default).
    #[default]
    Cover,
    /// Fit inside the box, padding with the background.
    Contain,
    /// Stretch to the box.
    Fill,
    /// Fit inside the box, no padding.
    Inside,
    /// Cover the box, no cropping.
    Outside,
}

/// Which part a `Cover` crop keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Gravity {
    #[default]
    Centre,
    North,
    NorthEast,
    East,
    SouthEast,
    South,
    SouthWest,
    West,
    NorthWest,
    /// The part with the most detail.
    Entropy,
}

/// One output of a resize.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResizeOptions {
    /// Width of the box; 0 to follow the height and the aspect ratio.
    pub width: u32,
    /// Height of the box; 0 to follow the width and the aspect ratio.
    pub height: u32,
    /// How the image fills the box.
    pub fit: Fit,
    /// Which part a crop keeps.
    pub gravity: Gravity,
    /// Output format; `None` keeps the input's.
    pub format: Option<Format>,
    /// Encoder quality 1-100; 0 for the sidecar's default.
    pub quality: u32,
    /// Never enlarge a smaller image.
    pub without_enlargement: bool,
    /// Padding colour for `Contain`, e.g. `"#ffffff"`.
    pub background: Option<String>,
    /// Progressive JPEG.
    pub progressive: bool,
    /// Keep EXIF and ICC metadata.
    pub keep_metadata: bool,
}

impl ResizeOptions {
    /// Fit inside `width` × `height`.
    pub fn new(width: u32, height: u32) -> Self {
        ResizeOptions { width, height, ..Default::default() }
    }
}

/// A resized image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResizedImage {
    /// The encoded image.
    pub data: Vec<u8>,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// Its format.
    pub format: Option<Format>,
}

/// What [`Images::probe`] reads from an image's header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ImageInfo {
    pub format: Option<Format>,
    pub width: u32,
    pub height: u32,
    /// EXIF orientation, 1-8 (1 when there is none).
    pub orientation: u32,
    /// Width and height once the orientation is applied.
    pub upright_width: u32,
    pub upright_height: u32,
    pub has_alpha: bool,
    /// `"srgb"`, `"gray"`, `"cmyk"` or `""` when unknown.
    pub color_space: &'static str,
    pub bit_depth: u32,
    pub progressive: bool,
    pub has_icc_profile: bool,
    pub has_exif: bool,
}

/// Images; from [`Client::image`].
#[derive(Debug, Clone, Copy)]
pub struct Images<'a> {
    pub(crate) client: &'a Client,
}

impl Images<'_> {
    /// `image` (JPEG, PNG or WebP) resized as `options` say.
    pub async fn resize(&self, image: &[u8], options: &ResizeOptions) -> Result<ResizedImage> {
        let o = options_pb(options);
        let req = pb::ResizeRequest {
            image: image.to_vec(),
            width: o.width,
            height: o.height,
            fit: o.fit,
            gravity: o.gravity,
            format: o.format,
            quality: o.quality,
            without_enlargement: o.without_enlargement,
            background: o.background,
            progressive: o.progressive,
            keep_metadata: o.keep_metadata,
            ..Default::default()
        };
        let reply: pb::ResizeResponse = self.client.unary(pb::IMAGE_SERVICE_RESIZE_SPEC, &req).await?;
        Ok(resized(reply))
    }

    /// `image` decoded once and resized into each of `outputs`, in order.
    pub async fn resize_many(&self, image: &[u8], outputs: &[ResizeOptions]) -> Result<Vec<ResizedImage>> {
        let req = pb::ResizeManyRequest {
            image: image.to_vec(),
            outputs: outputs.iter().map(options_pb).collect(),
            ..Default::default()
        };
        let reply: pb::ResizeManyResponse = self.client.unary(pb::IMAGE_SERVICE_RESIZE_MANY_SPEC, &req).await?;
        Ok(reply.outputs.into_iter().map(resized).collect())
    }

    /// What `image`'s header says, without decoding its pixels.
    pub async fn probe(&self, image: &[u8]) -> Result<ImageInfo> {
        let req = pb::ProbeRequest { image: image.to_vec(), ..Default::default() };
        let r: pb::ProbeResponse = self.client.unary(pb::IMAGE_SERVICE_PROBE_SPEC, &req).await?;
        let color_space = match r.color_space.as_known() {
            Some(pb::ColorSpace::COLOR_SPACE_SRGB) => "srgb",
            Some(pb::ColorSpace::COLOR_SPACE_GRAY) => "gray",
            Some(pb::ColorSpace::COLOR_SPACE_CMYK) => "cmyk",
            _ => "",
        };
        Ok(ImageInfo {
            format: format_of(r.format),
            width: r.width,
            height: r.height,
            orientation: r.orientation,
            upright_width: r.upright_width,
            upright_height: r.upright_height,
            has_alpha: r.has_alpha,
            color_space,
            bit_depth: r.bit_depth,
            progressive: r.progressive,
            has_icc_profile: r.has_icc_profile,
            has_exif: r.has_exif,
        })
    }
}

fn resized(r: pb::ResizeResponse) -> ResizedImage {
    ResizedImage { data: r.image, width: r.width, height: r.height, format: format_of(r.format) }
}

fn format_of(f: EnumValue<pb::Format>) -> Option<Format> {
    match f.as_known()? {
        pb::Format::FORMAT_JPEG => Some(Format::Jpeg),
        pb::Format::FORMAT_PNG => Some(Format::Png),
        pb::Format::FORMAT_WEBP => Some(Format::Webp),
        pb::Format::FORMAT_AVIF => Some(Format::Avif),
        _ => None,
    }
}

fn options_pb(o: &ResizeOptions) -> pb::ResizeOptions {
    use pb::Gravity as G;
    let fit = match o.fit {
        Fit::Cover => pb::Fit::FIT_COVER,
        Fit::Contain => pb::Fit::FIT_CONTAIN,
        Fit::Fill => pb::Fit::FIT_FILL,
        Fit::Inside => pb::Fit::FIT_INSIDE,
        Fit::Outside => pb::Fit::FIT_OUTSIDE,
    };
    let gravity = match o.gravity {
        Gravity::Centre => G::GRAVITY_CENTRE,
        Gravity::North => G::GRAVITY_NORTH,
        Gravity::NorthEast => G::GRAVITY_NORTH_EAST,
        Gravity::East => G::GRAVITY_EAST,
        Gravity::SouthEast => G::GRAVITY_SOUTH_EAST,
        Gravity::South => G::GRAVITY_SOUTH,
        Gravity::SouthWest => G::GRAVITY_SOUTH_WEST,
        Gravity::West => G::GRAVITY_WEST,
        Gravity::NorthWest => G::GRAVITY_NORTH_WEST,
        Gravity::Entropy => G::GRAVITY_ENTROPY,
    };
    let format = match o.format {
        None => pb::Format::FORMAT_UNSPECIFIED,
        Some(Format::Jpeg) => pb::Format::FORMAT_JPEG,
        Some(Format::Png) => pb::Format::FORMAT_PNG,
        Some(Format::Webp) => pb::Format::FORMAT_WEBP,
        Some(Format::Avif) => pb::Format::FORMAT_AVIF,
    };
    pb::ResizeOptions {
        width: o.width,
        height: o.height,
        fit: fit.into(),
        gravity: gravity.into(),
        format: format.into(),
        quality: o.quality,
        without_enlargement: o.without_enlargement,
        background: o.background.clone().unwrap_or_default(),
        progressive: o.progressive,
        keep_metadata: o.keep_metadata,
        ..Default::default()
    }
}
