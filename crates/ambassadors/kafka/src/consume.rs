//! Consume streams and Fetch leases over [`Member`]s.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::Error;
use crate::config::Config;
use crate::member::{Change, Consumed, Join, Member, Start};

/// A record's coordinates, as an acknowledgement names it.
pub type Position = (String, i32, i64);

/// What a Consume stream asks for.
#[derive(Debug, Clone, Default)]
pub struct Subscription {
    pub group: String,
    pub topics: Vec<String>,
    /// Static membership: a stable id of the app instance.
    pub instance_id: Option<String>,
    /// 0: the configured bound, which also caps it.
    pub max_unacked: usize,
    pub start: Start,
}

/// What a Consume stream carries to the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Records(Vec<Consumed>),
    Changed(Change),
}

pub(crate) fn check_group(group: &str, topics: &[String]) -> Result<(), Error> {
    // As the API documents it (and as Kafka names topics): a group id also
    // names metrics and log lines, and a typo with a space in it would
    // otherwise join a group of its own and wait for records in silence.
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if group.is_empty() || group.len() > 249 || !group.chars().all(allowed) {
        let shown: String = group.chars().take(64).collect();
        let more = if group.chars().count() > 64 { "…" } else { "" };
        return Err(Error::invalid("group", format!("{shown:?}{more} is not a group id: 1 to 249 of [a-zA-Z0-9._-]")));
    }
    if topics.is_empty() {
        return Err(Error::invalid("topics", "name at least one topic"));
    }
    for (i, topic) in topics.iter().enumerate() {
        crate::record::check_topic(topic)
            .map_err(|why| Error::invalid(format!("topics[{i}]"), format!("the topic {why}")))?;
    }
    Ok(())
}

fn no_brokers() -> Error {
    Error::Precondition("consuming needs brokers: set kafka.brokers (ATTACHE_KAFKA_BROKERS)".into())
}

/// A Consume stream: joins the group now; the member (and its place in the
/// group) lives exactly as long as the returned stream.
pub(crate) fn consume(
    config: &Config,
    subscription: Subscription,
    acks: BoxStream<'static, Result<Vec<Position>, Error>>,
) -> Result<BoxStream<'static, Result<Event, Error>>, Error> {
    if config.brokers.is_empty() {
        return Err(no_brokers());
    }
    check_group(&subscription.group, &subscription.topics)?;
    let bound = config.consumer.max_unacked;
    let max_unacked = match subscription.max_unacked {
        0 => bound,
        n => n.min(bound),
    };
    let member = Member::join(
        config,
        Join {
            group: &subscription.group,
            topics: &subscription.topics,
            instance_id: subscription.instance_id.as_deref(),
            max_unacked,
            start: subscription.start,
        },
    )?;
    struct Streaming {
        member: Member,
        acks: BoxStream<'static, Result<Vec<Position>, Error>>,
        outbox: Vec<Event>,
        over: bool,
    }
    let streaming = Streaming { member, acks, outbox: Vec::new(), over: false };
    let events = futures::stream::unfold(streaming, |mut s| async move {
        loop {
            if s.over {
                return None;
            }
            if !s.outbox.is_empty() {
                let event = s.outbox.remove(0);
                return Some((Ok(event), s));
            }
            let shared = s.member.shared.clone();
            let mut notified = pin!(shared.ready.notified());
            notified.as_mut().enable();
            let (changes, failed) = s.member.changes();
            if let Some(error) = failed {
                s.over = true;
                return Some((Err(error), s));
            }
            s.outbox.extend(changes.into_iter().map(Event::Changed));
            let records = s.member.take(256);
            if !records.is_empty() {
                s.outbox.push(Event::Records(records));
            }
            if !s.outbox.is_empty() {
                continue;
            }
            tokio::select! {
                () = &mut notified => {}
                ack = s.acks.next() => match ack {
                    Some(Ok(positions)) => {
                        if let Err(error) = s.member.ack(&positions, true) {
                            s.over = true;
                            return Some((Err(error), s));
                        }
                    }
                    // The app closed its side (or the stream broke): the
                    // member commits what was acknowledged as it drops.
                    Some(Err(_)) | None => return None,
                },
            }
        }
    });
    Ok(events.boxed())
}

/// Records leased to a Fetch caller.
pub struct Lease {
    pub id: String,
    pub records: Vec<Consumed>,
}

/// What a Commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub acked: usize,
    pub redelivered: usize,
}

/// What a Fetch asks for.
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    pub group: String,
    pub topics: Vec<String>,
    pub max_records: usize,
    pub max_wait: Duration,
    /// Zero: the configured lease timeout.
    pub lease: Duration,
    pub start: Start,
}

/// Fetch consumers one host keeps at once (each is a librdkafka consumer
/// and a member of its group).
const MAX_FETCH_GROUPS: usize = 64;

/// A group id and its sorted topics.
type GroupKey = (String, Vec<String>);

struct Group {
    member: Member,
    last_used: Mutex<Instant>,
}

