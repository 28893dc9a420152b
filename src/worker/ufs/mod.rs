//! Under storage (UFS): local directories and S3 buckets, confined to
//! configured roots.
//!
//! Clients send full UFS URLs (already percent-decoded by the HTTP layer);
//! [`Ufs`] serves metadata and bytes for them, and refuses anything outside
//! its roots. The rules, applied before any storage is touched:
//!
//! * Roots: `file:///abs/dir` or `/abs/dir` (must be an existing directory;
//!   canonicalized, and the configured spelling is accepted too), `s3://bucket`
//!   or `s3://bucket/prefix`.
//! * Accepted URLs: `file:///abs`, `file://localhost/abs`, `file:/abs`, plain
//!   `/abs`, `s3://bucket/key`. Schemes are case-insensitive. `.` and empty
//!   segments are dropped; statuses carry this cleaned spelling
//!   (`file:///abs`, `s3://bucket/key`).
//! * `PermissionDenied`: a NUL byte; a `..` segment anywhere (never
//!   normalized); `file://otherhost/...`; a scheme other than `file`/`s3`; a
//!   path outside every root (matched on whole segments: root `/data/ds` does
//!   not admit `/data/ds2`); another bucket, or a key outside the root prefix
//!   (`s3://b/p` does not admit `s3://b/p2/k`); a local path that leaves the
//!   root through a symlink (the target, or its deepest existing ancestor, is
//!   canonicalized and must stay under the canonical root; dangling symlinks
//!   are refused); removing or renaming a root itself.
//! * `InvalidArgument`: no scheme and not absolute (`a/b`, the empty
//!   string), `file:rel`, a malformed `s3://` URL, control characters in an
//!   S3 URL.
//! * Percent-escapes are never decoded: `%2e%2e` is an ordinary name.
//!
//! Symlinks inside the root that resolve inside it are followed for reads
//! and writes; `remove`/`rename` act on the link itself. Listings skip
//! symlinks that leave the root and names that are not UTF-8, recursive walks
//! do not enter symlinked directories, and temp files of in-flight atomic
//! writes (`.<name>.*.alluxiofs-tmp`) are hidden.
//!
//! On S3 a directory is a key prefix, plus optional zero-byte `dir/` marker
//! objects (written by `mkdir`, Alluxio and s3a), which are never shown as
//! files.

mod local;
mod local_mut;
mod local_stream;
mod path;
mod s3;
mod s3_mut;
mod s3_upload;

use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use path::{parse_root, LocalRoot, Parsed, Roots, S3Root, Target};

/// S3 connection options. Every field is optional: unset ones fall back to
/// the usual `AWS_*` environment variables, then to object_store defaults
/// (region `us-east-1`).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// Endpoint URL, e.g. `http://127.0.0.1:9000` for MinIO or moto; `http://`
    /// endpoints are allowed. Path-style addressing is used.
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials.
    pub session_token: Option<String>,
}

/// A file's bytes as they arrive (a request body), or the error that cut
/// them off.
pub type ByteStream<'a> = futures::stream::BoxStream<'a, Result<Bytes>>;

/// Metadata of one file or directory in the under storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UfsStatus {
    /// Full cleaned URL, e.g. `file:///data/a` or `s3://bucket/key`.
    pub url: String,
    /// Last path component (the bucket name for a bucket root).
    pub name: String,
    /// Whether this is a directory (an S3 prefix).
    pub is_dir: bool,
    /// Size in bytes; 0 for directories.
    pub length: u64,
    /// Last modification, milliseconds since the Unix epoch; 0 if unknown.
    pub mtime_ms: i64,
    /// Creation (birth) time, milliseconds since the Unix epoch; 0 if the
    /// under storage does not report one (S3; file systems without `statx`
    /// birth times).
    pub ctime_ms: i64,
    /// S3 ETag without quotes; empty for local files and directories.
    pub content_hash: String,
}

/// The under storage of a worker: its roots and the clients to reach them.
/// Cheap to clone (shared state).
#[derive(Clone)]
pub struct Ufs {
    roots: Arc<Roots>,
}

impl std::fmt::Debug for Ufs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ufs").field("roots", &self.roots()).finish()
    }
}

/// `base` + `/` + `name`, without doubling the `/` of `file:///`.
pub(crate) fn join_url(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// The last `/`-separated component of a URL.
pub(crate) fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The part of `child` below `base` (both cleaned URLs), without a leading `/`.
fn url_suffix<'a>(base: &str, child: &'a str) -> Option<&'a str> {
    let rest = child.strip_prefix(base)?;
    if base.ends_with('/') || rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('/')
    }
}

/// Runs blocking filesystem code off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            context: "under-storage task".into(),
            message: e.to_string(),
        })?
}

impl Ufs {
    /// Opens the roots. A root that does not parse, a local root that is not
    /// an existing directory, or an S3 configuration object_store rejects is
    /// `InvalidArgument`. Nothing is contacted over the network.
    pub fn new(roots: &[String], s3: &S3Options) -> Result<Self> {
        let mut out = Roots::default();
        for root in roots {
            match parse_root(root)? {
                Parsed::Local(p) => out.local.push(Arc::new(LocalRoot::new(root, &p)?)),
                Parsed::S3 { bucket, key } => {
                    let store = s3::build_store(&bucket, s3)?;
                    out.s3.push(Arc::new(S3Root {
                        bucket,
                        prefix: key,
                        store,
                    }));
                }
            }
        }
        Ok(Self {
            roots: Arc::new(out),
        })
    }

