//! The simulator's pseudo-random numbers, written here so that a seed's byte stream
//! never changes with a dependency upgrade.

/// xoshiro256** seeded through splitmix64, written here rather than taken from a crate
/// so that the byte stream for a seed never changes with a dependency upgrade. Floats
/// drawn from it meet only IEEE add/multiply/compare, which agree on every platform.
pub(super) struct Rng([u64; 4]);

impl Rng {
    pub(super) fn new(mut s: u64) -> Rng {
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (s ^ (s >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }
    pub(super) fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let (out, t) = (
            s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9),
            s[1] << 17,
        );
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Uniform in `lo..=hi`.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + ((self.next_u64() as u128 * (hi - lo + 1).max(1) as u128) >> 64) as i64
    }
    /// An index drawn in proportion to `weights`; `None` when all are zero.
    pub(super) fn pick(&mut self, weights: &[f64]) -> Option<usize> {
        let x = self.unit() * weights.iter().sum::<f64>();
        weights
            .iter()
            .any(|w| *w > 0.0)
            .then(|| index_at(weights, x))
    }
    /// A UUIDv7 (RFC 9562) for `unix_ms`: time first, so ids sort by time. Stores keyed
    /// by such ids write near their end rather than at random places (docs/BENCHMARKS.md
    /// measures what random ids cost).
    pub(super) fn uuid_v7(&mut self, unix_ms: i64) -> String {
        let rand = ((self.next_u64() as u128) << 64) | self.next_u64() as u128;
        let time = (unix_ms.max(0) as u128 & 0xFFFF_FFFF_FFFF) << 80;
        let x = time | (rand & ((1 << 80) - 1));
        let x = (x & !((0xF << 76) | (0x3 << 62))) | (0x7 << 76) | (0x2 << 62);
        let h = format!("{x:032x}");
        [&h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]].join("-")
    }
}

/// Where `x` falls among consecutive intervals of these widths (the last positive one
/// when rounding carries it past the end).
pub(super) fn index_at(widths: &[f64], mut x: f64) -> usize {
    let last = widths.iter().rposition(|w| *w > 0.0).unwrap_or(0);
    let hit = widths[..last].iter().position(|w| {
        x -= w;
        x < 0.0
    });
    hit.unwrap_or(last)
}
