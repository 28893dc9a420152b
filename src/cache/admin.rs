//! What `alluxiofs cache` shows and clears: every namespace under a cache
//! directory, with its pages, bytes and lifetime hit ratio.

use std::path::Path;

use super::store::{Dir, Usage};
use super::TOP;

/// One namespace of a cache directory.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// Its directory name (cluster, page size, hash).
    pub name: String,
    /// Its `ABOUT` text (cluster, membership, page size).
    pub about: String,
    /// Pages and bytes (recounted now).
    pub usage: Usage,
    /// Lifetime hits and misses of every process that used it.
    pub hits: u64,
    /// See `hits`.
    pub misses: u64,
}

/// The namespaces under the cache directory `dir` (none if it holds no
/// cache). With `clear`, each is emptied first (pages, recorded versions,
/// counts) and what was removed is reported.
pub fn namespaces(dir: &Path, clear: bool) -> std::io::Result<Vec<Namespace>> {
    let top = dir.join(TOP);
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&top) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    let mut names: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().join("ledger").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let root = top.join(&name);
        let about = std::fs::read_to_string(root.join("ABOUT")).unwrap_or_default();
        let d = Dir::open(root, u64::MAX, &about)?;
        let (hits, misses) = d.ledger().hits_misses();
        let usage = if clear { d.clear()? } else { d.usage()? };
        out.push(Namespace {
            name,
            about,
            usage,
            hits,
            misses,
        });
    }
    Ok(out)
}
