//! Mutated images: valid JPEG, PNG and WebP files with bytes flipped,
//! fields overwritten, chunks cut out or repeated, and truncated, pushed
//! through `probe` and the whole resize pipeline. Every answer must be an
//! image or a bad-input/limit error: never a panic (which the pool would
//! turn into `Internal`), never an internal error. Deterministic (a fixed
//! xorshift seed), so a failure names the case that reproduces it.
//!
//! Random cuts almost never land where a header parser is weakest (a file
//! a few bytes into its first chunk, an EXIF directory ending mid-entry),
//! so those places are also cut exhaustively.

use attache_core::Kind;
use attache_image::{Config, Fit, Format, Geometry, Options, Service};

/// How many mutated inputs one run tries; `ATTACHE_IMAGE_MUTATIONS` raises
/// it for a longer local campaign.
fn rounds() -> u64 {
    std::env::var("ATTACHE_IMAGE_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A 61x47 RGBA picture with gradients, edges and noise, as a PNG.
fn source_png() -> Vec<u8> {
    let (w, h) = (61u32, 47u32);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let data: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let noise = rng.next() as u8 & 31;
            [(x * 4) as u8 ^ noise, (y * 5) as u8, if (x / 8 + y / 8) % 2 == 0 { 220 } else { 30 }, (x * y) as u8 | 64]
        })
        .collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
    out
}

/// An EXIF block (a TIFF structure) whose IFD0 holds one entry:
/// Orientation, a SHORT.
fn tiff(big: bool, orientation: u8) -> Vec<u8> {
    if big {
        let mut t = b"MM\0*\0\0\0\x08\0\x01".to_vec();
        t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0, 0, 0, 0, 0]);
        t
    } else {
        let mut t = b"II*\0\x08\0\0\0\x01\0".to_vec();
        t.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0, 0, 0, 0, 0]);
        t
    }
}

/// An APP1 EXIF segment (orientation 6) placed after a JPEG's SOI, so the
/// EXIF walker is mutated too.
fn with_exif(jpeg: &[u8], big: bool) -> Vec<u8> {
    let tiff = tiff(big, 6);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// `data` with the first occurrence of `from` replaced by `to` (same length).
fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = data.windows(from.len()).position(|w| w == from).expect("the bytes to replace");
    let mut out = data.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

fn be16(data: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes(data.get(at..at.checked_add(2)?)?.try_into().ok()?)))
}

fn le32(data: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(data.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize)
}

fn be32(data: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_be_bytes(data.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize)
}

/// Where a file's EXIF block lies, found by walking its segments or chunks
/// as a well-formed file has them: `(header, start, len)`, the offset of the
/// segment's or chunk's header and of its payload, and the payload's length
/// (for JPEG including the "Exif\0\0" prefix, which is cut as well).
fn exif_block(data: &[u8]) -> Option<(usize, usize, usize)> {
    if data.starts_with(&[0xFF, 0xD8]) {
        let mut pos = 2;
        while *data.get(pos)? == 0xFF && *data.get(pos + 1)? != 0xDA {
            let len = be16(data, pos + 2)?.checked_sub(2)?;
            if data[pos + 1] == 0xE1 && data.get(pos + 4..)?.starts_with(b"Exif\0\0") {
                return (pos + 4 + len <= data.len()).then_some((pos, pos + 4, len));
            }
            pos += 4 + len;
        }
    } else if data.starts_with(b"\x89PNG") {
        let mut pos = 8;
        while let Some(len) = be32(data, pos) {
            if data.get(pos + 4..pos + 8)? == b"eXIf" {
                return (pos + 12 + len <= data.len()).then_some((pos, pos + 8, len));
            }
            pos = pos.checked_add(12 + len)?;
        }
    } else if data.starts_with(b"RIFF") {
        let mut pos = 12;
        while let Some(len) = le32(data, pos + 4) {
            if data.get(pos..pos + 4)? == b"EXIF" {
                return (pos + 8 + len <= data.len()).then_some((pos, pos + 8, len));
            }
            pos = pos.checked_add(8 + len + (len & 1))?;
        }
    }
    None
}

