//! The sealing's own tests: every size opens again, only with its key and purpose.
use super::*;

fn ring(current: &str, ids: &[(&str, u8)]) -> Keyring {
    Keyring::new(
        Some(current),
        ids.iter()
            .map(|(id, b)| (id.to_string(), [*b; 32]))
            .collect(),
    )
    .expect("keyring")
}

#[test]
fn values_of_every_size_open_again_and_only_with_their_key_and_purpose() {
    let r = ring("a", &[("a", 1), ("b", 2)]);
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (id, sealed) = r
            .seal(Purpose::PayloadBytes, &plain)
            .expect("seal")
            .expect("current key");
        assert_eq!(id, "a");
        assert_eq!(
            sealed.len(),
            len + len.div_ceil(CHUNK).max(1) * (NONCE + TAG)
        );
        let back = r.open("a", Purpose::PayloadBytes, &sealed, || "x".into());
        assert_eq!(back.expect("open"), plain, "{len}");
        // Another key under the same id, another purpose, a frame dropped: refused.
        let other = ring("a", &[("a", 9)]);
        assert!(matches!(
            other.open("a", Purpose::PayloadBytes, &sealed, || "x".into()),
            Err(SealError::Refused { .. })
        ));
        assert!(
            r.open("a", Purpose::RecordBody, &sealed, || "x".into())
                .is_err()
        );
        if len > CHUNK {
            let cut = &sealed[..NONCE + CHUNK + TAG];
            assert!(
                r.open("a", Purpose::PayloadBytes, cut, || "x".into())
                    .is_err()
            );
        }
    }
}

#[test]
fn a_missing_key_is_named_and_a_wrong_current_refused() {
    let r = ring("b", &[("b", 2)]);
    let e = r
        .open("a", Purpose::RecordBody, b"whatever", || "record #3".into())
        .expect_err("no key a");
    let text = e.to_string();
    assert!(text.contains("record #3") && text.contains("`a`"), "{text}");
    assert!(matches!(
        Keyring::new(Some("x"), vec![("a".into(), [0; 32])]),
        Err(SealError::NoCurrent(_))
    ));
    assert!(Keyring::new(None, vec![("a b".into(), [0; 32])]).is_err());
}

#[test]
fn keys_parse_from_hex_or_base64_and_errors_never_quote_them() {
    let hex = "00".repeat(31) + "ff";
    assert_eq!(parse_key(&hex).expect("hex")[31], 0xff);
    let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    assert_eq!(parse_key(&b64).expect("base64"), [7u8; 32]);
    let e = parse_key("secret-but-short").expect_err("short");
    assert!(!e.contains("secret"));
}

#[test]
fn the_check_value_tells_a_key_from_another_under_the_same_id() {
    let r = ring("a", &[("a", 1)]);
    let check = r.check_value("a").expect("check");
    r.check("a", &check).expect("same key");
    assert!(ring("a", &[("a", 2)]).check("a", &check).is_err());
}
