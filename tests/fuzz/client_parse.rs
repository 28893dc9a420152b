//! The client's response parsing: file lists (`/v1/files`, `/v1/info`),
//! error answers (`status_error`), and the page math that turns a range
//! into exact-length piece requests.

use _core::client::http::status_error;
use _core::client::pages::{plan, resolve};
use _core::client::{parse_list, parse_list_batches, FileStatus};
use _core::Error;
use proptest::prelude::*;
use serde_json::Value;

use crate::gen::{self, Rand};
use crate::{run_prop, timed, Budget, Figures};

/// Real answers: the OSS worker's, an EE one, and ours.
const LISTS: &[&str] = &[
    r#"[{"mType":"file","mName":"test.csv","mPath":"/opt/alluxio/ufs/test.csv","mUfsPath":"file:///opt/alluxio/ufs/test.csv","mLastModificationTimeMs":1710000000000,"mLength":77542,"mHumanReadableFileSize":"75.72KB"}]"#,
    r#"[{"mType":"directory","mName":"d","mUfsPath":"s3://b/d","mMode":"rwx","mInAlluxioPercentage":50,"mExtra":1},{"mType":"file","mName":"x","mPath":"/d/x","mUfsPath":"s3://b/d/x","mLength":0,"mContentHash":"abc","mOwner":"o","mGroup":"g","mCreationTimeMs":1,"mLastAccessTimeMs":2,"mCompleted":true,"mPersisted":false}]"#,
    r#"[]"#,
];

const KEYS: &[&str] = &[
    "mType",
    "mName",
    "mPath",
    "mUfsPath",
    "mLastModificationTimeMs",
    "mLength",
    "mHumanReadableFileSize",
    "mInAlluxioPercentage",
    "mContentHash",
    "mOwner",
    "mGroup",
    "mMode",
    "mCreationTimeMs",
    "mLastAccessTimeMs",
    "mCompleted",
    "mPersisted",
    "message",
];

#[derive(Debug, Clone)]
enum Input {
    Bytes(Vec<u8>),
    Mutated {
        base: usize,
        seed: u64,
        jops: usize,
        tops: usize,
    },
    Status {
        status: u16,
        seed: u64,
    },
    Plan {
        start: u64,
        len: u64,
        page: u64,
    },
    Resolve {
        start: i64,
        end: Option<i64>,
        size: u64,
    },
}

/// Python's slice bounds, computed independently of the client.
fn python_slice(start: i64, end: Option<i64>, size: u64) -> (u64, u64) {
    let n = i128::from(size);
    let clamp = |v: i64| {
        let v = i128::from(v);
        let v = if v < 0 { (n + v).max(0) } else { v.min(n) };
        u64::try_from(v).expect("in 0..=size")
    };
    let s = clamp(start);
    let e = end.map_or(size, clamp);
    (s, e.max(s))
}

fn check_status(f: &Figures, status: u16, seed: u64) -> Result<(), TestCaseError> {
    let mut r = Rand::new(seed);
    let body = match r.below(4) {
        0 => {
            let n = r.below(64);
            r.bytes(n)
        }
        1 => serde_json::to_vec(&serde_json::json!({ "message": gen::string(&mut r, &["not found: ", "is a directory: "]) })).expect("json"),
        2 => format!("{}{}", r.pick(&["invalid argument: ", "is a directory: ", ""]), "é".repeat(r.below(2000))).into_bytes(),
        _ => gen::mutated(&serde_json::json!({"message": "gone"}), seed, 2, 2, KEYS),
    };
    let e = timed(f, || status_error("127.0.0.1:1", status, &body));
    let text = e.to_string();
    prop_assert!(
        text.chars().count() < 700,
        "unbounded message: {} chars",
        text.chars().count()
    );
    match status {
        404 => prop_assert!(matches!(e, Error::NotFound(_))),
        401 | 403 => prop_assert!(matches!(e, Error::PermissionDenied(_))),
        409 => prop_assert!(matches!(e, Error::AlreadyExists(_))),
        500..=599 | 429 => prop_assert!(e.is_retryable(), "{status} must be retryable"),
        _ => {}
    }
    f.outcome::<(), _>(&Err(e));
    Ok(())
}

