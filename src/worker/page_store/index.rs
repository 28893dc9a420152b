//! In-memory index of the page store: which pages exist and how big they
//! are, LRU order, byte accounting with reservations, and removal epochs.
//! Pure data, no I/O, so every call is short enough to make under a mutex.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::FileMeta;

/// A page as `(file id, page index)`, sharing the id's allocation.
pub(super) type PageRef = (Arc<str>, u64);

#[derive(Debug, Clone, Copy)]
struct Entry {
    len: u64,
    /// Key in the LRU map; larger is more recently used.
    tick: u64,
    /// Identifies this write, so a reader that found the file bad drops only
    /// the entry it read, never a newer one written meanwhile.
    gen: u64,
}

#[derive(Debug)]
struct FileState {
    name: Arc<str>,
    pages: HashMap<u64, Entry>,
    bytes: u64,
    meta: Option<FileMeta>,
}

/// Outcome of [`Index::reserve`].
#[derive(Debug)]
pub(super) enum Reserve {
    /// Room is reserved; these pages were evicted for it and their files
    /// must go. `charge` is what the write holds of the quota until it ends
    /// (commit or release): see [`Index::reserve`].
    Reserved { evicted: Vec<PageRef>, charge: u64 },
    /// The file was removed after the operation began: its data may be stale.
    Stale,
    /// Other writes in flight hold the quota; the page is not stored.
    NoRoom,
}

/// See the module doc.
#[derive(Debug)]
pub(super) struct Index {
    quota: u64,
    files: HashMap<Arc<str>, FileState>,
    lru: BTreeMap<u64, PageRef>,
    /// Bytes of indexed pages.
    committed: u64,
    /// Bytes charged to writes in flight; with `committed` never above
    /// `quota`. Each write is charged the larger of its page and the pages it
    /// displaces (those it evicted, and its own old version): their files stay
    /// on disk until its task removes or replaces them, so counting only the
    /// new page let the disk exceed the quota while several writes were in
    /// flight (R11 saw quota + 2 pages).
    reserved: u64,
    pages: u64,
    clock: u64,
    /// Removal sequence: an operation that began at `s` is stale for a file
    /// removed at `r >= s`.
    seq: u64,
    /// Start sequences of operations in flight (with multiplicity).
    active: BTreeMap<u64, usize>,
    /// Last removal of each file, kept only while an older operation is active.
    removed: HashMap<Arc<str>, u64>,
}

