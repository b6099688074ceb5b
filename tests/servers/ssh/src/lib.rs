//! A real OpenSSH sshd for SFTP tests, started from a test on a free loopback port.
//!
//! * SFTP only (`ForceCommand internal-sftp`), password and public-key login, for one
//!   system user, `hubtest`, created with `useradd --system` when missing (no home, shell
//!   `/usr/sbin/nologin`, password set to a random value once per test process: sshd with
//!   `UsePAM no` checks passwords against /etc/shadow, so it must be a real account).
//! * The user is confined with `ChrootDirectory /srv`. sshd refuses a chroot path with any
//!   component writable by others, so a folder under /tmp cannot be used directly (and sshd
//!   then drops the session without a clear message): sshd runs in a private mount namespace
//!   (`unshare --mount --propagation private`) in which the server's own root-owned folder is
//!   bind-mounted over `/srv`; nothing changes outside that namespace. Inside the chroot, the
//!   Prisme tree `/<municipality>/{prod,test}/{G,Q}/` belongs to `hubtest`.
//! * A fresh ed25519 host key and client key (ssh-keygen), config, logs: all in the server's
//!   temporary folder.
//! * sshd runs in the foreground (`-D -e`) inside its own PID namespace
//!   (`unshare --pid --fork --kill-child`), so that killing the one child process we hold ends
//!   the listener and every session process at once: [`SshServer::kill`] drops connections
//!   mid-transfer, [`SshServer::start_again`] brings it back on the same port and host key.
//!
//! Needs root and the Debian package `openssh-server`: run `tests/servers/install.sh`.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";
/// The system user the tests log in as.
pub const USER: &str = "hubtest";
/// The mount point the chroot folder is bound to, in sshd's private mount namespace.
const CHROOT: &str = "/srv";

const INSTALL_HINT: &str = "run tests/servers/install.sh (installs openssh-server)";

/// A running sshd; stopped (with every session process) on drop.
pub struct SshServer {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The port on 127.0.0.1.
    pub port: u16,
    pub municipality: String,
    pub user: String,
    pub password: String,
    /// The server's public host key, OpenSSH format without comment ("ssh-ed25519 AAAA…").
    pub host_key: String,
    /// The server's host key fingerprint as ssh-keygen shows it ("SHA256:…").
    pub host_key_fingerprint: String,
    /// A private key (OpenSSH format, no passphrase) the server accepts for [`USER`].
    pub client_key: PathBuf,
    /// The same key with the passphrase [`SshServer::client_key_passphrase`].
    pub client_key_encrypted: PathBuf,
    pub client_key_passphrase: String,
}

impl std::fmt::Debug for SshServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshServer")
            .field("port", &self.port)
            .field("user", &self.user)
            .field("root", &self.root())
            .finish_non_exhaustive()
    }
}

impl SshServer {
    /// Generates keys, a configuration and the folder tree for `municipality`, makes sure
    /// the user exists, and starts sshd; returns once its port accepts connections.
    pub fn start(municipality: &str) -> Result<SshServer, String> {
        if !Path::new(SSHD).exists() || !Path::new(SSH_KEYGEN).exists() {
            return Err(format!(
                "OpenSSH's sshd is not installed ({SSHD} or {SSH_KEYGEN} is missing): {INSTALL_HINT}"
            ));
        }
        let uid = run("id", &["-u"])?;
        if uid.trim() != "0" {
            return Err(format!(
                "the SFTP test server must run as root (sshd, chroot, namespaces), not uid {}",
                uid.trim()
            ));
        }
        if !Path::new(CHROOT).is_dir() {
            return Err(format!(
                "{CHROOT} is missing: it is the mount point of the test chroot"
            ));
        }
        let password = ensure_user()?.to_string();
        // sshd needs its privilege-separation folder.
        fs::create_dir_all("/run/sshd").map_err(|e| format!("cannot create /run/sshd: {e}"))?;

        let dir = tempfile::Builder::new()
            .prefix("hub-test-ssh-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
        let base = dir.path().to_path_buf();
        // sshd reads authorized_keys as the user: the folder must be traversable.
        chmod(&base, "755")?;
        let root = base.join("root");
        for env in ["prod", "test"] {
            for kind in ["G", "Q"] {
                let d = root.join(municipality).join(env).join(kind);
                fs::create_dir_all(&d)
                    .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
            }
        }
        // The chroot itself: root's, not writable by others; the tree below: the user's.
        chmod(&root, "755")?;
        run(
            "chown",
            &[
                "-R",
                &format!("{USER}:{USER}"),
                &root.join(municipality).to_string_lossy(),
            ],
        )?;

        let host_key = base.join("ssh_host_ed25519_key");
        keygen(&host_key, "")?;
        let client_key = base.join("client_ed25519");
        keygen(&client_key, "")?;
        let client_key_encrypted = base.join("client_ed25519_encrypted");
        let client_key_passphrase = "test passphrase".to_string();
        keygen(&client_key_encrypted, &client_key_passphrase)?;
        let mut authorized = String::new();
        for key in [&client_key, &client_key_encrypted] {
            authorized.push_str(&read(&pub_path(key))?);
        }
        write(&base.join("authorized_keys"), &authorized)?;
        chmod(&base.join("authorized_keys"), "644")?;

        let host_pub = read(&pub_path(&host_key))?;
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let fingerprint = run(
            SSH_KEYGEN,
            &[
                "-l",
                "-E",
                "sha256",
                "-f",
                &pub_path(&host_key).to_string_lossy(),
            ],
        )?;
        let fingerprint = fingerprint
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| format!("unexpected ssh-keygen -l output: {fingerprint}"))?
            .to_string();

        let port = free_port()?;
        write(&base.join("sshd_config"), &config(&base, port))?;
        let mut server = SshServer {
            dir,
            child: None,
            port,
            municipality: municipality.to_string(),
            user: USER.to_string(),
            password,
            host_key: host_pub.join(" "),
            host_key_fingerprint: fingerprint,
            client_key,
            client_key_encrypted,
            client_key_passphrase,
        };
        server.start_again()?;
        Ok(server)
    }

