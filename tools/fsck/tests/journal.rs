// SPDX-License-Identifier: GPL-2.0
//! fsck.rexfs replaying the journal: logs written by hand into the journal
//! of a filesystem made by mkfs.rexfs, and one written by e2fsprogs'
//! debugfs and replayed by e2fsck for comparison.

#[path = "../../mkfs/tests/common/mod.rs"]
mod common;
mod edit;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::Image;
use edit::{
    check, expect, formatted, journal_superblock, messages, pattern, repair, Fs, LogWriter, MIB,
};
use rexfs_format::{JournalSuperblock, BLOCK_SIZE};
use rexfs_fsck::exit;
use rexfs_fsck::journal::{recover, Log};

/// Data blocks of the 16 MiB test filesystem nothing owns.
const X: u64 = 2000;
const Y: u64 = 2001;
const Z: u64 = 2002;

/// Every block of `image` but those of its journal.
fn outside_journal(image: &Image) -> Vec<Vec<u8>> {
    let fs = Fs::open(image);
    let g = fs.g();
    (0..g.block_count)
        .filter(|b| !(g.journal_start..g.data_start).contains(b))
        .map(|b| fs.read(b))
        .collect()
}

/// The blocks of `image` (outside its journal) that differ from `before`.
fn changed(image: &Image, before: &[Vec<u8>]) -> Vec<u64> {
    let g = Fs::open(image).g();
    let blknos = (0..g.block_count).filter(|b| !(g.journal_start..g.data_start).contains(b));
    blknos
        .zip(outside_journal(image).iter().zip(before))
        .filter(|(_, (now, was))| now != was)
        .map(|(b, _)| b)
        .collect()
}

/// Replays `image` as `fsck.rexfs -y` does and expects `problems` (all
/// done) and exit status `code`; then the journal is empty and the next
/// transaction is `sequence`, and a check finds nothing.
fn expect_replayed(image: &Image, problems: &[&str], code: u8, sequence: u32) {
    let fsck = repair(image);
    assert_eq!(messages(&fsck), problems);
    assert_eq!(fsck.exit_code(), code);
    let jsb = journal_superblock(&Fs::open(image));
    assert_eq!((jsb.start, jsb.sequence), (0, sequence));
    expect(image, &[], exit::OK);
}

const NOT_REPLAYED: &str = ": the journal holds transactions not yet replayed: mount the \
                            filesystem (which replays them) or run fsck.rexfs -y to replay them";

#[test]
fn a_dirty_journal_stops_a_read_only_check() {
    let image = formatted();
    let fs = Fs::open(&image);
    let mut log = LogWriter::new(&fs, 1);
    log.descriptor(1, &[(X, &pattern(1, false))]);
    log.commit(1, 100);
    log.finish(1, 1);
    let path = image.path().display();
    expect(
        &image,
        &[&format!("{path}{NOT_REPLAYED}")],
        exit::UNCORRECTED,
    );
    assert_eq!(check(&image).summary(), None, "nothing else checked");
}

/// Two tags in a descriptor block, one of a block that starts with the
/// jbd2 magic (escaped in the log, restored by the replay); a later
/// transaction revokes it; a third logs it again.
#[test]
fn escaped_and_revoked_blocks() {
    let image = formatted();
    let before = outside_journal(&image);
    let fs = Fs::open(&image);
    let (x1, y1) = (pattern(0x11, false), pattern(0x22, true));
    let mut log = LogWriter::new(&fs, 1);
    let (_, logged) = log.descriptor(1, &[(X, &x1), (Y, &y1)]);
    // The copy in the log has the magic zeroed.
    assert_eq!(fs.read(logged[1])[..4], [0; 4]);
    log.commit(1, 100);
    log.revoke(2, &[Y]);
    log.commit(2, 101);
    log.finish(1, 1);
    expect_replayed(
        &image,
        &["journal: transactions 1-2 replayed (1 block written, 1 revoked); journal emptied"],
        exit::CORRECTED,
        4,
    );
    assert_eq!(changed(&image, &before), [X]);
    assert_eq!(fs.read(X), x1);

    // Logged again after the revoke: replayed, with its magic restored.
    let (x3, y3) = (pattern(0x33, false), pattern(0x44, true));
    let mut log = LogWriter::new(&fs, 10);
    log.descriptor(3, &[(Y, &pattern(0x55, false)), (X, &x3)]);
    log.commit(3, 200);
    log.revoke(4, &[Y, Z]);
    log.commit(4, 201);
    log.descriptor(5, &[(Y, &y3)]);
    log.commit(5, 202);
    log.finish(10, 3);
    expect_replayed(
        &image,
        &["journal: transactions 3-5 replayed (2 blocks written, 1 revoked); journal emptied"],
        exit::CORRECTED,
        7,
    );
    assert_eq!(changed(&image, &before), [X, Y]);
    assert_eq!((fs.read(X), fs.read(Y)), (x3, y3));
}

