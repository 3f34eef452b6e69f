// SPDX-License-Identifier: GPL-2.0
//! The named damaged images (`rexfs-fuzz --case`): each changes one field
//! of the journaled base image at the place its line names, with the
//! checksum recomputed; fsck.rexfs's library refuses it for exactly that
//! damage and what follows from it, and walks the rest of the image as
//! clean (every inode read, no other problem).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use std::process;
use std::sync::OnceLock;

use rexfs_format::{
    BlockHeader, BlockKind, DiskInode, Superblock, BLOCK_SIZE, INODE_SIZE, ROOT_INO,
};
use rexfs_fsck::{exit, Fsck};
use rexfs_fuzz::base::{self, Base, Variant};
use rexfs_fuzz::cases::{self, Damage, CASES};
use rexfs_fuzz::mutate::{Crc, Structure};
use rexfs_mkfs::Device;

fn temp_image(name: &str) -> PathBuf {
    env::temp_dir().join(format!("rexfs-fuzz-case-{}-{name}.img", process::id()))
}

/// The journaled base, built once for all tests.
fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| base::build(Variant::Journal, &env::temp_dir()).unwrap())
}

/// The image of case `name` and its damage.
fn case(name: &str) -> (Vec<u8>, Damage) {
    cases::find(name).unwrap().image(base()).unwrap()
}

/// The problems `Fsck::check` finds in `image` that are damage (not the
/// base's two orphans, pending work of the next mount), and its exit code;
/// checks that it read every inode of the base.
fn fsck(name: &str, image: &[u8]) -> (Vec<String>, u8) {
    let path = temp_image(name);
    base::write_sparse(image, &path).unwrap();
    let fsck = Fsck::check(&Device::open(&path, false).unwrap()).unwrap();
    fs::remove_file(&path).unwrap();
    let pending: Vec<String> = fsck
        .problems()
        .iter()
        .filter(|p| p.is_pending())
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        pending,
        ["2 orphan inodes (freed at the next mount)"],
        "{name}"
    );
    let summary = fsck.summary().expect("the superblock is sound");
    assert_eq!(summary.inodes_used, base().nodes.len() as u64, "{name}");
    let damage = fsck
        .problems()
        .iter()
        .filter(|p| !p.is_pending())
        .map(|p| p.to_string())
        .collect();
    (damage, fsck.exit_code())
}

/// The blocks where `image` differs from the base.
fn changed_blocks(image: &[u8]) -> Vec<u64> {
    (0..)
        .zip(
            image
                .chunks(BLOCK_SIZE)
                .zip(base().bytes.chunks(BLOCK_SIZE)),
        )
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i)
        .collect()
}

/// The inode `ino` as stored in `image` (its checksum verified).
fn inode_in(image: &[u8], ino: u64) -> DiskInode {
    let (blkno, offset) = base().geometry().inode_location(ino).unwrap();
    let at = blkno as usize * BLOCK_SIZE + offset;
    DiskInode::decode(&image[at..at + INODE_SIZE]).unwrap()
}

#[test]
fn dir_nlink_max() {
    let (image, d) = case("dir-nlink-max");
    assert_eq!(d.path, "/dir1/sub");
    assert_eq!(d.ino, base().find("/dir1/sub").unwrap().ino);
    assert!(base().find("/dir1/sub/sub2").is_some(), "a subdirectory");
    assert_eq!((d.block, d.was), (None, 3));
    assert_eq!(d.mutation.structure, Structure::Inode);
    assert_eq!(d.mutation.field, "nlink");
    assert_eq!(d.mutation.crc, Crc::Recomputed);
    assert_eq!(inode_in(&image, d.ino).nlink, u32::MAX);
    let (table, _) = base().geometry().inode_location(d.ino).unwrap();
    assert_eq!(changed_blocks(&image), [table]);

    let (problems, code) = fsck("nlink", &image);
    let ino = d.ino;
    assert_eq!(
        problems,
        [format!(
            "inode {ino}: link count is 4294967295, should be 3"
        )]
    );
    assert_eq!(code, exit::UNCORRECTED);
}

