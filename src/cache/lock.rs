//! Cross-process locks the kernel releases when their holder dies: Linux
//! open-file-description (OFD) byte-range locks. Single-flight claims are
//! one byte each in a namespace's `lock` file (slot = page hash, so
//! unrelated pages share a slot only by collision), the ledger lock another
//! byte, and a temporary page file is locked whole by its writer to say it
//! is alive. A dead owner needs no detection: its locks are gone.
//!
//! An OFD lock is held by an open file description, which a `fork` shares
//! with the child; a child that never closes its copy would keep the lock
//! held as long as it lives. So every held lock's descriptor is listed in a
//! fixed table, and [`close_inherited`] (run in a forked child) closes them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// Descriptors of the locks this process holds (−1: free).
static HELD: [AtomicI32; 256] = [const { AtomicI32::new(-1) }; 256];

/// Called in a forked child: closes the descriptors of the parent's locks,
/// so the child does not keep them held (async-signal-safe: atomics and
/// `close`).
pub fn close_inherited() {
    for slot in &HELD {
        let fd = slot.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            // SAFETY: the parent's thread that owned this descriptor does not
            // exist in the child; nothing else here uses it.
            unsafe { libc::close(fd) };
        }
    }
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Held {
    fd: RawFd,
    /// Its entry in [`HELD`], if the table had room.
    slot: Option<usize>,
}

impl Held {
    fn new(file: File) -> Self {
        let fd = file.into_raw_fd();
        let slot = HELD.iter().position(|s| {
            s.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        });
        Self { fd, slot }
    }

    /// The locked file's descriptor (to write through while holding it).
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            // A forked child's hook may have closed it already: then it is
            // not ours to close again.
            if HELD[i]
                .compare_exchange(self.fd, -1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return;
            }
        }
        // SAFETY: we own the descriptor (moved out of its `File`).
        unsafe { libc::close(self.fd) };
    }
}

fn ofd_lock(file: &File, start: u64, len: u64, wait: bool) -> io::Result<bool> {
    // SAFETY: a zeroed `flock` is a valid value to fill in.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = i64::try_from(start).map_err(|_| io::ErrorKind::InvalidInput)?;
    fl.l_len = i64::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: `fl` is a valid `flock` for the duration of the call.
        if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &fl) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EAGAIN | libc::EACCES) if !wait => return Ok(false),
            _ => return Err(e),
        }
    }
}

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Takes byte `slot` of the lock file at `path` if free; `None` if another
/// open file description (another process, or another claim here) holds it.
pub fn try_byte(path: &Path, slot: u64) -> io::Result<Option<Held>> {
    let f = open_rw(path)?;
    Ok(ofd_lock(&f, slot, 1, false)?.then(|| Held::new(f)))
}

/// Takes byte `slot` of the lock file at `path`, waiting for it.
pub fn byte(path: &Path, slot: u64) -> io::Result<Held> {
    let f = open_rw(path)?;
    ofd_lock(&f, slot, 1, true)?;
    Ok(Held::new(f))
}

/// Locks all of `file` (a temporary page its writer is filling), which
/// nobody else can hold yet.
pub fn whole(file: File) -> io::Result<Held> {
    if ofd_lock(&file, 0, 0, false)? {
        Ok(Held::new(file))
    } else {
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "a new temporary page file is locked by someone else",
        ))
    }
}

/// Whether some live process holds a lock on any of the file at `path`
/// (its writer is still filling it); `None` if it is gone.
pub fn in_use(path: &Path) -> io::Result<Option<bool>> {
    let f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // Taken and released at once (closing `f` drops it).
    Ok(Some(!ofd_lock(&f, 0, 0, false)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_is_exclusive_between_descriptions_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let a = try_byte(&p, 5).unwrap().expect("free");
        assert!(
            try_byte(&p, 5).unwrap().is_none(),
            "held by another description"
        );
        assert!(try_byte(&p, 6).unwrap().is_some(), "another byte is free");
        drop(a);
        assert!(try_byte(&p, 5).unwrap().is_some(), "released on drop");
    }

    #[test]
    fn a_whole_file_lock_shows_its_writer_alive() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tmp");
        let held = whole(File::create(&p).unwrap()).unwrap();
        assert_eq!(in_use(&p).unwrap(), Some(true));
        drop(held);
        assert_eq!(in_use(&p).unwrap(), Some(false));
        std::fs::remove_file(&p).unwrap();
        assert_eq!(in_use(&p).unwrap(), None);
    }
}
