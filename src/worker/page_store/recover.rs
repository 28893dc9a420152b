//! Opening an existing store directory: validating `store.json`, clearing
//! a store that cannot be reused, and scanning the pages that can.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{info, warn};
use serde::{Deserialize, Serialize};

use super::disk::{
    prefix_of, remove_quietly, validate_file_id, write_atomic, Layout, HEADER_LEN, META_FILE,
};
use super::FileMeta;
use crate::error::{Error, Result};

/// Bumped whenever the layout or the page encoding changes incompatibly.
const FORMAT_VERSION: u32 = 1;

fn remove_dir_if_exists(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(Error::io(format!("clearing {}", path.display()), &e))
        }
        _ => Ok(()),
    }
}

/// Deletes a stray file or directory found in the store's own tree.
fn remove_stray(path: &Path) {
    warn!("page store: removing unexpected entry {}", path.display());
    let res = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    if let Err(e) = res {
        warn!("page store: cannot remove {}: {e}", path.display());
    }
}

#[derive(Serialize, Deserialize)]
struct StoreMeta {
    format_version: u32,
    page_size: u64,
}

/// Makes `layout` a valid store for `page_size`. Returns whether existing
/// pages may be reused; otherwise the store's own entries were cleared (only
/// those: the directory may hold other things we must not touch).
pub(super) fn prepare(layout: &Layout, page_size: u64, nonce: u64) -> Result<bool> {
    let root = layout.root();
    fs::create_dir_all(root)
        .map_err(|e| Error::io(format!("creating page store {}", root.display()), &e))?;
    let meta_path = layout.store_meta();
    let keep = match fs::read(&meta_path) {
        Ok(raw) => match serde_json::from_slice::<StoreMeta>(&raw) {
            Ok(m) if m.format_version == FORMAT_VERSION && m.page_size == page_size => true,
            Ok(m) => {
                info!(
                    "page store {}: written with page size {} (format {}), now {page_size} (format {FORMAT_VERSION}); clearing it",
                    root.display(),
                    m.page_size,
                    m.format_version
                );
                false
            }
            Err(e) => {
                info!(
                    "page store {}: unreadable store.json ({e}); clearing it",
                    root.display()
                );
                false
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if layout.pages_dir().exists() {
                info!(
                    "page store {}: pages without store.json; clearing them",
                    root.display()
                );
            }
            false
        }
        Err(e) => return Err(Error::io(format!("reading {}", meta_path.display()), &e)),
    };
    if !keep {
        // store.json goes first: a crash part-way leaves a store that is cleared again.
        if let Err(e) = fs::remove_file(&meta_path) {
            if e.kind() != io::ErrorKind::NotFound {
                return Err(Error::io(format!("clearing {}", meta_path.display()), &e));
            }
        }
        remove_dir_if_exists(&layout.pages_dir())?;
    }
    // tmp and trash only ever hold leftovers of an earlier run.
    remove_dir_if_exists(&layout.tmp_dir())?;
    remove_dir_if_exists(&layout.trash_dir())?;
    for dir in [layout.pages_dir(), layout.tmp_dir(), layout.trash_dir()] {
        fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), &e))?;
    }
    if !keep {
        let raw = serde_json::to_vec(&StoreMeta {
            format_version: FORMAT_VERSION,
            page_size,
        })
        .map_err(|e| Error::Io {
            context: "encoding store.json".into(),
            message: e.to_string(),
        })?;
        write_atomic(&layout.temp_path(nonce, 0), &meta_path, &[&raw])
            .map_err(|e| Error::io(format!("writing {}", meta_path.display()), &e))?;
    }
    Ok(keep)
}

/// A page file found by [`scan`].
pub(super) struct ScannedPage {
    pub id: String,
    pub index: u64,
    pub len: u64,
    pub mtime: SystemTime,
}

/// Everything [`scan`] found.
#[derive(Default)]
pub(super) struct Scan {
    pub pages: Vec<ScannedPage>,
    pub metas: Vec<(String, FileMeta)>,
    /// Page files deleted because their size cannot be right.
    pub corrupt: u64,
}

/// Lists the pages and metas of a reused store. Checksums are not read here
/// (that would read the whole cache); `get` verifies every page it serves.
pub(super) fn scan(layout: &Layout, page_size: u64) -> Result<Scan> {
    let pages_dir = layout.pages_dir();
    let prefixes = fs::read_dir(&pages_dir)
        .map_err(|e| Error::io(format!("listing {}", pages_dir.display()), &e))?;
    let mut scan = Scan::default();
    for prefix in prefixes.flatten() {
        let prefix_path = prefix.path();
        let prefix_name = prefix.file_name();
        let entries = match fs::read_dir(&prefix_path) {
            Ok(entries) => entries,
            Err(_) => {
                remove_stray(&prefix_path);
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let id = entry.file_name().into_string().ok();
            match id {
                Some(id)
                    if validate_file_id(&id).is_ok()
                        && prefix_name.to_str() == Some(prefix_of(&id))
                        && path.is_dir() =>
                {
                    scan_file(&path, &id, page_size, &mut scan)
                }
                _ => remove_stray(&path),
            }
        }
        // Only succeeds when empty, which is when it should go.
        let _ = fs::remove_dir(&prefix_path);
    }
    Ok(scan)
}

fn scan_file(dir: &Path, id: &str, page_size: u64, scan: &mut Scan) {
    let Ok(entries) = fs::read_dir(dir) else {
        return remove_stray(dir);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_str();
        if name == Some(META_FILE) {
            let meta = fs::read(&path)
                .ok()
                .and_then(|raw| serde_json::from_slice::<FileMeta>(&raw).ok());
            match meta {
                Some(meta) => scan.metas.push((id.to_owned(), meta)),
                None => {
                    warn!("page store: unreadable {}; deleting it", path.display());
                    remove_quietly(&path);
                }
            }
            continue;
        }
        let Some(index) = name.and_then(parse_index) else {
            remove_stray(&path);
            continue;
        };
        let md = match entry.metadata() {
            Ok(md) if md.is_file() => md,
            _ => {
                remove_stray(&path);
                continue;
            }
        };
        match md.len().checked_sub(HEADER_LEN) {
            Some(len) if len <= page_size => scan.pages.push(ScannedPage {
                id: id.to_owned(),
                index,
                len,
                mtime: md.modified().unwrap_or(UNIX_EPOCH),
            }),
            _ => {
                warn!(
                    "page store: page {} has an impossible size ({} bytes); deleting it",
                    path.display(),
                    md.len()
                );
                scan.corrupt += 1;
                remove_quietly(&path);
            }
        }
    }
    // Files whose pages were all evicted leave an empty directory behind.
    let _ = fs::remove_dir(dir);
}

/// A page index from its file name; only the canonical decimal form counts.
fn parse_index(name: &str) -> Option<u64> {
    let index: u64 = name.parse().ok()?;
    (index.to_string() == name).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names() {
        assert_eq!(parse_index("0"), Some(0));
        assert_eq!(parse_index("42"), Some(42));
        for bad in ["", "007", "+5", "-1", "1.tmp", "meta.json"] {
            assert_eq!(parse_index(bad), None, "{bad}");
        }
    }
}
