//! Geometry: from a source size and the caller's box, fit and gravity, the
//! size to resample to and the crop or padding that follows. Pure integer
//! arithmetic on sizes, so every fit mode is checked by unit tests.

use crate::Error;

/// How the image is fitted into a `width` × `height` box (sharp's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Scale to cover the box, then crop the overflow (by gravity).
    #[default]
    Cover,
    /// Scale to fit inside the box, then pad to it with the background.
    Contain,
    /// Stretch to exactly the box, ignoring the aspect ratio.
    Fill,
    /// Scale to fit inside the box; the output may be smaller than it.
    Inside,
    /// Scale to cover the box; the output may be larger than it.
    Outside,
}

/// Which part of the image a crop keeps, or where a `contain` image sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gravity {
    #[default]
    Centre,
    North,
    NorthEast,
    East,
    SouthEast,
    South,
    SouthWest,
    West,
    NorthWest,
    /// Keep the region with the most detail (Shannon entropy of luminance),
    /// as libvips's smartcrop `entropy`. Crops only; centre for `contain`.
    Entropy,
}

impl Gravity {
    /// Where along each axis, 0 = left/top, 1 = centre, 2 = right/bottom.
    fn anchors(self) -> (u32, u32) {
        match self {
            Gravity::Centre | Gravity::Entropy => (1, 1),
            Gravity::North => (1, 0),
            Gravity::NorthEast => (2, 0),
            Gravity::East => (2, 1),
            Gravity::SouthEast => (2, 2),
            Gravity::South => (1, 2),
            Gravity::SouthWest => (0, 2),
            Gravity::West => (0, 1),
            Gravity::NorthWest => (0, 0),
        }
    }

    /// The offset of a `inner`-long span inside an `outer`-long one.
    pub(crate) fn offset(self, outer: (u32, u32), inner: (u32, u32)) -> (u32, u32) {
        let (ax, ay) = self.anchors();
        let along = |anchor: u32, outer: u32, inner: u32| (outer.saturating_sub(inner) * anchor).div_ceil(2);
        (along(ax, outer.0, inner.0), along(ay, outer.1, inner.1))
    }
}

/// The caller's box. A zero dimension is derived from the other keeping the
/// aspect ratio; both zero keeps the source size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Geometry {
    pub width: u32,
    pub height: u32,
    pub fit: Fit,
    pub without_enlargement: bool,
}

/// What to do to an upright source image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The size to resample the whole image to.
    pub resize: (u32, u32),
    /// Then crop to this size (`cover`), by gravity.
    pub crop: Option<(u32, u32)>,
    /// Or pad to this size (`contain`), by gravity, with the background.
    pub pad: Option<(u32, u32)>,
}

impl Plan {
    pub fn output(&self) -> (u32, u32) {
        self.crop.or(self.pad).unwrap_or(self.resize)
    }
}

fn scaled(len: u32, scale: f64) -> u32 {
    ((f64::from(len) * scale).round() as u32).max(1)
}

