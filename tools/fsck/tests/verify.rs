// SPDX-License-Identifier: GPL-2.0
//! fsck.rexfs on damage whose checksums were recomputed (issue 20): a bad
//! value written with a good checksum, which the format's verifiers catch
//! and which fsck must report as the module rejects it.

#[path = "../../mkfs/tests/common/mod.rs"]
mod common;
mod edit;

use std::process::Command;

use edit::{
    check, dir, expect, expect_repaired, extent, file, formatted, formatted_without_trees,
    inline_file, repair, Fs,
};
use rexfs_format::{
    file_type, mode, DiskInode, Extent, ExtentBlock, BLOCK_SIZE, EXTENTS_PER_BLOCK,
    EXTENT_UNWRITTEN, HEADER_SIZE, INODE_EXTENTS, INODE_IMMUTABLE, INODE_INLINE, ROOT_INO,
};
use rexfs_fsck::exit;

/// A change made to a block.
type Damage<'a> = &'a dyn Fn(&mut [u8]);

/// Offset of the first entry of a directory block.
const ENTRY: usize = HEADER_SIZE;
/// Offsets in an entry: `rec_len`, `name_len`, `file_type`, the name.
const REC_LEN: usize = 8;
const NAME_LEN: usize = 10;
const TYPE: usize = 11;
const NAME: usize = 12;
/// Offsets in an inode slot: flags, parent, the reserved bytes.
const FLAGS: usize = 2;
const RESERVED: usize = 108;

/// Inode 2, an inline file, as entry `name` of the root directory, alone
/// in a new block of it; returns the block.
fn file_named(fs: &mut Fs, name: &str) -> u64 {
    fs.create(2, &inline_file(b"x"));
    fs.add_dir_block(ROOT_INO, &[(name, 2, file_type::REG)])
}

/// Issue 20: a `name_len` 4 -> 1, checksum recomputed. The entry is now a
/// valid "a", and what is left of "abcd" lies after it: the module writes
/// zeroes there (`write_dirent`), so fsck reports them, and zeroes them.
#[test]
fn shrunk_name_leaves_stale_bytes() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let blkno = file_named(&mut fs, "abcd");
    expect(&image, &[], exit::OK);
    fs.edit_sealed(blkno, |b| b[ENTRY + NAME_LEN] = 1);
    let problem = "directory 1: entry \"a\": stale bytes after a directory entry's name";
    expect(&image, &[problem], exit::UNCORRECTED);
    expect_repaired(&image, &[problem]);
    assert_eq!(&fs.read(blkno)[ENTRY + NAME..ENTRY + NAME + 4], b"a\0\0\0");
}

/// Old bytes in a free slot (what a module before `write_dirent` zeroed
/// them left when it removed the first entry of a block) are reported and
/// zeroed the same way.
#[test]
fn stale_bytes_in_a_free_slot() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let blkno = fs.add_dir_block(ROOT_INO, &[]);
    fs.edit_sealed(blkno, |b| {
        b[ENTRY + NAME..ENTRY + NAME + 3].copy_from_slice(b"old")
    });
    let problem = format!(
        "directory 1: block {blkno}: free entry at 32: stale bytes after a directory entry's name"
    );
    expect(&image, &[&problem], exit::UNCORRECTED);
    expect_repaired(&image, &[&problem]);
}

/// Issue 20: a `name_len` 1 -> 0, checksum recomputed, made the module's
/// walk of the tree loop forever; the module rejects the block, fsck
/// reports the entry (and its name's byte, left after it).
#[test]
fn empty_entry_name() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let blkno = file_named(&mut fs, "a");
    fs.edit_sealed(blkno, |b| b[ENTRY + NAME_LEN] = 0);
    let problems = [
        "directory 1: entry \"\": directory entry with an empty name",
        "directory 1: entry \"\": stale bytes after a directory entry's name",
    ];
    expect(&image, &problems, exit::UNCORRECTED);
    // The stale byte is zeroed; the name cannot be made up.
    let fsck = repair(&image);
    assert_eq!(fsck.exit_code(), exit::UNCORRECTED);
    expect(&image, &problems[..1], exit::UNCORRECTED);
}

