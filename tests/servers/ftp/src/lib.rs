//! A real proftpd for FTPS tests, started from a test on a free loopback port.
//!
//! * Explicit TLS (`AUTH TLS`), required on control and data connections; TLS 1.2 and 1.3
//!   offered; **TLS session reuse required** on data connections (mod_tls's default, as on
//!   production servers).
//! * One user from its own `AuthUserFile` (no system user): `ftp-winformatik-<municipality>`
//!   with a random password, files owned by uid/gid 65534, chrooted into its home
//!   (`DefaultRoot ~`), which holds the Prisme tree `/<municipality>/{prod,test}/{G,Q}/`.
//! * A throw-away CA and server certificate (`localhost`, `127.0.0.1`) from rcgen, written
//!   into the server's temporary folder with everything else (config, logs, pid file).
//! * proftpd runs in the foreground (`-n`) inside its own PID namespace
//!   (`unshare --pid --fork --kill-child`), so that killing the one child process we hold ends
//!   the master and every session process at once: [`FtpServer::kill`] drops connections in
//!   the middle of a transfer, [`FtpServer::start_again`] brings it back on the same port.
//!
//! Needs root (proftpd's chroot and the PID namespace) and the Debian packages
//! `proftpd-core` and `proftpd-mod-crypto`: run `tests/servers/install.sh`.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

const PROFTPD: &str = "/usr/sbin/proftpd";
const MOD_TLS: &str = "/usr/lib/proftpd/mod_tls.so";
/// Owner of the uploaded files (nobody:nogroup).
const FILE_OWNER: u32 = 65534;

const INSTALL_HINT: &str =
    "run tests/servers/install.sh (installs proftpd-core and proftpd-mod-crypto)";

/// A running proftpd; stopped (with every session process) on drop.
pub struct FtpServer {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The control port on 127.0.0.1.
    pub port: u16,
    pub municipality: String,
    pub user: String,
    pub password: String,
    /// PEM of the CA that issued the server certificate (for `ca_file`).
    pub ca_pem: PathBuf,
}

impl std::fmt::Debug for FtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpServer")
            .field("port", &self.port)
            .field("user", &self.user)
            .field("home", &self.home())
            .finish_non_exhaustive()
    }
}

