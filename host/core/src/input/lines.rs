//! NDJSON read as a stream: the bytes decoded as they arrive (UTF-8 unless an encoding is
//! named, a byte-order mark dropped), one line at a time, so memory is one read buffer
//! and one line, whatever the input's size. A line longer than [`MAX_LINE_BYTES`] is
//! skipped to its end and reported by its length, not held.

use std::io::Read;

use super::{DecodeError, MAX_LINE_BYTES};

/// Bytes read from the source at a time.
const READ: usize = 64 * 1024;

/// One line of the input: its number (from 1) and its text without the line break, or
/// the length of a line too long to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    pub line: usize,
    pub text: Result<String, usize>,
}

/// Why the input could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It stops being text in its encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

/// The lines of `src`, decoded from `encoding` (a WHATWG label; UTF-8 when `None`).
pub struct Lines<R: Read> {
    src: R,
    decoder: encoding_rs::Decoder,
    encoding: &'static encoding_rs::Encoding,
    input: Vec<u8>,
    /// Decoded text; from `start` on not yet handed out.
    text: String,
    start: usize,
    /// The next line's number.
    line: usize,
    /// Input bytes decoded so far, and the offset just after the last `\n` among them
    /// (for an error's line and column).
    offset: usize,
    line_start: usize,
    newlines: usize,
    /// Bytes of the current line dropped because it is too long.
    skipping: Option<usize>,
    eof: bool,
    failed: bool,
    /// Where the input stopped being text: reported after the lines before it.
    error: Option<ReadError>,
}

impl<R: Read> Lines<R> {
    /// Reads `src` in `encoding`; an unknown label is refused at once.
    pub fn new(src: R, encoding: Option<&str>) -> Result<Self, DecodeError> {
        let enc = match encoding {
            None => encoding_rs::UTF_8,
            Some(label) => encoding_rs::Encoding::for_label(label.trim().as_bytes())
                .ok_or_else(|| DecodeError::UnknownEncoding(label.to_string()))?,
        };
        Ok(Self {
            src,
            // Sniffs a byte-order mark (which then names the encoding) and drops it.
            decoder: enc.new_decoder(),
            encoding: enc,
            input: vec![0; READ],
            text: String::new(),
            start: 0,
            line: 1,
            offset: 0,
            line_start: 0,
            newlines: 0,
            skipping: None,
            eof: false,
            failed: false,
            error: None,
        })
    }

    /// Reads and decodes the next block; false at the end of the input.
    fn fill(&mut self) -> Result<bool, ReadError> {
        if self.eof {
            return Ok(false);
        }
        let n = loop {
            match self.src.read(&mut self.input) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        let last = n == 0;
        let input = std::mem::take(&mut self.input);
        let result = self.decode(&input[..n], last);
        self.input = input;
        if let Err(e) = result {
            self.error = Some(e);
            return Ok(false);
        }
        if last {
            self.eof = true;
        }
        Ok(!last || !self.text.is_empty())
    }

    /// Decodes one block into the pending text.
    fn decode(&mut self, block: &[u8], last: bool) -> Result<(), ReadError> {
        let mut done = 0;
        loop {
            let rest = &block[done..];
            self.text.reserve(
                self.decoder
                    .max_utf8_buffer_length_without_replacement(rest.len())
                    .unwrap_or(rest.len() * 3)
                    .max(16),
            );
            let (result, read) =
                self.decoder
                    .decode_to_string_without_replacement(rest, &mut self.text, last);
            match result {
                encoding_rs::DecoderResult::InputEmpty => {
                    self.count(&rest[..read]);
                    break;
                }
                encoding_rs::DecoderResult::OutputFull => {
                    self.count(&rest[..read]);
                    done += read;
                }
                encoding_rs::DecoderResult::Malformed(bad, extra) => {
                    let good = read.saturating_sub(usize::from(bad) + usize::from(extra));
                    self.count(&rest[..good]);
                    let used = self.decoder.encoding().name().to_string();
                    return Err(ReadError::Decode(DecodeError::Malformed {
                        encoding: used,
                        line: self.newlines + 1,
                        column: self.offset - self.line_start + 1,
                        offset: self.offset,
                    }));
                }
            }
        }
        Ok(())
    }

    /// Counts the input bytes just decoded (their line breaks, for error positions).
    fn count(&mut self, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                self.newlines += 1;
                self.line_start = self.offset + i + 1;
            }
        }
        self.offset += bytes.len();
    }

    /// The next line, if the text so far holds one (or the input ended).
    fn take(&mut self) -> Option<RawLine> {
        let line = self.line;
        if let Some(n) = self.text[self.start..].find('\n') {
            let end = self.start + n;
            let raw = &self.text[self.start..end];
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let text = match self.skipping.take() {
                Some(skipped) => Err(skipped + raw.len()),
                None if raw.len() > MAX_LINE_BYTES => Err(raw.len()),
                None => Ok(raw.to_string()),
            };
            self.start = end + 1;
            self.line += 1;
            return Some(RawLine { line, text });
        }
        // No whole line left: what was handed out goes (once per block read, not per line).
        self.text.drain(..self.start);
        self.start = 0;
        if self.text.len() > MAX_LINE_BYTES || self.skipping.is_some() {
            // Too long already: dropped, only its length is kept.
            *self.skipping.get_or_insert(0) += self.text.len();
            self.text.clear();
        }
        if self.eof && (!self.text.is_empty() || self.skipping.is_some()) {
            self.line += 1;
            let text = std::mem::take(&mut self.text);
            return Some(RawLine {
                line,
                text: match self.skipping.take() {
                    Some(skipped) => Err(skipped + text.len()),
                    None => Ok(text),
                },
            });
        }
        None
    }
}