/// Issue 20: an inode's `parent` changed. A directory's must be the
/// directory holding its entry (its `..`); a file's is informational (the
/// directory it was made in: rename and link do not change it), so only its
/// range is checked.
#[test]
fn parent_changed() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(2, &inline_file(b"x"));
    fs.create(3, &dir(ROOT_INO));
    fs.update_inode(ROOT_INO, |root| root.nlink = 3);
    fs.add_dir_block(
        ROOT_INO,
        &[("f", 2, file_type::REG), ("d", 3, file_type::DIR)],
    );
    expect(&image, &[], exit::OK);

    fs.update_inode(2, |f| f.parent = 3);
    expect(&image, &[], exit::OK);
    for parent in [1025, u64::MAX] {
        fs.update_inode(2, |f| f.parent = parent);
        let problem = format!("inode 2: parent out of range ({parent})");
        expect(&image, &[&problem], exit::UNCORRECTED);
        expect_repaired(&image, &[&problem]);
        assert_eq!(fs.inode(2).parent, ROOT_INO);
    }

    for parent in [2, 0, 1025, u64::MAX] {
        fs.update_inode(3, |d| d.parent = parent);
        let problem = format!("directory 3: parent is {parent}, but it is in directory 1");
        expect(&image, &[&problem], exit::UNCORRECTED);
        expect_repaired(&image, &[&problem]);
    }
}

/// An orphan directory (removed while open) keeps its parent, which must
/// still be in range: the mount reads the inode to free it.
#[test]
fn orphan_parent_out_of_range() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(
        2,
        &DiskInode {
            nlink: 0,
            parent: 5000,
            ..dir(ROOT_INO)
        },
    );
    fs.sb.orphan_head = 2;
    fs.save_superblock();
    expect(
        &image,
        &[
            "inode 2: parent out of range (5000)",
            "1 orphan inode (freed at the next mount)",
        ],
        exit::UNCORRECTED,
    );
}

/// Issue 20: an inode flag 1 -> 2 (INLINE -> IMMUTABLE) on a file with
/// inline data: its bytes would be read as extents. The module rejects the
/// inode, fsck reports it.
#[test]
fn inline_flag_became_immutable() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    file_named(&mut fs, "f");
    fs.edit_inode_raw(2, |slot| slot[FLAGS] = INODE_IMMUTABLE as u8);
    let problem = "inode 2: inode data area past its extents not zero";
    expect(&image, &[problem], exit::UNCORRECTED);
    // As fsck.rexfs -n says it.
    let output = Command::new(env!("CARGO_BIN_EXE_fsck-rexfs"))
        .arg("-n")
        .arg(image.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(exit::UNCORRECTED.into()));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("fsck.rexfs: {problem}\n")
    );
    assert_eq!(repair(&image).exit_code(), exit::UNCORRECTED);

    // An empty inline file reads the same as an empty extent-mapped one:
    // the same change leaves a valid, immutable, empty file.
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(2, &inline_file(b""));
    fs.add_dir_block(ROOT_INO, &[("f", 2, file_type::REG)]);
    fs.edit_inode_raw(2, |slot| slot[FLAGS] = INODE_IMMUTABLE as u8);
    expect(&image, &[], exit::OK);
}

/// Issue 20: a directory's `nlink` 4294967295, checksum recomputed (rmdir
/// in it warned in `drop_nlink`). The module rejects it (more than
/// `MAX_LINKS`); fsck sets the count from the entries.
#[test]
fn directory_link_count_overflow() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(2, &dir(ROOT_INO));
    fs.update_inode(ROOT_INO, |root| root.nlink = 3);
    fs.add_dir_block(ROOT_INO, &[("d", 2, file_type::DIR)]);
    for (ino, nlink, right) in [(ROOT_INO, u32::MAX, 3), (2, u32::MAX, 2), (2, 1, 2)] {
        fs.update_inode(ino, |d| d.nlink = nlink);
        let problem = format!("inode {ino}: link count is {nlink}, should be {right}");
        expect(&image, &[&problem], exit::UNCORRECTED);
        expect_repaired(&image, &[&problem]);
    }
}

