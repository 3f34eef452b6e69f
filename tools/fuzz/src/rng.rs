// SPDX-License-Identifier: GPL-2.0
//! A small deterministic pseudo-random generator (SplitMix64), and the
//! derivation of each image's generator from the run's seed and the image's
//! index, so that image `i` depends on `(seed, i)` alone.

/// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, full period.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

/// One step of SplitMix64's output function over `z`.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The generator of image `index` of a run seeded with `seed`:
    /// independent of every other image's.
    pub fn for_image(seed: u64, index: u64) -> Self {
        Self::new(mix(seed ^ 0x5245_5846_4655_5a5a) ^ mix(index.wrapping_add(0x9e37_79b9)))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// An index into a slice of `len` (`len > 0`) elements.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A number in `lo..=hi` (`lo <= hi < u64::MAX`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` in 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// One element of `items` by weight: `(weight, item)` pairs, at least
    /// one weight not zero.
    pub fn weighted<'a, T>(&mut self, items: &'a [(u64, T)]) -> &'a T {
        let total: u64 = items.iter().map(|(w, _)| w).sum();
        let mut n = self.below(total);
        for (w, item) in items {
            if n < *w {
                return item;
            }
            n -= w;
        }
        unreachable!("the weights sum to {total}")
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64() {
        // The reference implementation's first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn images_have_independent_streams() {
        let a = Rng::for_image(1, 0).next_u64();
        assert_eq!(a, Rng::for_image(1, 0).next_u64());
        assert_ne!(a, Rng::for_image(1, 1).next_u64());
        assert_ne!(a, Rng::for_image(2, 0).next_u64());
    }

    #[test]
    fn weighted_choice_respects_zero_weights() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            assert_ne!(*rng.weighted(&[(3, 'a'), (0, 'b'), (1, 'c')]), 'b');
        }
    }
}
