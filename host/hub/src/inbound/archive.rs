//! Unpacking an arriving archive without trusting it: entry names, counts and unpacked
//! sizes are checked as it unpacks (declared sizes can lie), and nothing is written to
//! disk, so a hostile archive can neither escape a folder nor fill one.

use std::io::Read;

use hub_core::config::InboundLimits;

/// One unpacked entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub bytes: Vec<u8>,
}

const MIB: u64 = 1 << 20;

/// A safe relative name: no absolute path, drive, backslash, `.`/`..`, empty or hidden
/// segment, and no control characters.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.starts_with('/') || name.contains('\\') || name.contains(':') {
        return Err(format!(
            "entry `{}` has an unsafe name",
            name.escape_debug()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "entry `{}` has control characters in its name",
            name.escape_debug()
        ));
    }
    for seg in name.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || seg.starts_with('.') {
            return Err(format!(
                "entry `{}` has an unsafe path segment `{seg}` (path traversal or hidden file)",
                name.escape_debug()
            ));
        }
    }
    Ok(())
}

/// Unpacks a zip archive into memory within `limits`; the error names the entry.
pub fn unzip(bytes: &[u8], limits: &InboundLimits) -> Result<Vec<Entry>, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a readable zip archive: {e}"))?;
    if zip.len() > limits.max_entries {
        return Err(format!(
            "{} entries, more than the limit of {}",
            zip.len(),
            limits.max_entries
        ));
    }
    let budget = limits.max_unpacked_mb.saturating_mul(MIB);
    let mut used: u64 = 0;
    let mut out: Vec<Entry> = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let file = zip
            .by_index_raw(i)
            .map_err(|e| format!("entry {}: {e}", i + 1))?;
        let name = file
            .name()
            .map_err(|e| format!("entry {}: unreadable name: {e}", i + 1))?
            .into_owned();
        if file.is_dir() {
            check_name(name.trim_end_matches('/'))?;
            continue;
        }
        check_name(&name)?;
        if file.is_symlink() {
            return Err(format!("entry `{name}` is a symbolic link"));
        }
        if file.encrypted() {
            return Err(format!("entry `{name}` is encrypted"));
        }
        if out.iter().any(|e| e.name == name) {
            return Err(format!("entry `{name}` appears twice"));
        }
        drop(file);
        let file = zip
            .by_index(i)
            .map_err(|e| format!("entry `{name}`: {e}"))?;
        let left = budget - used;
        let mut data = Vec::new();
        file.take(left + 1)
            .read_to_end(&mut data)
            .map_err(|e| format!("entry `{name}`: cannot unpack: {e}"))?;
        if data.len() as u64 > left {
            return Err(format!(
                "entry `{name}`: the archive unpacks to more than the limit of {} MiB (a zip bomb?)",
                limits.max_unpacked_mb
            ));
        }
        used += data.len() as u64;
        out.push(Entry { name, bytes: data });
    }
    Ok(out)
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

    #[test]
    fn unpacks_and_refuses_by_name() {
        let ok = unzip(
            &zip_of(&[("a.xml", b"<a/>"), ("schema-11/b.xml", b"<b/>")]),
            &InboundLimits::default(),
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].name, "schema-11/b.xml");
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
}
