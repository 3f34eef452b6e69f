// SPDX-License-Identifier: GPL-2.0
//! fsck.rexfs on the B+trees of the extent tree and directory index
//! features, which mkfs.rexfs gives every new filesystem: a file of more
//! extents than its inode holds and a directory of several data blocks,
//! their trees written through the format crate's tree code, are clean;
//! each kind of damage to a tree is reported where it is, and no repair
//! frees a block a tree holds.

#[path = "../../mkfs/tests/common/mod.rs"]
mod common;
mod edit;

use std::process::Command;

use common::Image;
use edit::{
    check, dir, expect, extent, file, formatted, inline_file, messages, repair, Fs, Nodes, BS,
};
use rexfs_format::{
    block_room, file_type, free_key, name_key, BTree, DiskInode, Extent, Record, DIRENT_HEADER,
    DIR_INDEX_NODES, HEADER_SIZE, NODE_HEADER_END, ROOT_INO,
};
use rexfs_fsck::exit;

/// Inode 2, "big": a regular file of this many one-block extents, at
/// every other file block: five in the inode, the others in its extent
/// tree, a root over two leaves.
const EXTENTS: u64 = 205;
const BIG: u64 = 2;
/// Inode 3, "d": a directory whose data blocks hold the entries of
/// [`DIR_BLOCKS`], hard links to inode 4, an inline file.
const DIR: u64 = 3;
const LINKED: u64 = 4;
/// The data blocks of directory "d": file block, entries of 24 bytes.
/// Block 0 is full (8 bytes of room: no free-space key), file block 2 is
/// a hole. 569 name keys and 3 free-space keys: an index of a root over
/// two leaves, mapped with the data blocks in 7 extents, past the five of
/// the inode: the directory has an extent tree too.
const DIR_BLOCKS: [(u64, usize); 4] = [(0, 169), (1, 150), (3, 150), (4, 100)];
/// Bytes of an extent tree's leaf record: the key and the extent.
const EXTENT_RECORD: usize = 24;

/// A default filesystem with the file and the directory of the trees.
fn trees() -> (Image, Fs) {
    let image = formatted();
    let mut fs = Fs::open(&image);
    let extents: Vec<Extent> = (0..EXTENTS).map(|i| extent(2 * i, fs.alloc())).collect();
    fs.create(BIG, &file(&[]));
    fs.set_extents(BIG, &extents);
    fs.update_inode(BIG, |f| f.size = (2 * EXTENTS - 1) * BS);

    let names = DIR_BLOCKS.iter().map(|&(_, n)| n).sum::<usize>() as u32;
    fs.create(
        LINKED,
        &DiskInode {
            nlink: names,
            ..inline_file(b"x")
        },
    );
    fs.create(DIR, &dir(ROOT_INO));
    fs.update_inode(ROOT_INO, |root| root.nlink = 3);
    fs.add_dir_block(
        ROOT_INO,
        &[("big", BIG, file_type::REG), ("d", DIR, file_type::DIR)],
    );
    let mut next = 0;
    for (logical, count) in DIR_BLOCKS {
        let names: Vec<String> = (next..next + count).map(|i| format!("f-{i:04}")).collect();
        next += count;
        let entries: Vec<(&str, u64, u8)> = names
            .iter()
            .map(|name| (name.as_str(), LINKED, file_type::REG))
            .collect();
        fs.put_dir_block(DIR, logical, &entries);
    }
    (image, fs)
}

/// The extent tree of the big file, and its nodes: the root, then its
/// leaves in key order.
fn extent_tree(fs: &mut Fs) -> (BTree, Vec<u64>) {
    let tree = fs.extent_tree(BIG).unwrap();
    (tree, fs.tree_nodes(&tree).1)
}

/// The index of the directory, and its nodes: the root, then its leaves
/// in key order.
fn index(fs: &mut Fs) -> (BTree, Vec<u64>) {
    let tree = fs.dir_index(DIR).unwrap();
    (tree, fs.tree_nodes(&tree).1)
}

