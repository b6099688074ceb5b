//! Mutation tests (a small, deterministic fuzzer without a framework): valid transport
//! and receipt XML, cut, flipped, duplicated and spliced with hostile pieces, through
//! the streaming reader and the receipt parser. Whatever comes in: no panic, no hang,
//! every error short and free of control characters, and what is read stays within
//! the limits. `HUB_MUTATIONS=<n>` runs more cases (the default is a few seconds).

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

use hub_plugin_rki::*;
use hub_plugin_sdk::mutate::Rng;
use hub_plugin_sdk::*;

const PIECES: &[&str] = &[
    "<!DOCTYPE Transport [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>",
    "<!DOCTYPE Transport SYSTEM \"http://127.0.0.1:9/x.dtd\">",
    "&b;",
    "&#0;",
    "&#x1b;[31m",
    "\u{1b}[31m",
    "<![CDATA[x]]>",
    "<SAL>",
    "</SAL>",
    "</Transport>",
    "<Field Name=\"N\" Value=\"V\"/>",
    " GuidRecord=\"{X}\"",
    " VersionNo=\"99999999999999999999\"",
    "\"",
    "<",
    ">",
    "\u{0}",
    "\u{feff}",
    "<?xml version=\"1.0\" encoding=\"utf-16\"?>",
    "<Group Name=\"G\"><Group Name=\"H\"><Group Name=\"I\">",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 => v.truncate(at),
            1 => {
                if let Some(b) = v.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            2 => {
                let piece = PIECES[rng.below(PIECES.len())].as_bytes();
                v.splice(at..at, piece.iter().copied());
            }
            3 => {
                // Repeat a stretch: long values, many attributes, deep nesting.
                let len = rng.below(200).min(v.len() - at.min(v.len()));
                let stretch = v[at..at + len].to_vec();
                for _ in 0..rng.below(50) {
                    v.splice(at..at, stretch.iter().copied());
                }
            }
            4 => {
                let end = (at + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
            _ => {
                let at2 = rng.below(v.len() + 1);
                let (a, b) = (at.min(at2), at.max(at2));
                v[a..b].reverse();
            }
        }
    }
    v
}

fn check_message(case: usize, e: &str) {
    assert!(e.len() < 1024, "case {case}: {} bytes: {e:.300}", e.len());
    assert!(
        !e.chars().any(|c| c.is_control()),
        "case {case}: control character in {e:?}"
    );
}

fn transport_xml() -> Vec<u8> {
    let settings = examples::settings();
    let records = examples::records(5);
    let meta = Rki::validate(&settings, &records[0]).unwrap();
    let ctx = Context {
        target: "rki".into(),
        settings,
        batch_key: meta.batch_key,
        sequence_scope: meta.sequence_scope,
        sequence: Some(1),
        transfer_id: 1,
        now: DateTime {
            unix_seconds: 1_706_788_800,
            year: 2024,
            month: 2,
            day: 1,
            ..DateTime::default()
        },
        ..Context::default()
    };
    Rki::encode(&ctx, &records).unwrap().remove(0).bytes
}

fn cases() -> usize {
    std::env::var("HUB_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000)
}

#[test]
fn mutated_transports_are_read_or_refused_without_panic_and_within_limits() {
    let base = transport_xml();
    let limits = XmlLimits {
        max_value_bytes: 2048,
        max_record_bytes: 16 << 10,
    };
    let mut rng = Rng(0x5EED_0001);
    let (mut read, mut refused) = (0, 0);
    for case in 0..cases() {
        let input = mutate(&mut rng, &base);
        let outcome = TransportReader::open(input.as_slice(), limits).and_then(|(mut r, _)| {
            let mut n = 0usize;
            while let Some(v) = r.next_record()? {
                for f in v
                    .fields
                    .iter()
                    .chain(v.groups.iter().flat_map(|g| &g.fields))
                {
                    assert!(f.value.len() <= limits.max_value_bytes, "case {case}");
                }
                n += 1;
                assert!(n <= input.len(), "case {case}: more records than bytes");
            }
            Ok(n)
        });
        match outcome {
            Ok(_) => read += 1,
            Err(e) => {
                check_message(case, &e);
                refused += 1;
            }
        }
    }
    // Both kinds happen, or the mutations are not doing their job.
    assert!(read > 0 && refused > 0, "read {read}, refused {refused}");
}

#[test]
fn mutated_receipts_are_read_or_refused_without_panic() {
    let t = parse_transport(&transport_xml()).unwrap();
    let mut receipt = Receipt::imported(&t);
    receipt.records[1].result = ReceiptResult::Rejected;
    receipt.records[1].code = Some("NOT_OWNER".into());
    receipt.records[1].message = Some("belongs to 1.01.0.03.".into());
    let base = write_receipt(&receipt);
    assert_eq!(parse_receipt(&base).unwrap(), receipt);
    let mut rng = Rng(0x5EED_0002);
    let (mut read, mut refused) = (0, 0);
    for case in 0..cases() {
        let input = mutate(&mut rng, &base);
        match parse_receipt(&input) {
            Ok(r) => {
                assert!(r.records.len() <= input.len(), "case {case}");
                read += 1;
            }
            Err(e) => {
                check_message(case, &e);
                refused += 1;
            }
        }
    }
    assert!(read > 0 && refused > 0, "read {read}, refused {refused}");
}