/// `parse_list_batches` (a listing parsed while it is used) accepts exactly
/// what `parse_list` does, with the same entries.
fn same_in_batches(
    body: &[u8],
    whole: &Result<Vec<FileStatus>, Error>,
) -> Result<(), TestCaseError> {
    let mut got = Vec::new();
    let r = parse_list_batches("w", body, 2, |b| {
        got.extend(b);
        true
    });
    match whole {
        Ok(list) => {
            prop_assert!(
                r.is_ok(),
                "batches refused what the whole parse took: {r:?}"
            );
            prop_assert_eq!(&got, list);
        }
        Err(_) => prop_assert!(
            r.as_ref().is_err_and(Error::is_retryable),
            "batches took what the whole parse refused"
        ),
    }
    Ok(())
}

#[test]
fn r5_fuzz_client_parse() {
    let budget = Budget::new("client_parse", 6000);
    let f = Figures::default();
    let bases: Vec<Value> = LISTS
        .iter()
        .map(|s| serde_json::from_str(s).expect("json"))
        .collect();
    for (i, s) in LISTS.iter().enumerate() {
        let parsed = parse_list("w", s.as_bytes()).expect("real answers parse");
        assert_eq!(parsed.len(), bases[i].as_array().expect("list").len());
    }
    let strategy = prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..200).prop_map(Input::Bytes),
        4 => (0..LISTS.len(), any::<u64>(), 0usize..5, 0usize..3)
            .prop_map(|(base, seed, jops, tops)| Input::Mutated { base, seed, jops, tops }),
        2 => (any::<u16>(), any::<u64>()).prop_map(|(status, seed)| Input::Status { status, seed }),
        1 => (any::<u64>(), 0u64..5000, 1u64..300).prop_map(|(start, len, page)| Input::Plan { start, len, page }),
        1 => (any::<i64>(), any::<Option<i64>>(), 0..=i64::MAX as u64)
            .prop_map(|(start, end, size)| Input::Resolve { start, end, size }),
    ];
    run_prop(&budget, &f, &strategy, |input| match input {
        Input::Bytes(b) => {
            let r = timed(&f, || parse_list("w", &b));
            same_in_batches(&b, &r)?;
            f.outcome(&r);
            if let Err(e) = r {
                prop_assert!(e.is_retryable(), "a malformed answer is a worker fault");
            }
            Ok(())
        }
        Input::Mutated {
            base,
            seed,
            jops,
            tops,
        } => {
            let body = gen::mutated(&bases[base], seed, jops, tops, KEYS);
            let r = timed(&f, || parse_list("w", &body));
            f.outcome(&r);
            if jops + tops == 0 {
                prop_assert!(r.is_ok());
            }
            same_in_batches(&body, &r)?;
            if let Ok(list) = r {
                for s in list {
                    let _ = (s.is_dir(), format!("{s:?}"));
                }
            }
            Ok(())
        }
        Input::Status { status, seed } => check_status(&f, status, seed),
        Input::Plan { start, len, page } => {
            let start = start.min(u64::MAX - len);
            let pieces = timed(&f, || plan(start, start + len, page));
            let mut at = start;
            for p in &pieces {
                prop_assert_eq!(p.file_offset(page), at);
                prop_assert_eq!(p.dest, at - start);
                prop_assert!(p.len > 0 && p.offset + p.len <= page);
                at += p.len;
            }
            prop_assert_eq!(at, start + len);
            f.outcome::<_, ()>(&Ok(()));
            Ok(())
        }
        Input::Resolve { start, end, size } => {
            let got = timed(&f, || resolve(start, end, size));
            prop_assert_eq!(got, python_slice(start, end, size));
            f.outcome::<_, ()>(&Ok(()));
            Ok(())
        }
    });
    f.finish(&budget);
}
