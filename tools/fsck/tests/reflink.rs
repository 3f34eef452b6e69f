// SPDX-License-Identifier: GPL-2.0
//! fsck.rexfs on shared blocks (reflink, issue 17): clones that the
//! refcount table counts are clean; each disagreement between the table,
//! the extents, the bitmap and the inodes' shared flag is found by a check
//! and repaired; the copy-on-write staging blocks a crash left are pending
//! frees, as orphan inodes are.

#[path = "../../mkfs/tests/common/mod.rs"]
mod common;
mod edit;

use std::process::Command;

use edit::{
    check, expect, expect_repaired, extent, file, formatted, formatted_without_reflink, messages,
    repair, Fs, LogWriter,
};
use rexfs_format::{
    file_type, refcount_location, DiskInode, Extent, INODE_SHARED, REFCOUNT_STAGING, ROOT_INO,
};
use rexfs_fsck::exit;

/// Inode 2, file "a" of two blocks, and inode 3, "b", its clone: both map
/// the same two blocks, counted 2 in the refcount table, and both are
/// flagged shared. Returns the two blocks.
fn two_clones(fs: &mut Fs) -> (u64, u64) {
    let (first, second) = (fs.alloc(), fs.alloc());
    assert_eq!(second, first + 1);
    let data = Extent {
        logical: 0,
        physical: first,
        len: 2,
        flags: 0,
    };
    fs.create(2, &file(&[data]));
    fs.clone_file(2, 3);
    fs.add_dir_block(
        ROOT_INO,
        &[("a", 2, file_type::REG), ("b", 3, file_type::REG)],
    );
    (first, second)
}

fn is_shared(fs: &Fs, ino: u64) -> bool {
    fs.inode(ino).flags & INODE_SHARED != 0
}

#[test]
fn shared_blocks_are_clean() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let (first, second) = two_clones(&mut fs);
    assert_eq!(first, fs.g().data_start);
    assert_eq!((fs.refcount(first), fs.refcount(second)), (2, 2));
    assert!(is_shared(&fs, 2) && is_shared(&fs, 3));
    expect(&image, &[], exit::OK);
    // Shared blocks are used once: two data blocks and a directory block.
    let s = check(&image).summary().unwrap();
    assert_eq!((s.inodes_used, s.blocks_used), (3, 1095 + 3));

    // A third clone: counted 3. A file mapping one block twice (a clone
    // within the file): counted 2.
    fs.clone_file(2, 4);
    let single = fs.alloc();
    let twice = DiskInode {
        flags: INODE_SHARED,
        ..file(&[extent(0, single), extent(1, single)])
    };
    fs.create(5, &twice);
    fs.set_refcount(single, 2);
    fs.add_dir_block(
        ROOT_INO,
        &[("c", 4, file_type::REG), ("d", 5, file_type::REG)],
    );
    assert_eq!((fs.refcount(first), fs.refcount(second)), (3, 3));
    expect(&image, &[], exit::OK);
}

/// An entry that is not the number of extents mapping its shared block.
#[test]
fn wrong_refcounts() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let (first, second) = two_clones(&mut fs);
    fs.set_refcount(first, 3);
    let problem = format!("block {first}: refcount 3, mapped 2 times");
    expect(&image, &[&problem], exit::UNCORRECTED);
    expect_repaired(&image, &[&problem]);
    assert_eq!(fs.refcount(first), 2);

    // Clones the table does not know: a write would overwrite them in place.
    fs.set_refcount(first, 0);
    fs.set_refcount(second, 0);
    let problem = format!("blocks {first}-{second}: refcount 0, mapped 2 times");
    expect(&image, &[&problem], exit::UNCORRECTED);
    expect_repaired(&image, &[&problem]);
    assert_eq!((fs.refcount(first), fs.refcount(second)), (2, 2));
}

/// Counts on blocks mapped once, not at all, or by a directory.
#[test]
fn refcounts_of_blocks_not_shared() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let data = fs.alloc();
    fs.create(2, &file(&[extent(0, data)]));
    let dir_block = fs.add_dir_block(ROOT_INO, &[("f", 2, file_type::REG)]);
    let free = fs.g().data_start + 500;
    assert!(data < dir_block && dir_block < free && !fs.bit(free));
    expect(&image, &[], exit::OK);
    fs.set_refcount(data, 2);
    fs.set_refcount(dir_block, 2);
    fs.set_refcount(free, 5);
    let problems = [
        format!("block {data}: refcount 2, mapped 1 time"),
        format!("block {dir_block}: refcount 2 on a block that is never shared"),
        format!("block {free}: refcount 5, mapped 0 times"),
    ];
    let problems = problems.each_ref().map(String::as_str);
    expect(&image, &problems, exit::UNCORRECTED);
    expect_repaired(&image, &problems);
    for blkno in [data, dir_block, free] {
        assert_eq!(fs.refcount(blkno), 0, "{blkno}");
    }
    assert!(!fs.bit(free));
}

