//! `--features otlp`: the hub's spans (a send per target, a transfer's delivery, each
//! attempt at a payload, each file `hub import` takes) exported over OTLP/HTTP with
//! protobuf bodies, when `OTEL_EXPORTER_OTLP_ENDPOINT` (`…/v1/traces` is appended) or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is) is set. The exporter reads the
//! standard variables itself (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_RESOURCE_ATTRIBUTES`); `OTEL_SERVICE_NAME` defaults to
//! `hub`.
//!
//! Spans go out in batches from the SDK's own thread, through a blocking reqwest client
//! with the same TLS as the http transport (rustls with ring, the platform's trusted
//! certificates). Only the hub's own crates at info and above are exported, whatever
//! `HUB_LOG` says: the exporter's HTTP client never traces itself, and the debug lines
//! (endpoints, requests) stay in the log.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The OTLP default: 10 s per export.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error(transparent)]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Whether the environment asks for spans to be exported: an endpoint is set and the
/// SDK is not switched off (`OTEL_SDK_DISABLED=true`).
pub fn wanted() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let disabled =
        std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !disabled && (set(ENDPOINT) || set(TRACES_ENDPOINT))
}

/// A warning for an `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` other than `http/protobuf`.
pub fn protocol_warning() -> Option<String> {
    [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .iter()
    .find_map(|var| {
        let p = std::env::var(var).ok()?;
        (!p.is_empty() && p != "http/protobuf")
            .then(|| format!("{var}={p}: the hub exports over http/protobuf only, and does so"))
    })
}

/// The tracer provider with its batch exporter. Shut it down when the command ends
/// ([`SdkTracerProvider::shutdown`]): that sends what is still in the batch.
pub fn provider() -> Result<SdkTracerProvider, OtlpError> {
    let timeout = timeout();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_http_client(client(timeout)?)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build())
}

/// The layer that turns the hub's spans into OpenTelemetry spans.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("hub"))
        .with_filter(Targets::new().with_target("hub", tracing::Level::INFO))
}

/// `OTEL_SERVICE_NAME`, else a `service.name` from `OTEL_RESOURCE_ATTRIBUTES`, else `hub`.
fn resource() -> Resource {
    let from_env = Resource::builder().build();
    let named = from_env
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if named {
        builder.build()
    } else {
        builder.with_service_name("hub").build()
    }
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds).
fn timeout() -> Duration {
    [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok()?.trim().parse().ok())
    .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

/// reqwest is built without a default TLS provider (hub-transports): the client gets
/// rustls with ring and the platform verifier, as an `https` target does.
fn client(timeout: Duration) -> Result<reqwest::blocking::Client, OtlpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| OtlpError::Tls(format!("the platform's trusted certificates: {e}")))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OtlpError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .build()
        .map_err(OtlpError::Client)
}
