// Image resizing on the sidecar's image threads: the event loop only sends
// bytes and receives bytes. The image is field 1 of every request and goes
// to the socket uncopied (Transport.unary's `bulk`).
import {
  ColorSpace as PbColorSpace,
  Fit as PbFit,
  Format as PbFormat,
  Gravity as PbGravity,
  ImageService,
} from "../gen/attache/image/v1/image_pb.js";
import { AttacheError } from "./errors.js";
import { type CallOptions, type Defaults, withPolicy } from "./policy.js";
import type { Transport } from "./transport.js";

export type Fit = "cover" | "contain" | "fill" | "inside" | "outside";
export type Gravity =
  | "centre" | "center" | "north" | "northeast" | "east" | "southeast"
  | "south" | "southwest" | "west" | "northwest" | "entropy";
export type ImageFormat = "jpeg" | "png" | "webp" | "avif";

/** One output: sharp's option names where they exist. */
export interface ResizeOptions {
  /** Target box in pixels of the upright image; omit one to keep the aspect ratio. */
  width?: number;
  height?: number;
  /** Default `cover` when both dimensions are given. */
  fit?: Fit;
  /** Which part a crop keeps (default centre); `entropy` keeps the most detail. */
  gravity?: Gravity;
  /** Output format; default the input's. `avif` is refused (not built). */
  format?: ImageFormat;
  /** JPEG/WebP quality 1-100; default the sidecar's (80). */
  quality?: number;
  /** Never scale up. */
  withoutEnlargement?: boolean;
  /** `#rrggbb` or `#rrggbbaa` for `contain` padding and JPEG flattening; default white. */
  background?: string;
  /** Progressive JPEG, interlaced PNG. */
  progressive?: boolean;
  /** Keep EXIF (orientation reset to 1); stripped by default. */
  keepMetadata?: boolean;
}

export interface ResizedImage {
  data: Buffer;
  width: number;
  height: number;
  format: ImageFormat;
  inputBytes: number;
  outputBytes: number;
}

export interface ImageInfo {
  format: ImageFormat;
  /** Stored size; `uprightWidth`/`uprightHeight` once the orientation is applied. */
  width: number;
  height: number;
  orientation: number;
  uprightWidth: number;
  uprightHeight: number;
  hasAlpha: boolean;
  colorSpace: "srgb" | "gray" | "cmyk";
  bitDepth: number;
  progressive: boolean;
  hasIccProfile: boolean;
  hasExif: boolean;
}

const fits: Record<Fit, PbFit> = {
  cover: PbFit.COVER,
  contain: PbFit.CONTAIN,
  fill: PbFit.FILL,
  inside: PbFit.INSIDE,
  outside: PbFit.OUTSIDE,
};

const gravities: Record<Gravity, PbGravity> = {
  centre: PbGravity.CENTRE,
  center: PbGravity.CENTRE,
  north: PbGravity.NORTH,
  northeast: PbGravity.NORTH_EAST,
  east: PbGravity.EAST,
  southeast: PbGravity.SOUTH_EAST,
  south: PbGravity.SOUTH,
  southwest: PbGravity.SOUTH_WEST,
  west: PbGravity.WEST,
  northwest: PbGravity.NORTH_WEST,
  entropy: PbGravity.ENTROPY,
};

const formats: Record<ImageFormat, PbFormat> = {
  jpeg: PbFormat.JPEG,
  png: PbFormat.PNG,
  webp: PbFormat.WEBP,
  avif: PbFormat.AVIF,
};

const formatNames: Record<number, ImageFormat> = {
  [PbFormat.JPEG]: "jpeg",
  [PbFormat.PNG]: "png",
  [PbFormat.WEBP]: "webp",
  [PbFormat.AVIF]: "avif",
};

function pick<K extends string, V>(table: Record<K, V>, key: K | undefined, what: string, fallback: V): V {
  if (key === undefined) return fallback;
  if (!(key in table)) {
    throw new AttacheError(3, `unknown ${what} ${String(key)}; use ${Object.keys(table).join(", ")}`);
  }
  return table[key];
}

function toOptions(o: ResizeOptions) {
  return {
    width: o.width ?? 0,
    height: o.height ?? 0,
    fit: pick(fits, o.fit, "fit", PbFit.UNSPECIFIED),
    gravity: pick(gravities, o.gravity, "gravity", PbGravity.UNSPECIFIED),
    format: pick(formats, o.format, "format", PbFormat.UNSPECIFIED),
    quality: o.quality ?? 0,
    withoutEnlargement: o.withoutEnlargement ?? false,
    background: o.background ?? "",
    progressive: o.progressive ?? false,
    keepMetadata: o.keepMetadata ?? false,
  };
}

function toResult(r: { image: Uint8Array; width: number; height: number; format: PbFormat; inputBytes: bigint; outputBytes: bigint }): ResizedImage {
  return {
    data: Buffer.from(r.image.buffer, r.image.byteOffset, r.image.byteLength),
    width: r.width,
    height: r.height,
    format: formatNames[r.format],
    inputBytes: Number(r.inputBytes),
    outputBytes: Number(r.outputBytes),
  };
}

/** Resizing, cropping and re-encoding on the sidecar, off the event loop. */
export class ImageClient {
  constructor(
    private readonly transport: Transport,
    private readonly defaults: Defaults,
  ) {}

  /** Resizes `image` (JPEG, PNG or WebP bytes), e.g. `resize(buf, { width: 720, fit: "cover" })`. */
  async resize(image: Uint8Array, options: ResizeOptions & CallOptions = {}): Promise<ResizedImage> {
    const request = toOptions(options);
    const reply = await withPolicy(this.defaults, options, (timeoutMs) =>
      this.transport.unary(ImageService.method.resize, request, timeoutMs, options.signal, image),
    );
    return toResult(reply);
  }

  /** Several outputs (a thumbnail set) from one input, decoded once; results in order. */
  async resizeMany(image: Uint8Array, outputs: ResizeOptions[], options: CallOptions = {}): Promise<ResizedImage[]> {
    const request = { outputs: outputs.map(toOptions) };
    const reply = await withPolicy(this.defaults, options, (timeoutMs) =>
      this.transport.unary(ImageService.method.resizeMany, request, timeoutMs, options.signal, image),
    );
    return reply.outputs.map(toResult);
  }

  /** What the header says (format, size, orientation, ...); no pixel is decoded. */
  async probe(image: Uint8Array, options: CallOptions = {}): Promise<ImageInfo> {
    const r = await withPolicy(this.defaults, options, (timeoutMs) =>
      this.transport.unary(ImageService.method.probe, {}, timeoutMs, options.signal, image),
    );
    const spaces: Record<number, ImageInfo["colorSpace"]> = {
      [PbColorSpace.SRGB]: "srgb",
      [PbColorSpace.GRAY]: "gray",
      [PbColorSpace.CMYK]: "cmyk",
    };
    return {
      format: formatNames[r.format],
      width: r.width,
      height: r.height,
      orientation: r.orientation,
      uprightWidth: r.uprightWidth,
      uprightHeight: r.uprightHeight,
      hasAlpha: r.hasAlpha,
      colorSpace: spaces[r.colorSpace],
      bitDepth: r.bitDepth,
      progressive: r.progressive,
      hasIccProfile: r.hasIccProfile,
      hasExif: r.hasExif,
    };
  }
}