    /// The roots as URLs: `file:///canonical/dir`, `s3://bucket[/prefix]`.
    pub fn roots(&self) -> Vec<String> {
        let local = self.roots.local.iter().map(|r| r.url());
        local.chain(self.roots.s3.iter().map(|r| r.url())).collect()
    }

    /// Whether `url` is a local file (not an S3 object), by its syntax alone.
    pub fn is_local_url(url: &str) -> bool {
        matches!(path::parse_url(url), Ok(Parsed::Local(_)))
    }

    /// Whether `url` passes the confinement rules that need no filesystem
    /// access (syntax, roots). Symlinks are checked when the path is used.
    pub fn check(&self, url: &str) -> Result<()> {
        self.roots.resolve(url).map(|_| ())
    }

    /// Alluxio's "mPath": the path below the URL's root with a leading `/`
    /// (`/` for the root itself).
    pub fn root_relative(&self, url: &str) -> Result<String> {
        Ok(format!("/{}", self.roots.resolve(url)?.rel()))
    }

    /// The cleaned form of `url`, checked against the roots (no storage access).
    pub fn cleaned(&self, url: &str) -> Result<String> {
        Ok(self.roots.resolve(url)?.url().to_owned())
    }

    /// Status of a file or directory; `NotFound` if absent. On S3 a directory
    /// is any prefix with keys under it, or the root itself.
    pub async fn stat(&self, url: &str) -> Result<UfsStatus> {
        stat_t(self.roots.resolve(url)?).await
    }

    /// A directory's immediate children sorted by name, or `[status]` for a
    /// file; `NotFound` if absent.
    pub async fn list(&self, url: &str) -> Result<Vec<UfsStatus>> {
        match self.roots.resolve(url)? {
            Target::Local(t) => blocking(move || local::list(&t)).await,
            Target::S3(t) => s3::list(&t).await,
        }
    }

    /// Every file below `url` (or the file itself), sorted by URL.
    pub async fn list_files_recursive(&self, url: &str) -> Result<Vec<UfsStatus>> {
        list_files_t(self.roots.resolve(url)?).await
    }

