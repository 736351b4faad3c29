//! Decoding to 8-bit pixels. Called only after the header passed the
//! limits, so every buffer here is bounded by `max_source_pixels`.

use std::io::Cursor;

use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};

use crate::Error;
use crate::pixels::Pixels;
use crate::probe::{ColorSpace, Format, Info};

/// Most scans a progressive JPEG may have: libjpeg-turbo's advice against
/// files built to make decoding quadratic. Real encoders write about ten.
const MAX_JPEG_SCANS: u32 = 500;

/// A decoded image and its colour profile, if its decoder found one.
pub struct Decoded {
    pub pixels: Pixels,
    pub icc: Option<Vec<u8>>,
}

/// Decodes `data`, a JPEG at 1/`shrink` of its size (`shrink` is 1, 2, 4
/// or 8: libjpeg-turbo scales in the DCT, so less is decoded at all).
pub fn decode(data: &[u8], info: &Info, shrink: u32) -> Result<Decoded, Error> {
    match info.format {
        Format::Jpeg => jpeg(data, info, shrink),
        Format::Png => png(data, info),
        Format::Webp => webp(data, info),
    }
}

/// The limits were checked against our own reading of the header; refuse a
/// file whose decoder reads another size (two frame headers, say) rather
/// than decode what was never checked.
fn same_size(info: &Info, decoder: (usize, usize)) -> Result<(), Error> {
    if decoder != (info.width as usize, info.height as usize) {
        return Err(Error::corrupt(
            info.format.name(),
            format!(
                "its headers disagree on the size ({}x{} and {}x{})",
                info.width, info.height, decoder.0, decoder.1
            ),
        ));
    }
    Ok(())
}

/// The largest JPEG shrink-on-load that leaves at least `target` pixels
/// on both axes: the power of two at most the whole reduction, as libvips.
pub fn jpeg_shrink(stored: (u32, u32), target: (u32, u32)) -> u32 {
    let factor = (stored.0 / target.0.max(1)).min(stored.1 / target.1.max(1));
    [8, 4, 2].into_iter().find(|&s| s <= factor).unwrap_or(1)
}

fn jpeg(data: &[u8], info: &Info, shrink: u32) -> Result<Decoded, Error> {
    let fail = |e: turbojpeg::Error| Error::corrupt("JPEG", e.to_string().trim_end_matches('.').to_lowercase());
    let mut decompressor = Decompressor::new().map_err(|e| Error::Internal(e.to_string()))?;
    decompressor.set_scan_limit(MAX_JPEG_SCANS).map_err(fail)?;
    let scale = ScalingFactor::new(1, shrink as usize);
    decompressor.set_scaling_factor(scale).map_err(fail)?;
    let header = decompressor.read_header(data).map_err(fail)?;
    same_size(info, (header.width, header.height))?;
    let header = header.scaled(scale);
    let (format, channels) = match info.color_space {
        ColorSpace::Gray => (PixelFormat::GRAY, 1),
        ColorSpace::Srgb => (PixelFormat::RGB, 3),
        ColorSpace::Cmyk => (PixelFormat::CMYK, 4),
    };
    let (width, height) = (header.width, header.height);
    let size = width.checked_mul(height).and_then(|n| n.checked_mul(channels));
    let mut pixels = vec![0; size.ok_or_else(|| Error::TooLarge("the JPEG is too large to decode".into()))?];
    let image = Image { pixels: pixels.as_mut_slice(), width, pitch: width * channels, height, format };
    decompressor.decompress(data, image).map_err(fail)?;
    let (width, height) = (width as u32, height as u32);
    let pixels = if info.color_space == ColorSpace::Cmyk {
        Pixels::new(width, height, 3, cmyk_to_rgb(&pixels, info.adobe))
    } else {
        Pixels::new(width, height, channels as u8, pixels)
    };
    // A CMYK profile describes ink, not the RGB we now hold: drop it.
    let icc = info.icc.clone().filter(|_| info.color_space != ColorSpace::Cmyk);
    Ok(Decoded { pixels, icc })
}

