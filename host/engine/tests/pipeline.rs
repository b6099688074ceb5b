//! The pipeline on its ports alone: a native encoder, an in-memory SQLite store and a
//! capturing transport. No WASM build, no server, no root: these run in milliseconds and
//! pin down what every target relies on (numbers, exactly once, failures kept apart).

mod common;

use common::*;
use hub_core::transport::TransportError;
use hub_engine::pipeline::{self, SendError};
use hub_plugin_sdk as sdk;

#[test]
fn files_are_numbered_without_gaps_and_sent_exactly_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        DIR,
        Lines::new(sdk::Delivery::FileDrop, 2),
        None,
    );
    let report =
        pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b", "c", "d", "e"])).expect("enqueue");
    assert_eq!(report.queued, 5);
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(sent.transfers_created, 3);
    assert_eq!(sent.records_delivered, 5);
    let files: Vec<(String, String)> = cap
        .captured()
        .files
        .iter()
        .map(|(n, b)| (n.clone(), String::from_utf8_lossy(b).into_owned()))
        .collect();
    assert_eq!(
        files,
        [
            ("n-1.txt".to_string(), "a\nb\n".to_string()),
            ("n-2.txt".into(), "c\nd\n".into()),
            ("n-3.txt".into(), "e\n".into())
        ]
    );
    // Sending again sends nothing; the same records enqueued again are duplicates.
    let again = pipeline::send(&mut e, "t", false).expect("second send");
    assert_eq!(again.transfers_created, 0);
    assert_eq!(cap.captured().files.len(), 3);
    let dup = pipeline::enqueue(&mut e, "t", &ndjson(&["a"])).expect("enqueue again");
    assert_eq!(dup.queued, 0);
    assert_eq!(counts(&mut e), (0, 5, 0));
}

#[test]
fn a_connection_lost_before_the_rename_is_finished_by_the_next_run_without_a_second_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        DIR_ONE_TRY,
        Lines::new(sdk::Delivery::FileDrop, 10),
        None,
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b"])).expect("enqueue");
    cap.captured()
        .fail_next
        .push(("make_final", TransportError::retryable("connection reset")));
    let first = pipeline::send(&mut e, "t", false);
    assert!(
        matches!(
            first,
            Err(SendError::Delivery {
                retryable: true,
                ..
            })
        ),
        "{first:?}"
    );
    assert!(cap.captured().files.is_empty());
    assert_eq!(counts(&mut e).1, 0);
    let second = pipeline::send(&mut e, "t", false).expect("the next run");
    assert_eq!(
        second.transfers_created, 0,
        "the open transfer is finished, not remade"
    );
    let captured = cap.captured();
    assert_eq!(captured.files.len(), 1);
    assert_eq!(captured.files[0].0, "n-1.txt");
    assert!(captured.temp.is_empty());
    drop(captured);
    assert_eq!(counts(&mut e), (0, 2, 0));
}

#[test]
fn a_record_the_encoder_refuses_fails_alone_and_the_rest_travel() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        DIR,
        Lines::new(sdk::Delivery::FileDrop, 10),
        None,
    );
    let text = format!(
        "{}{{\"id\":\"x\",\"kind\":\"row\",\"body\":{{\"bad\":true}}}}\n",
        ndjson(&["a", "b"])
    );
    pipeline::enqueue(&mut e, "t", &text).expect("enqueue");
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(sent.records_to_check, 1);
    assert_eq!(sent.records_delivered, 2);
    let captured = cap.captured();
    assert_eq!(captured.files.len(), 1);
    assert_eq!(
        captured.files[0],
        ("n-1.txt".to_string(), b"a\nb\n".to_vec())
    );
    drop(captured);
    assert_eq!(counts(&mut e), (0, 2, 1));
}

#[test]
fn a_request_target_keeps_each_records_answer_and_one_idempotency_key_per_payload() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let answer = sdk::Response {
        status: Some(200),
        headers: Vec::new(),
        body: b"b".to_vec(),
    };
    let (mut e, cap) = engine(
        tmp.path(),
        HTTP,
        Lines::new(sdk::Delivery::RequestResponse, 10),
        Some(answer),
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b", "c"])).expect("enqueue");
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!((sent.records_delivered, sent.records_to_check), (2, 1));
    let captured = cap.captured();
    assert_eq!(captured.requests.len(), 1);
    assert_eq!(captured.requests[0].bytes, b"a\nb\nc\n");
    assert!(!captured.requests[0].idempotency_key.is_empty());
    drop(captured);
    assert_eq!(counts(&mut e), (0, 2, 1));
}

