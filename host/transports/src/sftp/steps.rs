//! The remote steps of the `sftp` transport, each one SFTP request or a few, and how
//! their errors are judged (retryable, permanent, and whether the session survives).

use std::time::Duration;

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{OpenFlags, StatusCode};
use tokio::io::AsyncWriteExt;

use super::Conn;
use crate::TransportError;
use crate::ftps::join;
use crate::layout::{Layout, RemoteName};

/// An error and whether the session is still usable after it.
pub(super) struct Failure {
    pub(super) error: TransportError,
    pub(super) keep_connection: bool,
}

impl Failure {
    pub(super) fn permanent(message: String) -> Failure {
        Failure {
            error: TransportError::permanent(message),
            keep_connection: true,
        }
    }
}

impl From<TransportError> for Failure {
    fn from(error: TransportError) -> Self {
        let keep_connection = error.kind == crate::ErrorKind::Permanent;
        Failure {
            error,
            keep_connection,
        }
    }
}

pub(super) async fn within<T>(
    endpoint: &str,
    what: &str,
    timeout: Duration,
    f: impl Future<Output = T>,
) -> Result<T, TransportError> {
    tokio::time::timeout(timeout, f).await.map_err(|_| {
        TransportError::retryable(format!("{endpoint}: {what}: no answer within {timeout:?}"))
    })
}

pub(super) fn ssh_error(endpoint: &str, what: &str, e: &russh::Error) -> TransportError {
    use russh::Error as E;
    let message = format!("{endpoint}: {what}: {e}");
    match e {
        E::IO(_)
        | E::Disconnect
        | E::HUP
        | E::ConnectionTimeout
        | E::KeepaliveTimeout
        | E::InactivityTimeout
        | E::SendError
        | E::Pending
        | E::Elapsed(_)
        | E::ChannelOpenFailure(_) => TransportError::retryable(message),
        _ => TransportError::permanent(message),
    }
}

pub(super) fn sftp_error(endpoint: &str, what: &str, e: &SftpError) -> Failure {
    let message = format!("{endpoint}: {what}: {e}");
    match e {
        SftpError::Status(s) => match s.status_code {
            StatusCode::NoConnection | StatusCode::ConnectionLost => Failure {
                error: TransportError::retryable(message),
                keep_connection: false,
            },
            _ => Failure::permanent(message),
        },
        SftpError::Limited(_) => Failure::permanent(message),
        _ => Failure {
            error: TransportError::retryable(message),
            keep_connection: false,
        },
    }
}

