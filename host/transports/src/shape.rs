//! A plugin's request shape (contract 0.2.1 `request-shape`) as an HTTP request: checked
//! again here (it was checked when it was recorded; a store edited since must not turn it
//! into something else), and its path joined below the target's URL, which is taken as a
//! directory. The joined URL is checked to stay on the target's origin and below its path.

use hub_core::request::check_shape;
use hub_plugin_sdk::{Method, RequestShape};
use reqwest::Url;

/// The method and URL of a shaped request, or why it cannot be sent.
pub(crate) fn target_url(
    base: &Url,
    shape: &RequestShape,
) -> Result<(reqwest::Method, Url), String> {
    check_shape(shape)?;
    let method = match shape.method {
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    };
    let (path, query) = match shape.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (shape.path.as_str(), None),
    };
    let dir = base.path().trim_end_matches('/');
    let mut url = base.clone();
    if !path.is_empty() {
        url.set_path(&format!("{dir}/{path}"));
    }
    if query.is_some() {
        url.set_query(query);
    }
    let below = url.path() == base.path() || url.path().starts_with(&format!("{dir}/"));
    if url.origin() != base.origin() || !below {
        return Err(format!(
            "path `{}` leaves the target's URL",
            hub_plugin_sdk::text::excerpt(&shape.path)
        ));
    }
    Ok((method, url))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_join_below_the_base_and_never_leave_it() {
        let base = Url::parse("https://h.example/kp/api/import").unwrap();
        let go = |m: Method, p: &str| target_url(&base, &RequestShape::new(m, p));
        let (m, u) = go(Method::Put, "children/K1").unwrap();
        assert_eq!(m, reqwest::Method::PUT);
        assert_eq!(u.as_str(), "https://h.example/kp/api/import/children/K1");
        let (_, u) = go(Method::Post, "").unwrap();
        assert_eq!(u, base);
        let (_, u) = go(Method::Patch, "a?x=1").unwrap();
        assert_eq!(u.as_str(), "https://h.example/kp/api/import/a?x=1");
        for bad in ["../x", "/x", "a//b", "https://evil.example/", "a%2F..%2Fb"] {
            assert!(go(Method::Post, bad).is_err(), "{bad}");
        }
    }
}