/// Plans the resize of a `source` (upright) image into `geometry`, refusing
/// anything whose intermediate or output size exceeds `max`.
pub fn plan(source: (u32, u32), geometry: Geometry, max: (u32, u32)) -> Result<Plan, Error> {
    let (sw, sh) = source;
    let (w, h) = (geometry.width, geometry.height);
    let cap = |scale: f64| if geometry.without_enlargement { scale.min(1.0) } else { scale };
    let plan = match (w, h) {
        (0, 0) => Plan { resize: source, crop: None, pad: None },
        (w, 0) => {
            let s = cap(f64::from(w) / f64::from(sw));
            Plan { resize: (scaled(sw, s), scaled(sh, s)), crop: None, pad: None }
        }
        (0, h) => {
            let s = cap(f64::from(h) / f64::from(sh));
            Plan { resize: (scaled(sw, s), scaled(sh, s)), crop: None, pad: None }
        }
        (w, h) => {
            let (sx, sy) = (f64::from(w) / f64::from(sw), f64::from(h) / f64::from(sh));
            match geometry.fit {
                Fit::Fill => {
                    let (w, h) = if geometry.without_enlargement { (w.min(sw), h.min(sh)) } else { (w, h) };
                    Plan { resize: (w, h), crop: None, pad: None }
                }
                Fit::Cover | Fit::Outside => {
                    let s = sx.max(sy);
                    // Round, but never below the box: a cover must cover.
                    let resize = if geometry.without_enlargement && s >= 1.0 {
                        source
                    } else {
                        (scaled(sw, s).max(w), scaled(sh, s).max(h))
                    };
                    let crop = (w.min(resize.0), h.min(resize.1));
                    let crop = (geometry.fit == Fit::Cover && crop != resize).then_some(crop);
                    Plan { resize, crop, pad: None }
                }
                Fit::Contain | Fit::Inside => {
                    let s = cap(sx.min(sy));
                    let resize = (scaled(sw, s).min(w), scaled(sh, s).min(h));
                    let pad = (geometry.fit == Fit::Contain && resize != (w, h)).then_some((w, h));
                    Plan { resize, crop: None, pad }
                }
            }
        }
    };
    let biggest = (plan.resize.0.max(plan.output().0), plan.resize.1.max(plan.output().1));
    if biggest.0 > max.0 || biggest.1 > max.1 {
        return Err(Error::TooLarge(format!(
            "resizing {sw}x{sh} to fit {w}x{h} needs a {}x{} image, over the limit of {}x{} \
             (image.max_output_width, image.max_output_height)",
            biggest.0, biggest.1, max.0, max.1
        )));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: (u32, u32) = (8192, 8192);

    fn check(source: (u32, u32), width: u32, height: u32, fit: Fit, expect: ((u32, u32), (u32, u32))) {
        let geometry = Geometry { width, height, fit, without_enlargement: false };
        let p = plan(source, geometry, MAX).unwrap();
        assert_eq!((p.resize, p.output()), expect, "{source:?} -> {width}x{height} {fit:?}");
    }

    #[test]
    fn every_fit_gives_the_documented_size() {
        let src = (2725, 2225);
        check(src, 720, 588, Fit::Cover, ((720, 588), (720, 588)));
        check(src, 400, 400, Fit::Cover, ((490, 400), (400, 400)));
        check(src, 400, 400, Fit::Contain, ((400, 327), (400, 400)));
        check(src, 400, 400, Fit::Fill, ((400, 400), (400, 400)));
        check(src, 400, 400, Fit::Inside, ((400, 327), (400, 327)));
        check(src, 400, 400, Fit::Outside, ((490, 400), (490, 400)));
        // One dimension keeps the aspect ratio, whatever the fit.
        for fit in [Fit::Cover, Fit::Contain, Fit::Fill, Fit::Inside, Fit::Outside] {
            check(src, 720, 0, fit, ((720, 588), (720, 588)));
            check(src, 0, 100, fit, ((122, 100), (122, 100)));
        }
        check(src, 0, 0, Fit::Cover, (src, src));
        // Enlarging is allowed unless asked not to.
        check((100, 50), 400, 400, Fit::Cover, ((800, 400), (400, 400)));
    }

    #[test]
    fn without_enlargement_never_scales_up() {
        let g = |width, height, fit| Geometry { width, height, fit, without_enlargement: true };
        let p = plan((100, 50), g(400, 400, Fit::Cover), MAX).unwrap();
        assert_eq!((p.resize, p.output()), ((100, 50), (100, 50)));
        let p = plan((100, 50), g(400, 400, Fit::Contain), MAX).unwrap();
        assert_eq!((p.resize, p.output()), ((100, 50), (400, 400)));
        let p = plan((100, 50), g(400, 0, Fit::Inside), MAX).unwrap();
        assert_eq!(p.resize, (100, 50));
        let p = plan((100, 50), g(400, 20, Fit::Fill), MAX).unwrap();
        assert_eq!(p.resize, (100, 20));
        // Shrinking still happens.
        let p = plan((1000, 500), g(400, 400, Fit::Cover), MAX).unwrap();
        assert_eq!((p.resize, p.output()), ((800, 400), (400, 400)));
    }

    #[test]
    fn huge_intermediate_sizes_are_refused() {
        let g = Geometry { width: 1000, height: 1000, fit: Fit::Cover, without_enlargement: false };
        let err = plan((1, 10_000), g, MAX).unwrap_err();
        assert!(matches!(err, Error::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("1000x10000000"), "{err}");
        let g = Geometry { width: 9000, height: 0, fit: Fit::Cover, without_enlargement: false };
        assert!(plan((100, 100), g, MAX).is_err());
    }

    #[test]
    fn gravity_places_the_span() {
        let outer = (100, 60);
        let inner = (40, 20);
        assert_eq!(Gravity::Centre.offset(outer, inner), (30, 20));
        assert_eq!(Gravity::NorthWest.offset(outer, inner), (0, 0));
        assert_eq!(Gravity::SouthEast.offset(outer, inner), (60, 40));
        assert_eq!(Gravity::North.offset(outer, inner), (30, 0));
        assert_eq!(Gravity::West.offset(outer, inner), (0, 20));
    }
}
