//! The local cache's keys: `local_cache_dir`, `local_cache_size`,
//! `local_cache_metadata_ttl`, and alluxiofs 1.1's `local_cache_enabled`
//! and `local_cache_size_gb`.

use std::path::PathBuf;
use std::time::Duration;

use super::parse::{boolean, seconds_or_off};
use super::{keys, Given, LocalCacheConfig};
use crate::error::{Error, Result};
use crate::protocol::size::parse_size;

/// Default trust in a checked file version.
pub const DEFAULT_METADATA_TTL: Duration = Duration::from_secs(60);
/// Default quota (all directories together).
pub const DEFAULT_SIZE: &str = "10GB";

fn invalid(label: &str, value: &str, why: &str) -> Error {
    Error::InvalidConfig(format!("invalid {label} {value:?}: {why}"))
}

/// The local cache settings given, or `None` when it is off.
pub(super) fn read(given: &Given<'_>) -> Result<Option<LocalCacheConfig>> {
    let enabled = given.parsed(&keys::LOCAL_CACHE_ENABLED, |_, l, v| boolean(l, v))?;
    let dirs = given.text(&keys::LOCAL_CACHE_DIR);
    let dirs = match (enabled, dirs) {
        (Some(false), _) | (None, None) => return Ok(None),
        (Some(true), None) => {
            return Err(Error::InvalidConfig(
                "local_cache_enabled=True needs local_cache_dir (the directories to cache in)"
                    .into(),
            ))
        }
        (_, Some((label, v))) => parse_dirs(label, v)?,
    };
    let sizes = match (
        given.text(&keys::LOCAL_CACHE_SIZE),
        given.text(&keys::LOCAL_CACHE_SIZE_GB),
    ) {
        (Some(_), Some(_)) => {
            return Err(Error::InvalidConfig(
                "give local_cache_size or local_cache_size_gb, not both".into(),
            ))
        }
        (Some((label, v)), None) => parse_sizes(label, v, false)?,
        (None, Some((label, v))) => parse_sizes(label, v, true)?,
        (None, None) => parse_sizes(keys::LOCAL_CACHE_SIZE.name, DEFAULT_SIZE, false)?,
    };
    let quotas: Vec<u64> = match sizes.len() {
        1 => {
            let n = dirs.len() as u64;
            vec![sizes[0] / n; dirs.len()]
        }
        k if k == dirs.len() => sizes,
        k => {
            return Err(Error::InvalidConfig(format!(
                "local_cache_size: {k} sizes for {} directories (give one in all, or one per \
                 directory)",
                dirs.len()
            )))
        }
    };
    if let Some(q) = quotas.iter().find(|q| **q < 1 << 20) {
        return Err(Error::InvalidConfig(format!(
            "local_cache_size: {q} bytes per directory is too small (at least 1MB)"
        )));
    }
    let metadata_ttl = given
        .parsed(&keys::LOCAL_CACHE_METADATA_TTL, |_, l, v| {
            seconds_or_off(l, v)
        })?
        .unwrap_or(Some(DEFAULT_METADATA_TTL));
    Ok(Some(LocalCacheConfig {
        dirs: dirs.into_iter().zip(quotas).collect(),
        metadata_ttl,
    }))
}

/// Comma-separated directories: absolute or relative (made absolute, so
/// every process of a job agrees), none empty, none twice.
fn parse_dirs(label: &str, value: &str) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(invalid(label, value, "an empty directory name"));
        }
        let p = std::path::absolute(part)
            .map_err(|e| invalid(label, value, &format!("{part}: {e}")))?;
        if out.contains(&p) {
            return Err(invalid(label, value, &format!("{part} is given twice")));
        }
        if p.exists() && !p.is_dir() {
            return Err(invalid(label, value, &format!("{part} is not a directory")));
        }
        out.push(p);
    }
    Ok(out)
}

/// Comma-separated sizes (`50GB`), or with `gb` numbers of GB (1.1's keys).
fn parse_sizes(label: &str, value: &str, gb: bool) -> Result<Vec<u64>> {
    value
        .split(',')
        .map(|part| {
            let part = part.trim();
            let n = if gb {
                let g: f64 = part
                    .parse()
                    .map_err(|_| invalid(label, value, "expected a number of GB"))?;
                if !(g.is_finite() && g > 0.0) {
                    return Err(invalid(label, value, "expected a number of GB above 0"));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let n = (g * f64::from(1u32 << 30)) as u64;
                n
            } else {
                parse_size(part).map_err(|e| invalid(label, value, &e))?
            };
            if n == 0 {
                return Err(invalid(label, value, "a size of 0"));
            }
            Ok(n)
        })
        .collect()
}