impl<R: Read> Iterator for Lines<R> {
    type Item = Result<RawLine, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(l) = self.take() {
                return Some(Ok(l));
            }
            if let Some(e) = self.error.take() {
                self.failed = true;
                return Some(Err(e));
            }
            if self.eof {
                return None;
            }
            match self.fill() {
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl<R: Read> std::fmt::Debug for Lines<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("encoding", &self.encoding.name())
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8], enc: Option<&str>) -> Vec<Result<RawLine, String>> {
        Lines::new(bytes, enc)
            .unwrap()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    fn ok(line: usize, t: &str) -> Result<RawLine, String> {
        Ok(RawLine {
            line,
            text: Ok(t.into()),
        })
    }

    #[test]
    fn lines_are_decoded_numbered_and_stripped_of_their_breaks() {
        assert_eq!(
            all(b"\xEF\xBB\xBFa\r\n\nb", None),
            vec![ok(1, "a"), ok(2, ""), ok(3, "b")]
        );
        assert_eq!(
            all(b"{\"n\":\"J\xf6rg\"}\n", Some("windows-1252")),
            vec![ok(1, "{\"n\":\"J\u{f6}rg\"}")]
        );
        // The same position as the whole-input decoder names.
        let bytes = b"{\"id\":\"a\"}\n{\"name\":\"J\xf6rg\"}\n";
        let got = all(bytes, None);
        assert_eq!(got[0], ok(1, "{\"id\":\"a\"}"));
        let whole = super::super::decode(bytes, None).unwrap_err().to_string();
        assert_eq!(got[1], Err(whole));
        assert_eq!(got.len(), 2);
        assert!(matches!(
            Lines::new(&b""[..], Some("klingon")),
            Err(DecodeError::UnknownEncoding(_))
        ));
    }

    #[test]
    fn lines_across_many_reads_come_whole_and_in_order() {
        let input: String = (0..20_000)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "é".repeat(i % 50)))
            .collect();
        let got: Vec<RawLine> = Lines::new(input.as_bytes(), None)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got.len(), 20_000);
        for (i, (l, want)) in got.iter().zip(input.lines()).enumerate() {
            assert_eq!((l.line, l.text.as_deref()), (i + 1, Ok(want)));
        }
    }

    #[test]
    fn a_line_too_long_is_reported_by_its_length_and_not_held() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nok\n");
        let got = all(&input, None);
        assert_eq!(
            got,
            vec![
                Ok(RawLine {
                    line: 1,
                    text: Err(MAX_LINE_BYTES + 10)
                }),
                ok(2, "ok")
            ]
        );
    }
}
