#![allow(clippy::unwrap_used)]
//! The ftps transport against a real proftpd on loopback (explicit TLS, TLS session reuse
//! required on data connections). The server is started per test by hub-test-ftp-server;
//! without proftpd installed these tests fail and say to run tests/servers/install.sh.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hub_test_ftp_server::FtpServer;
use hub_transports::ftps::{FtpsConfig, FtpsTransport};
use hub_transports::http::Secret;
use hub_transports::layout::Layout;
use hub_transports::{ErrorKind, Transport};

#[path = "common/trickle.rs"]
mod trickle;
use trickle::Trickle;

const MUNICIPALITY: &str = "sermersooq";

fn server() -> FtpServer {
    FtpServer::start(MUNICIPALITY)
        .unwrap_or_else(|e| panic!("cannot start the FTPS test server: {e}"))
}

fn config(server: &FtpServer) -> FtpsConfig {
    FtpsConfig {
        host: "localhost".into(),
        port: server.port,
        user: server.user.clone(),
        password: Secret::new(server.password.clone()),
        ca_file: Some(server.ca_pem.clone()),
        root: "/".into(),
        layout: Layout::Prisme {
            municipality: MUNICIPALITY.into(),
        },
        timeout: Duration::from_secs(10),
    }
}

fn transport(server: &FtpServer) -> FtpsTransport {
    FtpsTransport::new(config(server)).unwrap()
}

/// Names in a folder, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// CRLF and LF line ends, ISO-8859-1 letters (æ ø å Æ Ø Å) and a NUL: binary mode or bust.
fn g_file() -> Vec<u8> {
    let mut bytes = b"0956;2024-01-31;K\xe6rs\xf8\xe5 \xc6\xd8\xc5;100,00\r\n".to_vec();
    bytes.extend_from_slice(b"0956;2024-01-31;bare LF line\n");
    bytes.extend_from_slice(b"last line without end\x00\xff");
    bytes
}

#[test]
fn uploads_arrive_byte_identical_in_the_right_folders() {
    let server = server();
    let mut t = transport(&server);
    t.health().unwrap();
    let g = g_file();
    let q = b"Q;\xe6\xf8\xe5\r\nQ;2\r\n".to_vec();
    for (name, bytes) in [
        ("sermersooq/test/G/522-24-001-G.txt", &g),
        ("sermersooq/test/Q/522-24-001-Q.txt", &q),
        ("sermersooq/prod/G/586-19-325-G.txt", &g),
    ] {
        t.put_temp(name, bytes).unwrap();
        t.make_final(name).unwrap();
        assert_eq!(
            &fs::read(server.home().join(name)).unwrap(),
            bytes,
            "{name}"
        );
    }
    let home = server.home().join(MUNICIPALITY);
    assert_eq!(listing(&home.join("test/G")), ["522-24-001-G.txt"]);
    assert_eq!(listing(&home.join("test/Q")), ["522-24-001-Q.txt"]);
    assert_eq!(listing(&home.join("prod/G")), ["586-19-325-G.txt"]);
    assert!(listing(&home.join("prod/Q")).is_empty());
    assert!(t.endpoint().starts_with("ftps://"));
    assert!(!t.endpoint().contains(&server.password));
}

#[test]
fn fifty_uploads_in_one_session_with_tls_session_reuse() {
    let server = server();
    let mut t = transport(&server);
    let started = Instant::now();
    for i in 0..50 {
        let name = format!("sermersooq/test/G/522-24-{i:03}-G.txt");
        let bytes = format!("file {i}\r\n\u{e6}").into_bytes();
        t.put_temp(&name, &bytes)
            .unwrap_or_else(|e| panic!("upload {i}: {e}\n{}", server.logs()));
        t.make_final(&name).unwrap();
        assert!(t.inspect(&name).unwrap().final_present);
    }
    let names = listing(&server.home().join("sermersooq/test/G"));
    assert_eq!(names.len(), 50, "{names:?}");
    assert!(names.iter().all(|n| !n.ends_with(".hub-part")));
    // One session for all 50 files (the connection was kept), every data connection on a
    // resumed TLS session.
    let logs = server.logs();
    assert_eq!(
        logs.matches("TLSv1.2 connection accepted").count(),
        1,
        "{logs}"
    );
    assert!(
        logs.matches("client reused TLS session for data connection")
            .count()
            >= 50,
        "{logs}"
    );
    eprintln!("50 FTPS uploads in one session: {:?}", started.elapsed());
}

