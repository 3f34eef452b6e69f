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
struct kmem_cache *rvfs_inode_cache_create(const char *name, unsigned int size,
					    unsigned int align, void (*ctor)(void *));
struct inode *rvfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache);

/* Inode attributes, as the on-disk inode stores them. */
struct rvfs_inode_attrs {
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

bool rvfs_inode_is_new(struct inode *inode);
void rvfs_inode_get_attrs(struct inode *inode, struct rvfs_inode_attrs *attrs);
void rvfs_inode_set_attrs(struct inode *inode, const struct rvfs_inode_attrs *attrs);
void rvfs_inode_set_size(struct inode *inode, loff_t size);
void rvfs_inode_touch(struct inode *inode, bool mtime);
void rvfs_mark_inode_dirty(struct inode *inode);
void rvfs_inode_lock(struct inode *inode);
void rvfs_inode_unlock(struct inode *inode);
void rvfs_inode_lock_shared(struct inode *inode);
void rvfs_inode_unlock_shared(struct inode *inode);
void rvfs_mapping_set_large_folios(struct inode *inode);
void rvfs_invalidate_lock(struct inode *inode);
void rvfs_invalidate_unlock(struct inode *inode);
void rvfs_invalidate_lock_shared(struct inode *inode);
void rvfs_invalidate_unlock_shared(struct inode *inode);
void rvfs_sb_start_pagefault(struct super_block *sb);
void rvfs_sb_end_pagefault(struct super_block *sb);
void rvfs_sb_start_write(struct super_block *sb);
void rvfs_sb_end_write(struct super_block *sb);
void rvfs_sb_start_intwrite(struct super_block *sb);
void rvfs_sb_end_intwrite(struct super_block *sb);

/* Opening and inode flags */
int rvfs_finish_open_simple(struct file *file);
bool rvfs_fileattr_has_fsx(const struct file_kattr *fa);

/* Super block and dentries */
u64 rvfs_bdev_nr_bytes(struct super_block *sb);
bool rvfs_sb_device_read_only(struct super_block *sb);
bool rvfs_sb_can_discard(struct super_block *sb);
int rvfs_sb_discard(struct super_block *sb, u64 block, u64 count);
const unsigned char *rvfs_dentry_name(const struct dentry *dentry, u32 *len);
struct inode *rvfs_dentry_inode(const struct dentry *dentry);
bool rvfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino,
		    unsigned int type);

/* Metadata buffers */
struct buffer_head *rvfs_sb_bread(struct super_block *sb, u64 block);
struct buffer_head *rvfs_sb_bread_ahead(struct super_block *sb, u64 block, u32 ahead);
struct buffer_head *rvfs_getblk_zeroed(struct super_block *sb, u64 block);
struct buffer_head *rvfs_getblk_locked(struct super_block *sb, u64 block);
void rvfs_buffer_unlock_uptodate(struct buffer_head *bh);
void rvfs_buffer_lock(struct buffer_head *bh);
void rvfs_buffer_unlock(struct buffer_head *bh);
bool rvfs_buffer_verified(struct buffer_head *bh);
void rvfs_set_buffer_verified(struct buffer_head *bh);
void rvfs_forget_block(struct super_block *sb, u64 block);
struct buffer_head *rvfs_find_block(struct super_block *sb, u64 block);

/* Memory allocation scopes */
unsigned int rvfs_nofs_save(void);
void rvfs_nofs_restore(unsigned int flags);

/* Data path */
void rvfs_file_accessed(struct file *file);
ssize_t rvfs_generic_write_sync(struct kiocb *iocb, ssize_t count);
void rvfs_iomap_bio_read_folio(struct folio *folio, const struct iomap_ops *ops);
void rvfs_iomap_bio_readahead(struct readahead_control *rac, const struct iomap_ops *ops);
size_t rvfs_iov_iter_count(const struct iov_iter *iter);
bool rvfs_iocb_is_dsync(const struct kiocb *iocb);
bool rvfs_file_sync_writes(const struct file *file);
void rvfs_pagefault_disable(void);
void rvfs_pagefault_enable(void);

/* Page faults */
struct vm_fault;
bool rvfs_fault_vma_is_shared(const struct vm_fault *vmf);
struct file *rvfs_fault_release_lock(struct vm_fault *vmf);
void rvfs_fault_folio_range(const struct vm_fault *vmf, loff_t *pos, size_t *len);
struct folio *rvfs_read_mapping_folio(struct address_space *mapping, pgoff_t index);
bool rvfs_folio_lock_in(struct folio *folio, struct address_space *mapping);
void rvfs_folio_put(struct folio *folio);

/* DAX */
struct dax_device;
struct vm_area_desc;
bool rvfs_daxdev_mapping_supported(const struct vm_area_desc *desc,
				   const struct inode *inode, struct dax_device *dax_dev);
void rvfs_vma_desc_set_hugepage(struct vm_area_desc *desc);
int rvfs_dax_break_layout(struct inode *inode, loff_t start, loff_t end);

/* Journal */
typedef struct journal_s journal_t;
/*
 * The transaction that a change of the filesystem made now would join, or
 * the last to commit: what fsync of an inode read from disk commits, its
 * last change being unknown (as ext4 sets i_sync_tid at iget).
 */
unsigned int rvfs_journal_latest_tid(journal_t *journal);

struct iomap_ioend;
struct rvfs_ioend_queue;
/*
 * The queue of a mounted filesystem's writeback completions that change
 * extents (see glue.c): @convert_unwritten turns a written range into
 * written extents, @complete_cow puts the new blocks of a copy-on-write
 * range in place of the shared ones; each returns 0 or a negative errno,
 * or, as the negative control of a race test, RVFS_CONVERT_AFTER_WRITEBACK
 * from its first call (@after_writeback false): the folios' writeback then
 * ends first and it runs again, with @after_writeback true. Made at mount
 * (NULL without memory), destroyed once every ioend of the filesystem has
 * completed (at unmount, after its inodes are evicted).
 */
#define RVFS_CONVERT_AFTER_WRITEBACK 1
struct rvfs_ioend_queue *
rvfs_ioend_queue_create(struct super_block *sb,
			int (*convert_unwritten)(struct inode *inode, loff_t offset, size_t size,
						 bool after_writeback),
			int (*complete_cow)(struct inode *inode, loff_t offset, size_t size,
					    bool after_writeback));
void rvfs_ioend_queue_destroy(struct rvfs_ioend_queue *q);
/*
 * Completes @ioend, a writeback of unwritten extents or of copy-on-write
 * blocks, on @q, then ends the folios' writeback.
 */
void rvfs_ioend_convert_on_completion(struct iomap_ioend *ioend, struct rvfs_ioend_queue *q);

#endif /* REXFS_GLUE_H */