/// A transaction without its commit block is not replayed: the crash
/// came before it committed.
#[test]
fn missing_commit_block() {
    let image = formatted();
    let before = outside_journal(&image);
    let fs = Fs::open(&image);
    let mut log = LogWriter::new(&fs, 1);
    log.descriptor(7, &[(X, &pattern(1, false))]);
    log.commit(7, 100);
    log.descriptor(8, &[(Y, &pattern(2, false))]);
    log.finish(1, 7);
    expect_replayed(
        &image,
        &["journal: transaction 7 replayed (1 block written, 0 revoked); journal emptied"],
        exit::CORRECTED,
        9,
    );
    assert_eq!(changed(&image, &before), [X]);
}

/// A block of an older transaction where the next one should be ends the
/// log, as does a block without the magic.
#[test]
fn stale_blocks_end_the_log() {
    let image = formatted();
    let before = outside_journal(&image);
    let fs = Fs::open(&image);
    let mut log = LogWriter::new(&fs, 1);
    log.descriptor(3, &[(X, &pattern(1, false))]);
    log.commit(3, 100);
    // Left from an earlier pass over the log: transaction 2.
    log.descriptor(2, &[(Y, &pattern(2, false))]);
    log.commit(2, 50);
    log.finish(1, 3);
    expect_replayed(
        &image,
        &["journal: transaction 3 replayed (1 block written, 0 revoked); journal emptied"],
        exit::CORRECTED,
        5,
    );
    assert_eq!(changed(&image, &before), [X]);
}

/// A data block whose tag checksum does not match is not written, the
/// others are, and the recovery fails as jbd2's does: the filesystem is
/// checked as the replay left it and the journal emptied, as e2fsck does.
#[test]
fn bad_tag_checksum() {
    let image = formatted();
    let before = outside_journal(&image);
    let fs = Fs::open(&image);
    let mut log = LogWriter::new(&fs, 1);
    let (_, logged) = log.descriptor(1, &[(X, &pattern(1, false)), (Y, &pattern(2, false))]);
    log.commit(1, 100);
    log.descriptor(2, &[(Z, &pattern(3, false))]);
    log.commit(2, 101);
    log.finish(1, 1);
    fs.flip(logged[1], 4000);
    let fsck = repair(&image);
    assert_eq!(
        messages(&fsck),
        [
            "journal: transactions 1-2 replayed (2 blocks written, 0 revoked); journal emptied",
            &format!(
                "journal: transaction 1: block {Y} (log block 3): checksum mismatch, not replayed"
            ),
        ]
    );
    assert_eq!(fsck.exit_code(), exit::UNCORRECTED);
    assert_eq!(changed(&image, &before), [X, Z]);
    assert_eq!(journal_superblock(&fs).start, 0);
    expect(&image, &[], exit::OK);
}

/// A commit block that fails its checksum cuts the log before its
/// transaction (jbd2 then refuses the journal: `j_failed_commit`); the
/// transactions before it are replayed.
#[test]
fn bad_commit_checksum() {
    let image = formatted();
    let before = outside_journal(&image);
    let fs = Fs::open(&image);
    let mut log = LogWriter::new(&fs, 1);
    log.descriptor(1, &[(X, &pattern(1, false))]);
    log.commit(1, 100);
    log.descriptor(2, &[(Y, &pattern(2, false))]);
    let commit = log.commit(2, 101);
    log.descriptor(3, &[(Z, &pattern(3, false))]);
    log.commit(3, 102);
    log.finish(1, 1);
    fs.flip(commit, 60);
    expect_replayed(
        &image,
        &[
            "journal: transaction 1 replayed (1 block written, 0 revoked); journal emptied",
            "journal: transaction 2 is corrupt (its commit block fails its checksum): \
             the replay stopped before it",
        ],
        exit::CORRECTED,
        3,
    );
    assert_eq!(changed(&image, &before), [X]);
}

