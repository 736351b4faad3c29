//! Reading an image's header: format, size, orientation and colour model,
//! without decompressing anything. Every limit is checked against what this
//! returns before a decoder allocates a pixel.

use crate::Error;

/// The encoded formats attache reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Webp => "WebP",
        }
    }
}

/// The colour model the pixels are stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorSpace {
    Srgb,
    Gray,
    Cmyk,
}

/// What the header says about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub format: Format,
    /// Stored size, before the EXIF orientation is applied.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation, 1 (upright) to 8.
    pub orientation: u8,
    pub has_alpha: bool,
    pub color_space: ColorSpace,
    /// Bits per sample as stored (8 or 16; 1, 2 or 4 for small PNGs).
    pub bit_depth: u8,
    /// Progressive JPEG or interlaced PNG.
    pub progressive: bool,
    pub has_icc_profile: bool,
    /// The EXIF block (a TIFF structure), if any.
    pub exif: Option<Vec<u8>>,
    /// JPEG only: the ICC profile reassembled from its APP2 chunks.
    pub(crate) icc: Option<Vec<u8>>,
    /// JPEG only: an Adobe APP14 marker, whose CMYK is stored inverted.
    pub(crate) adobe: bool,
}

impl Info {
    /// The size once the orientation is applied.
    pub fn oriented_size(&self) -> (u32, u32) {
        if self.orientation >= 5 { (self.height, self.width) } else { (self.width, self.height) }
    }

    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Identifies the format from the magic bytes and reads its header.
pub fn probe(data: &[u8]) -> Result<Info, Error> {
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        jpeg(data)
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(data)
    } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        webp(data)
    } else if data.is_empty() {
        Err(Error::NotAnImage("the input is empty".into()))
    } else {
        let head: Vec<String> = data.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Err(Error::NotAnImage(format!("it starts with {}", head.join(" "))))
    }
}

fn u16_be(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_be(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u32_le(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u24_le(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at + 3)?;
    Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
}

fn jpeg(data: &[u8]) -> Result<Info, Error> {
    let truncated = || Error::corrupt("JPEG", "the header ends before the first scan");
    let mut pos = 2;
    let mut frame = None;
    let mut exif = None;
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut adobe = false;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if data.get(pos) != Some(&0xFF) {
            return Err(if pos >= data.len() { truncated() } else { Error::corrupt("JPEG", "a marker was expected") });
        }
        let marker = *data.get(pos + 1).ok_or_else(truncated)?;
        pos += 2;
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            continue;
        }
        if marker == 0xD9 || marker == 0xDA {
            break;
        }
        let len = usize::from(u16_be(data, pos).ok_or_else(truncated)?);
        if len < 2 {
            return Err(Error::corrupt("JPEG", "a segment length is below 2"));
        }
        let segment = data.get(pos + 2..pos + len).ok_or_else(truncated)?;
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if segment.len() < 6 {
                    return Err(Error::corrupt("JPEG", "the frame header is short"));
                }
                frame =
                    Some((marker, segment[0], u16_be(segment, 1).unwrap(), u16_be(segment, 3).unwrap(), segment[5]));
            }
            0xE1 if segment.starts_with(b"Exif\0\0") && exif.is_none() => exif = Some(segment[6..].to_vec()),
            // At most 255 chunks (the count is one byte): more is an attack
            // on the reassembly, and what is past it is ignored.
            0xE2 if segment.starts_with(b"ICC_PROFILE\0") && segment.len() > 14 && icc_chunks.len() < 255 => {
                icc_chunks.push((segment[12], &segment[14..]));
            }
            0xEE if segment.starts_with(b"Adobe") => adobe = true,
            _ => {}
        }
        pos += len;
    }
    let (marker, precision, height, width, components) = frame.ok_or_else(truncated)?;
    if matches!(marker, 0xC3 | 0xC7 | 0xCB | 0xCF) {
        return Err(Error::unsupported("JPEG", "lossless JPEG"));
    }
    if precision != 8 {
        return Err(Error::unsupported("JPEG", format!("{precision}-bit samples (only 8-bit JPEG is read)")));
    }
    if width == 0 || height == 0 {
        return Err(Error::unsupported("JPEG", "a frame without its height (DNL marker)"));
    }
    let color_space = match components {
        1 => ColorSpace::Gray,
        3 => ColorSpace::Srgb,
        4 => ColorSpace::Cmyk,
        n => return Err(Error::unsupported("JPEG", format!("{n} colour components"))),
    };
    icc_chunks.sort_by_key(|(seq, _)| *seq);
    let icc = (!icc_chunks.is_empty()).then(|| icc_chunks.iter().flat_map(|(_, d)| d.iter().copied()).collect());
    Ok(Info {
        format: Format::Jpeg,
        width: u32::from(width),
        height: u32::from(height),
        orientation: exif.as_deref().map_or(1, orientation),
        has_alpha: false,
        color_space,
        bit_depth: 8,
        progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
        has_icc_profile: icc.is_some(),
        exif,
        icc,
        adobe,
    })
}

