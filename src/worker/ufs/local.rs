//! Local-directory backend, resolution and read side (the write side is
//! `local_mut.rs`). Blocking `std::fs` code, run by the caller on tokio's
//! blocking pool.
//!
//! Symlink confinement: before any use, the target (or, if it does not exist,
//! its deepest existing ancestor) is canonicalized and must stay under the
//! canonical root; the operation then works on that canonical path, so a
//! symlink inside the root can never carry a read or write outside it.
//! Dangling symlinks are refused (creating through one would follow it).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::path::{LocalRoot, LocalTarget};
use super::{join_url, last_segment, UfsStatus};
use crate::error::{Error, Result};

/// `ENAMETOOLONG` (`io::ErrorKind::InvalidFilename` is newer than our MSRV).
#[cfg(target_os = "linux")]
const ENAMETOOLONG: i32 = 36;
#[cfg(not(target_os = "linux"))]
const ENAMETOOLONG: i32 = 63;

/// Maps an I/O error on `url`: a missing file, or a file where a directory
/// was expected in the path, is "not found"; a name longer than the file
/// system allows is the client's mistake (400), not a server fault.
pub(crate) fn io_err(op: &str, url: &str, e: &std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
            Error::NotFound(url.to_string())
        }
        _ if e.raw_os_error() == Some(ENAMETOOLONG) => {
            Error::InvalidArgument(format!("{op} {url}: {e}"))
        }
        _ => Error::io(format!("{op} {url}"), e),
    }
}

fn outside(url: &str) -> Error {
    Error::PermissionDenied(format!("{url} leads outside its under-storage root"))
}

/// Canonicalizes an existing path (symlinks followed) and requires it under
/// the root. A dangling symlink is refused, not treated as absent.
fn canonical_inside(root: &LocalRoot, path: &Path, url: &str) -> Result<PathBuf> {
    let canon = fs::canonicalize(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::PermissionDenied(format!("{url} goes through a dangling symlink"))
        }
        _ => io_err("resolve", url, &e),
    })?;
    if canon.starts_with(&root.canonical) {
        Ok(canon)
    } else {
        Err(outside(url))
    }
}

/// The real path of a target, symlinks followed: the canonical target if it
/// exists, else the canonical deepest existing ancestor plus the missing
/// components. Always under the canonical root.
pub(crate) fn resolve_follow(t: &LocalTarget) -> Result<PathBuf> {
    let mut path = t.root.canonical.join(&t.rel);
    let mut missing = Vec::new();
    loop {
        match fs::symlink_metadata(&path) {
            Ok(_) => {
                let mut out = canonical_inside(&t.root, &path, &t.url)?;
                out.extend(missing.iter().rev());
                return Ok(out);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                // The root itself vanished: nothing below it can be served.
                if path == t.root.canonical {
                    return Err(io_err("resolve", &t.url, &e));
                }
                let name = path.file_name().map(|n| n.to_os_string());
                missing.extend(name);
                path.pop();
            }
            Err(e) => return Err(io_err("resolve", &t.url, &e)),
        }
    }
}

/// The real path of the target entry itself, for operations that act on a
/// symlink rather than through it (remove, rename): the parent is resolved,
/// the last component kept. A symlink there must still point inside the root.
pub(crate) fn resolve_entry(t: &LocalTarget) -> Result<PathBuf> {
    let (parent, name) = t.rel.rsplit_once('/').unwrap_or(("", t.rel.as_str()));
    if name.is_empty() {
        return Ok(t.root.canonical.clone());
    }
    let parent_t = LocalTarget {
        rel: parent.to_string(),
        ..t.clone()
    };
    let path = resolve_follow(&parent_t)?.join(name);
    if let Ok(md) = fs::symlink_metadata(&path) {
        if md.file_type().is_symlink() {
            canonical_inside(&t.root, &path, &t.url)?;
        }
    }
    Ok(path)
}