impl Index {
    pub(super) fn new(quota: u64) -> Self {
        Self {
            quota,
            files: HashMap::new(),
            lru: BTreeMap::new(),
            committed: 0,
            reserved: 0,
            pages: 0,
            clock: 0,
            seq: 0,
            active: BTreeMap::new(),
            removed: HashMap::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Bytes counted against the quota: indexed pages plus reservations.
    pub(super) fn used(&self) -> u64 {
        self.committed + self.reserved
    }

    pub(super) fn pages(&self) -> u64 {
        self.pages
    }

    pub(super) fn cached_bytes(&self, id: &str) -> u64 {
        self.files.get(id).map_or(0, |f| f.bytes)
    }

    pub(super) fn contains(&self, id: &str, index: u64) -> bool {
        self.files
            .get(id)
            .is_some_and(|f| f.pages.contains_key(&index))
    }

    pub(super) fn meta(&self, id: &str) -> Option<FileMeta> {
        self.files.get(id).and_then(|f| f.meta.clone())
    }

    /// The length in the file's record, if it has one.
    pub(super) fn file_length(&self, id: &str) -> Option<u64> {
        self.files.get(id)?.meta.as_ref().map(|m| m.length)
    }

    pub(super) fn set_meta(&mut self, id: &str, meta: FileMeta) {
        self.file_mut(id).meta = Some(meta);
    }

    fn file_mut(&mut self, id: &str) -> &mut FileState {
        self.files
            .entry(Arc::from(id))
            .or_insert_with_key(|name| FileState {
                name: name.clone(),
                pages: HashMap::new(),
                bytes: 0,
                meta: None,
            })
    }

    /// The generation of a page, marking it most recently used.
    pub(super) fn lookup(&mut self, id: &str, index: u64) -> Option<u64> {
        let tick = self.tick();
        let entry = self.files.get_mut(id)?.pages.get_mut(&index)?;
        let old = std::mem::replace(&mut entry.tick, tick);
        let gen = entry.gen;
        if let Some(page) = self.lru.remove(&old) {
            self.lru.insert(tick, page);
        }
        Some(gen)
    }

    /// Indexes a page as most recently used, replacing any previous version.
    pub(super) fn insert(&mut self, id: &str, index: u64, len: u64) {
        self.remove_entry(id, index);
        let tick = self.tick();
        let file = self.file_mut(id);
        file.pages.insert(
            index,
            Entry {
                len,
                tick,
                gen: tick,
            },
        );
        file.bytes += len;
        let name = file.name.clone();
        self.lru.insert(tick, (name, index));
        self.committed += len;
        self.pages += 1;
    }

    fn remove_entry(&mut self, id: &str, index: u64) -> Option<Entry> {
        let file = self.files.get_mut(id)?;
        let entry = file.pages.remove(&index)?;
        file.bytes -= entry.len;
        if file.pages.is_empty() && file.meta.is_none() {
            self.files.remove(id);
        }
        self.lru.remove(&entry.tick);
        self.committed -= entry.len;
        self.pages -= 1;
        Some(entry)
    }

    /// Evicts least recently used pages until `extra` more bytes fit;
    /// returns them and their bytes.
    fn evict_for(&mut self, extra: u64) -> (Vec<PageRef>, u64) {
        let mut evicted = Vec::new();
        let mut bytes = 0;
        while self.used() + extra > self.quota {
            let Some((_, (name, index))) = self.lru.pop_first() else {
                break;
            };
            bytes += self.remove_entry(&name, index).map_or(0, |e| e.len);
            evicted.push((name, index));
        }
        (evicted, bytes)
    }

    /// Evicts until the quota holds (after a restart with a smaller quota).
    pub(super) fn fit_quota(&mut self) -> Vec<PageRef> {
        self.evict_for(0).0
    }

    /// Makes room for a `len`-byte write of a page by an operation that began
    /// at `start`. The previous version of the page leaves the index now (its
    /// file is about to be replaced). The write is charged
    /// `old version + max(len, evicted)` until it ends: the old version stays
    /// on disk until the new file (written beside it, then renamed over it)
    /// replaces it, and the evicted files are removed before that is written.
    pub(super) fn reserve(&mut self, id: &str, index: u64, len: u64, start: u64) -> Reserve {
        if self.is_stale(id, start) {
            return Reserve::Stale;
        }
        let old = self
            .files
            .get(id)
            .and_then(|f| f.pages.get(&index))
            .map_or(0, |e| e.len);
        // Reservations cannot be evicted; indexed pages, the old version included, can.
        if self.reserved + old + len > self.quota {
            return Reserve::NoRoom;
        }
        self.remove_entry(id, index);
        // Room for the new file beside the old one: the sum below stays
        // within the quota whichever term of the charge is larger.
        let (evicted, bytes) = self.evict_for(old + len);
        let charge = old + len.max(bytes);
        self.reserved += charge;
        Reserve::Reserved { evicted, charge }
    }

    /// Ends a reservation whose write failed or was not indexed, once its
    /// files are gone.
    pub(super) fn release(&mut self, charge: u64) {
        self.reserved -= charge;
    }

    /// Turns a reservation (of `charge`) into an indexed `len`-byte page;
    /// `false` (page not indexed, the reservation still held: release it
    /// once the file is removed) if the file was removed since the
    /// operation began.
    pub(super) fn commit(
        &mut self,
        id: &str,
        index: u64,
        len: u64,
        charge: u64,
        start: u64,
    ) -> bool {
        if self.is_stale(id, start) {
            return false;
        }
        self.reserved -= charge;
        self.insert(id, index, len);
        true
    }

    /// Drops a page if it is still the version `gen`; whether it was.
    pub(super) fn drop_if_gen(&mut self, id: &str, index: u64, gen: u64) -> bool {
        let current = self
            .files
            .get(id)
            .and_then(|f| f.pages.get(&index))
            .map(|e| e.gen);
        current == Some(gen) && self.remove_entry(id, index).is_some()
    }

    /// Registers an operation whose result depends on files not being
    /// removed meanwhile; returns its start for [`Index::end_op`].
    pub(super) fn begin_op(&mut self) -> u64 {
        *self.active.entry(self.seq).or_default() += 1;
        self.seq
    }

    pub(super) fn end_op(&mut self, start: u64) {
        if let Some(n) = self.active.get_mut(&start) {
            *n -= 1;
            if *n == 0 {
                self.active.remove(&start);
            }
        }
        match self.active.first_key_value() {
            None => self.removed.clear(),
            // Removals older than every active operation can no longer matter.
            Some((&oldest, _)) if self.removed.len() > 256 => {
                self.removed.retain(|_, at| *at >= oldest)
            }
            Some(_) => {}
        }
    }

    fn is_stale(&self, id: &str, start: u64) -> bool {
        self.removed.get(id).is_some_and(|&at| at >= start)
    }

    /// Forgets a file's pages and meta; returns how many pages it had.
    pub(super) fn remove_file(&mut self, id: &str) -> usize {
        if !self.active.is_empty() {
            self.removed.insert(Arc::from(id), self.seq);
        }
        self.seq += 1;
        let Some(file) = self.files.remove(id) else {
            return 0;
        };
        for entry in file.pages.values() {
            self.lru.remove(&entry.tick);
        }
        self.committed -= file.bytes;
        self.pages -= file.pages.len() as u64;
        file.pages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved(r: Reserve) -> Vec<u64> {
        match r {
            Reserve::Reserved { evicted, .. } => evicted.into_iter().map(|(_, i)| i).collect(),
            other => panic!("expected a reservation, got {other:?}"),
        }
    }

    #[test]
    fn lru_eviction_and_accounting() {
        let mut ix = Index::new(30);
        for i in 0..3 {
            let s = ix.begin_op();
            assert!(reserved(ix.reserve("f", i, 10, s)).is_empty());
            assert!(ix.commit("f", i, 10, 10, s));
            ix.end_op(s);
        }
        assert_eq!((ix.used(), ix.pages(), ix.cached_bytes("f")), (30, 3, 30));
        ix.lookup("f", 0);
        let s = ix.begin_op();
        assert_eq!(reserved(ix.reserve("g", 0, 15, s)), vec![1, 2]);
        assert_eq!(ix.used(), 30, "the evicted files count until they are gone");
        assert!(ix.commit("g", 0, 15, 20, s));
        ix.end_op(s);
        assert_eq!((ix.used(), ix.pages()), (25, 2));
        assert!(ix.contains("f", 0) && !ix.contains("f", 1));
    }

    #[test]
    fn reput_counts_once_and_reservations_bound_room() {
        let mut ix = Index::new(20);
        ix.insert("f", 0, 10);
        let a = ix.begin_op();
        assert!(reserved(ix.reserve("f", 0, 8, a)).is_empty());
        assert_eq!(
            ix.used(),
            18,
            "the old version counts until the new file replaces it"
        );
        let b = ix.begin_op();
        assert!(matches!(ix.reserve("f", 1, 13, b), Reserve::NoRoom));
        assert!(ix.commit("f", 0, 8, 18, a));
        assert_eq!((ix.used(), ix.cached_bytes("f")), (8, 8));
        ix.end_op(a);
        ix.end_op(b);
    }

    #[test]
    fn removal_makes_older_operations_stale() {
        let mut ix = Index::new(100);
        let before = ix.begin_op();
        let _ = reserved(ix.reserve("f", 0, 10, before));
        assert_eq!(ix.remove_file("f"), 0);
        let after = ix.begin_op();
        assert!(matches!(ix.reserve("f", 1, 10, before), Reserve::Stale));
        assert!(!ix.commit("f", 0, 10, 10, before));
        assert_eq!(ix.used(), 10, "held until its file is removed");
        ix.release(10);
        assert_eq!(ix.used(), 0);
        let _ = reserved(ix.reserve("f", 1, 10, after));
        assert!(ix.commit("f", 1, 10, 10, after));
        ix.end_op(before);
        ix.end_op(after);
        assert!(ix.removed.is_empty() && ix.active.is_empty());
        assert_eq!(ix.remove_file("f"), 1);
        assert_eq!((ix.used(), ix.pages()), (0, 0));
    }

    #[test]
    fn drop_if_gen_spares_newer_versions() {
        let mut ix = Index::new(100);
        ix.insert("f", 0, 5);
        let old = ix.lookup("f", 0).unwrap();
        ix.insert("f", 0, 6);
        assert!(!ix.drop_if_gen("f", 0, old));
        let new = ix.lookup("f", 0).unwrap();
        assert!(ix.drop_if_gen("f", 0, new));
        assert_eq!((ix.used(), ix.pages()), (0, 0));
    }
}
