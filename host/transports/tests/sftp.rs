#![allow(clippy::unwrap_used)]
//! The sftp transport against a real OpenSSH sshd on loopback (SFTP only, chrooted user).
//! The server is started per test by hub-test-ssh-server; without openssh-server installed
//! these tests fail and say to run tests/servers/install.sh.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hub_test_ssh_server::SshServer;
use hub_transports::http::Secret;
use hub_transports::layout::Layout;
use hub_transports::sftp::{SftpAuth, SftpConfig, SftpTransport};
use hub_transports::{ErrorKind, Transport};

#[path = "common/trickle.rs"]
mod trickle;
use trickle::Trickle;

const MUNICIPALITY: &str = "sermersooq";

fn server() -> SshServer {
    SshServer::start(MUNICIPALITY)
        .unwrap_or_else(|e| panic!("cannot start the SFTP test server: {e}"))
}

fn config(server: &SshServer) -> SftpConfig {
    SftpConfig {
        host: "127.0.0.1".into(),
        port: server.port,
        user: server.user.clone(),
        auth: SftpAuth::Password(Secret::new(server.password.clone())),
        host_key: server.host_key.clone(),
        root: "/".into(),
        layout: Layout::Prisme {
            municipality: MUNICIPALITY.into(),
        },
        timeout: Duration::from_secs(10),
    }
}

