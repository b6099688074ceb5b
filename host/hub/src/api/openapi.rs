//! The OpenAPI description served at `/openapi.json`, generated (issue 15): each handler
//! carries its `#[utoipa::path]` (path, method, summary, parameters, bodies, answers) and
//! `routes.rs` registers it with utoipa-axum's `routes!`, which takes the route's path and
//! method from that annotation, so a handler is routed exactly where it is described.
//! What every route shares is here: the document's info, the bearer scheme, the `Error`
//! answer, the parameters used by many routes and the schemas of types from other crates.

use axum::body::Bytes;
use hub_core::state::{PayloadState, RecordState, TransferState};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder, Schema,
};
use utoipa::{IntoParams, Modify, OpenApi, ToResponse, ToSchema};

use super::ApiError;

/// The document's own parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hub serve",
        version = "1",
        description = "The hub's API for source systems and operators. Every /api/v1 route needs `Authorization: Bearer <token>`. A source system's token reaches only its own configuration file (municipality) and the targets its [[api.tokens]] entry names; the operator token of a file reaches every target of that file; the console token (`console_token_env`/`_file`, usually in the shared file the municipality files include) reaches every municipality served, and names the one a request is for in the `X-Hub-Municipality` header (not needed when one is served). Errors are JSON {\"error\": \"…\", \"problems\": [\"…\"]}."
    ),
    security(("bearer" = [])),
    components(schemas(ApiError), responses(ApiError)),
    modifiers(&Bearer)
)]
pub(super) struct Base;

/// `Authorization: Bearer <token>`, required by every route unless it says otherwise.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut Document) {
        // Not the crate's (empty) license, which utoipa would fill in.
        openapi.info.license = None;
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

/// Marks every operation of `doc` as needing no token (the page, health, metrics).
pub(super) fn without_token(doc: &mut Document) {
    for item in doc.paths.paths.values_mut() {
        let operations: [&mut Option<Operation>; 8] = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            op.security = Some(Vec::new());
        }
    }
}

/// The document as served, encoded once.
pub(super) fn encode(doc: &Document) -> Bytes {
    // Only maps, strings and numbers: serializing cannot fail.
    Bytes::from(serde_json::to_vec_pretty(doc).expect("an OpenAPI document serializes"))
}

/// `#/components/responses/Error`: what every failure answers.
impl<'r> ToResponse<'r> for ApiError {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "Error",
            ResponseBuilder::new()
                .description("A reason")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .build(),
                )
                .into(),
        )
    }
}

/// The municipality header of the /api/v1 routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code, reason = "only described")]
pub(super) struct Municipality {
    /// The municipality (configuration file stem) the request is for: needed by the console token when several are served; another token may name only its own
    #[param(rename = "X-Hub-Municipality", value_type = String, required = false)]
    municipality: Option<String>,
}

/// `{target}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "only described")]
pub(super) struct TargetPath {
    /// A target of the token's configuration file
    target: String,
}

/// `{id}`: a record's id, or a transfer's or received transport's number.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "only described")]
pub(super) struct IdPath {
    id: String,
}

// `hub_store::EnqueueReport` as it is serialized (the e2e test `the_openapi_description_…`
// compares the fields); a `//` comment, not a description in the document.
#[derive(ToSchema)]
#[schema(as = EnqueueReport)]
#[allow(dead_code, reason = "only described")]
pub(super) struct EnqueueReportSchema {
    queued: u64,
    duplicates: u64,
    superseded: u64,
    changed: u64,
}

// `hub_store::RecordView` as it is serialized (the e2e test `the_openapi_description_…`
// compares the fields and the state).
#[derive(ToSchema)]
#[schema(as = Record)]
#[allow(dead_code, reason = "only described")]
pub(super) struct RecordSchema {
    seq: i64,
    target: String,
    id: String,
    kind: String,
    #[schema(schema_with = record_states)]
    state: String,
    transfer_id: Option<i64>,
    messages: Vec<String>,
    updated_at: String,
}

// The answer of `GET …/records/{id}`.
#[derive(ToSchema)]
#[allow(dead_code, reason = "only described")]
pub(super) struct Records {
    records: Vec<RecordSchema>,
}

/// A string, one of `values`.
fn one_of(values: impl IntoIterator<Item = &'static str>) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values))
            .build(),
    )
}

pub(super) fn record_states() -> Schema {
    one_of(RecordState::ALL.iter().map(|s| s.as_str()))
}

pub(super) fn transfer_states() -> Schema {
    one_of(TransferState::ALL.iter().map(|s| s.as_str()))
}

pub(super) fn payload_states() -> Schema {
    one_of(PayloadState::ALL.iter().map(|s| s.as_str()))
}
