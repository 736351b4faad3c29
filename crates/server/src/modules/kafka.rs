//! `attache.kafka.v1.KafkaService`: protobuf in, domain calls, protobuf out.

use std::sync::Arc;

use attache_core::Kind;
use attache_kafka::{
    Ack, Change, Consumed, Event, FetchRequest, Position, Produced, Record, Service, Start, Subscription,
};
use attache_proto::attache::kafka::v1 as pb;
use buffa::EnumValue;
use connectrpc::{ConnectError, RequestContext, Response, Router, ServiceRegister, ServiceRequest, ServiceResult};
use futures::StreamExt;

use crate::status::{refuse, reject};

pub(super) const NAME: &str = pb::KAFKA_SERVICE_SERVICE_NAME;
const DISABLED: &str = "the kafka module is disabled; set kafka.enabled = true (and ATTACHE_KAFKA_BROKERS) to use it";
/// ProduceStream messages being spooled or awaiting their acks at once.
const STREAM_WINDOW: usize = 64;

pub(super) fn register(router: Router, service: Option<Service>) -> Router {
    Arc::new(Kafka(service)).register_service(router)
}

/// The Kafka RPCs; `None` when `kafka.enabled = false`.
struct Kafka(Option<Service>);

impl Kafka {
    fn service(&self) -> Result<&Service, ConnectError> {
        self.0.as_ref().ok_or_else(|| refuse(Kind::FailedPrecondition, DISABLED))
    }
}

fn ack(value: EnumValue<pb::Ack>) -> Result<Ack, ConnectError> {
    match value.as_known() {
        Some(pb::Ack::ACK_UNSPECIFIED | pb::Ack::ACK_SPOOLED) => Ok(Ack::Spooled),
        Some(pb::Ack::ACK_DELIVERED) => Ok(Ack::Delivered),
        None => Err(refuse(
            Kind::InvalidArgument,
            format!("ack: unknown value {}; use ACK_SPOOLED or ACK_DELIVERED", value.to_i32()),
        )),
    }
}

fn records(records: Vec<pb::Record>) -> Vec<Record> {
    records
        .into_iter()
        .map(|r| Record {
            topic: r.topic,
            key: r.key,
            value: r.value,
            headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
            partition: r.partition,
            timestamp_ms: r.timestamp_ms,
            id: None,
        })
        .collect()
}

fn results(produced: Vec<Produced>) -> Vec<pb::RecordResult> {
    produced
        .into_iter()
        .map(|p| pb::RecordResult {
            id: p.id,
            partition: p.partition,
            offset: p.offset,
            error: p
                .error
                .map(|(kind, message)| pb::RecordError { code: code_name(kind).into(), message, ..Default::default() })
                .into(),
            ..Default::default()
        })
        .collect()
}

/// The google.rpc code name of a kind, as RecordError carries it.
fn code_name(kind: Kind) -> &'static str {
    match kind {
        Kind::InvalidArgument => "INVALID_ARGUMENT",
        Kind::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Kind::Unavailable => "UNAVAILABLE",
        Kind::FailedPrecondition => "FAILED_PRECONDITION",
        Kind::PermissionDenied => "PERMISSION_DENIED",
        Kind::NotFound => "NOT_FOUND",
        Kind::AlreadyExists => "ALREADY_EXISTS",
        Kind::Aborted => "ABORTED",
        Kind::OutOfRange => "OUT_OF_RANGE",
        Kind::Unimplemented => "UNIMPLEMENTED",
        Kind::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Kind::Cancelled => "CANCELLED",
        Kind::Internal => "INTERNAL",
    }
}

fn start(value: EnumValue<pb::StartFrom>) -> Result<Start, ConnectError> {
    match value.as_known() {
        Some(pb::StartFrom::START_FROM_UNSPECIFIED | pb::StartFrom::START_FROM_EARLIEST) => Ok(Start::Earliest),
        Some(pb::StartFrom::START_FROM_LATEST) => Ok(Start::Latest),
        None => Err(refuse(
            Kind::InvalidArgument,
            format!("start: unknown value {}; use START_FROM_EARLIEST or START_FROM_LATEST", value.to_i32()),
        )),
    }
}

fn positions(positions: Vec<pb::Position>) -> Vec<Position> {
    positions.into_iter().map(|p| (p.topic, p.partition, p.offset)).collect()
}

fn consumed(records: Vec<Consumed>) -> Vec<pb::ConsumedRecord> {
    records
        .into_iter()
        .map(|r| pb::ConsumedRecord {
            topic: r.topic,
            partition: r.partition,
            offset: r.offset,
            key: r.key,
            value: r.value,
            headers: r
                .headers
                .into_iter()
                .map(|(key, value)| pb::Header { key, value, ..Default::default() })
                .collect(),
            timestamp_ms: r.timestamp_ms,
            ..Default::default()
        })
        .collect()
}

fn assignment(partitions: Vec<(String, i32)>) -> Box<pb::Assignment> {
    Box::new(pb::Assignment {
        partitions: partitions
            .into_iter()
            .map(|(topic, partition)| pb::TopicPartition { topic, partition, ..Default::default() })
            .collect(),
        ..Default::default()
    })
}

