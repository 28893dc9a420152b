//! Gson-compatible JSON text: compact, with Gson's HTML escaping, so the bytes
//! we emit match what the Java servers emit.

use serde::Serialize;

/// Serialises `value` as compact JSON with Gson's escaping of `< > & = '`.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let json = serde_json::to_string(value).expect("plain structs serialise");
    escape_html(&json)
}

/// Gson's HTML escaping. These characters can only occur inside JSON strings,
/// so a replace over the whole text is exact.
pub fn escape_html(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('=', "\\u003d")
        .replace('\'', "\\u0027")
}