#[test]
fn a_lost_answer_is_held_in_doubt_and_never_sent_again_by_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let answer = sdk::Response {
        status: Some(200),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let (mut e, cap) = engine(
        tmp.path(),
        HTTP,
        Lines::new(sdk::Delivery::RequestResponse, 10),
        Some(answer),
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a"])).expect("enqueue");
    cap.captured()
        .fail_next
        .push(("request", TransportError::unknown("the answer was lost")));
    let first = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(first.in_doubt.len(), 1, "{first:?}");
    for _ in 0..3 {
        pipeline::send(&mut e, "t", false).expect("later runs");
    }
    // The lost one never reached the capture; no later run sent it again.
    assert!(cap.captured().requests.is_empty());
    assert_eq!(counts(&mut e).1, 0);
}

#[test]
fn a_record_answered_retry_later_is_queued_again_and_goes_in_a_later_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        HTTP,
        Lines::new(sdk::Delivery::RequestResponse, 10),
        Some(answer("later:b")),
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b", "c"])).expect("enqueue");
    let first = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(first.records_delivered, 2, "{first:?}");
    // Not again in the same run, however often the receiver says "later".
    assert_eq!(cap.captured().requests.len(), 1);
    assert_eq!(counts(&mut e), (1, 2, 0));
    cap.captured().answer = Some(answer(""));
    let second = pipeline::send(&mut e, "t", false).expect("a later run");
    assert_eq!(second.transfers_created, 1, "{second:?}");
    let captured = cap.captured();
    assert_eq!(captured.requests.len(), 2);
    assert_eq!(captured.requests[1].bytes, b"b\n");
    drop(captured);
    assert_eq!(counts(&mut e), (0, 3, 0));
}

#[test]
fn an_unknown_outcome_holds_the_payload_in_doubt_naming_each_records_outcome() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        HTTP,
        Lines::new(sdk::Delivery::RequestResponse, 10),
        Some(answer("unknown:b,c")),
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b", "c"])).expect("enqueue");
    let first = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(first.in_doubt.len(), 1, "{first:?}");
    assert_eq!(counts(&mut e), (0, 0, 0));
    let doubts = e.store.doubts(Some("t"), false).expect("doubts");
    assert_eq!(doubts.len(), 1);
    assert!(
        doubts[0]
            .detail
            .contains("a delivered, b unknown (no word), c rejected (refused by the receiver)"),
        "{}",
        doubts[0].detail
    );
    for _ in 0..2 {
        pipeline::send(&mut e, "t", false).expect("later runs");
    }
    assert_eq!(
        cap.captured().requests.len(),
        1,
        "never sent again by itself"
    );
}

#[test]
fn a_batch_too_big_for_the_plugins_memory_goes_in_smaller_transfers_numbered_without_gaps() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut encoder = Lines::new(sdk::Delivery::FileDrop, 10);
    encoder.fits = 3;
    let (mut e, cap) = engine(tmp.path(), DIR, encoder, None);
    let ids = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    pipeline::enqueue(&mut e, "t", &ndjson(&ids)).expect("enqueue");
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert!(sent.errors.is_empty(), "{:?}", sent.errors);
    // 10 does not fit, 5 does not, 2 does: five transfers of two, numbered 1 to 5.
    assert_eq!(sent.transfers_created, 5);
    let names: Vec<String> = cap
        .captured()
        .files
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(
        names,
        ["n-1.txt", "n-2.txt", "n-3.txt", "n-4.txt", "n-5.txt"]
    );
    assert_eq!(cap.captured().files[4].1, b"i\nj\n");
    assert_eq!(counts(&mut e), (0, 10, 0));
}

#[test]
fn a_plugin_that_encodes_the_same_records_differently_is_refused_and_nothing_is_numbered() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut encoder = Lines::new(sdk::Delivery::FileDrop, 10);
    encoder.counter = Some(std::sync::atomic::AtomicU64::new(0));
    let (mut e, cap) = engine(tmp.path(), DIR, encoder, None);
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b"])).expect("enqueue");
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(sent.transfers_created, 0);
    assert!(
        sent.errors
            .iter()
            .any(|m| m.contains("plugin lines is not deterministic")
                && m.contains("payload n-1.txt")),
        "{:?}",
        sent.errors
    );
    assert!(cap.captured().files.is_empty());
    assert_eq!(counts(&mut e), (2, 0, 0), "the records stay queued");
}
