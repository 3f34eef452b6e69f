// SPDX-License-Identifier: GPL-2.0

//! The sorted list that holds an inode's extents in memory: chunks of at
//! most [`CHUNK`] extents, in order, so that an insert or a removal moves
//! at most a chunk's extents (and, when a chunk splits or empties, the
//! chunk pointers) rather than every extent after it. A file of a million
//! extents changes one as fast as a file of a thousand (as XFS's in-core
//! extent tree).

use crate::format::Extent;
use kernel::prelude::*;

/// Extents per chunk: a change moves at most this many (3 KiB).
const CHUNK: usize = 128;

/// A chunk that falls below this joins its next neighbour when they fit
/// in one: chunks stay at least a quarter full on average, however the
/// extents were removed.
const CHUNK_LOW: usize = CHUNK / 4;

/// A place in an [`ExtentList`]: before its extent `index` of chunk
/// `chunk`, or the end.
///
/// # Invariants
///
/// `index` is below the length of chunk `chunk`, or the place is the end:
/// `chunk` is the number of chunks and `index` is 0. A place is valid until
/// the list changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Place {
    chunk: usize,
    index: usize,
}

/// Extents in order, in chunks.
///
/// # Invariants
///
/// Every chunk holds 1 to [`CHUNK`] extents; `len` is the number of
/// extents in all of them.
pub(super) struct ExtentList {
    chunks: KVVec<KVec<Extent>>,
    len: usize,
}

impl ExtentList {
    /// An empty list.
    pub(super) fn new() -> Self {
        // INVARIANT: no chunks, no extents.
        ExtentList {
            chunks: KVVec::new(),
            len: 0,
        }
    }

    /// The number of extents.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The place past the last extent.
    fn end(&self) -> Place {
        Place {
            chunk: self.chunks.len(),
            index: 0,
        }
    }

    /// The place of the first extent for which `pred` is false, `pred`
    /// being true for every extent before some place and false from it on
    /// (as [`slice::partition_point`]).
    pub(super) fn partition_point(&self, pred: impl Fn(&Extent) -> bool) -> Place {
        // A chunk whose last extent satisfies `pred` is wholly before the
        // place.
        let chunk = self.chunks.partition_point(|c| c.last().is_some_and(&pred));
        match self.chunks.get(chunk) {
            // INVARIANT: `pred` fails for this chunk's last extent, so the
            // index is below its length.
            Some(c) => Place {
                chunk,
                index: c.partition_point(&pred),
            },
            None => self.end(),
        }
    }

    /// The extent at `place` (`None`: the end).
    pub(super) fn get(&self, place: Place) -> Option<&Extent> {
        self.chunks.get(place.chunk)?.get(place.index)
    }

    /// The extent at `place`, to change in place (its key may change only
    /// within the gap between its neighbours).
    pub(super) fn get_mut(&mut self, place: Place) -> Option<&mut Extent> {
        self.chunks.get_mut(place.chunk)?.get_mut(place.index)
    }

    /// The place before `place` (`None`: `place` is the first).
    pub(super) fn prev(&self, place: Place) -> Option<Place> {
        if place.index > 0 {
            return Some(Place {
                index: place.index - 1,
                ..place
            });
        }
        let chunk = place.chunk.checked_sub(1)?;
        // INVARIANT: chunks are not empty.
        Some(Place {
            chunk,
            index: self.chunks[chunk].len() - 1,
        })
    }

    /// The place after `place`, which must not be the end.
    pub(super) fn next(&self, place: Place) -> Place {
        if place.index + 1 < self.chunks[place.chunk].len() {
            // INVARIANT: the index is below the chunk's length.
            Place {
                index: place.index + 1,
                ..place
            }
        } else {
            // INVARIANT: the first extent of the next chunk, or the end.
            Place {
                chunk: place.chunk + 1,
                index: 0,
            }
        }
    }

    /// The extents from `place` on, in order.
    pub(super) fn iter_from(&self, place: Place) -> impl Iterator<Item = &Extent> {
        let first = place.index;
        self.chunks
            .get(place.chunk..)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .flat_map(move |(i, c)| c[if i == 0 { first } else { 0 }..].iter())
    }

