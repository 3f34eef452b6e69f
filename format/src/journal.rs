// SPDX-License-Identifier: GPL-2.0
//! The journal: a region of the device after the inode table that the
//! kernel's jbd2 writes its log to, described by a jbd2 superblock in the
//! region's first block.
//!
//! jbd2's structures are big endian. Its log block numbers are relative to
//! the region: the superblock is log block 0, the log proper is log blocks
//! `first..maxlen` (the module maps a log block to the device by adding
//! [`Geometry::journal_start`](super::Geometry::journal_start)). `mkfs`
//! writes a V2 superblock of an empty journal with revoke records, 64-bit
//! block numbers and v3 checksums; a journal with `start != 0` holds
//! transactions that a mount must replay.

use super::crc::crc32c_update;
use super::{FormatError, Result, BLOCK_SIZE};

/// jbd2's magic number, at the start of every journal block it describes.
pub const JBD2_MAGIC: u32 = 0xC03B_3998;
/// Block type of a version 2 journal superblock.
pub const JBD2_SUPERBLOCK_V2: u32 = 4;
/// Smallest journal jbd2 accepts, in blocks.
pub const JOURNAL_MIN_BLOCKS: u64 = 1024;
/// Largest journal: jbd2 counts log blocks in 32 bits; 2^30 is ample.
pub const JOURNAL_MAX_BLOCKS: u64 = 1 << 30;
/// Incompatible jbd2 feature: revoke records.
pub const JBD2_FEATURE_INCOMPAT_REVOKE: u32 = 0x1;
/// Incompatible jbd2 feature: 64-bit block numbers in tags.
pub const JBD2_FEATURE_INCOMPAT_64BIT: u32 = 0x2;
/// Incompatible jbd2 feature: v3 checksums (CRC-32C) of every log block.
pub const JBD2_FEATURE_INCOMPAT_CSUM_V3: u32 = 0x10;
/// The features `mkfs` sets and the tools understand.
pub const JBD2_FEATURES: u32 =
    JBD2_FEATURE_INCOMPAT_REVOKE | JBD2_FEATURE_INCOMPAT_64BIT | JBD2_FEATURE_INCOMPAT_CSUM_V3;
/// `s_checksum_type` of CRC-32C.
pub const JBD2_CRC32C_CHKSUM: u8 = 4;
/// Bytes of the jbd2 superblock (its checksum covers them all).
pub const JOURNAL_SUPERBLOCK_SIZE: usize = 1024;

/// The default journal size for a filesystem of `block_count` blocks, as
/// mke2fs chooses it: none below 8 MiB, then 4 MiB, growing to 1 GiB.
pub fn default_journal_blocks(block_count: u64) -> u64 {
    match block_count {
        0..2048 => 0,
        2048..32_768 => 1024,
        32_768..262_144 => 4096,
        262_144..524_288 => 8192,
        524_288..4_194_304 => 16_384,
        4_194_304..8_388_608 => 32_768,
        8_388_608..16_777_216 => 65_536,
        16_777_216..33_554_432 => 131_072,
        _ => 262_144,
    }
}

mod jsb_off {
    pub(super) const MAGIC: usize = 0x0;
    pub(super) const BLOCKTYPE: usize = 0x4;
    pub(super) const BLOCKSIZE: usize = 0xC;
    pub(super) const MAXLEN: usize = 0x10;
    pub(super) const FIRST: usize = 0x14;
    pub(super) const SEQUENCE: usize = 0x18;
    pub(super) const START: usize = 0x1C;
    pub(super) const ERRNO: usize = 0x20;
    pub(super) const FEATURE_COMPAT: usize = 0x24;
    pub(super) const FEATURE_INCOMPAT: usize = 0x28;
    pub(super) const FEATURE_RO_COMPAT: usize = 0x2C;
    pub(super) const UUID: usize = 0x30;
    pub(super) const NR_USERS: usize = 0x40;
    pub(super) const CHECKSUM_TYPE: usize = 0x50;
    pub(super) const CHECKSUM: usize = 0xFC;
}

fn get_be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn put_be32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// jbd2's checksum function, `jbd2_chksum(crc, data)`: CRC-32C of `data`
/// continued from `crc`, without the final inversion. Every checksum of
/// the log (descriptor and revoke block tails, commit blocks, the tags of
/// the data blocks) is seeded with [`JournalSuperblock::checksum_seed`].
pub fn jbd2_chksum(crc: u32, data: &[u8]) -> u32 {
    crc32c_update(crc, data)
}