/// The rules of each directory entry, with the checksum recomputed: each
/// reported on its entry.
#[test]
fn entry_rules() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let blkno = file_named(&mut fs, "ab");
    let clean = fs.read(blkno);
    let entry = "directory 1: entry";
    let cases: [(Damage<'_>, String); 4] = [
        (
            &|b| b[ENTRY + NAME + 1] = b'/',
            format!("{entry} \"a/\": '/' or NUL in a directory entry name"),
        ),
        (
            &|b| b[ENTRY + NAME..ENTRY + NAME + 2].copy_from_slice(b".."),
            format!("{entry} \"..\": '.' or '..' stored in a directory"),
        ),
        (
            &|b| b[ENTRY + TYPE] = 3,
            format!("{entry} \"ab\": unknown directory entry file type"),
        ),
        (
            &|b| b[ENTRY + TYPE] = file_type::SOCK,
            format!(
                "{entry} \"ab\": directory entry type does not match the inode \
                 (type socket, inode 2 is a regular file)"
            ),
        ),
    ];
    for (damage, problem) in cases {
        fs.write(blkno, &clean);
        fs.edit_sealed(blkno, damage);
        expect(&image, &[&problem], exit::UNCORRECTED);
    }

    // An entry naming its own directory, and a free slot with a type.
    fs.write(blkno, &clean);
    fs.create(3, &dir(ROOT_INO));
    fs.update_inode(ROOT_INO, |root| root.nlink = 3);
    let sub = fs.add_dir_block(ROOT_INO, &[("d", 3, file_type::DIR)]);
    let own = fs.add_dir_block(3, &[("self", 3, file_type::DIR)]);
    let free = fs.add_dir_block(3, &[]);
    fs.edit_sealed(free, |b| b[ENTRY + TYPE] = file_type::REG);
    expect(
        &image,
        &[
            "directory 3: entry \"self\": directory entry names its own directory (inode 3)",
            &format!(
                "directory 3: block {free}: free entry at 32: free directory entry with a name \
                 or type"
            ),
        ],
        exit::UNCORRECTED,
    );
    assert!(own > sub);
}