fn transport(server: &SshServer) -> SftpTransport {
    SftpTransport::new(config(server)).unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn g_file() -> Vec<u8> {
    let mut bytes = b"0956;2024-01-31;K\xe6rs\xf8\xe5 \xc6\xd8\xc5;100,00\r\n".to_vec();
    bytes.extend_from_slice(b"0956;2024-01-31;bare LF line\n");
    bytes.extend_from_slice(b"last line without end\x00\xff");
    bytes
}

#[test]
fn uploads_arrive_byte_identical_with_password_and_key_logins() {
    let server = server();
    let g = g_file();
    let mut by_password = transport(&server);
    by_password
        .health()
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    let name = "sermersooq/test/G/522-24-001-G.txt";
    by_password.put_temp(name, &g).unwrap();
    by_password.make_final(name).unwrap();
    assert_eq!(fs::read(server.root().join(name)).unwrap(), g);

    let mut cfg = config(&server);
    cfg.auth = SftpAuth::KeyFile {
        path: server.client_key.clone(),
        passphrase: None,
    };
    let mut by_key = SftpTransport::new(cfg).unwrap();
    let name = "sermersooq/prod/Q/522-24-001-Q.txt";
    by_key.put_temp(name, b"Q;\xe6\r\n").unwrap();
    by_key.make_final(name).unwrap();
    assert_eq!(fs::read(server.root().join(name)).unwrap(), b"Q;\xe6\r\n");

    let mut cfg = config(&server);
    cfg.auth = SftpAuth::KeyFile {
        path: server.client_key_encrypted.clone(),
        passphrase: Some(Secret::new(server.client_key_passphrase.clone())),
    };
    let mut by_encrypted_key = SftpTransport::new(cfg).unwrap();
    let name = "sermersooq/prod/G/586-19-325-G.txt";
    by_encrypted_key.put_temp(name, &g).unwrap();
    by_encrypted_key.make_final(name).unwrap();
    assert_eq!(fs::read(server.root().join(name)).unwrap(), g);

    let root = server.root().join(MUNICIPALITY);
    assert_eq!(listing(&root.join("test/G")), ["522-24-001-G.txt"]);
    assert_eq!(listing(&root.join("prod/Q")), ["522-24-001-Q.txt"]);
    assert_eq!(listing(&root.join("prod/G")), ["586-19-325-G.txt"]);
    assert!(listing(&root.join("test/Q")).is_empty());

    // A wrong passphrase is refused when the transport is made.
    let mut cfg = config(&server);
    cfg.auth = SftpAuth::KeyFile {
        path: server.client_key_encrypted.clone(),
        passphrase: Some(Secret::new("wrong")),
    };
    let e = SftpTransport::new(cfg).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
}

#[test]
fn twenty_uploads_in_one_session() {
    let server = server();
    let mut t = transport(&server);
    let started = Instant::now();
    for i in 0..20 {
        let name = format!("sermersooq/test/G/522-24-{i:03}-G.txt");
        t.put_temp(&name, format!("file {i}\r\n").as_bytes())
            .unwrap();
        t.make_final(&name).unwrap();
    }
    eprintln!("20 SFTP uploads in one session: {:?}", started.elapsed());
    let names = listing(&server.root().join("sermersooq/test/G"));
    assert_eq!(names.len(), 20, "{names:?}");
    let logs = server.logs();
    assert_eq!(logs.matches("Accepted password").count(), 1, "{logs}");
}

#[test]
fn a_wrong_password_is_refused_clearly() {
    let server = server();
    let mut cfg = config(&server);
    cfg.auth = SftpAuth::Password(Secret::new("not-the-password-4711"));
    let mut t = SftpTransport::new(cfg).unwrap();
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
}

#[test]
fn a_wrong_host_key_is_refused_with_the_fingerprint_seen() {
    let server = server();
    let mut cfg = config(&server);
    cfg.host_key = server.other_host_key().unwrap();
    let mut t = SftpTransport::new(cfg).unwrap();
    let e = t
        .put_temp("sermersooq/test/G/1-24-1-G.txt", b"x")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(
        e.message.contains(&server.host_key_fingerprint),
        "{} (expected {})",
        e.message,
        server.host_key_fingerprint
    );
    assert!(listing(&server.root().join("sermersooq/test/G")).is_empty());
}

#[test]
fn wrong_municipality_or_missing_folder_is_refused_before_sending() {
    let server = server();
    let mut t = transport(&server);
    let e = t.put_temp("qeqqata/test/G/1-24-1-G.txt", b"x").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(
        e.message.contains("qeqqata") && e.message.contains("sermersooq"),
        "{}",
        e.message
    );
    fs::remove_dir(server.root().join("sermersooq/test/Q")).unwrap();
    let e = t
        .put_temp("sermersooq/test/Q/1-24-1-Q.txt", b"x")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(e.message.contains("does not exist"), "{}", e.message);
    assert!(!server.root().join("sermersooq/test/Q").exists());
    t.put_temp("sermersooq/test/G/1-24-1-G.txt", b"x").unwrap();
}

#[test]
fn temp_then_final_and_a_final_file_is_never_replaced() {
    let server = server();
    let mut t = transport(&server);
    let name = "sermersooq/test/G/522-24-001-G.txt";
    let folder = server.root().join("sermersooq/test/G");
    t.put_temp(name, b"partial, and longer than the whole")
        .unwrap();
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
    assert_eq!(listing(&folder), ["522-24-001-G.txt"]);
}

#[test]
fn a_group_goes_up_at_once_and_its_renames_stop_at_a_strangers_file_in_order() {
    let server = server();
    let mut t = transport(&server);
    let folder = server.root().join("sermersooq/test/G");
    let names: Vec<String> = (1..=4)
        .map(|n| format!("sermersooq/test/G/522-24-00{n}-G.txt"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let bodies: Vec<Vec<u8>> = (1..=4)
        .map(|n| format!("file {n}\r\n").into_bytes())
        .collect();
    // Someone else's file under the third name, and a name outside the layout.
    fs::write(folder.join("522-24-003-G.txt"), b"theirs").unwrap();
    let mut files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (*n, b.as_slice()))
        .collect();
    files.push(("nuuk/test/G/522-24-009-G.txt", b"elsewhere"));
    let up = t.put_temps(&files);
    assert_eq!(up.len(), 5);
    assert!(up[..4].iter().all(Result::is_ok), "{up:?}");
    assert_eq!(up[4].as_ref().unwrap_err().kind, ErrorKind::Permanent);
    assert_eq!(
        listing(&folder),
        [
            ".522-24-001-G.txt.hub-part",
            ".522-24-002-G.txt.hub-part",
            ".522-24-003-G.txt.hub-part",
            ".522-24-004-G.txt.hub-part",
            "522-24-003-G.txt"
        ]
    );
    let finals = t.make_finals(&names);
    assert_eq!(
        finals.len(),
        3,
        "stops at the first it cannot rename: {finals:?}"
    );
    assert!(finals[..2].iter().all(Result::is_ok), "{finals:?}");
    let e = finals[2].as_ref().unwrap_err();
    assert!(
        e.message.contains("never replaces a delivered file"),
        "{}",
        e.message
    );
    // The fourth stays under its temporary name: never ahead of the third.
    assert_eq!(
        listing(&folder),
        [
            ".522-24-003-G.txt.hub-part",
            ".522-24-004-G.txt.hub-part",
            "522-24-001-G.txt",
            "522-24-002-G.txt",
            "522-24-003-G.txt"
        ]
    );
    assert_eq!(
        fs::read(folder.join("522-24-003-G.txt")).unwrap(),
        b"theirs"
    );
    assert_eq!(
        fs::read(folder.join("522-24-002-G.txt")).unwrap(),
        b"file 2\r\n"
    );
    // The session is still good for the rest.
    assert_eq!(t.make_finals(&names[3..]).len(), 1);
    assert_eq!(
        fs::read(folder.join("522-24-004-G.txt")).unwrap(),
        b"file 4\r\n"
    );
}

#[test]
fn a_connection_dropped_mid_upload_is_retryable_and_a_later_try_completes() {
    let server = Arc::new(Mutex::new(server()));
    let folder = server.lock().unwrap().root().join("sermersooq/test/G");
    let mut t = transport(&server.lock().unwrap());
    let name = "sermersooq/test/G/522-24-002-G.txt";
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
    let big = vec![b'x'; 64 << 20];
    let e = t.put_temp(name, &big).unwrap_err();
    assert!(killer.join().unwrap(), "the upload never started");
    assert_eq!(e.kind, ErrorKind::Retryable, "{}", e.message);
    assert!(temp.exists(), "a partial temp file stays behind");
    let e = t.put_temp(name, b"small\r\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{}", e.message);

    server.lock().unwrap().start_again().unwrap();
    t.put_temp(name, b"small\r\n").unwrap();
    t.make_final(name).unwrap();
    assert_eq!(listing(&folder), ["522-24-002-G.txt"]);
    assert_eq!(
        fs::read(folder.join("522-24-002-G.txt")).unwrap(),
        b"small\r\n"
    );
}

/// A zip's first and last bytes around every byte value, NULs and line ends: binary or bust.
fn zip_like() -> Vec<u8> {
    let mut bytes = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    bytes.extend((0..=255u8).cycle().take(70_000));
    bytes.extend_from_slice(b"\r\n\n\x00PK\x05\x06\x00\x00");
    bytes
}

fn plain(server: &SshServer, root: &str) -> SftpTransport {
    let mut cfg = config(server);
    cfg.layout = Layout::Plain;
    cfg.root = root.into();
    SftpTransport::new(cfg).unwrap()
}

/// The chroot itself is root's; the one folder the test user may write in is the
/// municipality's, so the plain layout's root is that folder.
#[test]
fn plain_layout_delivers_at_the_top_and_in_new_sub_folders_never_replacing() {
    let server = server();
    let base = server.root().join(MUNICIPALITY);
    let mut t = plain(&server, &format!("/{MUNICIPALITY}"));
    t.health()
        .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    let zip = zip_like();

    let top = "RKI_1.01.0.02._1.01._00000001.zip";
    t.put_temp(top, &zip).unwrap();
    assert!(base.join(format!(".{top}.hub-part")).exists());
    let s = t.inspect(top).unwrap();
    assert_eq!((s.temp_present, s.final_present), (true, false));
    t.make_final(top).unwrap();
    assert_eq!(fs::read(base.join(top)).unwrap(), zip);

    // Missing folders below the root are created; an existing one is fine.
    let deep = "rki/2024/RKI_1.01.0.02._1.01._00000002.zip";
    t.put_temp(deep, &zip).unwrap();
    t.make_final(deep).unwrap();
    assert_eq!(fs::read(base.join(deep)).unwrap(), zip);
    let other = "rki/RKI_1.01.0.02._1.01._00000003_RECEIPT.xml";
    t.put_temp(other, b"<receipt/>\r\n").unwrap();
    t.make_final(other).unwrap();
    assert_eq!(
        listing(&base.join("rki")),
        ["2024", "RKI_1.01.0.02._1.01._00000003_RECEIPT.xml"]
    );
    assert_eq!(
        listing(&base.join("rki/2024")),
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
    assert_eq!(fs::read(base.join(top)).unwrap(), zip);
    t.remove_temp(top).unwrap();
    assert_eq!(listing(&base), [top, "prod", "rki", "test"]);

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
    assert_eq!(listing(&base), [top, "prod", "rki", "test"]);
    assert_eq!(listing(&server.root()), [MUNICIPALITY]);
}

#[test]
fn plain_layout_never_creates_its_root() {
    let server = server();
    let mut t = plain(&server, &format!("/{MUNICIPALITY}/missing"));
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
    assert!(!server.root().join(MUNICIPALITY).join("missing").exists());
}

/// What the pipeline does before calling a file found under the final name delivered: read
/// it back over the same connection and compare size and SHA-256 with what the hub wrote.
#[test]
fn a_file_under_the_final_name_is_read_back_as_size_and_sha256() {
    use sha2::{Digest as _, Sha256};
    let server = server();
    let mut t = transport(&server);
    let folder = server.root().join("sermersooq/test/G");
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

/// Streamed uploads (the store hands the bytes as a reader): a file of several chunks
/// read in odd pieces arrives byte-identical; a reader that ends before the announced
/// size is a retryable error and nothing gets the final name.
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
    assert_eq!(fs::read(server.root().join(name)).unwrap(), big);

    let short = "sermersooq/test/G/522-24-003-G.txt";
    let mut reader = Trickle {
        bytes: &big[..1000],
        step: 300,
    };
    let e = t.put_temp_from(short, &mut reader, 5000).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{e}");
    assert!(e.message.contains("5000 expected"), "{e}");
    assert!(!server.root().join(short).exists());
}
