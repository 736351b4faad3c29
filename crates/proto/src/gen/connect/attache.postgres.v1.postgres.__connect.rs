///Shorthand for `OwnedView<QueryRequestView<'static>>`.
pub type OwnedQueryRequestView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::QueryRequestView<'static>,
>;
///Shorthand for `OwnedView<QueryResponseView<'static>>`.
pub type OwnedQueryResponseView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::QueryResponseView<'static>,
>;
///Shorthand for `OwnedView<ExecuteRequestView<'static>>`.
pub type OwnedExecuteRequestView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::ExecuteRequestView<'static>,
>;
///Shorthand for `OwnedView<ExecuteResponseView<'static>>`.
pub type OwnedExecuteResponseView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::ExecuteResponseView<'static>,
>;
///Shorthand for `OwnedView<BeginRequestView<'static>>`.
pub type OwnedBeginRequestView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::BeginRequestView<'static>,
>;
///Shorthand for `OwnedView<BeginResponseView<'static>>`.
pub type OwnedBeginResponseView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::BeginResponseView<'static>,
>;
///Shorthand for `OwnedView<CommitRequestView<'static>>`.
pub type OwnedCommitRequestView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::CommitRequestView<'static>,
>;
///Shorthand for `OwnedView<CommitResponseView<'static>>`.
pub type OwnedCommitResponseView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::CommitResponseView<'static>,
>;
///Shorthand for `OwnedView<RollbackRequestView<'static>>`.
pub type OwnedRollbackRequestView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::RollbackRequestView<'static>,
>;
///Shorthand for `OwnedView<RollbackResponseView<'static>>`.
pub type OwnedRollbackResponseView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::RollbackResponseView<'static>,
>;
///Shorthand for `OwnedView<InsertRequestView<'static>>`.
pub type OwnedInsertRequestView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::InsertRequestView<'static>,
>;
///Shorthand for `OwnedView<InsertResponseView<'static>>`.
pub type OwnedInsertResponseView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::InsertResponseView<'static>,
>;
///Shorthand for `OwnedView<GetOrLoadRequestView<'static>>`.
pub type OwnedGetOrLoadRequestView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::GetOrLoadRequestView<'static>,
>;
///Shorthand for `OwnedView<GetOrLoadResponseView<'static>>`.
pub type OwnedGetOrLoadResponseView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::GetOrLoadResponseView<'static>,
>;
///Shorthand for `OwnedView<TransactionRequestView<'static>>`.
pub type OwnedTransactionRequestView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::TransactionRequestView<'static>,
>;
///Shorthand for `OwnedView<TransactionResponseView<'static>>`.
pub type OwnedTransactionResponseView = ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::TransactionResponseView<'static>,
>;
impl ::connectrpc::Encodable<crate::attache::postgres::v1::QueryResponse>
for crate::attache::postgres::v1::__buffa::view::QueryResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::postgres::v1::QueryResponse>
for ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::QueryResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::postgres::v1::ExecuteResponse>
for crate::attache::postgres::v1::__buffa::view::ExecuteResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::postgres::v1::ExecuteResponse>
for ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::ExecuteResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::postgres::v1::BeginResponse>
for crate::attache::postgres::v1::__buffa::view::BeginResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::postgres::v1::BeginResponse>
for ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::BeginResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::postgres::v1::CommitResponse>
for crate::attache::postgres::v1::__buffa::view::CommitResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::postgres::v1::CommitResponse>
for ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::CommitResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::postgres::v1::RollbackResponse>
for crate::attache::postgres::v1::__buffa::view::RollbackResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::postgres::v1::RollbackResponse>
for ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::RollbackResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::postgres::v1::InsertResponse>
for crate::attache::postgres::v1::__buffa::view::InsertResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::postgres::v1::InsertResponse>
for ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::InsertResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::postgres::v1::GetOrLoadResponse>
for crate::attache::postgres::v1::__buffa::view::GetOrLoadResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::postgres::v1::GetOrLoadResponse>
for ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::GetOrLoadResponseView<'static>,
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
impl ::connectrpc::Encodable<crate::attache::postgres::v1::TransactionResponse>
for crate::attache::postgres::v1::__buffa::view::TransactionResponseView<'_> {
    fn encode(
        &self,
        codec: ::connectrpc::CodecFormat,
    ) -> ::std::result::Result<::buffa::bytes::Bytes, ::connectrpc::ConnectError> {
        ::connectrpc::__codegen::encode_view_body(self, codec)
    }
}
impl ::connectrpc::Encodable<crate::attache::postgres::v1::TransactionResponse>
for ::buffa::view::OwnedView<
    crate::attache::postgres::v1::__buffa::view::TransactionResponseView<'static>,
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
pub const POSTGRES_SERVICE_SERVICE_NAME: &str = "attache.postgres.v1.PostgresService";
/// Static [`Spec`](::connectrpc::Spec) for the `Query` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const POSTGRES_SERVICE_QUERY_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.postgres.v1.PostgresService/Query",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Execute` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const POSTGRES_SERVICE_EXECUTE_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.postgres.v1.PostgresService/Execute",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Begin` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const POSTGRES_SERVICE_BEGIN_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.postgres.v1.PostgresService/Begin",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Commit` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const POSTGRES_SERVICE_COMMIT_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.postgres.v1.PostgresService/Commit",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Rollback` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const POSTGRES_SERVICE_ROLLBACK_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.postgres.v1.PostgresService/Rollback",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Insert` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const POSTGRES_SERVICE_INSERT_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.postgres.v1.PostgresService/Insert",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `GetOrLoad` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const POSTGRES_SERVICE_GET_OR_LOAD_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.postgres.v1.PostgresService/GetOrLoad",
        ::connectrpc::StreamType::Unary,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// Static [`Spec`](::connectrpc::Spec) for the `Transaction` RPC, as seen by the server; the generated client passes it with [`origin`](::connectrpc::Spec::origin) `Client` (compare across sides with [`Spec::same_method`](::connectrpc::Spec::same_method)).
