///Shorthand for `OwnedView<ProduceRequestView<'static>>`.
pub type OwnedProduceRequestView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::ProduceRequestView<'static>,
>;
///Shorthand for `OwnedView<ProduceResponseView<'static>>`.
pub type OwnedProduceResponseView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::ProduceResponseView<'static>,
>;
///Shorthand for `OwnedView<ProduceStreamRequestView<'static>>`.
pub type OwnedProduceStreamRequestView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::ProduceStreamRequestView<'static>,
>;
///Shorthand for `OwnedView<ProduceStreamResponseView<'static>>`.
pub type OwnedProduceStreamResponseView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::ProduceStreamResponseView<'static>,
>;
///Shorthand for `OwnedView<ConsumeRequestView<'static>>`.
pub type OwnedConsumeRequestView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::ConsumeRequestView<'static>,
>;
///Shorthand for `OwnedView<ConsumeResponseView<'static>>`.
pub type OwnedConsumeResponseView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::ConsumeResponseView<'static>,
>;
///Shorthand for `OwnedView<FetchRequestView<'static>>`.
pub type OwnedFetchRequestView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::FetchRequestView<'static>,
>;
///Shorthand for `OwnedView<FetchResponseView<'static>>`.
pub type OwnedFetchResponseView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::FetchResponseView<'static>,
>;
///Shorthand for `OwnedView<CommitRequestView<'static>>`.
pub type OwnedCommitRequestView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::CommitRequestView<'static>,
>;
///Shorthand for `OwnedView<CommitResponseView<'static>>`.
pub type OwnedCommitResponseView = ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::CommitResponseView<'static>,
>;
impl ::connectrpc::Encodable<crate::attache::kafka::v1::ProduceResponse>
for crate::attache::kafka::v1::__buffa::view::ProduceResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::kafka::v1::ProduceResponse>
for ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::ProduceResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::kafka::v1::ProduceStreamResponse>
for crate::attache::kafka::v1::__buffa::view::ProduceStreamResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::kafka::v1::ProduceStreamResponse>
for ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::ProduceStreamResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::kafka::v1::ConsumeResponse>
for crate::attache::kafka::v1::__buffa::view::ConsumeResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::kafka::v1::ConsumeResponse>
for ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::ConsumeResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::kafka::v1::FetchResponse>
for crate::attache::kafka::v1::__buffa::view::FetchResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::kafka::v1::FetchResponse>
for ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::FetchResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::kafka::v1::CommitResponse>
for crate::attache::kafka::v1::__buffa::view::CommitResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::kafka::v1::CommitResponse>
for ::buffa::view::OwnedView<
    crate::attache::kafka::v1::__buffa::view::CommitResponseView<'static>,
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
pub const KAFKA_SERVICE_SERVICE_NAME: &str = "attache.kafka.v1.KafkaService";
/// Static [`Spec`](::connectrpc::Spec) for the `Produce` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const KAFKA_SERVICE_PRODUCE_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.kafka.v1.KafkaService/Produce",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `ProduceStream` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const KAFKA_SERVICE_PRODUCE_STREAM_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.kafka.v1.KafkaService/ProduceStream",
        ::connectrpc::StreamType::BidiStream,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Consume` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const KAFKA_SERVICE_CONSUME_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.kafka.v1.KafkaService/Consume",
        ::connectrpc::StreamType::BidiStream,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Fetch` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const KAFKA_SERVICE_FETCH_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.kafka.v1.KafkaService/Fetch",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Commit` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const KAFKA_SERVICE_COMMIT_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.kafka.v1.KafkaService/Commit",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// KafkaService hands records to Kafka through attache's durable spool: a
