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
///
/// The input is hostile: every read goes through `get` or the helpers
/// below, which answer `None` past the end, and every offset taken from the
/// file is added with checks, so no input can make this panic.
pub fn probe(data: &[u8]) -> Result<Info, Error> {
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        jpeg(data)
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(data)
    } else if data.starts_with(b"RIFF") && data.get(8..12) == Some(b"WEBP") {
        webp(data)
    } else if data.is_empty() {
        Err(Error::NotAnImage("the input is empty".into()))
    } else {
        let head: Vec<String> = data.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Err(Error::NotAnImage(format!("it starts with {}", head.join(" "))))
    }
}

/// The `N` bytes at `at`, or `None` if the input ends first.
fn bytes<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_be(data: &[u8], at: usize) -> Option<u16> {
    bytes(data, at).map(u16::from_be_bytes)
}

fn u16_le(data: &[u8], at: usize) -> Option<u16> {
    bytes(data, at).map(u16::from_le_bytes)
}

fn u32_be(data: &[u8], at: usize) -> Option<u32> {
    bytes(data, at).map(u32::from_be_bytes)
}

fn u32_le(data: &[u8], at: usize) -> Option<u32> {
    bytes(data, at).map(u32::from_le_bytes)
}

fn u24_le(data: &[u8], at: usize) -> Option<u32> {
    bytes(data, at).map(|[a, b, c]| u32::from_le_bytes([a, b, c, 0]))
}

/// The `len` bytes at `at`, or `None` if the input ends first.
fn span(data: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    data.get(at..at.checked_add(len)?)
}

fn jpeg(data: &[u8]) -> Result<Info, Error> {
    let truncated = || Error::corrupt("JPEG", "the header ends before the first scan");
    // `pos` only moves past bytes that exist, so it never passes the end of
    // `data` and the small numbers added to it cannot overflow.
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
        let Some(body) = len.checked_sub(2) else {
            return Err(Error::corrupt("JPEG", "a segment length is below 2"));
        };
        let segment = span(data, pos + 2, body).ok_or_else(truncated)?;
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let [precision, h0, h1, w0, w1, components, ..] = *segment else {
                    return Err(Error::corrupt("JPEG", "the frame header is short"));
                };
                let (height, width) = (u16::from_be_bytes([h0, h1]), u16::from_be_bytes([w0, w1]));
                frame = Some((marker, precision, height, width, components));
            }
            0xE1 if exif.is_none() => exif = segment.strip_prefix(b"Exif\0\0").map(<[u8]>::to_vec),
            // At most 255 chunks (the count is one byte): more is an attack
            // on the reassembly, and what is past it is ignored.
            0xE2 if icc_chunks.len() < 255 => {
                if let Some([seq, _count, chunk @ ..]) = segment.strip_prefix(b"ICC_PROFILE\0")
                    && !chunk.is_empty()
                {
                    icc_chunks.push((*seq, chunk));
                }
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
    let [w0, w1, w2, w3, h0, h1, h2, h3, bit_depth, color_type, _, _, interlace] =
        bytes(data, 16).ok_or_else(truncated)?;
    let (width, height) = (u32::from_be_bytes([w0, w1, w2, w3]), u32::from_be_bytes([h0, h1, h2, h3]));
    if width == 0 || height == 0 {
        return Err(Error::corrupt("PNG", "zero width or height"));
    }
    let mut has_alpha = matches!(color_type, 4 | 6);
    let mut has_icc_profile = false;
    let mut exif = None;
    // Walk the chunks before the pixel data for transparency, a colour
    // profile and EXIF (which may also follow the pixels; we look no further).
    // A chunk that runs past the end ends the walk, so `pos` stays within
    // `data` plus a CRC's 4 and never overflows.
    let mut pos = 8;
    while let (Some(len), Some(kind)) = (u32_be(data, pos), data.get(pos + 4..pos + 8)) {
        let body = usize::try_from(len).ok().and_then(|len| span(data, pos + 8, len));
        match kind {
            b"IDAT" | b"IEND" => break,
            b"tRNS" => has_alpha = true,
            b"iCCP" => has_icc_profile = true,
            b"eXIf" => exif = body.map(<[u8]>::to_vec),
            _ => {}
        }
        let Some(body) = body else { break };
        pos += 12 + body.len();
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
            // A 3-byte frame tag, the start code, then the 14-bit sizes.
            if data.get(body + 3..body + 6) != Some(&[0x9d, 0x01, 0x2a]) {
                return Err(Error::corrupt("WebP", "the VP8 start code is missing"));
            }
            let w = u16_le(data, body + 6).ok_or_else(truncated)?;
            let h = u16_le(data, body + 8).ok_or_else(truncated)?;
            (u32::from(w & 0x3fff), u32::from(h & 0x3fff), false)
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
    // As for PNG: a chunk that runs past the end ends the walk, so `pos`
    // stays within `data` plus a padding byte and never overflows.
    let mut pos = 12;
    while let (Some(kind), Some(len)) = (data.get(pos..pos + 4), u32_le(data, pos + 4)) {
        let chunk = usize::try_from(len).ok().and_then(|len| span(data, pos + 8, len));
        match kind {
            b"ICCP" => has_icc_profile = true,
            b"ALPH" => has_alpha = true,
            b"EXIF" => exif = chunk.map(<[u8]>::to_vec),
            _ => {}
        }
        let Some(chunk) = chunk else { break };
        pos += 8 + chunk.len() + (chunk.len() & 1);
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
/// the block is big-endian. A directory cut short, whatever its count
/// claims, ends with its last entry whose value is all there, so the slot
/// returned always lies inside `tiff`.
fn orientation_slot(tiff: &[u8]) -> Option<(usize, bool)> {
    let big = match tiff.get(0..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let read16 = |b: [u8; 2]| if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) };
    let b: [u8; 4] = bytes(tiff, 4)?;
    let ifd = usize::try_from(if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }).ok()?;
    let count = usize::from(read16(bytes(tiff, ifd)?));
    let first = ifd.checked_add(2)?;
    // Each 12-byte entry: tag, type, count, then a value that a SHORT fills
    // from its start, so the first 10 bytes are all we need.
    (0..count)
        .map_while(|i| {
            let at = first.checked_add(i * 12)?;
            Some((at, bytes::<10>(tiff, at)?))
        })
        .find(|(_, [t0, t1, y0, y1, ..])| read16([*t0, *t1]) == 0x0112 && read16([*y0, *y1]) == 3)
        .map(|(at, _)| (at + 8, big))
}

/// The EXIF orientation, 1 when absent or out of range.
pub(crate) fn orientation(tiff: &[u8]) -> u8 {
    orientation_slot(tiff)
        .and_then(|(at, big)| {
            let b: [u8; 2] = bytes(tiff, at)?;
            let v = if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) };
            (1..=8).contains(&v).then_some(v as u8)
        })
        .unwrap_or(1)
}

