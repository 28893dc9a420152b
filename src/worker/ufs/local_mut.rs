//! Local-directory backend, write side: atomic replace, mkdir, touch,
//! remove, rename, copy. Every path comes from `local.rs`'s resolvers, so it
//! is confined before it is touched.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::join_url;
use super::local::{io_err, resolve_entry, resolve_follow, walk, TEMP_SUFFIX};
use super::path::LocalTarget;
use crate::error::{Error, Result};

/// A temp name beside `target`, unique in this process and hidden.
fn temp_path(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Keeps the temp name within NAME_MAX (255) for long target names.
    while name.len() > 120 {
        name.pop();
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    target.with_file_name(format!(
        ".{name}.{}.{}.{nanos}{TEMP_SUFFIX}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Fills a temp file beside `target` with `fill`, fsyncs it and renames it
/// over `target`, so readers see the old content or the new, never a part.
/// On Linux the temp file is first unnamed (`O_TMPFILE`) and gets its name
/// only once complete: a worker killed mid-write leaves nothing behind.
pub(super) fn replace_atomically(
    target: &Path,
    url: &str,
    fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> Result<()> {
    if fs::metadata(target).is_ok_and(|md| md.is_dir()) {
        return Err(Error::IsADirectory(url.to_owned()));
    }
    let parent = target.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(|e| io_err("create parent of", url, &e))?;
    let tmp = temp_path(target);
    let result = (|| {
        let (mut f, unnamed) = match unnamed_in(parent) {
            Some(f) => (f, true),
            // create_new: never follows or clobbers whatever already has the name.
            None => (
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp)?,
                false,
            ),
        };
        fill(&mut f)?;
        f.sync_all()?;
        if unnamed {
            name_unnamed(&f, &tmp)?;
        }
        fs::rename(&tmp, target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("write", url, &e));
    }
    // Makes the rename itself durable; best effort (not all filesystems allow it).
    if let Ok(d) = fs::File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An unnamed regular file in `dir` (`O_TMPFILE`), if the filesystem has them.
#[cfg(target_os = "linux")]
fn unnamed_in(dir: &Path) -> Option<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .mode(0o666)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn unnamed_in(_dir: &Path) -> Option<fs::File> {
    None
}

/// Gives an `O_TMPFILE` file the name `tmp`.
#[cfg(target_os = "linux")]
fn name_unnamed(f: &fs::File, tmp: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    let from = std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .map_err(std::io::Error::other)?;
    let to = std::ffi::CString::new(tmp.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: two valid NUL-terminated paths; linkat only reads them.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn name_unnamed(_f: &fs::File, _tmp: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Creates or replaces a file atomically, creating parent directories.
pub(crate) fn write(t: &LocalTarget, data: &[u8]) -> Result<()> {
    let target = resolve_follow(t)?;
    replace_atomically(&target, &t.url, |f| f.write_all(data))
}

/// Creates a directory and its parents; an existing directory is fine.
pub(crate) fn mkdir(t: &LocalTarget) -> Result<()> {
    let path = resolve_follow(t)?;
    match fs::create_dir_all(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory || path.exists() => {
            Err(Error::AlreadyExists(format!("{} (not a directory)", t.url)))
        }
        Err(e) => Err(io_err("mkdir", &t.url, &e)),
    }
}

/// Creates an empty file if missing (with parents); else bumps its mtime.
pub(crate) fn touch(t: &LocalTarget) -> Result<()> {
    let path = resolve_follow(t)?;
    match fs::metadata(&path) {
        Ok(md) if md.is_dir() => return Ok(()),
        Ok(_) => {}
        Err(_) => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| io_err("create parent of", &t.url, &e))?;
            }
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(()),
                // Someone else created it meanwhile: just bump the mtime.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("create", &t.url, &e)),
            }
        }
    }
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| io_err("open", &t.url, &e))?;
    f.set_modified(SystemTime::now())
        .map_err(|e| io_err("touch", &t.url, &e))
}

fn refuse_root(t: &LocalTarget, what: &str) -> Result<()> {
    if t.rel.is_empty() {
        return Err(Error::PermissionDenied(format!(
            "refusing to {what} the under-storage root {}",
            t.url
        )));
    }
    Ok(())
}

/// Removes a file, a symlink (not its target) or a directory.
pub(crate) fn remove(t: &LocalTarget, recursive: bool) -> Result<()> {
    refuse_root(t, "remove")?;
    let path = resolve_entry(t)?;
    let md = fs::symlink_metadata(&path).map_err(|e| io_err("remove", &t.url, &e))?;
    let r = if md.is_dir() {
        if recursive {
            // std's remove_dir_all does not follow symlinks.
            fs::remove_dir_all(&path)
        } else {
            let mut rd = fs::read_dir(&path).map_err(|e| io_err("remove", &t.url, &e))?;
            if rd.next().is_some() {
                return Err(Error::NotEmpty(t.url.clone()));
            }
            fs::remove_dir(&path)
        }
    } else {
        fs::remove_file(&path)
    };
    r.map_err(|e| io_err("remove", &t.url, &e))
}

/// Renames within the local backend; the destination must not exist.
/// Returns `Ok(false)` when source and destination are on different
/// filesystems, so the caller falls back to copy + remove.
pub(crate) fn rename(src: &LocalTarget, dst: &LocalTarget) -> Result<bool> {
    refuse_root(src, "rename")?;
    refuse_root(dst, "replace")?;
    let s = resolve_entry(src)?;
    fs::symlink_metadata(&s).map_err(|e| io_err("rename", &src.url, &e))?;
    let d = resolve_entry(dst)?;
    if fs::symlink_metadata(&d).is_ok() {
        return Err(Error::AlreadyExists(dst.url.clone()));
    }
    if d.starts_with(&s) {
        return Err(Error::InvalidArgument(format!(
            "cannot move {} into itself ({})",
            src.url, dst.url
        )));
    }
    if let Some(parent) = d.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err("create parent of", &dst.url, &e))?;
    }
    match fs::rename(&s, &d) {
        Ok(()) => Ok(true),
        // EXDEV: the roots are on different filesystems.
        Err(e) if e.raw_os_error() == Some(18) => Ok(false),
        Err(e) => Err(io_err("rename", &src.url, &e)),
    }
}

/// Copies one file atomically; `dst` must not be a directory.
fn copy_file(src: &LocalTarget, dst: &LocalTarget) -> Result<()> {
    let s = resolve_follow(src)?;
    let d = resolve_follow(dst)?;
    // io::copy between files uses copy_file_range on Linux.
    replace_atomically(&d, &dst.url, |f| {
        std::io::copy(&mut fs::File::open(&s)?, f).map(|_| ())
    })
}

fn child(t: &LocalTarget, rel: &str) -> LocalTarget {
    LocalTarget {
        root: t.root.clone(),
        rel: if t.rel.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", t.rel)
        },
        url: join_url(&t.url, rel),
    }
}

/// Copies a file, or (with `recursive`) a directory tree merged into `dst`.
/// Every destination entry is resolved and confined on its own, so a symlink
/// already present under `dst` cannot redirect the copy.
pub(crate) fn copy(src: &LocalTarget, dst: &LocalTarget, recursive: bool) -> Result<()> {
    let s = resolve_follow(src)?;
    let md = fs::metadata(&s).map_err(|e| io_err("copy", &src.url, &e))?;
    if !md.is_dir() {
        return copy_file(src, dst);
    }
    if !recursive {
        // A directory where a file copy was asked: what fsspec's recursive
        // copy reads as "make the directory" (IsADirectoryError).
        return Err(Error::IsADirectory(src.url.clone()));
    }
    let d = resolve_follow(dst)?;
    if d.starts_with(&s) {
        return Err(Error::InvalidArgument(format!(
            "cannot copy {} into itself ({})",
            src.url, dst.url
        )));
    }
    if fs::metadata(&d).is_ok_and(|m| !m.is_dir()) {
        return Err(Error::AlreadyExists(format!(
            "{} (not a directory)",
            dst.url
        )));
    }
    mkdir(dst)?;
    // Listed before copying, so nothing written below is copied again.
    for (rel, st) in walk(src, &s)? {
        if st.is_dir {
            mkdir(&child(dst, &rel))?;
        } else {
            copy_file(&child(src, &rel), &child(dst, &rel))?;
        }
    }
    Ok(())
}