fn png(data: &[u8]) -> Result<Info, Error> {
    let truncated = || Error::corrupt("PNG", "the header is cut short");
    if data.get(12..16) != Some(b"IHDR") {
        return Err(Error::corrupt("PNG", "the first chunk is not IHDR"));
    }
    let ihdr = data.get(16..29).ok_or_else(truncated)?;
    let (width, height) = (u32_be(ihdr, 0).unwrap(), u32_be(ihdr, 4).unwrap());
    let (bit_depth, color_type, interlace) = (ihdr[8], ihdr[9], ihdr[12]);
    if width == 0 || height == 0 {
        return Err(Error::corrupt("PNG", "zero width or height"));
    }
    let mut has_alpha = matches!(color_type, 4 | 6);
    let mut has_icc_profile = false;
    let mut exif = None;
    // Walk the chunks before the pixel data for transparency, a colour
    // profile and EXIF (which may also follow the pixels; we look no further).
    let mut pos = 8;
    while let (Some(len), Some(kind)) = (u32_be(data, pos), data.get(pos + 4..pos + 8)) {
        let len = len as usize;
        match kind {
            b"IDAT" | b"IEND" => break,
            b"tRNS" => has_alpha = true,
            b"iCCP" => has_icc_profile = true,
            b"eXIf" => exif = data.get(pos + 8..pos + 8 + len).map(<[u8]>::to_vec),
            _ => {}
        }
        pos = pos.saturating_add(12).saturating_add(len);
    }
    Ok(Info {
        format: Format::Png,
        width,
        height,
        orientation: exif.as_deref().map_or(1, orientation),
        has_alpha,
        color_space: if matches!(color_type, 0 | 4) { ColorSpace::Gray } else { ColorSpace::Srgb },
        bit_depth,
        progressive: interlace == 1,
        has_icc_profile,
        exif,
        icc: None,
        adobe: false,
    })
}

fn webp(data: &[u8]) -> Result<Info, Error> {
    let truncated = || Error::corrupt("WebP", "the header is cut short");
    let kind = data.get(12..16).ok_or_else(truncated)?;
    let body = 20;
    let (width, height, mut has_alpha) = match kind {
        b"VP8 " => {
            if data.get(body + 3..body + 6) != Some(&[0x9d, 0x01, 0x2a]) {
                return Err(Error::corrupt("WebP", "the VP8 start code is missing"));
            }
            let w =
                u32::from(u16::from_le_bytes([data[body + 6], *data.get(body + 7).ok_or_else(truncated)?]) & 0x3fff);
            let h = u16::from_le_bytes(data.get(body + 8..body + 10).ok_or_else(truncated)?.try_into().unwrap());
            (w, u32::from(h & 0x3fff), false)
        }
        b"VP8L" => {
            if data.get(body) != Some(&0x2f) {
                return Err(Error::corrupt("WebP", "the VP8L signature is missing"));
            }
            let bits = u32_le(data, body + 1).ok_or_else(truncated)?;
            ((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1, bits >> 28 & 1 == 1)
        }
        b"VP8X" => {
            let flags = *data.get(body).ok_or_else(truncated)?;
            if flags & 0x02 != 0 {
                return Err(Error::unsupported("WebP", "animation"));
            }
            let w = u24_le(data, body + 4).ok_or_else(truncated)? + 1;
            let h = u24_le(data, body + 7).ok_or_else(truncated)? + 1;
            (w, h, flags & 0x10 != 0)
        }
        other => {
            return Err(Error::corrupt("WebP", format!("unknown first chunk {:?}", String::from_utf8_lossy(other))));
        }
    };
    let mut exif = None;
    let mut has_icc_profile = false;
    let mut pos = 12;
    while let (Some(kind), Some(len)) = (data.get(pos..pos + 4), u32_le(data, pos + 4)) {
        let len = len as usize;
        match kind {
            b"ICCP" => has_icc_profile = true,
            b"ALPH" => has_alpha = true,
            b"EXIF" => exif = data.get(pos + 8..pos + 8 + len).map(<[u8]>::to_vec),
            _ => {}
        }
        pos = pos.saturating_add(8).saturating_add(len + (len & 1));
    }
    // Some writers keep the JPEG "Exif\0\0" prefix inside the chunk.
    if let Some(e) = &mut exif
        && e.starts_with(b"Exif\0\0")
    {
        e.drain(..6);
    }
    Ok(Info {
        format: Format::Webp,
        width,
        height,
        orientation: exif.as_deref().map_or(1, orientation),
        has_alpha,
        color_space: ColorSpace::Srgb,
        bit_depth: 8,
        progressive: false,
        has_icc_profile,
        exif,
        icc: None,
        adobe: false,
    })
}

/// Where IFD0's orientation value sits in an EXIF (TIFF) block, and whether
/// the block is big-endian.
fn orientation_slot(tiff: &[u8]) -> Option<(usize, bool)> {
    let big = match tiff.get(0..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let read16 = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let b: [u8; 4] = tiff.get(4..8)?.try_into().ok()?;
    let ifd = (if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }) as usize;
    let count = usize::from(read16(ifd)?);
    (0..count).map(|i| ifd + 2 + i * 12).find_map(|entry| {
        // Tag 0x0112, type SHORT: the value sits in the entry itself.
        (read16(entry)? == 0x0112 && read16(entry + 2)? == 3).then_some((entry + 8, big))
    })
}

/// The EXIF orientation, 1 when absent or out of range.
pub(crate) fn orientation(tiff: &[u8]) -> u8 {
    orientation_slot(tiff)
        .and_then(|(at, big)| {
            let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
            let v = if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) };
            (1..=8).contains(&v).then_some(v as u8)
        })
        .unwrap_or(1)
}

