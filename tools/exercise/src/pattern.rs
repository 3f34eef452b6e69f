// SPDX-License-Identifier: GPL-2.0
//! The data the writing operations store, chosen so that a wrong byte tells
//! where it came from: at an even file offset, a tag of the operation that
//! wrote it (its number modulo 255, plus one, so never zero like a hole); at
//! an odd offset, a seeded noise byte of that offset, so that data moved to
//! another offset does not match.

use crate::rng::Rng;

/// Length of the noise table: a prime, so that data shifted by a multiple
/// of a page or a block does not line up with its own noise.
const NOISE_LEN: usize = 65_521;

/// The data pattern of one run.
#[derive(Clone, Debug)]
pub struct Pattern {
    noise: Vec<u8>,
}

impl Pattern {
    /// The pattern of a run with this seed.
    pub fn new(seed: u64) -> Self {
        let mut noise = vec![0; NOISE_LEN];
        Rng::new(seed ^ 0x7061_7474_6572_6e21).fill(&mut noise);
        Self { noise }
    }

    /// The tag operation `opno` writes at even offsets.
    pub fn tag(opno: u64) -> u8 {
        (opno % 255) as u8 + 1
    }

    /// The operation number, modulo 255, that `tag` names; `None` for 0.
    pub fn opno_of_tag(tag: u8) -> Option<u64> {
        tag.checked_sub(1).map(u64::from)
    }

    /// The noise byte of file offset `offset`.
    pub fn noise(&self, offset: u64) -> u8 {
        self.noise[(offset % NOISE_LEN as u64) as usize]
    }

    /// Sets `buf` to the `len` bytes operation `opno` writes at `offset`.
    pub fn fill(&self, buf: &mut Vec<u8>, opno: u64, offset: u64, len: usize) {
        buf.clear();
        let mut from = (offset % NOISE_LEN as u64) as usize;
        while buf.len() < len {
            let n = (NOISE_LEN - from).min(len - buf.len());
            buf.extend_from_slice(&self.noise[from..from + n]);
            from = 0;
        }
        let first_even = (offset % 2) as usize;
        for byte in buf.iter_mut().skip(first_even).step_by(2) {
            *byte = Self::tag(opno);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_names_the_op_and_the_offset() {
        let p = Pattern::new(1);
        let mut buf = Vec::new();
        p.fill(&mut buf, 300, 11, 6);
        let tag = Pattern::tag(300);
        assert_eq!(Pattern::opno_of_tag(tag), Some(300 % 255));
        assert_eq!(buf, [p.noise(11), tag, p.noise(13), tag, p.noise(15), tag]);
        assert_ne!(Pattern::tag(254), 0);
        assert_eq!(Pattern::opno_of_tag(0), None);
        let mut again = Vec::new();
        Pattern::new(1).fill(&mut again, 300, 11, 6);
        assert_eq!(buf, again, "deterministic");
    }
}
