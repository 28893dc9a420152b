//! One cache directory of one namespace: page files, the shared ledger,
//! single-flight claims, publication and eviction. Every process that opens
//! the same directory shares all of it; there is no daemon.
//!
//! ```text
//! <root>/ABOUT            what this namespace is (cluster, page size)
//! <root>/lock             OFD lock bytes: claims, the ledger lock
//! <root>/ledger           mapped counters (bytes used, hits, misses)
//! <root>/pages/<s>/<file key>-<page index>
//! <root>/tmp/<pid>-<random>-<cost>      pages being written
//! <root>/versions       mapped table of checked file versions (module `versions`)
//! ```
//!
//! Space is reserved in the ledger, under its lock, before a page is
//! written, so the pages and reservations on disk never pass the quota; a
//! reservation of a process killed before it published is found by the
//! next recount (its temporary file is no longer locked) and dropped.
//!
//! Eviction order is the files' modification times, which encode the
//! policy (see docs/protocol.md §8, "local cache"): a page written by a
//! read is on probation and dated by *mirrored* time, so the newest such
//! page goes first; a page read again (or prefetched for a reader) is dated
//! now, and those go least recently used first, after every page on
//! probation. On an epoch-shuffled dataset twice the cache this keeps a
//! stable half (hit ratio ≈ cache/dataset) where plain LRU keeps almost
//! nothing (0.15 in a simulation of that case, 0.49 with this, evicting to
//! 98 % per scan).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_64;

use super::ledger::Ledger;
use super::lock::{self, Held};
use super::page_file::{self, Bad};
use super::versions::Versions;

/// One page of one file version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The file version's key (module `meta`).
    pub file: u128,
    /// Page index.
    pub index: u64,
}

impl PageKey {
    /// A hash naming the page inside its file (checked on every read).
    pub fn hash(&self) -> u64 {
        let mut b = [0u8; 24];
        b[..16].copy_from_slice(&self.file.to_le_bytes());
        b[16..].copy_from_slice(&self.index.to_le_bytes());
        xxh3_64(&b)
    }

    /// One of 16 subdirectories: enough that writers in several processes
    /// seldom wait on one directory's lock, few enough that a new cache
    /// pays few `mkdir`s (800 µs each on this machine's /tmp).
    fn shard(&self) -> String {
        format!("{:x}", (self.file >> 124) as u8)
    }

    fn name(&self) -> String {
        format!("{:032x}-{}", self.file, self.index)
    }
}

/// Claim slots in the lock file (one byte each).
const CLAIM_SLOTS: u64 = 1 << 16;
/// The ledger lock's byte.
const LEDGER_BYTE: u64 = 1 << 32;
/// A hit dates its page now at most this often (one `futimens`).
const TOUCH_EVERY: Duration = Duration::from_secs(10);
/// A temporary file this young counts as being written even unlocked.
const TMP_GRACE: Duration = Duration::from_secs(5);
/// Mirrored time is this minus now (seconds since the epoch): before any
/// real "now" of this century, and later for an earlier write.
const MIRROR_S: u64 = 3_400_000_000;

/// Space a page of `len` bytes takes: its file rounded up to 4 KiB blocks
/// (what `du` counts on the usual filesystems).
pub fn cost(len: usize) -> u64 {
    page_file::file_len(len).div_ceil(4096) * 4096
}

/// What reading a page found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The bytes are in the destination.
    Hit,
    /// No such page (or it could not be read).
    Miss,
    /// It was there but wrong; it has been removed.
    Corrupt(&'static str),
}

/// What a scan of the directory found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Page files.
    pub pages: u64,
    /// Their cost in bytes.
    pub bytes: u64,
    /// Temporary files of live writers, and their reserved bytes.
    pub writing: u64,
    /// Bytes reserved by live writers.
    pub writing_bytes: u64,
}

/// A page file found by a walk: `(modified, cost, path)`.
type OnDisk = (SystemTime, u64, PathBuf);

/// One directory of the cache.
pub struct Dir {
    root: PathBuf,
    quota: u64,
    ledger: Ledger,
    versions: Versions,
    lock_path: PathBuf,
}