    /// All extents, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Extent> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Appends `extent`, which goes after every extent.
    pub(super) fn push(&mut self, extent: Extent) -> Result {
        self.insert(self.end(), extent)
    }

    /// Inserts `extent` at `place`: before the extent there, or last. The
    /// caller keeps the order.
    pub(super) fn insert(&mut self, place: Place, extent: Extent) -> Result {
        let Place { chunk, index } = if place == self.end() {
            match self.chunks.last() {
                Some(last) if last.len() < CHUNK => Place {
                    chunk: self.chunks.len() - 1,
                    index: last.len(),
                },
                // A new chunk at the end, as loading a file sequentially
                // leaves every chunk full; a file's first grows as it
                // needs (most files have a few extents).
                _ => {
                    let room = if self.chunks.is_empty() { 1 } else { CHUNK };
                    let mut fresh = KVec::with_capacity(room, GFP_KERNEL)?;
                    self.chunks.reserve(1, GFP_KERNEL)?;
                    fresh.push_within_capacity(extent).map_err(|_| EINVAL)?;
                    // INVARIANT: one more chunk of one extent.
                    self.chunks
                        .push_within_capacity(fresh)
                        .map_err(|_| EINVAL)?;
                    self.len += 1;
                    return Ok(());
                }
            }
        } else {
            place
        };
        if self.chunks[chunk].len() < CHUNK {
            self.chunks[chunk].reserve(1, GFP_KERNEL)?;
            self.chunks[chunk]
                .insert_within_capacity(index, extent)
                .map_err(|_| EINVAL)?;
            self.len += 1;
            return Ok(());
        }
        // A full chunk: its upper half moves to a new chunk after it
        // (allocated before anything changes).
        let mut upper = KVec::with_capacity(CHUNK, GFP_KERNEL)?;
        self.chunks.reserve(1, GFP_KERNEL)?;
        let full = &mut self.chunks[chunk];
        upper.extend_from_slice(&full[CHUNK / 2..], GFP_KERNEL)?;
        full.truncate(CHUNK / 2);
        let (target, at) = if index <= CHUNK / 2 {
            (full, index)
        } else {
            (&mut upper, index - CHUNK / 2)
        };
        target
            .insert_within_capacity(at, extent)
            .map_err(|_| EINVAL)?;
        self.chunks
            .insert_within_capacity(chunk + 1, upper)
            .map_err(|_| EINVAL)?;
        // INVARIANT: two chunks of more than CHUNK / 2 - 1 extents each.
        self.len += 1;
        Ok(())
    }

    /// Removes the extents from `from` up to, not including, `to`.
    pub(super) fn remove_range(&mut self, from: Place, to: Place) {
        if from >= to {
            return;
        }
        if from.chunk == to.chunk {
            remove_within(&mut self.chunks[from.chunk], from.index, to.index);
            self.len -= to.index - from.index;
            self.tidy(from.chunk, from.chunk + 1);
            return;
        }
        let first_len = self.chunks[from.chunk].len();
        remove_within(&mut self.chunks[from.chunk], from.index, first_len);
        let mut removed = first_len - from.index;
        if let Some(last) = self.chunks.get_mut(to.chunk) {
            remove_within(last, 0, to.index);
            removed += to.index;
        }
        // Empty the chunks in between, for `tidy` to drop.
        for c in &mut self.chunks[from.chunk + 1..to.chunk] {
            removed += c.len();
            c.clear();
        }
        self.len -= removed;
        self.tidy(from.chunk, to.chunk + 1);
    }

