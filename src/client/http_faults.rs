//! Each transport failure built for real (a refused port, a closed or reset
//! socket, a stalled server, a short or long body, an error status, a
//! backlog that never accepts) against both HTTP stacks, the raw GET path
//! and reqwest: the error's kind is what the failure was.

use std::mem::MaybeUninit;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::Http;
use crate::client::dest::Dest;
use crate::config::IoConfig;
use crate::error::{Error, TransportKind};
use crate::protocol::identity::WorkerIdentity;
use crate::protocol::worker_info::{WorkerInfo, WorkerNetAddress};

/// What the scripted server does once it has read a request.
#[derive(Clone)]
enum Act {
    /// Closes the connection without answering.
    Close,
    /// Resets the connection (`SO_LINGER` 0) without answering.
    Reset,
    /// Writes these bytes, then closes.
    Send(Vec<u8>),
    /// Writes these bytes, then resets the connection.
    SendThenReset(Vec<u8>),
    /// Never answers (the connection stays open until the test ends).
    Stall,
}

/// A server doing `act` to every request; returns its port.
async fn server(act: Act) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let act = act.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                while !req.ends_with(b"\r\n\r\n") {
                    let mut b = [0u8; 1024];
                    match sock.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                }
                match act {
                    Act::Close => {}
                    Act::Reset => reset(sock),
                    Act::Send(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                    }
                    Act::SendThenReset(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                        let _ = sock.flush().await;
                        // Let the bytes leave before the reset.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        reset(sock);
                    }
                    Act::Stall => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        drop(sock);
                    }
                }
            });
        }
    });
    port
}

/// Closes `sock` with a reset instead of a FIN.
fn reset(sock: TcpStream) {
    let std = sock.into_std().unwrap();
    let sock = socket2_linger_zero(std);
    drop(sock);
}

/// Sets `SO_LINGER` to zero so that closing sends a reset.
fn socket2_linger_zero(sock: std::net::TcpStream) -> std::net::TcpStream {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid `linger` for the size given, on a socket `sock` owns.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    sock
}

fn worker(host: &str, port: u16) -> WorkerInfo {
    WorkerInfo {
        identity: WorkerIdentity::from_hostname(&format!("{host}:{port}")),
        address: WorkerNetAddress::with_http(host, port),
    }
}

fn http(raw: bool) -> Http {
    let io = IoConfig {
        timeout: Duration::from_millis(500),
        ..IoConfig::default()
    };
    Http::with_raw(&io, raw).unwrap()
}

/// A data GET of at most `cap` bytes on the raw path or through reqwest.
async fn get(raw: bool, w: &WorkerInfo, cap: usize) -> Result<usize, Error> {
    let mut buf = vec![MaybeUninit::<u8>::uninit(); cap];
    http(raw)
        .get_into(w, "/v1/x", &mut Dest::Slice(&mut buf))
        .await
        .map(|(n, _)| n)
}

/// Both stacks, each expected to fail with `kind`.
async fn both(w: &WorkerInfo, cap: usize, kind: TransportKind) {
    for raw in [true, false] {
        let e = get(raw, w, cap).await.unwrap_err();
        assert_eq!(e.transport_kind(), Some(kind), "raw={raw}: {e}");
        assert!(e.to_string().contains(&w.http_authority()), "{e}");
    }
}

fn answer(status: &str, length: usize, body: &[u8]) -> Vec<u8> {
    let mut v = format!("HTTP/1.1 {status}\r\ncontent-length: {length}\r\n\r\n").into_bytes();
    v.extend_from_slice(body);
    v
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let w = worker("127.0.0.1", port);
    both(&w, 10, TransportKind::Refused).await;
    let e = http(false)
        .send(&w, reqwest::Method::GET, "/v1/info", None)
        .await
        .unwrap_err();
    assert_eq!(e.transport_kind(), Some(TransportKind::Refused), "{e}");
    assert!(TransportKind::Refused.never_sent());
}

#[tokio::test]
async fn an_address_that_cannot_be_reached_fails_to_connect() {
    // TCP to a multicast address fails at once, without a refusal.
    let w = worker("224.0.0.1", 9);
    both(&w, 10, TransportKind::ConnectFailed).await;
}