impl Dir {
    /// Opens (creating) the namespace directory `root` with `quota` bytes;
    /// `about` is written once for people looking at the directory.
    pub fn open(root: PathBuf, quota: u64, about: &str) -> io::Result<Self> {
        for sub in ["pages", "tmp"] {
            fs::create_dir_all(root.join(sub))?;
        }
        let about_path = root.join("ABOUT");
        if !about_path.exists() {
            let _ = fs::write(&about_path, about);
        }
        let ledger = Ledger::open(&root.join("ledger"))?;
        let lock_path = root.join("lock");
        let versions = Versions::open(&root.join("versions"), lock_path.clone())?;
        Ok(Self {
            lock_path,
            root,
            quota,
            ledger,
            versions,
        })
    }

    /// The namespace directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The quota in bytes.
    pub fn quota(&self) -> u64 {
        self.quota
    }

    /// The shared counters.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The shared table of checked file versions.
    pub fn versions(&self) -> &Versions {
        &self.versions
    }

    fn page_path(&self, key: &PageKey) -> PathBuf {
        self.root.join("pages").join(key.shard()).join(key.name())
    }

    /// Reads `[offset, offset + dest.len())` of page `key`, which holds
    /// `len` bytes, into `dest`, verified.
    pub fn read(
        &self,
        key: &PageKey,
        len: usize,
        offset: usize,
        dest: &mut [MaybeUninit<u8>],
    ) -> Found {
        let path = self.page_path(key);
        let Ok(f) = File::open(&path) else {
            return Found::Miss;
        };
        let Ok(meta) = f.metadata() else {
            return Found::Miss;
        };
        let tag = stamp_tag(key);
        let trusted = stamped(&meta, tag);
        let got = if trusted {
            page_file::read_trusted(&f, meta.len(), len, offset, dest)
        } else {
            page_file::read_verified(&f, meta.len(), key.hash(), len, offset, dest)
        };
        match got {
            Ok(()) => {
                touch_if_old(&f, &meta, tag, trusted);
                Found::Hit
            }
            Err(Bad::Corrupt(what)) => {
                log::warn!(
                    "alluxiofs: local cache page {} failed its check ({what}); removed, refetching",
                    path.display()
                );
                // Only the file we checked: a good copy published since stays.
                if fs::symlink_metadata(&path).is_ok_and(|m| m.ino() == meta.ino()) {
                    let _ = fs::remove_file(&path);
                }
                Found::Corrupt(what)
            }
            Err(Bad::Io(e)) => {
                log::debug!("alluxiofs: local cache page {}: {e}", path.display());
                Found::Miss
            }
        }
    }

    /// Whether page `key` is there (not checked).
    pub fn has(&self, key: &PageKey) -> bool {
        self.page_path(key).exists()
    }

    /// Tries to become the one process fetching page `key`; `None` if
    /// another holds the claim (wait, then look for the page again).
    pub fn try_claim(&self, key: &PageKey) -> io::Result<Option<Held>> {
        lock::try_byte(&self.lock_path, key.hash() % CLAIM_SLOTS)
    }

