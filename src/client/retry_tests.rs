//! The retry policy pinned: waits with a fixed random source, the attempt
//! sequence over candidates, the deadline cut-off, verdicts, suspects.

use super::*;
use crate::protocol::identity::WorkerIdentity;
use crate::protocol::worker_info::WorkerNetAddress;

/// Always the same number.
struct Fixed(f64);

impl Random for Fixed {
    fn unit(&mut self) -> f64 {
        self.0
    }
}

fn w(port: u16) -> WorkerInfo {
    WorkerInfo {
        identity: WorkerIdentity::from_hostname(&format!("h:{port}")),
        address: WorkerNetAddress::with_http("h", port),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(retries: u32, deadline: Duration) -> RetryConfig {
    RetryConfig {
        retries,
        deadline,
        backoff: BackoffConfig::default(),
    }
}

fn refused() -> Error {
    Error::transport("h:1", TransportKind::Refused, "refused")
}

fn reset() -> Error {
    Error::transport("h:1", TransportKind::ClosedMidAnswer, "reset")
}

#[test]
fn full_jitter_scales_exponential_ceilings_up_to_the_cap() {
    let mut b = Backoff::new(BackoffConfig::default());
    let waits: Vec<_> = (0..6).map(|_| b.next(&mut Fixed(0.5))).collect();
    assert_eq!(waits, [ms(50), ms(100), ms(200), ms(400), ms(500), ms(500)]);
    let mut b = Backoff::new(BackoffConfig::default());
    assert_eq!(b.next(&mut Fixed(0.0)), Duration::ZERO);
    assert_eq!(b.next(&mut Fixed(0.999)), ms(200).mul_f64(0.999));
}

#[test]
fn the_random_source_is_uniform_enough_and_in_range() {
    let mut r = SplitMix(42);
    let xs: Vec<f64> = (0..10_000).map(|_| r.unit()).collect();
    assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    assert!((mean - 0.5).abs() < 0.02, "{mean}");
}

#[test]
fn each_worker_gets_its_retries_then_the_next_one_without_a_wait() {
    let mut rng = Fixed(0.5);
    let mut plan = Plan::new(config(3, ms(10_000)), true, vec![w(1), w(2)], &mut rng);
    let mut seen = Vec::new();
    while let Some(a) = plan.next(Duration::ZERO) {
        seen.push((
            a.worker.address.http_server_port,
            a.wait,
            a.failover,
            a.retry,
        ));
        assert!(matches!(plan.failed(reset()), Verdict::Again));
    }
    assert_eq!(
        seen,
        [
            (1, ms(0), false, 0),
            (1, ms(50), false, 1),
            (1, ms(100), false, 2),
            // The backoff starts over on the next worker.
            (2, ms(0), true, 0),
            (2, ms(50), false, 1),
            (2, ms(100), false, 2),
        ]
    );
    assert!(plan.last_error().is_some());
}

#[test]
fn no_wait_begins_that_would_end_past_the_deadline() {
    let mut rng = Fixed(0.5);
    let mut plan = Plan::new(config(5, ms(1_000)), true, vec![w(1), w(2)], &mut rng);
    assert_eq!(plan.next(ms(0)).unwrap().wait, ms(0));
    // 960 ms in: a 50 ms wait would end past 1 s, so on to worker 2 at once.
    let a = plan.next(ms(960)).unwrap();
    assert_eq!((a.worker, a.wait, a.failover), (w(2), ms(0), true));
    // Past the deadline nothing more starts.
    assert_eq!(plan.next(ms(1_001)), None);
}

#[test]
fn the_first_attempt_always_starts_even_at_the_deadline() {
    let mut rng = Fixed(0.5);
    let mut plan = Plan::new(config(2, ms(0)), true, vec![w(1)], &mut rng);
    assert!(plan.next(ms(5)).is_some());
    assert!(plan.next(ms(5)).is_none());
}

#[test]
fn non_idempotent_requests_are_resent_only_if_never_sent() {
    let mut rng = Fixed(0.5);
    let mut plan = Plan::new(config(3, ms(10_000)), false, vec![w(1)], &mut rng);
    assert!(matches!(plan.failed(refused()), Verdict::Again));
    let timeout = Error::transport("h:1", TransportKind::ConnectTimeout, "slow");
    assert!(matches!(plan.failed(timeout), Verdict::Again));
    assert!(matches!(plan.failed(reset()), Verdict::Fail(_)));
    let status = Error::transport("h:1", TransportKind::Status(503), "busy");
    assert!(matches!(plan.failed(status), Verdict::Fail(_)));
}

#[test]
fn answers_are_final_and_server_faults_retried() {
    let mut rng = Fixed(0.5);
    let mut plan = Plan::new(config(3, ms(10_000)), true, vec![w(1)], &mut rng);
    assert!(matches!(
        plan.failed(Error::NotFound("x".into())),
        Verdict::Fail(Error::NotFound(_))
    ));
    for kind in [
        TransportKind::Status(500),
        TransportKind::Status(429),
        TransportKind::ShortBody,
        TransportKind::LongBody,
        TransportKind::AnswerTimeout,
        TransportKind::ClosedBeforeAnswer,
    ] {
        let e = Error::transport("h:1", kind, "");
        assert!(matches!(plan.failed(e), Verdict::Again), "{kind:?}");
    }
    for kind in [TransportKind::Status(418), TransportKind::Deadline] {
        let e = Error::transport("h:1", kind, "");
        assert!(matches!(plan.failed(e), Verdict::Fail(_)), "{kind:?}");
    }
}

#[test]
fn suspects_go_to_the_back_in_ring_order_for_a_while() {
    let s = Suspects::default();
    let t0 = Instant::now();
    let ring = vec![w(1), w(2), w(3), w(4)];
    assert_eq!(s.order(ring.clone(), t0), ring);
    s.mark(&w(1), t0);
    s.mark(&w(3), t0);
    assert_eq!(s.order(ring.clone(), t0), [w(2), w(4), w(1), w(3)]);
    // An answer clears one; time clears the other.
    s.clear(&w(3));
    assert_eq!(s.order(ring.clone(), t0), [w(2), w(3), w(4), w(1)]);
    let later = t0 + SUSPECT_FOR;
    assert_eq!(s.order(ring.clone(), later), ring);
    assert!(!s.is_suspect(&w(1), t0), "forgotten once expired");
}
