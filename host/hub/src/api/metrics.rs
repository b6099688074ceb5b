//! `/metrics` in Prometheus' text format: records by state and the protocol log's
//! attempts and durations come from each site's store (so they survive restarts);
//! send runs and their durations from the sender threads.

use std::fmt::Write;

use axum::extract::State as AxState;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiError, with_app};

type St = AxState<std::sync::Arc<super::State>>;

/// A label value with `\`, `"` and newlines escaped.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub async fn metrics(AxState(state): St) -> Result<Response, ApiError> {
    let mut records = String::new();
    let mut attempts = String::new();
    let mut attempt_seconds = String::new();
    let mut doubts = String::new();
    let mut waiting = String::new();
    for site in &state.sites {
        let (counts, stats, held, pairs) = with_app(site, |app| {
            let counts = app.store.counts(None)?;
            let stats = app.store.attempt_stats()?;
            let held = app.store.doubts(None, false)?;
            let mut pairs = Vec::new();
            let names: Vec<String> = app.config.inbound.iter().map(|i| i.name.clone()).collect();
            for name in names {
                for p in hub_store::inbound::InboundStore::inbound_pairs(&mut *app.store, &name)? {
                    pairs.push((name.clone(), p));
                }
            }
            Ok((counts, stats, held, pairs))
        })
        .await?;
        let c = esc(&site.name);
        for (inbound, p) in &pairs {
            let (i, s) = (esc(inbound), esc(&p.sender));
            let _ = writeln!(
                waiting,
                "hub_inbound_held{{config=\"{c}\",inbound=\"{i}\",sender=\"{s}\"}} {}\nhub_inbound_missing{{config=\"{c}\",inbound=\"{i}\",sender=\"{s}\"}} {}\nhub_inbound_waiting_since_seconds{{config=\"{c}\",inbound=\"{i}\",sender=\"{s}\"}} {}",
                p.held.len(),
                p.missing.len(),
                p.waiting_since.map_or(0.0, |ms| ms as f64 / 1e3)
            );
        }
        for n in &counts {
            let k = held.iter().filter(|d| d.target == n.target).count();
            let _ = writeln!(
                doubts,
                "hub_transfers_in_doubt{{config=\"{c}\",target=\"{}\"}} {k}",
                esc(&n.target)
            );
        }
        for n in &counts {
            let t = esc(&n.target);
            for (state, v) in [
                ("queued", n.queued),
                ("in_flight", n.in_flight),
                ("in_doubt", n.in_doubt),
                ("delivered", n.delivered),
                ("failed", n.failed),
                ("resolved", n.resolved),
                ("superseded", n.superseded),
            ] {
                let _ = writeln!(
                    records,
                    "hub_records{{config=\"{c}\",target=\"{t}\",state=\"{state}\"}} {v}"
                );
            }
        }
        for s in &stats {
            let (t, r) = (esc(&s.target), esc(&s.result));
            let _ = writeln!(
                attempts,
                "hub_attempts_total{{config=\"{c}\",target=\"{t}\",result=\"{r}\"}} {}",
                s.count
            );
            let _ = writeln!(
                attempt_seconds,
                "hub_attempt_duration_seconds_sum{{config=\"{c}\",target=\"{t}\",result=\"{r}\"}} {}",
                s.duration_ms as f64 / 1e3
            );
        }
    }
    let mut out = String::new();
    out.push_str("# HELP hub_records Records by target and state (queued, in_flight, in_doubt, delivered, failed, resolved, superseded).\n# TYPE hub_records gauge\n");
    out.push_str(&records);
    out.push_str("# HELP hub_transfers_in_doubt Transfers whose delivery is in doubt, held for a person (hub doubt list).\n# TYPE hub_transfers_in_doubt gauge\n");
    out.push_str(&doubts);
    out.push_str("# HELP hub_attempts_total Delivery attempts in the protocol log, by result.\n# TYPE hub_attempts_total counter\n");
    out.push_str(&attempts);
    out.push_str("# HELP hub_attempt_duration_seconds_sum Time spent in delivery attempts, by result.\n# TYPE hub_attempt_duration_seconds_sum counter\n");
    out.push_str(&attempt_seconds);
    out.push_str("# HELP hub_inbound_held Transports held per inbound and sender, waiting for earlier numbers.\n# TYPE hub_inbound_held gauge\n# HELP hub_inbound_missing Transport numbers missing below the highest held one.\n# TYPE hub_inbound_missing gauge\n# HELP hub_inbound_waiting_since_seconds When the oldest held transport arrived (Unix time; 0: nothing held).\n# TYPE hub_inbound_waiting_since_seconds gauge\n");
    out.push_str(&waiting);
    out.push_str("# HELP hub_sends_total Send runs of this process by outcome (error: something left to retry).\n# TYPE hub_sends_total counter\n");
    let sends = state
        .metrics
        .sends
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    let mut seconds = String::new();
    for ((site, target), s) in &sends {
        let (c, t) = (esc(site), esc(target));
        let _ = writeln!(
            out,
            "hub_sends_total{{config=\"{c}\",target=\"{t}\",outcome=\"ok\"}} {}",
            s.ok
        );
        let _ = writeln!(
            out,
            "hub_sends_total{{config=\"{c}\",target=\"{t}\",outcome=\"error\"}} {}",
            s.failed
        );
        let _ = writeln!(
            seconds,
            "hub_send_duration_seconds_sum{{config=\"{c}\",target=\"{t}\"}} {}\nhub_send_duration_seconds_count{{config=\"{c}\",target=\"{t}\"}} {}",
            s.seconds,
            s.ok + s.failed
        );
    }
    out.push_str("# HELP hub_send_duration_seconds Time spent in send runs.\n# TYPE hub_send_duration_seconds summary\n");
    out.push_str(&seconds);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
