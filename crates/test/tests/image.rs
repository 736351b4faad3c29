//! The image offloader end to end: the sidecar in-process, real photographs
//! (scikit-image's sample data, variants made by Pillow in
//! testing/images/fixtures.py), and Pillow as the independent reference
//! every output is compared with (testing/images/check.py, PSNR in dB).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use attache_proto::attache::image::v1::{
    ColorSpace, Fit, Format, Gravity, ImageServiceClient, ProbeRequest, ResizeManyRequest, ResizeOptions,
    ResizeRequest, ResizeResponse,
};
use attache_test::Sidecar;
use connectrpc::client::SharedHttp2Connection;
use connectrpc::{ConnectError, ErrorCode, Protocol};

type Client = ImageServiceClient<SharedHttp2Connection>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    root().join("target/interop-venv/bin/python")
}

/// The fixture directory, built once per test binary.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target/images");
        let out = Command::new(python())
            .arg(root().join("testing/images/fixtures.py"))
            .arg(&dir)
            .output()
            .expect("run testing/images/fixtures.py (scripts/setup makes the venv with Pillow)");
        assert!(out.status.success(), "fixtures.py failed: {}", String::from_utf8_lossy(&out.stderr));
        dir
    })
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs check.py on `output` (written to a temp file) and returns stdout.
fn check(output: &[u8], args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    std::fs::write(&path, output).unwrap();
    let out = Command::new(python())
        .arg(root().join("testing/images/check.py"))
        .arg(args[0])
        .arg(&path)
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(out.status.success(), "check.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// PSNR of `output` against Pillow's rendering of `source` with `args`.
fn psnr(output: &[u8], source: &str, args: &[&str]) -> f64 {
    let source = fixtures().join(source);
    let mut all = vec!["psnr", source.to_str().unwrap()];
    all.extend_from_slice(args);
    check(output, &all).parse().unwrap()
}

fn info(output: &[u8]) -> serde_json::Value {
    serde_json::from_str(&check(output, &["info"])).unwrap()
}

async fn start() -> (Sidecar, Client) {
    let sidecar = Sidecar::start().await;
    let client = sidecar.image(Protocol::Grpc).await;
    (sidecar, client)
}

fn request(image: Vec<u8>, width: u32, height: u32, fit: Fit) -> ResizeRequest {
    ResizeRequest { image, width, height, fit: fit.into(), ..Default::default() }
}

async fn resize(client: &Client, request: ResizeRequest) -> Result<ResizeResponse, ConnectError> {
    Ok(client.resize(request).await?.into_owned())
}

fn assert_code(result: Result<impl std::fmt::Debug, ConnectError>, code: ErrorCode, needle: &str) {
    let err = result.expect_err("an error");
    assert_eq!(err.code, code, "{err:?}");
    let message = err.message.unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[tokio::test]
async fn every_fit_gives_the_documented_size_and_pillows_pixels() {
    let (_sidecar, client) = start().await;
    // coffee.png is 600x400.
    let cases = [
        (Fit::FIT_COVER, (200, 200), (200, 200), "cover"),
        (Fit::FIT_UNSPECIFIED, (200, 200), (200, 200), "cover"),
        (Fit::FIT_CONTAIN, (200, 200), (200, 200), "contain"),
        (Fit::FIT_FILL, (200, 200), (200, 200), "fill"),
        (Fit::FIT_INSIDE, (200, 200), (200, 133), "inside"),
        (Fit::FIT_OUTSIDE, (200, 200), (300, 200), ""),
        (Fit::FIT_COVER, (300, 0), (300, 200), "fill"),
        (Fit::FIT_CONTAIN, (0, 100), (150, 100), "fill"),
    ];
    for (fit, (w, h), expect, reference) in cases {
        let out = resize(&client, request(fixture("coffee.png"), w, h, fit)).await.unwrap();
        assert_eq!((out.width, out.height), expect, "{fit:?} {w}x{h}");
        assert_eq!(out.format.as_known(), Some(Format::FORMAT_PNG));
        let decoded = info(&out.image);
        assert_eq!(
            (decoded["width"].as_u64(), decoded["height"].as_u64()),
            (Some(expect.0.into()), Some(expect.1.into()))
        );
        if !reference.is_empty() {
            let size = format!("{}x{}", expect.0, expect.1);
            let db = psnr(&out.image, "coffee.png", &["--size", &size, "--fit", reference]);
            assert!(db > 30.0, "{fit:?} {w}x{h}: PSNR {db} against Pillow");
        }
    }
}

#[tokio::test]
async fn gravity_chooses_the_crop() {
    let (_sidecar, client) = start().await;
    // Each compass point and Pillow's centering for it, in two boxes whose
    // crops fall on whole source pixels (Pillow crops before resampling):
    // 600x400 covered to 200x200 resamples to 300x200 (x moves), to 150x50
    // resamples to 150x100 (y moves).
    let cases = [
        (Gravity::GRAVITY_CENTRE, "0.5,0.5"),
        (Gravity::GRAVITY_NORTH, "0.5,0"),
        (Gravity::GRAVITY_NORTH_EAST, "1,0"),
        (Gravity::GRAVITY_EAST, "1,0.5"),
        (Gravity::GRAVITY_SOUTH_EAST, "1,1"),
        (Gravity::GRAVITY_SOUTH, "0.5,1"),
        (Gravity::GRAVITY_SOUTH_WEST, "0,1"),
        (Gravity::GRAVITY_WEST, "0,0.5"),
        (Gravity::GRAVITY_NORTH_WEST, "0,0"),
    ];
    for ((w, h), opposite) in [((200, 200), (3, 7)), ((150, 50), (1, 5))] {
        let mut crops = Vec::new();
        for (gravity, centering) in cases {
            let mut r = request(fixture("coffee.png"), w, h, Fit::FIT_COVER);
            r.gravity = gravity.into();
            let out = resize(&client, r).await.unwrap();
            assert_eq!((out.width, out.height), (w, h), "{gravity:?}");
            let size = format!("{w}x{h}");
            let db = psnr(&out.image, "coffee.png", &["--size", &size, "--centering", centering]);
            assert!(db > 30.0, "{gravity:?} {size}: PSNR {db} against Pillow's crop at {centering}");
            crops.push(out.image);
        }
        // The PSNR check would fail if gravity were ignored, but make it
        // explicit: east and west (north and south) crops differ.
        assert_ne!(crops[opposite.0], crops[opposite.1], "opposite sides of {w}x{h}");
    }
    // Entropy keeps the detailed part: the photo on the right of a flat
    // 1000x400 canvas, cropped to 600x400, is the photo.
    let mut r = request(fixture("entropy.png"), 600, 400, Fit::FIT_COVER);
    r.gravity = Gravity::GRAVITY_ENTROPY.into();
    let out = resize(&client, r).await.unwrap();
    let db = psnr(&out.image, "coffee.png", &["--size", "600x400", "--fit", "fill"]);
    assert!(db > 40.0, "entropy crop: PSNR {db} against the photo alone");
    // Contain places the image by gravity on the background.
    let mut r = request(fixture("coffee.png"), 300, 300, Fit::FIT_CONTAIN);
    r.background = "#ff0000".into();
    r.gravity = Gravity::GRAVITY_NORTH.into();
    let out = resize(&client, r).await.unwrap();
    let db = psnr(
        &out.image,
        "coffee.png",
        &["--size", "300x300", "--fit", "contain", "--centering", "0.5,0", "--background", "ff0000"],
    );
    assert!(db > 30.0, "contain north: PSNR {db}");
}

#[tokio::test]
async fn every_exif_orientation_comes_out_upright() {
    let (_sidecar, client) = start().await;
    for o in 1..=8 {
        let name = format!("orientation_{o}.jpg");
        let probe =
            client.probe(ProbeRequest { image: fixture(&name), ..Default::default() }).await.unwrap().into_owned();
        assert_eq!(probe.orientation, o);
        assert_eq!((probe.upright_width, probe.upright_height), (451, 300), "{name}");
        let mut r = request(fixture(&name), 226, 0, Fit::FIT_UNSPECIFIED);
        r.format = Format::FORMAT_PNG.into();
        let out = resize(&client, r).await.unwrap();
        assert_eq!((out.width, out.height), (226, 150), "{name}");
        // Against the upright photo the stored file was made from.
        let db = psnr(&out.image, "upright.png", &["--size", "226x150", "--fit", "fill"]);
        assert!(db > 28.0, "{name}: PSNR {db} against the upright original");
        assert_eq!(info(&out.image)["orientation"], serde_json::Value::Null, "{name}: metadata is stripped");
    }
}

#[tokio::test]
async fn colour_models_and_bit_depths_round_trip() {
    let (_sidecar, client) = start().await;
    // (input, reference source, expected probe colour space, alpha, depth, progressive)
    let cases = [
        ("photo.jpg", "photo.png", ColorSpace::COLOR_SPACE_SRGB, false, 8, false),
        ("photo_progressive.jpg", "photo.png", ColorSpace::COLOR_SPACE_SRGB, false, 8, true),
        ("photo.webp", "photo.png", ColorSpace::COLOR_SPACE_SRGB, false, 8, false),
        ("gray.jpg", "gray.png", ColorSpace::COLOR_SPACE_GRAY, false, 8, false),
        ("cmyk.jpg", "coffee.png", ColorSpace::COLOR_SPACE_CMYK, false, 8, false),
        ("rgb16.png", "coffee.png", ColorSpace::COLOR_SPACE_SRGB, false, 16, false),
        ("alpha.png", "alpha.png", ColorSpace::COLOR_SPACE_SRGB, true, 8, false),
    ];
    for (name, source, colour, alpha, depth, progressive) in cases {
        let probe =
            client.probe(ProbeRequest { image: fixture(name), ..Default::default() }).await.unwrap().into_owned();
        assert_eq!(probe.color_space.as_known(), Some(colour), "{name}");
        assert_eq!((probe.has_alpha, probe.bit_depth, probe.progressive), (alpha, depth, progressive), "{name}");
        for format in [Format::FORMAT_PNG, Format::FORMAT_JPEG, Format::FORMAT_WEBP] {
            let mut r = request(fixture(name), 200, 0, Fit::FIT_UNSPECIFIED);
            r.format = format.into();
            r.quality = 95;
            let out = resize(&client, r).await.unwrap();
            let size = format!("{}x{}", out.width, out.height);
            let mut args = vec!["--size", size.as_str(), "--fit", "fill"];
            if alpha && format == Format::FORMAT_JPEG {
                args.extend(["--flatten", "ffffff"]);
            }
            let db = psnr(&out.image, source, &args);
            let floor = if format == Format::FORMAT_PNG { 30.0 } else { 27.0 };
            assert!(db > floor, "{name} -> {format:?}: PSNR {db} against Pillow");
            let decoded = info(&out.image);
            let mode = decoded["mode"].as_str().unwrap();
            match (colour, alpha, format) {
                (_, true, Format::FORMAT_PNG | Format::FORMAT_WEBP) => assert_eq!(mode, "RGBA", "{name} {format:?}"),
                (ColorSpace::COLOR_SPACE_GRAY, _, Format::FORMAT_PNG | Format::FORMAT_JPEG) => {
                    assert_eq!(mode, "L", "{name} {format:?}")
                }
                _ => assert_eq!(mode, "RGB", "{name} {format:?}"),
            }
        }
    }
}

#[tokio::test]
async fn shrink_on_load_matches_a_full_decode() {
    let (_sidecar, client) = start().await;
    // 2725x2225 -> 720x588 decodes at 1/2, 4000x3000 -> 400x300 at 1/8.
    for (name, w, h) in [("bench_2725x2225.jpg", 720, 588), ("bench_4000x3000.jpg", 400, 300)] {
        let mut r = request(fixture(name), w, h, Fit::FIT_COVER);
        r.format = Format::FORMAT_PNG.into();
        let out = resize(&client, r).await.unwrap();
        assert_eq!((out.width, out.height), (w, h));
        let size = format!("{w}x{h}");
        let db = psnr(&out.image, name, &["--size", &size]);
        assert!(db > 30.0, "{name}: PSNR {db} against Pillow's full-size decode and Lanczos");
    }
}

#[tokio::test]
async fn metadata_is_stripped_unless_kept_and_then_says_upright() {
    let (_sidecar, client) = start().await;
    let mut r = request(fixture("orientation_6.jpg"), 100, 0, Fit::FIT_UNSPECIFIED);
    r.keep_metadata = true;
    for format in [Format::FORMAT_JPEG, Format::FORMAT_PNG, Format::FORMAT_WEBP] {
        r.format = format.into();
        let out = resize(&client, r.clone()).await.unwrap();
        let decoded = info(&out.image);
        assert_eq!(decoded["orientation"], 1, "{format:?}: {decoded}");
        assert_eq!((out.width, out.height), (100, 67));
        let probe = client.probe(ProbeRequest { image: out.image, ..Default::default() }).await.unwrap().into_owned();
        assert!(probe.has_exif && probe.orientation == 1, "{format:?}");
    }
}

#[tokio::test]
async fn an_icc_profile_travels_with_the_output_even_when_stripping() {
    let (_sidecar, client) = start().await;
    for name in ["icc.jpg", "icc.png"] {
        let probe =
            client.probe(ProbeRequest { image: fixture(name), ..Default::default() }).await.unwrap().into_owned();
        assert!(probe.has_icc_profile, "{name}");
        for format in [Format::FORMAT_JPEG, Format::FORMAT_PNG, Format::FORMAT_WEBP] {
            let mut r = request(fixture(name), 100, 0, Fit::FIT_UNSPECIFIED);
            r.format = format.into();
            let out = resize(&client, r).await.unwrap();
            assert_eq!(info(&out.image)["icc"], true, "{name} -> {format:?}");
        }
    }
    // No profile in, none out.
    let out = resize(&client, request(fixture("photo.jpg"), 100, 0, Fit::FIT_UNSPECIFIED)).await.unwrap();
    assert_eq!(info(&out.image)["icc"], false);
}

#[tokio::test]
async fn resize_many_decodes_once_for_a_thumbnail_set() {
    let (_sidecar, client) = start().await;
    let outputs = vec![
        ResizeOptions { width: 720, height: 588, format: Format::FORMAT_JPEG.into(), ..Default::default() },
        ResizeOptions { width: 160, height: 160, format: Format::FORMAT_WEBP.into(), ..Default::default() },
        ResizeOptions { width: 64, height: 0, format: Format::FORMAT_PNG.into(), ..Default::default() },
    ];
    let image = fixture("bench_2725x2225.jpg");
    let input_len = image.len() as u64;
    let reply =
        client.resize_many(ResizeManyRequest { image, outputs, ..Default::default() }).await.unwrap().into_owned();
    let got: Vec<_> = reply.outputs.iter().map(|o| (o.width, o.height, o.format.as_known().unwrap())).collect();
    assert_eq!(
        got,
        vec![(720, 588, Format::FORMAT_JPEG), (160, 160, Format::FORMAT_WEBP), (64, 52, Format::FORMAT_PNG)]
    );
    for (o, format) in reply.outputs.iter().zip(["JPEG", "WEBP", "PNG"]) {
        assert_eq!(o.input_bytes, input_len);
        assert_eq!(o.output_bytes, o.image.len() as u64);
        assert_eq!(info(&o.image)["format"], format);
    }
}

#[tokio::test]
async fn hostile_inputs_get_clear_errors_and_the_process_stays_up() {
    let sidecar = Sidecar::start_with(|c| c.image.max_input_bytes = bytesize::ByteSize::mib(2)).await;
    let client = sidecar.image(Protocol::Grpc).await;
    let bomb = fixture("bomb.png");
    assert!(bomb.len() < 8192, "the bomb is small on the wire");
    assert_code(
        resize(&client, request(bomb, 100, 100, Fit::FIT_COVER)).await,
        ErrorCode::ResourceExhausted,
        "3600.0 megapixels",
    );
    assert_code(
        resize(&client, request(fixture("bomb.jpg"), 100, 100, Fit::FIT_COVER)).await,
        ErrorCode::ResourceExhausted,
        "image.max_source_pixels",
    );
    assert_code(
        resize(&client, request(fixture("scans.jpg"), 32, 0, Fit::FIT_COVER)).await,
        ErrorCode::InvalidArgument,
        "more than 500 scans",
    );
    assert_code(
        resize(&client, request(fixture("truncated.jpg"), 100, 0, Fit::FIT_COVER)).await,
        ErrorCode::InvalidArgument,
        "JPEG image is truncated or corrupt",
    );
    assert_code(
        resize(&client, request(fixture("truncated.png"), 100, 0, Fit::FIT_COVER)).await,
        ErrorCode::InvalidArgument,
        "PNG image is truncated or corrupt",
    );
    assert_code(
        resize(&client, request(b"<html>not an image</html>".to_vec(), 100, 0, Fit::FIT_COVER)).await,
        ErrorCode::InvalidArgument,
        "not a JPEG, PNG or WebP image",
    );
    assert_code(
        resize(&client, request(Vec::new(), 100, 0, Fit::FIT_COVER)).await,
        ErrorCode::InvalidArgument,
        "empty",
    );
    // Random bytes after a valid JPEG header.
    let mut garbage = fixture("photo.jpg")[..700].to_vec();
    garbage.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    assert_code(resize(&client, request(garbage, 100, 0, Fit::FIT_COVER)).await, ErrorCode::InvalidArgument, "JPEG");
    assert_code(
        resize(&client, request(fixture("bench_4000x3000.jpg"), 100, 0, Fit::FIT_COVER)).await,
        ErrorCode::ResourceExhausted,
        "image.max_input_bytes",
    );
    assert_code(
        resize(&client, request(fixture("photo.jpg"), 9000, 0, Fit::FIT_COVER)).await,
        ErrorCode::ResourceExhausted,
        "image.max_output_width",
    );
    let mut r = request(fixture("photo.jpg"), 100, 0, Fit::FIT_COVER);
    r.format = Format::FORMAT_AVIF.into();
    assert_code(resize(&client, r).await, ErrorCode::Unimplemented, "AVIF");
    let mut r = request(fixture("photo.jpg"), 100, 0, Fit::FIT_COVER);
    r.background = "red".into();
    assert_code(resize(&client, r).await, ErrorCode::InvalidArgument, "background");
    let mut r = request(fixture("photo.jpg"), 100, 0, Fit::FIT_COVER);
    r.quality = 101;
    assert_code(resize(&client, r).await, ErrorCode::InvalidArgument, "quality 101");
    assert_code(
        client.resize_many(ResizeManyRequest { image: fixture("photo.jpg"), ..Default::default() }).await,
        ErrorCode::InvalidArgument,
        "outputs",
    );
    // Still serving.
    let out = resize(&client, request(fixture("photo.jpg"), 64, 64, Fit::FIT_COVER)).await.unwrap();
    assert_eq!((out.width, out.height), (64, 64));
}

#[tokio::test]
async fn a_full_queue_is_refused_at_once() {
    let sidecar = Sidecar::start_with(|c| {
        c.image.workers = 1;
        c.image.limits.max_in_flight = 1;
        c.image.limits.max_queued = 0;
    })
    .await;
    let client = sidecar.image(Protocol::Grpc).await;
    let image = fixture("bench_4000x3000.jpg");
    let calls = (0..6).map(|_| resize(&client, request(image.clone(), 400, 300, Fit::FIT_COVER)));
    let results = futures::future::join_all(calls).await;
    let refused = results.iter().filter(|r| matches!(r, Err(e) if e.code == ErrorCode::ResourceExhausted)).count();
    let done = results.iter().filter(|r| r.is_ok()).count();
    assert!(done >= 1 && refused >= 1 && done + refused == 6, "done {done}, refused {refused}: {results:?}");
}

#[tokio::test]
async fn images_larger_than_other_requests_are_accepted_up_to_their_own_limit() {
    let sidecar = Sidecar::start_with(|c| c.image.max_input_bytes = bytesize::ByteSize::mib(24)).await;
    // server.max_request_bytes (4 MiB) bounds every other call; a 12 MP
    // photo as PNG (made by attache, and larger than 4 MiB as a reply too)
    // is several times that.
    let mut r = request(fixture("bench_4000x3000.jpg"), 0, 0, Fit::FIT_UNSPECIFIED);
    r.format = Format::FORMAT_PNG.into();
    let big = resize(&sidecar.image(Protocol::Grpc).await, r).await.unwrap().image;
    assert!(big.len() > 16 << 20, "{} bytes", big.len());
    for protocol in [Protocol::Grpc, Protocol::Connect] {
        let client = sidecar.image(protocol).await;
        let out = resize(&client, request(big.clone(), 400, 300, Fit::FIT_COVER)).await.unwrap();
        assert_eq!((out.width, out.height, out.input_bytes), (400, 300, big.len() as u64), "{protocol:?}");
        let db = psnr(&out.image, "bench_4000x3000.jpg", &["--size", "400x300"]);
        assert!(db > 30.0, "{protocol:?}: PSNR {db}");
    }
    // Past image.max_input_bytes (16 MiB) the module refuses the 17 MiB PNG
    // by name; far past it (6 MiB) the protocol layer does, before reading it.
    for (limit, needle) in [(16, "image.max_input_bytes"), (6, "exceeds limit")] {
        let sidecar = Sidecar::start_with(|c| c.image.max_input_bytes = bytesize::ByteSize::mib(limit)).await;
        let client = sidecar.image(Protocol::Grpc).await;
        let refused = resize(&client, request(big.clone(), 400, 300, Fit::FIT_COVER)).await;
        assert_code(refused, ErrorCode::ResourceExhausted, needle);
    }
}

#[tokio::test]
async fn connect_json_carries_images_as_base64() {
    let sidecar = Sidecar::start().await;
    let image = fixture("alpha.png");
    let encoded = base64_encode(&image);
    let body = format!(r#"{{"image":"{encoded}","width":50,"format":"FORMAT_WEBP"}}"#);
    let (status, reply) =
        attache_test::connect_json(sidecar.socket(), "attache.image.v1.ImageService/Resize", &body, &[]).await;
    assert_eq!(status, 200, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["format"], "FORMAT_WEBP");
    assert_eq!(reply["width"], 50);
    let (status, reply) = attache_test::connect_json(
        sidecar.socket(),
        "attache.image.v1.ImageService/Probe",
        r#"{"image":"aGVsbG8="}"#,
        &[],
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("invalid_argument") && reply.contains("68 65 6c 6c 6f"), "{reply}");
}

fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
