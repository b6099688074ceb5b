//! The inbox folder: which files are waiting, reading one within the size limit, and
//! setting a refused one aside in `refused/` beside a note saying why.

use std::path::{Path, PathBuf};

use hub_core::config::InboundConfig;
use hub_plugin_sdk::text::excerpt_max;
use hub_store::inbound::{Bytes, FileAt};
use sha2::{Digest, Sha256};

/// At most this many characters of a reason are kept, shown or written anywhere.
pub const REASON_CHARS: usize = 600;

/// A reason made short and safe (control characters escaped) for the terminal, the log,
/// the store and the `.reason.txt`.
pub fn short(reason: &str) -> String {
    excerpt_max(reason, REASON_CHARS)
}

/// One archive as it arrived (or as it was held), in its file: read by position
/// wherever it is needed (hashing, unpacking, storing), never whole into memory.
pub struct Arriving {
    pub file_name: String,
    pub sha256: String,
    file: std::fs::File,
    size: u64,
}

impl Arriving {
    /// Takes an open file as it is now (its length and hash).
    pub fn from_file(file_name: String, file: std::fs::File) -> std::io::Result<Self> {
        let size = file.metadata()?.len();
        let mut hasher = Sha256::new();
        std::io::copy(&mut FileAt::new(&file, size), &mut hasher)?;
        Ok(Arriving {
            file_name,
            sha256: hex::encode(hasher.finalize()),
            file,
            size,
        })
    }

    /// The bytes, for the store and for reading (each reader starts at the beginning).
    pub fn bytes(&self) -> Bytes<'_> {
        Bytes::File(&self.file, self.size)
    }
}

/// The files waiting in the inbox: plain files, not hidden (a sender's half-written
/// temporary file is hidden), sorted so each pair's numbers come in order.
pub fn inbox_files(inbox: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(inbox) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        if !hidden && e.file_type()?.is_file() {
            files.push(e.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Opens a file within the archive size limit and hashes it (as a stream).
pub fn read_file(cfg: &InboundConfig, path: &Path, file_name: &str) -> Result<Arriving, String> {
    let limit = cfg.limits.max_archive_mb.saturating_mul(1 << 20);
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?
        .len();
    if size > limit {
        return Err(format!(
            "{size} bytes, more than the limit of {} MiB",
            cfg.limits.max_archive_mb
        ));
    }
    Arriving::from_file(file_name.to_string(), file).map_err(|e| format!("cannot read it: {e}"))
}

/// The folder refused files go to, `refused/` in the inbox. Whatever stands in its place
/// (a regular file or a symbolic link named `refused`, which would stop every refusal or
/// lead refused files out of the inbox) is moved into the folder, unread, beside a note.
fn refused_dir(inbox: &Path) -> std::io::Result<PathBuf> {
    let aside = inbox.join("refused");
    match std::fs::symlink_metadata(&aside) {
        Ok(m) if m.is_dir() => Ok(aside),
        Ok(_) => {
            let moving = inbox.join(format!(".refused-in-the-way.{}", std::process::id()));
            std::fs::rename(&aside, &moving)?;
            std::fs::create_dir(&aside)?;
            let target = free_name(&aside, "refused");
            std::fs::rename(&moving, &target)?;
            write_reason(
                &target,
                "a file named `refused` stood where the folder for refused files goes; it was moved here, unread",
            )?;
            tracing::warn!(inbox = %inbox.display(), "a file named `refused` was in the way of the refused/ folder; moved into it");
            Ok(aside)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&aside)?;
            Ok(aside)
        }
        Err(e) => Err(e),
    }
}

/// `dir/name`, or `dir/name.1`, `dir/name.2`, … whichever is free.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let mut target = dir.join(name);
    let mut n = 1;
    while std::fs::symlink_metadata(&target).is_ok() {
        target = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    target
}

fn write_reason(target: &Path, reason: &str) -> std::io::Result<()> {
    std::fs::write(
        target.with_file_name(format!(
            "{}.reason.txt",
            target.file_name().unwrap_or_default().to_string_lossy()
        )),
        format!("{}\n", short(reason)),
    )
}

/// Moves a refused file to `refused/` in the inbox, beside a note saying why.
pub fn set_aside(path: &Path, reason: &str) -> std::io::Result<()> {
    let Some(inbox) = path.parent() else {
        return Ok(());
    };
    let aside = refused_dir(inbox)?;
    if path == aside {
        // The file was the one named `refused`: moving it out of the way set it aside.
        return Ok(());
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let target = free_name(&aside, &name);
    write_reason(&target, reason)?;
    std::fs::rename(path, &target)
}

/// Writes a held transport that was refused to `refused/` in the inbox (it had left the
/// inbox when it was held; its bytes were in the store), beside a note saying why.
pub fn set_aside_bytes(inbox: &Path, a: &Arriving, reason: &str) -> std::io::Result<PathBuf> {
    let aside = refused_dir(inbox)?;
    let name = Path::new(&a.file_name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "held-transport".into());
    let target = free_name(&aside, &name);
    write_reason(&target, reason)?;
    let mut out = std::fs::File::create(&target)?;
    std::io::copy(&mut a.bytes().reader(), &mut out)?;
    Ok(target)
}
