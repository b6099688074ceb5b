//! `memcmp` for WebAssembly guests, eight bytes at a time.
//!
//! On `wasm32-unknown-unknown` the `memcmp` every string comparison calls (map lookups by
//! key, `==` on `str`) comes from `compiler_builtins`, a loop over single bytes. In a
//! profile of the Prisme plugin's `validate` it was the hottest function (memcmp 6.7 % of
//! an enqueue's samples, the BTreeMap lookup calling it 5.1 %). `compiler_builtins`
//! defines its copy weak, so this one, strong, is linked in its place.

/// Compares `n` bytes at `a` and `b` as unsigned bytes: negative, zero or positive as
/// the first differing byte of `a` is below, equal to or above `b`'s.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, and the caller guarantees n readable bytes at each.
        let (x, y) = unsafe {
            (
                (a.add(i) as *const u64).read_unaligned(),
                (b.add(i) as *const u64).read_unaligned(),
            )
        };
        if x != y {
            // Big-endian order makes the first differing byte the most significant.
            return if u64::from_be(x.to_le()) < u64::from_be(y.to_le()) {
                -1
            } else {
                1
            };
        }
        i += 8;
    }
    while i < n {
        // SAFETY: i < n.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// The C symbol, for WebAssembly builds only; see the module's documentation.
///
/// # Safety
/// As C's `memcmp`: `a` and `b` valid for reads of `n` bytes.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's guarantee, passed on.
    unsafe { compare(a, b, n) }
}

#[cfg(test)]
mod tests {
    use super::compare;

    fn sign(x: i32) -> i32 {
        x.signum()
    }

    #[test]
    fn agrees_with_slice_ordering_for_every_length_and_position() {
        for n in 0..40usize {
            for at in 0..n {
                for (p, q) in [(0u8, 1u8), (1, 0), (0x7f, 0x80), (0x80, 0x7f), (255, 0)] {
                    let mut a: Vec<u8> = (0..n as u8).collect();
                    let mut b = a.clone();
                    a[at] = p;
                    b[at] = q;
                    // SAFETY: both are n bytes long.
                    let got = unsafe { compare(a.as_ptr(), b.as_ptr(), n) };
                    let want = a.cmp(&b) as i32;
                    assert_eq!(sign(got), want, "n={n} at={at} {p} vs {q}");
                }
            }
            let a: Vec<u8> = (0..n as u8).collect();
            // SAFETY: n bytes each.
            assert_eq!(unsafe { compare(a.as_ptr(), a.clone().as_ptr(), n) }, 0);
        }
    }

    #[test]
    fn reads_unaligned_starts() {
        let a = b"xxposting_date_and_more";
        let b = b"yposting_date_and_mord";
        // SAFETY: 21 bytes from offsets 2 and 1 are inside both.
        let got = unsafe { compare(a.as_ptr().add(2), b.as_ptr().add(1), 21) };
        assert_eq!(sign(got), 1);
    }
}
