// SPDX-License-Identifier: GPL-2.0
//! fsck.rexfs on filesystems made by mkfs.rexfs and then edited, through the
//! library and through the binary.

#[path = "../../mkfs/tests/common/mod.rs"]
mod common;
mod edit;

use std::fs;
use std::process::{Command, Output};

use common::Image;
use edit::{
    check, dir, expect, expect_repaired, extent, file, formatted, formatted_without_reflink,
    formatted_without_trees, inline_file, journal_superblock, messages, repair, Fs, BS, MIB,
};
use rexfs_format::{
    file_type, mode, BlockHeader, BlockKind, DiskInode, Extent, ExtentBlock, JournalSuperblock,
    BLOCK_SIZE, EXTENT_UNWRITTEN, FEATURE_INCOMPAT_DAX_FLAG, HEADER_SIZE, INODE_DAX,
    INODE_IMMUTABLE, INODE_INLINE, INODE_SIZE, INODE_USER_FLAGS, ROOT_INO, STATE_ERRORS,
};
use rexfs_fsck::{exit, Fsck};

/// An extended attribute block at `blkno` of inode `ino` written byte by
/// byte, as the format describes it: `count`, then the entries (namespace,
/// name, value).
fn raw_xattr_block(blkno: u64, ino: u64, count: u32, entries: &[(u8, &str, &str)]) -> Vec<u8> {
    let mut block = vec![0; BLOCK_SIZE];
    block[HEADER_SIZE..HEADER_SIZE + 4].copy_from_slice(&count.to_le_bytes());
    let mut at = HEADER_SIZE + 8;
    for &(namespace, name, value) in entries {
        block[at] = namespace;
        block[at + 1] = name.len() as u8;
        block[at + 2..at + 4].copy_from_slice(&(value.len() as u16).to_le_bytes());
        let entry = [name.as_bytes(), value.as_bytes()].concat();
        block[at + 4..at + 4 + entry.len()].copy_from_slice(&entry);
        at += (4 + entry.len()).next_multiple_of(4);
    }
    BlockHeader {
        kind: BlockKind::Xattr,
        blkno,
        owner: ino,
    }
    .seal(&mut block);
    block
}

#[test]
fn fresh_filesystems_are_clean() {
    for (size, args) in [
        (16 * MIB, &["-q"][..]),
        (16 * MIB, &["-q", "-J", "none"]),
        (16 * MIB, &["-q", "-O", "^reflink"]),
        (16 * MIB, &["-q", "-O", "^dir_index,^extent_tree"]),
        (64 * MIB, &["-q", "-J", "size=60"]),
        (MIB / 4, &["-q"]),
        (16 * MIB, &["-q", "-N", "17"]),
        (300 * MIB, &["-q", "-s", "299M"]),
    ] {
        let image = Image::formatted(size, args);
        let fsck = check(&image);
        assert_eq!(messages(&fsck), Vec::<String>::new(), "{args:?}");
        assert_eq!(fsck.exit_code(), exit::OK);
    }
    let fsck = check(&formatted());
    let s = fsck.summary().unwrap();
    // The superblock, the bitmap, 64 inode-table blocks, the journal and
    // the refcount table.
    assert_eq!(
        (s.inodes_used, s.inode_count, s.blocks_used, s.block_count),
        (1, 1024, 1095, 4096)
    );
}

#[test]
fn corrupt_superblock() {
    let image = formatted();
    Fs::open(&image).flip(0, 100);
    expect(
        &image,
        &["superblock: checksum mismatch"],
        exit::UNCORRECTED,
    );
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);

    let zeroed = Image::new(MIB);
    expect(
        &zeroed,
        &["superblock: bad magic number"],
        exit::UNCORRECTED,
    );
}

#[test]
fn device_smaller_than_the_filesystem() {
    let image = formatted();
    fs::File::options()
        .write(true)
        .open(image.path())
        .unwrap()
        .set_len(8 * MIB)
        .unwrap();
    expect(
        &image,
        &["superblock: the filesystem has 4096 blocks but the device only 2048"],
        exit::UNCORRECTED,
    );
}

#[test]
fn unreadable_device() {
    let empty = Image::new(0);
    assert!(Fsck::check(&empty.open()).is_err());
}

#[test]
fn corrupt_root_inode() {
    let image = formatted();
    let fs = Fs::open(&image);
    fs.flip(fs.g().inode_table_start, 20);
    expect(&image, &["inode 1: checksum mismatch"], exit::UNCORRECTED);
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);
}