    /// The chroot, which is `/` for the SFTP client: files arrive under
    /// `root()/<municipality>/<prod|test>/<G|Q>/`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A new ed25519 public key (OpenSSH format) that is not the server's.
    pub fn other_host_key(&self) -> Result<String, String> {
        let path = self.dir.path().join("other_host_key");
        let _ = fs::remove_file(&path);
        let _ = fs::remove_file(pub_path(&path));
        keygen(&path, "")?;
        let text = read(&pub_path(&path))?;
        Ok(text
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// sshd's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let text = fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default();
        let _ = writeln!(out, "--- sshd.log\n{text}");
        out
    }

    /// Kills sshd and every session process at once (connections drop mid-transfer).
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

    /// Starts sshd again with the same configuration, port and host key.
    pub fn start_again(&mut self) -> Result<(), String> {
        self.kill();
        let base = self.dir.path();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(base.join("sshd.log"))
            .map_err(|e| format!("cannot create sshd.log: {e}"))?;
        let script = format!(
            "mount --bind '{root}' {CHROOT} && exec {SSHD} -D -e -f '{config}'",
            root = base.join("root").display(),
            config = base.join("sshd_config").display(),
        );
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--kill-child",
                "sh",
                "-c",
                &script,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start sshd through unshare: {e}"))?;
        self.child = Some(child);
        if let Err(e) = wait_for_port(self.port, self.child.as_mut()) {
            let logs = self.logs();
            self.kill();
            return Err(format!("sshd did not start: {e}\n{logs}"));
        }
        Ok(())
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(base: &Path, port: u16) -> String {
    let b = base.display();
    format!(
        r#"# Generated by hub-test-ssh-server; one test's server.
Port {port}
ListenAddress 127.0.0.1
AddressFamily inet
HostKey {b}/ssh_host_ed25519_key
PidFile none
UsePAM no
StrictModes no
PermitRootLogin no
AllowUsers {USER}
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile {b}/authorized_keys
MaxAuthTries 6
MaxStartups 50
LogLevel VERBOSE
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
Subsystem sftp internal-sftp
ForceCommand internal-sftp
ChrootDirectory {CHROOT}
"#
    )
}

/// Creates the system user when missing, and sets its password to a random value once per
/// process (all servers of one test process share it).
fn ensure_user() -> Result<&'static str, String> {
    static PASSWORD: OnceLock<Result<String, String>> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    PASSWORD
        .get_or_init(|| {
            if run("id", &["-u", USER]).is_err() {
                run(
                    "useradd",
                    &[
                        "--system",
                        "--no-create-home",
                        "--home-dir",
                        "/nonexistent",
                        "--shell",
                        "/usr/sbin/nologin",
                        "--user-group",
                        USER,
                    ],
                )?;
            }
            let password = random_password()?;
            run_with_stdin("chpasswd", &[], &format!("{USER}:{password}\n"))?;
            Ok(password)
        })
        .as_deref()
        .map_err(Clone::clone)
}

fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn keygen(path: &Path, passphrase: &str) -> Result<(), String> {
    run(
        SSH_KEYGEN,
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "hub test",
            "-f",
            &path.to_string_lossy(),
        ],
    )
    .map(|_| ())
}

fn chmod(path: &Path, mode: &str) -> Result<(), String> {
    run("chmod", &[mode, &path.to_string_lossy()]).map(|_| ())
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    run_with_stdin(program, args, "")
}

fn run_with_stdin(program: &str, args: &[&str], input: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("cannot write to {program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program} failed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A password of 24 random letters and digits (from /dev/urandom).
fn random_password() -> Result<String, String> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

/// A port that was free a moment ago (bound to port 0, then released).
fn free_port() -> Result<u16, String> {
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