/// A damaged entry layout stops the walk of its block: its links are
/// unknown.
#[test]
fn entry_layout() {
    let rec_len =
        |v: u16| move |b: &mut [u8]| b[ENTRY + REC_LEN..][..2].copy_from_slice(&v.to_le_bytes());
    let cases: [(Damage<'_>, &str); 5] = [
        (&rec_len(20), "directory entry length not aligned"),
        (&rec_len(0), "directory entry too short"),
        (&rec_len(8), "directory entry too short"),
        (&rec_len(4072), "directory entry runs past the block end"),
        (
            &|b| b[ENTRY + NAME_LEN] = 5,
            "directory entry shorter than its name",
        ),
    ];
    for (damage, why) in cases {
        let image = formatted();
        let mut fs = Fs::open(&image);
        fs.create(2, &inline_file(b"x"));
        fs.create(3, &inline_file(b"y"));
        let blkno = fs.add_dir_block(
            ROOT_INO,
            &[("a", 2, file_type::REG), ("b", 3, file_type::REG)],
        );
        fs.edit_sealed(blkno, damage);
        expect(
            &image,
            &[
                &format!("directory 1: block {blkno}: {why}"),
                "inode 2: in use but not in any directory",
                "inode 3: in use but not in any directory",
            ],
            exit::UNCORRECTED,
        );
    }
}

/// Reserved fields are zero in every structure.
#[test]
fn reserved_fields() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let blkno = file_named(&mut fs, "f");
    let xattr = fs.add_xattr_block(2, &[("k", "v")]);
    fs.update_inode(2, |f| {
        f.xattr_block = xattr;
        f.blocks = 1;
    });
    expect(&image, &[], exit::OK);
    let clean_inodes = fs.read(fs.g().inode_table_start);

    fs.edit_inode_raw(2, |slot| slot[RESERVED + 2] = 1);
    // The inode's attribute block is lost with it.
    expect(
        &image,
        &[
            "inode 2: inode reserved bytes not zero",
            &format!("block {xattr}: marked used but not owned"),
        ],
        exit::UNCORRECTED,
    );
    fs.write(fs.g().inode_table_start, &clean_inodes);

    let clean = fs.read(xattr);
    fs.edit_sealed(xattr, |b| b[HEADER_SIZE + 4] = 1);
    expect(
        &image,
        &[&format!(
            "inode 2: xattr block {xattr}: attribute block reserved bytes not zero"
        )],
        exit::UNCORRECTED,
    );
    fs.write(xattr, &clean);

    // The block header's reserved field, in a directory and a bitmap block.
    let clean = fs.read(blkno);
    fs.edit_sealed(blkno, |b| b[24] = 1);
    expect(
        &image,
        &[
            &format!("directory 1: block {blkno}: block header reserved bytes not zero"),
            "inode 2: in use but not in any directory",
        ],
        exit::UNCORRECTED,
    );
    fs.write(blkno, &clean);
    let bitmap = fs.g().bitmap_start;
    fs.edit_sealed(bitmap, |b| b[31] = 1);
    let problem = format!("bitmap block {bitmap}: block header reserved bytes not zero");
    expect(&image, &[&problem], exit::UNCORRECTED);
    expect_repaired(&image, &[&problem]);

    // The superblock's unused bytes: nothing else can be trusted.
    fs.edit_superblock_raw(|b| b[300] = 1);
    expect(
        &image,
        &["superblock: unused bytes not zero"],
        exit::UNCORRECTED,
    );
}

/// A free inode slot is blank; a repair blanks it.
#[test]
fn free_slot_with_fields() {
    let image = formatted();
    let fs = Fs::open(&image);
    fs.put_inode(
        5,
        &DiskInode {
            nlink: 3,
            size: 10,
            ..DiskInode::FREE
        },
    );
    let problem = "inode 5: free inode with fields set";
    expect(&image, &[problem], exit::UNCORRECTED);
    expect_repaired(&image, &[problem]);
}

/// The rules of inodes that do not depend on where they are.
#[test]
fn inode_rules() {
    let fifo = DiskInode {
        mode: mode::S_IFIFO | 0o600,
        nlink: 1,
        ..DiskInode::FREE
    };
    let cases = [
        (
            DiskInode { size: 10, ..fifo },
            file_type::FIFO,
            "special file with data",
        ),
        (
            DiskInode {
                flags: INODE_INLINE,
                ..fifo
            },
            file_type::FIFO,
            "inline data on a directory or special file",
        ),
        (
            DiskInode {
                flags: INODE_IMMUTABLE,
                ..fifo
            },
            file_type::FIFO,
            "inode flags on a symlink or special file",
        ),
        (
            DiskInode {
                rdev: 0x801,
                ..inline_file(b"x")
            },
            file_type::REG,
            "device number on an inode that is no device",
        ),
        (
            DiskInode {
                mode: 0o070644,
                ..inline_file(b"x")
            },
            file_type::REG,
            "unknown file type",
        ),
    ];
    for (inode, ftype, why) in cases {
        let image = formatted();
        let mut fs = Fs::open(&image);
        fs.create(2, &inode);
        fs.add_dir_block(ROOT_INO, &[("i", 2, ftype)]);
        expect(&image, &[&format!("inode 2: {why}")], exit::UNCORRECTED);
    }
}