#[test]
fn corrupt_bitmap_block() {
    let image = formatted();
    let fs = Fs::open(&image);
    fs.flip(fs.g().bitmap_start, 1000);
    expect(
        &image,
        &["bitmap block 1: checksum mismatch"],
        exit::UNCORRECTED,
    );
    expect_repaired(&image, &["bitmap block 1: checksum mismatch"]);
}

#[test]
fn leaked_blocks() {
    let image = formatted();
    let fs = Fs::open(&image);
    let start = fs.g().data_start;
    fs.set_bit(start + 5, true);
    for blkno in start + 100..start + 200 {
        fs.set_bit(blkno, true);
    }
    let problems = [
        "block 1100: marked used but not owned",
        "blocks 1195-1294: marked used but not owned",
    ];
    expect(&image, &problems, exit::UNCORRECTED);
    expect_repaired(&image, &problems);
    assert!(!fs.bit(start + 5));
}

#[test]
fn owned_block_marked_free() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let blkno = fs.alloc();
    fs.create(2, &file(&[extent(0, blkno)]));
    fs.add_dir_block(ROOT_INO, &[("f", 2, file_type::REG)]);
    fs.set_bit(blkno, false);
    let problem = format!("block {blkno}: used by inode 2 but marked free");
    expect(&image, &[&problem], exit::UNCORRECTED);
    expect_repaired(&image, &[&problem]);
}

#[test]
fn wrong_free_counts() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.sb.free_blocks -= 3;
    fs.sb.free_inodes -= 1;
    fs.save_superblock();
    let problems = [
        "superblock: free block count is 2998, should be 3001",
        "superblock: free inode count is 1022, should be 1023",
    ];
    expect(&image, &problems, exit::UNCORRECTED);
    expect_repaired(&image, &problems);
}

#[test]
fn wrong_root_link_count() {
    let image = formatted();
    Fs::open(&image).update_inode(ROOT_INO, |root| root.nlink = 3);
    let problem = "inode 1: link count is 3, should be 2";
    expect(&image, &[problem], exit::UNCORRECTED);
    expect_repaired(&image, &[problem]);
    assert_eq!(Fs::open(&image).inode(ROOT_INO).nlink, 2);
}

#[test]
fn unlinked_inode() {
    let image = formatted();
    Fs::open(&image).create(2, &inline_file(b"lost"));
    let problem = "inode 2: in use but not in any directory";
    expect(&image, &[problem], exit::UNCORRECTED);
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);
}

#[test]
fn directory_with_files_is_clean() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let data = fs.alloc();
    fs.create(2, &inline_file(b"hello"));
    fs.create(
        3,
        &file(&[Extent {
            logical: 0,
            physical: data,
            len: 1,
            flags: 0,
        }]),
    );
    fs.create(4, &dir(ROOT_INO));
    fs.update_inode(ROOT_INO, |root| root.nlink = 3);
    fs.add_dir_block(
        ROOT_INO,
        &[("a", 2, file_type::REG), ("b", 3, file_type::REG)],
    );
    fs.add_dir_block(ROOT_INO, &[("sub", 4, file_type::DIR)]);
    fs.add_dir_block(4, &[("hardlink", 3, file_type::REG)]);
    fs.update_inode(3, |f| f.nlink = 2);
    expect(&image, &[], exit::OK);
    // Four directory blocks, and the root of the root's index.
    let s = check(&image).summary().unwrap();
    assert_eq!((s.inodes_used, s.blocks_used), (4, 1095 + 5));
}

#[test]
fn inode_flags_and_whiteouts() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    // Every chattr flag (DAX with its feature) on an inline file and a
    // directory; a whiteout (a character device 0:0 that RENAME_WHITEOUT
    // leaves).
    fs.sb.feature_incompat |= FEATURE_INCOMPAT_DAX_FLAG;
    fs.save_superblock();
    let flagged = DiskInode {
        flags: INODE_INLINE | INODE_USER_FLAGS,
        ..inline_file(b"x")
    };
    fs.create(2, &flagged);
    fs.create(
        3,
        &DiskInode {
            flags: INODE_IMMUTABLE,
            ..dir(ROOT_INO)
        },
    );
    let whiteout = DiskInode {
        mode: mode::S_IFCHR,
        nlink: 1,
        rdev: 0,
        ..DiskInode::FREE
    };
    fs.create(4, &whiteout);
    fs.update_inode(ROOT_INO, |root| root.nlink = 3);
    fs.add_dir_block(
        ROOT_INO,
        &[
            ("flagged", 2, file_type::REG),
            ("dir", 3, file_type::DIR),
            ("gone", 4, file_type::CHR),
        ],
    );
    expect(&image, &[], exit::OK);

    // A flag bit this version does not know makes the inode unreadable.
    fs.put_inode(
        2,
        &DiskInode {
            flags: flagged.flags | 0x100,
            ..flagged
        },
    );
    expect(&image, &["inode 2: unknown inode flags"], exit::UNCORRECTED);
}

