// SPDX-License-Identifier: GPL-2.0
//! The fuzzer's base images are clean to fsck.rexfs, the same bytes on every
//! build, and every damaged image is reproducible from (seed, index), changes
//! the base, and has its checksum recomputed or stale as its manifest line
//! says.

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::path::PathBuf;
use std::process;
use std::sync::OnceLock;

use rexfs_format::{crc32c, crc32c_without_field, BLOCK_SIZE, INODE_SIZE, SUPERBLOCK_SIZE};
use rexfs_fsck::{exit, Fsck};
use rexfs_fuzz::base::{self, Variant};
use rexfs_fuzz::mutate::{Crc, Structure};
use rexfs_fuzz::{fsck_exit, manifest_line, Bases};
use rexfs_mkfs::Device;

/// Where the tests' files go: the temporary directory (each file is named
/// after the process and removed again).
fn scratch() -> PathBuf {
    env::temp_dir()
}

fn temp_image(name: &str) -> PathBuf {
    scratch().join(format!("rexfs-fuzz-test-{}-{name}.img", process::id()))
}

/// The bases, built once for all tests.
fn bases() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(|| Bases::build(&scratch()).unwrap())
}

#[test]
fn base_images_are_clean() {
    for b in [&bases().journal, &bases().nojournal] {
        let path = temp_image(&format!("clean-{}", b.variant.name()));
        base::write_sparse(&b.bytes, &path).unwrap();
        let fsck = Fsck::check(&Device::open(&path, false).unwrap()).unwrap();
        let problems: Vec<String> = fsck.problems().iter().map(|p| p.to_string()).collect();
        let expected: &[&str] = match b.variant {
            // Orphans are pending work of the next mount, not damage.
            Variant::Journal => &["2 orphan inodes (freed at the next mount)"],
            Variant::NoJournal => &[],
        };
        assert_eq!(problems, expected, "{}", b.variant.name());
        assert_eq!(fsck.exit_code(), exit::OK);
        let summary = fsck.summary().unwrap();
        assert_eq!(summary.inodes_used, b.nodes.len() as u64);
        fs::remove_file(&path).unwrap();
    }
}

#[test]
fn base_images_hold_every_kind_of_structure() {
    for b in [&bases().journal, &bases().nojournal] {
        assert!(b.dir_blocks.len() >= 6, "several directory blocks");
        assert_eq!(b.extent_blocks.len(), 2, "an extent chain of two blocks");
        assert!(b.xattr_blocks.len() >= 4);
        assert_eq!(b.symlink_blocks.len(), 1);
        assert!(b.nodes.len() > 60);
        let paths: Vec<&str> = b.nodes.iter().map(|n| n.path.as_str()).collect();
        for p in [
            "/small",
            "/big",
            "/link-long",
            "/fifo",
            "/dir1/sub/deep",
            "/empty",
        ] {
            assert!(paths.contains(&p), "{p}");
        }
        let orphans = paths.iter().filter(|p| **p == "<orphan>").count();
        assert_eq!(orphans, if b.variant == Variant::Journal { 2 } else { 0 });
        assert_eq!(b.geometry().has_journal(), b.variant == Variant::Journal);
    }
}

#[test]
fn base_images_are_the_same_bytes_every_time() {
    let again = Bases::build(&scratch()).unwrap();
    assert!(again.journal.bytes == bases().journal.bytes);
    assert!(again.nojournal.bytes == bases().nojournal.bytes);
}

#[test]
fn images_are_reproducible_and_damaged() {
    let b = bases();
    for index in [0, 1, 17, 999, 123_456] {
        let (one, m1) = b.image(7, index);
        let (two, m2) = b.image(7, index);
        assert!(one == two, "image {index} differs between two draws");
        assert_eq!(m1, m2);
        let base = match m1.variant {
            Variant::Journal => &b.journal,
            Variant::NoJournal => &b.nojournal,
        };
        assert!(one != base.bytes, "image {index} is the base");
        assert_eq!(one.len(), base.bytes.len());
    }
    assert!(b.image(7, 3).0 != b.image(8, 3).0);
}