#[test]
fn dirent_name_len_zero() {
    let (image, d) = case("dirent-name-len-zero");
    let dir = base().find("/dir1").unwrap().ino;
    assert_eq!((d.path.as_str(), d.ino, d.was), ("/dir1", dir, 1));
    assert_eq!(d.mutation.structure, Structure::DirBlock);
    assert!(d.mutation.field.ends_with("].name_len"), "{:?}", d.mutation);
    let blkno = d.block.expect("a directory block");
    // The third of /dir1's three blocks, after 40 entries in the others.
    let blocks: Vec<u64> = base()
        .dir_blocks
        .iter()
        .filter(|o| o.ino == dir)
        .map(|o| o.blkno)
        .collect();
    assert_eq!(blocks.len(), 3);
    assert_eq!(blkno, blocks[2]);
    assert_eq!(changed_blocks(&image), [blkno]);
    // Sealed again: the header verifies.
    let block = &image[blkno as usize * BLOCK_SIZE..][..BLOCK_SIZE];
    assert_eq!(
        BlockHeader::verify(block, BlockKind::Directory, blkno),
        Ok(dir)
    );

    let (problems, code) = fsck("name-len", &image);
    let at = format!("directory {dir}: entry \"\"");
    assert_eq!(
        problems,
        [
            format!("{at}: directory entry with an empty name"),
            // The name's byte is still there.
            format!("{at}: stale bytes after a directory entry's name"),
        ]
    );
    assert_eq!(code, exit::UNCORRECTED);
}

#[test]
fn file_extent_out_of_range() {
    let (image, d) = case("file-extent-out-of-range");
    let g = base().geometry();
    assert_eq!(d.path, "/dir1/sub/deep");
    let node = base().find("/dir1/sub/deep").unwrap();
    assert_eq!((d.ino, d.block), (node.ino, None));
    assert_eq!(node.inode_extents, 1);
    assert_eq!(d.mutation.structure, Structure::InodeExtent);
    assert_eq!(d.mutation.field, "physical");
    let inode = inode_in(&image, d.ino);
    let extents: Vec<_> = inode.inode_extents().collect();
    assert_eq!(extents.len(), 1);
    assert_eq!(extents[0].physical, g.block_count);
    assert!(d.was >= g.data_start && d.was + 2 <= g.block_count);
    let (table, _) = g.inode_location(d.ino).unwrap();
    assert_eq!(changed_blocks(&image), [table]);

    let (problems, code) = fsck("extent", &image);
    let (ino, first) = (d.ino, d.was);
    assert_eq!(
        problems,
        [
            format!("inode {ino}: extent 0 (file block 0): extent outside the data area"),
            // Its two blocks, which nothing claims now.
            format!("blocks {first}-{}: marked used but not owned", first + 1),
        ]
    );
    assert_eq!(code, exit::UNCORRECTED);
}

#[test]
fn free_blocks_low() {
    let (image, d) = case("free-blocks-low");
    assert_eq!((d.path.as_str(), d.ino, d.block), ("/", ROOT_INO, None));
    assert_eq!(d.mutation.structure, Structure::Superblock);
    assert_eq!(d.mutation.field, "free_blocks");
    assert_eq!(d.mutation.allowed, ["ENOSPC"]);
    assert!(d.was > 1000, "{}", d.was);
    assert_eq!(
        Superblock::decode(&image[..BLOCK_SIZE])
            .unwrap()
            .free_blocks,
        2
    );
    assert_eq!(changed_blocks(&image), [0]);

    let (problems, code) = fsck("free", &image);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("superblock: free block count is 2, should be "),
        "{problems:?}"
    );
    assert_eq!(code, exit::UNCORRECTED);
}

#[test]
fn the_command_writes_each_case() {
    for c in &CASES {
        let path = temp_image(&format!("cli-{}", c.name));
        let args = ["--case", c.name, "--out", path.to_str().unwrap()];
        assert_eq!(rexfs_fuzz::cli(args.map(OsString::from)), 0, "{}", c.name);
        let written = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        let (image, d) = case(c.name);
        assert!(written == image, "{}: the image differs", c.name);
        // The line: NAME PATH INODE BLOCK WHAT.
        let line = d.line(c.name);
        let words: Vec<&str> = line.split(' ').collect();
        let block = d.block.map_or("-".to_string(), |b| b.to_string());
        assert_eq!(words[..4], [c.name, &d.path, &d.ino.to_string(), &block]);
        assert!(line.ends_with(&d.mutation.mutation), "{line}");
    }
    let bad = ["--case", "no-such-case", "--out", "/nonexistent/x.img"];
    assert_eq!(rexfs_fuzz::cli(bad.map(OsString::from)), 2);
}
