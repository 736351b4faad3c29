//! Kafka through the sidecar: records go to its durable local spool and on
//! to the brokers; consuming is a stream with acks, or leases fetched and
//! committed one call at a time.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use attache_proto::attache::kafka::v1 as pb;
use attache_proto::attache::kafka::v1::__buffa::oneof::{consume_request, consume_response};
use futures::Stream;
use tokio::sync::mpsc;

use crate::Client;
use crate::error::{Code, Error, Result};

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Its topic.
    pub topic: String,
    /// Its key (records of one key keep their order).
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
    /// Its headers, in order (a key may repeat).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// A partition, instead of the key's.
    pub partition: Option<i32>,
    /// Its timestamp in milliseconds since the epoch; default: when spooled.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// A record of `value` for `topic`.
    pub fn new(topic: &str, value: impl Into<Vec<u8>>) -> Record {
        Record { topic: topic.to_owned(), value: Some(value.into()), ..Default::default() }
    }

    /// With a key.
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Record {
        self.key = Some(key.into());
        self
    }

    /// With one more header.
    pub fn header(mut self, key: &str, value: impl Into<Vec<u8>>) -> Record {
        self.headers.push((key.to_owned(), Some(value.into())));
        self
    }

    /// To this partition.
    pub fn partition(mut self, partition: i32) -> Record {
        self.partition = Some(partition);
        self
    }

    fn to_pb(&self) -> pb::Record {
        pb::Record {
            topic: self.topic.clone(),
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| pb::Header { key: k.clone(), value: v.clone(), ..Default::default() })
                .collect(),
            partition: self.partition,
            timestamp_ms: self.timestamp_ms,
            ..Default::default()
        }
    }
}

/// When a produce call returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ack {
    /// Once the records are in the sidecar's spool on disk (fsynced); they
    /// are delivered after, even across restarts.
    #[default]
    Spooled,
    /// Once the brokers have them (partition and offset known).
    Delivered,
}

impl Ack {
    fn to_pb(self) -> pb::Ack {
        match self {
            Ack::Spooled => pb::Ack::ACK_SPOOLED,
            Ack::Delivered => pb::Ack::ACK_DELIVERED,
        }
    }
}

/// What happened to one produced record.
#[derive(Debug, Clone)]
pub struct Produced {
    /// The record's id (its `attache-id` header).
    pub id: String,
    /// Its partition, once delivered.
    pub partition: Option<i32>,
    /// Its offset, once delivered.
    pub offset: Option<i64>,
    /// Why it was refused; the other records of the call are unaffected.
    pub error: Option<Error>,
}

fn produced(results: Vec<pb::RecordResult>) -> Vec<Produced> {
    results
        .into_iter()
        .map(|r| Produced {
            error: r
                .error
                .as_option()
                .filter(|e| !e.code.is_empty())
                .map(|e| Error::new(Code::from_name(&e.code), e.message.clone())),
            id: r.id,
            partition: r.partition,
            offset: r.offset,
        })
        .collect()
}

/// A consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Its topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
    /// Its headers, in order, `attache-id` included.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Its timestamp in milliseconds since the epoch.
    pub timestamp_ms: i64,
}

impl ConsumedRecord {
    fn from_pb(r: pb::ConsumedRecord) -> ConsumedRecord {
        ConsumedRecord {
            topic: r.topic,
            partition: r.partition,
            offset: r.offset,
            key: r.key,
            value: r.value,
            headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
            timestamp_ms: r.timestamp_ms,
        }
    }

    fn position(&self) -> pb::Position {
        pb::Position { topic: self.topic.clone(), partition: self.partition, offset: self.offset, ..Default::default() }
    }

    /// Its `attache-id` header: the same on every delivery of the record,
    /// to drop duplicates by.
    pub fn id(&self) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == "attache-id").and_then(|(_, v)| std::str::from_utf8(v.as_deref()?).ok())
    }
}

/// Where a new group starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartFrom {
    /// The sidecar's default (latest).
    #[default]
    Default,
    /// The oldest record kept.
    Earliest,
    /// Only records produced from now.
    Latest,
}

