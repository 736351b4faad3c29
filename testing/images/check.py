"""Compares an image attache produced with Pillow's own rendering of the
same request, for attache's tests.

  check.py psnr OUTPUT SOURCE [--size WxH] [--fit cover|contain|fill|inside]
                [--centering X,Y] [--background RRGGBB] [--flatten RRGGBB]
  check.py info OUTPUT

`psnr` decodes SOURCE with Pillow, turns it upright by its EXIF orientation,
converts CMYK and 16-bit to 8-bit RGB, resizes it as asked with Lanczos,
and prints the PSNR (dB) of OUTPUT against that over the RGB(A) channels.
`info` prints OUTPUT's format, size, mode and EXIF orientation as JSON.
"""

import argparse
import json
import math
import sys

from PIL import Image, ImageChops, ImageOps, ImageStat


def reference(args):
    img = ImageOps.exif_transpose(Image.open(args.source))
    if img.mode in ("I;16", "I;16B", "I"):
        img = img.point(lambda v: v / 257).convert("L")
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    if args.flatten:
        bg = Image.new("RGB", img.size, "#" + args.flatten)
        bg.paste(img, mask=img.getchannel("A"))
        img = bg
    if args.size:
        w, h = map(int, args.size.split("x"))
        cx, cy = map(float, args.centering.split(","))
        lanczos = Image.Resampling.LANCZOS
        if args.fit == "cover":
            img = ImageOps.fit(img, (w, h), lanczos, centering=(cx, cy))
        elif args.fit == "fill":
            img = img.resize((w, h), lanczos)
        elif args.fit == "inside":
            img = ImageOps.contain(img, (w, h), lanczos)
        elif args.fit == "contain":
            img = ImageOps.pad(img.convert("RGBA"), (w, h), lanczos, color="#" + args.background, centering=(cx, cy))
    return img


def psnr(a, b):
    mode = "RGBA" if "A" in a.mode or "A" in b.mode else "RGB"
    a, b = a.convert(mode), b.convert(mode)
    if a.size != b.size:
        sys.exit(f"size differs: {a.size} vs {b.size}")
    diff = ImageChops.difference(a, b)
    mse = sum(v * v for v in ImageStat.Stat(diff).rms) / len(mode)
    return 99.0 if mse == 0 else 10 * math.log10(255 * 255 / mse)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["psnr", "info"])
    parser.add_argument("output")
    parser.add_argument("source", nargs="?")
    parser.add_argument("--size")
    parser.add_argument("--fit", default="cover")
    parser.add_argument("--centering", default="0.5,0.5")
    parser.add_argument("--background", default="ffffff")
    parser.add_argument("--flatten")
    args = parser.parse_args()
    out = Image.open(args.output)
    if args.command == "info":
        print(json.dumps({"format": out.format, "width": out.width, "height": out.height, "mode": out.mode,
                          "orientation": out.getexif().get(0x0112), "icc": "icc_profile" in out.info}))
    else:
        print(f"{psnr(out, reference(args)):.2f}")


if __name__ == "__main__":
    main()
