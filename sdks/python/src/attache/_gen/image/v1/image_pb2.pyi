from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Fit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIT_UNSPECIFIED: _ClassVar[Fit]
    FIT_COVER: _ClassVar[Fit]
    FIT_CONTAIN: _ClassVar[Fit]
    FIT_FILL: _ClassVar[Fit]
    FIT_INSIDE: _ClassVar[Fit]
    FIT_OUTSIDE: _ClassVar[Fit]

class Gravity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRAVITY_UNSPECIFIED: _ClassVar[Gravity]
    GRAVITY_CENTRE: _ClassVar[Gravity]
    GRAVITY_NORTH: _ClassVar[Gravity]
    GRAVITY_NORTH_EAST: _ClassVar[Gravity]
    GRAVITY_EAST: _ClassVar[Gravity]
    GRAVITY_SOUTH_EAST: _ClassVar[Gravity]
    GRAVITY_SOUTH: _ClassVar[Gravity]
    GRAVITY_SOUTH_WEST: _ClassVar[Gravity]
    GRAVITY_WEST: _ClassVar[Gravity]
    GRAVITY_NORTH_WEST: _ClassVar[Gravity]
    GRAVITY_ENTROPY: _ClassVar[Gravity]

class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FORMAT_UNSPECIFIED: _ClassVar[Format]
    FORMAT_JPEG: _ClassVar[Format]
    FORMAT_PNG: _ClassVar[Format]
    FORMAT_WEBP: _ClassVar[Format]
    FORMAT_AVIF: _ClassVar[Format]

class ColorSpace(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLOR_SPACE_UNSPECIFIED: _ClassVar[ColorSpace]
    COLOR_SPACE_SRGB: _ClassVar[ColorSpace]
    COLOR_SPACE_GRAY: _ClassVar[ColorSpace]
    COLOR_SPACE_CMYK: _ClassVar[ColorSpace]
FIT_UNSPECIFIED: Fit
FIT_COVER: Fit
FIT_CONTAIN: Fit
FIT_FILL: Fit
FIT_INSIDE: Fit
FIT_OUTSIDE: Fit
GRAVITY_UNSPECIFIED: Gravity
GRAVITY_CENTRE: Gravity
GRAVITY_NORTH: Gravity
GRAVITY_NORTH_EAST: Gravity
GRAVITY_EAST: Gravity
GRAVITY_SOUTH_EAST: Gravity
GRAVITY_SOUTH: Gravity
GRAVITY_SOUTH_WEST: Gravity
GRAVITY_WEST: Gravity
GRAVITY_NORTH_WEST: Gravity
GRAVITY_ENTROPY: Gravity
FORMAT_UNSPECIFIED: Format
FORMAT_JPEG: Format
FORMAT_PNG: Format
FORMAT_WEBP: Format
FORMAT_AVIF: Format
COLOR_SPACE_UNSPECIFIED: ColorSpace
COLOR_SPACE_SRGB: ColorSpace
COLOR_SPACE_GRAY: ColorSpace
COLOR_SPACE_CMYK: ColorSpace

class ResizeRequest(_message.Message):
    __slots__ = ("image", "width", "height", "fit", "gravity", "format", "quality", "without_enlargement", "background", "progressive", "keep_metadata")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FIT_FIELD_NUMBER: _ClassVar[int]
    GRAVITY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_ENLARGEMENT_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    PROGRESSIVE_FIELD_NUMBER: _ClassVar[int]
    KEEP_METADATA_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    width: int
    height: int
    fit: Fit
    gravity: Gravity
    format: Format
    quality: int
    without_enlargement: bool
    background: str
    progressive: bool
    keep_metadata: bool
    def __init__(self, image: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fit: _Optional[_Union[Fit, str]] = ..., gravity: _Optional[_Union[Gravity, str]] = ..., format: _Optional[_Union[Format, str]] = ..., quality: _Optional[int] = ..., without_enlargement: _Optional[bool] = ..., background: _Optional[str] = ..., progressive: _Optional[bool] = ..., keep_metadata: _Optional[bool] = ...) -> None: ...

class ResizeResponse(_message.Message):
    __slots__ = ("image", "width", "height", "format", "input_bytes", "output_bytes")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    INPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    width: int
    height: int
    format: Format
    input_bytes: int
    output_bytes: int
    def __init__(self, image: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., format: _Optional[_Union[Format, str]] = ..., input_bytes: _Optional[int] = ..., output_bytes: _Optional[int] = ...) -> None: ...

class ResizeOptions(_message.Message):
    __slots__ = ("width", "height", "fit", "gravity", "format", "quality", "without_enlargement", "background", "progressive", "keep_metadata")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FIT_FIELD_NUMBER: _ClassVar[int]
    GRAVITY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_ENLARGEMENT_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    PROGRESSIVE_FIELD_NUMBER: _ClassVar[int]
    KEEP_METADATA_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    fit: Fit
    gravity: Gravity
    format: Format
    quality: int
    without_enlargement: bool
    background: str
    progressive: bool
    keep_metadata: bool
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., fit: _Optional[_Union[Fit, str]] = ..., gravity: _Optional[_Union[Gravity, str]] = ..., format: _Optional[_Union[Format, str]] = ..., quality: _Optional[int] = ..., without_enlargement: _Optional[bool] = ..., background: _Optional[str] = ..., progressive: _Optional[bool] = ..., keep_metadata: _Optional[bool] = ...) -> None: ...

class ResizeManyRequest(_message.Message):
    __slots__ = ("image", "outputs")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    outputs: _containers.RepeatedCompositeFieldContainer[ResizeOptions]
    def __init__(self, image: _Optional[bytes] = ..., outputs: _Optional[_Iterable[_Union[ResizeOptions, _Mapping]]] = ...) -> None: ...

class ResizeManyResponse(_message.Message):
    __slots__ = ("outputs",)
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[ResizeResponse]
    def __init__(self, outputs: _Optional[_Iterable[_Union[ResizeResponse, _Mapping]]] = ...) -> None: ...

class ProbeRequest(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    def __init__(self, image: _Optional[bytes] = ...) -> None: ...

class ProbeResponse(_message.Message):
    __slots__ = ("format", "width", "height", "orientation", "upright_width", "upright_height", "has_alpha", "color_space", "bit_depth", "progressive", "has_icc_profile", "has_exif")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ORIENTATION_FIELD_NUMBER: _ClassVar[int]
    UPRIGHT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    UPRIGHT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    HAS_ALPHA_FIELD_NUMBER: _ClassVar[int]
    COLOR_SPACE_FIELD_NUMBER: _ClassVar[int]
    BIT_DEPTH_FIELD_NUMBER: _ClassVar[int]
    PROGRESSIVE_FIELD_NUMBER: _ClassVar[int]
    HAS_ICC_PROFILE_FIELD_NUMBER: _ClassVar[int]
    HAS_EXIF_FIELD_NUMBER: _ClassVar[int]
    format: Format
    width: int
    height: int
    orientation: int
    upright_width: int
    upright_height: int
    has_alpha: bool
    color_space: ColorSpace
    bit_depth: int
    progressive: bool
    has_icc_profile: bool
    has_exif: bool
    def __init__(self, format: _Optional[_Union[Format, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., orientation: _Optional[int] = ..., upright_width: _Optional[int] = ..., upright_height: _Optional[int] = ..., has_alpha: _Optional[bool] = ..., color_space: _Optional[_Union[ColorSpace, str]] = ..., bit_depth: _Optional[int] = ..., progressive: _Optional[bool] = ..., has_icc_profile: _Optional[bool] = ..., has_exif: _Optional[bool] = ...) -> None: ...
