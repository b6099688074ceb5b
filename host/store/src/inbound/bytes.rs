//! An arriving transport's bytes as the store takes them: from memory (tests, small
//! answers) or from the file they arrived in, read as a stream so a transport of any size
//! is never held whole.

use std::io::{Read, Seek, SeekFrom};

/// Where an arriving transport's bytes are.
#[derive(Clone, Copy, Debug)]
pub enum Bytes<'a> {
    Memory(&'a [u8]),
    /// The file and its length (taken when it was hashed, so a file that grows after
    /// is read as it was).
    File(&'a std::fs::File, u64),
}

impl<'a> Bytes<'a> {
    /// How many bytes there are.
    pub fn size(&self) -> u64 {
        match self {
            Bytes::Memory(b) => b.len() as u64,
            Bytes::File(_, len) => *len,
        }
    }

    /// A reader from the first byte to the last; each call starts anew.
    pub fn reader(&self) -> FileAt<'a> {
        match *self {
            Bytes::Memory(b) => FileAt {
                src: Src::Memory(b),
                pos: 0,
                end: b.len() as u64,
            },
            Bytes::File(f, len) => FileAt::new(f, len),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Src<'a> {
    Memory(&'a [u8]),
    File(&'a std::fs::File),
}

/// A reader of a file's first `end` bytes by position (`pread`), not through the file's
/// shared offset: any number of them read one file independently, from several threads.
#[derive(Clone, Copy, Debug)]
pub struct FileAt<'a> {
    src: Src<'a>,
    pos: u64,
    end: u64,
}

impl<'a> FileAt<'a> {
    pub fn new(file: &'a std::fs::File, len: u64) -> Self {
        FileAt {
            src: Src::File(file),
            pos: 0,
            end: len,
        }
    }
}

impl Read for FileAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = match self.src {
            Src::Memory(b) => {
                let at = usize::try_from(self.pos).unwrap_or(usize::MAX);
                let piece = b.get(at..at + want).unwrap_or_default();
                buf[..piece.len()].copy_from_slice(piece);
                piece.len()
            }
            Src::File(f) => std::os::unix::fs::FileExt::read_at(f, &mut buf[..want], self.pos)?,
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for FileAt<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.end.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let Some(pos) = target else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        };
        self.pos = pos;
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn readers_of_one_file_do_not_share_a_position() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let bytes = Bytes::File(&f, 8);
        let (mut a, mut b) = (bytes.reader(), bytes.reader());
        let mut x = [0u8; 3];
        a.read_exact(&mut x).unwrap();
        assert_eq!(&x, b"012");
        let mut all = Vec::new();
        b.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"01234567", "only the length taken when hashed");
        a.seek(SeekFrom::End(-2)).unwrap();
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"67");
        let mut m = Bytes::Memory(b"abc").reader();
        m.seek(SeekFrom::Start(1)).unwrap();
        let mut s = String::new();
        m.read_to_string(&mut s).unwrap();
        assert_eq!(s, "bc");
    }
}
