//! Shared generators: a small seeded PRNG, nasty strings, and structured
//! mutations of JSON values and their text (type changes, huge numbers, deep
//! nesting, unicode, byte flips, truncation, duplicate keys).

use serde_json::{Map, Value};

/// splitmix64: small, seeded, reproducible.
#[derive(Debug, Clone)]
pub struct Rand(u64);

impl Rand {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        #[allow(clippy::cast_possible_truncation)]
        let v = (self.next() % n as u64) as usize;
        v
    }

    /// True with probability `pct`%.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    /// One element of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        #[allow(clippy::cast_possible_truncation)]
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Strings that break parsers: escapes, separators, traversal, NUL, unicode.
pub const NASTY: &[&str] = &[
    "",
    " ",
    "+",
    "%",
    "%2",
    "%zz",
    "%C0%AF",
    "%c0%ae%c0%ae",
    "%2e%2e",
    "%2E%2e/",
    "%00",
    "%FF",
    "%%",
    "&",
    "=",
    "&=&",
    "?",
    "#",
    "..",
    ".",
    "/",
    "//",
    "\\",
    "..\\",
    "\0",
    "\r\n",
    "\t",
    "ü",
    "😀",
    "\u{202e}",
    "\u{FEFF}",
    "\u{10FFFF}",
    "a b",
    "<>&='\"",
    "0",
    "-1",
    "1e3",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "NaN",
    "true",
    "null",
    "{}",
    "[]",
];

/// A random string: mostly pieces of [`NASTY`] and `vocab`, some random
/// unicode, occasionally long.
pub fn string(r: &mut Rand, vocab: &[&str]) -> String {
    let mut s = String::new();
    let parts = 1 + r.below(5);
    for _ in 0..parts {
        match r.below(10) {
            0..=3 => s.push_str(r.pick(NASTY)),
            4..=6 if !vocab.is_empty() => s.push_str(r.pick(vocab)),
            7 => {
                for _ in 0..r.below(8) {
                    #[allow(clippy::cast_possible_truncation)]
                    let c = char::from_u32(r.next() as u32 % 0x11_0000).unwrap_or('\u{fffd}');
                    s.push(c);
                }
            }
            8 if r.pct(10) => s.push_str(&"x".repeat(1 + r.below(20_000))),
            _ => {
                for _ in 0..r.below(8) {
                    s.push(char::from(b'a' + r.pick(&[0u8, 1, 2, 3, 25])));
                }
            }
        }
    }
    s
}

/// A random JSON scalar, biased to the values that break typed fields.
pub fn scalar(r: &mut Rand) -> Value {
    match r.below(16) {
        0 => Value::Null,
        1 => Value::Bool(r.pct(50)),
        2 => u64::MAX.into(),
        3 => i64::MIN.into(),
        4 => 2_147_483_648_i64.into(),
        5 => (-2_147_483_649_i64).into(),
        6 => serde_json::json!(1.5),
        7 => serde_json::json!(1e308),
        8 => serde_json::json!(-0.0),
        9 => 9_007_199_254_740_993_u64.into(),
        10 => (r.next() as i64).into(),
        11 => (r.below(70_000) as i64 - 1).into(),
        _ => Value::String(string(r, &[])),
    }
}