#[test]
fn a_wrong_password_is_refused_clearly() {
    let server = server();
    let mut cfg = config(&server);
    cfg.password = Secret::new("not-the-password-4711");
    let mut t = FtpsTransport::new(cfg).unwrap();
    let e = t.health().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(
        e.message
            .contains(&format!("login as {} refused", server.user)),
        "{}",
        e.message
    );
    assert!(
        !e.message.contains("not-the-password-4711"),
        "{}",
        e.message
    );
    let e = t
        .put_temp("sermersooq/test/G/1-24-1-G.txt", b"x")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
}

#[test]
fn wrong_municipality_or_missing_folder_is_refused_before_sending() {
    let server = server();
    // A closed port: the name is refused before any connection is tried.
    let mut cfg = config(&server);
    cfg.port = hub_test_ftp_server::free_port().unwrap();
    let mut offline = FtpsTransport::new(cfg).unwrap();
    let e = offline
        .put_temp("qeqqata/test/G/1-24-1-G.txt", b"x")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(
        e.message.contains("qeqqata") && e.message.contains("sermersooq"),
        "{}",
        e.message
    );
    let e = offline
        .put_temp("sermersooq/staging/G/1-24-1-G.txt", b"x")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    // ... while a good name on the closed port is a retryable connection failure.
    let e = offline
        .put_temp("sermersooq/test/G/1-24-1-G.txt", b"x")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{}", e.message);

    // A folder Prisme does not have is not created.
    fs::remove_dir(server.home().join("sermersooq/test/Q")).unwrap();
    let mut t = transport(&server);
    let e = t
        .put_temp("sermersooq/test/Q/1-24-1-Q.txt", b"x")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(e.message.contains("does not exist"), "{}", e.message);
    assert!(!server.home().join("sermersooq/test/Q").exists());
    // The session is still good for the next file.
    t.put_temp("sermersooq/test/G/1-24-1-G.txt", b"x").unwrap();
}

#[test]
fn temp_then_final_and_a_final_file_is_never_replaced() {
    let server = server();
    let mut t = transport(&server);
    let name = "sermersooq/test/G/522-24-001-G.txt";
    let folder = server.home().join("sermersooq/test/G");
    t.put_temp(name, b"partial").unwrap();
    t.put_temp(name, b"whole\r\n").unwrap();
    let s = t.inspect(name).unwrap();
    assert_eq!((s.temp_present, s.final_present), (true, false));
    assert_eq!(listing(&folder), [".522-24-001-G.txt.hub-part"]);
    t.make_final(name).unwrap();
    let s = t.inspect(name).unwrap();
    assert_eq!((s.temp_present, s.final_present), (false, true));
    assert_eq!(
        fs::read(folder.join("522-24-001-G.txt")).unwrap(),
        b"whole\r\n"
    );

    t.put_temp(name, b"other").unwrap();
    let e = t.make_final(name).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(
        e.message.contains("never replaces a delivered file"),
        "{}",
        e.message
    );
    assert_eq!(
        fs::read(folder.join("522-24-001-G.txt")).unwrap(),
        b"whole\r\n"
    );
    t.remove_temp(name).unwrap();
    t.remove_temp(name).unwrap();
    let s = t.inspect(name).unwrap();
    assert_eq!((s.temp_present, s.final_present), (false, true));
    assert_eq!(listing(&folder), ["522-24-001-G.txt"]);
}

