//! The raw GET path against a scripted server: every framing, errors,
//! too-long bodies, and connection reuse.

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::Pool;
use crate::client::dest::{Dest, SizeSignal};
use crate::error::{Error, TransportKind};

/// One scripted answer: its bytes, written in pieces of `piece` bytes, and
/// whether the server closes the connection after it.
struct Reply {
    bytes: Vec<u8>,
    piece: usize,
    close: bool,
}

fn reply(bytes: impl Into<Vec<u8>>) -> Reply {
    Reply {
        bytes: bytes.into(),
        piece: usize::MAX,
        close: false,
    }
}

/// A server answering requests, across all its connections, with `replies`
/// in order. Returns its authority and the count of connections accepted.
async fn server(replies: Vec<Reply>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let queue = Arc::new(parking_lot::Mutex::new(VecDeque::from(replies)));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                loop {
                    let mut b = [0u8; 1024];
                    let n = sock.read(&mut b).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&b[..n]);
                    if !req.ends_with(b"\r\n\r\n") {
                        continue;
                    }
                    req.clear();
                    let Some(r) = queue.lock().pop_front() else {
                        return;
                    };
                    for chunk in r.bytes.chunks(r.piece.min(r.bytes.len()).max(1)) {
                        sock.write_all(chunk).await.unwrap();
                        sock.flush().await.unwrap();
                        if r.piece != usize::MAX {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                    if r.close {
                        return;
                    }
                }
            });
        }
    });
    (authority, accepted)
}

fn pool() -> Pool {
    Pool::new(4, 2, Duration::from_secs(2))
}

fn ok(body: &[u8], extra: &str) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

async fn get_slice(p: &Pool, authority: &str, cap: usize) -> crate::error::Result<Vec<u8>> {
    let mut buf = vec![MaybeUninit::<u8>::uninit(); cap];
    let (n, _) = p
        .get_into(authority, "/v1/x", &mut Dest::Slice(&mut buf))
        .await?;
    // SAFETY: the first `n` bytes were written.
    Ok(buf[..n]
        .iter()
        .map(|b| unsafe { b.assume_init() })
        .collect())
}