fn paths(v: &Value, at: &mut Vec<Vec<String>>, cur: &mut Vec<String>) {
    at.push(cur.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                cur.push(k.clone());
                paths(c, at, cur);
                cur.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                cur.push(i.to_string());
                paths(c, at, cur);
                cur.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    let mut v = v;
    for k in path {
        v = match v {
            Value::Object(m) => m.get_mut(k).expect("path from paths()"),
            Value::Array(a) => &mut a[k.parse::<usize>().expect("index")],
            _ => unreachable!("paths() only descends into containers"),
        };
    }
    v
}

/// Applies `ops` structured mutations to `v`; `keys` are field names worth
/// inserting or renaming to (the real schema's).
pub fn mutate_json(v: &mut Value, r: &mut Rand, ops: usize, keys: &[&str]) {
    for _ in 0..ops {
        let mut all = Vec::new();
        paths(v, &mut all, &mut Vec::new());
        let path = all[r.below(all.len())].clone();
        let n = node(v, &path);
        match r.below(10) {
            0 | 1 => *n = scalar(r),
            2 => match n {
                Value::Object(m) if !m.is_empty() => {
                    let k = m.keys().nth(r.below(m.len())).cloned().unwrap_or_default();
                    m.shift_remove(&k);
                }
                Value::Array(a) if !a.is_empty() => {
                    a.remove(r.below(a.len()));
                }
                _ => *n = Value::Null,
            },
            3 => {
                let k = if r.pct(70) && !keys.is_empty() {
                    (r.pick(keys)).to_owned()
                } else {
                    string(r, keys)
                };
                let val = scalar(r);
                match n {
                    Value::Object(m) => {
                        m.insert(k, val);
                    }
                    Value::Array(a) => a.push(val),
                    _ => *n = serde_json::json!({ k: val }),
                }
            }
            // Change of type, keeping the content where possible.
            4 => {
                *n = match n.take() {
                    Value::Number(x) => Value::String(x.to_string()),
                    Value::String(s) => s
                        .parse::<i64>()
                        .map_or(Value::Array(vec![Value::String(s)]), Value::from),
                    Value::Object(m) => Value::Array(m.into_iter().map(|(_, c)| c).collect()),
                    Value::Array(a) => Value::Object(
                        a.into_iter()
                            .enumerate()
                            .map(|(i, c)| (i.to_string(), c))
                            .collect(),
                    ),
                    Value::Bool(b) => Value::String(b.to_string()),
                    Value::Null => Value::Object(Map::new()),
                }
            }
            // Deep nesting, past serde_json's recursion limit at times.
            5 => {
                let max = if r.pct(30) { 300 } else { 20 };
                let depth = 1 + r.below(max);
                let mut inner = n.take();
                for _ in 0..depth {
                    inner = if r.pct(50) {
                        Value::Array(vec![inner])
                    } else {
                        serde_json::json!({ "a": inner })
                    };
                }
                *n = inner;
            }
            // Rename a key: case changes and near misses.
            6 => {
                if let Value::Object(m) = n {
                    if let Some(k) = m.keys().nth(r.below(m.len().max(1))).cloned() {
                        let val = m.shift_remove(&k).unwrap_or(Value::Null);
                        let nk = match r.below(3) {
                            0 => k.to_ascii_lowercase(),
                            1 => k.to_ascii_uppercase(),
                            _ => format!("{k} "),
                        };
                        m.insert(nk, val);
                    }
                }
            }
            // Copy another subtree here.
            7 => {
                let other = all[r.below(all.len())].clone();
                let copy = node(v, &other).clone();
                *node(v, &path) = copy;
            }
            _ => {
                if let Value::String(s) = n {
                    let at = s.char_indices().map(|(i, _)| i).nth(r.below(s.len() + 1));
                    s.insert_str(at.unwrap_or(s.len()), &string(r, keys));
                } else {
                    *n = Value::String(string(r, keys));
                }
            }
        }
    }
}

/// Applies `ops` byte-level mutations to JSON text.
pub fn mutate_text(t: &mut Vec<u8>, r: &mut Rand, ops: usize) {
    for _ in 0..ops {
        let len = t.len();
        match r.below(9) {
            0 if len > 0 => {
                let i = r.below(len);
                t[i] ^= 1 << r.below(8);
            }
            1 => {
                let i = r.below(len + 1);
                let b = r.pick(b"{}[]\",:\\0123456789-+.eEtrufalsn \x00\xff\xc3");
                t.insert(i, b);
            }
            2 if len > 0 => {
                let i = r.below(len);
                let j = (i + 1 + r.below(8)).min(len);
                t.drain(i..j);
            }
            3 => t.truncate(r.below(len + 1)),
            // A duplicate key right after the first `{`.
            4 => {
                if let Some(i) = t.iter().position(|&b| b == b'{') {
                    let dup = format!(
                        "\"{}\":{},",
                        r.pick(&[
                            "Identity",
                            "WorkerNetAddress",
                            "mLength",
                            "mType",
                            "version",
                            "identifier",
                            "HttpServerPort",
                            "Host"
                        ]),
                        scalar(r)
                    );
                    t.splice(i + 1..i + 1, dup.into_bytes());
                }
            }
            // A bad number.
            5 => {
                if let Some(i) = t.iter().position(|b| b.is_ascii_digit()) {
                    let bad = r.pick(&[
                        "1e999",
                        "-",
                        "01",
                        "NaN",
                        "0x10",
                        "1.",
                        "-0",
                        "99999999999999999999999",
                    ]);
                    t.splice(i..i + 1, bad.bytes());
                }
            }
            // A lone surrogate escape inside a string.
            6 => {
                if let Some(i) = t.iter().position(|&b| b == b'"') {
                    t.splice(i + 1..i + 1, br"\ud800".iter().copied());
                }
            }
            7 => {
                let noise: &[&[u8]] = &[b"\xef\xbb\xbf", b" \n\t", b"garbage", b"\x00", b",", b"]"];
                let n = r.pick(noise);
                if r.pct(50) {
                    t.splice(0..0, n.iter().copied());
                } else {
                    t.extend_from_slice(n);
                }
            }
            _ => {
                let i = r.below(len + 1);
                let j = (i + r.below(16)).min(len);
                let copy = t[i..j].to_vec();
                t.splice(i..i, copy);
            }
        }
    }
}

/// A value mutated structurally (`jops` times) and then as text (`tops`).
pub fn mutated(base: &Value, seed: u64, jops: usize, tops: usize, keys: &[&str]) -> Vec<u8> {
    let mut r = Rand::new(seed);
    let mut v = base.clone();
    mutate_json(&mut v, &mut r, jops, keys);
    let mut t = serde_json::to_vec(&v).expect("values serialise");
    mutate_text(&mut t, &mut r, tops);
    t
}