#[test]
fn a_connection_dropped_mid_upload_is_retryable_and_a_later_try_completes() {
    let server = Arc::new(Mutex::new(server()));
    let (port, folder) = {
        let s = server.lock().unwrap();
        (s.port, s.home().join("sermersooq/test/G"))
    };
    let mut t = {
        let s = server.lock().unwrap();
        transport(&s)
    };
    let name = "sermersooq/test/G/522-24-002-G.txt";
    // Warm up the session, so the kill hits a kept connection in the middle of STOR.
    t.health().unwrap();
    let temp = folder.join(".522-24-002-G.txt.hub-part");
    let killer = {
        let server = server.clone();
        let temp = temp.clone();
        std::thread::spawn(move || {
            // Bounded polling of the server's disk: kill once the upload has begun.
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if fs::metadata(&temp).is_ok_and(|m| m.len() > 0) {
                    server.lock().unwrap().kill();
                    return true;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            false
        })
    };
    let big = vec![b'x'; 256 << 20];
    let e = t.put_temp(name, &big).unwrap_err();
    assert!(killer.join().unwrap(), "the upload never started");
    assert_eq!(e.kind, ErrorKind::Retryable, "{}", e.message);
    assert!(temp.exists(), "a partial temp file stays behind");

    // Still down: retryable too.
    let e = t.put_temp(name, b"small\r\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{}", e.message);

    server.lock().unwrap().start_again().unwrap();
    assert_eq!(server.lock().unwrap().port, port);
    t.put_temp(name, b"small\r\n").unwrap();
    t.make_final(name).unwrap();
    assert_eq!(listing(&folder), ["522-24-002-G.txt"]);
    assert_eq!(
        fs::read(folder.join("522-24-002-G.txt")).unwrap(),
        b"small\r\n"
    );
}

#[test]
fn an_untrusted_server_certificate_is_permanent() {
    let server = server();
    let mut cfg = config(&server);
    cfg.ca_file = None; // the platform's roots do not know the test CA
    let mut t = FtpsTransport::new(cfg).unwrap();
    let e = t.health().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(e.message.contains("TLS"), "{}", e.message);
}

/// A zip's first and last bytes around every byte value, NULs and line ends: binary or bust.
fn zip_like() -> Vec<u8> {
    let mut bytes = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    bytes.extend((0..=255u8).cycle().take(70_000));
    bytes.extend_from_slice(b"\r\n\n\x00PK\x05\x06\x00\x00");
    bytes
}

fn plain(server: &FtpServer, root: &str) -> FtpsTransport {
    let mut cfg = config(server);
    cfg.layout = Layout::Plain;
    cfg.root = root.into();
    FtpsTransport::new(cfg).unwrap()
}

#[test]
fn plain_layout_delivers_at_the_top_and_in_new_sub_folders_never_replacing() {
    let server = server();
    let home = server.home();
    let mut t = plain(&server, "/");
    t.health()
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    let zip = zip_like();

    let top = "RKI_1.01.0.02._1.01._00000001.zip";
    t.put_temp(top, &zip).unwrap();
    assert!(home.join(format!(".{top}.hub-part")).exists());
    let s = t.inspect(top).unwrap();
    assert_eq!((s.temp_present, s.final_present), (true, false));
    t.make_final(top).unwrap();
    assert_eq!(fs::read(home.join(top)).unwrap(), zip);

    // Missing folders below the root are created; an existing one is fine.
    let deep = "rki/2024/RKI_1.01.0.02._1.01._00000002.zip";
    t.put_temp(deep, &zip).unwrap();
    t.make_final(deep).unwrap();
    assert_eq!(fs::read(home.join(deep)).unwrap(), zip);
    let other = "rki/RKI_1.01.0.02._1.01._00000003_RECEIPT.xml";
    t.put_temp(other, b"<receipt/>\r\n").unwrap();
    t.make_final(other).unwrap();
    assert_eq!(
        listing(&home.join("rki")),
        ["2024", "RKI_1.01.0.02._1.01._00000003_RECEIPT.xml"]
    );
    assert_eq!(
        listing(&home.join("rki/2024")),
        ["RKI_1.01.0.02._1.01._00000002.zip"]
    );
    let s = t.inspect(deep).unwrap();
    assert_eq!((s.temp_present, s.final_present), (false, true));

    // A second upload under a delivered name is refused and replaces nothing.
    t.put_temp(top, b"PK\x03\x04 another").unwrap();
    let e = t.make_final(top).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(
        e.message.contains("never replaces a delivered file"),
        "{}",
        e.message
    );
    assert_eq!(fs::read(home.join(top)).unwrap(), zip);
    t.remove_temp(top).unwrap();
    assert_eq!(listing(&home), [top, "rki", MUNICIPALITY]);

    // Hostile names are refused before anything is sent, naming the file.
    for name in ["../x", "/abs", ".hidden", "rki/../../x", "rki/.x", "a\\b"] {
        let e = t.put_temp(name, b"x").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
        assert!(
            e.message.contains(&format!("cannot deliver {name}: ")),
            "{}",
            e.message
        );
    }
    assert_eq!(listing(&home), [top, "rki", MUNICIPALITY]);
    assert!(!home.join("../x").exists() && !home.join("../abs").exists());
}

#[test]
fn plain_layout_never_creates_its_root() {
    let server = server();
    let mut t = plain(&server, "/missing");
    let e = t.health().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(
        e.message.contains("/missing does not exist"),
        "{}",
        e.message
    );
    t.put_temp("RKI_x.zip", b"PK").unwrap_err();
    let e = t.put_temp("sub/RKI_x.zip", b"PK").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(!server.home().join("missing").exists());
}

/// What the pipeline does before calling a file found under the final name delivered: read
/// it back over the same connection and compare size and SHA-256 with what the hub wrote.
#[test]
fn a_file_under_the_final_name_is_read_back_as_size_and_sha256() {
    use sha2::{Digest as _, Sha256};
    let server = server();
    let mut t = transport(&server);
    let folder = server.home().join("sermersooq/test/G");
    // Someone else's file, larger than one read block, under a name the hub would use.
    let foreign: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("522-24-001-G.txt"), &foreign).unwrap();
    let name = "sermersooq/test/G/522-24-001-G.txt";
    let d = t.digest(name).unwrap().expect("the file is there");
    assert_eq!(d.size, foreign.len() as u64);
    assert_eq!(d.sha256, hex::encode(Sha256::digest(&foreign)));
    // The hub's own upload is refused the name, and the stranger's file stays as it was.
    t.put_temp(name, &g_file()).unwrap();
    assert!(t.make_final(name).is_err());
    assert_eq!(fs::read(folder.join("522-24-001-G.txt")).unwrap(), foreign);
    t.remove_temp(name).unwrap();
    // A name with nothing under it.
    assert_eq!(
        t.digest("sermersooq/test/G/522-24-002-G.txt").unwrap(),
        None
    );
    // The hub's own file reads back as what it wrote.
    let own = "sermersooq/test/G/522-24-003-G.txt";
    t.put_temp(own, &g_file()).unwrap();
    t.make_final(own).unwrap();
    let d = t.digest(own).unwrap().unwrap();
    assert_eq!(d.sha256, hex::encode(Sha256::digest(g_file())));
    assert_eq!(listing(&folder), ["522-24-001-G.txt", "522-24-003-G.txt"]);
}

/// Streamed uploads (the store hands the bytes as a reader): a file read in odd pieces
/// arrives byte-identical; a reader that ends before the announced size is a retryable
/// error and nothing gets the final name.
#[test]
fn a_streamed_upload_arrives_whole_and_a_short_stream_is_refused() {
    let server = server();
    let mut t = transport(&server);
    let big: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let name = "sermersooq/test/G/522-24-002-G.txt";
    let mut reader = Trickle {
        bytes: &big,
        step: 77_777,
    };
    t.put_temp_from(name, &mut reader, big.len() as u64)
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    t.make_final(name).unwrap();
    assert_eq!(fs::read(server.home().join(name)).unwrap(), big);

    let short = "sermersooq/test/G/522-24-003-G.txt";
    let mut reader = Trickle {
        bytes: &big[..1000],
        step: 300,
    };
    let e = t.put_temp_from(short, &mut reader, 5000).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{e}");
    assert!(e.message.contains("sent 1000 of 5000"), "{e}");
    assert!(!server.home().join(short).exists());
}
