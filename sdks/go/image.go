package attache

import (
	"context"
	"slices"
	"strconv"
	"strings"

	imagev1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/image/v1"
	"github.com/attache-sidecar/attache/sdks/go/gen/attache/image/v1/imagev1connect"
)

// Fit says how an image fills a width × height box (sharp's names).
type Fit string

// The fits; the empty Fit is FitCover when both dimensions are given.
const (
	FitCover   Fit = "cover"   // scale to cover the box, crop the overflow by gravity
	FitContain Fit = "contain" // scale to fit inside the box, pad to it with the background
	FitFill    Fit = "fill"    // stretch to the box, ignoring the aspect ratio
	FitInside  Fit = "inside"  // scale to fit inside; the output may be smaller than the box
	FitOutside Fit = "outside" // scale to cover; the output may be larger than the box
)

// Gravity says which part a crop keeps, and where a contained image sits.
type Gravity string

// The gravities; the empty Gravity is GravityCentre.
const (
	GravityCentre    Gravity = "centre"
	GravityNorth     Gravity = "north"
	GravityNorthEast Gravity = "northeast"
	GravityEast      Gravity = "east"
	GravitySouthEast Gravity = "southeast"
	GravitySouth     Gravity = "south"
	GravitySouthWest Gravity = "southwest"
	GravityWest      Gravity = "west"
	GravityNorthWest Gravity = "northwest"
	// GravityEntropy keeps the region with the most detail (crops only).
	GravityEntropy Gravity = "entropy"
)

// ImageFormat names an encoded image format.
type ImageFormat string

// The formats; in options, the empty ImageFormat keeps the input's.
// AVIF is not built into the sidecar: asking for it is CodeUnimplemented.
const (
	JPEG ImageFormat = "jpeg"
	PNG  ImageFormat = "png"
	WebP ImageFormat = "webp"
	AVIF ImageFormat = "avif"
)

var fits = map[Fit]imagev1.Fit{
	"": imagev1.Fit_FIT_UNSPECIFIED, FitCover: imagev1.Fit_FIT_COVER, FitContain: imagev1.Fit_FIT_CONTAIN,
	FitFill: imagev1.Fit_FIT_FILL, FitInside: imagev1.Fit_FIT_INSIDE, FitOutside: imagev1.Fit_FIT_OUTSIDE,
}

var gravities = map[Gravity]imagev1.Gravity{
	"": imagev1.Gravity_GRAVITY_UNSPECIFIED, GravityCentre: imagev1.Gravity_GRAVITY_CENTRE, "center": imagev1.Gravity_GRAVITY_CENTRE,
	GravityNorth: imagev1.Gravity_GRAVITY_NORTH, GravityNorthEast: imagev1.Gravity_GRAVITY_NORTH_EAST,
	GravityEast: imagev1.Gravity_GRAVITY_EAST, GravitySouthEast: imagev1.Gravity_GRAVITY_SOUTH_EAST,
	GravitySouth: imagev1.Gravity_GRAVITY_SOUTH, GravitySouthWest: imagev1.Gravity_GRAVITY_SOUTH_WEST,
	GravityWest: imagev1.Gravity_GRAVITY_WEST, GravityNorthWest: imagev1.Gravity_GRAVITY_NORTH_WEST,
	GravityEntropy: imagev1.Gravity_GRAVITY_ENTROPY,
}

var formats = map[ImageFormat]imagev1.Format{
	"": imagev1.Format_FORMAT_UNSPECIFIED, JPEG: imagev1.Format_FORMAT_JPEG, PNG: imagev1.Format_FORMAT_PNG,
	WebP: imagev1.Format_FORMAT_WEBP, AVIF: imagev1.Format_FORMAT_AVIF,
}

// ResizeOptions describe one output; the zero value keeps the size and
// the format.
type ResizeOptions struct {
	// Width and Height are the target box in pixels of the upright image;
	// 0 derives one from the other, keeping the aspect ratio.
	Width, Height uint32
	Fit           Fit
	Gravity       Gravity
	Format        ImageFormat
	// Quality is the JPEG and WebP quality, 1 to 100; 0 is the sidecar's
	// default (80).
	Quality uint32
	// WithoutEnlargement never scales up.
	WithoutEnlargement bool
	// Background is "#rrggbb" or "#rrggbbaa", for contain padding and for
	// flattening transparency into JPEG; empty is opaque white.
	Background string
	// Progressive JPEG, interlaced PNG.
	Progressive bool
	// KeepMetadata keeps EXIF (its orientation reset to 1); stripped by
	// default.
	KeepMetadata bool
}

// ResizedImage is one output.
type ResizedImage struct {
	Data          []byte
	Width, Height uint32
	Format        ImageFormat
	// InputBytes and OutputBytes are the sizes of the input and this output.
	InputBytes, OutputBytes uint64
}

// ImageInfo is what an image's header says.
type ImageInfo struct {
	Format ImageFormat
	// Width and Height are the stored size; UprightWidth and UprightHeight
	// the size once the orientation is applied.
	Width, Height               uint32
	Orientation                 uint32
	UprightWidth, UprightHeight uint32
	HasAlpha                    bool
	// ColorSpace is "srgb", "gray" or "cmyk".
	ColorSpace    string
	BitDepth      uint32
	Progressive   bool
	HasICCProfile bool
	HasEXIF       bool
}

