//! `GET /metrics`: every reactor's counters in the Prometheus text format
//! (OpenMetrics flavour, which Prometheus scrapes), encoded by the
//! `prometheus-client` crate.
//!
//! The counters are the reactors' own ([`netloop::MetricsSnapshot`]: plain
//! atomics that the loops bump anyway), read through their handles at
//! scrape time, one sample per reactor labelled `reactor="N"`, and the
//! closes also by `reason`. Nothing is kept per connection, so serving
//! connections costs no allocation for the exporter; a scrape reuses one
//! text buffer and allocates only a small list of snapshots.
//!
//! ```
//! use netloop::Reactor;
//! use netloop_http::metrics::Exporter;
//! use netloop_http::server::HttpState;
//!
//! let reactor = Reactor::with_state(HttpState::new())?;
//! let mut exporter = Exporter::new(vec![reactor.handle()]);
//! let text = exporter.render();
//! assert!(text.contains("netloop_connections_open{reactor=\"0\"} 0"));
//! assert!(text.contains("netloop_closed_total{reactor=\"0\",reason=\"Reset\"} 0"));
//! # Ok::<(), std::io::Error>(())
//! ```

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use netloop::{MetricsSnapshot, ReactorHandle};

/// Renders the metrics of a set of reactors; one per reactor (its state
/// holds it), sharing the handles of all of them.
pub struct Exporter {
    registry: Registry,
    text: String,
}

impl Exporter {
    /// An exporter over these reactors (labelled by their index).
    pub fn new<S: 'static>(reactors: Vec<ReactorHandle<S>>) -> Exporter {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Reactors(reactors)));
        Exporter {
            registry,
            text: String::new(),
        }
    }

    /// The current counters in the text format (valid until the next call).
    pub fn render(&mut self) -> &str {
        self.text.clear();
        if prometheus_client::encoding::text::encode(&mut self.text, &self.registry).is_err() {
            // Writing to a String cannot fail; say so if it ever did.
            self.text.clear();
            self.text.push_str("# encoding failed\n");
        }
        &self.text
    }
}

/// The reactors a scrape reads.
struct Reactors<S: 'static>(Vec<ReactorHandle<S>>);

impl<S: 'static> std::fmt::Debug for Reactors<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reactors({})", self.0.len())
    }
}

/// A counter of the snapshot: its name (without `_total`), help and reader.
type Field = (&'static str, &'static str, fn(&MetricsSnapshot) -> u64);

const COUNTERS: [Field; 11] = [
    ("netloop_accepted", "Connections accepted.", |m| m.accepted),
    (
        "netloop_connected",
        "Outbound connections established.",
        |m| m.connected,
    ),
    ("netloop_bytes_in", "Bytes received.", |m| m.bytes_in),
    ("netloop_bytes_out", "Bytes handed to the kernel.", |m| {
        m.bytes_out
    }),
    (
        "netloop_high_water_events",
        "Send queues that crossed their high water mark.",
        |m| m.high_water_events,
    ),
    (
        "netloop_keepalive_failures",
        "Connections whose keepalive probes failed.",
        |m| m.keepalive_failures,
    ),
    (
        "netloop_accept_errors",
        "Failed accepts (all causes).",
        |m| m.accept_errors,
    ),
    ("netloop_panics", "Handler callbacks that panicked.", |m| {
        m.panics
    }),
    ("netloop_turns", "Loop turns.", |m| m.turns),
    ("netloop_tls_handshakes", "TLS handshakes completed.", |m| {
        m.tls_handshakes
    }),
    (
        "netloop_tls_failures",
        "TLS connections that failed (timeouts, cut handshakes, alerts).",
        |m| m.tls_failures,
    ),
];

impl<S: 'static> Collector for Reactors<S> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let snapshots: Vec<MetricsSnapshot> = self.0.iter().map(|h| h.metrics()).collect();
        let reactor = |i: usize| [("reactor", i as u64)];
        let open = "netloop_connections_open";
        let mut metric = encoder.encode_descriptor(
            open,
            "Connections open now.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (i, m) in snapshots.iter().enumerate() {
            ConstGauge::new(m.open as i64).encode(metric.encode_family(&reactor(i))?)?;
        }
        for (name, help, read) in COUNTERS {
            let counter = ConstCounter::new(0u64);
            let mut metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            for (i, m) in snapshots.iter().enumerate() {
                ConstCounter::new(read(m)).encode(metric.encode_family(&reactor(i))?)?;
            }
        }
        let mut metric = encoder.encode_descriptor(
            "netloop_closed",
            "Connections closed, by reason.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (i, m) in snapshots.iter().enumerate() {
            for (reason, n) in m.closed_by_reason() {
                let labels = (reactor(i), [("reason", reason)]);
                ConstCounter::new(n).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
