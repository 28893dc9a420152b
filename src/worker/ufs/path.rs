//! URL parsing and root confinement. Every URL handed to [`super::Ufs`] comes
//! from the network, so this is the one place that decides what may be
//! touched; the backends only ever see a [`Target`] produced here.
//!
//! Rules (the module docs of [`super`] repeat them for users):
//! * a NUL byte, or a `..` segment anywhere in the URL → `PermissionDenied`;
//!   `..` is refused outright rather than normalized, so no clever
//!   combination of segments can climb out of a root;
//! * `.` segments and empty segments (`//`) are dropped (lexical cleanup);
//! * accepted forms: `file:///abs`, `file://localhost/abs`, `file:/abs`,
//!   plain `/abs`, and `s3://bucket[/key]`; schemes match case-insensitively;
//! * `file://host/...` with another host → `PermissionDenied`;
//! * any other scheme → `PermissionDenied` (it names storage we do not serve);
//! * no scheme and not absolute (e.g. `a/b`, empty) → `InvalidArgument`;
//! * the cleaned path must lie under a root on whole-segment boundaries, else
//!   `PermissionDenied`. Symlink checks happen in `local.rs`, at use time.
//!
//! Percent-escapes are never decoded here: `%2e%2e` is a file name.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};

/// A parsed, lexically cleaned URL, not yet matched against any root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A local absolute path: `/` or `/a/b` (no `.`, `..`, `//`, trailing `/`).
    Local(String),
    /// An S3 object key or prefix; `key` has no leading or trailing `/`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key, possibly empty (the bucket itself).
        key: String,
    },
}

impl Parsed {
    /// The canonical URL spelling: `file:///a/b` or `s3://bucket/key`.
    pub(crate) fn url(&self) -> String {
        match self {
            Parsed::Local(p) => format!("file://{p}"),
            Parsed::S3 { bucket, key } if key.is_empty() => format!("s3://{bucket}"),
            Parsed::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// Splits `rest` on `/`, dropping empty and `.` segments. `..` was refused
/// before this is called.
fn clean(rest: &str) -> Vec<&str> {
    rest.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect()
}

/// Parses a client URL (already percent-decoded by the HTTP layer).
pub(crate) fn parse_url(url: &str) -> Result<Parsed> {
    if url.contains('\0') {
        return Err(Error::PermissionDenied(format!(
            "{url:?}: NUL byte in path"
        )));
    }
    // Refused before anything else so that no later step can resolve it.
    if url.split('/').any(|s| s == "..") {
        return Err(Error::PermissionDenied(format!(
            "{url}: '..' segments are not allowed"
        )));
    }
    if url.starts_with('/') {
        return Ok(local(url));
    }
    let Some((scheme, rest)) = split_scheme(url) else {
        return Err(Error::InvalidArgument(format!(
            "{url:?} is not an absolute path or a file:// or s3:// URL"
        )));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "file" => parse_file(url, rest),
        "s3" => parse_s3(url, rest),
        other => Err(Error::PermissionDenied(format!(
            "{url}: no under-storage root serves scheme {other:?}"
        ))),
    }
}

/// `scheme:rest` where scheme is `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`
/// (RFC 3986); anything else has no scheme.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let ok = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some((scheme, rest))
}

fn local(path: &str) -> Parsed {
    Parsed::Local(format!("/{}", clean(path).join("/")))
}

fn parse_file(url: &str, rest: &str) -> Result<Parsed> {
    if let Some(after) = rest.strip_prefix("//") {
        // `file://host/path`: only an empty host or `localhost` is this machine.
        let (host, path) = match after.find('/') {
            Some(i) => after.split_at(i),
            None => (after, "/"),
        };
        if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
            return Err(Error::PermissionDenied(format!(
                "{url}: file URLs on host {host:?} are not served"
            )));
        }
        return Ok(local(path));
    }
    if rest.starts_with('/') {
        // `file:/abs`, the form Hadoop's Path prints.
        return Ok(local(rest));
    }
    Err(Error::InvalidArgument(format!(
        "{url:?}: a file URL needs an absolute path (file:///abs)"
    )))
}

fn parse_s3(url: &str, rest: &str) -> Result<Parsed> {
    let Some(after) = rest.strip_prefix("//") else {
        return Err(Error::InvalidArgument(format!(
            "{url:?}: expected s3://bucket/key"
        )));
    };
    let (bucket, key) = after.split_once('/').unwrap_or((after, ""));
    if bucket.is_empty() || bucket == "." {
        return Err(Error::InvalidArgument(format!("{url:?}: no bucket name")));
    }
    if let Some(c) = url.chars().find(|c| c.is_control()) {
        // S3 keys may hold them, but object_store cannot address them.
        return Err(Error::InvalidArgument(format!(
            "{url:?}: control character {c:?} in an S3 URL"
        )));
    }
    Ok(Parsed::S3 {
        bucket: bucket.to_string(),
        key: clean(key).join("/"),
    })
}

/// `path` relative to `base` on whole-segment boundaries: `Some("")` for the
/// base itself, `Some("x/y")` below it, `None` outside it. Both are cleaned
/// (`base` is `/` or has no trailing `/`; an empty base is the S3 bucket).
pub(crate) fn strip_base<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    if base.is_empty() || base == "/" {
        return Some(path.trim_start_matches('/'));
    }
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// A configured local root.
#[derive(Debug)]
pub(crate) struct LocalRoot {
    /// The canonical directory every access must stay under.
    pub canonical: PathBuf,
    /// `canonical` as a cleaned string, for lexical matching.
    canonical_str: String,
    /// The configured spelling if it differs (e.g. through a symlinked
    /// `/tmp`), so clients using it are still served.
    alias: Option<String>,
}

/// A configured S3 root: a bucket and an optional key prefix.
pub(crate) struct S3Root {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix without leading or trailing `/`; empty = whole bucket.
    pub prefix: String,
    /// Client bound to `bucket`.
    pub store: object_store::aws::AmazonS3,
}

impl S3Root {
    /// The URL of the root itself.
    pub fn url(&self) -> String {
        Parsed::S3 {
            bucket: self.bucket.clone(),
            key: self.prefix.clone(),
        }
        .url()
    }
}

/// A URL that passed the lexical confinement checks.
#[derive(Clone)]
pub(crate) enum Target {
    /// Under a local root.
    Local(LocalTarget),
    /// Under an S3 root.
    S3(S3Target),
}

/// A local path under a root.
#[derive(Clone)]
pub(crate) struct LocalTarget {
    /// The root it is under.
    pub root: Arc<LocalRoot>,
    /// Path below the root, `/`-separated, empty for the root itself.
    pub rel: String,
    /// Cleaned URL in the client's spelling, used in statuses and errors.
    pub url: String,
}

/// An S3 key under a root.
#[derive(Clone)]
pub(crate) struct S3Target {
    /// The root it is under.
    pub root: Arc<S3Root>,
    /// Full key (including the root prefix), empty for the bucket itself.
    pub key: String,
    /// Cleaned URL, used in statuses and errors.
    pub url: String,
}

impl Target {
    /// Path below the root, empty for the root itself.
    pub fn rel(&self) -> &str {
        match self {
            Target::Local(t) => &t.rel,
            Target::S3(t) => strip_base(&t.key, &t.root.prefix).unwrap_or_default(),
        }
    }

