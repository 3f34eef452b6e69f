// SPDX-License-Identifier: GPL-2.0
//! The journal as fsck.rexfs reads it: its jbd2 superblock, and the replay
//! of the transactions its log holds, as jbd2's recovery
//! (`fs/jbd2/recovery.c`, which e2fsck shares) does it.
//!
//! The log is the journal region's blocks `first..maxlen`, used as a ring;
//! a transaction in it is a run of blocks stamped with its ID (big-endian
//! `h_magic, h_blocktype, h_sequence` header):
//!
//! - descriptor blocks: after the header, tags of 16 bytes (`CSUM_V3`:
//!   `t_blocknr, t_flags, t_blocknr_high, t_checksum`), each followed by the
//!   journal's 16-byte UUID unless flagged `SAME_UUID`, the last one flagged
//!   `LAST_TAG`; each tag describes the next log block, a copy of filesystem
//!   block `t_blocknr` (absolute on the device), whose first four bytes were
//!   zeroed if they held the jbd2 magic (flag `ESCAPE`);
//! - revoke blocks: `r_count` (bytes used, header included) then 8-byte
//!   block numbers (`64BIT`): blocks of this and earlier transactions not
//!   to replay;
//! - a commit block, which ends the transaction.
//!
//! With `CSUM_V3`, descriptor and revoke blocks end with a CRC-32C of the
//! block, commit blocks hold one in `h_chksum[0]`, and a tag holds that of
//! its data block continued from the big-endian transaction ID, all seeded
//! with the journal UUID ([`JournalSuperblock::checksum_seed`]).
//!
//! Recovery makes three passes over the log from `s_start`, expecting
//! transaction `s_sequence` first: the scan finds where the log ends (the
//! first block that is not the next expected one, or a commit block that
//! fails its checksum); the revoke pass collects revoke records; the replay
//! pass writes every logged block that no later revoke record covers.

use std::collections::HashMap;
use std::io;

use rexfs_format::{
    jbd2_chksum, FormatError, Geometry, JournalSuperblock, BLOCK_SIZE, JBD2_FEATURE_INCOMPAT_64BIT,
    JBD2_FEATURE_INCOMPAT_CSUM_V3, JBD2_MAGIC,
};
use rexfs_mkfs::Device;

/// `h_blocktype` of a descriptor block.
pub const DESCRIPTOR_BLOCK: u32 = 1;
/// `h_blocktype` of a commit block.
pub const COMMIT_BLOCK: u32 = 2;
/// `h_blocktype` of a revoke block.
pub const REVOKE_BLOCK: u32 = 5;
/// Tag flag: the data block's first four bytes held the jbd2 magic, and
/// were zeroed in the log.
pub const FLAG_ESCAPE: u16 = 1;
/// Tag flag: no UUID follows the tag.
pub const FLAG_SAME_UUID: u16 = 2;
/// Tag flag: the last tag of the descriptor block.
pub const FLAG_LAST_TAG: u16 = 8;
/// Bytes of the header of every log block (`journal_header_t`).
pub const HEADER_SIZE: usize = 12;
/// Bytes of a `CSUM_V3` tag (`journal_block_tag3_t`).
pub const TAG3_SIZE: usize = 16;
/// Bytes of the tag of a journal without `CSUM_V3` and with `64BIT`
/// (`journal_block_tag_t`); 4 fewer without `64BIT`.
pub const TAG_SIZE: usize = 12;
/// Bytes of the UUID that follows a tag without [`FLAG_SAME_UUID`].
pub const UUID_SIZE: usize = 16;
/// Bytes of the checksum that ends descriptor and revoke blocks
/// (`jbd2_journal_block_tail`).
pub const TAIL_SIZE: usize = 4;
/// Bytes of the header of a revoke block: the block header and `r_count`.
pub const REVOKE_HEADER_SIZE: usize = 16;
/// Offset of `h_chksum[0]` in a commit block.
pub const COMMIT_CHECKSUM: usize = 16;
/// Offset of `h_commit_sec` (big-endian 64 bits) in a commit block.
pub const COMMIT_SEC: usize = 48;
/// `sizeof(struct commit_header)`: the bytes a partially written commit
/// block is checked by.
pub const COMMIT_HEADER_SIZE: usize = 64;

