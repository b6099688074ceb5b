//! Reading an arriving archive without trusting it: entry names and counts are checked
//! before anything is unpacked, and each entry is unpacked as a stream whose bytes are
//! counted against the limit as they come (declared sizes can lie). Nothing is written to
//! disk and no entry is held whole, so a hostile archive can neither escape a folder, fill
//! one, nor fill the memory.

use std::io::{BufRead, BufReader, Read, Seek};

use hub_core::config::InboundLimits;
use hub_plugin_sdk::text::excerpt;

const MIB: u64 = 1 << 20;

/// A safe relative name: no absolute path, drive, backslash, `.`/`..`, empty or hidden
/// segment, and no control characters.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.starts_with('/') || name.contains('\\') || name.contains(':') {
        return Err(format!("entry `{}` has an unsafe name", excerpt(name)));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "entry `{}` has control characters in its name",
            excerpt(name)
        ));
    }
    for seg in name.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || seg.starts_with('.') {
            return Err(format!(
                "entry `{}` has an unsafe path segment `{}` (path traversal or hidden file)",
                excerpt(name),
                excerpt(seg)
            ));
        }
    }
    Ok(())
}

/// What an archive is read from: the arrived file (by position, see
/// `hub_store::inbound::FileAt`) or bytes in memory.
pub trait Source: Read + Seek + Send {}
impl<T: Read + Seek + Send> Source for T {}

enum Kind<'a> {
    Zip(Box<zip::ZipArchive<Box<dyn Source + 'a>>>),
    /// A single transport file (`.xml`) as it arrived.
    Single(Box<dyn Source + 'a>),
}

/// An archive opened and its entry names checked; entries are read one at a time.
pub struct Archive<'a> {
    source: Kind<'a>,
    /// The files in it (directories left out), in archive order, with their zip index.
    entries: Vec<(usize, String)>,
    budget: u64,
    used: u64,
    limit_mb: u64,
}

impl<'a> Archive<'a> {
    /// Opens a `.zip` (names, count, kinds checked) or takes a single `.xml` file.
    pub fn open(
        file_name: &str,
        bytes: impl Source + 'a,
        limits: &InboundLimits,
    ) -> Result<Self, String> {
        let bytes: Box<dyn Source + 'a> = Box::new(bytes);
        let budget = limits.max_unpacked_mb.saturating_mul(MIB);
        if file_name.ends_with(".xml") {
            return Ok(Archive {
                source: Kind::Single(bytes),
                entries: vec![(0, file_name.to_string())],
                budget,
                used: 0,
                limit_mb: limits.max_unpacked_mb,
            });
        }
        if !file_name.ends_with(".zip") {
            return Err("neither a transport archive (.zip) nor a transport file (.xml)".into());
        }
        let mut zip = zip::ZipArchive::new(bytes)
            .map_err(|e| format!("not a readable zip archive: {}", excerpt(&e.to_string())))?;
        if zip.len() > limits.max_entries {
            return Err(format!(
                "{} entries, more than the limit of {}",
                zip.len(),
                limits.max_entries
            ));
        }
        let mut entries: Vec<(usize, String)> = Vec::with_capacity(zip.len());
        let mut seen = std::collections::HashSet::new();
        for i in 0..zip.len() {
            let file = zip
                .by_index_raw(i)
                .map_err(|e| format!("entry {}: {}", i + 1, excerpt(&e.to_string())))?;
            let name = file
                .name()
                .map_err(|e| {
                    format!(
                        "entry {}: unreadable name: {}",
                        i + 1,
                        excerpt(&e.to_string())
                    )
                })?
                .into_owned();
            if file.is_dir() {
                check_name(name.trim_end_matches('/'))?;
                continue;
            }
            check_name(&name)?;
            if file.is_symlink() {
                return Err(format!("entry `{}` is a symbolic link", excerpt(&name)));
            }
            if file.encrypted() {
                return Err(format!("entry `{}` is encrypted", excerpt(&name)));
            }
            if !seen.insert(name.clone()) {
                return Err(format!("entry `{}` appears twice", excerpt(&name)));
            }
            entries.push((i, name));
        }
        Ok(Archive {
            source: Kind::Zip(Box::new(zip)),
            entries,
            budget,
            used: 0,
            limit_mb: limits.max_unpacked_mb,
        })
    }

    /// The entries' names, in archive order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, n)| n.as_str())
    }

    /// Streams entry `n` (its position in [`Archive::names`]) to `read`. The unpacked
    /// bytes count against the archive's limit, over every entry read; past it, reading
    /// fails with an error that says so.
    pub fn read<T, E: From<String>>(
        &mut self,
        n: usize,
        read: impl FnOnce(&mut dyn BufRead) -> Result<T, E>,
    ) -> Result<T, E> {
        let Some((index, name)) = self.entries.get(n).cloned() else {
            return Err(E::from(format!("no entry {n}")));
        };
        let left = self.budget.saturating_sub(self.used);
        let (out, used) = match &mut self.source {
            Kind::Single(bytes) => {
                bytes
                    .rewind()
                    .map_err(|e| E::from(format!("cannot read `{}`: {e}", excerpt(&name))))?;
                let mut r = Counted::new(bytes, left, &name, self.limit_mb);
                let out = read(&mut BufReader::with_capacity(64 << 10, &mut r));
                (out, r.read)
            }
            Kind::Zip(zip) => {
                let file = zip.by_index(index).map_err(|e| {
                    E::from(format!(
                        "entry `{}`: {}",
                        excerpt(&name),
                        excerpt(&e.to_string())
                    ))
                })?;
                let mut r = Counted::new(file, left, &name, self.limit_mb);
                let out = read(&mut BufReader::with_capacity(64 << 10, &mut r));
                (out, r.read)
            }
        };
        self.used += used;
        out
    }

    /// Reads entry `n` to its end without keeping it (a document: only its size counts).
    pub fn skip(&mut self, n: usize) -> Result<(), String> {
        self.read(n, |r| {
            std::io::copy(r, &mut std::io::sink())
                .map(|_| ())
                .map_err(|e| excerpt(&e.to_string()))
        })
    }
}

