//! Section 6 of the pipeline bench: the FTPS and SFTP transports alone (no store, no
//! engine) against the test servers; `cargo bench -p hub --bench uploads` runs `hub send`
//! side by side with `lftp` and `sftp`.

use std::time::{Duration, Instant};

use super::per_sec;

/// Uploads `count` files of `size` bytes (temp name, then final name) and returns the time.
fn upload(
    t: &mut dyn hub_transports::Transport,
    prefix: &str,
    count: usize,
    size: usize,
) -> Duration {
    let body: Vec<u8> = (0..size).map(|i| b"0123456789&G69\r\n"[i % 16]).collect();
    let start = Instant::now();
    for i in 0..count {
        let name = format!("sermersooq/test/G/{prefix}-{i:05}-G.txt");
        t.put_temp(&name, &body).unwrap();
        t.make_final(&name).unwrap();
    }
    start.elapsed()
}

fn report_upload(what: &str, count: usize, size: usize, took: Duration) {
    println!(
        "{what:<34} {:>8.0} files/s {:>8.1} MB/s  ({:.2} s)",
        per_sec(count, took),
        (count * size) as f64 / 1e6 / took.as_secs_f64(),
        took.as_secs_f64()
    );
}

/// FTPS and SFTP on loopback against the test servers.
pub(crate) fn files() {
    use hub_transports::ftps::{FtpsConfig, FtpsTransport};
    use hub_transports::http::Secret;
    use hub_transports::layout::Layout;
    use hub_transports::sftp::{SftpAuth, SftpConfig, SftpTransport};
    let ftp = match hub_test_ftp_server::FtpServer::start("sermersooq") {
        Ok(s) => s,
        Err(e) => {
            println!("ftps/sftp: skipped ({e})");
            return;
        }
    };
    let mut t = FtpsTransport::new(FtpsConfig {
        host: "localhost".into(),
        port: ftp.port,
        user: ftp.user.clone(),
        password: Secret::new(ftp.password.clone()),
        ca_file: Some(ftp.ca_pem.clone()),
        root: "/".into(),
        layout: Layout::Prisme {
            municipality: "sermersooq".into(),
        },
        timeout: Duration::from_secs(60),
    })
    .unwrap();
    report_upload(
        "ftps: 1,000 files of 2 KB",
        1000,
        2048,
        upload(&mut t, "small", 1000, 2048),
    );
    report_upload(
        "ftps: one file of 50 MB",
        1,
        50 << 20,
        upload(&mut t, "big", 1, 50 << 20),
    );
    drop(t);
    drop(ftp);
    let ssh = match hub_test_ssh_server::SshServer::start("sermersooq") {
        Ok(s) => s,
        Err(e) => {
            println!("sftp: skipped ({e})");
            return;
        }
    };
    let mut t = SftpTransport::new(SftpConfig {
        host: "127.0.0.1".into(),
        port: ssh.port,
        user: ssh.user.clone(),
        auth: SftpAuth::Password(Secret::new(ssh.password.clone())),
        host_key: ssh.host_key.clone(),
        root: "/".into(),
        layout: Layout::Prisme {
            municipality: "sermersooq".into(),
        },
        timeout: Duration::from_secs(60),
    })
    .unwrap();
    report_upload(
        "sftp: 1,000 files of 2 KB",
        1000,
        2048,
        upload(&mut t, "small", 1000, 2048),
    );
    report_upload(
        "sftp: one file of 50 MB",
        1,
        50 << 20,
        upload(&mut t, "big", 1, 50 << 20),
    );
}