/// Where a recovery reads the log and writes what it replays.
pub trait Log {
    /// Reads log block `n` (0 is the journal superblock) into `buf`.
    fn read(&mut self, n: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Why filesystem block `blocknr` may not be written by the replay, if
    /// it may not.
    fn bad_target(&self, blocknr: u64) -> Option<&'static str>;
    /// Writes `data` over filesystem block `blocknr`.
    fn write(&mut self, blocknr: u64, data: &[u8]) -> io::Result<()>;
}

/// What a recovery did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The first transaction of the log (the superblock's `s_sequence`).
    pub first_transaction: u32,
    /// The end of the log: the first transaction not in it, as the scan
    /// found it (or where the scan failed).
    pub end_transaction: u32,
    /// Transactions replayed: `first_transaction..end_transaction`, or none
    /// when a failure before the replay pass stopped the recovery.
    pub transactions: u32,
    /// Blocks written.
    pub replayed: u64,
    /// Logged blocks not written because a revoke record covers them.
    pub revoked: u64,
    /// A transaction whose commit block failed its checksum: the log was
    /// cut before it, as jbd2 cuts it (`j_failed_commit`, after which the
    /// kernel refuses to mount).
    pub failed_commit: Option<u32>,
    /// Why jbd2's recovery would fail (and the mount with it): a logged
    /// block that fails its checksum (it is not written, the others are),
    /// or a log too damaged to go on. Each message says where.
    pub errors: Vec<String>,
}

impl Recovery {
    /// The `s_sequence` of the emptied journal: one past the end of the
    /// log, as jbd2 restarts it (`++info.end_transaction`), so that no
    /// block left in the log can pass for a later transaction.
    pub fn next_sequence(&self) -> u32 {
        self.end_transaction.wrapping_add(1)
    }
}

/// Why a pass stopped early.
enum Stop {
    /// The device failed.
    Io(io::Error),
    /// The log is damaged: jbd2's recovery fails with this reason.
    Corrupt(String),
}

impl From<io::Error> for Stop {
    fn from(err: io::Error) -> Self {
        Stop::Io(err)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Scan,
    Revoke,
    Replay,
}

/// `tid_geq`: transaction IDs compare modulo 2^32.
fn tid_geq(x: u32, y: u32) -> bool {
    x.wrapping_sub(y) as i32 >= 0
}

/// `tid_gt`.
fn tid_gt(x: u32, y: u32) -> bool {
    x.wrapping_sub(y) as i32 > 0
}

fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn be64(b: &[u8], off: usize) -> u64 {
    (u64::from(be32(b, off)) << 32) | u64::from(be32(b, off + 4))
}

/// The state of one recovery, as jbd2's `journal_t` and `recovery_info`.
struct Recoverer<'a, L: Log> {
    log: &'a mut L,
    jsb: JournalSuperblock,
    seed: u32,
    csum: bool,
    wide: bool,
    /// Revoke records: block number, latest transaction revoking it.
    revoked: HashMap<u64, u32>,
    /// `info->end_transaction`, once the scan has found it.
    end: Option<u32>,
    /// The transaction the running pass has reached.
    reached: u32,
    rec: Recovery,
}

