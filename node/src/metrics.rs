//! The node's Prometheus metrics: one registry the daemon updates as the ledger, the links
//! and the wallets change, encoded as text for the local API's `/metrics`. Names follow
//! `meshpay_<subsystem>_<what>_<unit>`; counters gain their `_total` suffix on encoding.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Upper bounds of the acknowledgement latency buckets, in seconds: 100 µs to 10 s in
/// 1-2.5-5 steps, from a synced write on fast storage to a stalled SD card.
pub const ACK_LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The label of per-link metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LinkLabel {
    link: String,
}

/// The label of per-rule metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

/// The node's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    records: Gauge,
    accounts: Gauge,
    conflicts: Gauge,
    orphans: Gauge,
    peers: Family<LinkLabel, Gauge>,
    received_bytes: Family<LinkLabel, Counter>,
    sent_bytes: Family<LinkLabel, Counter>,
    received_frames: Family<LinkLabel, Counter>,
    sent_frames: Family<LinkLabel, Counter>,
    refused_records: Family<RuleLabel, Counter>,
    thin_misses: Family<LinkLabel, Counter>,
    ack_latency: Histogram,
    payments_made: Counter,
    payments_accepted: Counter,
    payments_refused: Family<RuleLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, all at zero.
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            records: Gauge::default(),
            accounts: Gauge::default(),
            conflicts: Gauge::default(),
            orphans: Gauge::default(),
            peers: Family::default(),
            received_bytes: Family::default(),
            sent_bytes: Family::default(),
            received_frames: Family::default(),
            sent_frames: Family::default(),
            refused_records: Family::default(),
            thin_misses: Family::default(),
            ack_latency: Histogram::new(ACK_LATENCY_BUCKETS_SECONDS),
            payments_made: Counter::default(),
            payments_accepted: Counter::default(),
            payments_refused: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "meshpay_ledger_records",
            "Records the ledger holds",
            m.records.clone(),
        );
        r.register(
            "meshpay_ledger_accounts",
            "Accounts the ledger knows",
            m.accounts.clone(),
        );
        r.register(
            "meshpay_ledger_conflicts",
            "Forks: several records of one signer at one seq",
            m.conflicts.clone(),
        );
        r.register(
            "meshpay_ledger_orphans",
            "Records waiting for dependencies this node lacks",
            m.orphans.clone(),
        );
        r.register(
            "meshpay_link_peers",
            "Peers connected, per link",
            m.peers.clone(),
        );
        r.register_with_unit(
            "meshpay_link_received",
            "Bytes received, per link",
            Unit::Bytes,
            m.received_bytes.clone(),
        );
        r.register_with_unit(
            "meshpay_link_sent",
            "Bytes sent, per link",
            Unit::Bytes,
            m.sent_bytes.clone(),
        );
        r.register(
            "meshpay_link_received_frames",
            "Frames received, per link",
            m.received_frames.clone(),
        );
        r.register(
            "meshpay_link_sent_frames",
            "Frames sent, per link",
            m.sent_frames.clone(),
        );
        r.register(
            "meshpay_intake_refused_records",
            "Records refused at intake, per rule",
            m.refused_records.clone(),
        );
        r.register(
            "meshpay_sync_thin_misses",
            "Thin pushes whose previous record this node lacked (each made it reconcile), per link",
            m.thin_misses.clone(),
        );
        r.register_with_unit(
            "meshpay_store_ack_latency",
            "Time from a record's arrival to its acknowledgement after a synced write",
            Unit::Seconds,
            m.ack_latency.clone(),
        );
        r.register(
            "meshpay_wallet_payments_made",
            "Payments this node's wallets signed and released",
            m.payments_made.clone(),
        );
        r.register(
            "meshpay_policy_payments_accepted",
            "Incoming payments accepted as good money",
            m.payments_accepted.clone(),
        );
        r.register(
            "meshpay_policy_payments_refused",
            "Incoming payments refused, per rule",
            m.payments_refused.clone(),
        );
        m
    }

    /// Sets the ledger's sizes.
    pub fn set_ledger(&self, records: usize, accounts: usize, conflicts: usize, orphans: usize) {
        self.records.set(gauge_value(records));
        self.accounts.set(gauge_value(accounts));
        self.conflicts.set(gauge_value(conflicts));
        self.orphans.set(gauge_value(orphans));
    }

    /// Sets how many peers a link has.
    pub fn peer_count(&self, link: &str, n: usize) {
        self.peers
            .get_or_create(&link_label(link))
            .set(gauge_value(n));
    }

    /// Counts bytes received on a link.
    pub fn bytes_in(&self, link: &str, n: u64) {
        self.received_bytes
            .get_or_create(&link_label(link))
            .inc_by(n);
    }

    /// Counts bytes sent on a link.
    pub fn bytes_out(&self, link: &str, n: u64) {
        self.sent_bytes.get_or_create(&link_label(link)).inc_by(n);
    }

    /// Counts frames received on a link.
    pub fn frames_in(&self, link: &str, n: u64) {
        self.received_frames
            .get_or_create(&link_label(link))
            .inc_by(n);
    }

    /// Counts frames sent on a link.
    pub fn frames_out(&self, link: &str, n: u64) {
        self.sent_frames.get_or_create(&link_label(link)).inc_by(n);
    }

    /// Counts a record refused at intake by `rule` (the rule's stable name).
    pub fn refused(&self, rule: &str) {
        self.refused_records.get_or_create(&rule_label(rule)).inc();
    }

    /// Brings a link's thin-miss counter up to the sync engine's running total.
    pub fn thin_misses(&self, link: &str, total: u64) {
        let c = self.thin_misses.get_or_create(&link_label(link));
        let seen = c.get();
        // The engine's total only grows while the node runs; a smaller one is not news.
        if total > seen {
            c.inc_by(total - seen);
        }
    }

    /// Records how long an acknowledgement took.
    pub fn ack_latency(&self, elapsed: Duration) {
        self.ack_latency.observe(elapsed.as_secs_f64());
    }

    /// Counts a payment one of this node's wallets released.
    pub fn payment_made(&self) {
        self.payments_made.inc();
    }

    /// Counts an incoming payment accepted.
    pub fn payment_accepted(&self) {
        self.payments_accepted.inc();
    }

    /// Counts an incoming payment refused by `rule`.
    pub fn payment_refused(&self, rule: &str) {
        self.payments_refused.get_or_create(&rule_label(rule)).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an error would be an encoder bug, and an
        // empty scrape is better than a crashed node.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
            out.clear();
        }
        out
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn link_label(link: &str) -> LinkLabel {
    LinkLabel {
        link: link.to_owned(),
    }
}

