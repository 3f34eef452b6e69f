// SPDX-License-Identifier: GPL-2.0
//! What mkfs.rexfs writes, and how the binary behaves.

mod common;

use std::process::{Command, Output};

use common::Image;
use rexfs_format::{
    bitmap_payload, mode, refcount_get, refcount_location, test_bit, verify_refcount_block,
    BlockHeader, BlockKind, DiskInode, Geometry, JournalSuperblock, Superblock,
    BITS_PER_BITMAP_BLOCK, BLOCK_SIZE, FEATURE_INCOMPAT_DIR_INDEX, FEATURE_INCOMPAT_EXTENT_TREE,
    FEATURE_INCOMPAT_JOURNAL, FEATURE_INCOMPAT_REFLINK, HEADER_SIZE, INODE_SIZE,
    REFCOUNTS_PER_BLOCK, ROOT_INO, STATE_CLEAN,
};
use rexfs_mkfs::{Device, Error};

const MIB: u64 = 1 << 20;
/// The features every new filesystem gets unless `-O` turns them off:
/// directory indexes and extent trees.
const TREES: u32 = FEATURE_INCOMPAT_DIR_INDEX | FEATURE_INCOMPAT_EXTENT_TREE;

fn read(dev: &Device, blkno: u64, count: u64) -> Vec<u8> {
    let mut buf = vec![0; count as usize * BLOCK_SIZE];
    dev.read_blocks(blkno, &mut buf).unwrap();
    buf
}

fn superblock(dev: &Device) -> Superblock {
    Superblock::decode(&read(dev, 0, 1)).unwrap()
}

#[test]
fn superblock_matches_geometry() {
    let image = Image::new(16 * MIB);
    let sb = image.mkfs(&["-q", "-L", "scratch"]).unwrap();
    let on_disk = superblock(&image.open());
    assert_eq!(on_disk, sb);
    // 16 MiB: the default journal of 4 MiB, and reflink with it.
    let g = Geometry::with_refcounts(4096, 1024, 1024).unwrap();
    assert_eq!(sb.geometry, g);
    assert_eq!(
        sb.feature_incompat,
        FEATURE_INCOMPAT_JOURNAL | FEATURE_INCOMPAT_REFLINK | TREES
    );
    assert_eq!(sb.orphan_head, 0);
    assert_eq!(sb.free_blocks, g.data_blocks());
    assert_eq!(sb.free_inodes, g.inode_count - 1);
    assert_eq!(sb.root_ino, ROOT_INO);
    assert_eq!(sb.state, STATE_CLEAN);
    assert_eq!(&sb.label[..8], b"scratch\0");
    assert_eq!(sb.uuid[6] >> 4, 4, "random UUID");
    assert_ne!(image.mkfs(&["-q"]).unwrap().uuid, sb.uuid);
}

#[test]
fn root_is_an_empty_directory() {
    let image = Image::formatted(16 * MIB, &["-q"]);
    let dev = image.open();
    let g = superblock(&dev).geometry;
    let table = read(&dev, g.inode_table_start, g.inode_table_blocks);
    let root = DiskInode::decode(&table[..INODE_SIZE]).unwrap();
    assert_eq!(root.mode, mode::S_IFDIR | 0o755);
    assert_eq!((root.nlink, root.uid, root.gid), (2, 0, 0));
    assert_eq!(
        (root.size, root.blocks, root.extent_count, root.extent_block),
        (0, 0, 0, 0)
    );
    assert_eq!(root.parent, ROOT_INO);
    assert!(root.mtime.sec > 0);
    assert_eq!([root.atime, root.ctime, root.crtime], [root.mtime; 3]);
    assert!(
        table[INODE_SIZE..].iter().all(|&b| b == 0),
        "other inodes are free"
    );
}

#[test]
fn inode_table_is_cleared() {
    let image = Image::new(16 * MIB);
    std::fs::write(image.path(), vec![0xa5; 16 * MIB as usize]).unwrap();
    image.mkfs(&["-q", "-N", "5000"]).unwrap();
    let dev = image.open();
    let g = superblock(&dev).geometry;
    assert_eq!(g.inode_count, 5000);
    let table = read(&dev, g.inode_table_start, g.inode_table_blocks);
    assert!(table[INODE_SIZE..].iter().all(|&b| b == 0));
    // Data blocks are left alone.
    assert!(read(&dev, g.data_start, 1).iter().all(|&b| b == 0xa5));
}

