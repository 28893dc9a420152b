//! A directory's table of checked file versions, shared by every process
//! on the node: which version of a path the cluster reported, and when.
//! It lets a process that has never seen a path (a freshly forked loader)
//! reuse a check another made within `local_cache_metadata_ttl`, with a
//! few loads from shared memory instead of a round trip to the cluster.
//!
//! One mapped file of fixed-size slots, four to a group; a path hashes to
//! one group and takes the slot already holding it, else an empty one,
//! else the one checked longest ago (a lost entry costs one check with the
//! cluster, nothing else). Writers take the group's lock byte; readers
//! take no lock: each slot is a sequence lock (odd while written) over a
//! checksummed payload, so a reader sees a whole entry or none, even one
//! left half written by a killed process.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

use super::lock;
use super::mapped::Mapped;
use super::meta::FileVersion;

/// Words in a slot: the sequence and checksum word, then the payload.
const WORDS: usize = 8;
/// Slots in a group (one lock, one probe).
const GROUP: usize = 4;
/// Groups in the table (4 MiB in all; the file is sparse).
const GROUPS: usize = 1 << 14;
/// The first lock byte of the groups (in the directory's lock file, past
/// the claim slots and the ledger byte).
const LOCK_BASE: u64 = 1 << 33;

/// Payload words.
const PATH_LO: usize = 1;
const PATH_HI: usize = 2;
const KEY_LO: usize = 3;
const KEY_HI: usize = 4;
const LEN_W: usize = 5;
const MTIME: usize = 6;
const CHECKED: usize = 7;

/// The mapped version table of one directory.
pub struct Versions {
    map: Mapped,
    lock_path: PathBuf,
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// A path's 128-bit hash, never 0 (which marks an empty slot).
fn path_hash(path: &str) -> u128 {
    xxh3_128(path.as_bytes()).max(1)
}

fn checksum(payload: &[u64; WORDS - 1]) -> u32 {
    let mut bytes = [0u8; (WORDS - 1) * 8];
    for (c, w) in bytes.chunks_exact_mut(8).zip(payload) {
        c.copy_from_slice(&w.to_le_bytes());
    }
    // Low half of the hash; 0 is kept for "none" so a zeroed slot fails.
    (xxh3_64(&bytes) as u32).max(1)
}

impl Versions {
    /// Maps the table at `path` (created sparse if missing); group locks
    /// are bytes of the lock file at `lock_path`.
    pub fn open(path: &Path, lock_path: PathBuf) -> io::Result<Self> {
        Ok(Self {
            map: Mapped::open(path, GROUPS * GROUP * WORDS)?,
            lock_path,
        })
    }

    fn word(&self, slot: usize, w: usize) -> &AtomicU64 {
        debug_assert!(w < WORDS);
        self.map.word(slot * WORDS + w)
    }

    fn group_of(ph: u128) -> usize {
        (ph as usize) & (GROUPS - 1)
    }

