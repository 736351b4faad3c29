///Shorthand for `OwnedView<DoRequestView<'static>>`.
pub type OwnedDoRequestView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::DoRequestView<'static>,
>;
///Shorthand for `OwnedView<DoResponseView<'static>>`.
pub type OwnedDoResponseView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::DoResponseView<'static>,
>;
///Shorthand for `OwnedView<DoMultiRequestView<'static>>`.
pub type OwnedDoMultiRequestView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::DoMultiRequestView<'static>,
>;
///Shorthand for `OwnedView<DoMultiResponseView<'static>>`.
pub type OwnedDoMultiResponseView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::DoMultiResponseView<'static>,
>;
///Shorthand for `OwnedView<DoCachedRequestView<'static>>`.
pub type OwnedDoCachedRequestView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::DoCachedRequestView<'static>,
>;
///Shorthand for `OwnedView<DoCachedResponseView<'static>>`.
pub type OwnedDoCachedResponseView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::DoCachedResponseView<'static>,
>;
///Shorthand for `OwnedView<MGetCachedRequestView<'static>>`.
pub type OwnedMGetCachedRequestView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::MGetCachedRequestView<'static>,
>;
///Shorthand for `OwnedView<MGetCachedResponseView<'static>>`.
pub type OwnedMGetCachedResponseView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::MGetCachedResponseView<'static>,
>;
///Shorthand for `OwnedView<BatchRequestView<'static>>`.
pub type OwnedBatchRequestView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::BatchRequestView<'static>,
>;
///Shorthand for `OwnedView<BatchResponseView<'static>>`.
pub type OwnedBatchResponseView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::BatchResponseView<'static>,
>;
///Shorthand for `OwnedView<SubscribeRequestView<'static>>`.
pub type OwnedSubscribeRequestView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::SubscribeRequestView<'static>,
>;
///Shorthand for `OwnedView<SubscribeResponseView<'static>>`.
pub type OwnedSubscribeResponseView = ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::SubscribeResponseView<'static>,
>;
impl ::connectrpc::Encodable<crate::attache::redis::v1::DoResponse>
for crate::attache::redis::v1::__buffa::view::DoResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::DoResponse>
for ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::DoResponseView<'static>,
> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self.reborrow(), codec)
    }
    /// An `OwnedView` still holds the buffer it was decoded from, so
    /// its large fields can be handed to the response body by
    /// reference count instead of copied. The bare view impl above
    /// cannot do this: it has borrows but no buffer to name.
    fn encode_segments(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::connectrpc::EncodedBody, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body_segments(
            self.reborrow(),
            self.bytes(),
            codec,
        )
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::DoMultiResponse>
for crate::attache::redis::v1::__buffa::view::DoMultiResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::DoMultiResponse>
for ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::DoMultiResponseView<'static>,
> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self.reborrow(), codec)
    }
    /// An `OwnedView` still holds the buffer it was decoded from, so
    /// its large fields can be handed to the response body by
    /// reference count instead of copied. The bare view impl above
    /// cannot do this: it has borrows but no buffer to name.
    fn encode_segments(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::connectrpc::EncodedBody, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body_segments(
            self.reborrow(),
            self.bytes(),
            codec,
        )
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::DoCachedResponse>
for crate::attache::redis::v1::__buffa::view::DoCachedResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::DoCachedResponse>
for ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::DoCachedResponseView<'static>,
> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self.reborrow(), codec)
    }
    /// An `OwnedView` still holds the buffer it was decoded from, so
    /// its large fields can be handed to the response body by
    /// reference count instead of copied. The bare view impl above
    /// cannot do this: it has borrows but no buffer to name.
    fn encode_segments(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::connectrpc::EncodedBody, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body_segments(
            self.reborrow(),
            self.bytes(),
            codec,
        )
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::MGetCachedResponse>
for crate::attache::redis::v1::__buffa::view::MGetCachedResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::MGetCachedResponse>
for ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::MGetCachedResponseView<'static>,
> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self.reborrow(), codec)
    }
    /// An `OwnedView` still holds the buffer it was decoded from, so
    /// its large fields can be handed to the response body by
    /// reference count instead of copied. The bare view impl above
    /// cannot do this: it has borrows but no buffer to name.
    fn encode_segments(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::connectrpc::EncodedBody, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body_segments(
            self.reborrow(),
            self.bytes(),
            codec,
        )
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::BatchResponse>
for crate::attache::redis::v1::__buffa::view::BatchResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::BatchResponse>
for ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::BatchResponseView<'static>,
> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self.reborrow(), codec)
    }
    /// An `OwnedView` still holds the buffer it was decoded from, so
    /// its large fields can be handed to the response body by
    /// reference count instead of copied. The bare view impl above
    /// cannot do this: it has borrows but no buffer to name.
    fn encode_segments(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::connectrpc::EncodedBody, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body_segments(
            self.reborrow(),
            self.bytes(),
            codec,
        )
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::SubscribeResponse>
for crate::attache::redis::v1::__buffa::view::SubscribeResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::redis::v1::SubscribeResponse>
for ::buffa::view::OwnedView<
    crate::attache::redis::v1::__buffa::view::SubscribeResponseView<'static>,
> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self.reborrow(), codec)
    }
    /// An `OwnedView` still holds the buffer it was decoded from, so
    /// its large fields can be handed to the response body by
    /// reference count instead of copied. The bare view impl above
    /// cannot do this: it has borrows but no buffer to name.
    fn encode_segments(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::connectrpc::EncodedBody, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body_segments(
            self.reborrow(),
            self.bytes(),
            codec,
        )
    }
}
/// Full service name for this service.
pub const REDIS_SERVICE_SERVICE_NAME: &str = "attache.redis.v1.RedisService";
/// Static [`Spec`](::connectrpc::Spec) for the `Do` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const REDIS_SERVICE_DO_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.redis.v1.RedisService/Do",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `DoMulti` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const REDIS_SERVICE_DO_MULTI_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.redis.v1.RedisService/DoMulti",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `DoCached` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const REDIS_SERVICE_DO_CACHED_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.redis.v1.RedisService/DoCached",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::NoSideEffects);
/// Static [`Spec`](::connectrpc::Spec) for the `MGetCached` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const REDIS_SERVICE_M_GET_CACHED_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.redis.v1.RedisService/MGetCached",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::NoSideEffects);
/// Static [`Spec`](::connectrpc::Spec) for the `Batch` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const REDIS_SERVICE_BATCH_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.redis.v1.RedisService/Batch",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Subscribe` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const REDIS_SERVICE_SUBSCRIBE_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.redis.v1.RedisService/Subscribe",
        ::connectrpc::StreamType::ServerStream,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// RedisService runs Redis/Valkey commands for every app process on the host
