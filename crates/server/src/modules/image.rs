//! `attache.image.v1.ImageService`: protobuf in, domain calls, protobuf out.

use attache_image::{ColorSpace, Fit, Format, Geometry, Gravity, Info, Options, Output, Service};
use attache_proto::attache::image::v1 as pb;
use buffa::EnumValue;
use bytes::Bytes;
use std::sync::Arc;

use attache_core::Kind;
use connectrpc::{ConnectError, RequestContext, Response, Router, ServiceRegister, ServiceRequest, ServiceResult};

use super::Context;
use crate::status::{refuse, reject};

pub(super) const NAME: &str = pb::IMAGE_SERVICE_SERVICE_NAME;
const DISABLED: &str = "the image module is disabled; set image.enabled = true to use it";

/// Registers the image RPCs. Images are bigger than anything else we take:
/// their routes admit `image.max_input_bytes`, base64-inflated for
/// Connect's JSON form, where the rest admit `server.max_request_bytes`.
pub(super) fn register(router: Router, service: Option<Service>, context: &Context<'_>) -> Router {
    let max = context.max_request_bytes;
    let image_max = service.as_ref().map_or(max, |i| {
        let input = usize::try_from(i.config().max_input_bytes.as_u64()).unwrap_or(usize::MAX);
        max.max(input.saturating_mul(4) / 3 + (1 << 20))
    });
    let limits = connectrpc::Limits::default().with_max_request_body_size(image_max).with_max_message_size(image_max);
    let router = Arc::new(Image(service)).register_service(router);
    [pb::IMAGE_SERVICE_RESIZE_SPEC, pb::IMAGE_SERVICE_RESIZE_MANY_SPEC, pb::IMAGE_SERVICE_PROBE_SPEC]
        .iter()
        .fold(router, |router, spec| router.with_route_limits(spec.procedure, limits))
}

/// The image RPCs; `None` when `image.enabled = false`.
struct Image(Option<Service>);

impl Image {
    fn service(&self) -> Result<&Service, ConnectError> {
        self.0.as_ref().ok_or_else(|| refuse(Kind::FailedPrecondition, DISABLED))
    }
}

fn fit(value: EnumValue<pb::Fit>) -> Result<Fit, ConnectError> {
    match value.as_known() {
        Some(pb::Fit::FIT_UNSPECIFIED | pb::Fit::FIT_COVER) => Ok(Fit::Cover),
        Some(pb::Fit::FIT_CONTAIN) => Ok(Fit::Contain),
        Some(pb::Fit::FIT_FILL) => Ok(Fit::Fill),
        Some(pb::Fit::FIT_INSIDE) => Ok(Fit::Inside),
        Some(pb::Fit::FIT_OUTSIDE) => Ok(Fit::Outside),
        None => Err(unknown("fit", value.to_i32(), "FIT_COVER, FIT_CONTAIN, FIT_FILL, FIT_INSIDE or FIT_OUTSIDE")),
    }
}

fn gravity(value: EnumValue<pb::Gravity>) -> Result<Gravity, ConnectError> {
    use pb::Gravity as G;
    Ok(match value.as_known() {
        Some(G::GRAVITY_UNSPECIFIED | G::GRAVITY_CENTRE) => Gravity::Centre,
        Some(G::GRAVITY_NORTH) => Gravity::North,
        Some(G::GRAVITY_NORTH_EAST) => Gravity::NorthEast,
        Some(G::GRAVITY_EAST) => Gravity::East,
        Some(G::GRAVITY_SOUTH_EAST) => Gravity::SouthEast,
        Some(G::GRAVITY_SOUTH) => Gravity::South,
        Some(G::GRAVITY_SOUTH_WEST) => Gravity::SouthWest,
        Some(G::GRAVITY_WEST) => Gravity::West,
        Some(G::GRAVITY_NORTH_WEST) => Gravity::NorthWest,
        Some(G::GRAVITY_ENTROPY) => Gravity::Entropy,
        None => return Err(unknown("gravity", value.to_i32(), "a GRAVITY_* value")),
    })
}