    /// Cleaned URL.
    pub fn url(&self) -> &str {
        match self {
            Target::Local(t) => &t.url,
            Target::S3(t) => &t.url,
        }
    }
}

/// All configured roots.
#[derive(Default)]
pub(crate) struct Roots {
    /// Local roots.
    pub local: Vec<Arc<LocalRoot>>,
    /// S3 roots.
    pub s3: Vec<Arc<S3Root>>,
}

/// Parses a configured root: the same grammar as client URLs, but every
/// problem is a configuration error.
pub(crate) fn parse_root(root: &str) -> Result<Parsed> {
    parse_url(root).map_err(|e| Error::InvalidArgument(format!("bad under-storage root: {e}")))
}

impl LocalRoot {
    /// Opens a configured local root: it must be an existing directory.
    pub fn new(configured: &str, cleaned: &str) -> Result<Self> {
        let canonical = std::fs::canonicalize(cleaned).map_err(|e| {
            Error::InvalidArgument(format!("bad under-storage root {configured}: {e}"))
        })?;
        if !canonical.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "bad under-storage root {configured}: not a directory"
            )));
        }
        let Some(canonical_str) = canonical.to_str().map(str::to_string) else {
            return Err(Error::InvalidArgument(format!(
                "bad under-storage root {configured}: path is not UTF-8"
            )));
        };
        let alias = (cleaned != canonical_str).then(|| cleaned.to_string());
        Ok(Self {
            canonical,
            canonical_str,
            alias,
        })
    }

    /// The URL of the root itself.
    pub fn url(&self) -> String {
        Parsed::Local(self.canonical_str.clone()).url()
    }
}

impl Roots {
    /// Matches a URL to the most specific root containing it.
    pub fn resolve(&self, url: &str) -> Result<Target> {
        let parsed = parse_url(url)?;
        let clean_url = parsed.url();
        let denied =
            || Error::PermissionDenied(format!("{url} is outside the under-storage roots"));
        match parsed {
            Parsed::Local(path) => {
                let mut best: Option<(usize, &Arc<LocalRoot>, &str)> = None;
                for root in &self.local {
                    for base in std::iter::once(&root.canonical_str).chain(&root.alias) {
                        if let Some(rel) = strip_base(&path, base) {
                            if best.is_none_or(|(len, _, _)| base.len() > len) {
                                best = Some((base.len(), root, rel));
                            }
                        }
                    }
                }
                let (_, root, rel) = best.ok_or_else(denied)?;
                Ok(Target::Local(LocalTarget {
                    root: Arc::clone(root),
                    rel: rel.to_string(),
                    url: clean_url,
                }))
            }
            Parsed::S3 { bucket, key } => {
                let mut best: Option<&Arc<S3Root>> = None;
                for root in &self.s3 {
                    if root.bucket == bucket
                        && strip_base(&key, &root.prefix).is_some()
                        && best.is_none_or(|b| root.prefix.len() > b.prefix.len())
                    {
                        best = Some(root);
                    }
                }
                let root = best.ok_or_else(denied)?;
                Ok(Target::S3(S3Target {
                    root: Arc::clone(root),
                    key,
                    url: clean_url,
                }))
            }
        }
    }
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