#[test]
fn bitmap_marks_metadata_and_missing_blocks() {
    // Two bitmap blocks, the second mostly beyond the end.
    let blocks = BITS_PER_BITMAP_BLOCK + 1000;
    let image = Image::formatted(blocks * BLOCK_SIZE as u64, &["-q"]);
    let dev = image.open();
    let g = superblock(&dev).geometry;
    assert_eq!(g.bitmap_blocks, 2);
    for index in 0..g.bitmap_blocks {
        let block = read(&dev, g.bitmap_start + index, 1);
        assert_eq!(
            BlockHeader::verify(&block, BlockKind::Bitmap, g.bitmap_start + index),
            Ok(0)
        );
        let bits = bitmap_payload(&block);
        for bit in 0..BITS_PER_BITMAP_BLOCK {
            let blkno = index * BITS_PER_BITMAP_BLOCK + bit;
            let used = blkno < g.data_start || blkno >= g.block_count;
            assert_eq!(test_bit(bits, bit as usize), used, "block {blkno}");
        }
    }
}

#[test]
fn size_option_limits_the_filesystem() {
    let image = Image::new(16 * MIB);
    let sb = image.mkfs(&["-q", "-s", "1M"]).unwrap();
    assert_eq!(sb.geometry.block_count, 256);
    assert_eq!(sb.geometry.inode_count, 64);
    // A size that is not a whole number of blocks is rounded down.
    let sb = image.mkfs(&["-q", "-s", "1000000"]).unwrap();
    assert_eq!(sb.geometry.block_count, 244);
}