/// `data` with its EXIF block cut to its first `keep` bytes and the length
/// fields rewritten to say so, so the rest of the file still parses: an
/// EXIF directory that ends wherever `keep` falls, mid-entry included. (A
/// PNG keeps its chunk's old CRC, which a decoder may refuse.)
fn cut_exif(data: &[u8], keep: usize) -> Option<Vec<u8>> {
    let (header, start, len) = exif_block(data)?;
    let keep = keep.min(len);
    let mut out = data[..start + keep].to_vec();
    if data.starts_with(&[0xFF, 0xD8]) {
        out[header + 2..header + 4].copy_from_slice(&(keep as u16 + 2).to_be_bytes());
        out.extend_from_slice(&data[start + len..]);
    } else if data.starts_with(b"\x89PNG") {
        out[header..header + 4].copy_from_slice(&(keep as u32).to_be_bytes());
        out.extend_from_slice(&data[start + len..]);
    } else {
        out[header + 4..header + 8].copy_from_slice(&(keep as u32).to_le_bytes());
        out.extend(std::iter::repeat_n(0, keep & 1));
        out.extend_from_slice(&data[(start + len + (len & 1)).min(data.len())..]);
        let riff = (out.len() - 8) as u32;
        out[4..8].copy_from_slice(&riff.to_le_bytes());
    }
    Some(out)
}

fn options(width: u32, height: u32, fit: Fit, format: Option<Format>) -> Options {
    Options { geometry: Geometry { width, height, fit, without_enlargement: false }, format, ..Options::default() }
}

/// The valid files every mutation starts from, made by attache itself.
/// Each is named, and checked to still have what it is there for.
async fn seeds(service: &Service) -> Vec<(&'static str, Vec<u8>)> {
    let png = source_png();
    let mut seeds = vec![("RGBA PNG", png.clone())];
    let progressive = Options { progressive: true, ..options(0, 0, Fit::Cover, Some(Format::Jpeg)) };
    let interlaced = Options { progressive: true, ..options(0, 0, Fit::Cover, Some(Format::Png)) };
    for (name, o) in [
        ("baseline JPEG", options(0, 0, Fit::Cover, Some(Format::Jpeg))),
        ("progressive JPEG", progressive),
        ("interlaced PNG", interlaced),
        ("extended WebP with alpha", options(0, 0, Fit::Cover, Some(Format::Webp))),
    ] {
        seeds.push((name, service.resize(png.clone(), o, None).await.unwrap().data));
    }
    let jpeg = seeds[1].1.clone();
    seeds.push(("JPEG with little-endian EXIF", with_exif(&jpeg, false)));
    seeds.push(("JPEG with big-endian EXIF", with_exif(&jpeg, true)));
    let to_webp = options(0, 0, Fit::Cover, Some(Format::Webp));
    let simple_webp = service.resize(jpeg.clone(), to_webp.clone(), None).await.unwrap().data;
    assert_eq!(&simple_webp[12..16], b"VP8 ", "a WebP without alpha starts with its lossy chunk");
    seeds.push(("simple lossy WebP", simple_webp));
    // Kept metadata says "upright"; put the orientation back, so that the
    // walker finds a value to act on (a RIFF chunk has no checksum).
    let keep = |format| Options { keep_metadata: true, ..options(0, 0, Fit::Cover, Some(format)) };
    let exif_webp = service.resize(with_exif(&jpeg, true), keep(Format::Webp), None).await.unwrap().data;
    seeds.push(("WebP with EXIF", replace(&exif_webp, &tiff(true, 1), &tiff(true, 6))));
    let exif_png = service.resize(with_exif(&jpeg, false), keep(Format::Png), None).await.unwrap().data;
    seeds.push(("PNG with EXIF", exif_png));
    for (name, seed) in &seeds {
        let info = service.probe(seed.clone(), None).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        if name.contains("EXIF") {
            assert!(exif_block(seed).is_some(), "{name}: no EXIF block found");
            let orientation = if name.starts_with("PNG") { 1 } else { 6 };
            assert_eq!(info.orientation, orientation, "{name}");
        }
    }
    seeds
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            break;
        }
        let at = rng.below(data.len());
        match rng.below(9) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = [0x00, 0xFF, 0x7F, 0x80][rng.below(4)],
            2 => data.truncate(at),
            3 => {
                // Overwrite up to four bytes with a large or tiny value, as a
                // size or length field would be.
                let value = [0xFFFF_FFFFu32, 0x7FFF_FFFF, 0x0001_0000, 0, 1, 0x3FFF][rng.below(6)].to_be_bytes();
                let n = (data.len() - at).min(4);
                data[at..at + n].copy_from_slice(&value[..n]);
            }
            4 => {
                let len = rng.below(64).min(data.len() - at);
                data.drain(at..at + len);
            }
            5 => {
                let len = rng.below(64).min(data.len() - at);
                let copy = data[at..at + len].to_vec();
                let to = rng.below(data.len());
                data.splice(to..to, copy);
            }
            6 => {
                let junk: Vec<u8> = (0..rng.below(32)).map(|_| rng.next() as u8).collect();
                data.splice(at..at, junk);
            }
            // Where the first chunk or segment header is.
            7 => data.truncate(rng.below(65)),
            _ => {
                let len = exif_block(&data).map_or(0, |(_, _, len)| len);
                if let Some(cut) = cut_exif(&data, rng.below(len + 1)) {
                    data = cut;
                }
            }
        }
    }
    data
}