impl<L: Log> Recoverer<'_, L> {
    /// `jread`: log block `n`, which must lie in the journal.
    fn read(&mut self, n: u64, buf: &mut [u8]) -> Result<(), Stop> {
        if n >= u64::from(self.jsb.maxlen) {
            return Err(Stop::Corrupt(format!(
                "log block {n} is past the end of the journal"
            )));
        }
        Ok(self.log.read(n, buf)?)
    }

    /// The log block after `n`, wrapping around the end of the log.
    fn wrap(&self, n: u64) -> u64 {
        let (first, last) = (u64::from(self.jsb.first), u64::from(self.jsb.maxlen));
        if n >= last {
            n - (last - first)
        } else {
            n
        }
    }

    fn tag_bytes(&self) -> usize {
        match (self.csum, self.wide) {
            (true, _) => TAG3_SIZE,
            (false, true) => TAG_SIZE,
            (false, false) => TAG_SIZE - 4,
        }
    }

    /// Bytes of a descriptor or revoke block before its checksum tail.
    fn tags_end(&self) -> usize {
        BLOCK_SIZE - if self.csum { TAIL_SIZE } else { 0 }
    }

    /// `jbd2_descriptor_block_csum_verify`, for descriptor and revoke
    /// blocks.
    fn tail_ok(&self, block: &[u8]) -> bool {
        if !self.csum {
            return true;
        }
        let end = BLOCK_SIZE - TAIL_SIZE;
        let crc = jbd2_chksum(self.seed, &block[..end]);
        be32(block, end) == jbd2_chksum(crc, &[0; TAIL_SIZE])
    }

    /// `jbd2_commit_block_csum_verify`, and with `partial`
    /// `jbd2_commit_block_csum_verify_partial`: the checksum of the commit
    /// header followed by zeroes, for a commit block whose write was torn.
    fn commit_ok(&self, block: &[u8], partial: bool) -> bool {
        if !self.csum {
            return true;
        }
        let end = if partial {
            COMMIT_HEADER_SIZE
        } else {
            BLOCK_SIZE
        };
        let crc = jbd2_chksum(self.seed, &block[..COMMIT_CHECKSUM]);
        let crc = jbd2_chksum(crc, &[0; 4]);
        let mut crc = jbd2_chksum(crc, &block[COMMIT_CHECKSUM + 4..end]);
        if partial {
            crc = jbd2_chksum(crc, &[0; BLOCK_SIZE - COMMIT_HEADER_SIZE]);
        }
        be32(block, COMMIT_CHECKSUM) == crc
    }

    /// `jbd2_block_tag_csum_verify`: the tag at `tag` of a descriptor block
    /// of transaction `sequence` against its data block as logged.
    fn tag_ok(&self, desc: &[u8], tag: usize, data: &[u8], sequence: u32) -> bool {
        if !self.csum {
            return true;
        }
        let crc = jbd2_chksum(self.seed, &sequence.to_be_bytes());
        be32(desc, tag + 12) == jbd2_chksum(crc, data)
    }

    /// `read_tag_block`.
    fn tag_blocknr(&self, desc: &[u8], tag: usize) -> u64 {
        let low = u64::from(be32(desc, tag));
        if self.wide {
            low | (u64::from(be32(desc, tag + 8)) << 32)
        } else {
            low
        }
    }

    /// The offsets of the tags of a descriptor block (`count_tags`, and the
    /// walk of `jbd2_do_replay`), with their flags. `t_flags` is read as
    /// jbd2 reads it, through the 16-bit field of the older tag layout: the
    /// low half of the 32-bit `t_flags` of a `CSUM_V3` tag.
    fn tags(&self, desc: &[u8]) -> Vec<(usize, u16)> {
        let tag_bytes = self.tag_bytes();
        let mut tags = Vec::new();
        let mut at = HEADER_SIZE;
        while at + tag_bytes <= self.tags_end() {
            let flags = be16(desc, at + 6);
            tags.push((at, flags));
            at += tag_bytes;
            if flags & FLAG_SAME_UUID == 0 {
                at += UUID_SIZE;
            }
            if flags & FLAG_LAST_TAG != 0 {
                break;
            }
        }
        tags
    }

    /// `jbd2_journal_set_revoke`.
    fn set_revoke(&mut self, blocknr: u64, sequence: u32) {
        let latest = self.revoked.entry(blocknr).or_insert(sequence);
        if tid_gt(sequence, *latest) {
            *latest = sequence;
        }
    }

    /// `jbd2_journal_test_revoke`: whether a revoke record of transaction
    /// `sequence` or a later one covers `blocknr`.
    fn is_revoked(&self, blocknr: u64, sequence: u32) -> bool {
        self.revoked
            .get(&blocknr)
            .is_some_and(|&latest| !tid_gt(sequence, latest))
    }

    /// `scan_revoke_records`.
    fn scan_revoke(
        &mut self,
        pass: Pass,
        block: &[u8],
        sequence: u32,
        at: u64,
    ) -> Result<(), Stop> {
        let count = be32(block, HEADER_SIZE) as usize;
        if count > self.tags_end() {
            return Err(Stop::Corrupt(format!(
                "transaction {sequence}: revoke block (log block {at}): \
                 record count {count} exceeds the block"
            )));
        }
        if pass == Pass::Scan {
            return Ok(());
        }
        let record = if self.wide { 8 } else { 4 };
        let mut offset = REVOKE_HEADER_SIZE;
        while offset + record <= count {
            let blocknr = if self.wide {
                be64(block, offset)
            } else {
                u64::from(be32(block, offset))
            };
            offset += record;
            self.set_revoke(blocknr, sequence);
        }
        Ok(())
    }

    /// `jbd2_do_replay`: writes the blocks that descriptor block `desc` of
    /// transaction `sequence` describes, from `next` on in the log. Returns
    /// whether every one was written or revoked.
    fn replay_tags(&mut self, desc: &[u8], next: &mut u64, sequence: u32) -> Result<bool, Stop> {
        let mut clean = true;
        let mut data = vec![0; BLOCK_SIZE];
        for (tag, flags) in self.tags(desc) {
            let io_block = *next;
            *next = self.wrap(*next + 1);
            self.read(io_block, &mut data)?;
            let blocknr = self.tag_blocknr(desc, tag);
            let at = || format!("transaction {sequence}: block {blocknr} (log block {io_block})");
            if self.is_revoked(blocknr, sequence) {
                self.rec.revoked += 1;
            } else if !self.tag_ok(desc, tag, &data, sequence) {
                self.rec
                    .errors
                    .push(format!("{}: checksum mismatch, not replayed", at()));
                clean = false;
            } else if let Some(why) = self.log.bad_target(blocknr) {
                self.rec
                    .errors
                    .push(format!("{}: {why}, not replayed", at()));
                clean = false;
            } else {
                if flags & FLAG_ESCAPE != 0 {
                    data[..4].copy_from_slice(&JBD2_MAGIC.to_be_bytes());
                }
                self.log.write(blocknr, &data)?;
                self.rec.replayed += 1;
            }
        }
        Ok(clean)
    }

    /// `do_one_pass`. Returns whether the pass ended cleanly, where the
    /// scan said the log ends and with no block left unwritten.
    fn pass(&mut self, pass: Pass) -> Result<bool, Stop> {
        let mut next_commit_id = self.jsb.sequence;
        let mut next_log_block = u64::from(self.jsb.start);
        let mut need_check_commit_time = false;
        let mut last_commit_time = 0;
        let mut clean = true;
        let mut block = vec![0; BLOCK_SIZE];
        loop {
            self.reached = next_commit_id;
            if let (Pass::Revoke | Pass::Replay, Some(end)) = (pass, self.end) {
                if tid_geq(next_commit_id, end) {
                    break;
                }
            }
            let at = next_log_block;
            self.read(at, &mut block)?;
            next_log_block = self.wrap(next_log_block + 1);
            if be32(&block, 0) != JBD2_MAGIC || be32(&block, 8) != next_commit_id {
                break;
            }
            match be32(&block, 4) {
                DESCRIPTOR_BLOCK => {
                    if !self.tail_ok(&block) {
                        // The scan may meet a stale block of an earlier use
                        // of the log; what it is shows at the commit block.
                        if pass != Pass::Scan {
                            return Err(Stop::Corrupt(format!(
                                "transaction {next_commit_id}: descriptor block \
                                 (log block {at}): checksum mismatch"
                            )));
                        }
                        need_check_commit_time = true;
                    }
                    if pass == Pass::Replay {
                        clean &= self.replay_tags(&block, &mut next_log_block, next_commit_id)?;
                    } else {
                        let tags = self.tags(&block).len() as u64;
                        next_log_block = self.wrap(next_log_block + tags);
                    }
                }
                COMMIT_BLOCK => {
                    if pass != Pass::Scan {
                        next_commit_id = next_commit_id.wrapping_add(1);
                        continue;
                    }
                    let commit_time = be64(&block, COMMIT_SEC);
                    if need_check_commit_time {
                        // A later commit than the last one: this
                        // transaction is damaged. An earlier one: stale
                        // blocks, the end of the log.
                        if commit_time >= last_commit_time {
                            return Err(Stop::Corrupt(format!(
                                "transaction {next_commit_id}: a descriptor or revoke \
                                 block fails its checksum"
                            )));
                        }
                        break;
                    }
                    if !self.commit_ok(&block, false) && !self.commit_ok(&block, true) {
                        if commit_time < last_commit_time {
                            break;
                        }
                        // Without async_commit a bad commit block ends the
                        // log, and jbd2 refuses the journal.
                        self.end = Some(next_commit_id);
                        self.rec.failed_commit = Some(next_commit_id);
                        break;
                    }
                    last_commit_time = commit_time;
                    next_commit_id = next_commit_id.wrapping_add(1);
                }
                REVOKE_BLOCK => {
                    if pass == Pass::Replay {
                        continue;
                    }
                    if pass == Pass::Scan && !self.tail_ok(&block) {
                        need_check_commit_time = true;
                    }
                    self.scan_revoke(pass, &block, next_commit_id, at)?;
                }
                _ => break,
            }
        }
        self.reached = next_commit_id;
        match self.end {
            None => self.end = Some(next_commit_id),
            Some(end) if pass != Pass::Scan && end != next_commit_id => {
                self.rec.errors.push(format!(
                    "recovery pass ended at transaction {next_commit_id}, expected {end}"
                ));
                clean = false;
            }
            Some(_) => {}
        }
        Ok(clean)
    }

    /// `jbd2_journal_recover`: the three passes, each only if the one
    /// before ended cleanly.
    fn recover(&mut self) -> Result<(), Stop> {
        if self.pass(Pass::Scan)? && self.pass(Pass::Revoke)? {
            if let Some(end) = self.end {
                self.rec.transactions = end.wrapping_sub(self.jsb.sequence);
            }
            self.pass(Pass::Replay)?;
        }
        Ok(())
    }
}

