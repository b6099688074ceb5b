//! How a request-response payload is sent (contract 0.2.1 `request-shape`): the plain
//! types a plugin returns and the host records with the payload.

/// An HTTP method a payload may be sent with (contract 0.2.1 `request-shape`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// The default.
    #[default]
    Post,
    /// Replaces the resource at the path.
    Put,
    /// Changes part of the resource at the path.
    Patch,
    /// Removes the resource at the path (the payload is the body).
    Delete,
}

impl Method {
    /// `POST`, `PUT`, `PATCH`, `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// How one request-response payload is sent (contract 0.2.1 `request-shape`); the
/// default is a `POST` to the target's URL. The host checks it and records it with the
/// payload, so a retry sends the same request.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RequestShape {
    /// The method.
    pub method: Method,
    /// Below the target's URL: `""` is the URL itself, `children/42` is `<url>/children/42`.
    pub path: String,
    /// Extra headers from the host's allow-list (e.g. `Accept`, `If-Match`, `Prefer`).
    pub headers: Vec<(String, String)>,
}

impl RequestShape {
    /// A request with `method` to `path` below the target's URL.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Whether this is the default, a `POST` to the target's URL without extra headers.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}