#[test]
fn entry_of_a_free_inode() {
    let image = formatted();
    Fs::open(&image).add_dir_block(ROOT_INO, &[("ghost", 5, file_type::REG)]);
    expect(
        &image,
        &["directory 1: entry \"ghost\": directory entry names a free inode (inode 5)"],
        exit::UNCORRECTED,
    );
}

#[test]
fn bad_entries() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(2, &inline_file(b"x"));
    fs.add_dir_block(
        ROOT_INO,
        &[
            ("a", 2, file_type::DIR),
            ("a", 2, file_type::REG),
            ("far", 5000, file_type::REG),
            ("root", ROOT_INO, file_type::DIR),
        ],
    );
    expect(
        &image,
        &[
            "directory 1: entry \"a\": directory entry type does not match the inode \
             (type directory, inode 2 is a regular file)",
            "directory 1: entry \"a\": duplicate name",
            "directory 1: entry \"far\": directory entry inode number out of range \
             (inode 5000)",
            "directory 1: entry \"root\": directory entry names the root directory (inode 1)",
            "inode 2: link count is 1, should be 2",
        ],
        exit::UNCORRECTED,
    );
}

#[test]
fn corrupt_directory_block() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(2, &inline_file(b"x"));
    let blkno = fs.add_dir_block(ROOT_INO, &[("a", 2, file_type::REG)]);
    fs.flip(blkno, 100);
    // The file's link is lost with the block: its link count is not touched.
    let problems = [
        format!("directory 1: block {blkno}: checksum mismatch"),
        "inode 2: in use but not in any directory".into(),
    ];
    expect(
        &image,
        &problems.each_ref().map(String::as_str),
        exit::UNCORRECTED,
    );
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);
}

/// Without the reflink feature, a block two inodes map is damage (see
/// tests/reflink.rs for clones).
#[test]
fn two_inodes_claim_a_block() {
    let image = formatted_without_reflink();
    let mut fs = Fs::open(&image);
    let blkno = fs.alloc();
    fs.create(2, &file(&[extent(0, blkno)]));
    fs.create(3, &file(&[extent(0, blkno)]));
    fs.add_dir_block(
        ROOT_INO,
        &[("a", 2, file_type::REG), ("b", 3, file_type::REG)],
    );
    let problem = format!("block {blkno}: used by inode 2 and inode 3");
    expect(&image, &[&problem], exit::UNCORRECTED);
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);
}

#[test]
fn extents_and_file_size() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let (a, b) = (fs.alloc(), fs.alloc());
    let mut inode = file(&[
        extent(0, a),
        Extent {
            flags: EXTENT_UNWRITTEN,
            ..extent(5, b)
        },
    ]);
    // fallocate(KEEP_SIZE) leaves unwritten blocks past the end of file.
    inode.size = 100;
    fs.create(2, &inode);
    fs.add_dir_block(ROOT_INO, &[("f", 2, file_type::REG)]);
    expect(&image, &[], exit::OK);

    fs.update_inode(2, |f| {
        f.size = 0;
        f.blocks = 7;
    });
    let problems = [
        "inode 2: extent 0 (file block 0): written past the end of file (size 0)",
        "inode 2: block count is 7, should be 2",
    ];
    expect(&image, &problems, exit::UNCORRECTED);
    fs.update_inode(2, |f| f.size = 100);
    expect_repaired(&image, &problems[1..]);
}

#[test]
fn extent_chain() {
    let image = formatted_without_trees();
    let mut fs = Fs::open(&image);
    let extents: Vec<Extent> = (0..7).map(|i| extent(i * 2, fs.alloc())).collect();
    let chain = fs.alloc();
    let mut block = vec![0; BLOCK_SIZE];
    ExtentBlock::encode(&mut block, chain, 2, 0, &extents[5..]);
    fs.write(chain, &block);
    let mut inode = file(&extents[..5]);
    inode.extent_count = 7;
    inode.extent_block = chain;
    inode.blocks = 8;
    inode.size = 13 * BS;
    fs.create(2, &inode);
    fs.add_dir_block(ROOT_INO, &[("f", 2, file_type::REG)]);
    expect(&image, &[], exit::OK);

    ExtentBlock::encode(&mut block, chain, 2, chain, &extents[5..]);
    fs.write(chain, &block);
    let problem =
        format!("inode 2: extent block {chain}: extent chain longer than its extent count");
    expect(&image, &[&problem], exit::UNCORRECTED);
    // The blocks of a damaged map stay allocated: nothing to repair.
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);
    assert!(extents.iter().all(|e| fs.bit(e.physical)));
}

