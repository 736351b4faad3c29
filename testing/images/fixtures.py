"""Builds the image fixtures for attache's tests and benchmarks.

Real photographs come from the sample data that ships inside scikit-image's
wheel (downloaded with pip, not installed; only its image files are read).
Pillow derives every variant from them: orientations, CMYK, greyscale,
16-bit, alpha, WebP, large mosaics for the benchmarks, and hostile files.

Usage: fixtures.py OUT_DIR   (idempotent: does nothing if OUT_DIR/.done
matches this script's version)
"""

import glob
import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib

from PIL import Image, ImageCms, ImageOps

VERSION = "5"
SKIMAGE = "scikit-image==0.26.0"
PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
          "camera.png", "logo.png", "grass.png", "gravel.png", "brick.png", "hubble_deep_field.jpg",
          "retina.jpg", "ihc.png", "motorcycle_right.png"]


def photos(out):
    cache = os.path.join(out, "skimage")
    if all(os.path.exists(os.path.join(cache, p)) for p in PHOTOS):
        return cache
    os.makedirs(cache, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--only-binary=:all:", SKIMAGE, "-d", cache], check=True)
    wheel = glob.glob(os.path.join(cache, "scikit_image-*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        for name in PHOTOS:
            with open(os.path.join(cache, name), "wb") as f:
                f.write(z.read("skimage/data/" + name))
    os.remove(wheel)
    return cache


def exif_with_orientation(o):
    exif = Image.Exif()
    exif[0x0112] = o
    return exif.tobytes()


# The transpose that undoes each orientation (what a viewer applies), and
# its inverse (what we apply to an upright photo to store it that way).
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}
INVERSE = {**UPRIGHT, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def png16(path, img):
    """Writes an RGB image as a 16-bit-per-sample PNG (Pillow cannot), the
    low byte carrying a pattern so that truncating to 8 bits is visible."""
    w, h = img.size
    px = img.tobytes()
    rows = []
    for y in range(h):
        row = bytearray([0])
        for i in range(y * w * 3, (y + 1) * w * 3):
            row += struct.pack(">H", px[i] * 257 + ((i * 37) % 97) - 48 if 0 < px[i] < 255 else px[i] * 257)
        rows.append(bytes(row))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + chunk(b"IEND", b""))


def mosaic(src, size, cols, rows):
    """A canvas of real photographs at about their own scale, so the file
    has a camera image's detail rather than an upscale's smoothness."""
    canvas = Image.new("RGB", size)
    cw, ch = size[0] // cols + 1, size[1] // rows + 1
    names = [n for n in PHOTOS if n not in ("logo.png", "camera.png")]
    for i in range(cols * rows):
        img = Image.open(os.path.join(src, names[i % len(names)])).convert("RGB")
        canvas.paste(ImageOps.fit(img, (cw, ch), Image.Resampling.LANCZOS), ((i % cols) * (cw - 1), (i // cols) * (ch - 1)))
    return canvas


def bomb_png(path, w, h):
    """A PNG whose header claims w x h grey pixels, all zero: a few KiB
    that would decompress to w*h bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z = zlib.compressobj(9)
    row = bytes(w + 1)
    data = b"".join(z.compress(row) for _ in range(min(h, 64))) + z.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def bomb_jpeg(path, small, w, h):
    """A real small JPEG whose frame header is rewritten to claim w x h."""
    data = bytearray(small)
    i = 2
    while True:
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5:i + 9] = struct.pack(">HH", h, w)
            break
        i += 2 + length
    open(path, "wb").write(bytes(data))


def many_scans(path, img, copies):
    """A small progressive JPEG whose last scan is repeated `copies` times:
    the shape of the files that make progressive decoding quadratic."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, progressive=True)
    data = buf.getvalue()
    last = data.rindex(b"\xff\xda")
    scan = data[last:data.rindex(b"\xff\xd9")]
    open(path, "wb").write(data[:last] + scan * copies + b"\xff\xd9")


def main(out):
    stamp = os.path.join(out, ".done")
    if os.path.exists(stamp) and open(stamp).read() == VERSION:
        return
    os.makedirs(out, exist_ok=True)
    src = photos(out)
    p = lambda name: os.path.join(out, name)
    astronaut = Image.open(os.path.join(src, "astronaut.png")).convert("RGB")
    astronaut.save(p("photo.png"))
    astronaut.save(p("photo.jpg"), quality=92)
    astronaut.save(p("photo_progressive.jpg"), quality=92, progressive=True)
    astronaut.save(p("photo.webp"), quality=90)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    astronaut.save(p("icc.jpg"), quality=92, icc_profile=srgb)
    astronaut.save(p("icc.png"), icc_profile=srgb)
    Image.open(os.path.join(src, "camera.png")).convert("L").save(p("gray.jpg"), quality=92)
    Image.open(os.path.join(src, "camera.png")).convert("L").save(p("gray.png"))
    coffee = Image.open(os.path.join(src, "coffee.png")).convert("RGB")
    coffee.save(p("coffee.png"))
    coffee.convert("CMYK").save(p("cmyk.jpg"), quality=95)
    # Entropy gravity: the photo on the right of a flat canvas.
    detail = Image.new("RGB", (1000, 400), (128, 128, 128))
    detail.paste(coffee, (400, 0))
    detail.save(p("entropy.png"))
    # Alpha: the photo fading out from the centre (scikit-image's logo has
    # an alpha channel, but an opaque one).
    alpha = coffee.convert("RGBA")
    alpha.putalpha(ImageOps.invert(Image.radial_gradient("L").resize(coffee.size)))
    alpha.save(p("alpha.png"))
    png16(p("rgb16.png"), coffee)
    # Orientations: chelsea (a cat, 451x300, not symmetric) stored so that
    # applying orientation o shows it upright.
    chelsea = Image.open(os.path.join(src, "chelsea.png")).convert("RGB")
    chelsea.save(p("upright.png"))
    for o in range(1, 9):
        stored = chelsea.transpose(INVERSE[o]) if o > 1 else chelsea
        stored.save(p(f"orientation_{o}.jpg"), quality=95, exif=exif_with_orientation(o))
    # Benchmark inputs: sharp's case (2725x2225 JPEG), a 12 MP camera-sized
    # JPEG, and a PNG with alpha.
    big = mosaic(src, (2725, 2225), 4, 4)
    big.save(p("bench_2725x2225.jpg"), quality=90)
    mosaic(src, (4000, 3000), 5, 4).save(p("bench_4000x3000.jpg"), quality=90)
    alpha = mosaic(src, (1600, 1200), 3, 3).convert("RGBA")
    mask = Image.radial_gradient("L").resize((1600, 1200))
    alpha.putalpha(ImageOps.invert(mask))
    alpha.save(p("bench_alpha_1600x1200.png"))
    # Hostile inputs.
    bomb_png(p("bomb.png"), 60000, 60000)
    bomb_jpeg(p("bomb.jpg"), open(p("photo.jpg"), "rb").read(), 65000, 65000)
    many_scans(p("scans.jpg"), astronaut.resize((64, 64)), 600)
    data = open(p("photo.jpg"), "rb").read()
    open(p("truncated.jpg"), "wb").write(data[: len(data) // 2])
    data = open(p("photo.png"), "rb").read()
    open(p("truncated.png"), "wb").write(data[: len(data) // 2])
    open(stamp, "w").write(VERSION)


if __name__ == "__main__":
    main(sys.argv[1])
