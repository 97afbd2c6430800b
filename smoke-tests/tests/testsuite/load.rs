//! The load generator against a real HTTP server on 127.0.0.1: a rate plan
//! starts about as many requests as asked, a concurrency plan keeps them
//! coming, failures are counted with their reason, and objectives decide.

use std::path::Path;
use std::time::Duration;

use smoke_tests::load::{drive, Pace, Plan};
use smoke_tests::{Endpoint, Options, Spec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server answering `/ok` with 200 and anything else with 500.
async fn server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = socket.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = buffer.drain(..end + 4).collect();
                        let ok = head.starts_with(b"GET /ok ");
                        let answer: &[u8] = if ok {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                        } else {
                            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nnope"
                        };
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn setup(addr: std::net::SocketAddr, spec: &str) -> (Spec, Vec<Endpoint>) {
    let spec = Spec::parse(Path::new("smoke.toml"), spec).unwrap();
    let endpoints = ["/ok", "/fail"]
        .iter()
        .map(|path| Endpoint {
            service: "web".into(),
            method: "GET".into(),
            path: path.to_string(),
            protected: false,
            base_url: Some(format!("http://{addr}")),
            at: "serverless.yml:1".into(),
        })
        .collect();
    (spec, endpoints)
}

#[tokio::test]
async fn a_rate_plan_starts_about_the_requests_asked_for() {
    let addr = server().await;
    let (spec, endpoints) = setup(
        addr,
        "[[check]]\nservice = \"web\"\nmethod = \"GET\"\npath = \"/ok\"\nexpect = 200\n",
    );
    let plan = Plan {
        pace: Pace::Rate {
            per_second: 40.0,
            in_flight: 8,
        },
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(200),
    };
    let report = drive(
        &spec,
        &spec.checks,
        &endpoints,
        &Options::default(),
        &plan,
        vec![],
    )
    .await;
    let check = &report.checks[0];
    assert!(
        (60..=100).contains(&check.requests),
        "about 80 requests in 2 s at 40/s: {check:?}"
    );
    assert_eq!(check.errors, 0, "{check:?}");
    assert!(report.ok());
    assert!(check.p50_ms > 0.0 && check.p50_ms <= check.max_ms);
}

#[tokio::test]
async fn failures_are_counted_and_objectives_decide() {
    let addr = server().await;
    let (spec, endpoints) = setup(
        addr,
        "[load]\nerror_rate = 0.01\n\n[[check]]\nservice = \"web\"\nmethod = \"GET\"\npath = \"/ok\"\nexpect = 200\np95_ms = 60000\n\n[[check]]\nservice = \"web\"\nmethod = \"GET\"\npath = \"/fail\"\nexpect = 200\n",
    );
    let plan = Plan {
        pace: Pace::Concurrency(2),
        duration: Duration::from_secs(1),
        warmup: Duration::ZERO,
    };
    let report = drive(
        &spec,
        &spec.checks,
        &endpoints,
        &Options::default(),
        &plan,
        vec![],
    )
    .await;
    let ok = &report.checks[0];
    let fail = &report.checks[1];
    assert!(ok.requests > 10 && ok.missed.is_empty(), "{ok:?}");
    assert_eq!(ok.objectives.error_rate, Some(0.01), "[load] applies");
    assert_eq!(fail.errors, fail.requests, "{fail:?}");
    assert_eq!(fail.error_rate, 1.0);
    assert!(
        fail.missed[0].contains("error rate 100.00% above the objective 1.00%"),
        "{fail:?}"
    );
    assert!(
        fail.failures[0].contains("answered 500, expected 200"),
        "{fail:?}"
    );
    assert!(!report.ok());
    assert!(report.svg().contains("web GET /fail"));
}