/// Replays the transactions of the journal whose superblock is `jsb`
/// through `log`, as jbd2's recovery does at mount: the blocks of every
/// committed transaction, in order, except those revoked by the same or a
/// later transaction. Does not touch the journal superblock.
pub fn recover(log: &mut impl Log, jsb: &JournalSuperblock) -> io::Result<Recovery> {
    let mut r = Recoverer {
        seed: jsb.checksum_seed(),
        csum: jsb.feature_incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3 != 0,
        wide: jsb.feature_incompat & JBD2_FEATURE_INCOMPAT_64BIT != 0,
        log,
        jsb: *jsb,
        revoked: HashMap::new(),
        end: None,
        reached: jsb.sequence,
        rec: Recovery {
            first_transaction: jsb.sequence,
            end_transaction: jsb.sequence,
            ..Recovery::default()
        },
    };
    if jsb.needs_recovery() {
        match r.recover() {
            Ok(()) => {}
            Err(Stop::Io(err)) => return Err(err),
            Err(Stop::Corrupt(why)) => r.rec.errors.push(why),
        }
    }
    // A scan that failed has not said where the log ends: take where it got.
    r.rec.end_transaction = r.end.unwrap_or(r.reached);
    Ok(r.rec)
}

/// The journal region of a filesystem on a device, as a [`Log`].
pub struct Region<'a> {
    dev: &'a Device,
    g: Geometry,
}