#[test]
fn unusable_sizes_rejected() {
    let image = Image::new(16 * MIB);
    assert!(matches!(image.mkfs(&["-s", "17M"]), Err(Error::Invalid(_))));
    assert!(matches!(
        image.mkfs(&["-s", "255K"]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        image.mkfs(&["-b", "1024"]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        image.mkfs(&["-N", "70000"]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(image.mkfs(&["-N", "0"]), Err(Error::Invalid(_))));
    let small = Image::new(255 * 1024);
    assert!(matches!(small.mkfs(&[]), Err(Error::Invalid(_))));
    // Nothing was written.
    assert!(std::fs::read(image.path()).unwrap().iter().all(|&b| b == 0));
}

#[test]
fn long_label_truncated() {
    let image = Image::new(MIB);
    let sb = image.mkfs(&["-q", "-L", &"x".repeat(40)]).unwrap();
    assert_eq!(sb.label, [b'x'; 32]);
}

/// The journal region: the jbd2 superblock of an empty journal with the
/// filesystem's UUID, then zeroes; the blocks around it untouched, and the
/// region marked used in the bitmap.
#[test]
fn journal_region_written() {
    let image = Image::new(16 * MIB);
    std::fs::write(image.path(), vec![0xa5; 16 * MIB as usize]).unwrap();
    let sb = image.mkfs(&["-q"]).unwrap();
    let g = sb.geometry;
    assert_eq!((g.journal_start, g.journal_blocks), (66, 1024));
    let dev = image.open();
    let region = read(&dev, g.journal_start, g.journal_blocks);
    let jsb = JournalSuperblock::decode(&region[..BLOCK_SIZE], g.journal_blocks).unwrap();
    assert_eq!(jsb, JournalSuperblock::new(g.journal_blocks, sb.uuid));
    assert!(!jsb.needs_recovery());
    assert_eq!((jsb.maxlen, jsb.first, jsb.sequence), (1024, 1, 1));
    assert!(region[1024..].iter().all(|&b| b == 0), "log zeroed");
    assert!(read(&dev, g.data_start, 1).iter().all(|&b| b == 0xa5));
    let bits = read(&dev, g.bitmap_start, 1);
    let bits = bitmap_payload(&bits);
    for blkno in 0..g.block_count {
        assert_eq!(
            test_bit(bits, blkno as usize),
            blkno < g.data_start,
            "{blkno}"
        );
    }
    assert_eq!(sb.free_blocks, g.block_count - g.data_start);
}

/// Without -J, the journal is sized as mke2fs sizes it: none below 8 MiB,
/// 4 MiB up to 128 MiB, 16 MiB up to 1 GiB, 32 MiB up to 2 GiB.
#[test]
fn default_journal_sizes() {
    for (bytes, journal) in [
        (MIB, 0),
        (8 * MIB - 4096, 0),
        (8 * MIB, 1024),
        (128 * MIB - 4096, 1024),
        (128 * MIB, 4096),
        (1024 * MIB, 8192),
    ] {
        let image = Image::new(bytes);
        let sb = image.mkfs(&["-q", "-N", "16"]).unwrap();
        let g = superblock(&image.open()).geometry;
        assert_eq!(g, sb.geometry);
        assert_eq!(g.journal_blocks, journal, "{bytes} bytes");
        assert_eq!(
            sb.feature_incompat,
            if journal == 0 {
                TREES
            } else {
                FEATURE_INCOMPAT_JOURNAL | FEATURE_INCOMPAT_REFLINK | TREES
            },
            "{bytes} bytes"
        );
        assert_eq!(g.has_refcounts(), journal != 0, "{bytes} bytes");
        if journal != 0 {
            let jsb = JournalSuperblock::decode(&read(&image.open(), g.journal_start, 1), journal);
            assert_eq!(jsb.unwrap().maxlen as u64, journal);
        }
    }
}

#[test]
fn journal_size_option() {
    let image = Image::new(64 * MIB);
    let sb = image.mkfs(&["-q", "-J", "size=8"]).unwrap();
    assert_eq!(
        sb.geometry,
        Geometry::with_refcounts(16_384, 4096, 2048).unwrap()
    );
    assert_eq!(
        sb.feature_incompat,
        FEATURE_INCOMPAT_JOURNAL | FEATURE_INCOMPAT_REFLINK | TREES
    );
    let jsb = JournalSuperblock::decode(&read(&image.open(), sb.geometry.journal_start, 1), 2048);
    assert_eq!(jsb.unwrap().maxlen, 2048);
    // 63 MiB of 64: all but the bitmap, the inode-table block, the refcount
    // table of 17 blocks and 236 data blocks.
    let sb = image.mkfs(&["-q", "-N", "16", "-J", "size=63"]).unwrap();
    assert_eq!(sb.geometry.refcount_blocks, 17);
    assert_eq!(sb.geometry.data_blocks(), 16_384 - 3 - 63 * 256 - 17);
    // A journal on a filesystem too small for the default one.
    let small = Image::new(4 * MIB);
    let sb = small.mkfs(&["-q", "-J", "size=2"]);
    assert!(matches!(sb, Err(Error::Invalid(_))), "2 MiB is too small");
    let sb = small.mkfs(&["-q", "-N", "16", "-J", "size=4"]);
    assert!(matches!(sb, Err(Error::Invalid(_))), "4 MiB leaves no room");
    let sb = Image::new(5 * MIB).mkfs(&["-q", "-J", "size=4"]).unwrap();
    assert_eq!(sb.geometry.journal_blocks, 1024);
}

/// `-J none` makes the filesystem of format v1 without a journal: the
/// same layout as before journals existed, no journal feature (the
/// directory index and extent tree features do not need one).
#[test]
fn no_journal() {
    let image = Image::new(16 * MIB);
    let sb = image.mkfs(&["-q", "-J", "none"]).unwrap();
    assert_eq!(sb.geometry, Geometry::new(4096, 1024, 0).unwrap());
    assert_eq!(sb.geometry.data_start, 66);
    assert_eq!(sb.feature_incompat, TREES);
    assert!(!sb.geometry.has_journal());
    assert_eq!(superblock(&image.open()), sb);
}

/// The refcount table, right after the journal: every block an empty,
/// sealed table block; the blocks around it untouched, and the table marked
/// used in the bitmap.
#[test]
fn refcount_table_written() {
    let image = Image::new(16 * MIB);
    std::fs::write(image.path(), vec![0xa5; 16 * MIB as usize]).unwrap();
    let sb = image.mkfs(&["-q"]).unwrap();
    let g = sb.geometry;
    assert_eq!((g.refcount_start, g.refcount_blocks), (66 + 1024, 5));
    assert_eq!(g.data_start, g.refcount_start + 5);
    assert_eq!(sb.free_blocks, 4096 - 1095);
    let dev = image.open();
    let table = read(&dev, g.refcount_start, g.refcount_blocks);
    for (blkno, block) in (g.refcount_start..).zip(table.chunks(BLOCK_SIZE)) {
        assert_eq!(verify_refcount_block(block, blkno, &g), Ok(()), "{blkno}");
        assert!(block[HEADER_SIZE..].iter().all(|&b| b == 0), "{blkno}");
        assert!((0..REFCOUNTS_PER_BLOCK).all(|i| refcount_get(block, i) == 0));
    }
    // The entry of the last block is in the last table block.
    let (last, index) = refcount_location(&g, g.block_count - 1);
    assert_eq!((last, index), (g.refcount_start + 4, 4095 - 4 * 1016));
    assert!(read(&dev, g.data_start, 1).iter().all(|&b| b == 0xa5));
    let bits = read(&dev, g.bitmap_start, 1);
    let bits = bitmap_payload(&bits);
    for blkno in g.journal_start..g.data_start + 1 {
        assert_eq!(
            test_bit(bits, blkno as usize),
            blkno < g.data_start,
            "{blkno}"
        );
    }
}

/// `-O reflink` and `-O ^reflink`: reflink is on by default with a journal,
/// and needs one.
#[test]
fn reflink_feature_option() {
    let image = Image::new(16 * MIB);
    let off = image.mkfs(&["-q", "-O", "^reflink"]).unwrap();
    assert_eq!(off.geometry, Geometry::new(4096, 1024, 1024).unwrap());
    assert_eq!(off.geometry.data_start, 1090);
    assert_eq!(off.feature_incompat, FEATURE_INCOMPAT_JOURNAL | TREES);
    assert_eq!(superblock(&image.open()), off);
    let on = image.mkfs(&["-q", "-O", "reflink"]).unwrap();
    assert_eq!(
        on.geometry,
        Geometry::with_refcounts(4096, 1024, 1024).unwrap()
    );
    assert_eq!(
        on.feature_incompat,
        FEATURE_INCOMPAT_JOURNAL | FEATURE_INCOMPAT_REFLINK | TREES
    );
    assert_eq!(superblock(&image.open()), on);
    let last = image.mkfs(&["-q", "-O", "reflink,^reflink"]).unwrap();
    assert!(!last.geometry.has_refcounts());

    // Without a journal: none by default, an error when asked for.
    let sb = image.mkfs(&["-q", "-J", "none"]).unwrap();
    assert_eq!(sb.feature_incompat, TREES);
    assert!(matches!(
        image.mkfs(&["-q", "-O", "reflink", "-J", "none"]),
        Err(Error::Usage(_))
    ));
    let small = Image::new(4 * MIB);
    assert!(!small.mkfs(&["-q"]).unwrap().geometry.has_refcounts());
    match small.mkfs(&["-q", "-O", "reflink"]) {
        Err(Error::Invalid(msg)) => assert_eq!(
            msg,
            "cannot make a filesystem of 1024 blocks with reflink: it needs a journal, and a \
             filesystem this small has none by default (-J size=MiB gives it one)"
        ),
        other => panic!("{other:?}"),
    }
    let sb = Image::new(5 * MIB)
        .mkfs(&["-q", "-O", "reflink", "-J", "size=4"])
        .unwrap();
    assert_eq!(
        (sb.geometry.journal_blocks, sb.geometry.refcount_blocks),
        (1024, 2)
    );
    for bad in ["dedupe", "", "reflink,extents"] {
        assert!(
            matches!(image.mkfs(&["-O", bad]), Err(Error::Usage(_))),
            "{bad}"
        );
    }
}

/// `-O ^dir_index` and `-O ^extent_tree` leave out a feature every new
/// filesystem has by default; the layout is the same with or without.
#[test]
fn dir_index_and_extent_tree_options() {
    let image = Image::new(16 * MIB);
    let default = image.mkfs(&["-q"]).unwrap();
    for (args, features) in [
        (&["-O", "^dir_index"][..], FEATURE_INCOMPAT_EXTENT_TREE),
        (&["-O", "^extent_tree"], FEATURE_INCOMPAT_DIR_INDEX),
        (&["-O", "^dir_index,^extent_tree"], 0),
        (
            &["-O", "^extent_tree,^dir_index", "-O", "extent_tree"],
            FEATURE_INCOMPAT_EXTENT_TREE,
        ),
        (&["-O", "dir_index,extent_tree"], TREES),
    ] {
        let sb = image.mkfs(&[&["-q"], args].concat()).unwrap();
        assert_eq!(
            sb.feature_incompat,
            FEATURE_INCOMPAT_JOURNAL | FEATURE_INCOMPAT_REFLINK | features,
            "{args:?}"
        );
        assert_eq!(sb.geometry, default.geometry, "{args:?}");
        assert_eq!(superblock(&image.open()), sb, "{args:?}");
    }
    let sb = image
        .mkfs(&["-q", "-J", "none", "-O", "^reflink,^dir_index"])
        .unwrap();
    assert_eq!(sb.feature_incompat, FEATURE_INCOMPAT_EXTENT_TREE);
}

#[test]
fn bad_journal_sizes() {
    let image = Image::new(16 * MIB);
    for (args, message) in [
        (
            &["-J", "size=3"][..],
            "journal size 3 MiB is out of range (4 to 4194304 MiB)",
        ),
        (
            &["-J", "size=4194305"],
            "journal size 4194305 MiB is out of range (4 to 4194304 MiB)",
        ),
        (
            &["-J", "size=16"],
            "cannot make a filesystem of 4096 blocks with a journal of 16 MiB (4096 blocks): \
             metadata does not fit",
        ),
        (
            &["-N", "60000"],
            "cannot make a filesystem of 4096 blocks with a journal of 4 MiB (1024 blocks); \
             -J none makes it without one: metadata does not fit",
        ),
    ] {
        match image.mkfs(args) {
            Err(Error::Invalid(msg)) => assert_eq!(msg, message),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    for args in [&["-J", "size=4M"][..], &["-J", "size"], &["-J", "small"]] {
        assert!(matches!(image.mkfs(args), Err(Error::Usage(_))), "{args:?}");
    }
    // Nothing was written.
    assert!(std::fs::read(image.path()).unwrap().iter().all(|&b| b == 0));
    // Without the journal, those inodes fit.
    assert!(image.mkfs(&["-q", "-N", "60000", "-J", "none"]).is_ok());
}

fn mkfs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mkfs-rexfs"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn binary_exit_codes() {
    let version = mkfs(&["-V"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("mkfs.rexfs "));

    let image = Image::new(16 * MIB);
    let path = image.path().to_str().unwrap();
    let made = mkfs(&["-f", "-L", "x", path]);
    assert_eq!(made.status.code(), Some(0));
    let out = String::from_utf8_lossy(&made.stdout);
    assert!(
        out.contains("4096 blocks")
            && out.contains("1024 inodes")
            && out.contains(
                "3001 data blocks, a journal of 1024 blocks (4 MiB), reflink (a refcount table \
                 of 5 blocks), dir_index, extent_tree\n"
            ),
        "{out}"
    );
    let made = mkfs(&["-f", "-J", "none", path]);
    assert_eq!(made.status.code(), Some(0));
    let out = String::from_utf8_lossy(&made.stdout);
    assert!(
        out.ends_with("4030 data blocks, no journal, dir_index, extent_tree\n"),
        "{out}"
    );
    let made = mkfs(&["-f", "-O", "^reflink,^dir_index", path]);
    assert_eq!(made.status.code(), Some(0));
    let out = String::from_utf8_lossy(&made.stdout);
    assert!(
        out.ends_with("3006 data blocks, a journal of 1024 blocks (4 MiB), extent_tree\n"),
        "{out}"
    );
    let made = mkfs(&["-f", "-J", "none", "-O", "^extent_tree,^dir_index", path]);
    assert_eq!(made.status.code(), Some(0));
    let out = String::from_utf8_lossy(&made.stdout);
    assert!(out.ends_with("4030 data blocks, no journal\n"), "{out}");
    let quiet = mkfs(&["-q", "-f", path]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stdout.is_empty());

    for bad in [
        &[][..],
        &["-x", path],
        &["-L"],
        &["-b", "1024", path],
        &["-s", "1G", path],
        &["-J", "size=2", path],
        &["-J", "size=16", path],
        &["-J", "bytes=16", path],
        &["-O", "dedupe", path],
        &["-O", "^dir_index,extents", path],
        &["-O", "reflink", "-J", "none", path],
    ] {
        let failed = mkfs(bad);
        assert_eq!(failed.status.code(), Some(1), "{bad:?}");
        assert!(String::from_utf8_lossy(&failed.stderr).starts_with("mkfs.rexfs: "));
    }
    assert!(String::from_utf8_lossy(&mkfs(&[]).stderr).contains("usage: mkfs.rexfs"));
    let bad_journal = mkfs(&["-J", "big", path]);
    assert_eq!(
        String::from_utf8_lossy(&bad_journal.stderr),
        "mkfs.rexfs: invalid journal option big: use -J size=MiB or -J none\n\
         usage: mkfs.rexfs [-q] [-f|-F] [-L label] [-N inodes] [-J size=MiB|none] \
         [-O [^]reflink|dir_index|extent_tree[,...]] [-b blocksize] [-s size] DEVICE [fs-size]\n"
    );
    let bad_feature = mkfs(&["-O", "dedupe", path]);
    assert!(String::from_utf8_lossy(&bad_feature.stderr).starts_with(
        "mkfs.rexfs: invalid feature dedupe: the features are reflink, dir_index and \
         extent_tree, turned off with a ^ before the name\n\
         usage: mkfs.rexfs "
    ));
    let no_journal = mkfs(&["-O", "reflink", "-J", "none", path]);
    assert!(String::from_utf8_lossy(&no_journal.stderr).starts_with(
        "mkfs.rexfs: -O reflink needs a journal: it cannot be combined with -J none\n"
    ));
    assert_eq!(mkfs(&["/nonexistent/rexfs.img"]).status.code(), Some(1));
}

/// The command lines xfstests runs: `mkfs -t rexfs -- [options] DEVICE`
/// (with `yes |` before it), and mke2fs-style `-F -b 4096 DEVICE BLOCKS`.
#[test]
fn xfstests_command_lines() {
    let image = Image::new(16 * MIB);
    let path = image.path().to_str().unwrap();
    let made = mkfs(&["-F", "-b", "4096", path, "512"]);
    assert_eq!(made.status.code(), Some(0), "{made:?}");
    assert_eq!(superblock(&image.open()).geometry.block_count, 512);
    let made = mkfs(&["-q", "-f", path, "4M"]);
    assert_eq!(made.status.code(), Some(0), "{made:?}");
    assert_eq!(superblock(&image.open()).geometry.block_count, 1024);
    let too_big = mkfs(&["-f", path, "17M"]);
    assert_eq!(too_big.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&too_big.stderr).contains("exceeds the size"),
        "{too_big:?}"
    );

    // Through util-linux's mkfs front end, when it is installed.
    let Ok(front) = Command::new("mkfs").arg("-V").output() else {
        return;
    };
    if !front.status.success() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rexfs-test-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("mkfs.rexfs");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mkfs-rexfs"), &link).unwrap();
    let path_var = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let made = Command::new("mkfs")
        .args(["-t", "rexfs", "--", "-q", "-f", path])
        .env("PATH", path_var)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(made.status.code(), Some(0), "{made:?}");
    assert!(made.stdout.is_empty(), "{made:?}");
    assert_eq!(superblock(&image.open()).geometry.block_count, 4096);
}

/// Without -f, mkfs.rexfs leaves a device alone that holds a filesystem,
/// rexfs or another (found by `blkid -p`), as mkfs.xfs does.
#[test]
fn refuses_to_overwrite() {
    let image = Image::new(16 * MIB);
    let path = image.path().to_str().unwrap();
    assert_eq!(
        mkfs(&["-q", path]).status.code(),
        Some(0),
        "an all-zero image"
    );
    let first = superblock(&image.open());
    let refused = mkfs(&["-q", path]);
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("appears to contain an existing filesystem (rexfs)"),
        "{message}"
    );
    assert!(message.contains("use -f"), "{message}");
    assert_eq!(
        superblock(&image.open()).uuid,
        first.uuid,
        "refused, yet written"
    );
    assert_eq!(mkfs(&["-q", "-f", path]).status.code(), Some(0));
    assert_ne!(superblock(&image.open()).uuid, first.uuid);

    // Another filesystem, when mkfs.ext4 is installed.
    let other = Image::new(16 * MIB);
    let path = other.path().to_str().unwrap();
    let Ok(ext4) = Command::new("mkfs.ext4").args(["-q", "-F", path]).output() else {
        return;
    };
    assert!(ext4.status.success(), "{ext4:?}");
    let refused = mkfs(&["-q", path]);
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("appears to contain an existing filesystem (ext4)"),
        "{message}"
    );
    assert_eq!(mkfs(&["-q", "-F", path]).status.code(), Some(0));
}