impl StartFrom {
    fn to_pb(self) -> pb::StartFrom {
        match self {
            StartFrom::Default => pb::StartFrom::START_FROM_UNSPECIFIED,
            StartFrom::Earliest => pb::StartFrom::START_FROM_EARLIEST,
            StartFrom::Latest => pb::StartFrom::START_FROM_LATEST,
        }
    }
}

/// Options of [`Kafka::fetch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// The consumer group.
    pub group: String,
    /// Its topics.
    pub topics: Vec<String>,
    /// Most records in the lease; 0 is 100.
    pub max_records: u32,
    /// Longest wait for a first record (at most a minute); `None` is 1 s,
    /// zero answers at once. The call's deadline is the client's timeout
    /// plus this wait.
    pub max_wait: Option<Duration>,
    /// How long the records are leased before they go to another fetch;
    /// `None` for the sidecar's default.
    pub lease: Option<Duration>,
    /// Where a new group starts.
    pub start: StartFrom,
}

/// Records leased by one [`Kafka::fetch`]; commit them before the lease
/// ends, or they are fetched again.
#[derive(Debug)]
pub struct Lease {
    client: Client,
    /// The lease's id.
    pub id: String,
    /// The records, in each partition's order.
    pub records: Vec<ConsumedRecord>,
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Records acknowledged.
    pub acked: u32,
    /// Records of the lease not acknowledged, given to the next fetch.
    pub redelivered: u32,
}

impl Lease {
    /// Acknowledges every record of the lease.
    pub async fn commit_all(self) -> Result<Committed> {
        self.commit_with(Vec::new(), true).await
    }

    /// Acknowledges `records` (of this lease); the rest are fetched again.
    pub async fn commit(self, records: &[&ConsumedRecord]) -> Result<Committed> {
        let acked = records.iter().map(|r| r.position()).collect();
        self.commit_with(acked, false).await
    }

    async fn commit_with(self, acked: Vec<pb::Position>, all: bool) -> Result<Committed> {
        let req = pb::CommitRequest { lease_id: self.id, acked, all, ..Default::default() };
        let reply: pb::CommitResponse = self.client.unary(pb::KAFKA_SERVICE_COMMIT_SPEC, &req).await?;
        Ok(Committed { acked: reply.acked, redelivered: reply.redelivered })
    }
}

/// Options of [`Kafka::consume`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// The consumer group (`[a-zA-Z0-9._-]`, 1-249 characters).
    pub group: String,
    /// Its topics.
    pub topics: Vec<String>,
    /// A static member id, to keep partitions across restarts.
    pub instance_id: String,
    /// Most records delivered and not yet acked; 0 for the default.
    pub max_unacked: u32,
    /// Where a new group starts.
    pub start: StartFrom,
}

/// The records of a [`Kafka::consume`], as a [`Stream`]. Ack each record
/// once handled; unacked records are delivered again after a rebalance or
/// a restart. Dropping it leaves the group at once.
pub struct Consumer {
    records: Pin<Box<dyn Stream<Item = Result<ConsumedRecord>> + Send>>,
    acks: mpsc::UnboundedSender<pb::Position>,
    sender: tokio::task::JoinHandle<()>,
    timeout: Duration,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Consumer")
    }
}

impl Consumer {
    /// The next record; `None` once the sidecar ended the stream cleanly.
    pub async fn next(&mut self) -> Option<Result<ConsumedRecord>> {
        futures::StreamExt::next(&mut self.records).await
    }

    /// Acknowledges `record`: its offset is committed once every record
    /// before it in its partition is acked too.
    pub fn ack(&self, record: &ConsumedRecord) {
        // Fails only once the stream has ended, when acks no longer matter.
        let _ = self.acks.send(record.position());
    }

    /// A handle that acks for this consumer from other tasks, for records
    /// handled concurrently while the consumer reads on.
    pub fn acker(&self) -> Acker {
        Acker { acks: self.acks.clone() }
    }