impl<'a> Region<'a> {
    /// The journal of the filesystem laid out as `g` on `dev`.
    pub fn new(dev: &'a Device, g: &Geometry) -> Self {
        Region { dev, g: *g }
    }
}

impl Log for Region<'_> {
    fn read(&mut self, n: u64, buf: &mut [u8]) -> io::Result<()> {
        self.dev.read_blocks(self.g.journal_start + n, buf)
    }

    fn bad_target(&self, blocknr: u64) -> Option<&'static str> {
        if blocknr >= self.g.block_count {
            Some("past the end of the filesystem")
        } else if (self.g.journal_start..self.g.journal_start + self.g.journal_blocks)
            .contains(&blocknr)
        {
            Some("inside the journal")
        } else {
            None
        }
    }

    fn write(&mut self, blocknr: u64, data: &[u8]) -> io::Result<()> {
        self.dev.write_blocks(blocknr, data)
    }
}

/// What is wrong with a journal superblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSuperblock {
    /// Why it was rejected.
    pub why: String,
    /// Whether it is a journal of a kind this version does not know (its
    /// features or checksum type) rather than a damaged one.
    pub unknown_features: bool,
}

/// Reads and checks the journal superblock of the filesystem laid out as
/// `g` as jbd2 loads it, and that it spans the whole journal region.
pub fn read_superblock(
    dev: &Device,
    g: &Geometry,
) -> io::Result<Result<JournalSuperblock, BadSuperblock>> {
    let mut block = vec![0; BLOCK_SIZE];
    dev.read_blocks(g.journal_start, &mut block)?;
    let bad = |why: String, unknown_features| BadSuperblock {
        why,
        unknown_features,
    };
    if block[..4] != JBD2_MAGIC.to_be_bytes() {
        return Ok(Err(bad(FormatError::BadMagic.reason().into(), false)));
    }
    Ok(match JournalSuperblock::decode(&block, g.journal_blocks) {
        Err(
            e @ FormatError::BadField("unknown journal features" | "unknown journal checksum type"),
        ) => Err(bad(e.reason().into(), true)),
        Err(e) => Err(bad(e.reason().into(), false)),
        Ok(jsb) if u64::from(jsb.maxlen) != g.journal_blocks => Err(bad(
            format!(
                "the journal has {} blocks, but its region {}",
                jsb.maxlen, g.journal_blocks
            ),
            false,
        )),
        Ok(jsb) => Ok(jsb),
    })
}