fn format(value: EnumValue<pb::Format>) -> Result<Option<Format>, ConnectError> {
    match value.as_known() {
        Some(pb::Format::FORMAT_UNSPECIFIED) => Ok(None),
        Some(pb::Format::FORMAT_JPEG) => Ok(Some(Format::Jpeg)),
        Some(pb::Format::FORMAT_PNG) => Ok(Some(Format::Png)),
        Some(pb::Format::FORMAT_WEBP) => Ok(Some(Format::Webp)),
        Some(pb::Format::FORMAT_AVIF) => Err(refuse(
            Kind::Unimplemented,
            "AVIF output is not built into attache (no AVIF encoder both fast and safe enough yet); \
             use FORMAT_WEBP or FORMAT_JPEG",
        )),
        None => Err(unknown("format", value.to_i32(), "FORMAT_JPEG, FORMAT_PNG or FORMAT_WEBP")),
    }
}

fn to_pb_format(format: Format) -> pb::Format {
    match format {
        Format::Jpeg => pb::Format::FORMAT_JPEG,
        Format::Png => pb::Format::FORMAT_PNG,
        Format::Webp => pb::Format::FORMAT_WEBP,
    }
}

fn unknown(field: &str, value: i32, expected: &str) -> ConnectError {
    refuse(Kind::InvalidArgument, format!("unknown {field} {value}; use {expected}"))
}

/// `#rrggbb` or `#rrggbbaa` (the `#` optional); empty is opaque white.
fn background(value: &str) -> Result<[u8; 4], ConnectError> {
    let hex = value.strip_prefix('#').unwrap_or(value);
    if hex.is_empty() {
        return Ok([255, 255, 255, 255]);
    }
    let bad = || {
        refuse(Kind::InvalidArgument, format!("background {value:?} is not a colour; use \"#rrggbb\" or \"#rrggbbaa\""))
    };
    if !(hex.len() == 6 || hex.len() == 8) || !hex.is_ascii() {
        return Err(bad());
    }
    let mut rgba = [255; 4];
    for (i, slot) in rgba.iter_mut().enumerate().take(hex.len() / 2) {
        *slot = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|_| bad())?;
    }
    Ok(rgba)
}

/// The fields every output carries, from a `ResizeRequest` or a
/// `ResizeOptions` alike.
#[allow(clippy::too_many_arguments)]
fn options(
    width: u32,
    height: u32,
    fit_value: EnumValue<pb::Fit>,
    gravity_value: EnumValue<pb::Gravity>,
    format_value: EnumValue<pb::Format>,
    quality: u32,
    without_enlargement: bool,
    background_value: &str,
    progressive: bool,
    keep_metadata: bool,
) -> Result<Options, ConnectError> {
    Ok(Options {
        geometry: Geometry { width, height, fit: fit(fit_value)?, without_enlargement },
        gravity: gravity(gravity_value)?,
        format: format(format_value)?,
        quality,
        progressive,
        keep_metadata,
        background: background(background_value)?,
    })
}

/// The image as a slice of the request's own buffer, so a large input is
/// not copied on its way to the pool; a copy only if the view were to point
/// elsewhere (`slice_ref` would panic).
fn image_bytes(body: &Bytes, image: &[u8]) -> Bytes {
    let (base, start) = (body.as_ptr() as usize, image.as_ptr() as usize);
    if start >= base && start + image.len() <= base + body.len() {
        body.slice_ref(image)
    } else {
        Bytes::copy_from_slice(image)
    }
}

fn response(output: Output, input_bytes: usize) -> pb::ResizeResponse {
    pb::ResizeResponse {
        width: output.width,
        height: output.height,
        format: to_pb_format(output.format).into(),
        input_bytes: input_bytes as u64,
        output_bytes: output.data.len() as u64,
        image: output.data,
        ..Default::default()
    }
}

