//! Mutated images: valid JPEG, PNG and WebP files with bytes flipped,
//! fields overwritten, chunks cut out or repeated, and truncated, pushed
//! through `probe` and the whole resize pipeline. Every answer must be an
//! image or a bad-input/limit error: never a panic (which the pool would
//! turn into `Internal`), never an internal error. Deterministic (a fixed
//! xorshift seed), so a failure names the case that reproduces it.

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

/// An APP1 EXIF segment (little-endian TIFF, orientation 6) placed after
/// a JPEG's SOI, so the EXIF walker is mutated too.
fn with_exif(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec();
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn options(width: u32, height: u32, fit: Fit, format: Option<Format>) -> Options {
    Options { geometry: Geometry { width, height, fit, without_enlargement: false }, format, ..Options::default() }
}

/// The valid files every mutation starts from, made by attache itself.
async fn seeds(service: &Service) -> Vec<Vec<u8>> {
    let png = source_png();
    let mut seeds = vec![png.clone()];
    let progressive = Options { progressive: true, ..options(0, 0, Fit::Cover, Some(Format::Jpeg)) };
    let interlaced = Options { progressive: true, ..options(0, 0, Fit::Cover, Some(Format::Png)) };
    for o in [
        options(0, 0, Fit::Cover, Some(Format::Jpeg)),
        progressive,
        interlaced,
        options(0, 0, Fit::Cover, Some(Format::Webp)),
    ] {
        seeds.push(service.resize(png.clone(), o, None).await.unwrap().data);
    }
    seeds.push(with_exif(&seeds[1]));
    seeds
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            break;
        }
        let at = rng.below(data.len());
        match rng.below(7) {
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
            _ => {
                let junk: Vec<u8> = (0..rng.below(32)).map(|_| rng.next() as u8).collect();
                data.splice(at..at, junk);
            }
        }
    }
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_images_get_an_image_or_a_clear_error_never_a_crash() {
    // Small limits: a mutated size field must be refused, not decoded.
    let config = Config { workers: 2, nice: 0, max_source_pixels: 1 << 20, ..Config::default() };
    let service = Service::new(config).unwrap();
    let seeds = seeds(&service).await;
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (mut images, mut refused) = (0, 0);
    for case in 0..rounds() {
        let seed = rng.below(seeds.len());
        let input = mutate(&mut rng, &seeds[seed]);
        let format = [None, Some(Format::Jpeg), Some(Format::Png), Some(Format::Webp)][rng.below(4)];
        let fit = [Fit::Cover, Fit::Contain, Fit::Inside][rng.below(3)];
        let what = format!("case {case} (seed {seed}, {} bytes)", input.len());
        let probed = service.probe(&input);
        let resized = service.resize(input, options(24, 16, fit, format), None).await;
        if let Err(e) = &probed {
            assert!(resized.is_err(), "{what}: probe refused ({e}) but resize succeeded");
        }
        match resized {
            Ok(out) => {
                assert!(out.width <= 24 && out.height <= 16, "{what}: {}x{}", out.width, out.height);
                // What we produced must itself be readable.
                service.probe(&out.data).unwrap_or_else(|e| panic!("{what}: our own output does not probe: {e}"));
                images += 1;
            }
            Err(e) => {
                assert!(
                    matches!(e.kind(), Kind::InvalidArgument | Kind::ResourceExhausted),
                    "{what}: {e} is {:?}, not bad input or a limit",
                    e.kind()
                );
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    // Both outcomes must really occur, or the mutations are too mild or too
    // destructive to exercise the decoders.
    eprintln!("{images} images, {refused} refused");
    assert!(images > 0 && refused > 0, "{images} images, {refused} refused");
}
