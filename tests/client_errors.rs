//! Error kinds the client core decides on, built for real against a
//! scripted worker: a piece answered complete but short, and an operation
//! that runs past its deadline.

use std::sync::Arc;
use std::time::Duration;

use _core::client::ClientCore;
use _core::config::{ClientConfig, ConfigInput};
use _core::error::TransportKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A worker that answers every request with `answer` (or never, if `None`),
/// keeping connections open.
async fn scripted(answer: Option<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                loop {
                    let mut b = [0u8; 4096];
                    match sock.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                    while let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        req.drain(..end + 4);
                        match &answer {
                            Some(a) => {
                                if sock.write_all(a).await.is_err() {
                                    return;
                                }
                            }
                            None => tokio::time::sleep(Duration::from_secs(3600)).await,
                        }
                    }
                }
            });
        }
    });
    port
}

fn client(port: u16, extra: ConfigInput) -> Arc<ClientCore> {
    let cfg = ClientConfig::from_input(&ConfigInput {
        worker_hosts: Some(format!("127.0.0.1:{port}")),
        page_size: Some("4096".into()),
        ..extra
    })
    .unwrap();
    _core::client::process::runtime::current()
        .unwrap()
        .client(&cfg)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_answer_with_too_few_bytes_is_a_short_body() {
    let port = scripted(Some(
        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nabcd".to_vec(),
    ))
    .await;
    let c = client(
        port,
        ConfigInput {
            retries: Some("2".into()),
            cluster_name: Some("short-body".into()),
            ..ConfigInput::default()
        },
    );
    let before = c.stats.requests.load(std::sync::atomic::Ordering::Relaxed);
    let e = c.reader().read_vec("file:///x", 0, 100).await.unwrap_err();
    assert_eq!(e.transport_kind(), Some(TransportKind::ShortBody), "{e}");
    assert!(
        e.to_string().contains("returned 4 bytes, expected 100"),
        "{e}"
    );
    // A worker fault: retried.
    let after = c.stats.requests.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stalling_past_the_deadline_is_a_deadline() {
    let port = scripted(None).await;
    let c = client(
        port,
        ConfigInput {
            timeout: Some("5".into()),
            deadline: Some("0.3".into()),
            cluster_name: Some("deadline".into()),
            ..ConfigInput::default()
        },
    );
    let e = c.reader().read_vec("file:///x", 0, 100).await.unwrap_err();
    assert_eq!(e.transport_kind(), Some(TransportKind::Deadline), "{e}");
    assert!(e.is_timeout() && !e.is_retryable(), "{e}");
    assert!(e.to_string().contains("deadline"), "{e}");
}
