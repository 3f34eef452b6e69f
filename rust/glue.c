// SPDX-License-Identifier: GPL-2.0
/*
 * C glue of rexfs. See glue.h.
 */
#include <linux/blkdev.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/slab.h>

#include "glue.h"

struct kmem_cache *rexfs_inode_cache_create(const char *name, unsigned int size,
					    unsigned int align, void (*ctor)(void *))
{
	return kmem_cache_create(name, size, align,
				 SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT, ctor);
}

struct inode *rexfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache)
{
	return alloc_inode_sb(sb, cache, GFP_KERNEL);
}

bool rexfs_inode_is_new(struct inode *inode)
{
	return inode_state_read_once(inode) & I_NEW;
}

void rexfs_inode_set_owner(struct inode *inode, u32 uid, u32 gid)
{
	i_uid_write(inode, uid);
	i_gid_write(inode, gid);
}

void rexfs_inode_set_size(struct inode *inode, loff_t size)
{
	i_size_write(inode, size);
}

void rexfs_inode_set_times(struct inode *inode, s64 atime, u32 atime_ns, s64 mtime,
			   u32 mtime_ns, s64 ctime, u32 ctime_ns)
{
	inode_set_atime(inode, atime, atime_ns);
	inode_set_mtime(inode, mtime, mtime_ns);
	inode_set_ctime(inode, ctime, ctime_ns);
}

u64 rexfs_bdev_nr_bytes(struct super_block *sb)
{
	return bdev_nr_bytes(sb->s_bdev);
}

const unsigned char *rexfs_dentry_name(const struct dentry *dentry, u32 *len)
{
	*len = dentry->d_name.len;
	return dentry->d_name.name;
}

bool rexfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino,
		    unsigned int type)
{
	return dir_emit(ctx, name, len, ino, type);
}
