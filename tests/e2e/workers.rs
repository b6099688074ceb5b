//! Several `hub serve` workers on one store, killed with SIGKILL at random steps while
//! they deliver to a slow Kita-Planer server that ignores idempotency keys: every record
//! arrives exactly once (counted at the receiver), every outcome the hub cannot know is
//! held and settled by a person, and the workers that are left finish the rest.
//!
//! On SQLite the workers share one store file: one sends, the others wait on the send
//! lock and take over when it dies (the store's leases of the dead one are freed). The
//! same harness runs on PostgreSQL, where all workers send at once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use hub_test_kitaplaner_server::server::{self, Behaviour, ServerHandle};

use crate::common::{HUB, Site};
use crate::doubt::{Lcg, many_children, settle_by_asking};
use crate::kitaplaner::{enqueue, pki, site as kita_site};

/// Where a worker is stopped to be killed, as in the single-process kill tests.
const POINTS: [&str; 5] = ["requesting", "answered", "completed", "created", "encode"];

/// A line a worker wrote on stderr, by worker.
type Said = (usize, String);

/// One `hub serve` process.
struct Worker {
    child: Child,
}

impl Worker {
    /// Starts worker `n`, optionally stopped at `fault`; its stderr lines go to `said`.
    fn start(site: &Site, n: usize, fault: Option<&str>, said: &Sender<Said>) -> Worker {
        let mut cmd = Command::new(HUB);
        cmd.arg("--config")
            .arg(site.config())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("HUB_LOG", "hub=info")
            .env_remove("HUB_FAULT")
            .env_remove("HUB_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(f) = fault {
            cmd.env("HUB_FAULT", f);
        }
        let mut child = cmd.spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let said = said.clone();
        let pid = child.id().to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                // Killed here, at once: a worker stopped at a step may hold the store's
                // write lock, and nothing else may wait on it meanwhile.
                if line.starts_with("HUB-FAULT") {
                    let _ = Command::new("kill").args(["-9", &pid]).status();
                }
                if said.send((n, line)).is_err() {
                    break;
                }
            }
        });
        Worker { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How many times each record reached the receiver.
fn imports(srv: &ServerHandle) -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> = BTreeMap::new();
    for k in srv.record_keys() {
        *out.entry(k).or_default() += 1;
    }
    out
}

/// Runs `workers` workers over `records` records, killing one at a random step `kills`
/// times (each restarted, the last ones without a fault), until every record is
/// delivered; settles every doubt by asking the receiver, as a person would.
fn deliver_with_kills(
    site: &Site,
    srv: &ServerHandle,
    workers: usize,
    records: usize,
    kills: usize,
) {
    let (tx, rx): (Sender<Said>, Receiver<Said>) = channel();
    let mut rng = Lcg(0x3077_2026_1127);
    let fault = |rng: &mut Lcg| {
        format!(
            "{}:{}",
            POINTS[rng.next(POINTS.len() as u64) as usize],
            1 + rng.next(4)
        )
    };
    let mut pool: Vec<Worker> = (0..workers)
        .map(|n| Worker::start(site, n, Some(&fault(&mut rng)), &tx))
        .collect();
    let (mut killed, mut settled) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last_look = Instant::now();
    loop {
        assert!(
            Instant::now() < deadline,
            "not done after 10 minutes: {killed} kills, {settled} settled, {}",
            site.status()["targets"]
        );
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((n, line)) if line.starts_with("HUB-FAULT") => {
                pool[n].kill();
                killed += 1;
                let next = (killed < kills).then(|| fault(&mut rng));
                pool[n] = Worker::start(site, n, next.as_deref(), &tx);
            }
            Ok((n, line)) => {
                if std::env::var_os("HUB_TEST_VERBOSE").is_some() {
                    eprintln!("worker {n}: {line}");
                }
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => unreachable!("the test holds a sender"),
        }
        // Look at the whole picture now and then, as an operator would.
        if last_look.elapsed() < Duration::from_millis(500) {
            continue;
        }
        last_look = Instant::now();
        settled += settle_by_asking(site, srv);
        let status = site.status();
        let c = &status["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == "kita")
            .cloned()
            .unwrap_or_default();
        if c["delivered"] == records {
            eprintln!("done: {c}");
            break;
        }
        // The faults left are ones no worker will reach (nothing left at that step):
        // start those workers plain so the rest gets done.
        if killed >= kills {
            for (n, w) in pool.iter_mut().enumerate() {
                if w.child.try_wait().ok().flatten().is_some() {
                    *w = Worker::start(site, n, None, &tx);
                }
            }
        }
    }
    drop(pool);
    eprintln!("{workers} workers, {records} records: {killed} kills, {settled} doubts settled");
    assert!(
        killed >= kills,
        "only {killed} of {kills} kills reached their step"
    );
}

/// A Kita site whose records are queued (`records` of them) and whose target then sends
/// in real time, so the workers find it all queued when they start. `store` replaces the
/// site's `[store]` table when given (PostgreSQL).
fn multi_worker_site(srv: &ServerHandle, records: usize, store: Option<&str>) -> Site {
    let site = kita_site(srv, &pki().client);
    let mut text = std::fs::read_to_string(site.config())
        .unwrap()
        .replacen("retry = {", "max_batch = 50\nretry = {", 1)
        .replacen("[store]\n", "[store]\nlease_seconds = 30\n", 1);
    if let Some(store) = store {
        text = text.replacen("[store]\n", &format!("[store]\n{store}\n"), 1);
        site.write("db.pw", &format!("{}\n", hub_testpg::PASSWORD));
    }
    site.write_config(&text);
    enqueue(&site, &many_children(records));
    site.write_config(&text.replacen(
        "max_batch = 50",
        "sending = \"realtime\"\nmax_batch = 50",
        1,
    ));
    site
}

#[test]
fn several_workers_on_one_sqlite_store_deliver_every_record_once_through_kills() {
    // Slow (50 ms an answer), POST-only and blind to idempotency keys: a second POST of
    // anything would be a second import.
    let srv = server::start(
        pki(),
        Behaviour::default()
            .post_only()
            .delay(Duration::from_millis(50)),
    );
    let records = 2_000;
    let site = multi_worker_site(&srv, records, None);
    deliver_with_kills(&site, &srv, 3, records, 6);

    exactly_once(&site, &srv, records);
}

/// Every record imported once, nothing left in doubt.
fn exactly_once(site: &Site, srv: &ServerHandle, records: usize) {
    let got = imports(srv);
    let doubled: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "imported more than once: {doubled:?}");
    assert_eq!(got.len(), records, "records lost");
    let status = site.status();
    assert!(
        status["in_doubt"].as_array().unwrap().is_empty(),
        "{}",
        status["in_doubt"]
    );
}

#[test]
fn several_workers_on_one_postgresql_database_deliver_every_record_once_through_kills() {
    let Some(cluster) = hub_testpg::cluster() else {
        return;
    };
    let srv = server::start(
        pki(),
        Behaviour::default()
            .post_only()
            .delay(Duration::from_millis(50)),
    );
    let records = 10_000;
    // `path` stays in the table but is not used: the URL wins.
    let url = cluster.database();
    let store = format!("url = \"{url}\"\npassword_file = \"db.pw\"");
    let site = multi_worker_site(&srv, records, Some(&store));
    deliver_with_kills(&site, &srv, 3, records, 6);
    exactly_once(&site, &srv, records);
}