#[tokio::test]
async fn a_length_body_lands_exactly_and_the_connection_is_reused() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (a, accepted) = server(vec![
        Reply {
            piece: 7_000,
            ..reply(ok(&body, "x-alluxio-file-size: 999\r\n"))
        },
        reply(ok(b"second", "")),
    ])
    .await;
    let p = pool();
    assert_eq!(get_slice(&p, &a, body.len()).await.unwrap(), body);
    assert_eq!(get_slice(&p, &a, 10).await.unwrap(), b"second");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_chunked_body_is_decoded_into_a_vec_and_the_size_announced() {
    let wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-alluxio-file-size: 42\r\n\r\n\
        5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\ntrailer: x\r\n\r\n";
    let (a, accepted) = server(vec![
        Reply {
            piece: 3,
            ..reply(wire.to_vec())
        },
        reply(ok(b"again", "")),
    ])
    .await;
    let p = pool();
    let signal = SizeSignal::default();
    let mut v = Vec::new();
    let (n, size) = p
        .get_into(&a, "/v1/x", &mut Dest::Vec(&mut v, 100, &signal, None))
        .await
        .unwrap();
    assert_eq!((n, size, signal.get()), (11, Some(42), Some(42)));
    assert_eq!(v, b"hello world");
    assert_eq!(get_slice(&p, &a, 10).await.unwrap(), b"again");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_ended_by_close_is_read_and_not_reused() {
    let (a, accepted) = server(vec![
        Reply {
            close: true,
            ..reply(&b"HTTP/1.0 200 OK\r\n\r\nuntil the end"[..])
        },
        Reply {
            close: true,
            ..reply(ok(b"closing", "connection: close\r\n"))
        },
        reply(ok(b"third", "")),
    ])
    .await;
    let p = pool();
    assert_eq!(get_slice(&p, &a, 100).await.unwrap(), b"until the end");
    assert_eq!(get_slice(&p, &a, 100).await.unwrap(), b"closing");
    assert_eq!(get_slice(&p, &a, 100).await.unwrap(), b"third");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_body_longer_than_asked_is_an_error_by_every_framing() {
    let (a, _) = server(vec![
        reply(ok(b"0123456789", "")),
        reply(&b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n"[..]),
        Reply {
            close: true,
            ..reply(&b"HTTP/1.0 200 OK\r\n\r\n0123456789"[..])
        },
    ])
    .await;
    let p = pool();
    for _ in 0..3 {
        let e = get_slice(&p, &a, 6).await.unwrap_err();
        assert!(
            e.transport_kind() == Some(TransportKind::LongBody)
                && e.to_string().contains("at most 6"),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn an_error_status_maps_to_its_kind_and_keeps_the_connection() {
    let body = br#"{"message":"gone"}"#;
    let mut not_found = format!(
        "HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    not_found.extend_from_slice(body);
    let (a, accepted) = server(vec![reply(not_found), reply(ok(b"fine", ""))]).await;
    let p = pool();
    let e = get_slice(&p, &a, 10).await.unwrap_err();
    assert!(matches!(&e, Error::NotFound(m) if m == "gone"), "{e:?}");
    assert_eq!(get_slice(&p, &a, 10).await.unwrap(), b"fine");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_replaced_transparently() {
    let (a, accepted) = server(vec![
        Reply {
            close: true,
            ..reply(ok(b"first", ""))
        },
        reply(ok(b"second", "")),
    ])
    .await;
    let p = pool();
    assert_eq!(get_slice(&p, &a, 10).await.unwrap(), b"first");
    // Let the close arrive, so the idle connection is seen as closed or
    // fails on use; either way the caller never sees it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(get_slice(&p, &a, 10).await.unwrap(), b"second");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_pooled_connection_closed_on_the_next_request_is_retried_once() {
    // Open while idle, closed on seeing the next request: the request is
    // sent again on a new connection.
    let (a, accepted) = server(vec![
        reply(ok(b"first", "")),
        Reply {
            close: true,
            ..reply(Vec::new())
        },
        reply(ok(b"second", "")),
    ])
    .await;
    let p = pool();
    assert_eq!(get_slice(&p, &a, 10).await.unwrap(), b"first");
    assert_eq!(get_slice(&p, &a, 10).await.unwrap(), b"second");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn closing_without_an_answer_is_closed_before_answer() {
    // No replies: the server closes every connection after the request.
    let (a, _) = server(vec![]).await;
    let e = get_slice(&pool(), &a, 10).await.unwrap_err();
    assert!(
        e.transport_kind() == Some(TransportKind::ClosedBeforeAnswer),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_never_short_data() {
    let mut wire = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n".to_vec();
    wire.extend_from_slice(&[7u8; 50]);
    let (a, _) = server(vec![Reply {
        close: true,
        ..reply(wire)
    }])
    .await;
    let e = get_slice(&pool(), &a, 100).await.unwrap_err();
    assert!(
        e.transport_kind() == Some(TransportKind::ClosedMidAnswer)
            && e.to_string().contains("after 50 bytes"),
        "{e:?}"
    );
}

#[tokio::test]
async fn informational_answers_and_byte_by_byte_heads_are_handled() {
    let mut wire = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    wire.extend_from_slice(&ok(b"after continue", "x-alluxio-file-size: 7\r\n"));
    let (a, _) = server(vec![Reply {
        piece: 1,
        ..reply(wire)
    }])
    .await;
    let signal = SizeSignal::default();
    let mut v = Vec::new();
    let (n, size) = pool()
        .get_into(&a, "/v1/x", &mut Dest::Vec(&mut v, 100, &signal, None))
        .await
        .unwrap();
    assert_eq!((n, size), (14, Some(7)));
    assert_eq!(v, b"after continue");
}

#[tokio::test]
async fn nonsense_is_an_invalid_answer_not_data() {
    let (a, _) = server(vec![
        Reply {
            close: true,
            ..reply(&b"SSH-2.0-OpenSSH\r\n\r\n"[..])
        },
        Reply {
            close: true,
            ..reply(&b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n0123456789"[..])
        },
    ])
    .await;
    let p = pool();
    for _ in 0..2 {
        let e = get_slice(&p, &a, 100).await.unwrap_err();
        assert!(e.transport_kind() == Some(TransportKind::BadHttp), "{e:?}");
    }
}
