/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue of rexfs: static inline functions and macros of the kernel headers
 * wrapped as plain functions, so that the Rust side can call them. Nothing
 * here makes a decision; each wrapper is a thin layer over the kernel API.
 */
#ifndef REXFS_GLUE_H
#define REXFS_GLUE_H

#include <linux/fs.h>
#include <linux/slab.h>

struct buffer_head;
struct dir_context;
struct folio;
struct iomap_ops;
struct iov_iter;
struct kiocb;
struct kmem_cache;
struct readahead_control;

/* Inode cache */
struct kmem_cache *rexfs_inode_cache_create(const char *name, unsigned int size,
					    unsigned int align, void (*ctor)(void *));
struct inode *rexfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache);

/* Inode attributes, as the on-disk inode stores them. */
struct rexfs_attrs {
	u16 mode;
	u32 nlink;
	u32 uid;
	u32 gid;
	s64 size;
	u64 sectors;
	s64 atime;
	s64 mtime;
	s64 ctime;
	u32 atime_ns;
	u32 mtime_ns;
	u32 ctime_ns;
	u32 generation;
};

bool rexfs_inode_is_new(struct inode *inode);
void rexfs_inode_get_attrs(struct inode *inode, struct rexfs_attrs *attrs);
void rexfs_inode_set_attrs(struct inode *inode, const struct rexfs_attrs *attrs);
void rexfs_inode_set_size(struct inode *inode, loff_t size);
void rexfs_inode_touch(struct inode *inode, bool mtime);
void rexfs_mark_inode_dirty(struct inode *inode);
void rexfs_inode_lock(struct inode *inode);
void rexfs_inode_unlock(struct inode *inode);
void rexfs_inode_lock_shared(struct inode *inode);
void rexfs_inode_unlock_shared(struct inode *inode);
void rexfs_mapping_set_large_folios(struct inode *inode);
void rexfs_invalidate_lock(struct inode *inode);
void rexfs_invalidate_unlock(struct inode *inode);
void rexfs_invalidate_lock_shared(struct inode *inode);
void rexfs_invalidate_unlock_shared(struct inode *inode);
void rexfs_sb_start_pagefault(struct super_block *sb);
void rexfs_sb_end_pagefault(struct super_block *sb);
void rexfs_sb_start_write(struct super_block *sb);
void rexfs_sb_end_write(struct super_block *sb);
void rexfs_sb_start_intwrite(struct super_block *sb);
void rexfs_sb_end_intwrite(struct super_block *sb);

/* Opening and inode flags */
int rexfs_finish_open_simple(struct file *file);
bool rexfs_fileattr_has_fsx(const struct file_kattr *fa);

/* Super block and dentries */
u64 rexfs_bdev_nr_bytes(struct super_block *sb);
const unsigned char *rexfs_dentry_name(const struct dentry *dentry, u32 *len);
struct inode *rexfs_dentry_inode(const struct dentry *dentry);
bool rexfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino,
		    unsigned int type);

/* Metadata buffers */
struct buffer_head *rexfs_sb_bread(struct super_block *sb, u64 block);
struct buffer_head *rexfs_getblk_zeroed(struct super_block *sb, u64 block);
void rexfs_buffer_lock(struct buffer_head *bh);
void rexfs_buffer_unlock_dirty(struct buffer_head *bh);
void rexfs_buffer_unlock(struct buffer_head *bh);
void rexfs_forget_block(struct super_block *sb, u64 block);

/* Memory allocation scopes */
unsigned int rexfs_nofs_save(void);
void rexfs_nofs_restore(unsigned int flags);

/* Data path */
void rexfs_file_accessed(struct file *file);
ssize_t rexfs_generic_write_sync(struct kiocb *iocb, ssize_t count);
void rexfs_iomap_bio_read_folio(struct folio *folio, const struct iomap_ops *ops);
void rexfs_iomap_bio_readahead(struct readahead_control *rac, const struct iomap_ops *ops);
size_t rexfs_iov_iter_count(const struct iov_iter *iter);
void rexfs_pagefault_disable(void);
void rexfs_pagefault_enable(void);

/* Page faults */
struct vm_fault;
bool rexfs_fault_vma_is_shared(const struct vm_fault *vmf);
struct file *rexfs_fault_release_lock(struct vm_fault *vmf);
struct folio *rexfs_read_mapping_folio(struct address_space *mapping, pgoff_t index);
bool rexfs_folio_lock_in(struct folio *folio, struct address_space *mapping);
void rexfs_folio_put(struct folio *folio);

struct iomap_ioend;
/*
 * Completes @ioend, a writeback of unwritten extents, in task context:
 * @convert turns the written range into written extents, then the folios'
 * writeback ends.
 */
void rexfs_ioend_convert_on_completion(struct iomap_ioend *ioend,
				       int (*convert)(struct inode *inode, loff_t offset,
						      size_t size));

#endif /* REXFS_GLUE_H */
