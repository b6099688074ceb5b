//! What a plugin may shape of a request-response payload's request (contract 0.2.1
//! `request-shape`), checked by the host before the shape is stored and again before it
//! is sent: a method, a path below the target's URL, headers from the host's allow-list.
//! TLS, the credential, redirects, `Content-Type`, `Content-Length` and `Idempotency-Key`
//! stay the host's.

use hub_plugin_sdk::RequestShape;
use hub_plugin_sdk::text::excerpt;

/// The only extra headers a plugin may set (lower case): content negotiation,
/// preconditions and tracing, none of which carries a credential or changes framing.
pub const ALLOWED_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "content-language",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "prefer",
    "x-api-version",
    "x-correlation-id",
    "x-request-id",
];

/// Headers that are the host's (framing, hop-by-hop, credentials, its own): named so
/// the refusal says why rather than only "not allowed".
const HOSTS_OWN: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "host",
    "idempotency-key",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const MAX_PATH: usize = 1024;
const MAX_HEADERS: usize = 16;
const MAX_VALUE: usize = 1024;

/// Why a shape cannot be sent, or `Ok`.
pub fn check_shape(shape: &RequestShape) -> Result<(), String> {
    check_path(&shape.path)?;
    if shape.headers.len() > MAX_HEADERS {
        return Err(format!(
            "{} headers, at most {MAX_HEADERS}",
            shape.headers.len()
        ));
    }
    let mut seen: Vec<String> = Vec::with_capacity(shape.headers.len());
    for (name, value) in &shape.headers {
        let lower = name.to_ascii_lowercase();
        if HOSTS_OWN.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(format!(
                "header `{}` is the host's own (credentials, framing and hop-by-hop headers \
                 cannot be set by a plugin)",
                excerpt(name)
            ));
        }
        if !ALLOWED_HEADERS.contains(&lower.as_str()) {
            return Err(format!(
                "header `{}` is not on the host's allow-list ({})",
                excerpt(name),
                ALLOWED_HEADERS.join(", ")
            ));
        }
        if seen.contains(&lower) {
            return Err(format!("header `{name}` is given twice"));
        }
        seen.push(lower);
        if value.len() > MAX_VALUE || value.chars().any(|c| c.is_control() || !c.is_ascii()) {
            return Err(format!(
                "header `{name}`: the value must be printable ASCII without CR or LF, at most \
                 {MAX_VALUE} bytes: {}",
                excerpt(value)
            ));
        }
    }
    Ok(())
}

/// A path below the target's URL: segments of letters, digits and `-._~` (no empty, `.`
/// or `..` segment, so no `//`, no leading `/`, no scheme), then an optional query of the
/// same characters and `=&`. No `%`: an escape could spell `..` or `/` for the server.
fn check_path(path: &str) -> Result<(), String> {
    let refuse = |why: &str| Err(format!("path `{}` refused: {why}", excerpt(path)));
    if path.len() > MAX_PATH {
        return refuse(&format!("longer than {MAX_PATH} bytes"));
    }
    let (segments, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    if !segments.is_empty() {
        if segments.starts_with('/') {
            return refuse("it must be relative (no leading `/`)");
        }
        for s in segments.split('/') {
            if s.is_empty() {
                return refuse("an empty segment (`//` or a trailing `/`)");
            }
            if s == "." || s == ".." {
                return refuse("`.` and `..` segments would leave the target's path");
            }
            if !s.chars().all(plain) {
                return refuse("segments take letters, digits and `-._~` only");
            }
        }
    }
    if let Some(q) = query
        && (q.is_empty() || !q.chars().all(|c| plain(c) || c == '=' || c == '&'))
    {
        return refuse("a query takes letters, digits and `-._~=&` only");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hub_plugin_sdk::Method;

    fn shape(path: &str, headers: &[(&str, &str)]) -> RequestShape {
        let mut s = RequestShape::new(Method::Put, path);
        for (k, v) in headers {
            s = s.header(k, *v);
        }
        s
    }

    #[test]
    fn paths_stay_below_the_targets_url() {
        for ok in ["", "children", "children/K-1_2.x~y", "a/b?mode=full&x=1"] {
            assert_eq!(check_shape(&shape(ok, &[])), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("../admin", "`..`"),
            ("a/../../b", "`..`"),
            ("./a", "`.`"),
            ("/abs", "relative"),
            ("a//b", "empty segment"),
            ("a/", "empty segment"),
            ("https://evil.example/x", "letters, digits"),
            ("a%2e%2e", "letters, digits"),
            ("a b", "letters, digits"),
            ("a\r\nHost: x", "letters, digits"),
            ("a?x=<script>", "query"),
            ("a?", "query"),
            ("a#frag", "letters, digits"),
        ] {
            let e = check_shape(&shape(bad, &[])).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn only_allowed_headers_with_clean_values() {
        assert_eq!(
            check_shape(&shape(
                "x",
                &[("Accept", "application/json"), ("If-Match", "\"7\"")]
            )),
            Ok(())
        );
        for name in [
            "Authorization",
            "cookie",
            "Host",
            "Content-Length",
            "Idempotency-Key",
            "Transfer-Encoding",
            "Connection",
            "Proxy-Foo",
        ] {
            let e = check_shape(&shape("x", &[(name, "v")])).expect_err(name);
            assert!(e.contains("the host's own"), "{name}: {e}");
        }
        let e = check_shape(&shape("x", &[("X-Secret", "v")])).unwrap_err();
        assert!(e.contains("not on the host's allow-list"), "{e}");
        let e = check_shape(&shape("x", &[("Accept", "a\r\nX-Evil: 1")])).unwrap_err();
        assert!(e.contains("without CR or LF") && !e.contains('\r'), "{e}");
        let e = check_shape(&shape("x", &[("Accept", "a"), ("accept", "b")])).unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }
}