    /// Leaves the group cleanly: the acks given so far reach the sidecar,
    /// which commits them before it ends the stream; records delivered
    /// meanwhile and not acked are delivered again later. Within the
    /// client's deadline.
    pub async fn close(self) -> Result<()> {
        let Consumer { mut records, acks, sender, timeout } = self;
        drop(acks);
        let drain = async {
            // The sender sends what is queued, then ends the request.
            let _ = sender.await;
            while let Some(next) = futures::StreamExt::next(&mut records).await {
                next?;
            }
            Ok(())
        };
        tokio::time::timeout(timeout, drain)
            .await
            .unwrap_or_else(|_| Err(Error::new(Code::DeadlineExceeded, "the consumer did not end within the deadline")))
    }
}

impl Stream for Consumer {
    type Item = Result<ConsumedRecord>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.records.as_mut().poll_next(cx)
    }
}

/// Acks records for a [`Consumer`] from any task; from [`Consumer::acker`].
#[derive(Debug, Clone)]
pub struct Acker {
    acks: mpsc::UnboundedSender<pb::Position>,
}

impl Acker {
    /// Acknowledges `record`, as [`Consumer::ack`] does.
    pub fn ack(&self, record: &ConsumedRecord) {
        let _ = self.acks.send(record.position());
    }
}

/// A stream of produce calls on one connection, answered in order; from
/// [`Kafka::produce_stream`].
pub struct ProduceStream {
    client: Client,
    ack: Ack,
    sequence: u64,
    send: connectrpc::client::BidiSendHalf<pb::ProduceStreamRequest>,
    recv: Pin<Box<dyn Stream<Item = Result<pb::ProduceStreamResponse>> + Send>>,
}

impl std::fmt::Debug for ProduceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProduceStream").field("sequence", &self.sequence).finish()
    }
}

impl ProduceStream {
    /// Produces `records` and waits for their results (as the stream's ack
    /// says), within the client's deadline.
    pub async fn send(&mut self, records: &[Record]) -> Result<Vec<Produced>> {
        self.sequence += 1;
        let req = pb::ProduceStreamRequest {
            records: records.iter().map(Record::to_pb).collect(),
            ack: self.ack.to_pb().into(),
            sequence: self.sequence,
            ..Default::default()
        };
        let sequence = self.sequence;
        let exchange = async {
            let sent = self.send.send(req).await;
            loop {
                match futures::StreamExt::next(&mut self.recv).await {
                    Some(Ok(reply)) if reply.sequence == sequence => return Ok(produced(reply.results)),
                    // The late answer to a send whose caller gave up waiting.
                    Some(Ok(reply)) if reply.sequence < sequence => continue,
                    Some(Ok(reply)) => {
                        return Err(Error::new(
                            Code::Internal,
                            format!("answer {} to produce {sequence}", reply.sequence),
                        ));
                    }
                    Some(Err(e)) => return Err(e),
                    None => {
                        return Err(match sent {
                            Err(e) => Error::from_connect(e),
                            Ok(()) => Error::new(Code::Internal, "the produce stream ended without an answer"),
                        });
                    }
                }
            }
        };
        tokio::time::timeout(self.client.timeout(), exchange).await.unwrap_or_else(|_| {
            Err(Error::new(Code::DeadlineExceeded, "the produce's deadline passed before the sidecar answered"))
        })
    }

    /// Ends the stream once the sidecar has answered what was sent.
    pub async fn close(mut self) -> Result<()> {
        self.send.close_send();
        let sequence = self.sequence;
        let end = async {
            loop {
                match futures::StreamExt::next(&mut self.recv).await {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(e),
                    // Late answers to sends whose callers gave up waiting.
                    Some(Ok(reply)) if reply.sequence <= sequence => {}
                    Some(Ok(_)) => return Err(Error::new(Code::Internal, "an answer to nothing sent")),
                }
            }
        };
        tokio::time::timeout(self.client.timeout(), end).await.unwrap_or_else(|_| {
            Err(Error::new(Code::DeadlineExceeded, "the produce stream did not end within the deadline"))
        })
    }
}