    /// A consistent copy of `slot`'s payload, if it holds a whole entry.
    fn read_slot(&self, slot: usize) -> Option<[u64; WORDS - 1]> {
        for _ in 0..3 {
            let head = self.word(slot, 0).load(Ordering::Acquire);
            if head & 1 == 1 {
                return None; // being written (or its writer was killed)
            }
            let mut p = [0u64; WORDS - 1];
            for (i, x) in p.iter_mut().enumerate() {
                *x = self.word(slot, i + 1).load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if self.word(slot, 0).load(Ordering::Relaxed) != head {
                continue; // rewritten meanwhile
            }
            return ((head >> 32) as u32 == checksum(&p)).then_some(p);
        }
        None
    }

    fn holds(p: &[u64; WORDS - 1], ph: u128) -> bool {
        p[PATH_LO - 1] == ph as u64 && p[PATH_HI - 1] == (ph >> 64) as u64
    }

    /// The version recorded for `path` and how long ago it was checked.
    pub fn get(&self, path: &str) -> Option<(FileVersion, Duration)> {
        let ph = path_hash(path);
        let g = Self::group_of(ph) * GROUP;
        (g..g + GROUP).find_map(|s| {
            let p = self.read_slot(s).filter(|p| Self::holds(p, ph))?;
            let v = FileVersion {
                key: u128::from(p[KEY_LO - 1]) | (u128::from(p[KEY_HI - 1]) << 64),
                len: p[LEN_W - 1],
                mtime_ms: p[MTIME - 1] as i64,
            };
            let age = Duration::from_millis(now_ms().saturating_sub(p[CHECKED - 1]));
            Some((v, age))
        })
    }

    /// Records `v` as `path`'s version, checked now.
    pub fn put(&self, path: &str, v: &FileVersion) -> io::Result<()> {
        self.write(path, Some(v))
    }

    /// Removes what is recorded for `path`.
    pub fn remove(&self, path: &str) -> io::Result<()> {
        self.write(path, None)
    }

    fn write(&self, path: &str, v: Option<&FileVersion>) -> io::Result<()> {
        let ph = path_hash(path);
        let group = Self::group_of(ph);
        let _g = lock::byte(&self.lock_path, LOCK_BASE + group as u64)?;
        let g = group * GROUP;
        let mut target = None;
        let mut oldest = (u64::MAX, g);
        for s in g..g + GROUP {
            match self.read_slot(s) {
                Some(p) if Self::holds(&p, ph) => {
                    target = Some(s);
                    break;
                }
                Some(p) if p[PATH_LO - 1] != 0 || p[PATH_HI - 1] != 0 => {
                    if p[CHECKED - 1] < oldest.0 {
                        oldest = (p[CHECKED - 1], s);
                    }
                }
                // Empty, torn, or garbage: free to take.
                _ => oldest = (0, s),
            }
        }
        let slot = match (target, v) {
            (Some(s), _) => s,
            (None, None) => return Ok(()),
            (None, Some(_)) => oldest.1,
        };
        let payload = match v {
            Some(v) => [
                ph as u64,
                (ph >> 64) as u64,
                v.key as u64,
                (v.key >> 64) as u64,
                v.len,
                v.mtime_ms as u64,
                now_ms(),
            ],
            None => [0; WORDS - 1],
        };
        // Sequence lock: odd while written (already odd if a killed writer
        // left it so), then even with the payload's checksum.
        let seq = self.word(slot, 0).load(Ordering::Relaxed) as u32;
        let odd = seq | 1;
        self.word(slot, 0).store(u64::from(odd), Ordering::Relaxed);
        fence(Ordering::Release);
        for (i, x) in payload.iter().enumerate() {
            self.word(slot, i + 1).store(*x, Ordering::Relaxed);
        }
        let head = u64::from(odd.wrapping_add(1)) | (u64::from(checksum(&payload)) << 32);
        self.word(slot, 0).store(head, Ordering::Release);
        Ok(())
    }

    /// Forgets every entry (readers racing this see entries or none).
    pub fn clear(&self) {
        for s in 0..GROUPS * GROUP {
            for w in 0..WORDS {
                self.word(s, w).store(0, Ordering::Relaxed);
            }
        }
    }

    /// Entries recorded (a walk of the table).
    pub fn count(&self) -> usize {
        (0..GROUPS * GROUP)
            .filter(|s| {
                self.read_slot(*s)
                    .is_some_and(|p| p[PATH_LO - 1] != 0 || p[PATH_HI - 1] != 0)
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &Path) -> Versions {
        Versions::open(&dir.join("versions"), dir.join("lock")).unwrap()
    }

    #[test]
    fn an_entry_is_shared_between_mappings_for_its_path_only() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (table(t.path()), table(t.path()));
        let v = FileVersion::new("s3://b/k", 10, 5, "etag");
        a.put("s3://b/k", &v).unwrap();
        let (got, age) = b.get("s3://b/k").unwrap();
        assert_eq!(got, v);
        assert!(age < Duration::from_secs(60));
        assert!(b.get("s3://b/other").is_none());
        let v2 = FileVersion::new("s3://b/k", 11, 6, "etag2");
        b.put("s3://b/k", &v2).unwrap();
        assert_eq!(a.get("s3://b/k").unwrap().0, v2);
        assert_eq!(a.count(), 1, "replaced in place");
        a.remove("s3://b/k").unwrap();
        assert!(b.get("s3://b/k").is_none());
    }

    #[test]
    fn a_torn_or_corrupt_slot_reads_as_none_and_is_rewritten() {
        let t = tempfile::tempdir().unwrap();
        let a = table(t.path());
        let v = FileVersion::new("p", 1, 1, "");
        a.put("p", &v).unwrap();
        let s = (0..GROUPS * GROUP)
            .find(|s| a.read_slot(*s).is_some_and(|p| p[0] != 0))
            .unwrap();
        // A writer killed mid-write leaves the sequence odd.
        let head = a.word(s, 0).load(Ordering::Relaxed);
        a.word(s, 0).store(head | 1, Ordering::Relaxed);
        assert!(a.get("p").is_none());
        a.put("p", &v).unwrap();
        assert_eq!(a.get("p").unwrap().0, v);
        // A flipped payload bit fails the checksum.
        a.word(s, LEN_W).fetch_xor(1 << 7, Ordering::Relaxed);
        assert!(a.get("p").is_none());
    }

    #[test]
    fn a_full_group_drops_the_entry_checked_longest_ago() {
        let t = tempfile::tempdir().unwrap();
        let a = table(t.path());
        // Paths that share a group.
        let g = Versions::group_of(path_hash("seed"));
        let same: Vec<String> = (0..)
            .map(|i| format!("f{i}"))
            .filter(|p| Versions::group_of(path_hash(p)) == g)
            .take(GROUP + 1)
            .collect();
        for p in &same {
            a.put(p, &FileVersion::new(p, 1, 1, "")).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(a.get(&same[0]).is_none(), "the oldest went");
        assert!(same[1..].iter().all(|p| a.get(p).is_some()));
    }
}
