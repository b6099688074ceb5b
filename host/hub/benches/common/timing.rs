//! What the side-by-side benches (`enqueue`, `kita`) share: a process timed under GNU
//! time, the built plugins' folder, and the median of the runs.

use std::path::PathBuf;
use std::process::Command;

/// One run: seconds, CPU seconds (user + system), peak RSS in MiB.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub wall: f64,
    pub cpu: f64,
    pub rss: f64,
}

pub fn plugin_dir() -> PathBuf {
    std::env::var_os("HUB_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"))
}

/// Runs `cmd`, which starts with `/usr/bin/time -f "%e %U %S %M"`: the run and its stdout.
pub fn timed(cmd: &mut Command) -> (Run, String) {
    let out = cmd.output().expect("/usr/bin/time");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let last = err.lines().last().unwrap_or_default();
    let f: Vec<f64> = last
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let run = Run {
        wall: f[0],
        cpu: f[1] + f[2],
        rss: f[3] / 1024.0,
    };
    (run, String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