/// The disk block of data block `logical` of the directory.
fn dir_block(fs: &mut Fs, logical: u64) -> u64 {
    let extents = fs.extents(DIR);
    extents
        .iter()
        .find(|e| e.logical == logical)
        .unwrap()
        .physical
}

/// Checks `image`, whose block map `problem` says it could not read
/// whole: the other problems are blocks no map was read to own, which no
/// repair frees (blocks `kept` stay in use).
fn expect_unread_map(image: &Image, fs: &Fs, problem: &str, kept: &[u64]) {
    let fsck = check(image);
    let messages = messages(&fsck);
    assert_eq!(messages[0], problem, "{messages:?}");
    assert!(
        messages[1..]
            .iter()
            .all(|m| m.ends_with(": marked used but not owned")),
        "{messages:?}"
    );
    assert_eq!(fsck.exit_code(), exit::UNCORRECTED);
    assert_eq!(repair(image).exit_code(), exit::UNCORRECTED);
    assert!(kept.iter().all(|&b| fs.bit(b)), "a tree's block freed");
}

#[test]
fn trees_are_clean() {
    let (image, mut fs) = trees();
    expect(&image, &[], exit::OK);

    // The shapes the other tests damage.
    let tree = fs.extent_tree(BIG).unwrap();
    let (stats, _) = fs.tree_nodes(&tree);
    assert_eq!(
        (stats.depth, stats.nodes, stats.records),
        (2, 3, EXTENTS - 5)
    );
    let tree = fs.dir_index(DIR).unwrap();
    let (stats, _) = fs.tree_nodes(&tree);
    assert_eq!((stats.depth, stats.nodes, stats.records), (2, 3, 569 + 3));
    assert_eq!(fs.inode(DIR).extent_count, 7);
    assert!(fs.extent_tree(DIR).is_some());
    // The big file's blocks and its 3 nodes; the directory's 4 data
    // blocks, 3 index nodes and 1 extent tree node; the root's block.
    let s = check(&image).summary().unwrap();
    assert_eq!(s.blocks_used, 1095 + (EXTENTS + 3) + (4 + 3 + 1) + 1);

    // An index on a directory of one data block is allowed (the module
    // makes one when the first block is full); the root's second block
    // gives it one.
    fs.create(5, &dir(ROOT_INO));
    fs.update_inode(ROOT_INO, |root| root.nlink = 4);
    fs.add_dir_block(ROOT_INO, &[("one", 5, file_type::DIR)]);
    fs.add_dir_block(5, &[]);
    fs.index_dir(5);
    assert!(fs.dir_index(5).is_some() && fs.dir_index(ROOT_INO).is_some());
    expect(&image, &[], exit::OK);
}

/// Damage to a node of an extent tree: its checksum, its level, its keys'
/// order, and a root outside the data area. The walk stops there, so the
/// file's blocks are not all known, and nothing is freed.
#[test]
fn damaged_extent_tree_nodes() {
    let (image, mut fs) = trees();
    let (_, nodes) = extent_tree(&mut fs);
    let (root, left, right) = (nodes[0], nodes[1], nodes[2]);
    let mut kept = nodes.clone();
    kept.extend(fs.extents(BIG).iter().map(|e| e.physical));
    let clean: Vec<Vec<u8>> = nodes.iter().map(|&b| fs.read(b)).collect();
    let restore = |fs: &Fs| {
        for (&b, block) in nodes.iter().zip(&clean) {
            fs.write(b, block);
        }
    };

    fs.flip(right, NODE_HEADER_END + 3);
    let problem = format!("inode {BIG}: extent tree node {right}: checksum mismatch");
    expect_unread_map(&image, &fs, &problem, &kept);

    restore(&fs);
    fs.edit_sealed(left, |b| b[HEADER_SIZE + 1] = 1);
    let problem = format!("inode {BIG}: extent tree node {left}: btree node at the wrong level");
    expect_unread_map(&image, &fs, &problem, &kept);

    restore(&fs);
    fs.edit_sealed(left, |b| {
        let (first, second) = b[NODE_HEADER_END..].split_at_mut(EXTENT_RECORD);
        first.swap_with_slice(&mut second[..EXTENT_RECORD]);
    });
    let problem = format!("inode {BIG}: extent tree node {left}: btree keys out of order");
    expect_unread_map(&image, &fs, &problem, &kept);

    restore(&fs);
    expect(&image, &[], exit::OK);
    let metadata = fs.g().inode_table_start;
    fs.update_inode(BIG, |f| f.extent_block = metadata);
    let problem =
        format!("inode {BIG}: extent tree node {metadata}: tree node outside the data area");
    expect_unread_map(&image, &fs, &problem, &kept);
    fs.update_inode(BIG, |f| f.extent_block = root);
    expect(&image, &[], exit::OK);
}