/// Inode 2, an inline file "f" with an extended attribute block, and inode
/// 3, a directory "d" with one; returns the two blocks.
fn files_with_xattrs(fs: &mut Fs) -> (u64, u64) {
    let file_block = fs.add_xattr_block(2, &[("colour", "beige"), ("empty", "")]);
    fs.create(
        2,
        &DiskInode {
            xattr_block: file_block,
            blocks: 1,
            ..inline_file(b"data")
        },
    );
    let dir_block = fs.add_xattr_block(3, &[("x", "yz")]);
    fs.create(
        3,
        &DiskInode {
            xattr_block: dir_block,
            blocks: 1,
            ..dir(ROOT_INO)
        },
    );
    fs.update_inode(ROOT_INO, |root| root.nlink = 3);
    fs.add_dir_block(
        ROOT_INO,
        &[("f", 2, file_type::REG), ("d", 3, file_type::DIR)],
    );
    (file_block, dir_block)
}

#[test]
fn xattr_blocks() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let (file_block, dir_block) = files_with_xattrs(&mut fs);
    expect(&image, &[], exit::OK);
    // Two attribute blocks and a directory block.
    assert_eq!(check(&image).summary().unwrap().blocks_used, 1095 + 3);

    fs.update_inode(2, |f| f.blocks = 0);
    fs.set_bit(dir_block, false);
    let problems = [
        "inode 2: block count is 0, should be 1".to_string(),
        format!("block {dir_block}: used by inode 3 but marked free"),
    ];
    expect(
        &image,
        &problems.each_ref().map(String::as_str),
        exit::UNCORRECTED,
    );
    expect_repaired(&image, &problems.each_ref().map(String::as_str));

    // Forgetting the attribute block without freeing it leaks it.
    fs.update_inode(2, |f| f.xattr_block = 0);
    let problems = [
        "inode 2: block count is 1, should be 0".to_string(),
        format!("block {file_block}: marked used but not owned"),
        "superblock: free block count is 2998, should be 2999".to_string(),
    ];
    expect(
        &image,
        &problems.each_ref().map(String::as_str),
        exit::UNCORRECTED,
    );
    expect_repaired(&image, &problems.each_ref().map(String::as_str));
    assert!(!fs.bit(file_block));
}

#[test]
fn corrupt_xattr_blocks() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let (file_block, dir_block) = files_with_xattrs(&mut fs);
    let clean = fs.read(file_block);
    let at = format!("inode 2: xattr block {file_block}");
    let (a, b) = ((1, "a", "1"), (1, "b", "2"));
    // (stored at, owner, count, entries): why the block is bad.
    let cases = [
        (
            (file_block, 2, 2, &[a, (1, "a", "2")][..]),
            "duplicate attribute name",
        ),
        ((file_block, 2, 3, &[a, b]), "bad attribute count"),
        ((file_block, 2, 1, &[a, b]), "bad attribute count"),
        ((file_block, 2, 2, &[b, a]), "attributes out of order"),
        (
            (file_block, 2, 1, &[(9, "a", "1")]),
            "unknown attribute namespace",
        ),
        ((file_block, 3, 1, &[a]), "block header does not match"),
        ((file_block + 1, 2, 1, &[a]), "block header does not match"),
    ];
    for ((blkno, owner, count, entries), why) in cases {
        fs.write(file_block, &raw_xattr_block(blkno, owner, count, entries));
        expect(&image, &[&format!("{at}: {why}")], exit::UNCORRECTED);
    }
    fs.write(file_block, &clean);
    fs.flip(file_block, 100);
    expect(
        &image,
        &[&format!("{at}: checksum mismatch")],
        exit::UNCORRECTED,
    );
    // A damaged block is not the kind of damage fsck repairs; it stays
    // allocated to its inode.
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);
    assert!(fs.bit(file_block));

    fs.write(file_block, &clean);
    expect(&image, &[], exit::OK);
    fs.update_inode(3, |d| d.xattr_block = file_block);
    expect(
        &image,
        &[
            &format!("block {file_block}: used by inode 2 and inode 3"),
            &format!("inode 3: xattr block {file_block}: block header does not match"),
            &format!("block {dir_block}: marked used but not owned"),
            "superblock: free block count is 2998, should be 2999",
        ],
        exit::UNCORRECTED,
    );
    fs.update_inode(3, |d| d.xattr_block = fs.g().block_count);
    expect(
        &image,
        &[
            &format!(
                "inode 3: xattr block outside the data area ({})",
                fs.g().block_count
            ),
            &format!("block {dir_block}: marked used but not owned"),
            "superblock: free block count is 2998, should be 2999",
        ],
        exit::UNCORRECTED,
    );
}

