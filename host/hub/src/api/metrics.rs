//! `/metrics` in Prometheus' text format (0.0.4), written by `prometheus-client` so names,
//! types, `_total` suffixes and escaping are what `promtool check metrics` expects.
//!
//! Everything about records and transfers is read at scrape time from each site's store
//! (the overview: kept counts and indexes over what is open, never the history), so it
//! survives restarts and is the same on every worker of a shared store; every configured
//! target has its series, also before its first record. Send runs come from this
//! process's sender threads.

use axum::extract::State as AxState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hub_store::{TargetLimits, TargetSummary};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::{ApiError, with_reader};

type St = AxState<std::sync::Arc<super::State>>;
type Labels = Vec<(String, String)>;

/// What one site's store says at scrape time.
struct SiteReading {
    site: String,
    now_ms: i64,
    targets: Vec<TargetSummary>,
    attempts: Vec<hub_store::AttemptStats>,
    inbound: Vec<(String, hub_store::inbound::PairView)>,
    paused: Vec<String>,
    /// Per credential: its certificate's notAfter (Unix seconds), or `None` when it
    /// cannot be used (wrong password, expired, not issued by its CA).
    certificates: Vec<(String, Option<i64>)>,
}

/// The families of one scrape, registered once each.
#[derive(Default)]
struct Families {
    records: Family<Labels, Gauge>,
    in_doubt: Family<Labels, Gauge>,
    open: Family<Labels, Gauge>,
    oldest_queued: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    last_success: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    on_receiver: Family<Labels, Gauge>,
    stuck: Family<Labels, Gauge>,
    no_receipt: Family<Labels, Gauge>,
    attempts: Family<Labels, Counter>,
    attempt_seconds: Family<Labels, Counter<f64, std::sync::atomic::AtomicU64>>,
    sends: Family<Labels, Counter>,
    send_seconds: Family<Labels, Counter<f64, std::sync::atomic::AtomicU64>>,
    held: Family<Labels, Gauge>,
    missing: Family<Labels, Gauge>,
    waiting_since: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    paused: Family<Labels, Gauge>,
    cert_expiry: Family<Labels, Gauge>,
    cert_usable: Family<Labels, Gauge>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Families {
    fn target(&self, site: &str, now_ms: i64, s: &TargetSummary) {
        let l = labels(&[("config", site), ("target", &s.target)]);
        let c = &s.records;
        // Rejected (the target said no) apart from failed (the plugin refused it): one
        // is the receiver's data, the other the source's.
        for (state, v) in [
            ("queued", c.queued),
            ("in_flight", c.in_flight),
            ("in_doubt", c.in_doubt),
            ("delivered", c.delivered),
            ("rejected", c.rejected),
            ("failed", c.failed.saturating_sub(c.rejected)),
            ("resolved", c.resolved),
            ("superseded", c.superseded),
        ] {
            let mut with_state = l.clone();
            with_state.push(("state".into(), state.into()));
            self.records.get_or_create(&with_state).set(count(v));
        }
        self.in_doubt
            .get_or_create(&l)
            .set(count(s.in_doubt_transfers));
        self.open.get_or_create(&l).set(count(s.open_transfers));
        let age = s
            .oldest_queued_at
            .map_or(0.0, |t| (now_ms - t.0).max(0) as f64 / 1e3);
        self.oldest_queued.get_or_create(&l).set(age);
        let last = s.last_done_at.map_or(0.0, |t| t.0 as f64 / 1e3);
        self.last_success.get_or_create(&l).set(last);
        self.on_receiver
            .get_or_create(&l)
            .set(count(s.files_on_receiver));
        self.stuck.get_or_create(&l).set(count(s.stuck_files));
        self.no_receipt
            .get_or_create(&l)
            .set(count(s.missing_receipts));
    }

    fn register(self, registry: &mut Registry) {
        let r = registry;
        r.register(
            "hub_records",
            "Records by target and state (queued, in_flight, in_doubt, delivered, rejected, failed, resolved, superseded)",
            self.records,
        );
        r.register(
            "hub_transfers_in_doubt",
            "Transfers whose delivery is in doubt, held for a person (hub doubt list)",
            self.in_doubt,
        );
        r.register(
            "hub_transfers_open",
            "Transfers still to deliver",
            self.open,
        );
        r.register(
            "hub_oldest_queued_age_seconds",
            "Age of the oldest record still queued (0: none queued)",
            self.oldest_queued,
        );
        r.register(
            "hub_last_success_timestamp_seconds",
            "When a transfer of the target was last done, Unix time (0: never)",
            self.last_success,
        );
        r.register(
            "hub_files_on_receiver",
            "Delivered files seen still on the receiver at the last look",
            self.on_receiver,
        );
        r.register(
            "hub_files_stuck",
            "Delivered files still on the receiver after the target's stuck_after_minutes",
            self.stuck,
        );
        r.register(
            "hub_receipts_missing",
            "Sent transports without their receipt after the target's receipt_after_minutes",
            self.no_receipt,
        );
        r.register(
            "hub_attempts",
            "Delivery attempts in the protocol log, by result",
            self.attempts,
        );
        r.register(
            "hub_attempt_duration_seconds",
            "Time spent in delivery attempts, by result",
            self.attempt_seconds,
        );
        r.register(
            "hub_sends",
            "Send runs of this process by outcome (error: something left to retry)",
            self.sends,
        );
        r.register(
            "hub_send_duration_seconds",
            "Time spent in send runs of this process",
            self.send_seconds,
        );
        r.register(
            "hub_inbound_held",
            "Transports held per inbound and sender, waiting for earlier numbers",
            self.held,
        );
        r.register(
            "hub_inbound_missing",
            "Transport numbers missing below the highest held one",
            self.missing,
        );
        r.register(
            "hub_inbound_waiting_since_seconds",
            "When the oldest held transport arrived, Unix time (0: nothing held)",
            self.waiting_since,
        );
        r.register(
            "hub_target_paused",
            "1 while an operator has paused the target (hub pause), else 0",
            self.paused,
        );
        r.register(
            "hub_certificate_expiry_seconds",
            "When the credential's client certificate expires (notAfter), Unix time",
            self.cert_expiry,
        );
        r.register(
            "hub_certificate_usable",
            "1 when the credential's .p12 opens with its password and is valid now, else 0",
            self.cert_usable,
        );
    }
}

/// Each target's `stuck_after` and `receipt_after` in ms, as the store's overview asks.
pub(super) fn target_limits(config: &hub_core::config::Config) -> Vec<TargetLimits> {
    let ms = |minutes: Option<u64>| {
        minutes
            .and_then(|m| i64::try_from(m).ok())
            .map(|m| m.saturating_mul(60_000))
    };
    config
        .targets
        .iter()
        .map(|t| TargetLimits {
            target: t.name.clone(),
            stuck_after_ms: ms(t.stuck_after_minutes),
            receipt_after_ms: ms(t.receipt_after_minutes),
        })
        .collect()
}

/// Reads what `/metrics` shows from one site's store.
async fn read_site(site: &std::sync::Arc<crate::service::Site>) -> Result<SiteReading, ApiError> {
    let name = site.name.clone();
    with_reader(site, move |app| {
        let now = app.now();
        let limits = target_limits(&app.config);
        let targets = app.store.overview(&limits, now)?;
        let attempts = app.store.attempt_stats()?;
        let mut inbound = Vec::new();
        let names: Vec<String> = app.config.inbound.iter().map(|i| i.name.clone()).collect();
        for n in names {
            for p in hub_store::inbound::InboundStore::inbound_pairs(&mut *app.store, &n)? {
                inbound.push((n.clone(), p));
            }
        }
        let paused = app
            .store
            .paused_targets()?
            .into_iter()
            .map(|p| p.target)
            .collect();
        // The .p12 files are read at every scrape, as at every send: a replaced file
        // counts at once.
        let certificates = crate::certificates::all(&app.config, now)
            .into_iter()
            .map(|(name, c)| (name, c.ok().map(|c| c.not_after)))
            .collect();
        Ok(SiteReading {
            site: name,
            now_ms: now.0,
            targets,
            attempts,
            inbound,
            paused,
            certificates,
        })
    })
    .await
}

#[utoipa::path(
    get,
    path = "/metrics",
    summary = "Prometheus text format: hub_records, hub_attempts_total, hub_attempt_duration_seconds_sum, hub_sends_total, hub_send_duration_seconds",
    responses((status = 200, description = "text/plain; version=0.0.4"))
)]
pub async fn metrics(AxState(state): St) -> Result<Response, ApiError> {
    let text = state.scrapes.fresh(|| scrape(&state)).await?;
    Ok((
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        String::clone(&text),
    )
        .into_response())
}

