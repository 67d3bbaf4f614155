//! Prometheus metrics, served at `/metrics`.
//!
//! Counters are kept as things happen (requests, decisions, deliveries);
//! figures that storage or the plugin host already know (queue length,
//! webhook backlog, plugin calls) are read when the metrics are scraped.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    decisions: Family<TierLabels, Counter>,
    plugin_calls: Family<PluginLabels, Counter>,
    plugin_failures: Family<PluginLabels, Counter>,
    plugin_seconds: Family<PluginLabels, FloatCounter>,
    queue_length: Family<ChannelLabels, Gauge>,
    deliveries: Family<OutcomeLabels, Counter>,
    webhook_backlog: Gauge,
    webhook_oldest_pending: FloatGauge,
    webhook_catch_up: FloatGauge,
    webhook_lag: Histogram,
    socket: SocketMetrics,
}

/// The realtime socket's figures.
pub struct SocketMetrics {
    pub connections: Gauge,
    pub subscriptions: Gauge,
    /// Broadcast frames handed to subscribers' connections.
    pub broadcasts: Counter,
    drops: Family<ReasonLabels, Counter>,
    /// Time from a broadcast's commit to its hand-over, when fanned out live.
    pub fan_out_lag: Histogram,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

impl SocketMetrics {
    /// A connection closed by the daemon, and why.
    pub fn dropped(&self, reason: &str) {
        self.drops
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("livedesk");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            request_seconds.clone(),
        );
        let decisions = Family::<TierLabels, Counter>::default();
        registry.register(
            "routing_decisions",
            "Routing decisions by the tier that decided (rule, ai_agent, human) and later assignments (queue, handoff, reassign, reopen)",
            decisions.clone(),
        );
        let plugin_calls = Family::<PluginLabels, Counter>::default();
        registry.register("plugin_calls", "Plugin calls", plugin_calls.clone());
        let plugin_failures = Family::<PluginLabels, Counter>::default();
        registry.register(
            "plugin_failures",
            "Plugin calls that trapped, timed out, hit a limit or returned an error",
            plugin_failures.clone(),
        );
        let plugin_seconds = Family::<PluginLabels, FloatCounter>::default();
        registry.register(
            "plugin_call_seconds",
            "Time spent in plugin calls (divide by calls for the mean latency)",
            plugin_seconds.clone(),
        );
        let queue_length = Family::<ChannelLabels, Gauge>::default();
        registry.register(
            "queue_length",
            "Conversations waiting for an agent, by channel",
            queue_length.clone(),
        );
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, failed, dead)",
            deliveries.clone(),
        );
        let webhook_backlog = Gauge::default();
        registry.register(
            "webhook_backlog",
            "Events waiting for delivery, retries included",
            webhook_backlog.clone(),
        );
        let webhook_oldest_pending = FloatGauge::default();
        registry.register(
            "webhook_oldest_pending_seconds",
            "Age of the oldest event waiting for delivery",
            webhook_oldest_pending.clone(),
        );
        let webhook_catch_up = FloatGauge::default();
        registry.register(
            "webhook_catch_up_seconds",
            "Estimated time until the webhook backlog is delivered (+Inf: it grows)",
            webhook_catch_up.clone(),
        );
        let webhook_lag = latency_histogram();
        registry.register(
            "webhook_lag_seconds",
            "Time from an event's commit to its delivery",
            webhook_lag.clone(),
        );
        let socket = SocketMetrics {
            connections: Gauge::default(),
            subscriptions: Gauge::default(),
            broadcasts: Counter::default(),
            drops: Family::default(),
            fan_out_lag: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
        };
        registry.register(
            "socket_connections",
            "Open realtime socket connections",
            socket.connections.clone(),
        );
        registry.register(
            "socket_subscriptions",
            "Realtime socket subscriptions",
            socket.subscriptions.clone(),
        );
        registry.register(
            "socket_broadcasts",
            "Broadcast frames handed to realtime socket subscribers",
            socket.broadcasts.clone(),
        );
        registry.register(
            "socket_drops",
            "Realtime socket connections the daemon closed, by reason (slow_consumer, idle_timeout, too_many_subscriptions, server_restart)",
            socket.drops.clone(),
        );
        registry.register(
            "socket_fan_out_lag_seconds",
            "Time from a broadcast's commit to its hand-over to subscribers",
            socket.fan_out_lag.clone(),
        );
        Self {
            socket,
            registry,
            requests,
            request_seconds,
            decisions,
            plugin_calls,
            plugin_failures,
            plugin_seconds,
            queue_length,
            deliveries,
            webhook_backlog,
            webhook_oldest_pending,
            webhook_catch_up,
            webhook_lag,
        }
    }

    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn decision(&self, tier: &str) {
        self.decisions
            .get_or_create(&TierLabels {
                tier: tier.to_owned(),
            })
            .inc();
    }

    /// One delivery attempt; `lag` is the time since the event's commit
    /// when it was delivered.
    pub fn delivery(&self, outcome: &str, lag: Option<Duration>) {
        self.deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
        if let Some(lag) = lag {
            self.webhook_lag.observe(lag.as_secs_f64());
        }
    }

    /// Sets a plugin's totals, as the plugin host counts them.
    pub fn plugin(&self, plugin: &str, kind: &str, calls: u64, failures: u64, micros: u64) {
        let labels = PluginLabels {
            plugin: plugin.to_owned(),
            kind: kind.to_owned(),
        };
        set_counter(&self.plugin_calls.get_or_create(&labels), calls);
        set_counter(&self.plugin_failures.get_or_create(&labels), failures);
        let seconds = self.plugin_seconds.get_or_create(&labels);
        seconds.inner().store(
            (micros as f64 / 1e6).to_bits(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub fn queue_length(&self, channel: &str, length: i64) {
        self.queue_length
            .get_or_create(&ChannelLabels {
                channel: channel.to_owned(),
            })
            .set(length);
    }

    pub fn webhook_backlog(&self, pending: i64, oldest: Option<Duration>) {
        self.webhook_backlog.set(pending);
        self.webhook_oldest_pending
            .set(oldest.map_or(0.0, |d| d.as_secs_f64()));
    }

    /// The delivery worker's estimate of when its backlog is gone.
    pub fn webhook_catch_up(&self, seconds: f64) {
        self.webhook_catch_up.set(seconds);
    }

    pub fn socket(&self) -> &SocketMetrics {
        &self.socket
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!("cannot encode metrics: {e}");
        }
        text
    }
}

/// Counters the plugin host keeps are copied, not added: they only grow.
fn set_counter(counter: &Counter, value: u64) {
    counter
        .inner()
        .store(value, std::sync::atomic::Ordering::Relaxed);
}