#[test]
fn subdirectory_links() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(2, &dir(7));
    fs.add_dir_block(ROOT_INO, &[("sub", 2, file_type::DIR)]);
    let problems = [
        "inode 1: link count is 2, should be 3",
        "directory 2: parent is 7, but it is in directory 1",
    ];
    expect(&image, &problems, exit::UNCORRECTED);
    expect_repaired(&image, &problems);
}

#[test]
fn directory_cycle_cut_off_from_the_root() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(2, &DiskInode { nlink: 3, ..dir(3) });
    fs.create(3, &DiskInode { nlink: 3, ..dir(2) });
    fs.add_dir_block(2, &[("c", 3, file_type::DIR)]);
    fs.add_dir_block(3, &[("b", 2, file_type::DIR)]);
    expect(
        &image,
        &["directory 2: in a cycle of directories cut off from the root"],
        exit::UNCORRECTED,
    );
}

#[test]
fn directory_hole() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.add_dir_block(ROOT_INO, &[]);
    fs.update_inode(ROOT_INO, |root| {
        let mut e = Extent::decode(&root.data);
        e.logical = 1;
        e.encode(&mut root.data);
        root.size = 2 * BS;
    });
    expect(
        &image,
        &["inode 1: extent 0 (file block 1): hole in a directory"],
        exit::UNCORRECTED,
    );
}

#[test]
fn check_without_repair_changes_nothing() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.set_bit(fs.g().data_start + 1, true);
    fs.sb.free_inodes -= 1;
    fs.save_superblock();
    fs.update_inode(ROOT_INO, |root| root.nlink = 5);
    let before = fs::read(image.path()).unwrap();
    assert_eq!(check(&image).problems().len(), 3);
    assert_eq!(fs::read(image.path()).unwrap(), before);
}

/// Rewrites the journal superblock of `fs` as `f` changes it.
fn edit_journal(fs: &Fs, f: impl FnOnce(&mut JournalSuperblock)) {
    let g = fs.g();
    let mut jsb = journal_superblock(fs);
    f(&mut jsb);
    let mut block = fs.read(g.journal_start);
    jsb.encode(&mut block);
    fs.write(g.journal_start, &block);
}

/// A damaged journal superblock is an error; a repair writes a new, empty
/// journal over it (its log zeroed), as e2fsck clears a bad journal.
#[test]
fn damaged_journal_superblock() {
    for why in [
        "bad magic number",
        "checksum mismatch",
        "journal length does not fit its region",
    ] {
        let image = formatted();
        let fs = Fs::open(&image);
        let g = fs.g();
        match why {
            "bad magic number" => fs.flip(g.journal_start, 0),
            "checksum mismatch" => fs.flip(g.journal_start, 0x60),
            _ => edit_journal(&fs, |j| j.maxlen = 1025),
        }
        let problem = &format!("journal superblock (block 66): {why}");
        // Something in the log, which the new journal must not keep.
        fs.write(g.journal_start + 7, &[0xee; BLOCK_SIZE]);
        expect(&image, &[problem], exit::UNCORRECTED);
        expect_repaired(&image, &[problem]);
        assert_eq!(
            journal_superblock(&fs),
            JournalSuperblock::new(g.journal_blocks, fs.sb.uuid)
        );
        assert_eq!(fs.read(g.journal_start + 7), [0; BLOCK_SIZE]);
    }

    // A journal shorter than its region.
    let image = Image::formatted(16 * MIB, &["-q", "-J", "size=8"]);
    let fs = Fs::open(&image);
    edit_journal(&fs, |j| j.maxlen = 1024);
    let problem = "journal superblock (block 66): the journal has 1024 blocks, but its region 2048";
    expect(&image, &[problem], exit::UNCORRECTED);
    expect_repaired(&image, &[problem]);
    assert_eq!(journal_superblock(&fs).maxlen, 2048);

    // Features this version does not know: left alone.
    let image = formatted();
    let fs = Fs::open(&image);
    edit_journal(&fs, |j| j.feature_incompat |= 0x20);
    let before = fs.read(fs.g().journal_start);
    let problem = "journal superblock (block 66): unknown journal features";
    expect(&image, &[problem], exit::UNCORRECTED);
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);
    assert_eq!(fs.read(fs.g().journal_start), before);
}

