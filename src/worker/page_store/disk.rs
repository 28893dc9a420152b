//! On-disk layout of the page store and the blocking file operations on it.
//!
//! ```text
//! <dir>/store.json                  {"format_version":1,"page_size":N}
//! <dir>/pages/<id[..2]>/<id>/<index> xxh3_64(data) as 8 bytes LE, then data
//! <dir>/pages/<id[..2]>/<id>/meta.json  FileMeta as JSON
//! <dir>/tmp/                        files being written (renamed into place)
//! <dir>/trash/                      directories of removed files, being deleted
//! ```
//!
//! Page files are never fsynced: after a crash a torn or empty page fails
//! its checksum and is dropped, which is all a cache needs.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use log::warn;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};

/// Bytes of checksum in front of every page's data.
pub(super) const HEADER_LEN: u64 = 8;
/// Longest accepted file id.
const MAX_ID_LEN: usize = 128;
/// Name of a file's meta inside its directory.
pub(super) const META_FILE: &str = "meta.json";

/// Rejects ids that are not 1..=128 characters of `[0-9A-Za-z_-]`; ids become
/// directory names, so this is what rules out path traversal.
pub(super) fn validate_file_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        let shown: String = id.chars().take(40).collect();
        Err(Error::InvalidArgument(format!(
            "invalid file id {shown:?} ({} bytes): expected 1 to {MAX_ID_LEN} characters of [0-9A-Za-z_-]",
            id.len()
        )))
    }
}

/// Where everything lives under the store directory.
#[derive(Debug)]
pub(super) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(super) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn store_meta(&self) -> PathBuf {
        self.root.join("store.json")
    }

    pub(super) fn pages_dir(&self) -> PathBuf {
        self.root.join("pages")
    }

    pub(super) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(super) fn trash_dir(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// The directory holding a file's pages and meta.
    pub(super) fn file_dir(&self, id: &str) -> PathBuf {
        self.pages_dir().join(prefix_of(id)).join(id)
    }

    pub(super) fn page_path(&self, id: &str, index: u64) -> PathBuf {
        self.file_dir(id).join(index.to_string())
    }

    pub(super) fn meta_path(&self, id: &str) -> PathBuf {
        self.file_dir(id).join(META_FILE)
    }

    /// A unique scratch name; `nonce` separates store instances, `n` writes.
    pub(super) fn temp_path(&self, nonce: u64, n: u64) -> PathBuf {
        self.tmp_dir().join(format!("{nonce:016x}-{n}.tmp"))
    }

    pub(super) fn trash_path(&self, nonce: u64, n: u64) -> PathBuf {
        self.trash_dir().join(format!("{nonce:016x}-{n}"))
    }
}

/// Fan-out directory of an id: its first two characters keep directories small.
pub(super) fn prefix_of(id: &str) -> &str {
    &id[..id.len().min(2)]
}

/// The 8-byte header stored in front of `data`.
pub(super) fn checksum_header(data: &[u8]) -> [u8; 8] {
    xxh3_64(data).to_le_bytes()
}

/// The data of a page file, or `None` if it is short, too long or fails its checksum.
pub(super) fn decode_page(raw: Vec<u8>, page_size: u64) -> Option<Bytes> {
    if (raw.len() as u64) < HEADER_LEN || raw.len() as u64 - HEADER_LEN > page_size {
        return None;
    }
    let mut header = [0u8; 8];
    header.copy_from_slice(&raw[..8]);
    let data = Bytes::from(raw).slice(8..);
    (xxh3_64(&data) == u64::from_le_bytes(header)).then_some(data)
}

/// Writes `parts` to `tmp` and renames it over `dest`, so readers see either
/// the old file or the whole new one. Retries when the destination directory
/// disappears under it (a concurrent `remove_file` moves it to the trash).
pub(super) fn write_atomic(tmp: &Path, dest: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let result = (|| {
        let mut file = File::create(tmp)?;
        for part in parts {
            file.write_all(part)?;
        }
        drop(file);
        let parent = dest.parent().unwrap_or(Path::new("."));
        let mut attempt = 0;
        loop {
            fs::create_dir_all(parent)?;
            match fs::rename(tmp, dest) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < 2 => attempt += 1,
                other => return other,
            }
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Deletes a file, ignoring "already gone" and logging anything else.
pub(super) fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            warn!("page store: cannot delete {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids() {
        for ok in ["a", "AZaz09_-", &"f".repeat(64), &"x".repeat(128)] {
            assert!(validate_file_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            ".",
            "..",
            "a b",
            "é",
            &"x".repeat(129),
        ] {
            assert!(
                matches!(validate_file_id(bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn page_encoding() {
        let data = b"hello page".to_vec();
        let mut raw = checksum_header(&data).to_vec();
        raw.extend_from_slice(&data);
        assert_eq!(decode_page(raw.clone(), 10).as_deref(), Some(&data[..]));
        assert_eq!(decode_page(raw.clone(), 9), None, "longer than a page");
        let mut flipped = raw.clone();
        flipped[9] ^= 1;
        assert_eq!(decode_page(flipped, 10), None);
        assert_eq!(decode_page(raw[..raw.len() - 1].to_vec(), 10), None);
        assert_eq!(decode_page(raw[..5].to_vec(), 10), None);
        let empty = checksum_header(&[]).to_vec();
        assert_eq!(decode_page(empty, 10).as_deref(), Some(&[][..]));
    }

    #[test]
    fn layout_paths() {
        let l = Layout::new(PathBuf::from("/s"));
        assert_eq!(l.page_path("abcd", 7), PathBuf::from("/s/pages/ab/abcd/7"));
        assert_eq!(l.meta_path("x"), PathBuf::from("/s/pages/x/x/meta.json"));
    }
}