#[allow(refining_impl_trait)]
impl pb::KafkaService for Kafka {
    async fn produce(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::ProduceRequest>,
    ) -> ServiceResult<pb::ProduceResponse> {
        let service = self.service()?;
        let request = request.to_owned_message();
        let ack = ack(request.ack)?;
        let produced = service.produce(records(request.records), ack).await.map_err(reject)?;
        Response::ok(pb::ProduceResponse { results: results(produced), ..Default::default() })
    }

    async fn produce_stream(
        &self,
        _ctx: RequestContext,
        requests: connectrpc::InboundStream<pb::ProduceStreamRequest>,
    ) -> ServiceResult<connectrpc::ServiceStream<pb::ProduceStreamResponse>> {
        let service = self.service()?.clone();
        // Each message is checked and queued for the spool as it arrives, in
        // order; up to STREAM_WINDOW of them wait for their acks at once.
        // Once draining begins, no more are taken: those taken are
        // answered, and the stream ends.
        let answers = requests
            .take_until(Box::pin(service.drained()))
            .map(move |request| {
                let queued = request.and_then(|request| {
                    let request = request.to_owned_message();
                    let sequence = request.sequence;
                    let ack = ack(request.ack)?;
                    let pending = service.submit(records(request.records), ack).map_err(reject)?;
                    Ok((sequence, pending))
                });
                async move {
                    let (sequence, pending) = queued?;
                    let produced = pending.wait().await.map_err(reject)?;
                    Ok(pb::ProduceStreamResponse { results: results(produced), sequence, ..Default::default() })
                }
            })
            .buffered(STREAM_WINDOW)
            .boxed();
        // The first error ends the stream.
        let answers = futures::stream::unfold((answers, false), |(mut answers, over)| async move {
            if over {
                return None;
            }
            match answers.next().await? {
                Ok(answer) => Some((Ok(answer), (answers, false))),
                Err(error) => Some((Err(error), (answers, true))),
            }
        });
        Response::stream_ok(answers)
    }

    async fn consume(
        &self,
        _ctx: RequestContext,
        mut requests: connectrpc::InboundStream<pb::ConsumeRequest>,
    ) -> ServiceResult<connectrpc::ServiceStream<pb::ConsumeResponse>> {
        use pb::__buffa::oneof::consume_request::Step;
        use pb::__buffa::oneof::consume_response::Event as Out;
        let service = self.service()?.clone();
        let first = match requests.next().await {
            Some(Ok(request)) => request.to_owned_message(),
            Some(Err(error)) => return Err(error),
            None => return Err(refuse(Kind::InvalidArgument, "the stream ended before its subscribe message")),
        };
        let Some(Step::Subscribe(subscribe)) = first.step else {
            return Err(refuse(Kind::InvalidArgument, "the first message of a Consume stream must be subscribe"));
        };
        let subscription = Subscription {
            group: subscribe.group,
            topics: subscribe.topics,
            instance_id: Some(subscribe.instance_id).filter(|id| !id.is_empty()),
            max_unacked: subscribe.max_unacked as usize,
            start: start(subscribe.start)?,
        };
        let acks = requests
            .map(|request| match request.map(|r| r.to_owned_message().step) {
                Ok(Some(Step::Ack(acks))) => Ok(positions(acks.positions)),
                Ok(_) => Err(attache_kafka::Error::Invalid {
                    field: "step".into(),
                    message: "after subscribe, a Consume stream carries only ack messages".into(),
                }),
                Err(error) => Err(attache_kafka::Error::Unavailable(error.to_string())),
            })
            .boxed();
        let events = service.consume(subscription, acks).map_err(reject)?;
        let answers = events.map(|event| {
            let event = match event.map_err(reject)? {
                Event::Records(records) => {
                    Out::Records(Box::new(pb::ConsumedRecords { records: consumed(records), ..Default::default() }))
                }
                Event::Changed(Change::Assigned(partitions)) => Out::Assigned(assignment(partitions)),
                Event::Changed(Change::Revoked(partitions)) => Out::Revoked(assignment(partitions)),
            };
            Ok(pb::ConsumeResponse { event: Some(event), ..Default::default() })
        });
        Response::stream_ok(answers)
    }

    async fn fetch(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::FetchRequest>,
    ) -> ServiceResult<pb::FetchResponse> {
        let service = self.service()?;
        let request = request.to_owned_message();
        let fetch = FetchRequest {
            group: request.group,
            topics: request.topics,
            max_records: request.max_records as usize,
            max_wait: std::time::Duration::from_millis(request.max_wait_ms.into()),
            lease: std::time::Duration::from_millis(request.lease_ms.into()),
            start: start(request.start)?,
        };
        let lease = service.fetch(fetch).await.map_err(reject)?;
        Response::ok(pb::FetchResponse { lease_id: lease.id, records: consumed(lease.records), ..Default::default() })
    }

    async fn commit(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::CommitRequest>,
    ) -> ServiceResult<pb::CommitResponse> {
        let service = self.service()?;
        let request = request.to_owned_message();
        let committed = service.commit(&request.lease_id, &positions(request.acked), request.all).map_err(reject)?;
        Response::ok(pb::CommitResponse {
            acked: committed.acked as u32,
            redelivered: committed.redelivered as u32,
            ..Default::default()
        })
    }
}