struct Leased {
    group: Arc<Group>,
    records: Vec<Consumed>,
    expires: Instant,
}

/// The Fetch consumers of this host (one member per group and topic set,
/// shared by every caller) and their leases.
#[derive(Default)]
pub(crate) struct Leases {
    groups: Mutex<HashMap<GroupKey, Arc<Group>>>,
    leases: Mutex<HashMap<String, Leased>>,
}

impl Leases {
    pub(crate) async fn fetch(&self, config: &Config, request: FetchRequest) -> Result<Lease, Error> {
        if config.brokers.is_empty() {
            return Err(no_brokers());
        }
        check_group(&request.group, &request.topics)?;
        if request.max_records == 0 {
            return Err(Error::invalid("max_records", "ask for at least one record"));
        }
        self.sweep(config);
        let mut topics = request.topics.clone();
        topics.sort();
        topics.dedup();
        let group = {
            let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
            // A member that failed (fenced, say) is replaced.
            let key = (request.group.clone(), topics.clone());
            if groups.get(&key).is_some_and(|g| g.member.failed()) {
                groups.remove(&key);
            }
            if !groups.contains_key(&key) && groups.len() >= MAX_FETCH_GROUPS {
                return Err(Error::Exhausted(format!(
                    "{MAX_FETCH_GROUPS} Fetch consumers (group and topics) are open on this host, the most it keeps; \
                     they close after kafka.consumer.idle_timeout without a Fetch"
                )));
            }
            match groups.get(&key) {
                Some(group) => group.clone(),
                None => {
                    let join = Join {
                        group: &request.group,
                        topics: &topics,
                        instance_id: None,
                        max_unacked: config.consumer.max_unacked,
                        start: request.start,
                    };
                    let group =
                        Arc::new(Group { member: Member::join(config, join)?, last_used: Mutex::new(Instant::now()) });
                    groups.insert((request.group.clone(), topics), group.clone());
                    group
                }
            }
        };
        *group.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        let deadline = tokio::time::Instant::now() + request.max_wait.min(Duration::from_secs(60));
        let records = loop {
            let shared = group.member.shared.clone();
            let mut notified = pin!(shared.ready.notified());
            notified.as_mut().enable();
            let records = group.member.take(request.max_records);
            if !records.is_empty() {
                break records;
            }
            if let (_, Some(error)) = group.member.changes() {
                return Err(error);
            }
            // Wake at least every 100 ms: a lease that expires meanwhile
            // hands its records back to this wait.
            let wake = deadline.min(tokio::time::Instant::now() + Duration::from_millis(100));
            if tokio::time::timeout_at(wake, notified).await.is_err() {
                if tokio::time::Instant::now() >= deadline {
                    break Vec::new();
                }
                self.sweep(config);
            }
        };
        if records.is_empty() {
            return Ok(Lease { id: String::new(), records });
        }
        let id = format!("{:032x}", rand::random::<u128>());
        let lease = if request.lease.is_zero() {
            config.consumer.lease_timeout
        } else {
            request.lease.min(Duration::from_secs(3600))
        };
        let leased = Leased { group, records: records.clone(), expires: Instant::now() + lease };
        self.leases.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), leased);
        Ok(Lease { id, records })
    }

    pub(crate) fn commit(&self, config: &Config, id: &str, acked: &[Position], all: bool) -> Result<Committed, Error> {
        self.sweep(config);
        let leased = self.leases.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        let Some(leased) = leased else {
            return Err(Error::NotFound(format!(
                "no lease {id:?}: it was committed already, or it expired and its records are being delivered again"
            )));
        };
        let (done, rest): (Vec<Consumed>, Vec<Consumed>) = leased
            .records
            .into_iter()
            .partition(|r| all || acked.iter().any(|(t, p, o)| *t == r.topic && *p == r.partition && *o == r.offset));
        let positions: Vec<Position> = done.iter().map(|r| (r.topic.clone(), r.partition, r.offset)).collect();
        let count = leased.group.member.ack(&positions, false)?;
        let redelivered = rest.len();
        leased.group.member.redeliver(rest);
        Ok(Committed { acked: count, redelivered })
    }

    /// Expired leases go back to their group's queue; groups nobody
    /// fetched from for `idle_timeout` (and with no lease out) leave.
    pub(crate) fn sweep(&self, config: &Config) {
        let now = Instant::now();
        let expired: Vec<Leased> = {
            let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
            let ids: Vec<String> = leases.iter().filter(|(_, l)| l.expires <= now).map(|(id, _)| id.clone()).collect();
            ids.into_iter().filter_map(|id| leases.remove(&id)).collect()
        };
        for lease in expired {
            lease.group.member.redeliver(lease.records);
        }
        let leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups.retain(|_, group| {
            let idle = now.duration_since(*group.last_used.lock().unwrap_or_else(|p| p.into_inner()))
                >= config.consumer.idle_timeout;
            let leased = leases.values().any(|l| Arc::ptr_eq(&l.group, group));
            !idle || leased
        });
    }

    pub(crate) fn clear(&self) {
        self.leases.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.groups.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