/// over one shared set of pipelined connections, with one client-side cache
/// that the server keeps correct by invalidation (RESP3 CLIENT TRACKING).
///
/// # Implementing handlers
///
/// Implement methods with plain `async fn`; the returned future satisfies
/// the `Send` bound automatically.
///
/// **Unary and server-streaming requests** arrive as
/// [`ServiceRequest<'_, Req>`](::connectrpc::ServiceRequest): a zero-copy
/// view of the request plus its body, valid for the duration of the call.
/// Fields are read directly (`request.name` is a `&str` into the decoded
/// buffer) and the borrow may be held across `.await` points. Anything
/// that must outlive the call — `tokio::spawn`, channels, server state,
/// or data captured by a returned response stream — takes owned data:
/// call `request.to_owned_message()` (or copy the specific fields)
/// first.
///
/// **Client-streaming and bidi requests** arrive as
/// [`InboundStream<Req>`](::connectrpc::InboundStream) — a
/// `ServiceStream` of [`StreamMessage`](::connectrpc::StreamMessage)s.
/// Each item owns its decoded buffer and is `Send + 'static`, so items
/// can be buffered or moved into spawned tasks; read fields zero-copy
/// through the generated accessor methods (`item.name()`) or `.view()`,
/// convert with `.to_owned_message()`, or yield an item back unchanged —
/// `StreamMessage<M>` implements `Encodable<M>`.
///
/// Request types resolved through `extern_path` (e.g. well-known types
/// from another crate) use the same wrappers; the crate that owns the
/// type must be generated with buffa ≥ 0.9.0 and views enabled so the
/// backing `HasMessageView` impl exists.
///
/// The `impl Encodable<Out>` return bound accepts the owned `Out`, the
/// generated `OutView<'_>` / `OwnedOutView`,
/// [`MaybeBorrowed`](::connectrpc::MaybeBorrowed), or
/// [`PreEncoded`](::connectrpc::PreEncoded) for handlers that encode a
/// non-`'static` view internally and pass the bytes across the handler
/// boundary. View bodies are not emitted for output types mapped via
/// `extern_path` (the impl would be an orphan); return owned for
/// WKT/extern outputs.
///
/// Server-streaming and bidi-streaming methods return
/// `ServiceStream<impl Encodable<Out> + Send + use<Self>>`. The
/// `use<Self>` precise-capturing clause excludes `&self`'s lifetime and
/// the request's lifetime (unary methods use `use<'a, Self>` and may
/// borrow from `&self`), so stream items must be `'static` and cannot
/// borrow from the request. To stream view-encoded data, encode each
/// item inside the stream body and yield
/// [`PreEncoded`](::connectrpc::PreEncoded) — see its `# Streaming
/// example` doc.
#[allow(clippy::type_complexity)]
pub trait RedisService: Send + Sync + 'static {
    /// Do runs one command, e.g. args = \["SET", "k", "v"\], and returns its
    /// reply. A Redis error reply is returned as a Value with `error` set, not
    /// as an RPC error. Blocking commands (BLPOP, XREAD BLOCK, ...) run on
    /// dedicated connections so they never stall the shared pipeline.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn r#do<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<'_, crate::attache::redis::v1::DoRequest>,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::redis::v1::DoResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// DoMulti runs several commands in order and returns their replies in the
    /// same order. A MULTI ... EXEC sequence given in one DoMulti runs on a
    /// dedicated connection, so WATCH and the transaction see no other caller.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn do_multi<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::redis::v1::DoMultiRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::redis::v1::DoMultiResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// DoCached serves a read-only command (GET, HGET, HGETALL, SMEMBERS,
    /// ZRANGE, ...) from attache's cache, or fetches it and has the server
    /// track the key so a change anywhere invalidates the cached reply.
    /// Commands outside the cacheable allowlist are INVALID_ARGUMENT.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn do_cached<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::redis::v1::DoCachedRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::redis::v1::DoCachedResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// MGetCached reads many string keys, serving hits from the cache and
    /// fetching only the misses.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn m_get_cached<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::redis::v1::MGetCachedRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::redis::v1::MGetCachedResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// Batch runs many independent Do and DoCached calls in one RPC, each
    /// with its own result (a failed call does not fail the others). SDKs use
    /// it to auto-pipeline: calls made in the same event-loop tick travel
    /// together, so the cost of one RPC is shared by all of them.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn batch<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::redis::v1::BatchRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::redis::v1::BatchResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// Subscribe streams messages published to channels or patterns. Every app
    /// subscriber of a channel shares one Redis subscription. The first event
    /// is `subscribed`, sent once Redis has confirmed every subscription. A
    /// subscriber that falls `subscriber_queue` messages behind is ended with
    /// RESOURCE_EXHAUSTED instead of slowing the others.
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call (until the response stream is returned);
    /// message fields are read directly on it (zero-copy). Data the
    /// returned stream needs must be copied out or converted via
    /// `.to_owned_message()`.
    fn subscribe(
        &self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::redis::v1::SubscribeRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            ::connectrpc::ServiceStream<
                impl ::connectrpc::Encodable<
                    crate::attache::redis::v1::SubscribeResponse,
                > + Send + use<Self>,
            >,
        >,
    > + Send;
}
/// Extension trait for registering a service implementation with a Router.
///
/// This trait is automatically implemented for all types that implement the service trait.
/// Prefer [`Router::add_service`](::connectrpc::Router::add_service) for
/// top-down registration; `register` remains available for compatibility
/// and cases where the service-first call shape is more convenient.
///
/// # Example
///
/// ```rust,ignore
/// use std::sync::Arc;
///
/// let service = Arc::new(MyServiceImpl);
/// let router = service.register(Router::new());
/// ```
pub trait RedisServiceExt: RedisService {
    /// Register this service implementation with a Router.
    ///
    /// Takes ownership of the `Arc<Self>` and returns a new Router with
    /// this service's methods registered.
    fn register(
        self: ::std::sync::Arc<Self>,
        router: ::connectrpc::Router,
    ) -> ::connectrpc::Router;
}
impl<S: RedisService> RedisServiceExt for S {
    fn register(
        self: ::std::sync::Arc<Self>,
        router: ::connectrpc::Router,
    ) -> ::connectrpc::Router {
        router
            .route_view(
                REDIS_SERVICE_SERVICE_NAME,
                "Do",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::redis::v1::__buffa::view::DoRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::redis::v1::DoRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.r#do(ctx, sreq)
                                .await?
                                .encode::<crate::attache::redis::v1::DoResponse>(format)
                        }
                    })
                },
            )
            .with_spec(REDIS_SERVICE_DO_SPEC)
            .route_view(
                REDIS_SERVICE_SERVICE_NAME,
                "DoMulti",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::redis::v1::__buffa::view::DoMultiRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::redis::v1::DoMultiRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.do_multi(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::redis::v1::DoMultiResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(REDIS_SERVICE_DO_MULTI_SPEC)
            .route_view_idempotent(
                REDIS_SERVICE_SERVICE_NAME,
                "DoCached",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::redis::v1::__buffa::view::DoCachedRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::redis::v1::DoCachedRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.do_cached(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::redis::v1::DoCachedResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(REDIS_SERVICE_DO_CACHED_SPEC)
            .route_view_idempotent(
                REDIS_SERVICE_SERVICE_NAME,
                "MGetCached",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::redis::v1::__buffa::view::MGetCachedRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::redis::v1::MGetCachedRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.m_get_cached(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::redis::v1::MGetCachedResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(REDIS_SERVICE_M_GET_CACHED_SPEC)
            .route_view(
                REDIS_SERVICE_SERVICE_NAME,
                "Batch",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::redis::v1::__buffa::view::BatchRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::redis::v1::BatchRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.batch(ctx, sreq)
                                .await?
                                .encode::<crate::attache::redis::v1::BatchResponse>(format)
                        }
                    })
                },
            )
            .with_spec(REDIS_SERVICE_BATCH_SPEC)
            .route_view_server_stream::<
                _,
                _,
                crate::attache::redis::v1::SubscribeResponse,
            >(
                REDIS_SERVICE_SERVICE_NAME,
                "Subscribe",
                ::connectrpc::view_streaming_handler_fn({
                    let svc = ::std::sync::Arc::clone(&self);
                    move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::redis::v1::__buffa::view::SubscribeRequestView<
                                'static,
                            >,
                        >|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::redis::v1::SubscribeRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.subscribe(ctx, sreq).await
                        }
                    }
                }),
            )
            .with_spec(REDIS_SERVICE_SUBSCRIBE_SPEC)
    }
}
/// Type-inference marker used by [`Router::add_service`](::connectrpc::Router::add_service).
#[doc(hidden)]
pub struct RedisServiceRegisterMarker;
impl<S: RedisService> ::connectrpc::ServiceRegister<RedisServiceRegisterMarker>
for ::std::sync::Arc<S> {
    fn register_service(self, router: ::connectrpc::Router) -> ::connectrpc::Router {
        <S as RedisServiceExt>::register(self, router)
    }
}
/// Monomorphic dispatcher for `RedisService`.
///
/// Unlike `.register(Router)` which type-erases each method into an `Arc<dyn ErasedHandler>` stored in a `HashMap`, this struct dispatches via a compile-time `match` on method name: no vtable, no hash lookup.
///
/// # Example
///
/// ```rust,ignore
/// use connectrpc::ConnectRpcService;
///
/// let server = RedisServiceServer::new(MyImpl);
/// let service = ConnectRpcService::new(server);
/// // hand `service` to axum/hyper as a fallback_service
/// ```
pub struct RedisServiceServer<T> {
    inner: ::std::sync::Arc<T>,
}
impl<T: RedisService> RedisServiceServer<T> {
    /// Wrap a service implementation in a monomorphic dispatcher.
    pub fn new(service: T) -> Self {
        Self {
            inner: ::std::sync::Arc::new(service),
        }
    }
    /// Wrap an already-`Arc`'d service implementation.
    pub fn from_arc(inner: ::std::sync::Arc<T>) -> Self {
        Self { inner }
    }
}
impl<T> Clone for RedisServiceServer<T> {
    fn clone(&self) -> Self {
        Self {
            inner: ::std::sync::Arc::clone(&self.inner),
        }
    }
}
impl<T: RedisService> ::connectrpc::Dispatcher for RedisServiceServer<T> {
    #[inline]
    fn lookup(
        &self,
        path: &str,
    ) -> Option<::connectrpc::dispatcher::codegen::MethodDescriptor> {
        let method = path.strip_prefix("attache.redis.v1.RedisService/")?;
        match method {
            "Do" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(REDIS_SERVICE_DO_SPEC),
                )
            }
            "DoMulti" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(REDIS_SERVICE_DO_MULTI_SPEC),
                )
            }
            "DoCached" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(true)
                        .with_spec(REDIS_SERVICE_DO_CACHED_SPEC),
                )
            }
            "MGetCached" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(true)
                        .with_spec(REDIS_SERVICE_M_GET_CACHED_SPEC),
                )
            }
            "Batch" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(REDIS_SERVICE_BATCH_SPEC),
                )
            }
            "Subscribe" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::server_streaming()
                        .with_spec(REDIS_SERVICE_SUBSCRIBE_SPEC),
                )
            }
            _ => None,
        }
    }
    fn call_unary(
        &self,
        path: &str,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::Payload,
        format: ::connectrpc::CodecFormat,
    ) -> ::connectrpc::dispatcher::codegen::UnaryResult {
        let Some(method) = path.strip_prefix("attache.redis.v1.RedisService/") else {
            return ::connectrpc::dispatcher::codegen::unimplemented_unary(path);
        };
        let _ = (&ctx, &request, &format);
        match method {
            "Do" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::redis::v1::DoRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::redis::v1::__buffa::view::DoRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::redis::v1::DoRequest,
                    >::from_parts(&req, &body);
                    svc.r#do(ctx, req)
                        .await?
                        .encode::<crate::attache::redis::v1::DoResponse>(format)
                })
            }
            "DoMulti" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::redis::v1::DoMultiRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::redis::v1::__buffa::view::DoMultiRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::redis::v1::DoMultiRequest,
                    >::from_parts(&req, &body);
                    svc.do_multi(ctx, req)
                        .await?
                        .encode::<crate::attache::redis::v1::DoMultiResponse>(format)
                })
            }
            "DoCached" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::redis::v1::DoCachedRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::redis::v1::__buffa::view::DoCachedRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::redis::v1::DoCachedRequest,
                    >::from_parts(&req, &body);
                    svc.do_cached(ctx, req)
                        .await?
                        .encode::<crate::attache::redis::v1::DoCachedResponse>(format)
                })
            }
            "MGetCached" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::redis::v1::MGetCachedRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::redis::v1::__buffa::view::MGetCachedRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::redis::v1::MGetCachedRequest,
                    >::from_parts(&req, &body);
                    svc.m_get_cached(ctx, req)
                        .await?
                        .encode::<crate::attache::redis::v1::MGetCachedResponse>(format)
                })
            }
            "Batch" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::redis::v1::BatchRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::redis::v1::__buffa::view::BatchRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::redis::v1::BatchRequest,
                    >::from_parts(&req, &body);
                    svc.batch(ctx, req)
                        .await?
                        .encode::<crate::attache::redis::v1::BatchResponse>(format)
                })
            }
            _ => ::connectrpc::dispatcher::codegen::unimplemented_unary(path),
        }
    }
    fn call_server_streaming(
        &self,
        path: &str,
        ctx: ::connectrpc::RequestContext,
        request: ::buffa::bytes::Bytes,
        format: ::connectrpc::CodecFormat,
    ) -> ::connectrpc::dispatcher::codegen::StreamingResult {
        let Some(method) = path.strip_prefix("attache.redis.v1.RedisService/") else {
            return ::connectrpc::dispatcher::codegen::unimplemented_streaming(path);
        };
        let _ = (&ctx, &request, &format);
        match method {
            "Subscribe" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::redis::v1::SubscribeRequest,
                    >(request, format)?;
                    let req: crate::attache::redis::v1::__buffa::view::SubscribeRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::redis::v1::SubscribeRequest,
                    >::from_parts(&req, &body);
                    let resp = svc.subscribe(ctx, req).await?;
                    Ok(
                        resp
                            .map_body(|s| ::connectrpc::dispatcher::codegen::encode_response_stream::<
                                crate::attache::redis::v1::SubscribeResponse,
                                _,
                                _,
                            >(s, format)),
                    )
                })
            }
            _ => ::connectrpc::dispatcher::codegen::unimplemented_streaming(path),
        }
    }
    fn call_client_streaming(
        &self,
        path: &str,
        ctx: ::connectrpc::RequestContext,
        requests: ::connectrpc::dispatcher::codegen::RequestStream,
        format: ::connectrpc::CodecFormat,
    ) -> ::connectrpc::dispatcher::codegen::UnaryResult {
        let Some(method) = path.strip_prefix("attache.redis.v1.RedisService/") else {
            return ::connectrpc::dispatcher::codegen::unimplemented_unary(path);
        };
        let _ = (&ctx, &requests, &format);
        match method {
            _ => ::connectrpc::dispatcher::codegen::unimplemented_unary(path),
        }
    }
    fn call_bidi_streaming(
        &self,
        path: &str,
        ctx: ::connectrpc::RequestContext,
        requests: ::connectrpc::dispatcher::codegen::RequestStream,
        format: ::connectrpc::CodecFormat,
    ) -> ::connectrpc::dispatcher::codegen::StreamingResult {
        let Some(method) = path.strip_prefix("attache.redis.v1.RedisService/") else {
            return ::connectrpc::dispatcher::codegen::unimplemented_streaming(path);
        };
        let _ = (&ctx, &requests, &format);
        match method {
            _ => ::connectrpc::dispatcher::codegen::unimplemented_streaming(path),
        }
    }
}
/// Client for this service.
///
/// Generic over `T: ClientTransport`. For **gRPC** (HTTP/2), use
/// `Http2Connection` — it has honest `poll_ready` and composes with
/// `tower::balance` for multi-connection load balancing. For **Connect
/// over HTTP/1.1** (or unknown protocol), use `HttpClient`.
///
/// # Example (gRPC / HTTP/2)
///
/// ```rust,ignore
/// use connectrpc::client::{Http2Connection, ClientConfig};
/// use connectrpc::Protocol;
///
/// let uri: http::Uri = "http://localhost:8080".parse()?;
/// let conn = Http2Connection::connect_plaintext(uri.clone()).await?.shared(1024);
/// let config = ClientConfig::new(uri).with_protocol(Protocol::Grpc);
///
/// let client = RedisServiceClient::new(conn, config);
/// let response = client.r#do(request).await?;
/// ```
///
/// # Example (Connect / HTTP/1.1 or ALPN)
///
/// ```rust,ignore
/// use connectrpc::client::{HttpClient, ClientConfig};
///
/// let http = HttpClient::plaintext();  // cleartext http:// only
/// let config = ClientConfig::new("http://localhost:8080".parse()?);
///
/// let client = RedisServiceClient::new(http, config);
/// let response = client.r#do(request).await?;
/// ```
///
/// # Working with the response
///
/// Unary calls return [`UnaryResponse<OwnedView<FooView>>`](::connectrpc::client::UnaryResponse).
/// [`view()`](::connectrpc::client::UnaryResponse::view) borrows the response
/// message, so field access is zero-copy:
///
/// ```rust,ignore
/// let resp = client.r#do(request).await?;
/// let name: &str = resp.view().name;  // borrow into the response buffer
/// ```
///
/// If you need the owned struct (e.g. to store or pass by value), use
/// [`into_owned()`](::connectrpc::client::UnaryResponse::into_owned):
///
/// ```rust,ignore
/// let owned = client.r#do(request).await?.into_owned();
/// ```
///
/// [`into_view()`](::connectrpc::client::UnaryResponse::into_view) keeps the
/// zero-copy decoded body (an `OwnedView`) without copying; field access on it
/// goes through `.reborrow()`. Streaming responses yield one
/// [`StreamMessage`](::connectrpc::StreamMessage) per received message from
/// `.message().await` — read fields zero-copy through the generated accessor
/// methods (`msg.name()`) or `.view()`, or convert with `.to_owned_message()`.
#[derive(Clone)]
pub struct RedisServiceClient<T> {
    transport: T,
    config: ::connectrpc::client::ClientConfig,
}
impl<T> RedisServiceClient<T>
where
    T: ::connectrpc::client::ClientTransport,
    <T::ResponseBody as ::connectrpc::http_body::Body>::Error: ::std::fmt::Display,
{
    /// Create a new client with the given transport and configuration.
    pub fn new(transport: T, config: ::connectrpc::client::ClientConfig) -> Self {
        Self { transport, config }
    }
    /// Get the client configuration.
    pub fn config(&self) -> &::connectrpc::client::ClientConfig {
        &self.config
    }
    /// Get a mutable reference to the client configuration.
    pub fn config_mut(&mut self) -> &mut ::connectrpc::client::ClientConfig {
        &mut self.config
    }
    /// Call the Do RPC. Sends a request to /attache.redis.v1.RedisService/Do.
    pub async fn r#do(
        &self,
        request: crate::attache::redis::v1::DoRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::DoResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.do_with_options(request, ::connectrpc::client::CallOptions::default()).await
    }
    /// Call the Do RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn do_with_options(
        &self,
        request: crate::attache::redis::v1::DoRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::DoResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                REDIS_SERVICE_DO_SPEC.with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the DoMulti RPC. Sends a request to /attache.redis.v1.RedisService/DoMulti.
    pub async fn do_multi(
        &self,
        request: crate::attache::redis::v1::DoMultiRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::DoMultiResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.do_multi_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the DoMulti RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn do_multi_with_options(
        &self,
        request: crate::attache::redis::v1::DoMultiRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::DoMultiResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                REDIS_SERVICE_DO_MULTI_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the DoCached RPC. Sends a request to /attache.redis.v1.RedisService/DoCached.
    pub async fn do_cached(
        &self,
        request: crate::attache::redis::v1::DoCachedRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::DoCachedResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.do_cached_with_options(
                request,
                ::connectrpc::client::CallOptions::default(),
            )
            .await
    }
    /// Call the DoCached RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn do_cached_with_options(
        &self,
        request: crate::attache::redis::v1::DoCachedRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::DoCachedResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                REDIS_SERVICE_DO_CACHED_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the MGetCached RPC. Sends a request to /attache.redis.v1.RedisService/MGetCached.
    pub async fn m_get_cached(
        &self,
        request: crate::attache::redis::v1::MGetCachedRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::MGetCachedResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.m_get_cached_with_options(
                request,
                ::connectrpc::client::CallOptions::default(),
            )
            .await
    }
    /// Call the MGetCached RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn m_get_cached_with_options(
        &self,
        request: crate::attache::redis::v1::MGetCachedRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::MGetCachedResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                REDIS_SERVICE_M_GET_CACHED_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the Batch RPC. Sends a request to /attache.redis.v1.RedisService/Batch.
    pub async fn batch(
        &self,
        request: crate::attache::redis::v1::BatchRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::BatchResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.batch_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the Batch RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn batch_with_options(
        &self,
        request: crate::attache::redis::v1::BatchRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::redis::v1::__buffa::view::BatchResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                REDIS_SERVICE_BATCH_SPEC.with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the Subscribe RPC. Sends a request to /attache.redis.v1.RedisService/Subscribe.
    pub async fn subscribe(
        &self,
        request: crate::attache::redis::v1::SubscribeRequest,
    ) -> Result<
        ::connectrpc::client::ServerStream<
            T::ResponseBody,
            crate::attache::redis::v1::__buffa::view::SubscribeResponseView<'static>,
        >,
        ::connectrpc::ConnectError,
    > {
        self.subscribe_with_options(
                request,
                ::connectrpc::client::CallOptions::default(),
            )
            .await
    }
    /// Call the Subscribe RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn subscribe_with_options(
        &self,
        request: crate::attache::redis::v1::SubscribeRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::ServerStream<
            T::ResponseBody,
            crate::attache::redis::v1::__buffa::view::SubscribeResponseView<'static>,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_server_stream(
                &self.transport,
                &self.config,
                REDIS_SERVICE_SUBSCRIBE_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
}