/// A symlink's size, and its target inline or in its block.
#[test]
fn symlinks() {
    let symlink = |size: u64| DiskInode {
        mode: mode::S_IFLNK | 0o777,
        flags: INODE_INLINE,
        nlink: 1,
        size,
        ..DiskInode::FREE
    };
    let mut nul = symlink(3);
    nul.data[..3].copy_from_slice(b"a\0b");
    for (inode, why) in [
        (symlink(0), "symlink size out of range"),
        (nul, "NUL in symlink target"),
    ] {
        let image = formatted();
        let mut fs = Fs::open(&image);
        fs.create(2, &inode);
        fs.add_dir_block(ROOT_INO, &[("l", 2, file_type::LNK)]);
        expect(&image, &[&format!("inode 2: {why}")], exit::UNCORRECTED);
    }

    // A target in a block: 300 bytes with a NUL; then two blocks.
    let image = formatted();
    let mut fs = Fs::open(&image);
    let data = fs.alloc();
    let mut target = vec![b'x'; BLOCK_SIZE];
    target[299] = 0;
    fs.write(data, &target);
    let inode = DiskInode {
        mode: mode::S_IFLNK | 0o777,
        flags: 0,
        size: 300,
        ..file(&[extent(0, data)])
    };
    fs.create(2, &inode);
    fs.add_dir_block(ROOT_INO, &[("l", 2, file_type::LNK)]);
    expect(
        &image,
        &["inode 2: NUL in symlink target"],
        exit::UNCORRECTED,
    );
    target[299] = b'x';
    fs.write(data, &target);
    expect(&image, &[], exit::OK);
    let more = fs.alloc();
    fs.put_inode(
        2,
        &DiskInode {
            size: 300,
            ..file(&[extent(0, data), extent(1, more)])
        }
        .with_mode(mode::S_IFLNK | 0o777),
    );
    expect(
        &image,
        &["inode 2: extent 1 (file block 1): symlink extent is not one written block"],
        exit::UNCORRECTED,
    );
}

/// Extension of the inode for the tests: the same inode with `mode`.
trait WithMode {
    fn with_mode(self, mode: u16) -> Self;
}

impl WithMode for DiskInode {
    fn with_mode(self, mode: u16) -> Self {
        DiskInode { mode, ..self }
    }
}

/// A directory's blocks are written, and make up its size.
#[test]
fn directory_shape() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let blkno = fs.add_dir_block(ROOT_INO, &[]);
    fs.update_inode(ROOT_INO, |root| {
        let e = Extent {
            flags: EXTENT_UNWRITTEN,
            ..extent(0, blkno)
        };
        e.encode(&mut root.data);
    });
    expect(
        &image,
        &["inode 1: extent 0 (file block 0): unwritten directory block"],
        exit::UNCORRECTED,
    );
    fs.update_inode(ROOT_INO, |root| {
        extent(0, blkno).encode(&mut root.data);
        root.size += 100;
    });
    expect(
        &image,
        &["inode 1: directory size not a multiple of the block size"],
        exit::UNCORRECTED,
    );
    fs.update_inode(ROOT_INO, |root| root.size = 2 * BLOCK_SIZE as u64);
    expect(
        &image,
        &["inode 1: directory size does not match its blocks"],
        exit::UNCORRECTED,
    );
}

/// Inode 2, a file of `count` extents of one block each, the extents past
/// the inode's in a chain of extent blocks of `per_block` extents each
/// (the last holding the rest); returns the chain.
fn chained_file(fs: &mut Fs, count: usize, per_block: usize) -> Vec<u64> {
    let extents: Vec<Extent> = (0..count as u64).map(|i| extent(i, fs.alloc())).collect();
    let rest = &extents[INODE_EXTENTS..];
    let chain: Vec<u64> = rest.chunks(per_block).map(|_| fs.alloc()).collect();
    for (i, chunk) in rest.chunks(per_block).enumerate() {
        let mut block = vec![0; BLOCK_SIZE];
        let next = chain.get(i + 1).copied().unwrap_or(0);
        ExtentBlock::encode(&mut block, chain[i], 2, next, chunk);
        fs.write(chain[i], &block);
    }
    let mut inode = file(&extents[..INODE_EXTENTS]);
    inode.extent_count = count as u32;
    inode.extent_block = chain[0];
    inode.blocks = (count + chain.len()) as u64;
    inode.size = count as u64 * BLOCK_SIZE as u64;
    fs.create(2, &inode);
    fs.add_dir_block(ROOT_INO, &[("f", 2, file_type::REG)]);
    chain
}

