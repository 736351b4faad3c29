"""Small test images made here (PNG written by hand, no imaging library)."""

from __future__ import annotations

import struct
import zlib


def png(width: int, height: int, alpha: bool = False) -> bytes:
    """A gradient PNG of ``width`` x ``height`` (RGB or RGBA, 8 bits)."""
    channels = 4 if alpha else 3
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            pixel = [x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), 128]
            if alpha:
                pixel.append(200)
            rows += bytes(pixel)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")
