//! `hub enqueue` reads its input as a stream, chunk by chunk into one transaction: a
//! problem after the first chunk was stored still leaves nothing queued, a duplicate id
//! across chunks is named with both lines, and bytes that stop being text name where.

use crate::common::{Site, postings};

/// 1,600 postings: lines 1..=3200, so the store has taken three chunks of 1,000 before
/// the last lines are read.
fn many() -> String {
    postings(1600, 1)
}

#[test]
fn a_bad_line_after_the_first_chunks_leaves_nothing_queued() {
    let site = Site::prisme("");
    let mut text = many();
    text.push_str("{\"id\":\"late\",\"kind\":\"posting\"\n");
    let input = site.write("in.ndjson", &text);
    let r = site.run(&["enqueue", "prisme", input.to_str().unwrap()]);
    assert_ne!(r.code(), Some(0));
    assert!(
        r.stderr().contains("line 3201: not valid JSON"),
        "{}",
        r.stderr()
    );
    assert_eq!(site.status()["targets"].as_array().map(Vec::len), Some(0));

    // Fixed, the same file goes in whole.
    let input = site.write("in.ndjson", &many());
    let out = site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    assert!(out.contains("3200 queued"), "{out}");
    assert_eq!(site.status()["targets"][0]["queued"], 3200);
}

#[test]
fn a_duplicate_id_chunks_apart_is_named_with_both_lines() {
    let site = Site::prisme("");
    let mut text = many();
    // Line 3201 repeats the id of line 5.
    let fifth = text.lines().nth(4).unwrap().to_string();
    text.push_str(&fifth.replace("\"amount_ore\":1003", "\"amount_ore\":1"));
    text.push('\n');
    let input = site.write("in.ndjson", &text);
    let r = site.run(&["enqueue", "prisme", input.to_str().unwrap()]);
    assert_ne!(r.code(), Some(0));
    assert!(
        r.stderr()
            .contains("line 3201: record id `p3d` already appears on line 5"),
        "{}",
        r.stderr()
    );
    assert_eq!(site.status()["targets"].as_array().map(Vec::len), Some(0));
}

#[test]
fn bytes_that_are_not_text_name_their_line_and_nothing_is_queued() {
    let site = Site::prisme("");
    let mut bytes = many().into_bytes();
    bytes.extend_from_slice(b"{\"id\":\"x\",\"kind\":\"posting\",\"text\":\"J\xf6rg\"}\n");
    let input = site.path("in.ndjson");
    std::fs::write(&input, &bytes).unwrap();
    let r = site.run(&["enqueue", "prisme", input.to_str().unwrap()]);
    assert_ne!(r.code(), Some(0));
    let err = r.stderr();
    assert!(
        err.contains("nothing was queued: line 3201, byte 37"),
        "{err}"
    );
    assert!(err.contains("--encoding"), "{err}");
    assert_eq!(site.status()["targets"].as_array().map(Vec::len), Some(0));
}

#[test]
fn a_file_of_many_bad_lines_lists_the_first_ten_thousand_and_counts_the_rest() {
    let site = Site::prisme("");
    // Good lines first, then 10,500 lines that are not JSON: the checking side hands
    // its problems over in bounded groups, the first 10,000 are listed.
    let mut text = many();
    text.push_str(&"not json\n".repeat(10_500));
    let input = site.write("in.ndjson", &text);
    let r = site.run(&["enqueue", "prisme", input.to_str().unwrap()]);
    assert_ne!(r.code(), Some(0));
    let err = r.stderr();
    assert!(
        err.contains("line 3201: not valid JSON"),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(
        err.contains("and 500 more bad line(s), not listed"),
        "{}",
        &err[err.len().saturating_sub(2000)..]
    );
    assert_eq!(site.status()["targets"].as_array().map(Vec::len), Some(0));
}