/// Every extent block of a chain but the last is full, and the chain is
/// as long as the extent count says.
#[test]
fn extent_chain_rules() {
    let count = INODE_EXTENTS + EXTENTS_PER_BLOCK + 2;
    let image = formatted_without_trees();
    let mut fs = Fs::open(&image);
    chained_file(&mut fs, count, EXTENTS_PER_BLOCK);
    expect(&image, &[], exit::OK);

    let image = formatted_without_trees();
    let mut fs = Fs::open(&image);
    let chain = chained_file(&mut fs, count, EXTENTS_PER_BLOCK - 1);
    // The blocks of a damaged map are not known to be its own.
    let data = fs.inode(2).data;
    let first = Extent::decode(&data).physical;
    expect(
        &image,
        &[
            &format!(
                "inode 2: extent block {}: extent block not full before the end of its chain",
                chain[0]
            ),
            &format!(
                "blocks {}-{}: marked used but not owned",
                first + INODE_EXTENTS as u64,
                chain[1]
            ),
        ],
        exit::UNCORRECTED,
    );

    // The chain cut after its first block (the last block and its extents
    // are then lost), an extent count that no filesystem of this size can
    // hold, and the extent block's reserved field.
    let image = formatted_without_trees();
    let mut fs = Fs::open(&image);
    let chain = chained_file(&mut fs, count, EXTENTS_PER_BLOCK);
    let first = Extent::decode(&fs.inode(2).data).physical;
    let lost_past =
        |blkno: u64| format!("blocks {}-{}: marked used but not owned", blkno, chain[1]);
    fs.edit_sealed(chain[0], |b| b[HEADER_SIZE..HEADER_SIZE + 8].fill(0));
    expect(
        &image,
        &[
            "inode 2: extent chain shorter than its extent count",
            &format!(
                "blocks {}-{}: marked used but not owned",
                chain[0] - 2,
                chain[0] - 1
            ),
            &format!("block {}: marked used but not owned", chain[1]),
        ],
        exit::UNCORRECTED,
    );
    fs.update_inode(2, |f| f.extent_count = u32::MAX);
    expect(
        &image,
        &[
            "inode 2: extent count exceeds the data area",
            &lost_past(first + INODE_EXTENTS as u64),
        ],
        exit::UNCORRECTED,
    );
    fs.update_inode(2, |f| f.extent_count = count as u32);
    fs.edit_sealed(chain[0], |b| {
        b[HEADER_SIZE..HEADER_SIZE + 8].copy_from_slice(&chain[1].to_le_bytes());
        b[HEADER_SIZE + 12] = 1;
    });
    expect(
        &image,
        &[
            &format!(
                "inode 2: extent block {}: extent block reserved bytes not zero",
                chain[0]
            ),
            &lost_past(first + INODE_EXTENTS as u64),
        ],
        exit::UNCORRECTED,
    );
}

/// The root directory is never on the orphan list.
#[test]
fn root_on_the_orphan_list() {
    let image = formatted();
    let mut fs = Fs::open(&image);
    fs.create(
        2,
        &DiskInode {
            nlink: 0,
            next_orphan: ROOT_INO as u32,
            ..inline_file(b"x")
        },
    );
    fs.sb.orphan_head = 2;
    fs.save_superblock();
    expect(
        &image,
        &[
            "orphan list: inode 1 (linked from inode 2) is the root directory",
            "1 orphan inode (freed at the next mount)",
        ],
        exit::UNCORRECTED,
    );
    assert!(check(&image).problems().len() == 2);
}