/// A copy of an EXIF block saying "upright", for output whose pixels have
/// already been rotated.
pub(crate) fn exif_upright(tiff: &[u8]) -> Vec<u8> {
    let mut out = tiff.to_vec();
    if let Some((at, big)) = orientation_slot(tiff)
        && let Some(slot) = out.get_mut(at..at + 2)
    {
        slot.copy_from_slice(&if big { 1u16.to_be_bytes() } else { 1u16.to_le_bytes() });
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

    /// A 16x8 JPEG as far as the prober reads it: SOI, an APP1 carrying
    /// `tiff`, a baseline frame header and the start of scan.
    fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE1];
        j.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        j.extend_from_slice(b"Exif\0\0");
        j.extend_from_slice(tiff);
        j.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0, 8, 0, 16, 1, 1, 0x11, 0]);
        j.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        j
    }

    #[test]
    fn an_exif_directory_cut_mid_entry_is_read_as_far_as_it_goes() {
        for big in [true, false] {
            let full = tiff_with_orientation(big, 6);
            // As many entries claimed as a count can say, then the same cuts.
            let mut greedy = full.clone();
            greedy[8..10].copy_from_slice(&[0xFF, 0xFF]);
            for tiff in [&full, &greedy] {
                // The APP1 segment ends at `cut`, its length field saying so:
                // IFD0's Orientation entry spans 22..34, its value 30..32.
                for cut in 0..=tiff.len() {
                    let what = format!("big-endian {big}, count {:02x?}, cut at {cut}", &tiff[8..10]);
                    let info = probe(&jpeg_with_exif(&tiff[..cut])).unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!((info.width, info.height), (16, 8), "{what}");
                    assert_eq!(info.orientation, if cut >= 32 { 6 } else { 1 }, "{what}");
                    let exif = info.exif.unwrap();
                    let upright = exif_upright(&exif);
                    assert_eq!((upright.len(), orientation(&upright)), (exif.len(), 1), "{what}");
                }
            }
        }
    }

    /// A RIFF container holding one chunk.
    fn riff(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut w = b"RIFF".to_vec();
        w.extend_from_slice(&(12 + body.len() as u32).to_le_bytes());
        w.extend_from_slice(b"WEBP");
        w.extend_from_slice(kind);
        w.extend_from_slice(&(body.len() as u32).to_le_bytes());
        w.extend_from_slice(body);
        w
    }

    #[test]
    fn a_webp_cut_inside_its_first_chunk_header_is_refused() {
        // The smallest complete header of each kind, for a 16x8 image.
        let headers: [(&[u8; 4], &[u8]); 3] = [
            (b"VP8 ", &[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 16, 0, 8, 0]),
            (b"VP8L", &[0x2f, 15, 0xC0, 0x01, 0x00]),
            (b"VP8X", &[0, 0, 0, 0, 15, 0, 0, 7, 0, 0]),
        ];
        for (kind, body) in headers {
            let full = riff(kind, body);
            let name = String::from_utf8_lossy(kind);
            assert_eq!(probe(&full).map(|i| (i.width, i.height)), Ok((16, 8)), "{name}");
            // Every cut from the chunk's name to its last header byte; at 26
            // bytes the VP8 reader once indexed past the end.
            for cut in 12..full.len() {
                let got = probe(&full[..cut]);
                assert!(matches!(got, Err(Error::Corrupt { format: "WebP", .. })), "{name} cut at {cut}: {got:?}");
            }
        }
    }

    #[test]
    fn length_fields_at_their_maximum_are_skipped_not_added_up() {
        // A chunk after the header claiming 4 GiB: the walk must stop, not
        // wrap its position around (it would on a 32-bit target).
        let mut webp = riff(b"VP8L", &[0x2f, 15, 0xC0, 0x01, 0x00, 0]);
        webp.extend_from_slice(b"EXIF\xff\xff\xff\xff");
        let info = probe(&webp).unwrap();
        assert_eq!((info.width, info.height, info.exif), (16, 8, None));
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x08\x08\x02\0\0\0".to_vec();
        png.extend_from_slice(&[0; 4]);
        png.extend_from_slice(b"\xff\xff\xff\xffeXIf");
        let info = probe(&png).unwrap();
        assert_eq!((info.width, info.height, info.exif), (16, 8, None));
        // IFD0 at the largest offset a TIFF header can name.
        let tiff = b"II*\0\xff\xff\xff\xff\x01\0";
        assert_eq!(orientation(tiff), 1);
        assert_eq!(exif_upright(tiff), tiff);
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