pub const POSTGRES_SERVICE_TRANSACTION_SPEC: ::connectrpc::Spec = ::connectrpc::Spec::server(
        "/attache.postgres.v1.PostgresService/Transaction",
        ::connectrpc::StreamType::BidiStream,
    )
    .with_idempotency_level(::connectrpc::IdempotencyLevel::Unknown);
/// PostgresService runs SQL on one pool of PostgreSQL connections shared by
/// every process on the host. Errors carry an attache.sidecar.v1.ErrorInfo
/// detail with the SQLSTATE as `reason` and the fields Postgres gave
/// (`sqlstate`, `constraint`, `table`, `column`, `schema`, `datatype`,
/// `detail`, `hint`, `position`, and for Execute `statement`, the 1-based
/// index of the statement that failed) in its metadata.
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
pub trait PostgresService: Send + Sync + 'static {
    /// Query runs one statement and returns its rows. Outside a transaction it
    /// runs on any pooled connection; with `transaction_id`, inside that
    /// transaction. Statements that would leave state on a pooled connection
    /// (session SET, LISTEN, PREPARE, temporary tables, session advisory
    /// locks) are refused outside a transaction.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn query<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::postgres::v1::QueryRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::postgres::v1::QueryResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// Execute runs several statements on one connection in one call; with
    /// `transactional`, all of them or none.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn execute<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::postgres::v1::ExecuteRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::postgres::v1::ExecuteResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// Begin opens an interactive transaction and returns its id. It is bound
    /// to the calling process, rolled back after `postgres.transaction.idle_timeout`
    /// without a statement or `postgres.transaction.max_duration` in all, and
    /// rolled back when the sidecar stops.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn begin<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::postgres::v1::BeginRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::postgres::v1::BeginResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// Commit commits an interactive transaction and ends it.
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
            crate::attache::postgres::v1::CommitRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::postgres::v1::CommitResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// Rollback rolls an interactive transaction back and ends it. Rolling
    /// back a transaction that already ended is not an error.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn rollback<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::postgres::v1::RollbackRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::postgres::v1::RollbackResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// Insert inserts one row. Inserts of the same shape (table, columns,
    /// conflict handling, returning list) that arrive from any callers while
    /// an earlier batch of that shape runs go together in one statement; each
    /// caller gets its own row back. If a batch fails, its rows are re-run one
    /// by one, so only the bad row's caller sees the error. Merging means
    /// statement-level triggers fire once per batch and `now()` is the
    /// batch's.
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn insert<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::postgres::v1::InsertRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::postgres::v1::InsertResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// GetOrLoad is cache-aside in one call, with the Redis module: the
    /// result stored at `key` in Redis (read through attache's client-side
    /// cache) if there is one, else `sql` run once for every concurrent caller
    /// on the host, stored at `key` for `ttl_ms` (at most
    /// `postgres.cache.max_ttl`), and returned. A write through any attache on
    /// the database to a table the query reads moves that table's generation
    /// (`attache:gen:<table oid>` in Redis) before its reply, and a stored
    /// result read at an older generation is no longer a hit. The stored value
    /// is attache's own encoding (the generations, then a GetOrLoadResponse).
    ///
    /// `'a` lets the response body borrow from `&self` (e.g. server-resident state).
    ///
    /// `request` is borrowed from the request body and is valid for the
    /// duration of the call; message fields are read directly on it
    /// (zero-copy). The response cannot borrow from `request` — use
    /// `.to_owned_message()` (or copy the specific fields) for anything
    /// returned, stored, or moved into `tokio::spawn`.
    fn get_or_load<'a>(
        &'a self,
        ctx: ::connectrpc::RequestContext,
        request: ::connectrpc::ServiceRequest<
            '_,
            crate::attache::postgres::v1::GetOrLoadRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            impl ::connectrpc::Encodable<
                crate::attache::postgres::v1::GetOrLoadResponse,
            > + Send + use<'a, Self>,
        >,
    > + Send;
    /// Transaction is an interactive transaction whose lifetime is the
    /// stream's (HTTP/2: gRPC, or Connect over HTTP/2). The first message may
    /// be `begin` with options (otherwise defaults); each `query` runs in the
    /// transaction and is answered with its `result`; `commit` or `rollback`
    /// ends the transaction with its answer, and then the stream. A statement
    /// that fails ends the stream with its error, the transaction rolled
    /// back; so does a stream that ends, breaks or outlives
    /// `postgres.transaction.*` timeouts before `commit`.
    ///
    /// Each `requests` item is a [`StreamMessage`](::connectrpc::StreamMessage):
    /// it owns its buffer, is `Send + 'static`, and exposes zero-copy
    /// accessor methods (`item.name()`), `.view()`, and
    /// `.to_owned_message()`.
    fn transaction(
        &self,
        ctx: ::connectrpc::RequestContext,
        requests: ::connectrpc::InboundStream<
            crate::attache::postgres::v1::TransactionRequest,
        >,
    ) -> impl ::std::future::Future<
        Output = ::connectrpc::ServiceResult<
            ::connectrpc::ServiceStream<
                impl ::connectrpc::Encodable<
                    crate::attache::postgres::v1::TransactionResponse,
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
pub trait PostgresServiceExt: PostgresService {
    /// Register this service implementation with a Router.
    ///
    /// Takes ownership of the `Arc<Self>` and returns a new Router with
    /// this service's methods registered.
    fn register(
        self: ::std::sync::Arc<Self>,
        router: ::connectrpc::Router,
    ) -> ::connectrpc::Router;
}
impl<S: PostgresService> PostgresServiceExt for S {
    fn register(
        self: ::std::sync::Arc<Self>,
        router: ::connectrpc::Router,
    ) -> ::connectrpc::Router {
        router
            .route_view(
                POSTGRES_SERVICE_SERVICE_NAME,
                "Query",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::postgres::v1::__buffa::view::QueryRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::postgres::v1::QueryRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.query(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::postgres::v1::QueryResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(POSTGRES_SERVICE_QUERY_SPEC)
            .route_view(
                POSTGRES_SERVICE_SERVICE_NAME,
                "Execute",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::postgres::v1::__buffa::view::ExecuteRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::postgres::v1::ExecuteRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.execute(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::postgres::v1::ExecuteResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(POSTGRES_SERVICE_EXECUTE_SPEC)
            .route_view(
                POSTGRES_SERVICE_SERVICE_NAME,
                "Begin",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::postgres::v1::__buffa::view::BeginRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::postgres::v1::BeginRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.begin(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::postgres::v1::BeginResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(POSTGRES_SERVICE_BEGIN_SPEC)
            .route_view(
                POSTGRES_SERVICE_SERVICE_NAME,
                "Commit",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::postgres::v1::__buffa::view::CommitRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::postgres::v1::CommitRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.commit(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::postgres::v1::CommitResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(POSTGRES_SERVICE_COMMIT_SPEC)
            .route_view(
                POSTGRES_SERVICE_SERVICE_NAME,
                "Rollback",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::postgres::v1::__buffa::view::RollbackRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::postgres::v1::RollbackRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.rollback(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::postgres::v1::RollbackResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(POSTGRES_SERVICE_ROLLBACK_SPEC)
            .route_view(
                POSTGRES_SERVICE_SERVICE_NAME,
                "Insert",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::postgres::v1::__buffa::view::InsertRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::postgres::v1::InsertRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.insert(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::postgres::v1::InsertResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(POSTGRES_SERVICE_INSERT_SPEC)
            .route_view(
                POSTGRES_SERVICE_SERVICE_NAME,
                "GetOrLoad",
                {
                    let svc = ::std::sync::Arc::clone(&self);
                    ::connectrpc::view_handler_fn(move |
                        ctx,
                        req: ::buffa::view::OwnedView<
                            crate::attache::postgres::v1::__buffa::view::GetOrLoadRequestView<
                                'static,
                            >,
                        >,
                        format|
                    {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let sreq = ::connectrpc::ServiceRequest::<
                                crate::attache::postgres::v1::GetOrLoadRequest,
                            >::from_parts(req.reborrow(), req.bytes());
                            svc.get_or_load(ctx, sreq)
                                .await?
                                .encode::<
                                    crate::attache::postgres::v1::GetOrLoadResponse,
                                >(format)
                        }
                    })
                },
            )
            .with_spec(POSTGRES_SERVICE_GET_OR_LOAD_SPEC)
            .route_view_bidi_stream::<
                _,
                _,
                crate::attache::postgres::v1::TransactionResponse,
            >(
                POSTGRES_SERVICE_SERVICE_NAME,
                "Transaction",
                ::connectrpc::view_bidi_streaming_handler_fn({
                    let svc = ::std::sync::Arc::clone(&self);
                    move |ctx, req| {
                        let svc = ::std::sync::Arc::clone(&svc);
                        async move {
                            let req = ::connectrpc::dispatcher::codegen::into_stream_messages::<
                                crate::attache::postgres::v1::TransactionRequest,
                            >(req);
                            svc.transaction(ctx, req).await
                        }
                    }
                }),
            )
            .with_spec(POSTGRES_SERVICE_TRANSACTION_SPEC)
    }
}
/// Type-inference marker used by [`Router::add_service`](::connectrpc::Router::add_service).
#[doc(hidden)]
pub struct PostgresServiceRegisterMarker;
impl<S: PostgresService> ::connectrpc::ServiceRegister<PostgresServiceRegisterMarker>
for ::std::sync::Arc<S> {
    fn register_service(self, router: ::connectrpc::Router) -> ::connectrpc::Router {
        <S as PostgresServiceExt>::register(self, router)
    }
}
/// Monomorphic dispatcher for `PostgresService`.
///
/// Unlike `.register(Router)` which type-erases each method into an `Arc<dyn ErasedHandler>` stored in a `HashMap`, this struct dispatches via a compile-time `match` on method name: no vtable, no hash lookup.
///
/// # Example
///
/// ```rust,ignore
/// use connectrpc::ConnectRpcService;
///
/// let server = PostgresServiceServer::new(MyImpl);
/// let service = ConnectRpcService::new(server);
/// // hand `service` to axum/hyper as a fallback_service
/// ```
pub struct PostgresServiceServer<T> {
    inner: ::std::sync::Arc<T>,
}
impl<T: PostgresService> PostgresServiceServer<T> {
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
impl<T> Clone for PostgresServiceServer<T> {
    fn clone(&self) -> Self {
        Self {
            inner: ::std::sync::Arc::clone(&self.inner),
        }
    }
}
impl<T: PostgresService> ::connectrpc::Dispatcher for PostgresServiceServer<T> {
    #[inline]
    fn lookup(
        &self,
        path: &str,
    ) -> Option<::connectrpc::dispatcher::codegen::MethodDescriptor> {
        let method = path.strip_prefix("attache.postgres.v1.PostgresService/")?;
        match method {
            "Query" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(POSTGRES_SERVICE_QUERY_SPEC),
                )
            }
            "Execute" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(POSTGRES_SERVICE_EXECUTE_SPEC),
                )
            }
            "Begin" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(POSTGRES_SERVICE_BEGIN_SPEC),
                )
            }
            "Commit" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(POSTGRES_SERVICE_COMMIT_SPEC),
                )
            }
            "Rollback" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(POSTGRES_SERVICE_ROLLBACK_SPEC),
                )
            }
            "Insert" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(POSTGRES_SERVICE_INSERT_SPEC),
                )
            }
            "GetOrLoad" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::unary(false)
                        .with_spec(POSTGRES_SERVICE_GET_OR_LOAD_SPEC),
                )
            }
            "Transaction" => {
                Some(
                    ::connectrpc::dispatcher::codegen::MethodDescriptor::bidi_streaming()
                        .with_spec(POSTGRES_SERVICE_TRANSACTION_SPEC),
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
        let Some(method) = path.strip_prefix("attache.postgres.v1.PostgresService/")
        else {
            return ::connectrpc::dispatcher::codegen::unimplemented_unary(path);
        };
        let _ = (&ctx, &request, &format);
        match method {
            "Query" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::postgres::v1::QueryRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::postgres::v1::__buffa::view::QueryRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::postgres::v1::QueryRequest,
                    >::from_parts(&req, &body);
                    svc.query(ctx, req)
                        .await?
                        .encode::<crate::attache::postgres::v1::QueryResponse>(format)
                })
            }
            "Execute" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::postgres::v1::ExecuteRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::postgres::v1::__buffa::view::ExecuteRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::postgres::v1::ExecuteRequest,
                    >::from_parts(&req, &body);
                    svc.execute(ctx, req)
                        .await?
                        .encode::<crate::attache::postgres::v1::ExecuteResponse>(format)
                })
            }
            "Begin" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::postgres::v1::BeginRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::postgres::v1::__buffa::view::BeginRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::postgres::v1::BeginRequest,
                    >::from_parts(&req, &body);
                    svc.begin(ctx, req)
                        .await?
                        .encode::<crate::attache::postgres::v1::BeginResponse>(format)
                })
            }
            "Commit" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::postgres::v1::CommitRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::postgres::v1::__buffa::view::CommitRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::postgres::v1::CommitRequest,
                    >::from_parts(&req, &body);
                    svc.commit(ctx, req)
                        .await?
                        .encode::<crate::attache::postgres::v1::CommitResponse>(format)
                })
            }
            "Rollback" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::postgres::v1::RollbackRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::postgres::v1::__buffa::view::RollbackRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::postgres::v1::RollbackRequest,
                    >::from_parts(&req, &body);
                    svc.rollback(ctx, req)
                        .await?
                        .encode::<crate::attache::postgres::v1::RollbackResponse>(format)
                })
            }
            "Insert" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::postgres::v1::InsertRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::postgres::v1::__buffa::view::InsertRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::postgres::v1::InsertRequest,
                    >::from_parts(&req, &body);
                    svc.insert(ctx, req)
                        .await?
                        .encode::<crate::attache::postgres::v1::InsertResponse>(format)
                })
            }
            "GetOrLoad" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let body = ::connectrpc::dispatcher::codegen::request_proto_bytes::<
                        crate::attache::postgres::v1::GetOrLoadRequest,
                    >(request.encoded()?, format)?;
                    let req: crate::attache::postgres::v1::__buffa::view::GetOrLoadRequestView<
                        '_,
                    > = ::connectrpc::dispatcher::codegen::decode_borrowed_request_view(
                        &body,
                        ctx.decode_options(),
                    )?;
                    let req = ::connectrpc::ServiceRequest::<
                        crate::attache::postgres::v1::GetOrLoadRequest,
                    >::from_parts(&req, &body);
                    svc.get_or_load(ctx, req)
                        .await?
                        .encode::<
                            crate::attache::postgres::v1::GetOrLoadResponse,
                        >(format)
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
        let Some(method) = path.strip_prefix("attache.postgres.v1.PostgresService/")
        else {
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
        let Some(method) = path.strip_prefix("attache.postgres.v1.PostgresService/")
        else {
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
        let Some(method) = path.strip_prefix("attache.postgres.v1.PostgresService/")
        else {
            return ::connectrpc::dispatcher::codegen::unimplemented_streaming(path);
        };
        let _ = (&ctx, &requests, &format);
        match method {
            "Transaction" => {
                let svc = ::std::sync::Arc::clone(&self.inner);
                Box::pin(async move {
                    let req_stream = ::connectrpc::dispatcher::codegen::decode_message_request_stream::<
                        crate::attache::postgres::v1::TransactionRequest,
                    >(requests, format, ctx.decode_options().clone());
                    let resp = svc.transaction(ctx, req_stream).await?;
                    Ok(
                        resp
                            .map_body(|s| ::connectrpc::dispatcher::codegen::encode_response_stream::<
                                crate::attache::postgres::v1::TransactionResponse,
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
/// let client = PostgresServiceClient::new(conn, config);
/// let response = client.query(request).await?;
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
/// let client = PostgresServiceClient::new(http, config);
/// let response = client.query(request).await?;
/// ```
///
/// # Working with the response
///
/// Unary calls return [`UnaryResponse<OwnedView<FooView>>`](::connectrpc::client::UnaryResponse).
/// [`view()`](::connectrpc::client::UnaryResponse::view) borrows the response
/// message, so field access is zero-copy:
///
/// ```rust,ignore
/// let resp = client.query(request).await?;
/// let name: &str = resp.view().name;  // borrow into the response buffer
/// ```
///
/// If you need the owned struct (e.g. to store or pass by value), use
/// [`into_owned()`](::connectrpc::client::UnaryResponse::into_owned):
///
/// ```rust,ignore
/// let owned = client.query(request).await?.into_owned();
/// ```
///
/// [`into_view()`](::connectrpc::client::UnaryResponse::into_view) keeps the
/// zero-copy decoded body (an `OwnedView`) without copying; field access on it
/// goes through `.reborrow()`. Streaming responses yield one
/// [`StreamMessage`](::connectrpc::StreamMessage) per received message from
/// `.message().await` — read fields zero-copy through the generated accessor
/// methods (`msg.name()`) or `.view()`, or convert with `.to_owned_message()`.
#[derive(Clone)]
pub struct PostgresServiceClient<T> {
    transport: T,
    config: ::connectrpc::client::ClientConfig,
}
impl<T> PostgresServiceClient<T>
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
    /// Call the Query RPC. Sends a request to /attache.postgres.v1.PostgresService/Query.
    pub async fn query(
        &self,
        request: crate::attache::postgres::v1::QueryRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::QueryResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.query_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the Query RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn query_with_options(
        &self,
        request: crate::attache::postgres::v1::QueryRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::QueryResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                POSTGRES_SERVICE_QUERY_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the Execute RPC. Sends a request to /attache.postgres.v1.PostgresService/Execute.
    pub async fn execute(
        &self,
        request: crate::attache::postgres::v1::ExecuteRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::ExecuteResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.execute_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the Execute RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn execute_with_options(
        &self,
        request: crate::attache::postgres::v1::ExecuteRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::ExecuteResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                POSTGRES_SERVICE_EXECUTE_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the Begin RPC. Sends a request to /attache.postgres.v1.PostgresService/Begin.
    pub async fn begin(
        &self,
        request: crate::attache::postgres::v1::BeginRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::BeginResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.begin_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the Begin RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn begin_with_options(
        &self,
        request: crate::attache::postgres::v1::BeginRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::BeginResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                POSTGRES_SERVICE_BEGIN_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the Commit RPC. Sends a request to /attache.postgres.v1.PostgresService/Commit.
    pub async fn commit(
        &self,
        request: crate::attache::postgres::v1::CommitRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::CommitResponseView<'static>,
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
        request: crate::attache::postgres::v1::CommitRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::CommitResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                POSTGRES_SERVICE_COMMIT_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the Rollback RPC. Sends a request to /attache.postgres.v1.PostgresService/Rollback.
    pub async fn rollback(
        &self,
        request: crate::attache::postgres::v1::RollbackRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::RollbackResponseView<
                    'static,
                >,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.rollback_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the Rollback RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn rollback_with_options(
        &self,
        request: crate::attache::postgres::v1::RollbackRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::RollbackResponseView<
                    'static,
                >,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                POSTGRES_SERVICE_ROLLBACK_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the Insert RPC. Sends a request to /attache.postgres.v1.PostgresService/Insert.
    pub async fn insert(
        &self,
        request: crate::attache::postgres::v1::InsertRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::InsertResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.insert_with_options(request, ::connectrpc::client::CallOptions::default())
            .await
    }
    /// Call the Insert RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn insert_with_options(
        &self,
        request: crate::attache::postgres::v1::InsertRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::InsertResponseView<'static>,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                POSTGRES_SERVICE_INSERT_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the GetOrLoad RPC. Sends a request to /attache.postgres.v1.PostgresService/GetOrLoad.
    pub async fn get_or_load(
        &self,
        request: crate::attache::postgres::v1::GetOrLoadRequest,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::GetOrLoadResponseView<
                    'static,
                >,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        self.get_or_load_with_options(
                request,
                ::connectrpc::client::CallOptions::default(),
            )
            .await
    }
    /// Call the GetOrLoad RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn get_or_load_with_options(
        &self,
        request: crate::attache::postgres::v1::GetOrLoadRequest,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::UnaryResponse<
            ::buffa::view::OwnedView<
                crate::attache::postgres::v1::__buffa::view::GetOrLoadResponseView<
                    'static,
                >,
            >,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_unary(
                &self.transport,
                &self.config,
                POSTGRES_SERVICE_GET_OR_LOAD_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                request,
                options,
            )
            .await
    }
    /// Call the Transaction RPC. Sends a request to /attache.postgres.v1.PostgresService/Transaction.
    pub async fn transaction(
        &self,
    ) -> Result<
        ::connectrpc::client::BidiStream<
            T::ResponseBody,
            crate::attache::postgres::v1::TransactionRequest,
            crate::attache::postgres::v1::__buffa::view::TransactionResponseView<'static>,
        >,
        ::connectrpc::ConnectError,
    > {
        self.transaction_with_options(::connectrpc::client::CallOptions::default()).await
    }
    /// Call the Transaction RPC with explicit per-call options. Options override [`ClientConfig`](::connectrpc::client::ClientConfig) defaults.
    pub async fn transaction_with_options(
        &self,
        options: ::connectrpc::client::CallOptions,
    ) -> Result<
        ::connectrpc::client::BidiStream<
            T::ResponseBody,
            crate::attache::postgres::v1::TransactionRequest,
            crate::attache::postgres::v1::__buffa::view::TransactionResponseView<'static>,
        >,
        ::connectrpc::ConnectError,
    > {
        ::connectrpc::client::call_bidi_stream(
                &self.transport,
                &self.config,
                POSTGRES_SERVICE_TRANSACTION_SPEC
                    .with_origin(::connectrpc::SpecOrigin::Client),
                options,
            )
            .await
    }
}
