//! `hub plugin schema <target> [kind]`: the JSON Schemas a target's plugin declares for
//! its record kinds (contract 0.2.1 `schema`), for a source system to check its records
//! against before sending; the same the API serves at `/api/v1/targets/{t}/schema`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The target, as hub.toml names it.
    pub target: String,
    /// One record kind: print its schema alone (default: an object of every kind's).
    pub kind: Option<String>,
}

/// Every kind's schema as one JSON object (kind → schema), or `None` when the plugin
/// declares none. A schema that is not JSON cannot occur: the runtime refused it at load.
pub fn schemas_object(list: &[(String, String)]) -> Option<serde_json::Value> {
    if list.is_empty() {
        return None;
    }
    let map = list
        .iter()
        .map(|(kind, text)| {
            let value = serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.clone()));
            (kind.clone(), value)
        })
        .collect();
    Some(serde_json::Value::Object(map))
}

pub fn run(g: &super::Global, args: &SchemaArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let t = app.target(&args.target)?;
    let list = t.plugin.schemas();
    let Some(all) = schemas_object(&list) else {
        bail!(
            "target {}: plugin {} declares no JSON Schema for its records",
            args.target,
            t.plugin.name()
        );
    };
    let shown = match &args.kind {
        None => all,
        Some(kind) => match all.get(kind) {
            Some(s) => s.clone(),
            None => bail!(
                "target {}: plugin {} has no schema for kind `{}` (schemas: {})",
                args.target,
                t.plugin.name(),
                hub_plugin_sdk::text::excerpt(kind),
                list.iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}