fn probe_response(info: Info) -> pb::ProbeResponse {
    let (upright_width, upright_height) = info.oriented_size();
    pb::ProbeResponse {
        format: to_pb_format(info.format).into(),
        width: info.width,
        height: info.height,
        orientation: u32::from(info.orientation),
        upright_width,
        upright_height,
        has_alpha: info.has_alpha,
        color_space: match info.color_space {
            ColorSpace::Srgb => pb::ColorSpace::COLOR_SPACE_SRGB,
            ColorSpace::Gray => pb::ColorSpace::COLOR_SPACE_GRAY,
            ColorSpace::Cmyk => pb::ColorSpace::COLOR_SPACE_CMYK,
        }
        .into(),
        bit_depth: u32::from(info.bit_depth),
        progressive: info.progressive,
        has_icc_profile: info.has_icc_profile,
        has_exif: info.exif.is_some(),
        ..Default::default()
    }
}

#[allow(refining_impl_trait)]
impl pb::ImageService for Image {
    async fn resize(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::ResizeRequest>,
    ) -> ServiceResult<pb::ResizeResponse> {
        let service = self.service()?;
        let r = &*request;
        let options = options(
            r.width,
            r.height,
            r.fit,
            r.gravity,
            r.format,
            r.quality,
            r.without_enlargement,
            r.background,
            r.progressive,
            r.keep_metadata,
        )?;
        let input = image_bytes(request.bytes(), r.image);
        let input_bytes = input.len();
        let output = service.resize(input, options, ctx.deadline()).await.map_err(reject)?;
        Response::ok(response(output, input_bytes))
    }

    async fn resize_many(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::ResizeManyRequest>,
    ) -> ServiceResult<pb::ResizeManyResponse> {
        let service = self.service()?;
        let outputs = request
            .outputs
            .iter()
            .map(|o| {
                options(
                    o.width,
                    o.height,
                    o.fit,
                    o.gravity,
                    o.format,
                    o.quality,
                    o.without_enlargement,
                    o.background,
                    o.progressive,
                    o.keep_metadata,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let input = image_bytes(request.bytes(), request.image);
        let input_bytes = input.len();
        let outputs = service.resize_many(input, outputs, ctx.deadline()).await.map_err(reject)?;
        Response::ok(pb::ResizeManyResponse {
            outputs: outputs.into_iter().map(|o| response(o, input_bytes)).collect(),
            ..Default::default()
        })
    }

    async fn probe(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::ProbeRequest>,
    ) -> ServiceResult<pb::ProbeResponse> {
        let service = self.service()?;
        // Parsed on the image pool, under the request's deadline.
        let input = image_bytes(request.bytes(), request.image);
        let info = service.probe(input, ctx.deadline()).await.map_err(reject)?;
        Response::ok(probe_response(info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_shared_with_the_request_not_copied() {
        let body = Bytes::from_static(b"headerIMAGEtrailer");
        let shared = image_bytes(&body, &body[6..11]);
        assert_eq!((&shared[..], shared.as_ptr()), (&b"IMAGE"[..], body[6..].as_ptr()));
        let elsewhere = b"IMAGE".to_vec();
        assert_eq!(&image_bytes(&body, &elsewhere)[..], b"IMAGE");
        assert!(image_bytes(&body, &[]).is_empty());
    }

    #[test]
    fn background_colours_parse() {
        assert_eq!(background("").unwrap(), [255, 255, 255, 255]);
        assert_eq!(background("#102030").unwrap(), [16, 32, 48, 255]);
        assert_eq!(background("10203040").unwrap(), [16, 32, 48, 64]);
        for bad in ["#fff", "#gg0000", "#1020304", "#ééé"] {
            assert!(background(bad).is_err(), "{bad}");
        }
    }
}
