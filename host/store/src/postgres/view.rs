//! Transfers with their payloads, read in two statements whatever their number (as
//! `sqlite/view.rs`: not one query per transfer).

use hub_core::state::{PayloadState, TransferState};
use hub_core::time::Timestamp;
use postgres::GenericClient;

use super::pg;
use crate::sqlite::parse_state;
use crate::{Payload, Result, StoreError, Transfer};

/// Which transfers to read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Which<'a> {
    One(i64),
    /// All of one target, or of every target.
    Target(Option<&'a str>),
    /// Those of a target with a delivered file the receiver has not taken yet.
    Unclaimed(&'a str),
    /// Those whose ids are in this JSON array (a page, `pages.rs`).
    Ids(&'a str),
}

impl<'a> Which<'a> {
    /// The condition on `transfers t`; each names both `$1` (an id) and `$2` (a target).
    fn condition(self) -> &'static str {
        match self {
            Which::One(_) => "t.id = $1 AND $2::text IS NULL",
            Which::Target(_) => "$1::bigint IS NULL AND ($2::text IS NULL OR t.target = $2)",
            Which::Unclaimed(_) => {
                "$1::bigint IS NULL AND t.target = $2 AND EXISTS (SELECT 1 FROM payloads u
                   WHERE u.transfer_id = t.id AND u.state = 'delivered' AND u.gone_at IS NULL)"
            }
            Which::Ids(_) => {
                "$1::bigint IS NULL
                 AND t.id IN (SELECT jsonb_array_elements_text($2::text::jsonb)::bigint)"
            }
        }
    }

    fn params(self) -> (Option<i64>, Option<&'a str>) {
        match self {
            Which::One(id) => (Some(id), None),
            Which::Target(t) => (None, t),
            Which::Unclaimed(t) | Which::Ids(t) => (None, Some(t)),
        }
    }
}

pub(super) fn transfer(c: &mut impl GenericClient, id: i64) -> Result<Transfer> {
    transfers(c, Which::One(id))?
        .pop()
        .ok_or_else(|| StoreError::NotFound(format!("transfer #{id} does not exist")))
}

pub(super) fn transfers(c: &mut impl GenericClient, which: Which<'_>) -> Result<Vec<Transfer>> {
    let cond = which.condition();
    let (id, target) = which.params();
    let rows = c
        .query(
            &format!(
                "SELECT id, target, batch_key, sequence_scope, sequence_no, state, plugin,
                        plugin_sha256, created_at, done_at,
                        (SELECT count(*) FROM records WHERE transfer_id = t.id),
                        (SELECT count(*) FROM attempts WHERE transfer_id = t.id),
                        (SELECT error FROM attempts WHERE transfer_id = t.id
                           AND error IS NOT NULL ORDER BY id DESC LIMIT 1),
                        plugin_name, plugin_version
                 FROM transfers t WHERE {cond} ORDER BY t.id"
            ),
            &[&id, &target],
        )
        .map_err(pg("read transfers"))?;
    let mut out = rows
        .iter()
        .map(|r| {
            Ok(Transfer {
                id: r.get(0),
                target: r.get(1),
                batch_key: r.get(2),
                sequence_scope: r.get(3),
                sequence_no: r.get::<_, Option<i64>>(4).map(|n| n as u64),
                state: parse_state(r.get(5), TransferState::parse)?,
                plugin: r.get(6),
                plugin_name: r.get(13),
                plugin_version: r.get(14),
                plugin_sha256: r.get(7),
                created_at: Timestamp(r.get(8)),
                done_at: r.get::<_, Option<i64>>(9).map(Timestamp),
                records: r.get::<_, i64>(10) as usize,
                attempts: r.get::<_, i64>(11) as usize,
                last_error: r.get(12),
                payloads: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let rows = c
        .query(
            &format!(
                "SELECT p.id, p.transfer_id, p.name, p.media_type, p.size, p.sha256, p.state,
                        p.delivered_at, p.labels, coalesce(a.n, 0), p.checked_at, p.gone_at,
                        p.purged_at
                 FROM payloads p
                 LEFT JOIN (SELECT payload_id, count(*) AS n FROM attempts
                            WHERE payload_id IN (SELECT p2.id FROM payloads p2
                                                 JOIN transfers t ON t.id = p2.transfer_id
                                                 WHERE {cond})
                            GROUP BY payload_id) a ON a.payload_id = p.id
                 WHERE p.transfer_id IN (SELECT t.id FROM transfers t WHERE {cond})
                 ORDER BY p.transfer_id, p.idx"
            ),
            &[&id, &target],
        )
        .map_err(pg("read payloads"))?;
    // Both statements are ordered by transfer id: walk them together.
    let mut at = 0;
    for r in &rows {
        let p = Payload {
            id: r.get(0),
            transfer_id: r.get(1),
            name: r.get(2),
            media_type: r.get(3),
            size: r.get::<_, i64>(4) as usize,
            sha256: r.get(5),
            state: parse_state(r.get(6), PayloadState::parse)?,
            delivered_at: r.get::<_, Option<i64>>(7).map(Timestamp),
            labels: serde_json::from_str(r.get(8)).unwrap_or_default(),
            attempts: r.get::<_, i64>(9) as usize,
            checked_at: r.get::<_, Option<i64>>(10).map(Timestamp),
            gone_at: r.get::<_, Option<i64>>(11).map(Timestamp),
            purged_at: r.get::<_, Option<i64>>(12).map(Timestamp),
        };
        while at < out.len() && out[at].id < p.transfer_id {
            at += 1;
        }
        if let Some(t) = out.get_mut(at).filter(|t| t.id == p.transfer_id) {
            t.payloads.push(p);
        }
    }
    Ok(out)
}
