//! Query-string decoding as docs/protocol.md §4.4 recommends: split on `&`, then on
//! the first `=`, then percent-decode fully. `+` means a space only in
//! parameters the Python clients form-encode (`path`, `opType`, `numOfBytes`,
//! rm/copy options); in the raw template parameters (`ufsFullPath`,
//! `srcPath`, `dstPath`) a `+` is a plus.

use percent_encoding::percent_decode_str;

use crate::error::{Error, Result};

/// A parsed query string; values are decoded when asked for.
#[derive(Debug, Default, Clone)]
pub struct Query {
    items: Vec<(String, String)>,
}

fn decode(name: &str, raw: &str, plus_is_space: bool) -> Result<String> {
    let spaced;
    let text = if plus_is_space && raw.contains('+') {
        spaced = raw.replace('+', " ");
        spaced.as_str()
    } else {
        raw
    };
    percent_decode_str(text)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            Error::InvalidArgument(format!(
                "query parameter {name} is not UTF-8 after decoding"
            ))
        })
}

impl Query {
    /// Parses a raw query (without `?`). Names are decoded eagerly.
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        let mut items = Vec::new();
        for item in raw.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (name, value) = item.split_once('=').unwrap_or((item, ""));
            items.push((decode("name", name, true)?, value.to_owned()));
        }
        Ok(Self { items })
    }

    fn raw_value(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A form-encoded parameter (`+` is a space).
    pub fn form(&self, name: &str) -> Result<Option<String>> {
        self.raw_value(name)
            .map(|v| decode(name, v, true))
            .transpose()
    }

    /// A raw-template parameter (`+` is a plus).
    pub fn template(&self, name: &str) -> Result<Option<String>> {
        self.raw_value(name)
            .map(|v| decode(name, v, false))
            .transpose()
    }

    /// A required raw-template parameter.
    pub fn require_template(&self, name: &str) -> Result<String> {
        self.template(name)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::InvalidArgument(format!("missing query parameter {name}")))
    }

    /// A required form parameter.
    pub fn require_form(&self, name: &str) -> Result<String> {
        self.form(name)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::InvalidArgument(format!("missing query parameter {name}")))
    }

    /// An integer parameter; `None` when absent or empty.
    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.form(name)? {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                Error::InvalidArgument(format!("query parameter {name}={v:?} is not an integer"))
            }),
        }
    }

    /// A boolean parameter (`true`/`True`/`false`/`False`...); `default` when absent.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool> {
        match self
            .form(name)?
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(v) => Err(Error::InvalidArgument(format!(
                "query parameter {name}={v:?} is not a boolean"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_and_form_decoding() {
        // What python-requests sends for the raw template and for params= (§4.4).
        let q = Query::parse(Some(
            "ufsFullPath=s3://bucket/dir/a%20b+c%20%C3%BC&path=s3%3A%2F%2Fbucket%2Fa+b&opType=submit&verbose=True",
        ))
        .unwrap();
        assert_eq!(
            q.template("ufsFullPath").unwrap().unwrap(),
            "s3://bucket/dir/a b+c ü"
        );
        assert_eq!(q.form("path").unwrap().unwrap(), "s3://bucket/a b");
        assert!(q.flag("verbose", false).unwrap());
        assert_eq!(q.form("missing").unwrap(), None);
    }

    #[test]
    fn value_with_equals_and_item_without() {
        let q = Query::parse(Some("a=x=y&flag&&offset=10&length=")).unwrap();
        assert_eq!(q.form("a").unwrap().unwrap(), "x=y");
        assert_eq!(q.form("flag").unwrap().unwrap(), "");
        assert_eq!(q.int("offset").unwrap(), Some(10));
        assert_eq!(q.int("length").unwrap(), None);
        assert!(Query::parse(None).unwrap().form("a").unwrap().is_none());
    }

    #[test]
    fn errors_name_the_parameter() {
        let q = Query::parse(Some("offset=ten&p=%FF&b=maybe")).unwrap();
        assert!(q.int("offset").unwrap_err().to_string().contains("offset"));
        assert!(q.template("p").unwrap_err().to_string().contains('p'));
        assert!(q.flag("b", false).unwrap_err().to_string().contains('b'));
        assert!(q
            .require_template("ufsFullPath")
            .unwrap_err()
            .to_string()
            .contains("ufsFullPath"));
    }

    #[test]
    fn encoded_traversal_is_decoded_for_the_confinement_check() {
        let q = Query::parse(Some("ufsFullPath=file:///data/%2e%2e/etc/passwd")).unwrap();
        assert_eq!(
            q.template("ufsFullPath").unwrap().unwrap(),
            "file:///data/../etc/passwd"
        );
    }
}
