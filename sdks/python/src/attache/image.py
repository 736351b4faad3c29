"""Image resizing, cropping and re-encoding on the sidecar's image threads:
the process only sends bytes and receives bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, TypedDict, TypeVar, Unpack

from ._atransport import AsyncCaller
from ._gen.image.v1 import image_pb2 as pb
from ._transport import Caller
from ._wire import method
from .errors import InvalidArgument

_service = pb.DESCRIPTOR.services_by_name["ImageService"]
RESIZE = method(_service, "Resize", pb.ResizeRequest, pb.ResizeResponse)
RESIZE_MANY = method(_service, "ResizeMany", pb.ResizeManyRequest, pb.ResizeManyResponse)
PROBE = method(_service, "Probe", pb.ProbeRequest, pb.ProbeResponse)

Fit = Literal["cover", "contain", "fill", "inside", "outside"]
Gravity = Literal[
    "centre", "center", "north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest", "entropy"
]
ImageFormat = Literal["jpeg", "png", "webp", "avif"]

_FITS = {"cover": pb.FIT_COVER, "contain": pb.FIT_CONTAIN, "fill": pb.FIT_FILL, "inside": pb.FIT_INSIDE, "outside": pb.FIT_OUTSIDE}
_GRAVITIES = {
    "centre": pb.GRAVITY_CENTRE,
    "center": pb.GRAVITY_CENTRE,
    "north": pb.GRAVITY_NORTH,
    "northeast": pb.GRAVITY_NORTH_EAST,
    "east": pb.GRAVITY_EAST,
    "southeast": pb.GRAVITY_SOUTH_EAST,
    "south": pb.GRAVITY_SOUTH,
    "southwest": pb.GRAVITY_SOUTH_WEST,
    "west": pb.GRAVITY_WEST,
    "northwest": pb.GRAVITY_NORTH_WEST,
    "entropy": pb.GRAVITY_ENTROPY,
}
_FORMATS = {"jpeg": pb.FORMAT_JPEG, "png": pb.FORMAT_PNG, "webp": pb.FORMAT_WEBP, "avif": pb.FORMAT_AVIF}
_FORMAT_NAMES = {v: k for k, v in _FORMATS.items()}
_SPACES = {pb.COLOR_SPACE_SRGB: "srgb", pb.COLOR_SPACE_GRAY: "gray", pb.COLOR_SPACE_CMYK: "cmyk"}


class ResizeOptions(TypedDict, total=False):
    """One output; sharp's option names where they exist."""

    width: int
    height: int
    fit: Fit
    gravity: Gravity
    format: ImageFormat
    quality: int
    without_enlargement: bool
    background: str
    progressive: bool
    keep_metadata: bool


@dataclass(frozen=True)
class ResizedImage:
    data: bytes
    width: int
    height: int
    format: str
    input_bytes: int
    output_bytes: int


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    orientation: int
    upright_width: int
    upright_height: int
    has_alpha: bool
    color_space: str
    bit_depth: int
    progressive: bool
    has_icc_profile: bool
    has_exif: bool


E = TypeVar("E")


def _pick(table: Mapping[str, E], key: str | None, what: str, default: E) -> E:
    if key is None:
        return default
    if key not in table:
        raise InvalidArgument(f"unknown {what} {key}; use {', '.join(table)}")
    return table[key]


def _options(o: ResizeOptions) -> pb.ResizeOptions:
    unknown = set(o) - set(ResizeOptions.__annotations__)
    if unknown:
        raise InvalidArgument(f"unknown resize option {sorted(unknown)[0]}; use {', '.join(ResizeOptions.__annotations__)}")
    return pb.ResizeOptions(
        width=o.get("width", 0),
        height=o.get("height", 0),
        fit=_pick(_FITS, o.get("fit"), "fit", pb.FIT_UNSPECIFIED),
        gravity=_pick(_GRAVITIES, o.get("gravity"), "gravity", pb.GRAVITY_UNSPECIFIED),
        format=_pick(_FORMATS, o.get("format"), "format", pb.FORMAT_UNSPECIFIED),
        quality=o.get("quality", 0),
        without_enlargement=o.get("without_enlargement", False),
        background=o.get("background", ""),
        progressive=o.get("progressive", False),
        keep_metadata=o.get("keep_metadata", False),
    )


def _resize_request(image: bytes, o: ResizeOptions) -> pb.ResizeRequest:
    options = _options(o)
    request = pb.ResizeRequest(image=bytes(image))
    for field, value in options.ListFields():
        setattr(request, field.name, value)
    return request


def _result(r: pb.ResizeResponse) -> ResizedImage:
    return ResizedImage(r.image, r.width, r.height, _FORMAT_NAMES.get(r.format, "unknown"), r.input_bytes, r.output_bytes)


def _info(r: pb.ProbeResponse) -> ImageInfo:
    return ImageInfo(
        format=_FORMAT_NAMES.get(r.format, "unknown"),
        width=r.width,
        height=r.height,
        orientation=r.orientation,
        upright_width=r.upright_width,
        upright_height=r.upright_height,
        has_alpha=r.has_alpha,
        color_space=_SPACES.get(r.color_space, "unknown"),
        bit_depth=r.bit_depth,
        progressive=r.progressive,
        has_icc_profile=r.has_icc_profile,
        has_exif=r.has_exif,
    )


class ImageClient:
    """``client.image``. Every call is retried on UNAVAILABLE (free of side effects)."""

    def __init__(self, call: Caller) -> None:
        self._call = call

    def resize(self, image: bytes, *, timeout: float | None = None, **options: Unpack[ResizeOptions]) -> ResizedImage:
        """Resizes JPEG, PNG or WebP bytes, e.g. ``resize(data, width=720, fit="cover")``."""
        return _result(self._call(RESIZE, _resize_request(image, options), timeout))

    def resize_many(
        self, image: bytes, outputs: list[ResizeOptions], *, timeout: float | None = None
    ) -> list[ResizedImage]:
        """Several outputs (a thumbnail set) from one input, decoded once; results in order."""
        request = pb.ResizeManyRequest(image=bytes(image), outputs=[_options(o) for o in outputs])
        return [_result(r) for r in self._call(RESIZE_MANY, request, timeout).outputs]

    def probe(self, image: bytes, *, timeout: float | None = None) -> ImageInfo:
        """What the header says (format, size, orientation, …); no pixel is decoded."""
        return _info(self._call(PROBE, pb.ProbeRequest(image=bytes(image)), timeout))


class AsyncImageClient:
    """``AsyncClient.image``: as :class:`ImageClient`, awaitable."""

    def __init__(self, call: AsyncCaller) -> None:
        self._call = call

    async def resize(self, image: bytes, *, timeout: float | None = None, **options: Unpack[ResizeOptions]) -> ResizedImage:
        return _result(await self._call(RESIZE, _resize_request(image, options), timeout))

    async def resize_many(
        self, image: bytes, outputs: list[ResizeOptions], *, timeout: float | None = None
    ) -> list[ResizedImage]:
        request = pb.ResizeManyRequest(image=bytes(image), outputs=[_options(o) for o in outputs])
        return [_result(r) for r in (await self._call(RESIZE_MANY, request, timeout)).outputs]

    async def probe(self, image: bytes, *, timeout: float | None = None) -> ImageInfo:
        return _info(await self._call(PROBE, pb.ProbeRequest(image=bytes(image)), timeout))