/// The block where `image` differs from `base` (a mutation stays within one).
fn changed_block(image: &[u8], base: &[u8]) -> usize {
    let blocks: Vec<usize> = image
        .chunks(BLOCK_SIZE)
        .zip(base.chunks(BLOCK_SIZE))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(blocks.len(), 1, "changed blocks {blocks:?}");
    blocks[0]
}

#[test]
fn checksums_are_recomputed_or_stale_as_the_manifest_says() {
    let b = bases();
    let mut seen = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    let mut crcs = BTreeSet::new();
    for index in 0..600 {
        let (image, m) = b.image(1, index);
        let base = match m.variant {
            Variant::Journal => &b.journal,
            Variant::NoJournal => &b.nojournal,
        };
        seen.insert(m.structure);
        kinds.insert(m.mutation.split(' ').next().unwrap().to_string());
        crcs.insert(m.crc.column());
        let blkno = changed_block(&image, &base.bytes);
        let block = &image[blkno * BLOCK_SIZE..(blkno + 1) * BLOCK_SIZE];
        let le = |off: usize| u32::from_le_bytes(block[off..off + 4].try_into().unwrap());
        let g = base.geometry();
        let valid = match m.structure {
            Structure::Superblock => {
                le(SUPERBLOCK_SIZE - 4) == crc32c_without_field(&block[..SUPERBLOCK_SIZE], 508)
            }
            Structure::Inode | Structure::FreeInode | Structure::InodeExtent => {
                // The slot that changed.
                let first = (0..BLOCK_SIZE)
                    .find(|&i| block[i] != base.bytes[blkno * BLOCK_SIZE + i])
                    .unwrap();
                let slot = first / INODE_SIZE * INODE_SIZE;
                let s = &block[slot..slot + INODE_SIZE];
                u32::from_le_bytes(s[252..].try_into().unwrap()) == crc32c_without_field(s, 252)
            }
            Structure::JournalSuperblock => {
                assert_eq!(blkno as u64, g.journal_start);
                let mut copy = block[..1024].to_vec();
                copy[0xfc..0x100].fill(0);
                u32::from_be_bytes(block[0xfc..0x100].try_into().unwrap()) == !crc32c(&copy)
            }
            Structure::SymlinkBlock => {
                assert_eq!(m.crc, Crc::None, "{index}");
                continue;
            }
            _ => le(4) == crc32c_without_field(block, 4),
        };
        match m.crc {
            Crc::Recomputed => assert!(valid, "image {index}: {m:?}"),
            Crc::Stale => assert!(!valid, "image {index}: {m:?}"),
            Crc::None => panic!("image {index}: {m:?}"),
        }
    }
    assert_eq!(seen.len(), Structure::ALL.len(), "{seen:?}");
    for kind in ["set", "flip", "random"] {
        assert!(kinds.contains(kind), "{kinds:?}");
    }
    assert_eq!(crcs.len(), 3);
}

#[test]
fn manifest_lines_carry_fsck_and_allowed_errnos() {
    let b = bases();
    // An inode flag allows EPERM (immutable, append only), a free count
    // ENOSPC; fsck detects a damaged structure with a stale checksum.
    let mut flags = false;
    let mut stale_detected = 0;
    for index in 0..300 {
        let (image, m) = b.image(1, index);
        if m.structure == Structure::Inode && m.field == "flags" && m.mutation.starts_with("set") {
            assert!(m.allowed.contains(&"EPERM"), "{m:?}");
            flags = true;
        }
        if m.structure == Structure::Superblock && m.field == "free_blocks" {
            assert!(m.allowed.contains(&"ENOSPC"), "{m:?}");
        }
        if m.crc == Crc::Stale && stale_detected < 5 {
            let path = temp_image(&format!("stale-{index}"));
            base::write_sparse(&image, &path).unwrap();
            let code = fsck_exit(&path);
            fs::remove_file(&path).unwrap();
            assert_ne!(code, exit::OK, "image {index}: {m:?}");
            let line = manifest_line(&m, Some(code)).to_tsv();
            assert_eq!(line.split('\t').count(), 9);
            assert!(line.starts_with(&format!("{index}\t{}\t", m.structure.name())));
            stale_detected += 1;
        }
    }
    assert!(flags, "no image with a damaged inode flag in 300");
    assert_eq!(stale_detected, 5);
}