/// One reading of every site's store, in the text format.
async fn scrape(state: &super::State) -> Result<String, ApiError> {
    let f = Families::default();
    for site in &state.sites {
        let reading = read_site(site).await?;
        let c = reading.site.as_str();
        for t in &reading.targets {
            f.target(c, reading.now_ms, t);
            let l = labels(&[("config", c), ("target", &t.target)]);
            f.paused
                .get_or_create(&l)
                .set(i64::from(reading.paused.contains(&t.target)));
        }
        for s in &reading.attempts {
            let l = labels(&[("config", c), ("target", &s.target), ("result", &s.result)]);
            f.attempts.get_or_create(&l).inc_by(s.count);
            f.attempt_seconds
                .get_or_create(&l)
                .inc_by(s.duration_ms as f64 / 1e3);
        }
        for (credential, not_after) in &reading.certificates {
            let l = labels(&[("config", c), ("credential", credential)]);
            f.cert_usable
                .get_or_create(&l)
                .set(i64::from(not_after.is_some()));
            if let Some(t) = not_after {
                f.cert_expiry.get_or_create(&l).set(*t);
            }
        }
        for (inbound, p) in &reading.inbound {
            let l = labels(&[("config", c), ("inbound", inbound), ("sender", &p.sender)]);
            f.held.get_or_create(&l).set(count(p.held.len()));
            f.missing.get_or_create(&l).set(count(p.missing.len()));
            f.waiting_since
                .get_or_create(&l)
                .set(p.waiting_since.map_or(0.0, |ms| ms as f64 / 1e3));
        }
    }
    let sends = state
        .metrics
        .sends
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    for ((site, target), s) in &sends {
        for (outcome, n) in [("ok", s.ok), ("error", s.failed)] {
            let l = labels(&[("config", site), ("target", target), ("outcome", outcome)]);
            f.sends.get_or_create(&l).inc_by(n);
        }
        let l = labels(&[("config", site), ("target", target)]);
        f.send_seconds.get_or_create(&l).inc_by(s.seconds);
    }
    let mut registry = Registry::default();
    f.register(&mut registry);
    registry.register(
        "hub_build",
        "The hub's version",
        Info::new(labels(&[("version", env!("CARGO_PKG_VERSION"))])),
    );
    let mut out = String::new();
    prometheus_text::encode(&mut out, &registry).map_err(ApiError::internal)?;
    Ok(out)
}