/// The error an aborted journal records is reported; a repair clears it.
#[test]
fn journal_error_recorded() {
    let image = formatted();
    let fs = Fs::open(&image);
    edit_journal(&fs, |j| j.errno = -5);
    let problem = "journal: the kernel aborted the journal with error -5";
    expect(&image, &[problem], exit::UNCORRECTED);
    expect_repaired(&image, &[problem]);
    assert_eq!(journal_superblock(&fs).errno, 0);
}

/// The kernel's errors flag: noted, not counted by a check (as e2fsck's
/// `-n`), cleared by a repair; damage found beside it still counts.
#[test]
fn errors_flag_is_cleared_by_a_repair() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.sb.state |= STATE_ERRORS;
    fs.save_superblock();
    let noted = "superblock: the kernel found damaged metadata (errors flag set)";
    expect(&image, &[noted], exit::OK);
    let fsck = repair(&image);
    assert_eq!(messages(&fsck), ["superblock: errors flag cleared"]);
    assert_eq!(fsck.exit_code(), exit::CORRECTED);
    expect(&image, &[], exit::OK);
    assert_eq!(Fs::open(&image).sb.state & STATE_ERRORS, 0);

    let mut fs = Fs::open(&image);
    fs.sb.state |= STATE_ERRORS;
    fs.save_superblock();
    fs.create(2, &inline_file(b"lost"));
    expect(
        &image,
        &[noted, "inode 2: in use but not in any directory"],
        exit::UNCORRECTED,
    );
}

/// An inode with the DAX flag needs the dax-flag feature: without it,
/// fsck clears the flag; with it, the flag is fine.
#[test]
fn dax_flag_needs_its_feature() {
    let image = formatted();
    Fs::open(&image).update_inode(ROOT_INO, |inode| inode.flags |= INODE_DAX);
    expect(
        &image,
        &["inode 1: DAX flag without the dax-flag feature"],
        exit::UNCORRECTED,
    );
    let fsck = repair(&image);
    assert_eq!(fsck.exit_code(), exit::CORRECTED);
    expect(&image, &[], exit::OK);
    assert_eq!(Fs::open(&image).inode(ROOT_INO).flags & INODE_DAX, 0);

    let mut fs = Fs::open(&image);
    fs.sb.feature_incompat |= FEATURE_INCOMPAT_DAX_FLAG;
    fs.save_superblock();
    fs.update_inode(ROOT_INO, |inode| inode.flags |= INODE_DAX);
    expect(&image, &[], exit::OK);
}

/// Links `inos` into the orphan list, in that order.
fn orphan_list(fs: &mut Fs, inos: &[u64]) {
    fs.sb.orphan_head = inos.first().copied().unwrap_or(0);
    fs.save_superblock();
    for (i, &ino) in inos.iter().enumerate() {
        let next = inos.get(i + 1).map_or(0, |&n| n as u32);
        fs.update_inode(ino, |inode| inode.next_orphan = next);
    }
}

/// Inode 2, an unlinked file with a data block and an attribute block; 3,
/// an unlinked inline file; 4, an unlinked directory with a block: all
/// with no link left (nlink 0), as unlink and rmdir leave an inode still
/// open. Returns the blocks they hold.
fn unlinked_inodes(fs: &mut Fs) -> Vec<u64> {
    let data = fs.alloc();
    let xattr = fs.add_xattr_block(2, &[("k", "v")]);
    let mut inode = file(&[extent(0, data)]);
    inode.nlink = 0;
    inode.xattr_block = xattr;
    inode.blocks += 1;
    fs.create(2, &inode);
    fs.create(
        3,
        &DiskInode {
            nlink: 0,
            ..inline_file(b"gone")
        },
    );
    fs.create(4, &DiskInode { nlink: 0, ..dir(1) });
    let dir_block = fs.add_dir_block(4, &[]);
    vec![data, xattr, dir_block]
}