#[tokio::test]
async fn a_backlog_that_never_accepts_is_a_connect_timeout() {
    // A listener that never accepts, with its queue filled: further SYNs
    // are dropped and the connection is never made.
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => held.push(s),
            _ => {
                full = true;
                break;
            }
        }
    }
    assert!(full, "the listen queue never filled");
    let io = IoConfig {
        timeout: Duration::from_millis(300),
        ..IoConfig::default()
    };
    let w = worker("127.0.0.1", addr.port());
    for raw in [true, false] {
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 10];
        let e = Http::with_raw(&io, raw)
            .unwrap()
            .get_into(&w, "/v1/x", &mut Dest::Slice(&mut buf))
            .await
            .unwrap_err();
        // The connect timeout is the request timeout here (both 300 ms):
        // whichever fires first, the worker was never reached in time.
        let kind = e.transport_kind().unwrap();
        assert!(kind.is_timeout(), "raw={raw}: {e}");
        assert!(
            kind == TransportKind::ConnectTimeout || kind == TransportKind::AnswerTimeout,
            "raw={raw}: {e}"
        );
    }
    let e = Http::with_raw(&io, false)
        .unwrap()
        .send(&w, reqwest::Method::GET, "/v1/info", None)
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    // The raw pool alone, with nothing else timing it: a connect timeout.
    let pool = crate::client::raw_get::Pool::new(1, 1, Duration::from_millis(200));
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 10];
    let e = pool
        .get_into(&w.http_authority(), "/v1/x", &mut Dest::Slice(&mut buf))
        .await
        .unwrap_err();
    assert_eq!(
        e.transport_kind(),
        Some(TransportKind::ConnectTimeout),
        "{e}"
    );
    assert!(TransportKind::ConnectTimeout.never_sent());
    drop(held);
}

#[tokio::test]
async fn a_connection_closed_before_any_answer_is_closed_before_answer() {
    let w = worker("127.0.0.1", server(Act::Close).await);
    both(&w, 10, TransportKind::ClosedBeforeAnswer).await;
}

#[tokio::test]
async fn a_connection_reset_before_any_answer_is_closed_before_answer() {
    let w = worker("127.0.0.1", server(Act::Reset).await);
    both(&w, 10, TransportKind::ClosedBeforeAnswer).await;
}

#[tokio::test]
async fn a_body_cut_short_by_a_close_is_closed_mid_answer() {
    let w = worker(
        "127.0.0.1",
        server(Act::Send(answer("200 OK", 100, &[7; 50]))).await,
    );
    both(&w, 100, TransportKind::ClosedMidAnswer).await;
}

#[tokio::test]
async fn a_body_cut_short_by_a_reset_is_closed_mid_answer() {
    let act = Act::SendThenReset(answer("200 OK", 100, &[7; 50]));
    let w = worker("127.0.0.1", server(act).await);
    both(&w, 100, TransportKind::ClosedMidAnswer).await;
}

#[tokio::test]
async fn a_body_longer_than_asked_is_long_body() {
    let w = worker(
        "127.0.0.1",
        server(Act::Send(answer("200 OK", 10, &[7; 10]))).await,
    );
    both(&w, 6, TransportKind::LongBody).await;
}

#[tokio::test]
async fn a_complete_shorter_body_is_data_for_the_piece_check() {
    // The transport delivers a complete answer as it is; the piece check
    // (`ClientCore::check_piece`) calls it short (tests/client_errors.rs).
    let w = worker(
        "127.0.0.1",
        server(Act::Send(answer("200 OK", 4, b"abcd"))).await,
    );
    for raw in [true, false] {
        assert_eq!(get(raw, &w, 10).await.unwrap(), 4);
    }
}

#[tokio::test]
async fn a_stalled_server_is_an_answer_timeout() {
    let w = worker("127.0.0.1", server(Act::Stall).await);
    both(&w, 10, TransportKind::AnswerTimeout).await;
    let e = http(false)
        .send(&w, reqwest::Method::GET, "/v1/info", None)
        .await
        .unwrap_err();
    assert_eq!(
        e.transport_kind(),
        Some(TransportKind::AnswerTimeout),
        "{e}"
    );
}

#[tokio::test]
async fn a_5xx_is_its_status_and_retryable() {
    let body = br#"{"message":"overloaded"}"#;
    let act = Act::Send(answer("503 Service Unavailable", body.len(), body));
    let w = worker("127.0.0.1", server(act).await);
    both(&w, 10, TransportKind::Status(503)).await;
    let e = http(false)
        .send(&w, reqwest::Method::GET, "/v1/info", None)
        .await
        .unwrap_err();
    assert_eq!(e.transport_kind(), Some(TransportKind::Status(503)));
    assert!(
        e.is_retryable() && e.to_string().contains("overloaded"),
        "{e}"
    );
}

#[tokio::test]
async fn nonsense_is_bad_http() {
    let w = worker(
        "127.0.0.1",
        server(Act::Send(b"SSH-2.0-OpenSSH\r\n\r\n".to_vec())).await,
    );
    both(&w, 10, TransportKind::BadHttp).await;
}
