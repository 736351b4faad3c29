//! Encoding pixels to JPEG (libjpeg-turbo), PNG (`png`) or lossy WebP
//! (libwebp), with the metadata the caller chose to keep.

use std::borrow::Cow;

use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

use crate::Error;
use crate::pixels::Pixels;
use crate::probe::Format;

/// WebP's format limit on either side.
const WEBP_MAX: u32 = 16_383;

/// How to encode, and what metadata to write.
pub struct Encoding<'a> {
    pub format: Format,
    /// JPEG and WebP quality, 1..=100.
    pub quality: u8,
    /// Progressive JPEG, interlaced PNG; ignored for WebP.
    pub progressive: bool,
    pub icc: Option<&'a [u8]>,
    /// An EXIF block already rewritten to say "upright".
    pub exif: Option<&'a [u8]>,
}

pub fn encode(pixels: &Pixels, encoding: &Encoding) -> Result<Vec<u8>, Error> {
    // A profile must describe the pixels it travels with.
    let colour = if pixels.channels >= 3 || encoding.format == Format::Webp { b"RGB " } else { b"GRAY" };
    let icc = encoding.icc.filter(|p| p.get(16..20) == Some(colour.as_slice()));
    match encoding.format {
        Format::Jpeg => jpeg(pixels, encoding, icc),
        Format::Png => png(pixels, encoding, icc),
        Format::Webp => webp(pixels, encoding, icc),
    }
}

fn jpeg(pixels: &Pixels, encoding: &Encoding, icc: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    let fail = |e: turbojpeg::Error| Error::Internal(format!("JPEG encoding: {e}"));
    let (format, subsamp) = match pixels.channels {
        1 => (PixelFormat::GRAY, Subsamp::Gray),
        3 => (PixelFormat::RGB, Subsamp::Sub2x2),
        n => return Err(Error::Internal(format!("JPEG encoding: {n} channels"))),
    };
    let mut compressor = Compressor::new().map_err(fail)?;
    compressor.set_quality(i32::from(encoding.quality)).map_err(fail)?;
    compressor.set_subsamp(subsamp).map_err(fail)?;
    compressor.set_progressive(encoding.progressive).map_err(fail)?;
    // Huffman tables fitted to the image: a few percent smaller, as sharp's
    // default `optimiseCoding`.
    compressor.set_optimize(true).map_err(fail)?;
    let (width, height) = (pixels.width as usize, pixels.height as usize);
    let c = usize::from(pixels.channels);
    let image = Image { pixels: pixels.data.as_slice(), width, pitch: width * c, height, format };
    let jpeg = compressor.compress_to_vec(image).map_err(fail)?;
    if icc.is_none() && encoding.exif.is_none() {
        return Ok(jpeg);
    }
    // Metadata segments go right after SOI: APP1 EXIF, then APP2 ICC chunks.
    let mut out =
        Vec::with_capacity(jpeg.len() + icc.map_or(0, <[u8]>::len) + encoding.exif.map_or(0, <[u8]>::len) + 64);
    out.extend_from_slice(&jpeg[..2]);
    if let Some(exif) = encoding.exif.filter(|e| e.len() + 8 <= 0xFFFF) {
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((exif.len() + 8) as u16).to_be_bytes());
        out.extend_from_slice(b"Exif\0\0");
        out.extend_from_slice(exif);
    }
    if let Some(icc) = icc {
        let chunks: Vec<&[u8]> = icc.chunks(65_519).collect();
        if chunks.len() <= 255 {
            for (i, chunk) in chunks.iter().enumerate() {
                out.extend_from_slice(&[0xFF, 0xE2]);
                out.extend_from_slice(&((chunk.len() + 16) as u16).to_be_bytes());
                out.extend_from_slice(b"ICC_PROFILE\0");
                out.extend_from_slice(&[i as u8 + 1, chunks.len() as u8]);
                out.extend_from_slice(chunk);
            }
        }
    }
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}

fn png(pixels: &Pixels, encoding: &Encoding, icc: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    let fail = |e: png::EncodingError| Error::Internal(format!("PNG encoding: {e}"));
    let mut info = png::Info::with_size(pixels.width, pixels.height);
    info.color_type = match pixels.channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    };
    info.bit_depth = png::BitDepth::Eight;
    info.interlaced = encoding.progressive;
    info.icc_profile = icc.map(Cow::Borrowed);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::with_info(&mut out, info).map_err(fail)?;
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(fail)?;
    if let Some(exif) = encoding.exif {
        writer.write_chunk(png::chunk::ChunkType(*b"eXIf"), exif).map_err(fail)?;
    }
    writer.write_image_data(&pixels.data).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

fn webp(pixels: &Pixels, encoding: &Encoding, icc: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    if pixels.width > WEBP_MAX || pixels.height > WEBP_MAX {
        return Err(Error::TooLarge(format!(
            "WebP images are at most {WEBP_MAX} pixels a side; {}x{} was asked for",
            pixels.width, pixels.height
        )));
    }
    // libwebp takes RGB or RGBA only.
    let colour;
    let rgb = match pixels.channels {
        1 => {
            colour = pixels.data.iter().flat_map(|&g| [g, g, g]).collect::<Vec<u8>>();
            &colour
        }
        2 => {
            colour = pixels.data.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect::<Vec<u8>>();
            &colour
        }
        _ => &pixels.data,
    };
    let encoder = if pixels.has_alpha() {
        webp::Encoder::from_rgba(rgb, pixels.width, pixels.height)
    } else {
        webp::Encoder::from_rgb(rgb, pixels.width, pixels.height)
    };
    let encoded = encoder
        .encode_simple(false, f32::from(encoding.quality))
        .map_err(|e| Error::Internal(format!("WebP encoding: {e:?}")))?;
    if icc.is_none() && encoding.exif.is_none() {
        return Ok(encoded.to_vec());
    }
    Ok(webp_with_metadata(&encoded, pixels, icc, encoding.exif))
}

/// Rewraps libwebp's output in an extended (VP8X) container carrying an ICC
/// profile and EXIF, in the chunk order the container spec requires.
fn webp_with_metadata(encoded: &[u8], pixels: &Pixels, icc: Option<&[u8]>, exif: Option<&[u8]>) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(kind);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(0);
        }
    }
    let mut image = Vec::new();
    let mut pos = 12;
    while pos + 8 <= encoded.len() {
        let kind = &encoded[pos..pos + 4];
        let len = u32::from_le_bytes(encoded[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let end = (pos + 8 + len + (len & 1)).min(encoded.len());
        if kind != b"VP8X" {
            image.extend_from_slice(&encoded[pos..end]);
        }
        pos = end;
    }
    let mut flags = 0u8;
    if icc.is_some() {
        flags |= 0x20;
    }
    if pixels.has_alpha() {
        flags |= 0x10;
    }
    if exif.is_some() {
        flags |= 0x08;
    }
    let mut vp8x = vec![flags, 0, 0, 0];
    vp8x.extend_from_slice(&(pixels.width - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(pixels.height - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    chunk(&mut body, b"VP8X", &vp8x);
    if let Some(icc) = icc {
        chunk(&mut body, b"ICCP", icc);
    }
    body.extend_from_slice(&image);
    if let Some(exif) = exif {
        chunk(&mut body, b"EXIF", exif);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}