/// Commit blocks that fail their checksum but were committed before the
/// last good one are stale: the log ends there, nothing is corrupt. A
/// commit block torn after its header still commits.
#[test]
fn stale_and_torn_commit_blocks() {
    let image = formatted();
    let before = outside_journal(&image);
    let fs = Fs::open(&image);
    let mut log = LogWriter::new(&fs, 1);
    log.descriptor(1, &[(X, &pattern(1, false))]);
    let torn = log.commit(1, 100);
    log.descriptor(2, &[(Y, &pattern(2, false))]);
    let stale = log.commit(2, 99);
    log.finish(1, 1);
    fs.flip(torn, 1000);
    fs.flip(stale, 60);
    expect_replayed(
        &image,
        &["journal: transaction 1 replayed (1 block written, 0 revoked); journal emptied"],
        exit::CORRECTED,
        3,
    );
    assert_eq!(changed(&image, &before), [X]);
}

/// A descriptor block that fails its checksum in a transaction committed
/// after the previous one is corruption: jbd2's scan fails and nothing is
/// replayed. Committed before it, it is stale and ends the log.
#[test]
fn bad_descriptor_checksum() {
    for (time, problems, code, written) in [
        (
            101,
            &[
                "journal: no transaction replayed; journal emptied",
                "journal: transaction 2: a descriptor or revoke block fails its checksum",
            ][..],
            exit::UNCORRECTED,
            &[][..],
        ),
        (
            99,
            &["journal: transaction 1 replayed (1 block written, 0 revoked); journal emptied"],
            exit::CORRECTED,
            &[X],
        ),
    ] {
        let image = formatted();
        let before = outside_journal(&image);
        let fs = Fs::open(&image);
        let mut log = LogWriter::new(&fs, 1);
        log.descriptor(1, &[(X, &pattern(1, false))]);
        log.commit(1, 100);
        let (desc, _) = log.descriptor(2, &[(Y, &pattern(2, false))]);
        log.commit(2, time);
        log.finish(1, 1);
        fs.flip(desc, 2000);
        let fsck = repair(&image);
        assert_eq!(messages(&fsck), problems, "commit time {time}");
        assert_eq!(fsck.exit_code(), code);
        assert_eq!(changed(&image, &before), written);
        assert_eq!(journal_superblock(&fs).sequence, 3);
    }
}

/// The log wraps from its last block to its first (log block 1).
#[test]
fn log_wraps_around() {
    let image = formatted();
    let before = outside_journal(&image);
    let fs = Fs::open(&image);
    let mut log = LogWriter::new(&fs, 1021);
    // Descriptor at 1021, copies at 1022, 1023, 1, then a revoke at 2 and
    // the commit at 3.
    let (_, logged) = log.descriptor(
        40,
        &[
            (X, &pattern(1, true)),
            (Y, &pattern(2, false)),
            (Z, &pattern(3, false)),
        ],
    );
    let g = fs.g();
    assert_eq!(
        logged,
        [
            g.journal_start + 1022,
            g.journal_start + 1023,
            g.journal_start + 1
        ]
    );
    log.revoke(40, &[Y]);
    log.commit(40, 100);
    log.descriptor(41, &[(Y, &pattern(4, false))]);
    log.commit(41, 100);
    log.finish(1021, 40);
    expect_replayed(
        &image,
        &["journal: transactions 40-41 replayed (3 blocks written, 1 revoked); journal emptied"],
        exit::CORRECTED,
        43,
    );
    assert_eq!(changed(&image, &before), [X, Y, Z]);
    assert_eq!(
        [fs.read(X), fs.read(Y), fs.read(Z)],
        [pattern(1, true), pattern(4, false), pattern(3, false)]
    );
}

/// Tags naming a block outside the filesystem or inside the journal are
/// not replayed.
#[test]
fn bad_targets() {
    let image = formatted();
    let before = outside_journal(&image);
    let fs = Fs::open(&image);
    let g = fs.g();
    let mut log = LogWriter::new(&fs, 1);
    log.descriptor(
        1,
        &[
            (g.journal_start + 5, &pattern(1, false)),
            (X, &pattern(2, false)),
            (1 << 40, &pattern(3, false)),
        ],
    );
    log.commit(1, 100);
    log.finish(1, 1);
    let fsck = repair(&image);
    assert_eq!(
        messages(&fsck),
        [
            "journal: transaction 1 replayed (1 block written, 0 revoked); journal emptied",
            "journal: transaction 1: block 71 (log block 2): inside the journal, not replayed",
            "journal: transaction 1: block 1099511627776 (log block 4): past the end of the \
             filesystem, not replayed",
        ]
    );
    assert_eq!(fsck.exit_code(), exit::UNCORRECTED);
    assert_eq!(changed(&image, &before), [X]);
}