/// What the table block's verifier rejects: an entry of 1, an entry of a
/// block outside the data area. The block is rewritten whole.
#[test]
fn refcount_rules_of_the_table_block() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let (first, _) = two_clones(&mut fs);
    let g = fs.g();
    let (table, _) = refcount_location(&g, first);
    let data = fs.alloc();
    fs.create(4, &file(&[extent(0, data)]));
    fs.add_dir_block(ROOT_INO, &[("single", 4, file_type::REG)]);
    assert_eq!(refcount_location(&g, data).0, table);
    expect(&image, &[], exit::OK);

    // Never 1: a block mapped once is not shared.
    fs.set_refcount(data, 1);
    let problem = format!("refcount block {table}: refcount of 1");
    expect(&image, &[&problem], exit::UNCORRECTED);
    expect_repaired(&image, &[&problem]);
    assert_eq!((fs.refcount(data), fs.refcount(first)), (0, 2));

    // The last metadata block (the table's own last block), and a block
    // past the end of the device in the last table block.
    let (last, _) = refcount_location(&g, g.block_count);
    for (blkno, table) in [(g.data_start - 1, table), (g.block_count, last)] {
        fs.set_refcount(blkno, 2);
        let problem = format!("refcount block {table}: refcount of a block outside the data area");
        expect(&image, &[&problem], exit::UNCORRECTED);
        expect_repaired(&image, &[&problem]);
        assert_eq!(fs.refcount(blkno), 0);
    }
    assert_eq!(fs.refcount(first), 2);
}

/// A refcount table block that fails its checksum: rewritten from the
/// counts.
#[test]
fn corrupt_refcount_block() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let (first, second) = two_clones(&mut fs);
    let (table, _) = refcount_location(&fs.g(), first);
    fs.flip(table, 1000);
    let problem = format!("refcount block {table}: checksum mismatch");
    expect(&image, &[&problem], exit::UNCORRECTED);
    expect_repaired(&image, &[&problem]);
    assert_eq!((fs.refcount(first), fs.refcount(second)), (2, 2));
}

/// The staging value on a block an extent maps, or that the bitmap shows
/// free, is damage: the mount would free a block in use, or free a free
/// block again.
#[test]
fn staging_entries_on_blocks_in_use_or_free() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let (first, _) = two_clones(&mut fs);
    fs.set_refcount(first, REFCOUNT_STAGING);
    let problem = format!("block {first}: COW staging entry, mapped 2 times");
    expect(&image, &[&problem], exit::UNCORRECTED);
    expect_repaired(&image, &[&problem]);
    assert_eq!(fs.refcount(first), 2);

    let free = fs.g().data_start + 500;
    fs.set_refcount(free, REFCOUNT_STAGING);
    let problem = format!("block {free}: COW staging entry on a free block");
    expect(&image, &[&problem], exit::UNCORRECTED);
    expect_repaired(&image, &[&problem]);
    assert_eq!(fs.refcount(free), 0);
    assert!(!fs.bit(free));
}

/// Every inode that maps a shared block is flagged shared.
#[test]
fn missing_shared_flag() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    two_clones(&mut fs);
    fs.set_shared(3, false);
    let problem = "inode 3: maps shared blocks but is not flagged shared";
    expect(&image, &[problem], exit::UNCORRECTED);
    expect_repaired(&image, &[problem]);
    assert!(is_shared(&fs, 3));

    fs.set_shared(2, false);
    fs.set_shared(3, false);
    let problems = [
        "inode 2: maps shared blocks but is not flagged shared",
        "inode 3: maps shared blocks but is not flagged shared",
    ];
    expect(&image, &problems, exit::UNCORRECTED);
    expect_repaired(&image, &problems);
    assert!(is_shared(&fs, 2) && is_shared(&fs, 3));
}

