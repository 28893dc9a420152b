//! Parsing one key's text by its [`Kind`]. Errors name the key (the
//! argument or the Alluxio property the value came from) and the value.

use std::time::Duration;

use super::keys::Kind;
use super::HostPort;
use crate::error::{Error, Result};
use crate::protocol::size::parse_size;

/// Longest time accepted for [`Kind::Seconds`].
const MAX_SECONDS: f64 = 86_400.0;

pub(super) fn invalid(key: &str, value: &str, why: &str) -> Error {
    Error::InvalidConfig(format!("invalid {key}={value:?}: {why}"))
}

impl Kind {
    /// Checks `value` given under `label`; returns it in a canonical text
    /// form (so two spellings of one value compare equal).
    pub(super) fn check(self, label: &str, value: &str) -> Result<String> {
        Ok(match self {
            Kind::Hosts => {
                parse_hosts(label, value, 1)?;
                value.to_owned()
            }
            Kind::Port => parse_port(label, value)?.to_string(),
            Kind::Integer { .. } => self.integer(label, value)?.to_string(),
            Kind::Seconds => self.seconds(label, value)?.as_secs_f64().to_string(),
            Kind::SecondsOrOff => format!("{:?}", seconds_or_off(label, value)?),
            Kind::Size { .. } => self.size(label, value)?.to_string(),
            Kind::Bool => boolean(label, value)?.to_string(),
            Kind::Name => name(label, value)?,
            Kind::Text | Kind::Properties => value.to_owned(),
        })
    }

    /// An integer of [`Kind::Integer`]'s range.
    pub(super) fn integer(self, label: &str, value: &str) -> Result<u64> {
        let Kind::Integer { min, max } = self else {
            unreachable!("{label} is not an integer key")
        };
        match value.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(invalid(
                label,
                value,
                &format!("expected an integer from {min} to {max}"),
            )),
        }
    }

    /// Seconds of [`Kind::Seconds`].
    pub(super) fn seconds(self, label: &str, value: &str) -> Result<Duration> {
        debug_assert_eq!(self, Kind::Seconds, "{label}");
        match value.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 && s <= MAX_SECONDS => Ok(Duration::from_secs_f64(s)),
            _ => Err(invalid(label, value, "expected seconds > 0")),
        }
    }

    /// A size of [`Kind::Size`]'s range.
    pub(super) fn size(self, label: &str, value: &str) -> Result<u64> {
        let Kind::Size { max } = self else {
            unreachable!("{label} is not a size key")
        };
        let n =
            parse_size(value).map_err(|e| Error::InvalidConfig(format!("invalid {label}: {e}")))?;
        if n == 0 || n > max {
            return Err(invalid(
                label,
                value,
                "page size must be between 1 byte and 1GB",
            ));
        }
        Ok(n)
    }
}

/// Seconds of [`Kind::SecondsOrOff`]: `None` for `<= 0`.
/// A boolean of [`Kind::Bool`].
pub(super) fn boolean(label: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(label, value, "expected true or false")),
    }
}

pub(super) fn seconds_or_off(label: &str, value: &str) -> Result<Option<Duration>> {
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(label, value, "expected seconds"))?;
    if !secs.is_finite() {
        return Err(invalid(label, value, "expected seconds"));
    }
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// Text of [`Kind::Name`]: trimmed, not empty.
pub(super) fn name(label: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(label, value, "must not be empty"));
    }
    Ok(v.to_owned())
}

/// A port of [`Kind::Port`].
pub(super) fn parse_port(label: &str, value: &str) -> Result<u16> {
    match value.trim().parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(u16::try_from(p).expect("checked range")),
        _ => Err(invalid(
            label,
            value,
            "expected a port number from 1 to 65535",
        )),
    }
}

/// Parses a comma list of `host`, `host:port`, `[v6]:port` or `http://host:port`.
pub fn parse_hosts(key: &str, value: &str, default_port: u16) -> Result<Vec<HostPort>> {
    let mut out = Vec::new();
    for raw in value.split(',') {
        let entry = raw.trim();
        if entry.is_empty() {
            return Err(invalid(key, value, "empty host entry"));
        }
        let entry = entry.strip_prefix("http://").unwrap_or(entry);
        if entry.contains("://") {
            return Err(invalid(
                key,
                value,
                "only plain http endpoints are supported",
            ));
        }
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid(key, value, "unclosed '[' in IPv6 address"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(invalid(key, value, "junk after IPv6 address")),
            }
        } else {
            match entry.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (entry, None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(invalid(key, value, &format!("bad host {host:?}")));
        }
        let (port, explicit_port) = match port {
            Some(p) => (
                parse_port(key, p)
                    .map_err(|_| invalid(key, value, &format!("bad port {p:?} in {entry:?}")))?,
                true,
            ),
            None => (default_port, false),
        };
        out.push(HostPort {
            host: host.to_owned(),
            port,
            explicit_port,
        });
    }
    Ok(out)
}