#[test]
fn orphans_are_pending_frees() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let free_blocks = fs.sb.free_blocks;
    let free_inodes = fs.sb.free_inodes;
    let blocks = unlinked_inodes(&mut fs);
    orphan_list(&mut fs, &[3, 2, 4]);
    // Not errors: the next mount frees them.
    expect(
        &image,
        &["3 orphan inodes (freed at the next mount)"],
        exit::OK,
    );
    let fsck = repair(&image);
    assert_eq!(messages(&fsck), ["3 orphan inodes freed"]);
    assert_eq!(fsck.exit_code(), exit::CORRECTED);
    expect(&image, &[], exit::OK);
    let fs = Fs::open(&image);
    assert_eq!(
        (fs.sb.orphan_head, fs.sb.free_blocks, fs.sb.free_inodes),
        (0, free_blocks, free_inodes)
    );
    assert!(blocks.iter().all(|&b| !fs.bit(b)));
    for ino in 2..=4 {
        assert!(fs.inode(ino).is_free(), "inode {ino}");
    }
    let s = check(&image).summary().unwrap();
    assert_eq!((s.inodes_used, s.blocks_used), (1, 1095));
}

/// An orphan still linked is being truncated: the next mount finishes it,
/// and a repair leaves it on the list while freeing the others.
#[test]
fn linked_orphans_stay_on_the_list() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    unlinked_inodes(&mut fs);
    fs.create(5, &inline_file(b"kept"));
    fs.add_dir_block(ROOT_INO, &[("kept", 5, file_type::REG)]);
    orphan_list(&mut fs, &[2, 5, 3]);
    let linked = "1 inode on the orphan list with links left (truncated at the next mount)";
    // Inode 4 is not on the list: unreferenced, as before orphan lists.
    expect(
        &image,
        &[
            "inode 4: in use but not in any directory",
            "2 orphan inodes (freed at the next mount)",
            linked,
        ],
        exit::UNCORRECTED,
    );
    orphan_list(&mut fs, &[2, 5, 3, 4]);
    expect(
        &image,
        &["3 orphan inodes (freed at the next mount)", linked],
        exit::OK,
    );
    let fsck = repair(&image);
    assert_eq!(messages(&fsck), ["3 orphan inodes freed", linked]);
    assert_eq!(fsck.exit_code(), exit::CORRECTED);
    let fs = Fs::open(&image);
    assert_eq!((fs.sb.orphan_head, fs.inode(5).next_orphan), (5, 0));
    expect(&image, &[linked], exit::OK);
}

#[test]
fn damaged_orphan_lists() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    unlinked_inodes(&mut fs);
    let not_in_dir = |ino| format!("inode {ino}: in use but not in any directory");
    // A cycle: 2, 3, 4, then 3 again.
    orphan_list(&mut fs, &[2, 3, 4]);
    fs.update_inode(4, |i| i.next_orphan = 3);
    expect(
        &image,
        &[
            "orphan list: inode 3 (linked from inode 4) is already on the list",
            "3 orphan inodes (freed at the next mount)",
        ],
        exit::UNCORRECTED,
    );
    // Nothing is freed from a damaged list.
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);
    assert!(!Fs::open(&image).inode(2).is_free());

    // A free inode on the list, and one out of range.
    fs.update_inode(4, |i| i.next_orphan = 9);
    expect(
        &image,
        &[
            "orphan list: inode 9 (linked from inode 4) is free",
            "3 orphan inodes (freed at the next mount)",
        ],
        exit::UNCORRECTED,
    );
    fs.update_inode(3, |i| i.next_orphan = 5000);
    expect(
        &image,
        &[
            "orphan list: inode 5000 (linked from inode 3) is out of range",
            "inode 4: not on the orphan list, but its orphan list link is 9",
            &not_in_dir(4),
            "2 orphan inodes (freed at the next mount)",
        ],
        exit::UNCORRECTED,
    );
    fs.sb.orphan_head = 9;
    fs.save_superblock();
    let mut problems =
        vec!["orphan list: inode 9 (linked from the superblock) is free".to_string()];
    for (ino, next) in [(2, 3), (3, 5000), (4, 9)] {
        problems.push(format!(
            "inode {ino}: not on the orphan list, but its orphan list link is {next}"
        ));
    }
    problems.extend((2..=4).map(not_in_dir));
    let problems: Vec<&str> = problems.iter().map(String::as_str).collect();
    expect(&image, &problems, exit::UNCORRECTED);
}

