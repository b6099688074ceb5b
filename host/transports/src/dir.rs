//! The `dir` transport: payloads into a local folder tree. The embedded default for demos
//! and tests, and a real option where a receiver reads a shared or synchronised folder.
//!
//! A payload is written as a hidden temporary file beside its final name, fsynced, then
//! hard-linked to the final name (which fails if that name exists, so a delivered file is
//! never replaced) and the temporary name removed; the folder is fsynced after each step.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::{Digest, DigestWriter, RemoteState, Transport, TransportError};

/// Files into a local folder.
#[derive(Debug, Clone)]
pub struct DirTransport {
    root: PathBuf,
}

impl DirTransport {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn final_path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `a/b/file.txt` → `a/b/.file.txt.hub-part`: same folder, so the link is atomic, and
    /// hidden, so receivers that skip dot files never read a half-written payload.
    fn temp_path(&self, name: &str) -> PathBuf {
        let path = self.final_path(name);
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!(".{file}.hub-part"))
    }
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> TransportError {
    let message = format!("{what} {}: {e}", path.display());
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::AlreadyExists => {
            TransportError::permanent(message)
        }
        _ => TransportError::retryable(message),
    }
}

fn sync_dir(dir: &Path) -> Result<(), TransportError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("cannot sync folder", dir, &e))
}

impl Transport for DirTransport {
    fn endpoint(&self) -> String {
        format!("dir:{}", self.root.display())
    }

    fn put_temp(&mut self, name: &str, mut bytes: &[u8]) -> Result<(), TransportError> {
        let size = bytes.len() as u64;
        self.put_temp_from(name, &mut bytes, size)
    }

    fn put_temp_from(
        &mut self,
        name: &str,
        bytes: &mut dyn std::io::Read,
        size: u64,
    ) -> Result<(), TransportError> {
        let temp = self.temp_path(name);
        let dir = temp.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| io_error("cannot create folder", &dir, &e))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| io_error("cannot create", &temp, &e))?;
        let written = std::io::copy(bytes, &mut file)
            .and_then(|n| file.sync_all().map(|()| n))
            .map_err(|e| io_error("cannot write", &temp, &e))?;
        if written != size {
            return Err(TransportError::retryable(format!(
                "{}: wrote {written} bytes, {size} were expected",
                temp.display()
            )));
        }
        sync_dir(&dir)
    }

    fn make_final(&mut self, name: &str) -> Result<(), TransportError> {
        let temp = self.temp_path(name);
        let path = self.final_path(name);
        match fs::hard_link(&temp, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(TransportError::permanent(format!(
                    "{} already exists; the hub never replaces a delivered file",
                    path.display()
                )));
            }
            // File systems without hard links: check, then rename.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                if path.exists() {
                    return Err(TransportError::permanent(format!(
                        "{} already exists; the hub never replaces a delivered file",
                        path.display()
                    )));
                }
                fs::rename(&temp, &path).map_err(|e| io_error("cannot rename", &temp, &e))?;
                return sync_dir(path.parent().unwrap_or(&self.root));
            }
            Err(e) => return Err(io_error("cannot link", &path, &e)),
        }
        fs::remove_file(&temp).map_err(|e| io_error("cannot remove", &temp, &e))?;
        sync_dir(path.parent().unwrap_or(&self.root))
    }

    fn remove_temp(&mut self, name: &str) -> Result<(), TransportError> {
        let temp = self.temp_path(name);
        match fs::remove_file(&temp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("cannot remove", &temp, &e)),
        }
    }

    fn inspect(&mut self, name: &str) -> Result<RemoteState, TransportError> {
        Ok(RemoteState {
            final_present: self.final_path(name).exists(),
            temp_present: self.temp_path(name).exists(),
        })
    }

    fn digest(&mut self, name: &str) -> Result<Option<Digest>, TransportError> {
        let path = self.final_path(name);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("cannot read", &path, &e)),
        };
        let mut out = DigestWriter::new();
        std::io::copy(&mut file, &mut out).map_err(|e| io_error("cannot read", &path, &e))?;
        Ok(Some(out.finish()))
    }

    fn health(&mut self) -> Result<(), TransportError> {
        fs::create_dir_all(&self.root)
            .map_err(|e| io_error("cannot create folder", &self.root, &e))?;
        let meta = fs::metadata(&self.root).map_err(|e| io_error("cannot read", &self.root, &e))?;
        if meta.permissions().readonly() {
            return Err(TransportError::permanent(format!(
                "{} is read-only",
                self.root.display()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_under_a_hidden_temp_name_then_links_without_replacing() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = DirTransport::new(dir.path().to_path_buf());
        t.health().unwrap();
        let name = "sermersooq/test/G/522-24-001-G.txt";
        t.put_temp(name, b"partial").unwrap();
        t.put_temp(name, b"whole\r\n").unwrap();
        let s = t.inspect(name).unwrap();
        assert_eq!((s.temp_present, s.final_present), (true, false));
        assert!(
            dir.path()
                .join("sermersooq/test/G/.522-24-001-G.txt.hub-part")
                .exists()
        );
        t.make_final(name).unwrap();
        let s = t.inspect(name).unwrap();
        assert_eq!((s.temp_present, s.final_present), (false, true));
        assert_eq!(fs::read(dir.path().join(name)).unwrap(), b"whole\r\n");
        let d = t.digest(name).unwrap().unwrap();
        assert_eq!(d.size, 7);
        assert_eq!(
            d.sha256,
            "f234aabe755cf11fc6e75086da3a1b1e0e3c3914f79da4c565e635f37196ace6"
        );
        assert_eq!(t.digest("sermersooq/test/G/none.txt").unwrap(), None);
        // A second file of the same name is refused, and the first stays as it was.
        t.put_temp(name, b"other").unwrap();
        let e = t.make_final(name).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Permanent);
        assert!(e.message.contains("never replaces a delivered file"), "{e}");
        assert_eq!(fs::read(dir.path().join(name)).unwrap(), b"whole\r\n");
        t.remove_temp(name).unwrap();
        t.remove_temp(name).unwrap();
        assert!(!t.inspect(name).unwrap().temp_present);
    }
}