/// An extent pointed at another file's block (as a clone made without the
/// table): the count, both shared flags, the block it mapped before (now
/// leaked) and the free count are repaired into a proper clone.
#[test]
fn extent_pointed_at_another_file() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let (a, b) = (fs.alloc(), fs.alloc());
    fs.create(2, &file(&[extent(0, a)]));
    fs.create(3, &file(&[extent(0, b)]));
    fs.add_dir_block(
        ROOT_INO,
        &[("x", 2, file_type::REG), ("y", 3, file_type::REG)],
    );
    expect(&image, &[], exit::OK);
    fs.point_extent(3, 0, a);
    let free_blocks = fs.sb.free_blocks;
    let problems = [
        format!("block {a}: refcount 0, mapped 2 times"),
        "inode 2: maps shared blocks but is not flagged shared".into(),
        "inode 3: maps shared blocks but is not flagged shared".into(),
        format!("block {b}: marked used but not owned"),
        format!(
            "superblock: free block count is {free_blocks}, should be {}",
            free_blocks + 1
        ),
    ];
    let problems = problems.each_ref().map(String::as_str);
    expect(&image, &problems, exit::UNCORRECTED);
    expect_repaired(&image, &problems);
    assert_eq!(fs.refcount(a), 2);
    assert!(is_shared(&fs, 2) && is_shared(&fs, 3));
    assert!(fs.bit(a) && !fs.bit(b));
}

/// With reflink, a block is still shared only between files' extents: a
/// file mapping a directory block is a cross-link, whatever the table says.
#[test]
fn file_mapping_a_directory_block() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let dir_block = fs.add_dir_block(ROOT_INO, &[("f", 2, file_type::REG)]);
    let inode = DiskInode {
        flags: INODE_SHARED,
        ..file(&[extent(0, dir_block)])
    };
    fs.create(2, &inode);
    fs.set_refcount(dir_block, 2);
    let cross_link = format!("block {dir_block}: used by inode 1 and inode 2");
    let count = format!("block {dir_block}: refcount 2 on a block that is never shared");
    expect(&image, &[&cross_link, &count], exit::UNCORRECTED);
    // The count is repaired; the cross-link is not.
    let fsck = repair(&image);
    assert_eq!(
        messages(&fsck),
        [cross_link.clone(), format!("{count} (fixed)")]
    );
    assert_eq!(fsck.exit_code(), exit::UNCORRECTED);
    expect(&image, &[&cross_link], exit::UNCORRECTED);
    assert_eq!(fs.refcount(dir_block), 0);
}

/// Without the reflink feature, no inode may carry the shared flag (nor
/// may blocks be shared: see `two_inodes_claim_a_block` in fsck.rs).
#[test]
fn shared_flag_without_reflink() {
    let image = formatted_without_reflink();
    let mut fs = Fs::open(&image);
    assert!(!fs.g().has_refcounts());
    let data = fs.alloc();
    let inode = DiskInode {
        flags: INODE_SHARED,
        ..file(&[extent(0, data)])
    };
    fs.create(2, &inode);
    fs.add_dir_block(ROOT_INO, &[("f", 2, file_type::REG)]);
    let problem = "inode 2: shared flag without the reflink feature";
    expect(&image, &[problem], exit::UNCORRECTED);
    expect_repaired(&image, &[problem]);
    assert!(!is_shared(&fs, 2));
}

/// An orphan that was a clone: freeing it (as the next mount, or a repair)
/// takes its references off the table.
#[test]
fn orphan_clone_is_released() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let first = fs.alloc();
    fs.create(2, &file(&[extent(0, first)]));
    fs.clone_file(2, 3);
    fs.add_dir_block(ROOT_INO, &[("a", 2, file_type::REG)]);
    fs.update_inode(3, |inode| inode.nlink = 0);
    fs.sb.orphan_head = 3;
    fs.save_superblock();
    let free_blocks = fs.sb.free_blocks;
    assert_eq!(fs.refcount(first), 2);
    expect(
        &image,
        &["1 orphan inode (freed at the next mount)"],
        exit::OK,
    );
    let fsck = repair(&image);
    assert_eq!(messages(&fsck), ["1 orphan inode freed"]);
    assert_eq!(fsck.exit_code(), exit::CORRECTED);
    expect(&image, &[], exit::OK);
    let fs = Fs::open(&image);
    assert!(fs.inode(3).is_free());
    // Mapped once now: not shared, still in use.
    assert_eq!(fs.refcount(first), 0);
    assert!(fs.bit(first));
    assert_eq!((fs.sb.orphan_head, fs.sb.free_blocks), (0, free_blocks));
}