/// Kafka; from [`Client::kafka`].
#[derive(Debug, Clone, Copy)]
pub struct Kafka<'a> {
    pub(crate) client: &'a Client,
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl Kafka<'_> {
    /// Produces `records`; a result per record, in order.
    pub async fn produce(&self, records: &[Record], ack: Ack) -> Result<Vec<Produced>> {
        let req = pb::ProduceRequest {
            records: records.iter().map(Record::to_pb).collect(),
            ack: ack.to_pb().into(),
            ..Default::default()
        };
        let reply: pb::ProduceResponse = self.client.unary(pb::KAFKA_SERVICE_PRODUCE_SPEC, &req).await?;
        Ok(produced(reply.results))
    }

    /// A stream of produce calls with `ack`, answered in order.
    pub async fn produce_stream(&self, ack: Ack) -> Result<ProduceStream> {
        let stream = self
            .client
            .transport()
            .stream(|h2, config| async move { pb::KafkaServiceClient::new(h2, config).produce_stream().await })
            .await?;
        let (send, recv) = stream.into_split();
        let recv = futures::stream::unfold(Some(recv), |recv| async move {
            let mut recv = recv?;
            match recv.message().await {
                Ok(Some(m)) => Some((Ok(m.to_owned_message()), Some(recv))),
                Ok(None) => None,
                Err(e) => Some((Err(Error::from_connect(e)), None)),
            }
        });
        Ok(ProduceStream { client: self.client.clone(), ack, sequence: 0, send, recv: Box::pin(recv) })
    }

    /// Leases the group's next records (waiting up to `max_wait` for a
    /// first one); an empty lease when none came.
    pub async fn fetch(&self, options: &FetchOptions) -> Result<Lease> {
        let max_wait = options.max_wait.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(60));
        let req = pb::FetchRequest {
            group: options.group.clone(),
            topics: options.topics.clone(),
            max_records: if options.max_records == 0 { 100 } else { options.max_records },
            max_wait_ms: millis(max_wait),
            lease_ms: options.lease.map_or(0, millis),
            start: options.start.to_pb().into(),
            ..Default::default()
        };
        let waiting = self.client.with_timeout(self.client.timeout().saturating_add(max_wait));
        let reply: pb::FetchResponse = waiting.unary(pb::KAFKA_SERVICE_FETCH_SPEC, &req).await?;
        Ok(Lease {
            client: self.client.clone(),
            id: reply.lease_id,
            records: reply.records.into_iter().map(ConsumedRecord::from_pb).collect(),
        })
    }

    /// Joins the group and streams its records.
    pub async fn consume(&self, options: &ConsumeOptions) -> Result<Consumer> {
        let stream = self
            .client
            .transport()
            .stream(|h2, config| async move { pb::KafkaServiceClient::new(h2, config).consume().await })
            .await?;
        let (mut send, recv) = stream.into_split();
        let subscribe = pb::Subscribe {
            group: options.group.clone(),
            topics: options.topics.clone(),
            instance_id: options.instance_id.clone(),
            max_unacked: options.max_unacked,
            start: options.start.to_pb().into(),
            ..Default::default()
        };
        // A refused subscription is reported by the first record's read.
        let _ = send
            .send(pb::ConsumeRequest {
                step: Some(consume_request::Step::Subscribe(Box::new(subscribe))),
                ..Default::default()
            })
            .await;
        let (acks, mut pending) = mpsc::unbounded_channel::<pb::Position>();
        let sender = tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut positions = vec![first];
                while let Ok(more) = pending.try_recv() {
                    positions.push(more);
                }
                let step = consume_request::Step::Ack(Box::new(pb::Acks { positions, ..Default::default() }));
                if send.send(pb::ConsumeRequest { step: Some(step), ..Default::default() }).await.is_err() {
                    return;
                }
            }
        });
        let records = futures::stream::unfold((Some(recv), VecDeque::new()), |(mut recv, mut ready)| async move {
            loop {
                if let Some(r) = ready.pop_front() {
                    return Some((Ok(r), (recv, ready)));
                }
                match recv.as_mut()?.message().await {
                    Ok(Some(m)) => {
                        // Assignments and revocations are the sidecar's to
                        // handle; records are what the caller reads.
                        if let Some(consume_response::Event::Records(batch)) = m.to_owned_message().event {
                            ready.extend(batch.records.into_iter().map(ConsumedRecord::from_pb));
                        }
                    }
                    Ok(None) => return None,
                    Err(e) => return Some((Err(Error::from_connect(e)), (None, ready))),
                }
            }
        });
        Ok(Consumer { records: Box::pin(records), acks, sender, timeout: self.client.timeout() })
    }
}