/// jbd2's checksum of a journal superblock: CRC-32C from `~0` without the
/// final inversion (`jbd2_chksum`), with the checksum field taken as zero.
fn superblock_checksum(b: &[u8]) -> u32 {
    use jsb_off::CHECKSUM;
    let crc = crc32c_update(!0, &b[..CHECKSUM]);
    let crc = crc32c_update(crc, &[0; 4]);
    crc32c_update(crc, &b[CHECKSUM + 4..JOURNAL_SUPERBLOCK_SIZE])
}

/// The jbd2 superblock of the journal, in the first block of its region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalSuperblock {
    /// Blocks of the journal, the superblock included (`s_maxlen`).
    pub maxlen: u32,
    /// First log block (`s_first`).
    pub first: u32,
    /// Sequence number of the first transaction expected in the log.
    pub sequence: u32,
    /// Log block of the first transaction to replay; 0 when the journal is
    /// empty.
    pub start: u32,
    /// The error the journal was aborted with (`jbd2_journal_abort`), 0 if
    /// none.
    pub errno: i32,
    /// Incompatible jbd2 features.
    pub feature_incompat: u32,
    /// The journal's UUID, which seeds its checksums.
    pub uuid: [u8; 16],
}

impl JournalSuperblock {
    /// The superblock of a new, empty journal of `blocks` blocks.
    pub fn new(blocks: u64, uuid: [u8; 16]) -> Self {
        JournalSuperblock {
            maxlen: blocks as u32,
            first: 1,
            sequence: 1,
            start: 0,
            errno: 0,
            feature_incompat: JBD2_FEATURES,
            uuid,
        }
    }

    /// The seed of the checksums of the log's blocks (`j_csum_seed`):
    /// `jbd2_chksum(~0, uuid)`.
    pub fn checksum_seed(&self) -> u32 {
        jbd2_chksum(!0, &self.uuid)
    }

    /// Whether the journal holds transactions a mount must replay.
    pub fn needs_recovery(&self) -> bool {
        self.start != 0
    }

    /// Encodes the superblock with its checksum into the start of `block`,
    /// zeroing the rest of the block.
    pub fn encode(&self, block: &mut [u8]) {
        use jsb_off::*;
        block.fill(0);
        put_be32(block, MAGIC, JBD2_MAGIC);
        put_be32(block, BLOCKTYPE, JBD2_SUPERBLOCK_V2);
        put_be32(block, BLOCKSIZE, BLOCK_SIZE as u32);
        put_be32(block, MAXLEN, self.maxlen);
        put_be32(block, FIRST, self.first);
        put_be32(block, SEQUENCE, self.sequence);
        put_be32(block, START, self.start);
        put_be32(block, ERRNO, self.errno as u32);
        put_be32(block, FEATURE_INCOMPAT, self.feature_incompat);
        block[UUID..UUID + 16].copy_from_slice(&self.uuid);
        put_be32(block, NR_USERS, 1);
        block[CHECKSUM_TYPE] = JBD2_CRC32C_CHKSUM;
        let crc = superblock_checksum(block);
        put_be32(block, CHECKSUM, crc);
    }

    /// Stores the fields that change as the journal is used (`sequence`,
    /// `start`, `errno`) into `block`, an encoded superblock, and reseals
    /// its checksum, leaving every other field as it is (those this type
    /// does not describe too), as jbd2 updates its superblock.
    pub fn store_state(&self, block: &mut [u8]) {
        use jsb_off::*;
        put_be32(block, SEQUENCE, self.sequence);
        put_be32(block, START, self.start);
        put_be32(block, ERRNO, self.errno as u32);
        if get_be32(block, FEATURE_INCOMPAT) & JBD2_FEATURE_INCOMPAT_CSUM_V3 != 0 {
            let crc = superblock_checksum(block);
            put_be32(block, CHECKSUM, crc);
        }
    }