pub(super) fn is_no_such_file(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

pub(super) async fn exists(
    conn: &Conn,
    endpoint: &str,
    timeout: Duration,
    path: &str,
) -> Result<bool, Failure> {
    match within(endpoint, path, timeout, conn.sftp.metadata(path)).await? {
        Ok(_) => Ok(true),
        Err(e) if is_no_such_file(&e) => Ok(false),
        Err(e) => Err(sftp_error(endpoint, &format!("stat {path}"), &e)),
    }
}

/// The error for a final name another file holds already.
pub(super) fn taken(endpoint: &str, path: &str) -> Failure {
    Failure::permanent(format!(
        "{endpoint}: {path} already exists; the hub never replaces a delivered file"
    ))
}

/// Renames `temp` to `path`. SFTP v3 rename (OpenSSH: link, then unlink) fails when the
/// target exists; a file there after a failed rename is reported as taken.
pub(super) async fn rename(
    conn: &Conn,
    endpoint: &str,
    timeout: Duration,
    temp: &str,
    path: &str,
) -> Result<(), Failure> {
    match within(endpoint, temp, timeout, conn.sftp.rename(temp, path)).await? {
        Ok(()) => Ok(()),
        Err(e) => {
            let failure = sftp_error(endpoint, &format!("rename {temp} to {path}"), &e);
            if failure.keep_connection && exists(conn, endpoint, timeout, path).await? {
                return Err(taken(endpoint, path));
            }
            Err(failure)
        }
    }
}

/// Makes sure the folder `rel` (relative to the root) exists and returns its absolute path.
/// Prisme's tree is never created: a missing folder is refused. In the plain layout missing
/// folders below the root are made one level at a time; one that exists already (or appears
/// meanwhile, made by another sender) is fine. The root itself is never created.
pub(super) async fn ensure_folder(
    conn: &mut Conn,
    endpoint: &str,
    timeout: Duration,
    layout: &Layout,
    rel: &str,
) -> Result<String, Failure> {
    let folder = join(&conn.base, rel);
    if conn.folders.contains(&folder) {
        return Ok(folder);
    }
    match within(
        endpoint,
        &folder,
        timeout,
        conn.sftp.metadata(folder.as_str()),
    )
    .await?
    {
        Ok(m) if m.is_dir() => {
            conn.folders.insert(folder.clone());
            return Ok(folder);
        }
        Ok(_) => {
            return Err(Failure::permanent(format!(
                "{endpoint}: {folder} on the server is not a folder"
            )));
        }
        Err(e) if is_no_such_file(&e) && (!layout.creates_folders() || rel.is_empty()) => {
            return Err(Failure::permanent(format!(
                "{endpoint}: the folder {folder} does not exist on the server; {}",
                layout.missing_folder_hint()
            )));
        }
        Err(e) if is_no_such_file(&e) => {}
        Err(e) => return Err(sftp_error(endpoint, &format!("stat {folder}"), &e)),
    }
    let mut path = conn.base.clone();
    for segment in rel.split('/') {
        path = join(&path, segment);
        if conn.folders.contains(&path) {
            continue;
        }
        let made = within(
            endpoint,
            &path,
            timeout,
            conn.sftp.create_dir(path.as_str()),
        )
        .await?;
        if let Err(e) = made {
            // The folder exists already (or a refusal): fine if it is a folder now.
            let failure = sftp_error(endpoint, &format!("mkdir {path}"), &e);
            if !failure.keep_connection {
                return Err(failure);
            }
            match within(endpoint, &path, timeout, conn.sftp.metadata(path.as_str())).await? {
                Ok(m) if m.is_dir() => {}
                _ => return Err(failure),
            }
        }
        conn.folders.insert(path.clone());
    }
    Ok(folder)
}

/// Bytes read from the store and written per step of a streamed upload.
pub(super) const CHUNK: usize = 256 * 1024;

/// Writes `size` bytes from `bytes` to `temp`, a chunk at a time, then reads its size back.
pub(super) async fn upload(
    conn: &Conn,
    endpoint: &str,
    timeout: Duration,
    temp: &str,
    bytes: &mut dyn std::io::Read,
    size: u64,
) -> Result<(), Failure> {
    let flags = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE;
    let mut file = within(
        endpoint,
        temp,
        timeout,
        conn.sftp.open_with_flags(temp, flags),
    )
    .await?
    .map_err(|e| sftp_error(endpoint, &format!("create {temp}"), &e))?;
    let io = |what: &str, e: std::io::Error| Failure {
        error: TransportError::retryable(format!("{endpoint}: {what} {temp}: {e}")),
        keep_connection: false,
    };
    // Each SFTP request has its own time limit (set_timeout); a whole file may take
    // longer than one step's limit.
    let mut chunk = vec![0u8; CHUNK.min(usize::try_from(size).unwrap_or(CHUNK)).max(1)];
    let mut sent = 0u64;
    loop {
        let n = bytes.read(&mut chunk).map_err(|e| Failure {
            error: TransportError::retryable(format!(
                "{endpoint}: cannot read what to send for {temp}: {e}"
            )),
            keep_connection: true,
        })?;
        if n == 0 {
            break;
        }
        file.write_all(&chunk[..n])
            .await
            .map_err(|e| io("write", e))?;
        sent += n as u64;
    }
    // flush: every write acknowledged (and fsync@openssh.com where offered).
    file.flush().await.map_err(|e| io("flush", e))?;
    file.shutdown().await.map_err(|e| io("close", e))?;
    if sent != size {
        return Err(Failure::from(TransportError::retryable(format!(
            "{endpoint}: {temp}: {sent} bytes to send, {size} expected"
        ))));
    }
    // Which check this is for: each write was acknowledged, but a server may still
    // hold less than it acknowledged (a full disk noticed at close); the size read
    // back is what the file will hold under its final name.
    let held = within(endpoint, temp, timeout, conn.sftp.metadata(temp))
        .await?
        .map_err(|e| sftp_error(endpoint, &format!("stat {temp}"), &e))?
        .size;
    match held {
        Some(n) if n != size => Err(Failure::from(TransportError::retryable(format!(
            "{endpoint}: {temp} holds {n} bytes on the server, {size} were sent"
        )))),
        _ => Ok(()),
    }
}

pub(super) fn paths(conn: &Conn, p: &RemoteName) -> (String, String, String) {
    let folder = join(&conn.base, &p.folder);
    let temp = join(&folder, &p.temp_file());
    let path = join(&folder, &p.file);
    (folder, temp, path)
}
