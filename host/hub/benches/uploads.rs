//! Prisme files over FTPS and SFTP, the hub side by side with the standard clients
//! (`cargo bench -p hub --bench uploads`): the same files uploaded to the same loopback
//! servers (proftpd with TLS, OpenSSH's sshd; `tests/servers/install.sh`) by `hub send`
//! and by `lftp` (`mput`) and OpenSSH `sftp -b` (`put`), alternating which goes first.
//!
//! The hub's side is delivery alone: the transfer (one payload per file) is created
//! before the clock starts, as the issue measured it; `hub send` is then a process of
//! its own with default settings, as each client is. Every run is timed by GNU time
//! (wall, CPU, peak RSS). Cases: 1,000 files of 2 KB, one file of 50 MB, and the cost
//! per file of a transfer of 10 files against one of 1,000 (`BENCH_MANY=10000` for the
//! larger one), which must not grow with the transfer.
//!
//! `BENCH_ROUNDS` pairs per case (default 2); `BENCH_ONLY=ftps` or `sftp` for one
//! protocol; `BENCH_HUB_PREFIX` runs the hub under a profiler. Skips a protocol whose server or client is
//! missing, saying which.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "common/timing.rs"]
mod timing;
use timing::{Run, median, plugin_dir, timed};

use hub_core::time::Timestamp;
use hub_store::{Batch, NewPayload, PluginStamp, Store};

const HUB: &str = env!("CARGO_BIN_EXE_hub");

/// The bytes of file `i` of a case: text lines, as a G file is.
fn content(i: usize, size: usize) -> Vec<u8> {
    let line = format!("{i:08}0123456789&G69 Daginstitution\r\n");
    line.bytes().cycle().take(size).collect()
}

/// The file names of a case; distinct per run so no run meets another's files.
fn names(run: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{}-24-{run}{i:05}-G.txt", 500 + i % 50))
        .collect()
}

/// The client's command uploading the named files of a folder.
type ClientCommand = Box<dyn Fn(&Path, &[String]) -> Command>;

/// One side's way to the server: the hub's transport table and the client's command.
struct Server {
    /// `transport = { … }` for hub.toml.
    transport: String,
    /// Files written here are what the client uploads.
    client: ClientCommand,
    /// The folder on the server's disk the files land in, emptied after each run.
    landed: PathBuf,
}