/// Naive CMYK to RGB (no ink profile applied). Adobe's writers, the ones
/// that mark their files with APP14, store the channels inverted.
fn cmyk_to_rgb(cmyk: &[u8], adobe_inverted: bool) -> Vec<u8> {
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            let [c, m, y, k] = [p[0], p[1], p[2], p[3]].map(|v| if adobe_inverted { v } else { 255 - v });
            [c, m, y].map(|v| ((u32::from(v) * u32::from(k) + 127) / 255) as u8)
        })
        .collect()
}

/// `bytes_per_pixel` for each pixel the header declared, plus 8 MiB;
/// saturating, as `max_source_pixels` may be set beyond what a `usize`
/// can count on a 32-bit target.
fn memory_limit(info: &Info, bytes_per_pixel: u64) -> usize {
    let limit = info.pixels().saturating_mul(bytes_per_pixel).saturating_add(8 << 20);
    usize::try_from(limit).unwrap_or(usize::MAX)
}

fn png(data: &[u8], info: &Info) -> Result<Decoded, Error> {
    let fail = |e: png::DecodingError| match e {
        png::DecodingError::LimitsExceeded => Error::TooLarge("the PNG needs more memory than its size allows".into()),
        e => Error::corrupt("PNG", e.to_string().to_lowercase()),
    };
    // The size was checked; this bounds what else a PNG can make us hold
    // (text chunks, a profile) to the pixels' own worst case plus 8 MiB.
    let limit = memory_limit(info, 8);
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(data), png::Limits { bytes: limit });
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(fail)?;
    same_size(info, (reader.info().width as usize, reader.info().height as usize))?;
    let icc = reader.info().icc_profile.as_ref().map(|p| p.to_vec());
    let size = reader.output_buffer_size().ok_or_else(|| Error::TooLarge("the PNG is too large to decode".into()))?;
    let mut buffer = vec![0; size];
    let frame = reader.next_frame(&mut buffer).map_err(fail)?;
    buffer.truncate(frame.buffer_size());
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(Error::Internal("palette was not expanded".into())),
    };
    Ok(Decoded { pixels: Pixels::new(frame.width, frame.height, channels, buffer), icc })
}

fn webp(data: &[u8], info: &Info) -> Result<Decoded, Error> {
    let fail = |e: image_webp::DecodingError| Error::corrupt("WebP", e.to_string().to_lowercase());
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(data)).map_err(fail)?;
    decoder.set_memory_limit(memory_limit(info, 4));
    let icc = decoder.icc_profile().map_err(fail)?;
    let (width, height) = decoder.dimensions();
    same_size(info, (width as usize, height as usize))?;
    let channels = if decoder.has_alpha() { 4 } else { 3 };
    let size = decoder.output_buffer_size().ok_or_else(|| Error::TooLarge("the WebP is too large to decode".into()))?;
    let mut buffer = vec![0; size];
    decoder.read_image(&mut buffer).map_err(fail)?;
    Ok(Decoded { pixels: Pixels::new(width, height, channels, buffer), icc })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{Encoding, encode};

    #[test]
    fn shrink_on_load_leaves_at_least_the_target() {
        assert_eq!(jpeg_shrink((2725, 2225), (720, 588)), 2);
        assert_eq!(jpeg_shrink((4000, 3000), (400, 300)), 8);
        assert_eq!(jpeg_shrink((4000, 3000), (1000, 750)), 4);
        assert_eq!(jpeg_shrink((800, 600), (720, 540)), 1);
        assert_eq!(jpeg_shrink((800, 600), (1600, 1200)), 1);
    }

    #[test]
    fn a_size_the_limits_did_not_see_is_refused() {
        let pixels = Pixels::new(2, 1, 1, vec![0, 255]);
        let encoding = Encoding { format: Format::Png, quality: 80, progressive: false, icc: None, exif: None };
        let info = crate::probe::probe(&encode(&pixels, &encoding).unwrap()).unwrap();
        assert_eq!(same_size(&info, (2, 1)), Ok(()));
        let err = same_size(&info, (2000, 1000)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the PNG image is truncated or corrupt: its headers disagree on the size (2x1 and 2000x1000)"
        );
    }

    #[test]
    fn cmyk_becomes_rgb_in_both_conventions() {
        // Pure cyan ink, no black: plain storage and Adobe's inverted one.
        assert_eq!(cmyk_to_rgb(&[255, 0, 0, 0], false), vec![0, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[0, 255, 255, 255], true), vec![0, 255, 255]);
    }
}
