//! A small deterministic fuzzer for the mutation tests of hosts and plugins: valid input
//! cut, flipped, duplicated and spliced with hostile pieces. Deterministic, so a failure
//! reproduces from its case number; no framework, so it runs in every `cargo test`.

/// xorshift64*.
#[derive(Debug, Clone)]
pub struct Rng(
    /// The state; never 0.
    pub u64,
);

impl Rng {
    /// The generator for case `case` of a test seeded with `seed`.
    pub fn case(seed: u64, case: u64) -> Self {
        Rng((seed ^ case.wrapping_mul(0x1000_0001)) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// How many cases to run: `HUB_MUTATIONS`, else `default`.
pub fn cases(default: u64) -> u64 {
    std::env::var("HUB_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Applies one to five mutations: cut the tail, flip a bit, splice in (or, where `overwrite`,
/// write over) one of `pieces`, copy up to `span` bytes elsewhere, or drop up to `span / 4`.
pub fn mutate(
    rng: &mut Rng,
    input: &mut Vec<u8>,
    pieces: &[Vec<u8>],
    span: usize,
    overwrite: bool,
) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(5) {
            0 => input.truncate(at),
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            2 if !pieces.is_empty() => {
                let p = &pieces[rng.below(pieces.len())];
                // Over, not between, keeps offsets in place (a zip's directory).
                if overwrite && rng.below(2) == 0 && at + p.len() <= input.len() {
                    input[at..at + p.len()].copy_from_slice(p);
                } else {
                    input.splice(at..at, p.iter().copied());
                }
            }
            3 => {
                let end = (at + rng.below(span)).min(input.len());
                let copy = input[at..end].to_vec();
                let to = rng.below(input.len() + 1);
                input.splice(to..to, copy);
            }
            _ => {
                let end = (at + rng.below(span / 4 + 1)).min(input.len());
                input.drain(at..end);
            }
        }
    }
}