// ImageClient resizes, crops and re-encodes images (JPEG, PNG, WebP) on
// the sidecar's image threads. Every call is retried on CodeUnavailable
// (the proto marks them free of side effects). An image over a limit is
// CodeResourceExhausted; bytes that are not a readable image are
// CodeInvalidArgument.
type ImageClient struct {
	c *Client
}

func newImageClient(c *Client) *ImageClient {
	return &ImageClient{c: c}
}

// pick maps an option's name to its wire value; an unknown name is
// INVALID_ARGUMENT naming the field and the names it takes.
func pick[K ~string, V any](table map[K]V, key K, field string) (V, error) {
	v, ok := table[key]
	if !ok {
		var names []string
		for k := range table {
			if k != "" && k != "center" {
				names = append(names, string(k))
			}
		}
		slices.Sort(names)
		return v, badArgument(field, "unknown value %q; use %s", string(key), strings.Join(names, ", "))
	}
	return v, nil
}

func (o ResizeOptions) proto(field string) (*imagev1.ResizeOptions, error) {
	fit, err := pick(fits, o.Fit, field+"fit")
	if err != nil {
		return nil, err
	}
	gravity, err := pick(gravities, o.Gravity, field+"gravity")
	if err != nil {
		return nil, err
	}
	format, err := pick(formats, o.Format, field+"format")
	if err != nil {
		return nil, err
	}
	return &imagev1.ResizeOptions{
		Width: o.Width, Height: o.Height, Fit: fit, Gravity: gravity, Format: format, Quality: o.Quality,
		WithoutEnlargement: o.WithoutEnlargement, Background: o.Background, Progressive: o.Progressive, KeepMetadata: o.KeepMetadata,
	}, nil
}

var formatNames = map[imagev1.Format]ImageFormat{
	imagev1.Format_FORMAT_JPEG: JPEG, imagev1.Format_FORMAT_PNG: PNG, imagev1.Format_FORMAT_WEBP: WebP, imagev1.Format_FORMAT_AVIF: AVIF,
}

func resized(r *imagev1.ResizeResponse) ResizedImage {
	return ResizedImage{
		Data: r.GetImage(), Width: r.GetWidth(), Height: r.GetHeight(), Format: formatNames[r.GetFormat()],
		InputBytes: r.GetInputBytes(), OutputBytes: r.GetOutputBytes(),
	}
}

// Resize makes one output from image (JPEG, PNG or WebP bytes).
func (i *ImageClient) Resize(ctx context.Context, image []byte, o ResizeOptions) (ResizedImage, error) {
	opts, err := o.proto("")
	if err != nil {
		return ResizedImage{}, err
	}
	reply, err := unary[imagev1.ResizeResponse](i.c, ctx, imagev1connect.ImageServiceResizeProcedure, &imagev1.ResizeRequest{
		Image: image, Width: opts.Width, Height: opts.Height, Fit: opts.Fit, Gravity: opts.Gravity, Format: opts.Format,
		Quality: opts.Quality, WithoutEnlargement: opts.WithoutEnlargement, Background: opts.Background,
		Progressive: opts.Progressive, KeepMetadata: opts.KeepMetadata,
	})
	if err != nil {
		return ResizedImage{}, err
	}
	return resized(reply), nil
}

// ResizeMany makes several outputs (a thumbnail set) from one input,
// decoded once; the results are in the order of outputs.
func (i *ImageClient) ResizeMany(ctx context.Context, image []byte, outputs ...ResizeOptions) ([]ResizedImage, error) {
	req := &imagev1.ResizeManyRequest{Image: image}
	for n, o := range outputs {
		opts, err := o.proto("outputs[" + strconv.Itoa(n) + "].")
		if err != nil {
			return nil, err
		}
		req.Outputs = append(req.Outputs, opts)
	}
	reply, err := unary[imagev1.ResizeManyResponse](i.c, ctx, imagev1connect.ImageServiceResizeManyProcedure, req)
	if err != nil {
		return nil, err
	}
	out := make([]ResizedImage, len(reply.GetOutputs()))
	for n, r := range reply.GetOutputs() {
		out[n] = resized(r)
	}
	return out, nil
}

var colorSpaces = map[imagev1.ColorSpace]string{
	imagev1.ColorSpace_COLOR_SPACE_SRGB: "srgb", imagev1.ColorSpace_COLOR_SPACE_GRAY: "gray", imagev1.ColorSpace_COLOR_SPACE_CMYK: "cmyk",
}

// Probe reads image's header (format, size, orientation, …); no pixel is
// decoded.
func (i *ImageClient) Probe(ctx context.Context, image []byte) (ImageInfo, error) {
	r, err := unary[imagev1.ProbeResponse](i.c, ctx, imagev1connect.ImageServiceProbeProcedure, &imagev1.ProbeRequest{Image: image})
	if err != nil {
		return ImageInfo{}, err
	}
	return ImageInfo{
		Format: formatNames[r.GetFormat()], Width: r.GetWidth(), Height: r.GetHeight(), Orientation: r.GetOrientation(),
		UprightWidth: r.GetUprightWidth(), UprightHeight: r.GetUprightHeight(), HasAlpha: r.GetHasAlpha(),
		ColorSpace: colorSpaces[r.GetColorSpace()], BitDepth: r.GetBitDepth(), Progressive: r.GetProgressive(),
		HasICCProfile: r.GetHasIccProfile(), HasEXIF: r.GetHasExif(),
	}, nil
}