/// The end to end case: a file created through the journal. The image
/// holds the filesystem before the transaction, the journal the blocks
/// after; `fsck.rexfs -n` refuses it, `-y` replays it into exactly the
/// filesystem with the file, which checks clean.
#[test]
fn a_file_created_through_the_journal() {
    let image = formatted();
    let after = Image::new(16 * MIB);
    fs::copy(image.path(), after.path()).unwrap();
    let mut target = Fs::open(&after);
    target.create(2, &edit::inline_file(b"journaled"));
    target.add_dir_block(1, &[("f", 2, rexfs_format::file_type::REG)]);
    let before = outside_journal(&image);
    let blocks = changed(&after, &before);
    let g = target.g();
    // The superblock, a bitmap block, an inode-table block, the directory
    // block.
    assert_eq!(
        blocks,
        [0, g.bitmap_start, g.inode_table_start, g.data_start]
    );
    let fs = Fs::open(&image);
    let mut log = LogWriter::new(&fs, 1);
    let contents: Vec<Vec<u8>> = blocks.iter().map(|&b| target.read(b)).collect();
    let tags: Vec<(u64, &[u8])> = blocks
        .iter()
        .copied()
        .zip(contents.iter().map(|c| &c[..]))
        .collect();
    log.descriptor(1, &tags);
    log.commit(1, 100);
    log.finish(1, 1);

    let fsck = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fsck-rexfs"))
            .args(args)
            .arg(image.path())
            .output()
            .unwrap()
    };
    let path = image.path().display();
    let refused = fsck(&["-n"]);
    assert_eq!(refused.status.code(), Some(4));
    assert_eq!(
        String::from_utf8_lossy(&refused.stdout),
        format!("fsck.rexfs: {path}{NOT_REPLAYED}\n")
    );
    let replayed = fsck(&["-y"]);
    assert_eq!(replayed.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&replayed.stdout),
        "fsck.rexfs: journal: transaction 1 replayed (4 blocks written, 0 revoked); \
         journal emptied\n"
    );
    assert_eq!(fsck(&["-n"]).status.code(), Some(0));
    assert_eq!(outside_journal(&image), outside_journal(&after));
    assert_eq!(Fs::open(&image).inode(2).size, 9);
}

/// The recovery on its own, over a log in memory.
struct MemoryLog {
    blocks: Vec<Vec<u8>>,
    written: Vec<(u64, Vec<u8>)>,
}

impl Log for MemoryLog {
    fn read(&mut self, n: u64, buf: &mut [u8]) -> std::io::Result<()> {
        buf.copy_from_slice(&self.blocks[n as usize]);
        Ok(())
    }

    fn bad_target(&self, _: u64) -> Option<&'static str> {
        None
    }

    fn write(&mut self, blocknr: u64, data: &[u8]) -> std::io::Result<()> {
        self.written.push((blocknr, data.to_vec()));
        Ok(())
    }
}

/// The blocks are written in log order, a block logged twice twice, the
/// later copy last.
#[test]
fn replay_order() {
    let image = formatted();
    let fs = Fs::open(&image);
    let mut log = LogWriter::new(&fs, 1);
    log.descriptor(1, &[(X, &pattern(1, false)), (Y, &pattern(2, false))]);
    log.commit(1, 100);
    log.descriptor(2, &[(X, &pattern(3, false))]);
    log.commit(2, 101);
    log.finish(1, 1);
    let g = fs.g();
    let blocks = (0..g.journal_blocks)
        .map(|n| fs.read(g.journal_start + n))
        .collect();
    let mut memory = MemoryLog {
        blocks,
        written: Vec::new(),
    };
    let rec = recover(&mut memory, &journal_superblock(&fs)).unwrap();
    assert_eq!((rec.first_transaction, rec.end_transaction), (1, 3));
    assert_eq!((rec.replayed, rec.revoked, rec.failed_commit), (3, 0, None));
    assert!(rec.errors.is_empty());
    assert_eq!(
        memory.written,
        [
            (X, pattern(1, false)),
            (Y, pattern(2, false)),
            (X, pattern(3, false))
        ]
    );
}

/// Where a program of e2fsprogs is, if installed.
fn e2fsprogs(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|path| path.exists())
}

