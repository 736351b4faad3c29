package attache_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

// photo is a w×h gradient (noisy if noisy), encoded as format.
func photo(t *testing.T, w, h int, format string, noisy bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(x * 255 / max(1, w-1)), uint8(y * 255 / max(1, h-1)), 128, 255}
			if noisy {
				c = color.NRGBA{uint8(rand.IntN(256)), uint8(rand.IntN(256)), uint8(rand.IntN(256)), 255}
			}
			if format == "png-alpha" {
				c.A = uint8(x % 256)
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	var err error
	if format == "jpeg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decoded is Go's own reading of an output: the independent check.
func decoded(t *testing.T, data []byte) (string, int, int) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the output does not decode: %v", err)
	}
	return format, cfg.Width, cfg.Height
}

func TestImageResize(t *testing.T) {
	ctx := context.Background()
	src := photo(t, 400, 300, "jpeg", false)
	out := must[attache.ResizedImage](t)(client.Image.Resize(ctx, src, attache.ResizeOptions{Width: 100, Height: 100, Fit: attache.FitCover}))
	equal(t, [3]any{out.Width, out.Height, out.Format}, [3]any{uint32(100), uint32(100), attache.JPEG}, "cover")
	format, w, h := decoded(t, out.Data)
	equal(t, [3]any{format, w, h}, [3]any{"jpeg", 100, 100}, "decoded output")
	equal(t, out.InputBytes, uint64(len(src)), "input bytes")
	equal(t, out.OutputBytes, uint64(len(out.Data)), "output bytes")

	// One dimension keeps the aspect ratio; inside never exceeds the box.
	out = must[attache.ResizedImage](t)(client.Image.Resize(ctx, src, attache.ResizeOptions{Width: 200, Format: attache.PNG}))
	format, w, h = decoded(t, out.Data)
	equal(t, [3]any{format, w, h}, [3]any{"png", 200, 150}, "width only, to PNG")
	out = must[attache.ResizedImage](t)(client.Image.Resize(ctx, src, attache.ResizeOptions{Width: 100, Height: 100, Fit: attache.FitInside}))
	equal(t, [2]uint32{out.Width, out.Height}, [2]uint32{100, 75}, "inside")
	out = must[attache.ResizedImage](t)(client.Image.Resize(ctx, src, attache.ResizeOptions{Width: 800, WithoutEnlargement: true}))
	equal(t, [2]uint32{out.Width, out.Height}, [2]uint32{400, 300}, "without enlargement")
	out = must[attache.ResizedImage](t)(client.Image.Resize(ctx, src, attache.ResizeOptions{Width: 64, Format: attache.WebP, Quality: 50}))
	if string(out.Data[:4]) != "RIFF" || string(out.Data[8:12]) != "WEBP" || out.Format != attache.WebP {
		t.Fatalf("not a WebP: % x", out.Data[:12])
	}
	// Transparency flattened onto the background for JPEG.
	alpha := photo(t, 50, 50, "png-alpha", false)
	out = must[attache.ResizedImage](t)(client.Image.Resize(ctx, alpha, attache.ResizeOptions{Format: attache.JPEG, Background: "#ff0000"}))
	format, w, h = decoded(t, out.Data)
	equal(t, [3]any{format, w, h}, [3]any{"jpeg", 50, 50}, "flattened")
}

func TestImageResizeManyAndProbe(t *testing.T) {
	ctx := context.Background()
	src := photo(t, 300, 200, "jpeg", false)
	outs := must[[]attache.ResizedImage](t)(client.Image.ResizeMany(ctx, src,
		attache.ResizeOptions{Width: 150},
		attache.ResizeOptions{Width: 64, Height: 64, Format: attache.PNG, Gravity: attache.GravityEntropy},
	))
	equal(t, len(outs), 2, "outputs")
	equal(t, [3]any{outs[0].Width, outs[0].Height, outs[0].Format}, [3]any{uint32(150), uint32(100), attache.JPEG}, "first")
	equal(t, [3]any{outs[1].Width, outs[1].Height, outs[1].Format}, [3]any{uint32(64), uint32(64), attache.PNG}, "second")

	info := must[attache.ImageInfo](t)(client.Image.Probe(ctx, photo(t, 30, 20, "png-alpha", false)))
	equal(t, info.Format, attache.PNG, "format")
	equal(t, [4]uint32{info.Width, info.Height, info.UprightWidth, info.UprightHeight}, [4]uint32{30, 20, 30, 20}, "size")
	equal(t, info.HasAlpha, true, "alpha")
	equal(t, info.ColorSpace, "srgb", "colour space")
	equal(t, info.BitDepth, uint32(8), "bit depth")
	equal(t, info.Orientation, uint32(1), "orientation")
}

func TestImageErrors(t *testing.T) {
	_, c := newSidecar(t, map[string]string{"ATTACHE_IMAGE_MAX_INPUT_BYTES": "100 KiB", "ATTACHE_IMAGE_MAX_SOURCE_PIXELS": "1000000"})
	ctx := context.Background()
	bomb := photo(t, 2000, 2000, "png", false)
	_, err := c.Image.Resize(ctx, bomb, attache.ResizeOptions{Width: 10})
	wantCode(t, err, attache.CodeResourceExhausted, "max_source_pixels")
	big := photo(t, 300, 300, "png", true)
	_, err = c.Image.Resize(ctx, big, attache.ResizeOptions{Width: 10})
	wantCode(t, err, attache.CodeResourceExhausted, "max_input_bytes")
	_, err = c.Image.Resize(ctx, []byte("nope"), attache.ResizeOptions{Width: 10})
	wantCode(t, err, attache.CodeInvalidArgument)
	_, err = c.Image.Probe(ctx, []byte("nope"))
	wantCode(t, err, attache.CodeInvalidArgument)
	small := photo(t, 20, 20, "png", false)
	_, err = c.Image.Resize(ctx, small, attache.ResizeOptions{Format: attache.AVIF})
	wantCode(t, err, attache.CodeUnimplemented)
	_, err = c.Image.Resize(ctx, small, attache.ResizeOptions{Fit: "squash"})
	wantCode(t, err, attache.CodeInvalidArgument, "fit", "squash", "contain")
	_, err = c.Image.ResizeMany(ctx, small, attache.ResizeOptions{}, attache.ResizeOptions{Gravity: "up"})
	wantCode(t, err, attache.CodeInvalidArgument, "outputs[1].gravity")
	_, err = c.Image.Resize(ctx, small, attache.ResizeOptions{Width: 10, Background: "red"})
	wantCode(t, err, attache.CodeInvalidArgument, "background")
}

func TestImageModuleDisabled(t *testing.T) {
	_, c := newSidecar(t, map[string]string{"ATTACHE_IMAGE_ENABLED": "false"})
	_, err := c.Image.Probe(context.Background(), []byte("x"))
	wantCode(t, err, attache.CodeFailedPrecondition)
}