/// An inode not on the orphan list must not link into it, nor a free one.
#[test]
fn stray_orphan_links() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(2, &inline_file(b"x"));
    fs.add_dir_block(ROOT_INO, &[("x", 2, file_type::REG)]);
    fs.update_inode(2, |i| i.next_orphan = 7);
    let (blkno, offset) = fs.g().inode_location(5).unwrap();
    let mut block = fs.read(blkno);
    DiskInode {
        next_orphan: 3,
        ..DiskInode::FREE
    }
    .encode(&mut block[offset..offset + INODE_SIZE]);
    fs.write(blkno, &block);
    let problems = [
        "inode 5: free, but its orphan list link is 3",
        "inode 2: not on the orphan list, but its orphan list link is 7",
    ];
    expect(&image, &problems, exit::UNCORRECTED);
    expect_repaired(&image, &problems);
    assert_eq!(fs.inode(2).next_orphan, 0);
}

fn fsck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fsck-rexfs"))
        .args(args)
        .output()
        .unwrap()
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

#[test]
fn binary_exit_codes() {
    let image = formatted();
    let path = image.path().to_str().unwrap();
    assert_eq!(code(&fsck(&[path])), Some(0));
    let verbose = fsck(&["-fv", path]);
    assert_eq!(code(&verbose), Some(0));
    assert!(String::from_utf8_lossy(&verbose.stdout).contains("1/1024 inodes, 1095/4096 blocks"));

    let mut fs = Fs::open(&image);
    fs.set_bit(fs.g().data_start + 9, true);
    let line = "fsck.rexfs: block 1104: marked used but not owned";
    let found = fsck(&["-n", path]);
    assert_eq!(code(&found), Some(4));
    assert_eq!(String::from_utf8_lossy(&found.stdout), format!("{line}\n"));
    let fixed = fsck(&["-y", path]);
    assert_eq!(code(&fixed), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&fixed.stdout),
        format!("{line} (fixed)\n")
    );
    assert_eq!(code(&fsck(&["-p", path])), Some(0));

    let (file_block, _) = files_with_xattrs(&mut fs);
    assert_eq!(code(&fsck(&["-n", path])), Some(0));
    fs.flip(file_block, 2000);
    let found = fsck(&["-n", path]);
    assert_eq!(code(&found), Some(4));
    let line = format!("fsck.rexfs: inode 2: xattr block {file_block}: checksum mismatch\n");
    assert_eq!(String::from_utf8_lossy(&found.stdout), line);
    assert_eq!(code(&fsck(&["-y", path])), Some(4));

    let zeroed = Image::new(MIB);
    assert_eq!(
        code(&fsck(&["-a", zeroed.path().to_str().unwrap()])),
        Some(4)
    );
    let empty = Image::new(0);
    assert_eq!(code(&fsck(&[empty.path().to_str().unwrap()])), Some(8));
    assert_eq!(code(&fsck(&["/nonexistent/rexfs.img"])), Some(8));

    for bad in [&[][..], &["-x", path], &["-n", "-y", path], &[path, path]] {
        let usage = fsck(bad);
        assert_eq!(code(&usage), Some(16), "{bad:?}");
        assert!(String::from_utf8_lossy(&usage.stderr).contains("usage: fsck.rexfs"));
    }
    assert_eq!(code(&fsck(&["-V"])), Some(0));
}

/// xfstests checks a filesystem with `fsck -t rexfs -n DEVICE` and repairs
/// it with `fsck -t rexfs -y DEVICE`: util-linux's front end finds
/// fsck.rexfs through PATH and passes its exit status on.
#[test]
fn through_the_fsck_front_end() {
    let Ok(front) = Command::new("fsck").arg("--version").output() else {
        return;
    };
    if !front.status.success() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rexfs-test-fsck-path-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let link = dir.join("fsck.rexfs");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fsck-rexfs"), &link).unwrap();
    let path_var = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let front_end = |args: &[&str]| {
        let mut front_end = Command::new("fsck");
        front_end
            .args(["-t", "rexfs"])
            .args(args)
            .env("PATH", &path_var);
        front_end.output().unwrap()
    };

    let image = formatted();
    // The front end takes a device only by its absolute path.
    let path = image.path().to_str().unwrap();
    assert!(image.path().is_absolute());
    let clean = front_end(&["-n", path]);
    assert_eq!(code(&clean), Some(0), "{clean:?}");
    let fs = Fs::open(&image);
    fs.set_bit(fs.g().data_start + 9, true);
    let found = front_end(&["-n", path]);
    assert_eq!(code(&found), Some(4), "{found:?}");
    assert!(String::from_utf8_lossy(&found.stdout).contains("marked used but not owned"));
    assert_eq!(code(&front_end(&["-y", path])), Some(1));
    assert_eq!(code(&front_end(&["-n", path])), Some(0));
    fs::remove_dir_all(&dir).unwrap();
}