    /// Bytes `[offset, min(offset + len, size))`; empty when `offset` is at
    /// or past the end. S3: one ranged GET.
    pub async fn read(&self, url: &str, offset: u64, len: u64) -> Result<Bytes> {
        let t = std::time::Instant::now();
        let out = read_t(self.roots.resolve(url)?, offset, len).await;
        log::debug!(
            "ufs read {url} [{offset}, +{len}): {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        out
    }

    /// Creates or replaces a file atomically: locally a temp file in the same
    /// directory, fsynced, then renamed (parents created); on S3 one PUT. A
    /// crash never leaves a partial file at `url`.
    pub async fn write(&self, url: &str, data: Bytes) -> Result<()> {
        write_t(self.roots.resolve(url)?, data).await
    }

    /// [`Ufs::write`] from a stream, in bounded memory (a few MiB locally,
    /// about four 8 MiB parts on S3, whatever the size). Locally the temp
    /// file is filled as pieces arrive; on S3 a body larger than one part is
    /// a multipart upload. The file appears only once `body` has ended
    /// without error; a body that ends in an error, a failed write, or this
    /// future dropped midway leaves the old content (or nothing) and no
    /// temp file or upload behind. The body's error is returned as is; a
    /// write that fails early leaves the rest of `body` unread.
    pub async fn write_stream(&self, url: &str, body: ByteStream<'_>) -> Result<()> {
        match self.roots.resolve(url)? {
            Target::Local(t) => local_stream::write(t, body).await,
            Target::S3(t) => s3_upload::write(&t, body).await,
        }
    }

    /// Creates a directory with its parents; an existing directory is fine, a
    /// file in the way is `AlreadyExists`. On S3 a zero-byte `dir/` marker
    /// object is written (as Alluxio and s3a do), so the empty directory
    /// exists; its parents exist through it.
    pub async fn mkdir(&self, url: &str) -> Result<()> {
        mkdir_t(self.roots.resolve(url)?).await
    }

    /// Creates an empty file if nothing exists at `url`; else keeps the
    /// content (locally the mtime is bumped; S3 leaves the object as is).
    pub async fn touch(&self, url: &str) -> Result<()> {
        match self.roots.resolve(url)? {
            Target::Local(t) => blocking(move || local_mut::touch(&t)).await,
            Target::S3(t) => s3_mut::touch(&t).await,
        }
    }

    /// Removes a file or directory. A non-empty directory needs `recursive`
    /// (else `InvalidArgument`); absent is `NotFound`; a root itself is
    /// `PermissionDenied`.
    pub async fn remove(&self, url: &str, recursive: bool) -> Result<()> {
        remove_t(self.roots.resolve(url)?, recursive).await
    }

    /// Moves a file or directory; `dst` must not exist (`AlreadyExists`).
    /// Local: `rename(2)`. S3: copy then delete (files, and prefixes key by
    /// key). Across backends, buckets or filesystems: copy then remove.
    pub async fn rename(&self, src: &str, dst: &str) -> Result<()> {
        let (s, d) = (self.roots.resolve(src)?, self.roots.resolve(dst)?);
        match (s, d) {
            (Target::Local(s), Target::Local(d)) => {
                let (s2, d2) = (s.clone(), d.clone());
                if blocking(move || local_mut::rename(&s2, &d2)).await? {
                    return Ok(());
                }
                let (s, d) = (Target::Local(s), Target::Local(d));
                copy_across(&self.roots, &s, &d, true).await?;
                remove_t(s, true).await
            }
            (Target::S3(s), Target::S3(d)) if s.root.bucket == d.root.bucket => {
                s3_mut::rename(&s, &d).await
            }
            (s, d) => {
                for t in [&s, &d] {
                    if t.rel().is_empty() {
                        return Err(Error::PermissionDenied(format!(
                            "refusing to rename the under-storage root {}",
                            t.url()
                        )));
                    }
                }
                if stat_t(d.clone()).await.is_ok() {
                    return Err(Error::AlreadyExists(d.url().to_string()));
                }
                copy_across(&self.roots, &s, &d, true).await?;
                remove_t(s, true).await
            }
        }
    }

    /// Copies a file to `dst` (replacing a file there), or with `recursive`
    /// a directory tree merged into `dst`. Across backends or buckets each
    /// file passes through memory in one piece.
    pub async fn copy(&self, src: &str, dst: &str, recursive: bool) -> Result<()> {
        let (s, d) = (self.roots.resolve(src)?, self.roots.resolve(dst)?);
        match (s, d) {
            (Target::Local(s), Target::Local(d)) => {
                blocking(move || local_mut::copy(&s, &d, recursive)).await
            }
            (Target::S3(s), Target::S3(d)) if s.root.bucket == d.root.bucket => {
                s3_mut::copy(&s, &d, recursive).await
            }
            (s, d) => copy_across(&self.roots, &s, &d, recursive).await,
        }
    }
}

async fn stat_t(t: Target) -> Result<UfsStatus> {
    match t {
        Target::Local(t) => blocking(move || local::stat(&t)).await,
        Target::S3(t) => s3::stat(&t).await,
    }
}

async fn list_files_t(t: Target) -> Result<Vec<UfsStatus>> {
    match t {
        Target::Local(t) => blocking(move || local::list_files_recursive(&t)).await,
        Target::S3(t) => s3::list_files_recursive(&t).await,
    }
}

async fn read_t(t: Target, offset: u64, len: u64) -> Result<Bytes> {
    match t {
        Target::Local(t) => blocking(move || local::read(&t, offset, len)).await,
        Target::S3(t) => s3::read(&t, offset, len).await,
    }
}

async fn write_t(t: Target, data: Bytes) -> Result<()> {
    match t {
        Target::Local(t) => blocking(move || local_mut::write(&t, &data)).await,
        Target::S3(t) => s3_mut::write(&t, data).await,
    }
}

async fn mkdir_t(t: Target) -> Result<()> {
    match t {
        Target::Local(t) => blocking(move || local_mut::mkdir(&t)).await,
        Target::S3(t) => s3_mut::mkdir(&t).await,
    }
}

async fn remove_t(t: Target, recursive: bool) -> Result<()> {
    match t {
        Target::Local(t) => blocking(move || local_mut::remove(&t, recursive)).await,
        Target::S3(t) => s3_mut::remove(&t, recursive).await,
    }
}

/// Copy through memory, for pairs no backend can copy natively. Every file
/// URL below `src` and `dst` is confined again from scratch.
async fn copy_across(roots: &Roots, src: &Target, dst: &Target, recursive: bool) -> Result<()> {
    let st = stat_t(src.clone()).await?;
    if !st.is_dir {
        let data = read_t(src.clone(), 0, u64::MAX).await?;
        return write_t(dst.clone(), data).await;
    }
    if !recursive {
        // A directory where a file copy was asked: what fsspec's recursive
        // copy reads as "make the directory" (IsADirectoryError).
        return Err(Error::IsADirectory(src.url().to_owned()));
    }
    if let (Target::Local(s), Target::Local(d)) = (src, dst) {
        if Arc::ptr_eq(&s.root, &d.root) && path::strip_base(&d.rel, &s.rel).is_some() {
            return Err(Error::InvalidArgument(format!(
                "cannot copy {} into itself ({})",
                src.url(),
                dst.url()
            )));
        }
    }
    mkdir_t(dst.clone()).await?;
    for f in list_files_t(src.clone()).await? {
        let Some(suffix) = url_suffix(src.url(), &f.url) else {
            continue;
        };
        let data = read_t(roots.resolve(&f.url)?, 0, u64::MAX).await?;
        write_t(roots.resolve(&join_url(dst.url(), suffix))?, data).await?;
    }
    Ok(())
}