/// Stores the state of `jsb` (sequence, start, errno) into the journal
/// superblock of the filesystem laid out as `g`, keeping its other fields.
pub fn store_state(dev: &Device, g: &Geometry, jsb: &JournalSuperblock) -> io::Result<()> {
    let mut block = vec![0; BLOCK_SIZE];
    dev.read_blocks(g.journal_start, &mut block)?;
    jsb.store_state(&mut block);
    dev.write_blocks(g.journal_start, &block)
}

/// Replays the journal of the filesystem laid out as `g`, whose superblock
/// is `jsb`, then marks it empty (`s_start` 0, `s_sequence` past the
/// log), as e2fsck does, even when the replay met errors: the replayed
/// blocks are synced before the journal superblock is written.
pub fn replay(dev: &Device, g: &Geometry, jsb: &JournalSuperblock) -> io::Result<Recovery> {
    let rec = recover(&mut Region::new(dev, g), jsb)?;
    dev.sync()?;
    let empty = JournalSuperblock {
        start: 0,
        sequence: rec.next_sequence(),
        ..*jsb
    };
    store_state(dev, g, &empty)?;
    dev.sync()?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ids_wrap() {
        assert!(tid_geq(5, 5) && tid_geq(6, 5) && !tid_geq(4, 5));
        assert!(tid_gt(1, u32::MAX) && !tid_gt(u32::MAX, 1));
        assert!(tid_geq(0, u32::MAX - 3));
    }

    #[test]
    fn next_sequence_wraps() {
        let rec = Recovery {
            end_transaction: u32::MAX,
            ..Recovery::default()
        };
        assert_eq!(rec.next_sequence(), 0);
    }
}