    /// Stores `data` as page `key`: reserved in the ledger first (evicting
    /// if needed), written under a unique temporary name, then moved into
    /// place unless another process got there first. `read_again`: the page
    /// is wanted again soon (prefetched for a reader), so it is dated now
    /// instead of put on probation. `Ok(false)`: not stored (no room, or
    /// already there).
    pub fn publish(&self, key: &PageKey, data: &[u8], read_again: bool) -> io::Result<bool> {
        let c = cost(data.len());
        if c > self.quota {
            return Ok(false);
        }
        let tmp =
            self.root
                .join("tmp")
                .join(format!("{}-{:016x}-{c}", std::process::id(), rand_u64()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        let held = match lock::whole(file) {
            Ok(h) => h,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if !self.reserve(c, &tmp)? {
            let _ = fs::remove_file(&tmp);
            return Ok(false);
        }
        let done = self.fill_and_move(&held, &tmp, key, data, read_again);
        if !matches!(done, Ok(true)) {
            // Released while the file still stands for the reservation: a
            // recount in between counts it, so releasing stays right.
            self.release(c);
            let _ = fs::remove_file(&tmp);
        }
        drop(held);
        done
    }

    fn fill_and_move(
        &self,
        held: &Held,
        tmp: &Path,
        key: &PageKey,
        data: &[u8],
        read_again: bool,
    ) -> io::Result<bool> {
        // SAFETY: `held` owns the descriptor and outlives this borrowed view,
        // which `ManuallyDrop` keeps from closing it.
        let mut f = std::mem::ManuallyDrop::new(unsafe {
            <File as std::os::fd::FromRawFd>::from_raw_fd(held.fd())
        });
        f.write_all(data)?;
        f.write_all(&page_file::trailer(key.hash(), data))?;
        let when = if read_again {
            SystemTime::now()
        } else {
            probation_time()
        };
        f.set_modified(with_tag(when, stamp_tag(key)))?;
        let dst = self.page_path(key);
        match rename_noreplace(tmp, &dst) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dst.parent().expect("a shard"))?;
                match rename_noreplace(tmp, &dst) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reserves `c` bytes for the page being written at `tmp`, evicting to
    /// make room; `false` if even then the quota has no room (everything
    /// left is being written).
    fn reserve(&self, c: u64, tmp: &Path) -> io::Result<bool> {
        let _g = lock::byte(&self.lock_path, LEDGER_BYTE)?;
        let mut used = self.ledger.used();
        if used + c > self.quota {
            used = self.evict_locked(c, Some(tmp))?;
        }
        if used + c > self.quota {
            return Ok(false);
        }
        self.ledger.set_used(used + c);
        Ok(true)
    }

    /// Gives back `c` reserved bytes.
    fn release(&self, c: u64) {
        if let Ok(_g) = lock::byte(&self.lock_path, LEDGER_BYTE) {
            self.ledger.set_used(self.ledger.used().saturating_sub(c));
        }
    }

    /// Recounts the directory and removes pages, in eviction order, until
    /// what stays plus `need` is at most 98 % of the quota (so a scan
    /// serves many writes). Removes temporary files of dead writers. Sets
    /// and returns the bytes in use, not counting `own` (the caller's
    /// temporary file, reserved next). Hold the ledger lock.
    fn evict_locked(&self, need: u64, own: Option<&Path>) -> io::Result<u64> {
        let (mut pages, writing) = self.walk(own)?;
        let mut total: u64 = pages.iter().map(|p| p.1).sum::<u64>() + writing.1;
        let keep = (self.quota - self.quota / 50).saturating_sub(need);
        if total > keep {
            pages.sort_unstable_by_key(|p| p.0);
            for (_, c, path) in &pages {
                if total <= keep {
                    break;
                }
                match fs::remove_file(path) {
                    Ok(()) => total -= c,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => total -= c,
                    Err(_) => {}
                }
            }
        }
        self.ledger.set_used(total);
        Ok(total)
    }

    /// Every page `(modified, cost, path)`, and the temporary files of live
    /// (or just started) writers with the bytes they reserved; temporary
    /// files of dead writers are removed on the way.
    fn walk(&self, own: Option<&Path>) -> io::Result<(Vec<OnDisk>, (u64, u64))> {
        // Temporary files first: one renamed into place meanwhile is then
        // counted twice (harmless) instead of not at all.
        let mut writing = (0, 0);
        let now = SystemTime::now();
        for e in fs::read_dir(self.root.join("tmp"))?.flatten() {
            let path = e.path();
            if own == Some(path.as_path()) {
                continue;
            }
            // Unlocked and old: its writer died. A young one may be between
            // its creation and its lock, so it counts until it is old.
            let young = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| m + TMP_GRACE > now);
            match lock::in_use(&path) {
                Ok(Some(true)) => writing = (writing.0 + 1, writing.1 + reserved_by(&path)),
                Ok(Some(false)) if young => {
                    writing = (writing.0 + 1, writing.1 + reserved_by(&path));
                }
                Ok(Some(false)) => {
                    let _ = fs::remove_file(&path);
                }
                Ok(None) | Err(_) => {}
            }
        }
        let mut pages = Vec::new();
        for shard in fs::read_dir(self.root.join("pages"))? {
            let Ok(shard) = shard else { continue };
            let Ok(entries) = fs::read_dir(shard.path()) else {
                continue;
            };
            for e in entries.flatten() {
                if let Ok(m) = e.metadata() {
                    let when = m.modified().unwrap_or(UNIX_EPOCH);
                    pages.push((when, m.len().div_ceil(4096) * 4096, e.path()));
                }
            }
        }
        Ok((pages, writing))
    }

    /// What is in the directory now (recounted; the ledger is corrected).
    pub fn usage(&self) -> io::Result<Usage> {
        let _g = lock::byte(&self.lock_path, LEDGER_BYTE)?;
        let (pages, (writing, writing_bytes)) = self.walk(None)?;
        let bytes = pages.iter().map(|p| p.1).sum();
        self.ledger.set_used(bytes + writing_bytes);
        Ok(Usage {
            pages: pages.len() as u64,
            bytes,
            writing,
            writing_bytes,
        })
    }

    /// Removes every page and recorded version and zeroes the counters
    /// (pages being written by live processes are left to them).
    pub fn clear(&self) -> io::Result<Usage> {
        let _g = lock::byte(&self.lock_path, LEDGER_BYTE)?;
        let (pages, (_, writing_bytes)) = self.walk(None)?;
        let mut removed = Usage::default();
        for (_, c, path) in pages {
            if fs::remove_file(&path).is_ok() {
                removed.pages += 1;
                removed.bytes += c;
            }
        }
        self.versions.clear();
        self.ledger.set_used(writing_bytes);
        self.ledger.reset_counts();
        Ok(removed)
    }

    /// Removes page `key` (of a replaced version); the ledger is corrected
    /// by the next recount.
    pub fn remove_page(&self, key: &PageKey) {
        let _ = fs::remove_file(self.page_path(key));
    }
}

/// The bytes a temporary file's name says its writer reserved.
fn reserved_by(path: &Path) -> u64 {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit('-').next())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Mirrored now: later writes get earlier dates (see the module docs).
fn probation_time() -> SystemTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UNIX_EPOCH + Duration::from_secs(MIRROR_S).saturating_sub(now)
}

/// Dates a page just read now, unless it was dated in the last
/// [`TOUCH_EVERY`]; stamps a page just verified (`trusted` false) even
/// then (failures ignored: another user's file).
fn touch_if_old(f: &File, meta: &fs::Metadata, tag: u32, trusted: bool) {
    let now = SystemTime::now();
    let recent = meta
        .modified()
        .is_ok_and(|m| m + TOUCH_EVERY > now && m <= now + TOUCH_EVERY);
    if !recent {
        let _ = f.set_modified(with_tag(now, tag));
    } else if !trusted {
        let _ = f.set_modified(with_tag(meta.modified().unwrap_or(now), tag));
    }
}

/// The nanoseconds every date we give page `key` carries. A page is
/// checksummed when written; it is verified again on reading unless its
/// modification time still carries this stamp and its status changed since
/// this boot. Anything else that writes to it (or truncates it) sets the
/// time with other nanoseconds; a page that lived through a reboot (a power
/// loss may have torn it) changed status before the boot. Once verified a
/// page is stamped again. Media corruption under an unchanged file is the
/// filesystem's to catch, as for any local file.
fn stamp_tag(key: &PageKey) -> u32 {
    // 1..=999_999_999: not 0, which second-resolution tools write.
    u32::try_from(key.hash() % 999_999_999).expect("< 1e9") + 1
}

/// `when` with its nanoseconds set to `tag`.
fn with_tag(when: SystemTime, tag: u32) -> SystemTime {
    let d = when.duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + Duration::new(d.as_secs(), tag)
}

/// Whether a page's status shows it untouched since we verified it.
fn stamped(meta: &fs::Metadata, tag: u32) -> bool {
    i64::from(tag) == meta.mtime_nsec()
        && u64::try_from(meta.ctime()).is_ok_and(|c| c >= boot_time())
}

/// When this machine booted (seconds since the epoch; `u64::MAX`, so that
/// every page is verified, if unknown).
fn boot_time() -> u64 {
    static BOOT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(u64::MAX)
    })
}

/// Moves `from` to `to` unless `to` exists (`AlreadyExists` then).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(from.as_os_str().as_bytes())?;
    let b = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINVAL) {
        // A filesystem without RENAME_NOREPLACE: a hard link fails the same
        // way when the name exists.
        fs::hard_link(from, to)?;
        let _ = fs::remove_file(from);
        return Ok(());
    }
    Err(e)
}

/// A name part unique within this process (with the pid: on the node).
/// A counter, not the kernel's random numbers: `getrandom` for every page
/// was 8 % of a cold read's time.
fn rand_u64() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // The time part keeps names apart across restarts of one pid.
    (u64::from(t.subsec_nanos()) << 20) ^ NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
