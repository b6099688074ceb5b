//! `hub plugins`: what is loaded, versions, hashes.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::cli::JsonArg;
use crate::output::{self, Table};

#[derive(Debug, Serialize)]
struct PluginView {
    name: String,
    plugin: String,
    version: String,
    sha256: String,
    path: String,
    delivery: &'static str,
    record_kinds: Vec<String>,
    load_ms: f64,
    from_cache: bool,
    targets: Vec<String>,
}

pub fn run(g: &super::Global, args: &JsonArg) -> Result<ExitCode> {
    let mut app = g.open()?;
    let names: Vec<String> = app.config.plugins.keys().cloned().collect();
    let mut views = Vec::new();
    for name in names {
        let p = app.plugin(&name)?;
        let info = p.info();
        let loaded = p.load_info();
        views.push(PluginView {
            name: name.clone(),
            plugin: info.name.clone(),
            version: info.version.clone(),
            sha256: p.sha256().to_string(),
            path: loaded
                .path
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            delivery: info.delivery.as_str(),
            record_kinds: info.record_kinds.clone(),
            load_ms: loaded.load_time.as_secs_f64() * 1e3,
            from_cache: loaded.from_cache,
            targets: app
                .config
                .targets
                .iter()
                .filter(|t| t.plugin == name)
                .map(|t| t.name.clone())
                .collect(),
        });
    }
    // Check every target against its plugin too, so a bad setting shows here.
    for target in app.target_names() {
        app.target(&target)?;
    }
    if args.json {
        output::json(&views)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        "PLUGIN", "VERSION", "DELIVERY", "KINDS", "TARGETS", "LOAD", "SHA256",
    ]);
    for v in &views {
        t.row(vec![
            v.name.clone(),
            v.version.clone(),
            v.delivery.to_string(),
            v.record_kinds.join(","),
            v.targets.join(","),
            format!(
                "{:.1} ms{}",
                v.load_ms,
                if v.from_cache { " (cached)" } else { "" }
            ),
            v.sha256.clone(),
        ]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}