/// record is acknowledged once it is in the spool on this host (synced to
/// disk as `kafka.spool.fsync` says) and leaves the spool only when Kafka
/// has acknowledged it, so nothing acknowledged is lost while Kafka is down
/// or when attache is killed. Delivery is at least once: every record
/// carries an `attache-id` header, the same on every delivery of it, for
/// consumers to drop duplicates. Records with the same topic and key keep
/// their order. Errors: INVALID_ARGUMENT names the bad field
/// (`records[2].topic`); RESOURCE_EXHAUSTED when the spool is full
/// (`kafka.spool.max_bytes`) or the disk is; UNAVAILABLE when the spool
/// cannot be written; FAILED_PRECONDITION when the module is off.
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
pub trait KafkaService: Send + Sync + 'static {
    /// Produce spools records and answers once each is acknowledged as `ack`
    /// asks. Either every record is spooled or none is.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn produce<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::kafka::v1::ProduceRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::kafka::v1::ProduceResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// ProduceStream is Produce for high rates: each message on the stream is
    /// answered by one message, in order, carrying its `sequence`. A bad
    /// message ends the stream with its error; the messages answered before it
    /// stay acknowledged, and those sent after it may or may not have been
    /// spooled. When the sidecar begins to drain, the stream takes no more
    /// messages, answers those it took, and ends.
    ///
    /// Each `requests` item is a [`StreamMessage`](::connectrpc::StreamMessage):
    /// it owns its buffer, is `Send + 'static`, and exposes zero-copy
    /// accessor methods (`item.name()`), `.view()`, and
    /// `.to_owned_message()`.
    fn produce_stream(
        &self,
        ctx: ::connectrpc::RequestContext,
        requests: ::connectrpc::InboundStream<
            crate::attache::kafka::v1::ProduceStreamRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            ::connectrpc::ServiceStream<
                impl ::connectrpc::Encodable<
                    crate::attache::kafka::v1::ProduceStreamResponse,
                > + Send + use<Self>,
            >,
        >,
    > + Send;
    /// Consume joins a consumer group for the life of the stream and streams
    /// the group's records for the subscribed topics. The first message
    /// subscribes; later ones acknowledge records. An offset is committed
    /// only once every record before it on its partition is acknowledged, so
    /// a consumer that goes away gets its unacknowledged records redelivered
    /// to the group. At most `max_unacked` records are outstanding at once.
    /// On a rebalance, revoked partitions stop being delivered and what was
    /// acknowledged of them is committed first. The stream ends when the
    /// sidecar begins to drain.
    ///
    /// Each `requests` item is a [`StreamMessage`](::connectrpc::StreamMessage):
    /// it owns its buffer, is `Send + 'static`, and exposes zero-copy
    /// accessor methods (`item.name()`), `.view()`, and
    /// `.to_owned_message()`.
    fn consume(
        &self,
        ctx: ::connectrpc::RequestContext,
        requests: ::connectrpc::InboundStream<crate::attache::kafka::v1::ConsumeRequest>,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            ::connectrpc::ServiceStream<
                impl ::connectrpc::Encodable<
                    crate::attache::kafka::v1::ConsumeResponse,
                > + Send + use<Self>,
            >,
        >,
    > + Send;
    /// Fetch is consuming for callers that cannot hold a stream (PHP): up to
    /// `max_records` of the group's records, waiting up to `max_wait_ms` for
    /// the first, leased to the caller for `lease_ms`. Records of a lease
    /// that is not committed in time, and records a Commit leaves out, are
    /// delivered again by a later Fetch. The group's consumer is shared by
    /// every Fetch caller on this host.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn fetch<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::kafka::v1::FetchRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::kafka::v1::FetchResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// Commit acknowledges records of a lease and ends it.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn commit<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::kafka::v1::CommitRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::kafka::v1::CommitResponse,
            > + Send + use<'a, Self>,
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
pub trait KafkaServiceExt: KafkaService {
    /// Register this service implementation with a Router.
    ///
    /// Takes ownership of the `Arc<Self>` and returns a new Router with
    /// this service's methods registered.
    fn register(
        self: ::std::sync::Arc<Self>,
        router: ::connectrpc::Router,
    ) -> ::connectrpc::Router;
}
impl<S: KafkaService> KafkaServiceExt for S {
    fn register(
        self: ::std::sync::Arc<Self>,
        router: ::connectrpc::Router,
    ) -> ::connectrpc::Router {
        router
            .route_view(
                KAFKA_SERVICE_SERVICE_NAME,
                "Produce",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::kafka::v1::__buffa::view::ProduceRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::kafka::v1::ProduceRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.produce(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::kafka::v1::ProduceResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(KAFKA_SERVICE_PRODUCE_SPEC)
            .route_view_bidi_stream::<
                _,
                _,
                crate::attache::kafka::v1::ProduceStreamResponse,
            >(
                KAFKA_SERVICE_SERVICE_NAME,
                "ProduceStream",
                ::connectrpc::view_bidi_streaming_handler_fn({
                    let svc = ::std::sync::Arc::clone(&self);
                    move |ctx, req| {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let req = ::connectrpc::dispatcher::codegen::into_stream_messages::<
                                crate::attache::kafka::v1::ProduceStreamRequest,
                            >(req);
                            svc.produce_stream(ctx, req).await
                        }
                    }
                }),
            )
            .with_spec(KAFKA_SERVICE_PRODUCE_STREAM_SPEC)
            .route_view_bidi_stream::<
                _,
                _,
                crate::attache::kafka::v1::ConsumeResponse,
            >(
                KAFKA_SERVICE_SERVICE_NAME,
                "Consume",
                ::connectrpc::view_bidi_streaming_handler_fn({
                    let svc = ::std::sync::Arc::clone(&self);
                    move |ctx, req| {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let req = ::connectrpc::dispatcher::codegen::into_stream_messages::<
                                crate::attache::kafka::v1::ConsumeRequest,
                            >(req);
                            svc.consume(ctx, req).await
                        }
                    }
                }),
            )
            .with_spec(KAFKA_SERVICE_CONSUME_SPEC)
            .route_view(
                KAFKA_SERVICE_SERVICE_NAME,
                "Fetch",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::kafka::v1::__buffa::view::FetchRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::kafka::v1::FetchRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.fetch(ctx, sreq)
                                .await?
                                .encode::<crate::attache::kafka::v1::FetchResponse>(format)
                        }
                    })
                },
            )
            .with_spec(KAFKA_SERVICE_FETCH_SPEC)
            .route_view(
                KAFKA_SERVICE_SERVICE_NAME,
                "Commit",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::kafka::v1::__buffa::view::CommitRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::kafka::v1::CommitRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.commit(ctx, sreq)
                                .await?
                                .encode::<crate::attache::kafka::v1::CommitResponse>(format)
                        }
                    })
                },
            )
            .with_spec(KAFKA_SERVICE_COMMIT_SPEC)
    }
}
/// Type-inference marker used by [`Router::add_service`](::connectrpc::Router::add_service).
#[doc(hidden)]
pub struct KafkaServiceRegisterMarker;
impl<S: KafkaService> ::connectrpc::ServiceRegister<KafkaServiceRegisterMarker>
for ::std::sync::Arc<S> {
    fn register_service(self, router: ::connectrpc::Router) -> ::connectrpc::Router {
        <S as KafkaServiceExt>::register(self, router)
    }
}
/// Monomorphic dispatcher for `KafkaService`.
///
/// Unlike `.register(Router)` which type-erases each method into an `Arc<dyn ErasedHandler>` stored in a `HashMap`, this struct dispatches via a compile-time `match` on method name: no vtable, no hash lookup.
///
/// # Example
///
/// ```rust,ignore
/// use connectrpc::ConnectRpcService;
///
/// let server = KafkaServiceServer::new(MyImpl);
/// let service = ConnectRpcService::new(server);
/// // hand `service` to axum/hyper as a fallback_service
/// ```
pub struct KafkaServiceServer<T> {
    inner: ::std::sync::Arc<T>,
}
impl<T: KafkaService> KafkaServiceServer<T> {
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
impl<T> Clone for KafkaServiceServer<T> {
    fn clone(&self) -> Self {
        Self {
            inner: ::std::sync::Arc::clone(&self.inner),
        }
    }
}
impl<T: KafkaService> ::connectrpc::Dispatcher for KafkaServiceServer<T> {
    #[inline]
    fn lookup(
        &self,
        path: &str,
    ) -> Option<::connectrpc::dispatcher::codegen::MethodDescriptor> {
        let method = path.strip_prefix("attache.kafka.v1.KafkaService/")?;
        match method {
            "Produce" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(KAFKA_SERVICE_PRODUCE_SPEC),
                )
            }
            "ProduceStream" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::bidi_streaming()
                        .with_spec(KAFKA_SERVICE_PRODUCE_STREAM_SPEC),
                )
            }
            "Consume" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::bidi_streaming()
                        .with_spec(KAFKA_SERVICE_CONSUME_SPEC),
                )
            }
            "Fetch" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(KAFKA_SERVICE_FETCH_SPEC),
                )
            }
            "Commit" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(KAFKA_SERVICE_COMMIT_SPEC),
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
        let Some(method) = path.strip_prefix("attache.kafka.v1.KafkaService/") else {
            return ::connectrpc::dispatcher::codegen::unimplemented_unary(path);
        };
        let _ = (&ctx, &request, &format);
        match method {
            "Produce" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::kafka::v1::ProduceRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::kafka::v1::__buffa::view::ProduceRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::kafka::v1::ProduceRequest,
                    >::from_parts(&req, &body);
                    svc.produce(ctx, req)
                        .await?
                        .encode::<crate::attache::kafka::v1::ProduceResponse>(format)
                })
            }
            "Fetch" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::kafka::v1::FetchRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::kafka::v1::__buffa::view::FetchRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::kafka::v1::FetchRequest,
                    >::from_parts(&req, &body);
                    svc.fetch(ctx, req)
                        .await?
                        .encode::<crate::attache::kafka::v1::FetchResponse>(format)
                })
            }
            "Commit" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::kafka::v1::CommitRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::kafka::v1::__buffa::view::CommitRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::kafka::v1::CommitRequest,
                    >::from_parts(&req, &body);
                    svc.commit(ctx, req)
                        .await?
                        .encode::<crate::attache::kafka::v1::CommitResponse>(format)
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
        let Some(method) = path.strip_prefix("attache.kafka.v1.KafkaService/") else {
            return ::connectrpc::dispatcher::codegen::unimplemented_streaming(path);
        };
        let _ = (&ctx, &request, &format);
        match method {
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
        let Some(method) = path.strip_prefix("attache.kafka.v1.KafkaService/") else {
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
        let Some(method) = path.strip_prefix("attache.kafka.v1.KafkaService/") else {
            return ::connectrpc::dispatcher::codegen::unimplemented_streaming(path);
        };
        let _ = (&ctx, &requests, &format);
        match method {
            "ProduceStream" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let req_stream = ::connectrpc::dispatcher::codegen::decode_message_request_stream::<
                        crate::attache::kafka::v1::ProduceStreamRequest,
                    >(requests, format, ctx.decode_options().clone());
                    let resp = svc.produce_stream(ctx, req_stream).await?;
                    Ok(
                        resp
                            .map_body(|s| ::connectrpc::dispatcher::codegen::encode_response_stream::<
                                crate::attache::kafka::v1::ProduceStreamResponse,
                                _,
                                _,
                            >(s, format)),
                    )
                })
            }
            "Consume" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let req_stream = ::connectrpc::dispatcher::codegen::decode_message_request_stream::<
                        crate::attache::kafka::v1::ConsumeRequest,
                    >(requests, format, ctx.decode_options().clone());
                    let resp = svc.consume(ctx, req_stream).await?;
                    Ok(
                        resp
                            .map_body(|s| ::connectrpc::dispatcher::codegen::encode_response_stream::<
                                crate::attache::kafka::v1::ConsumeResponse,
                                _,
                                _,
                            >(s, format)),
                    )
                })
            }
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
/// let client = KafkaServiceClient::new(conn, config);
/// let response = client.produce(request).await?;
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
/// let client = KafkaServiceClient::new(http, config);
/// let response = client.produce(request).await?;
/// ```
///
/// # Working with the response
///
/// Unary calls return [`UnaryResponse<OwnedView<FooView>>`](::connectrpc::client::UnaryResponse).
/// [`view()`](::connectrpc::client::UnaryResponse::view) borrows the response
/// message, so field access is zero-copy:
///
/// ```rust,ignore
/// let resp = client.produce(request).await?;
/// let name: &str = resp.view().name;  // borrow into the response buffer
/// ```
///
/// If you need the owned struct (e.g. to store or pass by value), use
/// [`into_owned()`](::connectrpc::client::UnaryResponse::into_owned):
///
/// ```rust,ignore
/// let owned = client.produce(request).await?.into_owned();
/// ```
///
/// [`into_view()`](::connectrpc::client::UnaryResponse::into_view) keeps the
/// zero-copy decoded body (an `OwnedView`) without copying; field access on it
/// goes through `.reborrow()`. Streaming responses yield one
/// [`StreamMessage`](::connectrpc::StreamMessage) per received message from
/// `.message().await` — read fields zero-copy through the generated accessor
/// methods (`msg.name()`) or `.view()`, or convert with `.to_owned_message()`.
#[derive(Clone)]
pub struct KafkaServiceClient<T> {
    transport: T,
    config: ::connectrpc::client::ClientConfig,
}
impl<T> KafkaServiceClient<T>
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
    /// Call the Produce RPC. Sends a request to /attache.kafka.v1.KafkaService/Produce.
    pub async fn produce(
        &self,
        request: crate::attache::kafka::v1::ProduceRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::kafka::v1::__buffa::view::ProduceResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.produce_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the Produce RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn produce_with_options(
        &self,
        request: crate::attache::kafka::v1::ProduceRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::kafka::v1::__buffa::view::ProduceResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                KAFKA_SERVICE_PRODUCE_SPEC.with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the ProduceStream RPC. Sends a request to /attache.kafka.v1.KafkaService/ProduceStream.
    pub async fn produce_stream(
        &self,
    ) -> Result<
        ::connectrpc::client::BidiStream<
            T::ResponseBody,
            crate::attache::kafka::v1::ProduceStreamRequest,
            crate::attache::kafka::v1::__buffa::view::ProduceStreamResponseView<'static>,
        >,
        ::connectrpc::ConnectError,
    > {
        self.produce_stream_with_options(::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the ProduceStream RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn produce_stream_with_options(
        &self,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::BidiStream<
            T::ResponseBody,
            crate::attache::kafka::v1::ProduceStreamRequest,
            crate::attache::kafka::v1::__buffa::view::ProduceStreamResponseView<'static>,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_bidi_stream(
                &self.transport,
                &self.config,
                KAFKA_SERVICE_PRODUCE_STREAM_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                options,
            )
            .await
    }
    /// Call the Consume RPC. Sends a request to /attache.kafka.v1.KafkaService/Consume.
    pub async fn consume(
        &self,
    ) -> Result<
        ::connectrpc::client::BidiStream<
            T::ResponseBody,
            crate::attache::kafka::v1::ConsumeRequest,
            crate::attache::kafka::v1::__buffa::view::ConsumeResponseView<'static>,
        >,
        ::connectrpc::ConnectError,
    > {
        self.consume_with_options(::connectrpc::client::CallOptions::default()).await
    }
    /// Call the Consume RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn consume_with_options(
        &self,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::BidiStream<
            T::ResponseBody,
            crate::attache::kafka::v1::ConsumeRequest,
            crate::attache::kafka::v1::__buffa::view::ConsumeResponseView<'static>,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_bidi_stream(
                &self.transport,
                &self.config,
                KAFKA_SERVICE_CONSUME_SPEC.with_origin(::connectrpc::SpecOrigin::Client),
                options,
            )
            .await
    }
    /// Call the Fetch RPC. Sends a request to /attache.kafka.v1.KafkaService/Fetch.
    pub async fn fetch(
        &self,
        request: crate::attache::kafka::v1::FetchRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::kafka::v1::__buffa::view::FetchResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.fetch_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the Fetch RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn fetch_with_options(
        &self,
        request: crate::attache::kafka::v1::FetchRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::kafka::v1::__buffa::view::FetchResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                KAFKA_SERVICE_FETCH_SPEC.with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the Commit RPC. Sends a request to /attache.kafka.v1.KafkaService/Commit.
    pub async fn commit(
        &self,
        request: crate::attache::kafka::v1::CommitRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::kafka::v1::__buffa::view::CommitResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.commit_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the Commit RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn commit_with_options(
        &self,
        request: crate::attache::kafka::v1::CommitRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::kafka::v1::__buffa::view::CommitResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                KAFKA_SERVICE_COMMIT_SPEC.with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
}