/// The records of an extent tree are the extents past the inode's: as
/// many as the extent count says, in order after them.
#[test]
fn extent_tree_records() {
    let (image, mut fs) = trees();
    fs.update_inode(BIG, |f| f.extent_count -= 1);
    let last = EXTENTS - 1;
    expect(
        &image,
        &[
            &format!(
                "inode {BIG}: extent {last} (file block {}): more extents than the extent count",
                2 * last
            ),
            &format!("inode {BIG}: extent count does not match the extents found"),
        ],
        exit::UNCORRECTED,
    );
    fs.update_inode(BIG, |f| f.extent_count += 1);

    // A record before the inode's last extent.
    let (tree, _) = extent_tree(&mut fs);
    let first = tree.first_at_or_after(&mut Nodes(&mut fs), 0).unwrap();
    let first = first.unwrap();
    tree.remove(&mut Nodes(&mut fs), first.key).unwrap();
    let moved = Extent {
        logical: 1,
        ..Extent::from_record(&first)
    };
    tree.insert(&mut Nodes(&mut fs), &moved.to_record())
        .unwrap();
    expect(
        &image,
        &[&format!(
            "inode {BIG}: extent 5 (file block 1): extents overlap or are out of order"
        )],
        exit::UNCORRECTED,
    );
}

/// A tree node that another file maps too: the claims find it.
#[test]
fn extent_tree_node_used_by_another_file() {
    let (image, mut fs) = trees();
    let (_, nodes) = extent_tree(&mut fs);
    let leaf = nodes[2];
    fs.create(5, &file(&[extent(0, leaf)]));
    fs.add_dir_block(ROOT_INO, &[("thief", 5, file_type::REG)]);
    expect(
        &image,
        &[&format!("block {leaf}: used by inode {BIG} and inode 5")],
        exit::UNCORRECTED,
    );
}