fn rule_label(rule: &str) -> RuleLabel {
    RuleLabel {
        rule: rule.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_encoded_with_its_name() {
        let m = Metrics::new();
        m.set_ledger(10, 3, 1, 2);
        m.peer_count("lan", 4);
        m.bytes_in("lan", 100);
        m.bytes_out("lora", 50);
        m.frames_in("lan", 2);
        m.frames_out("lora", 1);
        m.refused("bad_signature");
        m.thin_misses("lan", 3);
        m.thin_misses("lan", 5);
        m.thin_misses("lan", 4);
        m.ack_latency(Duration::from_millis(3));
        m.payment_made();
        m.payment_accepted();
        m.payment_refused("debt");
        let text = m.encode();
        for name in [
            "meshpay_ledger_records 10",
            "meshpay_ledger_accounts 3",
            "meshpay_ledger_conflicts 1",
            "meshpay_ledger_orphans 2",
            "meshpay_link_peers{link=\"lan\"} 4",
            "meshpay_link_received_bytes_total{link=\"lan\"} 100",
            "meshpay_link_sent_bytes_total{link=\"lora\"} 50",
            "meshpay_link_received_frames_total{link=\"lan\"} 2",
            "meshpay_link_sent_frames_total{link=\"lora\"} 1",
            "meshpay_intake_refused_records_total{rule=\"bad_signature\"} 1",
            "meshpay_sync_thin_misses_total{link=\"lan\"} 5",
            "meshpay_store_ack_latency_seconds_bucket{le=\"0.0001\"} 0",
            "meshpay_store_ack_latency_seconds_bucket{le=\"10.0\"} 1",
            "meshpay_store_ack_latency_seconds_count 1",
            "meshpay_wallet_payments_made_total 1",
            "meshpay_policy_payments_accepted_total 1",
            "meshpay_policy_payments_refused_total{rule=\"debt\"} 1",
        ] {
            assert!(text.contains(name), "missing {name:?} in\n{text}");
        }
    }

    #[test]
    fn unlabelled_metrics_are_encoded_before_any_sample() {
        // Labelled families appear with their first label; the rest read 0 from the start.
        let text = Metrics::new().encode();
        for line in [
            "meshpay_ledger_records 0",
            "meshpay_ledger_orphans 0",
            "meshpay_store_ack_latency_seconds_count 0",
            "meshpay_wallet_payments_made_total 0",
            "meshpay_policy_payments_accepted_total 0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
