//! Sealing and opening a value as a stream of frames, for the received archives, which
//! can be hundreds of megabytes: memory stays one frame, whatever the value's size. The
//! frames are those of [`Keyring::seal`], so a value sealed either way opens either way.

use std::io::{Read, Write};

use super::{CHUNK, Keyring, NONCE, Purpose, Result, SealError, TAG};

/// How long `len` bytes are once sealed (known before sealing, so the store can make
/// room for them first).
pub fn sealed_len(len: u64) -> u64 {
    let frames = len.div_ceil(CHUNK as u64).max(1);
    len + frames * (NONCE + TAG) as u64
}

fn io(what: &dyn Fn() -> String, e: &std::io::Error) -> SealError {
    SealError::Io(format!("{}: {e}", what()))
}

impl Keyring {
    /// Seals `len` bytes read from `plain` under the current key into `out`, frame by
    /// frame; returns the key id, or `None` (nothing written) when there is no current key.
    pub fn seal_stream(
        &self,
        purpose: Purpose,
        plain: &mut dyn Read,
        len: u64,
        out: &mut dyn Write,
        what: &dyn Fn() -> String,
    ) -> Result<Option<&str>> {
        let Some(id) = self.current.as_deref() else {
            return Ok(None);
        };
        let cipher = self.cipher(id, what)?;
        let frames = len.div_ceil(CHUNK as u64).max(1);
        let mut chunk = vec![0u8; CHUNK];
        let mut left = len;
        for i in 0..frames {
            let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
            plain
                .read_exact(&mut chunk[..n])
                .map_err(|e| io(what, &e))?;
            left -= n as u64;
            let index = usize::try_from(i).unwrap_or(usize::MAX);
            let frame =
                super::seal_frame(cipher, purpose, id, index, i + 1 == frames, &chunk[..n])?;
            out.write_all(&frame).map_err(|e| io(what, &e))?;
        }
        Ok(Some(id))
    }
}

/// Opens `len` sealed bytes read from `sealed` (under key `id`) into `out`, frame by frame.
pub fn open_stream(
    ring: &Keyring,
    id: &str,
    purpose: Purpose,
    sealed: &mut dyn Read,
    len: u64,
    out: &mut dyn Write,
    what: &dyn Fn() -> String,
) -> Result<()> {
    let cipher = ring.cipher(id, what)?;
    let whole = (NONCE + CHUNK + TAG) as u64;
    let frames = len.div_ceil(whole).max(1);
    let mut frame = vec![0u8; NONCE + CHUNK + TAG];
    let mut left = len;
    for i in 0..frames {
        let n = usize::try_from(left.min(whole)).unwrap_or(0);
        sealed
            .read_exact(&mut frame[..n])
            .map_err(|e| io(what, &e))?;
        left -= n as u64;
        let index = usize::try_from(i).unwrap_or(usize::MAX);
        let plain = super::open_frame(
            cipher,
            purpose,
            id,
            index,
            i + 1 == frames,
            &frame[..n],
            what,
        )?;
        out.write_all(&plain).map_err(|e| io(what, &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_seals_like_a_value_and_opens_either_way() {
        let ring = Keyring::new(Some("k1"), vec![("k1".into(), [7u8; 32])]).unwrap();
        let what = || "an archive".to_string();
        for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut sealed = Vec::new();
            let id = ring
                .seal_stream(
                    Purpose::PayloadBytes,
                    &mut plain.as_slice(),
                    len as u64,
                    &mut sealed,
                    &what,
                )
                .unwrap();
            assert_eq!(id, Some("k1"));
            assert_eq!(sealed.len() as u64, sealed_len(len as u64), "{len}");
            assert_eq!(
                ring.open("k1", Purpose::PayloadBytes, &sealed, what)
                    .unwrap(),
                plain
            );
            let (_, whole) = ring.seal(Purpose::PayloadBytes, &plain).unwrap().unwrap();
            let mut back = Vec::new();
            open_stream(
                &ring,
                "k1",
                Purpose::PayloadBytes,
                &mut whole.as_slice(),
                whole.len() as u64,
                &mut back,
                &what,
            )
            .unwrap();
            assert_eq!(back, plain, "{len}");
            // Another purpose, a cut or a flipped byte does not open.
            let mut out = Vec::new();
            let other = open_stream(
                &ring,
                "k1",
                Purpose::RecordBody,
                &mut sealed.as_slice(),
                sealed.len() as u64,
                &mut out,
                &what,
            );
            assert!(other.is_err(), "{len}");
            let short = &sealed[..sealed.len() - 1];
            let cut = open_stream(
                &ring,
                "k1",
                Purpose::PayloadBytes,
                &mut &short[..],
                short.len() as u64,
                &mut Vec::new(),
                &what,
            );
            assert!(cut.is_err(), "{len}");
        }
        // Fewer bytes than announced: an error naming the value, not a short seal.
        let e = ring
            .seal_stream(
                Purpose::PayloadBytes,
                &mut &b"abc"[..],
                4,
                &mut Vec::new(),
                &what,
            )
            .unwrap_err();
        assert!(e.to_string().contains("an archive"), "{e}");
    }
}
