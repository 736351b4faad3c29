use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::Service;

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub spooled: Counter,
    pub delivered: Counter,
    pub rejected: Counter,
    pub producer_restarts: Counter,
}

impl Metrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register("spooled_records", "Records acknowledged into the spool", self.spooled.clone());
        registry.register(
            "delivered_records",
            "Records Kafka acknowledged (released from the spool)",
            self.delivered.clone(),
        );
        registry.register(
            "rejected_records",
            "Records Kafka refused for good (unknown topic, too large, not authorized), kept in rejected.jsonl",
            self.rejected.clone(),
        );
        registry.register(
            "producer_restarts",
            "Producers replaced after a fatal error (every unreleased record is sent again)",
            self.producer_restarts.clone(),
        );
    }
}

/// The spool's own counters, read when metrics are scraped.
#[derive(Debug)]
pub(crate) struct SpoolCollector {
    pub service: Service,
}

impl Collector for SpoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.service.spool_stats();
        let gauges = [
            ("spool_pending_records", "Records spooled and not yet acknowledged by Kafka", s.pending),
            ("spool_bytes", "Bytes of spool segments on disk", s.disk_bytes),
            ("spool_segments", "Spool segment files", s.segments),
        ];
        for (name, help, value) in gauges {
            let metric = ConstGauge::new(value as i64);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        let counters = [
            ("spool_dropped_records", "Records dropped from a full spool (drop_oldest topics)", s.dropped),
            ("spool_refused_full", "Produce calls refused because the spool was full", s.refused_full),
            ("spool_corrupt_records", "Spooled records lost to damage found on disk", s.corrupt),
            ("spool_io_errors", "Spool writes, syncs or deletions that failed", s.io_errors),
            ("spool_syncs", "fdatasync calls on spool segments", s.syncs),
        ];
        for (name, help, value) in counters {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        Ok(())
    }
}