    /// Decodes and checks the superblock of a journal of `region_blocks`
    /// blocks, as jbd2 does when it loads a journal.
    pub fn decode(block: &[u8], region_blocks: u64) -> Result<Self> {
        use jsb_off::*;
        if block.len() < JOURNAL_SUPERBLOCK_SIZE || get_be32(block, MAGIC) != JBD2_MAGIC {
            return Err(FormatError::BadField("no journal superblock"));
        }
        if get_be32(block, BLOCKTYPE) != JBD2_SUPERBLOCK_V2 {
            return Err(FormatError::BadField("journal superblock is not version 2"));
        }
        if get_be32(block, BLOCKSIZE) != BLOCK_SIZE as u32 {
            return Err(FormatError::BadField("journal block size differs"));
        }
        let feature_incompat = get_be32(block, FEATURE_INCOMPAT);
        if feature_incompat & !JBD2_FEATURES != 0
            || get_be32(block, FEATURE_COMPAT) != 0
            || get_be32(block, FEATURE_RO_COMPAT) != 0
        {
            return Err(FormatError::BadField("unknown journal features"));
        }
        if feature_incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3 != 0 {
            if block[CHECKSUM_TYPE] != JBD2_CRC32C_CHKSUM {
                return Err(FormatError::BadField("unknown journal checksum type"));
            }
            if get_be32(block, CHECKSUM) != superblock_checksum(block) {
                return Err(FormatError::BadChecksum);
            }
        }
        let jsb = JournalSuperblock {
            maxlen: get_be32(block, MAXLEN),
            first: get_be32(block, FIRST),
            sequence: get_be32(block, SEQUENCE),
            start: get_be32(block, START),
            errno: get_be32(block, ERRNO) as i32,
            feature_incompat,
            uuid: block[UUID..UUID + 16].try_into().unwrap_or([0; 16]),
        };
        let maxlen = u64::from(jsb.maxlen);
        if maxlen < JOURNAL_MIN_BLOCKS || maxlen > region_blocks {
            return Err(FormatError::BadField(
                "journal length does not fit its region",
            ));
        }
        if jsb.first == 0 || jsb.first >= jsb.maxlen {
            return Err(FormatError::BadField("bad first journal block"));
        }
        // jbd2's journal_reset refuses a log shorter than its minimum.
        if u64::from(jsb.first) + JOURNAL_MIN_BLOCKS > maxlen + 1 {
            return Err(FormatError::BadField(
                "journal log shorter than jbd2's minimum",
            ));
        }
        if jsb.start != 0 && (jsb.start < jsb.first || jsb.start >= jsb.maxlen) {
            return Err(FormatError::BadField("journal start outside the log"));
        }
        Ok(jsb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_superblock_round_trip_and_checks() {
        let jsb = JournalSuperblock::new(4096, [9; 16]);
        let mut block = [0u8; BLOCK_SIZE];
        jsb.encode(&mut block);
        assert_eq!(JournalSuperblock::decode(&block, 4096), Ok(jsb));
        assert!(!jsb.needs_recovery());
        // The region must hold the journal.
        assert!(JournalSuperblock::decode(&block, 4095).is_err());
        let mut bad = block;
        bad[0x60] ^= 1;
        assert_eq!(
            JournalSuperblock::decode(&bad, 4096),
            Err(FormatError::BadChecksum)
        );
        let mut dirty = JournalSuperblock { start: 7, ..jsb };
        dirty.encode(&mut block);
        assert!(JournalSuperblock::decode(&block, 4096)
            .unwrap()
            .needs_recovery());
        dirty.start = 5000;
        dirty.encode(&mut block);
        assert!(JournalSuperblock::decode(&block, 4096).is_err());
    }

    /// A valid journal superblock of 4096 blocks, changed by `f` with the
    /// checksum recomputed: what decoding it gives.
    fn decode_changed(f: impl FnOnce(&mut [u8])) -> Result<JournalSuperblock> {
        let mut block = [0u8; BLOCK_SIZE];
        JournalSuperblock::new(4096, [9; 16]).encode(&mut block);
        f(&mut block);
        let crc = superblock_checksum(&block);
        put_be32(&mut block, jsb_off::CHECKSUM, crc);
        JournalSuperblock::decode(&block, 4096)
    }

    fn bad(why: &'static str) -> Result<JournalSuperblock> {
        Err(FormatError::BadField(why))
    }

    #[test]
    fn journal_rule_magic() {
        assert!(decode_changed(|_| {}).is_ok());
        assert_eq!(
            decode_changed(|b| put_be32(b, jsb_off::MAGIC, 0)),
            bad("no journal superblock")
        );
    }

    #[test]
    fn journal_rule_version() {
        assert_eq!(
            decode_changed(|b| put_be32(b, jsb_off::BLOCKTYPE, 3)),
            bad("journal superblock is not version 2")
        );
    }

    #[test]
    fn journal_rule_block_size() {
        assert_eq!(
            decode_changed(|b| put_be32(b, jsb_off::BLOCKSIZE, 1024)),
            bad("journal block size differs")
        );
    }

    #[test]
    fn journal_rule_features() {
        for field in [
            jsb_off::FEATURE_COMPAT,
            jsb_off::FEATURE_INCOMPAT,
            jsb_off::FEATURE_RO_COMPAT,
        ] {
            assert_eq!(
                decode_changed(|b| put_be32(b, field, 0x20 | get_be32(b, field))),
                bad("unknown journal features")
            );
        }
    }

    #[test]
    fn journal_rule_checksum_type() {
        assert_eq!(
            decode_changed(|b| b[jsb_off::CHECKSUM_TYPE] = 1),
            bad("unknown journal checksum type")
        );
    }

    #[test]
    fn journal_rule_checksum() {
        let mut block = [0u8; BLOCK_SIZE];
        JournalSuperblock::new(4096, [9; 16]).encode(&mut block);
        block[jsb_off::SEQUENCE] ^= 1;
        assert_eq!(
            JournalSuperblock::decode(&block, 4096),
            Err(FormatError::BadChecksum)
        );
    }

    #[test]
    fn journal_rule_length() {
        for maxlen in [JOURNAL_MIN_BLOCKS as u32 - 1, 4097] {
            assert_eq!(
                decode_changed(|b| put_be32(b, jsb_off::MAXLEN, maxlen)),
                bad("journal length does not fit its region")
            );
        }
    }

    #[test]
    fn journal_rule_first_block() {
        for first in [0, 4096] {
            assert_eq!(
                decode_changed(|b| put_be32(b, jsb_off::FIRST, first)),
                bad("bad first journal block")
            );
        }
    }

    #[test]
    fn journal_rule_log_long_enough() {
        // A 4096-block journal: `first` may be 4096 - 1023 at most.
        assert!(decode_changed(|b| put_be32(b, jsb_off::FIRST, 3073)).is_ok());
        assert_eq!(
            decode_changed(|b| put_be32(b, jsb_off::FIRST, 3074)),
            bad("journal log shorter than jbd2's minimum")
        );
    }

    #[test]
    fn journal_rule_start_in_log() {
        assert!(decode_changed(|b| put_be32(b, jsb_off::START, 1)).is_ok());
        assert_eq!(
            decode_changed(|b| put_be32(b, jsb_off::START, 4096)),
            bad("journal start outside the log")
        );
    }

    #[test]
    fn state_stored_in_place() {
        let jsb = JournalSuperblock::new(2048, [3; 16]);
        let mut block = [0u8; BLOCK_SIZE];
        jsb.encode(&mut block);
        // A field this type does not describe (s_max_transaction) survives.
        block[0x48] = 0x77;
        let crc = superblock_checksum(&block);
        put_be32(&mut block, jsb_off::CHECKSUM, crc);
        let dirty = JournalSuperblock {
            sequence: 9,
            start: 12,
            errno: -5,
            ..jsb
        };
        dirty.store_state(&mut block);
        assert_eq!(JournalSuperblock::decode(&block, 2048), Ok(dirty));
        assert_eq!(block[0x48], 0x77);
    }

    #[test]
    fn checksum_is_jbd2s() {
        // jbd2_chksum(~0, data) is crc32c without the final inversion, so
        // the standard CRC-32C of the same bytes is its complement.
        let jsb = JournalSuperblock::new(1024, [1; 16]);
        let mut block = [0u8; BLOCK_SIZE];
        jsb.encode(&mut block);
        let stored = get_be32(&block, jsb_off::CHECKSUM);
        let mut zeroed = block;
        zeroed[jsb_off::CHECKSUM..jsb_off::CHECKSUM + 4].fill(0);
        assert_eq!(
            stored,
            !super::super::crc32c(&zeroed[..JOURNAL_SUPERBLOCK_SIZE])
        );
    }

    #[test]
    fn checksum_seed_is_jbd2s() {
        // The seed continues a CRC-32C over the UUID without inverting it.
        let jsb = JournalSuperblock::new(1024, [0x5a; 16]);
        assert_eq!(jsb.checksum_seed(), !super::super::crc32c(&[0x5a; 16]));
        // Continuing from the seed is checksumming the concatenation.
        let seed = jsb.checksum_seed();
        let both = [[0x5a; 16], [7; 16]].concat();
        assert_eq!(jbd2_chksum(seed, &[7; 16]), jbd2_chksum(!0, &both));
    }

    #[test]
    fn default_sizes_follow_mke2fs() {
        assert_eq!(default_journal_blocks(1000), 0);
        assert_eq!(default_journal_blocks(16_384), 1024);
        assert_eq!(default_journal_blocks(524_288), 16_384);
    }
}