fn epoch_ms(t: std::io::Result<std::time::SystemTime>) -> i64 {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn status(url: String, md: &fs::Metadata) -> UfsStatus {
    UfsStatus {
        name: last_segment(&url).to_string(),
        is_dir: md.is_dir(),
        length: if md.is_dir() { 0 } else { md.len() },
        mtime_ms: epoch_ms(md.modified()),
        // statx's birth time where the file system keeps one.
        ctime_ms: epoch_ms(md.created()),
        content_hash: String::new(),
        url,
    }
}

/// Ends the names of temp files of atomic writes; listings hide them.
pub(crate) const TEMP_SUFFIX: &str = ".alluxiofs-tmp";

/// Status of a file or directory.
pub(crate) fn stat(t: &LocalTarget) -> Result<UfsStatus> {
    let path = resolve_follow(t)?;
    let md = fs::metadata(&path).map_err(|e| io_err("stat", &t.url, &e))?;
    Ok(status(t.url.clone(), &md))
}

/// One directory entry that is safe to serve.
struct Entry {
    name: String,
    md: fs::Metadata,
    /// A symlink: never descended into (no cycles, no surprises).
    via_link: bool,
}

/// The servable entries of a directory: names must be UTF-8 (others cannot be
/// addressed by URL), symlinks must resolve under the root, and temp files of
/// atomic writes are hidden.
fn entries(root: &LocalRoot, dir: &Path, url: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err("list", url, &e))? {
        let entry = entry.map_err(|e| io_err("list", url, &e))?;
        let Ok(name) = entry.file_name().into_string() else {
            log::warn!("skipping a non-UTF-8 name under {url}");
            continue;
        };
        // In-flight (or crash-orphaned) atomic writes are not files yet.
        if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        let via_link = ft.is_symlink();
        if via_link && canonical_inside(root, &path, url).is_err() {
            continue;
        }
        // Raced with a delete, or a dangling link: not listed.
        let Ok(md) = fs::metadata(&path) else {
            continue;
        };
        out.push(Entry { name, md, via_link });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A directory's children sorted by name, or a file's own status.
pub(crate) fn list(t: &LocalTarget) -> Result<Vec<UfsStatus>> {
    let path = resolve_follow(t)?;
    let md = fs::metadata(&path).map_err(|e| io_err("list", &t.url, &e))?;
    if !md.is_dir() {
        return Ok(vec![status(t.url.clone(), &md)]);
    }
    Ok(entries(&t.root, &path, &t.url)?
        .into_iter()
        .map(|e| status(join_url(&t.url, &e.name), &e.md))
        .collect())
}

/// Relative paths (`a/b`) of everything below a directory, directories
/// included (flagged), without entering symlinked directories.
pub(crate) fn walk(t: &LocalTarget, dir: &Path) -> Result<Vec<(String, UfsStatus)>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let dir_url = if rel.is_empty() {
            t.url.clone()
        } else {
            join_url(&t.url, &rel)
        };
        for e in entries(&t.root, &dir, &dir_url)? {
            let child_rel = if rel.is_empty() {
                e.name.clone()
            } else {
                format!("{rel}/{}", e.name)
            };
            if e.md.is_dir() {
                if e.via_link {
                    continue;
                }
                stack.push((dir.join(&e.name), child_rel.clone()));
            }
            let st = status(join_url(&dir_url, &e.name), &e.md);
            out.push((child_rel, st));
        }
    }
    Ok(out)
}

/// Every file under a directory (or the file itself), sorted by URL.
pub(crate) fn list_files_recursive(t: &LocalTarget) -> Result<Vec<UfsStatus>> {
    let path = resolve_follow(t)?;
    let md = fs::metadata(&path).map_err(|e| io_err("list", &t.url, &e))?;
    if !md.is_dir() {
        return Ok(vec![status(t.url.clone(), &md)]);
    }
    let mut files: Vec<UfsStatus> = walk(t, &path)?
        .into_iter()
        .map(|(_, st)| st)
        .filter(|st| !st.is_dir)
        .collect();
    files.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(files)
}

/// Re-checks where an opened file really is, closing the window between
/// resolving a path and opening it (a concurrent rename could have swapped
/// a directory on the way for a symlink). Linux only; skipped without /proc.
fn check_opened(root: &LocalRoot, f: &fs::File, url: &str) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(real) = fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())) {
            if !real.starts_with(&root.canonical) {
                return Err(outside(url));
            }
        }
    }
    let _ = (root, f, url);
    Ok(())
}

/// Bytes `[offset, min(offset + len, size))`.
pub(crate) fn read(t: &LocalTarget, offset: u64, len: u64) -> Result<Bytes> {
    let path = resolve_follow(t)?;
    let mut f = fs::File::open(&path).map_err(|e| io_err("open", &t.url, &e))?;
    check_opened(&t.root, &f, &t.url)?;
    let md = f.metadata().map_err(|e| io_err("stat", &t.url, &e))?;
    if md.is_dir() {
        return Err(Error::IsADirectory(t.url.clone()));
    }
    if offset >= md.len() || len == 0 {
        return Ok(Bytes::new());
    }
    // Capped by the size so a huge `len` never becomes a huge allocation.
    let n = len.min(md.len() - offset);
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| io_err("seek", &t.url, &e))?;
    let mut buf = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    f.take(n)
        .read_to_end(&mut buf)
        .map_err(|e| io_err("read", &t.url, &e))?;
    Ok(Bytes::from(buf))
}