/// A log written by e2fsprogs' own jbd2 writer (`debugfs -w`, `jo -c`,
/// `jw`), copied into a rexfs journal: fsck.rexfs replays into the rexfs
/// image what `e2fsck -E journal_only` replays into the ext4 one, and
/// leaves the journal superblock as e2fsck does. Skipped without
/// e2fsprogs.
#[test]
fn replays_what_e2fsck_replays() {
    let (Some(mke2fs), Some(debugfs), Some(e2fsck)) = (
        e2fsprogs("mke2fs"),
        e2fsprogs("debugfs"),
        e2fsprogs("e2fsck"),
    ) else {
        return;
    };
    let ext4 = Image::new(64 * MIB);
    let made = Command::new(mke2fs)
        .args(["-q", "-F", "-t", "ext4", "-b", "4096"])
        .arg(ext4.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let dir = std::env::temp_dir().join(format!("rexfs-test-jbd2-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let data = |name: &str, blocks: &[Vec<u8>]| {
        let path = dir.join(name);
        fs::write(&path, blocks.concat()).unwrap();
        path.display().to_string()
    };
    // Transaction 1: 9000, and 9001 starting with the magic; 2 revokes
    // 9001; 3 logs 9001 again and 9002; 4 is not committed.
    let t1 = data("t1", &[pattern(0x11, false), pattern(0x22, true)]);
    let t3 = data("t3", &[pattern(0x33, true), pattern(0x44, false)]);
    let t4 = data("t4", &[pattern(0x55, false)]);
    let script = format!(
        "jo -c -v 3\njw -b 9000,9001 {t1}\njw -r 9001\njw -b 9001,9002 {t3}\n\
         jw -b 9003 -c {t4}\njc\n"
    );
    let script_path = dir.join("script");
    fs::write(&script_path, script).unwrap();
    let ran = Command::new(&debugfs)
        .arg("-w")
        .arg("-f")
        .arg(&script_path)
        .arg(ext4.path())
        .output()
        .unwrap();
    assert!(ran.status.success(), "{ran:?}");
    let journal = dir.join("journal");
    let dumped = Command::new(&debugfs)
        .arg("-R")
        .arg(format!("dump <8> {}", journal.display()))
        .arg(ext4.path())
        .output()
        .unwrap();
    assert!(dumped.status.success(), "{dumped:?}");
    let log = fs::read(&journal).unwrap();
    assert_eq!(log.len(), 1024 * BLOCK_SIZE, "mke2fs's journal of 4 MiB");

    let rexfs = Image::formatted(64 * MIB, &["-q", "-J", "size=4"]);
    let fs = Fs::open(&rexfs);
    let g = fs.g();
    assert!(g.data_start <= 9000);
    for (n, block) in log.chunks_exact(BLOCK_SIZE).enumerate() {
        fs.write(g.journal_start + n as u64, block);
    }
    let theirs = JournalSuperblock::decode(&fs.read(g.journal_start), 1024).unwrap();
    assert!(theirs.needs_recovery());
    let fsck = repair(&rexfs);
    assert_eq!(
        messages(&fsck),
        ["journal: transactions 1-3 replayed (3 blocks written, 1 revoked); journal emptied"]
    );

    let replayed = Command::new(e2fsck)
        .args(["-y", "-E", "journal_only"])
        .arg(ext4.path())
        .output()
        .unwrap();
    assert!(
        matches!(replayed.status.code(), Some(0 | 1)),
        "{replayed:?}"
    );
    let ext4_dev = ext4.open();
    let mut block = vec![0; BLOCK_SIZE];
    for (blocknr, expected) in [
        (9000, pattern(0x11, false)),
        (9001, pattern(0x33, true)),
        (9002, pattern(0x44, false)),
        (9003, vec![0; BLOCK_SIZE]),
    ] {
        ext4_dev.read_blocks(blocknr, &mut block).unwrap();
        assert_eq!(block, expected, "e2fsck: block {blocknr}");
        assert_eq!(fs.read(blocknr), expected, "fsck.rexfs: block {blocknr}");
    }
    let dumped = Command::new(&debugfs)
        .arg("-R")
        .arg(format!("dump <8> {}", journal.display()))
        .arg(ext4.path())
        .output()
        .unwrap();
    assert!(dumped.status.success(), "{dumped:?}");
    let e2fsck_jsb =
        JournalSuperblock::decode(&fs::read(&journal).unwrap()[..BLOCK_SIZE], 1024).unwrap();
    let ours = journal_superblock(&fs);
    assert_eq!((ours.start, ours.sequence), (0, 5));
    assert_eq!(
        (e2fsck_jsb.start, e2fsck_jsb.sequence),
        (ours.start, ours.sequence)
    );
    fs::remove_dir_all(&dir).unwrap();
}