/// Counts an entry's unpacked bytes and fails past the archive's limit.
struct Counted<'n, R> {
    inner: R,
    read: u64,
    left: u64,
    name: &'n str,
    limit_mb: u64,
}

impl<'n, R> Counted<'n, R> {
    fn new(inner: R, left: u64, name: &'n str, limit_mb: u64) -> Self {
        Counted {
            inner,
            read: 0,
            left,
            name,
            limit_mb,
        }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read > self.left {
            return Err(std::io::Error::other(format!(
                "entry `{}`: the archive unpacks to more than the limit of {} MiB (a zip bomb?)",
                excerpt(self.name),
                self.limit_mb
            )));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn unzip(bytes: &[u8], limits: &InboundLimits) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut a = Archive::open("x.zip", std::io::Cursor::new(bytes), limits)?;
        let names: Vec<String> = a.names().map(str::to_string).collect();
        let mut out = Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            let data = a.read(i, |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).map_err(|e| e.to_string())?;
                Ok::<_, String>(v)
            })?;
            out.push((name, data));
        }
        Ok(out)
    }

    #[test]
    fn unpacks_and_refuses_by_name() {
        let ok = unzip(
            &zip_of(&[("a.xml", b"<a/>"), ("schema-11/b.xml", b"<b/>")]),
            &InboundLimits::default(),
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].0, "schema-11/b.xml");
        for bad in [
            "../evil.xml",
            "/etc/passwd",
            "a/../../b",
            ".hidden",
            "c:\\x",
        ] {
            let e = unzip(&zip_of(&[(bad, b"x")]), &InboundLimits::default()).unwrap_err();
            assert!(e.contains("unsafe"), "{bad}: {e}");
        }
        let e = unzip(b"not a zip", &InboundLimits::default()).unwrap_err();
        assert!(e.contains("not a readable zip"), "{e}");
    }

    #[test]
    fn stops_a_zip_bomb_while_unpacking() {
        let zeros = vec![0u8; 3 << 20];
        let bomb = zip_of(&[("RKI_x.xml", &zeros)]);
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let limits = InboundLimits {
            max_unpacked_mb: 2,
            ..InboundLimits::default()
        };
        let e = unzip(&bomb, &limits).unwrap_err();
        assert!(e.contains("more than the limit of 2 MiB"), "{e}");
    }

    /// A small deterministic mutation test: a valid archive cut, flipped and spliced;
    /// whatever comes in, no panic, the unpacked bytes within the limit, and every error
    /// short and free of control characters. `HUB_MUTATIONS=<n>` runs more cases.
    #[test]
    fn mutated_archives_are_read_or_refused_without_panic() {
        let mut state: u64 = 0x5EED_0003;
        let mut next = move |n: usize| -> usize {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            usize::try_from(state.wrapping_mul(0x2545_F491_4F6C_DD1D) % (n.max(1) as u64))
                .unwrap_or(0)
        };
        let base = zip_of(&[
            ("RKI_1.01.0.02._1.01._00000001.xml", &[b'a'; 5000]),
            ("RKI_1.01.0.02._00000007_001.pdf", b"%PDF-1.4"),
            (
                "schema-11/RKI_1.01.0.02._1.01._00000001.xml",
                b"<Transport/>",
            ),
        ]);
        let limits = InboundLimits {
            max_unpacked_mb: 1,
            max_entries: 8,
            ..InboundLimits::default()
        };
        let cases = std::env::var("HUB_MUTATIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(3000);
        let (mut read, mut refused) = (0, 0);
        for case in 0..cases {
            let mut v = base.clone();
            for _ in 0..1 + next(3) {
                let at = next(v.len() + 1);
                match next(4) {
                    0 => v.truncate(at),
                    1 => {
                        if let Some(b) = v.get_mut(at) {
                            *b ^= 1 << next(8);
                        }
                    }
                    2 => {
                        let end = (at + next(32)).min(v.len());
                        v.drain(at..end);
                    }
                    _ => {
                        let piece: &[u8] =
                            [&b"../"[..], b"\x1b[31m", b"\xff\xff\xff\xff", b"PK\x05\x06"][next(4)];
                        v.splice(at..at, piece.iter().copied());
                    }
                }
            }
            match unzip(&v, &limits) {
                Ok(entries) => {
                    let total: usize = entries.iter().map(|(_, b)| b.len()).sum();
                    assert!(total <= 1 << 20, "case {case}: {total} bytes unpacked");
                    read += 1;
                }
                Err(e) => {
                    assert!(e.len() < 1024, "case {case}: {e:.300}");
                    assert!(!e.chars().any(char::is_control), "case {case}: {e:?}");
                    refused += 1;
                }
            }
        }
        assert!(read > 0 && refused > 0, "read {read}, refused {refused}");
    }
}