/// A site with a Prisme target over `transport` and a created transfer of `count` files
/// of `size` bytes (one queued record each), not yet delivered.
fn hub_site(dir: &Path, transport: &str, run: &str, count: usize, size: usize) {
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "version = 1\n[store]\npath = \"hub.db\"\n[plugins.prisme]\npath = \"{}\"\n\
             [[target]]\nname = \"prisme\"\nplugin = \"prisme\"\ntransport = {transport}\n\
             [target.settings]\nmunicipality = \"sermersooq\"\nenvironment = \"test\"\n\
             organisation_unit = \"0956\"\n",
            plugin_dir().join("prisme.wasm").display()
        ),
    )
    .unwrap();
    // The hub creates and migrates its store with the records…
    let input = dir.join("records.ndjson");
    let lines: String = (0..count)
        .map(|i| {
            format!(
                "{{\"id\":\"{run}-{i}\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\
                 \"machine_no\":\"00123\",\"posting_date\":\"20240131\",\"account\":\"9002009002\",\
                 \"amount_ore\":{},\"dk\":\"D\",\"text\":\"x\"}}\n",
                1000 + i
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let out = Command::new(HUB)
        .arg("--config")
        .arg(dir.join("hub.toml"))
        .args(["enqueue", "prisme"])
        .arg(&input)
        .env_remove("HUB_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // …and the transfer is made here, one file per record, as a plugin proposing many
    // files would.
    let mut store = hub_store::SqliteStore::open(&dir.join("hub.db")).unwrap();
    let batch = store.queued_batches("prisme").unwrap().remove(0);
    let records = store.queued_records("prisme", &batch, count).unwrap();
    assert_eq!(records.len(), count);
    let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
    let payloads: Vec<NewPayload> = names(run, count)
        .into_iter()
        .zip(&records)
        .enumerate()
        .map(|(i, (name, r))| NewPayload {
            // Prisme's tree, as the plugin names its files.
            name: format!("sermersooq/test/G/{name}"),
            media_type: "text/plain".into(),
            bytes: content(i, size),
            records: vec![r.seq],
            labels: vec![("page".into(), "522".into())],
            request: None,
        })
        .collect();
    let stamp = PluginStamp {
        name: "prisme".into(),
        version: "bench".into(),
        sha256: "00".into(),
    };
    let batch = Batch {
        batch_key: batch.batch_key,
        sequence_scope: None,
    };
    let now = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let created = hub_store::create_transfer_with(
        &mut store,
        "prisme",
        &batch,
        &seqs,
        &stamp,
        None,
        now,
        |_| Ok::<_, ()>(payloads),
    )
    .unwrap();
    assert!(created.is_ok());
}

fn hub_run(server: &Server, run: &str, count: usize, size: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    hub_site(dir.path(), &server.transport, run, count, size);
    // `BENCH_HUB_PREFIX="perf record -g -o hub.perf"`: a profile of the hub's runs.
    let prefix = std::env::var("BENCH_HUB_PREFIX").unwrap_or_default();
    let (r, out) = timed(
        Command::new("/usr/bin/time")
            .args(["-f", "%e %U %S %M"])
            .args(prefix.split_whitespace())
            .args([HUB, "--config"])
            .arg(dir.path().join("hub.toml"))
            .args(["send", "prisme"])
            .env_remove("HUB_CONFIG"),
    );
    assert!(
        out.contains(&format!("{count} record(s) delivered")),
        "hub send: {out}"
    );
    landed(server, count);
    r
}

fn client_run(server: &Server, run: &str, count: usize, size: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let names = names(run, count);
    for (i, n) in names.iter().enumerate() {
        std::fs::write(dir.path().join(n), content(i, size)).unwrap();
    }
    let mut cmd = (server.client)(dir.path(), &names);
    let (r, _) = timed(&mut cmd);
    landed(server, count);
    r
}

/// Checks that `count` files arrived, then empties the folder for the next run.
fn landed(server: &Server, count: usize) {
    let files: Vec<_> = std::fs::read_dir(&server.landed)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), count, "files in {}", server.landed.display());
    for f in files {
        std::fs::remove_file(f).unwrap();
    }
}

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
}