impl FtpServer {
    /// Generates a configuration, a certificate and a user for `municipality` and starts
    /// proftpd; returns once its port accepts connections.
    pub fn start(municipality: &str) -> Result<FtpServer, String> {
        for (path, what) in [(PROFTPD, "proftpd"), (MOD_TLS, "proftpd's mod_tls")] {
            if !Path::new(path).exists() {
                return Err(format!(
                    "{what} is not installed ({path} is missing): {INSTALL_HINT}"
                ));
            }
        }
        let uid = run("id", &["-u"])?;
        if uid.trim() != "0" {
            return Err(format!(
                "the FTPS test server must run as root (chroot and a PID namespace), not uid {}",
                uid.trim()
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("hub-test-ftp-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
        let base = dir.path().to_path_buf();
        let home = base.join("home");
        for env in ["prod", "test"] {
            for kind in ["G", "Q"] {
                let d = home.join(municipality).join(env).join(kind);
                fs::create_dir_all(&d)
                    .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
            }
        }
        run(
            "chown",
            &[
                "-R",
                &format!("{FILE_OWNER}:{FILE_OWNER}"),
                &home.to_string_lossy(),
            ],
        )?;

        let ca_pem = base.join("ca.pem");
        write_certificates(&base, &ca_pem)?;

        let user = format!("ftp-winformatik-{municipality}");
        let password = random_password()?;
        let hash = openssl_hash(&password)?;
        write(
            &base.join("ftpd.passwd"),
            &format!(
                "{user}:{hash}:{FILE_OWNER}:{FILE_OWNER}::{}:/bin/false\n",
                home.display()
            ),
        )?;
        write(
            &base.join("ftpd.group"),
            &format!("nogroup:x:{FILE_OWNER}:\n"),
        )?;

        let port = free_port()?;
        write(&base.join("proftpd.conf"), &config(&base, port))?;
        let mut server = FtpServer {
            dir,
            child: None,
            port,
            municipality: municipality.to_string(),
            user,
            password,
            ca_pem,
        };
        server.start_again()?;
        Ok(server)
    }

    /// The user's home, which is `/` for the FTP client: files arrive under
    /// `home()/<municipality>/<prod|test>/<G|Q>/`.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The server's log files, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["proftpd.log", "tls.log", "stderr.log"] {
            let text = fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let _ = writeln!(out, "--- {name}\n{text}");
        }
        out
    }

    /// Kills proftpd and every session process at once (connections drop mid-transfer).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The process unshare forked is the PID namespace's init; when it dies, the
            // kernel kills every process in the namespace. (unshare's --kill-child alone is
            // not enough: the parent-death signal is cleared when a process changes its
            // user, as proftpd's master and sshd's sessions do.)
            let pid = child.id();
            let children =
                fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            let mut killed = false;
            for init in children.split_whitespace() {
                killed |= Command::new("kill")
                    .args(["-KILL", init])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
            }
            // unshare exits once its child (and so the whole namespace) is gone.
            if !killed {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Starts proftpd again with the same configuration and port (after [`Self::kill`]).
    pub fn start_again(&mut self) -> Result<(), String> {
        self.kill();
        let base = self.dir.path();
        let stderr = fs::File::create(base.join("stderr.log"))
            .map_err(|e| format!("cannot create stderr.log: {e}"))?;
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--kill-child", PROFTPD, "-n", "-c"])
            .arg(base.join("proftpd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start proftpd through unshare: {e}"))?;
        self.child = Some(child);
        let port = self.port;
        let ready = wait_for_port(port, self.child.as_mut());
        if let Err(e) = ready {
            let logs = self.logs();
            self.kill();
            return Err(format!("proftpd did not start: {e}\n{logs}"));
        }
        Ok(())
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(base: &Path, port: u16) -> String {
    let b = base.display();
    format!(
        r#"# Generated by hub-test-ftp-server; one test's server.
ServerType standalone
ServerName "hub test FTPS"
ServerIdent on "hub test FTPS ready"
DefaultServer on
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
Port {port}
User nobody
Group nogroup
Umask 022
PidFile {b}/proftpd.pid
ScoreboardFile {b}/proftpd.scoreboard
DelayTable none
WtmpLog off
UseReverseDNS off
UseFtpUsers off
SystemLog {b}/proftpd.log
TransferLog {b}/xfer.log
MaxInstances 30
TimeoutIdle 60
AuthOrder mod_auth_file.c
AuthUserFile {b}/ftpd.passwd
AuthGroupFile {b}/ftpd.group
RequireValidShell off
DefaultRoot ~
AllowOverwrite on
MasqueradeAddress 127.0.0.1

ModulePath /usr/lib/proftpd
LoadModule mod_tls.c
TLSEngine on
TLSLog {b}/tls.log
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile {b}/server.pem
TLSECCertificateKeyFile {b}/server-key.pem
TLSCertificateChainFile {b}/ca.pem
TLSVerifyClient off
# No "TLSOptions NoSessionReuseRequired": data connections must reuse the control
# connection's TLS session, as on production servers.
"#
    )
}

/// Writes a file readable by its owner only (proftpd refuses world-readable user files).
fn write(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `openssl passwd -6` (SHA-512 crypt), which proftpd's AuthUserFile reads through crypt(3).
fn openssl_hash(password: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{password}\n").as_bytes())
            .map_err(|e| format!("cannot write to openssl: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("openssl passwd failed: {e}"))?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !hash.starts_with("$6$") {
        return Err(format!(
            "openssl passwd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(hash)
}

/// A password of 24 random letters and digits (from /dev/urandom).
fn random_password() -> Result<String, String> {
    let bytes = read_urandom(24)?;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

fn read_urandom(n: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(buf)
}

/// A CA and a server certificate for `localhost` and `127.0.0.1` (ECDSA P-256).
fn write_certificates(base: &Path, ca_pem: &Path) -> Result<(), String> {
    let err = |e: rcgen::Error| format!("cannot generate the test certificate: {e}");
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name = dn("hub test CA (FTPS)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    write(ca_pem, &ca_cert.pem())?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(err)?;
    params.distinguished_name = dn("localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    write(&base.join("server.pem"), &cert.pem())?;
    write(&base.join("server-key.pem"), &key.serialize_pem())?;
    Ok(())
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "hub tests");
    dn
}

/// A port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Polls the port until it accepts a connection (at most 10 s), failing early when the
/// process exits.
fn wait_for_port(port: u16, mut child: Option<&mut Child>) -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(child) = child.as_deref_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(format!("the server exited ({status})"));
        }
        if Instant::now() > deadline {
            return Err(format!("port {port} did not open within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