/// Small limits: a mutated size field must be refused, not decoded.
fn service() -> Service {
    Service::new(Config { workers: 2, nice: 0, max_source_pixels: 1 << 20, ..Config::default() }).unwrap()
}

/// Probes and resizes `input`, asserting the answer is an image that is
/// itself readable, or a bad-input or limit error; true for an image.
async fn answer(service: &Service, what: &str, input: Vec<u8>, options: Options) -> bool {
    let probed = service.probe(input.clone(), None).await;
    if let Err(e) = &probed {
        assert!(
            matches!(e.kind(), Kind::InvalidArgument | Kind::ResourceExhausted),
            "{what}: probe answered {e}, which is {:?}, not bad input or a limit",
            e.kind()
        );
    }
    let resized = service.resize(input, options, None).await;
    if let Err(e) = &probed {
        assert!(resized.is_err(), "{what}: probe refused ({e}) but resize succeeded");
    }
    match resized {
        Ok(out) => {
            assert!(out.width <= 24 && out.height <= 16, "{what}: {}x{}", out.width, out.height);
            // What we produced must itself be readable.
            service
                .probe(out.data, None)
                .await
                .unwrap_or_else(|e| panic!("{what}: our own output does not probe: {e}"));
            true
        }
        Err(e) => {
            assert!(
                matches!(e.kind(), Kind::InvalidArgument | Kind::ResourceExhausted),
                "{what}: {e} is {:?}, not bad input or a limit",
                e.kind()
            );
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_images_get_an_image_or_a_clear_error_never_a_crash() {
    let service = service();
    let seeds = seeds(&service).await;
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (mut images, mut refused) = (0, 0);
    for case in 0..rounds() {
        let seed = rng.below(seeds.len());
        let input = mutate(&mut rng, &seeds[seed].1);
        let format = [None, Some(Format::Jpeg), Some(Format::Png), Some(Format::Webp)][rng.below(4)];
        let fit = [Fit::Cover, Fit::Contain, Fit::Inside][rng.below(3)];
        let keep_metadata = rng.below(2) == 0;
        let what = format!("case {case} ({}, {} bytes)", seeds[seed].0, input.len());
        let options = Options { keep_metadata, ..options(24, 16, fit, format) };
        if answer(&service, &what, input, options).await {
            images += 1;
        } else {
            refused += 1;
        }
    }
    // Both outcomes must really occur, or the mutations are too mild or too
    // destructive to exercise the decoders.
    eprintln!("{images} images, {refused} refused");
    assert!(images > 0 && refused > 0, "{images} images, {refused} refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_exif_cut_anywhere_get_an_image_or_a_clear_error() {
    let service = service();
    let (mut images, mut refused, mut exif_cuts) = (0, 0, 0);
    for (name, seed) in seeds(&service).await {
        let mut cases = Vec::new();
        // Every cut through the first chunk's or segment's header.
        for len in 0..=seed.len().min(64) {
            cases.push((format!("{name} cut to {len} bytes"), seed[..len].to_vec()));
        }
        // Every cut through the EXIF block: the file ending there, and the
        // block alone ending there with the rest of the file intact.
        if let Some((_, start, len)) = exif_block(&seed) {
            for keep in 0..=len {
                cases.push((format!("{name} cut {keep} bytes into its EXIF"), seed[..start + keep].to_vec()));
                let cut = cut_exif(&seed, keep).unwrap();
                cases.push((format!("{name} with its EXIF cut to {keep} bytes"), cut));
                exif_cuts += 1;
            }
        }
        for (what, input) in cases {
            let options = Options { keep_metadata: true, ..options(24, 16, Fit::Cover, None) };
            if answer(&service, &what, input, options).await {
                images += 1;
            } else {
                refused += 1;
            }
        }
    }
    eprintln!("{images} images, {refused} refused, {exif_cuts} EXIF cuts");
    // An EXIF block cut short with its length fixed is still an image, a
    // file cut in its header is not: both must occur.
    assert!(images > 0 && refused > 0 && exif_cuts > 0, "{images} images, {refused} refused, {exif_cuts} EXIF cuts");
}
