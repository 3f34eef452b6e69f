/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue of rexfs: static inline functions and macros of the kernel headers
 * wrapped as plain functions, so that the Rust side can call them. Nothing
 * here makes a decision; each wrapper is a one-liner over the kernel API.
 */
#ifndef REXFS_GLUE_H
#define REXFS_GLUE_H

#include <linux/fs.h>
#include <linux/slab.h>

struct dir_context;
struct kmem_cache;

struct kmem_cache *rexfs_inode_cache_create(const char *name, unsigned int size,
					    unsigned int align, void (*ctor)(void *));
struct inode *rexfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache);
bool rexfs_inode_is_new(struct inode *inode);
void rexfs_inode_set_owner(struct inode *inode, u32 uid, u32 gid);
void rexfs_inode_set_size(struct inode *inode, loff_t size);
void rexfs_inode_set_times(struct inode *inode, s64 atime, u32 atime_ns, s64 mtime,
			   u32 mtime_ns, s64 ctime, u32 ctime_ns);
u64 rexfs_bdev_nr_bytes(struct super_block *sb);
const unsigned char *rexfs_dentry_name(const struct dentry *dentry, u32 *len);
bool rexfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino,
		    unsigned int type);

#endif /* REXFS_GLUE_H */