/// Damage to a node of a directory index: reported where it is; the
/// directory's blocks are all mapped, so nothing else is. Through the
/// binary, as other damage nothing repairs: exit status 4 with `-n` and
/// with `-y`.
#[test]
fn damaged_index_node() {
    let (image, mut fs) = trees();
    let (_, nodes) = index(&mut fs);
    let leaf = nodes[1];
    fs.flip(leaf, NODE_HEADER_END + 3);
    let problem = format!("directory {DIR}: index node {leaf}: checksum mismatch");
    expect(&image, &[&problem], exit::UNCORRECTED);
    for flag in ["-n", "-y"] {
        let out = Command::new(env!("CARGO_BIN_EXE_fsck-rexfs"))
            .arg(flag)
            .arg(image.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(exit::UNCORRECTED.into()), "{flag}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout, format!("fsck.rexfs: {problem}\n"), "{flag}");
    }
    assert!(nodes.iter().all(|&b| fs.bit(b)));
}

/// The keys of an index are exactly those of the directory's entries and
/// of its blocks with room: a key too many, a key missing, an entry whose
/// key is that of another name.
#[test]
fn index_keys() {
    let (image, mut fs) = trees();
    let (tree, _) = index(&mut fs);
    let ghost = name_key(b"ghost", 1, 4056);
    tree.insert(&mut Nodes(&mut fs), &Record::from_key(ghost))
        .unwrap();
    expect(
        &image,
        &[&format!(
            "directory {DIR}: index: name key {ghost:#x} (file block 1, offset 4056) is no \
             entry's"
        )],
        exit::UNCORRECTED,
    );
    tree.remove(&mut Nodes(&mut fs), ghost).unwrap();
    expect(&image, &[], exit::OK);

    let block = dir_block(&mut fs, 1);
    let room = block_room(&fs.read(block));
    assert_eq!(room, 4064 - 150 * 24);
    tree.remove(&mut Nodes(&mut fs), free_key(room, 1)).unwrap();
    expect(
        &image,
        &[&format!(
            "directory {DIR}: file block 1: no free-space key in the index (room {room})"
        )],
        exit::UNCORRECTED,
    );
    // The key of another room, and one of the full block 0.
    tree.insert(
        &mut Nodes(&mut fs),
        &Record::from_key(free_key(room + 8, 1)),
    )
    .unwrap();
    tree.insert(&mut Nodes(&mut fs), &Record::from_key(free_key(8, 0)))
        .unwrap();
    expect(
        &image,
        &[
            &format!(
                "directory {DIR}: index: free-space key of file block 0, which has no room for \
                 an entry (8 bytes)"
            ),
            &format!(
                "directory {DIR}: index: free-space key of file block 1 says {} bytes of room, \
                 the block has {room}",
                room + 8
            ),
            &format!("directory {DIR}: file block 1: no free-space key in the index (room {room})"),
        ],
        exit::UNCORRECTED,
    );
    fs.index_dir(DIR);
    expect(&image, &[], exit::OK);

    // The first entry of block 1, "f-0169", renamed in place: its key is
    // the old name's (a hash out of place in the key order).
    let at = HEADER_SIZE;
    fs.edit_sealed(block, |b| b[at + DIRENT_HEADER] = b'g');
    expect(
        &image,
        &[
            &format!(
                "directory {DIR}: index: name key {:#x} (file block 1, offset {at}) is no \
                 entry's",
                name_key(b"f-0169", 1, at)
            ),
            &format!(
                "directory {DIR}: entry \"g-0169\" (file block 1, offset {at}): no name key \
                 in the index"
            ),
        ],
        exit::UNCORRECTED,
    );
}

/// The index's nodes are the blocks the directory maps as such: a mapped
/// block the tree does not reach, a node the directory does not map (kept
/// in use all the same).
#[test]
fn index_nodes_and_mapped_blocks() {
    let (image, mut fs) = trees();
    let stray = fs.alloc();
    let mut extents = fs.extents(DIR);
    extents.push(extent(DIR_INDEX_NODES + stray, stray));
    fs.set_extents(DIR, &extents);
    expect(
        &image,
        &[&format!(
            "directory {DIR}: block {stray}: mapped as an index node but not in the index"
        )],
        exit::UNCORRECTED,
    );

    let (_, nodes) = index(&mut fs);
    let leaf = nodes[2];
    let unmapped: Vec<Extent> = extents
        .into_iter()
        .filter(|e| e.physical != leaf && e.physical != stray)
        .collect();
    fs.set_extents(DIR, &unmapped);
    fs.free(stray);
    let problem = format!("directory {DIR}: index node {leaf} is not mapped in the directory");
    expect(&image, &[&problem], exit::UNCORRECTED);
    let fsck = repair(&image);
    assert_eq!(messages(&fsck), [problem]);
    assert!(fs.bit(leaf), "a repair freed an index node");
}

/// A directory of more than one data block has an index.
#[test]
fn directory_without_its_index() {
    let (image, mut fs) = trees();
    let (tree, _) = index(&mut fs);
    let data: Vec<Extent> = fs
        .extents(DIR)
        .into_iter()
        .filter(|e| e.logical < 5)
        .collect();
    tree.destroy(&mut Nodes(&mut fs)).unwrap();
    fs.set_extents(DIR, &data);
    expect(
        &image,
        &[&format!("directory {DIR}: 4 data blocks but no index")],
        exit::UNCORRECTED,
    );
}
