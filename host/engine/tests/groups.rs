//! Files of one transfer delivered as a group: when one step fails in the middle, the
//! files before it are delivered, the ones after it never reach the receiver ahead of
//! it, and the next run finishes the transfer with every file exactly once, in order.

mod common;

use common::*;
use hub_core::transport::TransportError;
use hub_engine::Engine;
use hub_engine::capture::CaptureConnector;
use hub_engine::pipeline::{self, SendError};
use hub_plugin_sdk as sdk;

const IDS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// One transfer of five files, `n-1-a.txt` to `n-1-e.txt`, one try per run.
fn five_files(dir: &std::path::Path) -> (Engine, CaptureConnector) {
    let mut lines = Lines::new(sdk::Delivery::FileDrop, 10);
    lines.file_per_record = true;
    let (mut e, cap) = engine(dir, DIR_ONE_TRY, lines, None);
    pipeline::enqueue(&mut e, "t", &ndjson(&IDS)).expect("enqueue");
    (e, cap)
}

fn finals(cap: &CaptureConnector) -> Vec<String> {
    cap.captured()
        .files
        .iter()
        .map(|(n, _)| n.clone())
        .collect()
}

fn all_five() -> Vec<String> {
    IDS.iter().map(|id| format!("n-1-{id}.txt")).collect()
}

fn retryable(e: &Result<pipeline::SendReport, SendError>) -> bool {
    matches!(
        e,
        Err(SendError::Delivery {
            retryable: true,
            ..
        })
    )
}

#[test]
fn a_rename_that_fails_in_the_middle_stops_the_later_ones_and_the_next_run_finishes_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = five_files(tmp.path());
    cap.captured().fail_after.push((
        "make_final",
        2,
        TransportError::retryable("connection reset"),
    ));
    let first = pipeline::send(&mut e, "t", false);
    assert!(retryable(&first), "{first:?}");
    assert_eq!(finals(&cap), ["n-1-a.txt", "n-1-b.txt"]);
    assert_eq!(counts(&mut e), (0, 2, 0));
    let temps: Vec<String> = cap.captured().temp.keys().cloned().collect();
    assert_eq!(temps, ["n-1-c.txt", "n-1-d.txt", "n-1-e.txt"]);

    let second = pipeline::send(&mut e, "t", false).expect("the next run");
    assert_eq!(second.transfers_created, 0);
    assert_eq!(finals(&cap), all_five());
    assert!(cap.captured().temp.is_empty());
    assert_eq!(counts(&mut e), (0, 5, 0));
}

#[test]
fn an_upload_that_fails_in_the_middle_is_tried_again_and_nothing_arrives_twice() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = five_files(tmp.path());
    cap.captured()
        .fail_after
        .push(("put_temp", 1, TransportError::retryable("connection reset")));
    let first = pipeline::send(&mut e, "t", false);
    assert!(retryable(&first), "{first:?}");
    // The first file went through; the ones after the failed one are not renamed ahead
    // of it, though their uploads went up.
    assert_eq!(finals(&cap), ["n-1-a.txt"]);
    assert_eq!(counts(&mut e), (0, 1, 0));

    pipeline::send(&mut e, "t", false).expect("the next run");
    assert_eq!(finals(&cap), all_five());
    for (name, bytes) in &cap.captured().files {
        let id = &name["n-1-".len()..name.len() - ".txt".len()];
        assert_eq!(bytes, format!("{id}\n").as_bytes(), "{name}");
    }
    assert!(cap.captured().temp.is_empty());
    assert_eq!(counts(&mut e), (0, 5, 0));
}

#[test]
fn a_strangers_file_in_the_middle_is_a_conflict_and_the_files_after_it_wait() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = five_files(tmp.path());
    cap.captured()
        .files
        .push(("n-1-c.txt".into(), b"theirs\n".to_vec()));
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(sent.in_doubt.len(), 1, "{:?}", sent.in_doubt);
    assert_eq!(sent.in_doubt[0].payload, "n-1-c.txt");
    assert_eq!(sent.in_doubt[0].kind.as_str(), "conflict");
    assert_eq!(finals(&cap), ["n-1-c.txt", "n-1-a.txt", "n-1-b.txt"]);
    assert_eq!(cap.captured().files[0].1, b"theirs\n", "never replaced");
    assert_eq!(counts(&mut e).1, 2);
    // Another run sends nothing more while the transfer waits for a person.
    pipeline::send(&mut e, "t", false).expect("again");
    assert_eq!(finals(&cap).len(), 3);
    assert_eq!(counts(&mut e).1, 2);
}
