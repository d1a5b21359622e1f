//! Prometheus metrics: request counts and latencies per route, pool usage, and the reminder
//! push queue (jobs queued, in flight, delivered, retried, dead, and the due-to-delivery delay).

use std::time::Duration;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::db::push_jobs::QueueDepth;
use crate::jobs::providers::PROVIDER_NAMES;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    /// The whole queue as the database holds it, read at each scrape (so every process
    /// answers the same): queued jobs per provider and the age of the oldest.
    push_queue_depth: IntGaugeVec,
    push_queue_oldest_age: GaugeVec,
    pub push: PushMetrics,
}

/// The push queue as this process sees it. Counters count this process's work; sum them
/// over processes for the whole queue.
#[derive(Clone)]
pub struct PushMetrics {
    /// Jobs created by this process's schedulers.
    pub queued: IntCounter,
    /// Jobs being sent right now.
    pub in_flight: IntGauge,
    pub delivered: IntCounter,
    /// Attempts that failed transiently and were put back with a delay.
    pub retried: IntCounter,
    /// Jobs moved aside after their last attempt (or a permanent failure).
    pub dead: IntCounter,
    /// Jobs not sent because the provider rejected the device's token.
    pub dropped: IntCounter,
    /// Seconds from the instant a reminder fired to its delivery to a device.
    pub delay: Histogram,
}

impl PushMetrics {
    fn new(registry: &Registry) -> anyhow::Result<Self> {
        let counter = |name: &str, help: &str| -> anyhow::Result<IntCounter> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let in_flight = IntGauge::new("push_jobs_in_flight", "Push jobs being sent now")?;
        registry.register(Box::new(in_flight.clone()))?;
        let delay = Histogram::with_opts(
            HistogramOpts::new(
                "push_delivery_delay_seconds",
                "Time from a reminder's due instant to the delivery of its push",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
            ]),
        )?;
        registry.register(Box::new(delay.clone()))?;
        Ok(PushMetrics {
            queued: counter(
                "push_jobs_queued_total",
                "Push jobs queued (one per occurrence and device)",
            )?,
            in_flight,
            delivered: counter("push_jobs_delivered_total", "Push jobs delivered")?,
            retried: counter(
                "push_jobs_retried_total",
                "Push attempts failed transiently and retried",
            )?,
            dead: counter(
                "push_jobs_dead_total",
                "Push jobs moved aside after their last attempt",
            )?,
            dropped: counter(
                "push_jobs_dropped_total",
                "Push jobs dropped because the provider rejected the device token",
            )?,
            delay,
        })
    }
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("carnet".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by method, route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer a request, by method and route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )?;
        let pool_connections = IntGauge::new("db_pool_connections", "Database connections open in the pool")?;
        let pool_idle = IntGauge::new(
            "db_pool_idle_connections",
            "Database connections idle in the pool",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        let push_queue_depth = IntGaugeVec::new(
            Opts::new(
                "push_queue_jobs",
                "Push jobs queued now (due or waiting for a retry), by device provider",
            ),
            &["provider"],
        )?;
        let push_queue_oldest_age = GaugeVec::new(
            Opts::new(
                "push_queue_oldest_age_seconds",
                "Seconds since the oldest queued push job was created, by device provider (0: none queued)",
            ),
            &["provider"],
        )?;
        registry.register(Box::new(push_queue_depth.clone()))?;
        registry.register(Box::new(push_queue_oldest_age.clone()))?;
        let push = PushMetrics::new(&registry)?;
        Ok(Metrics {
            push,
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            push_queue_depth,
            push_queue_oldest_age,
        })
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the pool gauges and the push queue read now. Every
    /// provider is always shown, at 0 when nothing waits, so an alert on it has a series.
    pub fn render(&self, pool: (u32, u32), queue: &[QueueDepth]) -> anyhow::Result<String> {
        self.pool_connections.set(i64::from(pool.0));
        self.pool_idle.set(i64::from(pool.1));
        self.push_queue_depth.reset();
        self.push_queue_oldest_age.reset();
        for provider in PROVIDER_NAMES {
            self.push_queue_depth.with_label_values(&[provider]).set(0);
            self.push_queue_oldest_age.with_label_values(&[provider]).set(0.0);
        }
        for depth in queue {
            let provider = depth.provider.as_str();
            self.push_queue_depth
                .with_label_values(&[provider])
                .set(depth.queued);
            self.push_queue_oldest_age
                .with_label_values(&[provider])
                .set(depth.oldest_age_secs.max(0.0));
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8(out)?)
    }
}
