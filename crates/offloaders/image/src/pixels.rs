//! Decoded pixels and what is done to them between decoder and encoder:
//! resampling, orientation, crop, padding, flattening.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::Error;

/// 8-bit interleaved pixels: 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGBA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub data: Vec<u8>,
}

impl Pixels {
    pub fn new(width: u32, height: u32, channels: u8, data: Vec<u8>) -> Self {
        debug_assert_eq!(data.len(), width as usize * height as usize * usize::from(channels));
        Self { width, height, channels, data }
    }

    pub fn has_alpha(&self) -> bool {
        self.channels == 2 || self.channels == 4
    }

    fn pixel_type(&self) -> PixelType {
        match self.channels {
            1 => PixelType::U8,
            2 => PixelType::U8x2,
            3 => PixelType::U8x3,
            _ => PixelType::U8x4,
        }
    }

    /// Resamples to `width` × `height` with Lanczos3, alpha premultiplied
    /// during the filter so transparent pixels do not bleed their colour.
    pub fn resize(&self, width: u32, height: u32) -> Result<Pixels, Error> {
        if (width, height) == (self.width, self.height) {
            return Ok(self.clone());
        }
        let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("resampling: {e}"));
        let src = ImageRef::new(self.width, self.height, &self.data, self.pixel_type()).map_err(|e| internal(&e))?;
        let mut dst = Image::new(width, height, self.pixel_type());
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
        Resizer::new().resize(&src, &mut dst, &options).map_err(|e| internal(&e))?;
        Ok(Pixels::new(width, height, self.channels, dst.into_vec()))
    }

    /// Applies an EXIF orientation (1..=8), giving upright pixels.
    pub fn orient(self, orientation: u8) -> Pixels {
        if !(2..=8).contains(&orientation) {
            return self;
        }
        let (w, h, c) = (self.width as usize, self.height as usize, usize::from(self.channels));
        let (ow, oh) = if orientation >= 5 { (h, w) } else { (w, h) };
        let mut out = vec![0; self.data.len()];
        for y in 0..oh {
            for x in 0..ow {
                // The stored pixel that lands on (x, y) once upright.
                let (sx, sy) = match orientation {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x),
                };
                let (s, d) = ((sy * w + sx) * c, (y * ow + x) * c);
                out[d..d + c].copy_from_slice(&self.data[s..s + c]);
            }
        }
        Pixels::new(ow as u32, oh as u32, self.channels, out)
    }

    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Pixels {
        let c = usize::from(self.channels);
        let row = width as usize * c;
        let mut out = Vec::with_capacity(row * height as usize);
        for line in y..y + height {
            let start = (line as usize * self.width as usize + x as usize) * c;
            out.extend_from_slice(&self.data[start..start + row]);
        }
        Pixels::new(width, height, self.channels, out)
    }

    /// Converts to RGB(A) so a colour can be painted on grey pixels.
    fn into_colour(self) -> Pixels {
        let data = match self.channels {
            1 => self.data.iter().flat_map(|&g| [g, g, g]).collect(),
            2 => self.data.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
            _ => return self,
        };
        Pixels::new(self.width, self.height, self.channels + 2, data)
    }

    fn with_alpha(self) -> Pixels {
        let data = match self.channels {
            1 => self.data.iter().flat_map(|&g| [g, 255]).collect(),
            3 => self.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
            _ => return self,
        };
        Pixels::new(self.width, self.height, self.channels + 1, data)
    }

    /// Places the image at (`x`, `y`) on a `width` × `height` canvas of
    /// `background` (RGBA), adding colour and alpha channels as needed.
    pub fn pad(self, width: u32, height: u32, x: u32, y: u32, background: [u8; 4]) -> Pixels {
        let grey = background[0] == background[1] && background[1] == background[2];
        let mut img = if grey { self } else { self.into_colour() };
        if background[3] != 255 {
            img = img.with_alpha();
        }
        let c = usize::from(img.channels);
        let fill: Vec<u8> = match c {
            1 => vec![background[0]],
            2 => vec![background[0], background[3]],
            3 => background[..3].to_vec(),
            _ => background.to_vec(),
        };
        let mut out: Vec<u8> = fill.iter().copied().cycle().take(width as usize * height as usize * c).collect();
        let row = img.width as usize * c;
        for line in 0..img.height as usize {
            let d = ((y as usize + line) * width as usize + x as usize) * c;
            out[d..d + row].copy_from_slice(&img.data[line * row..(line + 1) * row]);
        }
        Pixels::new(width, height, img.channels, out)
    }

    /// Composites onto an opaque `background`, dropping alpha (for JPEG).
    pub fn flatten(self, background: [u8; 4]) -> Pixels {
        if !self.has_alpha() {
            return self;
        }
        let grey = background[0] == background[1] && background[1] == background[2];
        let img = if grey { self } else { self.into_colour() };
        let blend = |v: u8, bg: u8, a: u8| {
            ((u32::from(v) * u32::from(a) + u32::from(bg) * (255 - u32::from(a)) + 127) / 255) as u8
        };
        let data = match img.channels {
            2 => img.data.chunks_exact(2).map(|p| blend(p[0], background[0], p[1])).collect(),
            _ => img
                .data
                .chunks_exact(4)
                .flat_map(|p| {
                    [
                        blend(p[0], background[0], p[3]),
                        blend(p[1], background[1], p[3]),
                        blend(p[2], background[2], p[3]),
                    ]
                })
                .collect(),
        };
        Pixels::new(img.width, img.height, img.channels - 1, data)
    }

    /// The crop of `width` × `height` with the most detail: like libvips's
    /// smartcrop `entropy`, repeatedly drop the slice at either end of the
    /// axis being cut whose luminance histogram has less entropy.
    pub fn entropy_crop(&self, width: u32, height: u32) -> (u32, u32) {
        let (mut left, mut right) = (0, self.width);
        let (mut top, mut bottom) = (0, self.height);
        while right - left > width {
            let slice = (right - left - width).min(8.max((right - left) / 16));
            let a = self.entropy(left, top, slice, bottom - top);
            let b = self.entropy(right - slice, top, slice, bottom - top);
            if a < b { left += slice } else { right -= slice }
        }
        while bottom - top > height {
            let slice = (bottom - top - height).min(8.max((bottom - top) / 16));
            let a = self.entropy(left, top, right - left, slice);
            let b = self.entropy(left, bottom - slice, right - left, slice);
            if a < b { top += slice } else { bottom -= slice }
        }
        (left, top)
    }

    fn entropy(&self, x: u32, y: u32, width: u32, height: u32) -> f64 {
        let c = usize::from(self.channels);
        let mut histogram = [0u32; 256];
        for line in y..y + height {
            let start = (line as usize * self.width as usize + x as usize) * c;
            for p in self.data[start..start + width as usize * c].chunks_exact(c) {
                let luma = if c >= 3 {
                    (u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8
                } else {
                    u32::from(p[0])
                };
                histogram[luma as usize] += 1;
            }
        }
        let total = f64::from(width * height);
        histogram.iter().filter(|&&n| n > 0).map(|&n| -(f64::from(n) / total) * (f64::from(n) / total).log2()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 image whose grey values are 0..6 in reading order.
    fn sample() -> Pixels {
        Pixels::new(3, 2, 1, vec![0, 1, 2, 3, 4, 5])
    }

    #[test]
    fn orientations_match_the_exif_definitions() {
        // Stored rows [0 1 2] [3 4 5]; expected upright rows per orientation.
        let cases: [(u8, (u32, u32), &[u8]); 8] = [
            (1, (3, 2), &[0, 1, 2, 3, 4, 5]),
            (2, (3, 2), &[2, 1, 0, 5, 4, 3]),
            (3, (3, 2), &[5, 4, 3, 2, 1, 0]),
            (4, (3, 2), &[3, 4, 5, 0, 1, 2]),
            (5, (2, 3), &[0, 3, 1, 4, 2, 5]),
            (6, (2, 3), &[3, 0, 4, 1, 5, 2]),
            (7, (2, 3), &[5, 2, 4, 1, 3, 0]),
            (8, (2, 3), &[2, 5, 1, 4, 0, 3]),
        ];
        for (o, size, expect) in cases {
            let p = sample().orient(o);
            assert_eq!(((p.width, p.height), p.data.as_slice()), (size, expect), "orientation {o}");
        }
    }

    #[test]
    fn crop_pad_and_flatten() {
        assert_eq!(sample().crop(1, 1, 2, 1).data, vec![4, 5]);
        let padded = sample().pad(5, 2, 1, 0, [9, 9, 9, 255]);
        assert_eq!(padded.data, vec![9, 0, 1, 2, 9, 9, 3, 4, 5, 9]);
        let coloured = Pixels::new(1, 1, 1, vec![7]).pad(2, 1, 0, 0, [255, 0, 0, 255]);
        assert_eq!(coloured.data, vec![7, 7, 7, 255, 0, 0]);
        let transparent = Pixels::new(1, 1, 3, vec![1, 2, 3]).pad(2, 1, 1, 0, [0, 0, 0, 0]);
        assert_eq!(transparent.data, vec![0, 0, 0, 0, 1, 2, 3, 255]);
        let half = Pixels::new(1, 1, 4, vec![255, 0, 0, 128]).flatten([255, 255, 255, 255]);
        assert_eq!(half.data, vec![255, 127, 127]);
    }

    #[test]
    fn entropy_crop_keeps_the_detailed_side() {
        // Flat on the left, noise on the right.
        let (w, h) = (64u32, 8u32);
        let data = (0..w * h).map(|i| if i % w < 32 { 100 } else { (i * 7919 % 251) as u8 }).collect();
        let img = Pixels::new(w, h, 1, data);
        assert_eq!(img.entropy_crop(32, 8), (32, 0));
    }

    #[test]
    fn resize_keeps_transparent_colour_out_of_the_edges() {
        // Left half opaque red, right half fully transparent green.
        let (w, h) = (16u32, 4u32);
        let data = (0..w * h).flat_map(|i| if i % w < 8 { [255, 0, 0, 255] } else { [0, 255, 0, 0] }).collect();
        let small = Pixels::new(w, h, 4, data).resize(4, 1).unwrap();
        for px in small.data.chunks_exact(4).filter(|p| p[3] > 0) {
            assert!(px[1] < 8, "green bled into a visible pixel: {px:?}");
        }
    }
}