    /// Drops the empty chunks among chunks `first..end`, and joins each
    /// chunk there below [`CHUNK_LOW`] extents to the next when both fit
    /// in one; dropping `k` chunks moves the later chunk pointers once.
    fn tidy(&mut self, first: usize, end: usize) {
        let end = end.min(self.chunks.len());
        for i in first..end {
            let len = self.chunks[i].len();
            let Some(next) = self.chunks.get(i + 1) else {
                break;
            };
            if len == 0 || len >= CHUNK_LOW || len + next.len() > CHUNK {
                continue;
            }
            // Prepend this chunk's extents to the next one's; this chunk
            // is left empty. Without the memory, both stay.
            let (head, tail) = self.chunks.split_at_mut(i + 1);
            let (small, next) = (&mut head[i], &mut tail[0]);
            if next.extend_from_slice(small, GFP_KERNEL).is_err() {
                continue;
            }
            next.rotate_right(len);
            small.clear();
        }
        if !self.chunks[first..end].iter().any(|c| c.is_empty()) {
            return;
        }
        // INVARIANT: no chunk is left empty.
        let mut i = 0;
        self.chunks.retain(|c| {
            i += 1;
            i <= first || i > end || !c.is_empty()
        });
    }
}

/// Removes the extents `from..to` of `chunk`, moving the ones after down.
fn remove_within(chunk: &mut KVec<Extent>, from: usize, to: usize) {
    let len = chunk.len();
    chunk.copy_within(to..len, from);
    chunk.truncate(len - (to - from));
}

#[kunit_tests(rexfs_extent_list)]
mod tests {
    use super::*;

    fn extent(logical: u64) -> Extent {
        Extent {
            logical,
            physical: 1000 + logical,
            len: 1,
            flags: 0,
        }
    }

    fn next_random(state: &mut u64) -> u64 {
        // xorshift64
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Checks the invariants of `list` and that it holds `model`, walking
    /// it both ways.
    fn check(list: &ExtentList, model: &[Extent]) {
        assert_eq!(list.len(), model.len());
        assert!(list.chunks.iter().all(|c| (1..=CHUNK).contains(&c.len())));
        assert!(list.iter().eq(model.iter()));
        let mut at = list.partition_point(|_| true);
        for e in model.iter().rev() {
            at = list.prev(at).expect("a place before");
            assert_eq!(list.get(at), Some(e));
        }
        assert!(list.prev(at).is_none());
    }

    #[test]
    fn appends_fill_every_chunk() -> Result {
        let mut list = ExtentList::new();
        for i in 0..(3 * CHUNK + 1) as u64 {
            list.push(extent(2 * i))?;
        }
        assert_eq!(list.chunks.len(), 4);
        assert!(list.chunks[..3].iter().all(|c| c.len() == CHUNK));
        let at = list.partition_point(|e| e.logical < 2 * CHUNK as u64 + 1);
        assert_eq!(list.get(at), Some(&extent(2 * CHUNK as u64 + 2)));
        assert_eq!(list.iter_from(at).count(), 2 * CHUNK);
        Ok(())
    }

    #[test]
    fn random_changes_match_a_model() -> Result {
        let mut list = ExtentList::new();
        let mut model = KVec::<Extent>::new();
        let mut state = 0x5eed_u64;
        for step in 0..20000u32 {
            let r = next_random(&mut state);
            if step % 4 == 3 && !model.is_empty() {
                // Remove up to 3 chunks' worth from a random extent on.
                let from = (r % model.len() as u64) as usize;
                let to = (from + (r >> 32) as usize % (3 * CHUNK)).min(model.len());
                let key = |i: usize| model.get(i).map_or(u64::MAX, |e| e.logical);
                let (from_key, to_key) = (key(from), key(to));
                let place = |k: u64| list.partition_point(|e| e.logical < k);
                let (a, b) = (place(from_key), place(to_key));
                list.remove_range(a, b);
                let len = model.len();
                model.copy_within(to..len, from);
                model.truncate(len - (to - from));
            } else {
                let key = r % 100_000;
                let i = model.partition_point(|e| e.logical < key);
                if model.get(i).is_some_and(|e| e.logical == key) {
                    continue;
                }
                let at = list.partition_point(|e| e.logical < key);
                list.insert(at, extent(key))?;
                model.reserve(1, GFP_KERNEL)?;
                model
                    .insert_within_capacity(i, extent(key))
                    .map_err(|_| ENOMEM)?;
            }
            if step % 1000 == 0 {
                check(&list, &model);
            }
        }
        check(&list, &model);
        // Down to empty.
        list.remove_range(
            list.partition_point(|_| false),
            list.partition_point(|_| true),
        );
        check(&list, &[]);
        assert!(list.chunks.is_empty());
        Ok(())
    }
}