fn fsck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fsck-rexfs"))
        .args(args)
        .output()
        .unwrap()
}

/// Staging blocks a crash left (allocated, counted as staging, mapped by
/// nothing) are the next mount's work, as orphan inodes are: reported, not
/// counted as errors by `-n`, freed by `-y`.
#[test]
fn leaked_staging_blocks() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let free_blocks = fs.sb.free_blocks;
    let (a, b) = (fs.alloc(), fs.alloc());
    fs.set_refcount(a, REFCOUNT_STAGING);
    fs.set_refcount(b, REFCOUNT_STAGING);
    let pending = format!("blocks {a}-{b}: leaked COW staging blocks (freed at the next mount)");
    expect(&image, &[&pending], exit::OK);
    let fsck_run = repair(&image);
    assert_eq!(
        messages(&fsck_run),
        [format!("blocks {a}-{b}: leaked COW staging blocks freed")]
    );
    assert_eq!(fsck_run.exit_code(), exit::CORRECTED);
    expect(&image, &[], exit::OK);
    let mut fs = Fs::open(&image);
    assert_eq!(fs.sb.free_blocks, free_blocks);
    assert!(!fs.bit(a) && !fs.bit(b));
    assert_eq!((fs.refcount(a), fs.refcount(b)), (0, 0));

    // As the binary says it.
    let c = fs.alloc();
    fs.set_refcount(c, REFCOUNT_STAGING);
    let path = image.path().to_str().unwrap();
    let found = fsck(&["-n", path]);
    assert_eq!(found.status.code(), Some(exit::OK.into()));
    assert_eq!(
        String::from_utf8_lossy(&found.stdout),
        format!("fsck.rexfs: block {c}: leaked COW staging block (freed at the next mount)\n")
    );
    let freed = fsck(&["-y", path]);
    assert_eq!(freed.status.code(), Some(exit::CORRECTED.into()));
    assert_eq!(
        String::from_utf8_lossy(&freed.stdout),
        format!("fsck.rexfs: block {c}: leaked COW staging block freed\n")
    );
    let clean = fsck(&["-n", path]);
    assert_eq!(clean.status.code(), Some(exit::OK.into()));
    assert!(clean.stdout.is_empty());

    // With damage beside them, the damage counts.
    let mut fs = Fs::open(&image);
    let d = fs.alloc();
    fs.set_refcount(d, REFCOUNT_STAGING);
    fs.set_refcount(fs.g().data_start + 700, 2);
    let found = fsck(&["-n", path]);
    assert_eq!(found.status.code(), Some(exit::UNCORRECTED.into()));
    let freed = fsck(&["-y", path]);
    assert_eq!(freed.status.code(), Some(exit::CORRECTED.into()));
    expect(&image, &[], exit::OK);
}

/// A transaction that logs a refcount table block (a copy-on-write write
/// staging a block: the table, the bitmap, the superblock) is replayed
/// like any other metadata: the table lies outside the journal.
#[test]
fn refcount_block_replayed_from_the_journal() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let g = fs.g();
    let staged = g.data_start + 900;
    let (table, _) = refcount_location(&g, staged);
    let logged = [0, g.bitmap_start, table];
    let before: Vec<Vec<u8>> = logged.iter().map(|&b| fs.read(b)).collect();
    fs.set_bit(staged, true);
    fs.set_refcount(staged, REFCOUNT_STAGING);
    fs.sb.free_blocks -= 1;
    fs.save_superblock();
    let after: Vec<Vec<u8>> = logged.iter().map(|&b| fs.read(b)).collect();
    for (&blkno, block) in logged.iter().zip(&before) {
        fs.write(blkno, block);
    }
    let fs = Fs::open(&image);
    assert_eq!(fs.refcount(staged), 0);
    let mut log = LogWriter::new(&fs, 1);
    let tags: Vec<(u64, &[u8])> = logged
        .iter()
        .copied()
        .zip(after.iter().map(|b| &b[..]))
        .collect();
    log.descriptor(1, &tags);
    log.commit(1, 100);
    log.finish(1, 1);
    let fsck = repair(&image);
    assert_eq!(
        messages(&fsck),
        [
            "journal: transaction 1 replayed (3 blocks written, 0 revoked); journal emptied"
                .to_string(),
            format!("block {staged}: leaked COW staging block freed"),
        ]
    );
    assert_eq!(fsck.exit_code(), exit::CORRECTED);
    expect(&image, &[], exit::OK);
    assert!(!fs.bit(staged));
}