/// A copy of an EXIF block saying "upright", for output whose pixels have
/// already been rotated.
pub(crate) fn exif_upright(tiff: &[u8]) -> Vec<u8> {
    let mut out = tiff.to_vec();
    if let Some((at, big)) = orientation_slot(tiff) {
        out[at..at + 2].copy_from_slice(&if big { 1u16.to_be_bytes() } else { 1u16.to_le_bytes() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiff_with_orientation(big: bool, value: u16) -> Vec<u8> {
        let mut t = Vec::new();
        type Writers = (fn(u16) -> [u8; 2], fn(u32) -> [u8; 4]);
        let (w16, w32): Writers =
            if big { (u16::to_be_bytes, u32::to_be_bytes) } else { (u16::to_le_bytes, u32::to_le_bytes) };
        t.extend_from_slice(if big { b"MM\0*" } else { b"II*\0" });
        t.extend_from_slice(&w32(8));
        t.extend_from_slice(&w16(2));
        // An unrelated tag first (ImageWidth, LONG), then Orientation.
        t.extend_from_slice(&w16(0x0100));
        t.extend_from_slice(&w16(4));
        t.extend_from_slice(&w32(1));
        t.extend_from_slice(&w32(640));
        t.extend_from_slice(&w16(0x0112));
        t.extend_from_slice(&w16(3));
        t.extend_from_slice(&w32(1));
        t.extend_from_slice(&w16(value));
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&w32(0));
        t
    }

    #[test]
    fn orientation_is_read_in_both_byte_orders_and_reset() {
        for big in [true, false] {
            for v in 1..=8 {
                let t = tiff_with_orientation(big, v);
                assert_eq!(orientation(&t), v as u8);
                assert_eq!(orientation(&exif_upright(&t)), 1);
            }
            assert_eq!(orientation(&tiff_with_orientation(big, 9)), 1);
        }
        assert_eq!(orientation(b"garbage"), 1);
        assert_eq!(orientation(b"II*\0\xff\xff\xff\xff"), 1);
    }

    #[test]
    fn not_images_and_short_headers_are_refused() {
        let err = probe(b"<html>").unwrap_err();
        assert_eq!(err.to_string(), "the input is not a JPEG, PNG or WebP image (it starts with 3c 68 74 6d 6c 3e)");
        assert!(matches!(probe(b""), Err(Error::NotAnImage(_))));
        assert!(matches!(probe(b"\xFF\xD8\xFF\xE0\x00\x10JFIF"), Err(Error::Corrupt { format: "JPEG", .. })));
        assert!(matches!(probe(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0"), Err(Error::Corrupt { format: "PNG", .. })));
        assert!(matches!(probe(b"RIFF\0\0\0\0WEBPVP8 "), Err(Error::Corrupt { format: "WebP", .. })));
    }

    #[test]
    fn icc_reassembly_stops_at_255_chunks() {
        let mut j = vec![0xFF, 0xD8];
        for i in 0..1000u32 {
            j.extend_from_slice(&[0xFF, 0xE2, 0, 20]);
            j.extend_from_slice(b"ICC_PROFILE\0");
            j.extend_from_slice(&[(i % 255) as u8 + 1, 255, 1, 2, 3, 4]);
        }
        j.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0, 10, 0, 20, 1, 1, 0x11, 0]);
        j.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        let info = probe(&j).unwrap();
        assert_eq!((info.width, info.height), (20, 10));
        assert_eq!(info.icc.map(|p| p.len()), Some(255 * 4));
    }

    #[test]
    fn jpeg_frame_header_gives_size_and_components() {
        // SOI, APP1 Exif (orientation 6), SOF2 (progressive) 3000x4000 with 3 components, SOS.
        let exif = tiff_with_orientation(false, 6);
        let mut j = vec![0xFF, 0xD8];
        j.extend_from_slice(&[0xFF, 0xE1]);
        j.extend_from_slice(&((exif.len() + 8) as u16).to_be_bytes());
        j.extend_from_slice(b"Exif\0\0");
        j.extend_from_slice(&exif);
        j.extend_from_slice(&[0xFF, 0xC2, 0, 17, 8, 0x0F, 0xA0, 0x0B, 0xB8, 3]);
        j.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        j.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        let info = probe(&j).unwrap();
        assert_eq!((info.width, info.height, info.orientation), (3000, 4000, 6));
        assert_eq!(info.oriented_size(), (4000, 3000));
        assert!(info.progressive);
        assert_eq!(info.color_space, ColorSpace::Srgb);
    }
}