/// Both sides, alternating, `rounds` each: the medians.
fn pair(server: &Server, label: &str, count: usize, size: usize) -> (Run, Run) {
    let (mut h, mut c) = (Vec::new(), Vec::new());
    for round in 0..rounds() {
        let run = format!("{label}{round}");
        if round % 2 == 0 {
            h.push(hub_run(server, &format!("h{run}"), count, size));
            c.push(client_run(server, &format!("c{run}"), count, size));
        } else {
            c.push(client_run(server, &format!("c{run}"), count, size));
            h.push(hub_run(server, &format!("h{run}"), count, size));
        }
    }
    let med = |v: &[Run]| Run {
        wall: median(v.iter().map(|r| r.wall).collect()),
        cpu: median(v.iter().map(|r| r.cpu).collect()),
        rss: median(v.iter().map(|r| r.rss).collect()),
    };
    let walls = |v: &[Run]| {
        v.iter()
            .map(|r| format!("{:.2}", r.wall))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("    runs: hub {} s; client {} s", walls(&h), walls(&c));
    (med(&h), med(&c))
}

fn protocol(name: &str, client: &str, server: &Server) {
    let many: usize = std::env::var("BENCH_MANY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    println!(
        "{name}: hub vs {client}, medians of {} alternating pairs",
        rounds()
    );
    let (h, c) = pair(server, "s", 1000, 2048);
    println!(
        "  {name} 1,000 files of 2 KB: hub {:.2} s ({:.2} s CPU, {:.0} MiB), {client} {:.2} s ({:.2} s CPU, {:.0} MiB): hub/client time {:.2}",
        h.wall,
        h.cpu,
        h.rss,
        c.wall,
        c.cpu,
        c.rss,
        h.wall / c.wall
    );
    let (h, c) = pair(server, "b", 1, 50 << 20);
    let mb = (50 << 20) as f64 / 1e6;
    println!(
        "  {name} one file of 50 MB: hub {:.0} MB/s ({:.0} MiB peak), {client} {:.0} MB/s ({:.0} MiB): hub/client MB/s {:.2}",
        mb / h.wall,
        h.rss,
        mb / c.wall,
        c.rss,
        c.wall / h.wall
    );
    // The hub's cost per file by the size of the transfer (process start included in
    // both, so the small one carries it over fewer files: the start is printed apart).
    let mut per = Vec::new();
    for count in [10, many] {
        let (h, c) = pair(server, &format!("p{count}-"), count, 2048);
        per.push((count, h, c));
    }
    let (few, many_) = (&per[0], &per[1]);
    let hub_per = (many_.1.wall - few.1.wall) / (many_.0 - few.0) as f64 * 1000.0;
    let client_per = (many_.2.wall - few.2.wall) / (many_.0 - few.0) as f64 * 1000.0;
    println!(
        "  {name} per file: {} files hub {:.2} s, {} files hub {:.2} s: {hub_per:.2} ms per further file ({client} {client_per:.2} ms); hub start + 10 files {:.2} s",
        few.0, few.1.wall, many_.0, many_.1.wall, few.1.wall
    );
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("hub file deliveries vs the standard clients, loopback ({cores} cores)");
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |p: &str| only.is_empty() || only == p;
    match wanted("ftps").then(|| hub_test_ftp_server::FtpServer::start("sermersooq")) {
        None => {}
        Some(Err(e)) => println!("ftps: skipped ({e})"),
        Some(Ok(_)) if Command::new("lftp").arg("--version").output().is_err() => {
            println!("ftps: skipped (no lftp; tests/servers/install.sh installs it)")
        }
        Some(Ok(ftp)) => {
            let pw = ftp.home().join("../bench.pw");
            std::fs::write(&pw, &ftp.password).unwrap();
            let (port, user, password, ca) = (
                ftp.port,
                ftp.user.clone(),
                ftp.password.clone(),
                ftp.ca_pem.clone(),
            );
            let server = Server {
                transport: format!(
                    "{{ type = \"ftps\", host = \"localhost\", port = {port}, user = \"{user}\", password_file = \"{}\", ca_file = \"{}\", municipality = \"sermersooq\" }}",
                    pw.display(),
                    ca.display()
                ),
                client: Box::new(move |dir, names| {
                    let script = format!(
                        "set ftp:ssl-force true; set ftp:ssl-protect-data true; \
                         set ssl:ca-file {}; set ssl:check-hostname no; \
                         open -u {user},{password} -p {port} localhost; \
                         cd sermersooq/test/G; lcd {}; mput {}",
                        ca.display(),
                        dir.display(),
                        names.join(" ")
                    );
                    let mut c = Command::new("/usr/bin/time");
                    c.args(["-f", "%e %U %S %M", "lftp", "-c", &script]);
                    c
                }),
                landed: ftp.home().join("sermersooq/test/G"),
            };
            protocol("ftps", "lftp", &server);
        }
    }
    match wanted("sftp").then(|| hub_test_ssh_server::SshServer::start("sermersooq")) {
        None => {}
        Some(Err(e)) => println!("sftp: skipped ({e})"),
        Some(Ok(ssh)) => {
            let known = ssh.root().join("../bench_known_hosts");
            std::fs::write(
                &known,
                format!("[127.0.0.1]:{} {}\n", ssh.port, ssh.host_key),
            )
            .unwrap();
            let (port, user, key) = (ssh.port, ssh.user.clone(), ssh.client_key.clone());
            let server = Server {
                transport: format!(
                    "{{ type = \"sftp\", host = \"127.0.0.1\", port = {port}, user = \"{user}\", key_file = \"{}\", host_key = \"{}\", municipality = \"sermersooq\" }}",
                    key.display(),
                    ssh.host_key
                ),
                client: Box::new(move |dir, names| {
                    let batch = dir.join("batch.sftp");
                    let mut text = String::from("cd sermersooq/test/G\n");
                    for n in names {
                        text.push_str(&format!("put {}\n", dir.join(n).display()));
                    }
                    std::fs::write(&batch, text).unwrap();
                    let mut c = Command::new("/usr/bin/time");
                    c.args(["-f", "%e %U %S %M", "sftp", "-q", "-b"])
                        .arg(&batch)
                        .args(["-P", &port.to_string(), "-i"])
                        .arg(&key)
                        .arg("-o")
                        .arg(format!("UserKnownHostsFile={}", known.display()))
                        .args(["-o", "BatchMode=yes"])
                        .arg(format!("{user}@127.0.0.1"));
                    c
                }),
                landed: ssh.root().join("sermersooq/test/G"),
            };
            protocol("sftp", "sftp", &server);
        }
    }
}
