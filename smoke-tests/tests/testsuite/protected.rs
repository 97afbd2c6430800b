//! No check changes data on a protected stage that the run did not make,
//! whatever its spec says: the runner and the load generator against a
//! real HTTP server of the test's own on 127.0.0.1 that records every
//! request it gets, so each test sees what reached the "stage". Real prod
//! and a rehearsal share this code path: the deploy tool only builds the
//! `Options` (a rehearsal with `allow_mutating`, as `protected(true)` here).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstest::rstest;
use smoke_tests::load::{drive, Pace, Plan};
use smoke_tests::{Endpoint, Options, Report, Spec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A run id of the deploy tool's shape.
const RUN: &str = "20250101t000000000z-ab12";

/// The routes of the stand-in app: `(service, method, path)`.
const ROUTES: &[(&str, &str, &str)] = &[
    ("web", "GET", "/health"),
    ("web", "GET", "/designs"),
    ("web", "POST", "/designs"),
    ("web", "DELETE", "/designs"),
    ("web", "GET", "/designs/{id}"),
    ("web", "PUT", "/designs/{id}"),
    ("web", "PATCH", "/designs/{id}"),
    ("web", "DELETE", "/designs/{id}"),
    ("other", "POST", "/things"),
    ("other", "DELETE", "/things/{id}"),
];

/// A stage stand-in: answers every request (GET 200, POST 201, DELETE
/// 204, anything else 200, each with `{}` but DELETE) and records
/// `METHOD /path` of each, in the order they arrive.
struct Recorder {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let end = loop {
                        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break end;
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                    let length: usize = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buffer.len() < end + 4 + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let mut line = head.lines().next().unwrap_or("").split(' ');
                    let method = line.next().unwrap_or("").to_string();
                    let path = line.next().unwrap_or("").to_string();
                    log.lock().unwrap().push(format!("{method} {path}"));
                    let answer: &[u8] = match method.as_str() {
                        "POST" => b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                        "DELETE" => b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n",
                        _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                    };
                    let _ = socket.write_all(answer).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Recorder { addr, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn endpoints(&self, routes: &[(&str, &str, &str)]) -> Vec<Endpoint> {
        routes
            .iter()
            .map(|(service, method, path)| Endpoint {
                service: service.to_string(),
                method: method.to_string(),
                path: path.to_string(),
                protected: false,
                base_url: Some(format!("http://{}/{service}", self.addr)),
                at: "serverless.yml:1".into(),
            })
            .collect()
    }
}

fn spec(text: &str) -> Spec {
    Spec::parse(Path::new("smoke.toml"), text).unwrap()
}

/// The options the deploy tool gives a protected stage: a rehearsal and
/// `--allow-mutating` pass `allow_mutating`.
fn protected(allow_mutating: bool) -> Options {
    Options {
        run_id: RUN.into(),
        protected_stage: true,
        allow_mutating,
        concurrency: 1,
        deadline: Duration::from_secs(30),
        ..Options::default()
    }
}

fn messages(report: &Report) -> String {
    report
        .checks
        .iter()
        .filter_map(|c| c.message.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

const LITERAL_DELETE: &str = "[[check]]\nservice = \"web\"\nname = \"delete theirs\"\nmethod = \"DELETE\"\npath = \"/designs/{id}\"\nparams = { id = \"customer-42\" }\nexpect = 204\n";

#[tokio::test]
async fn a_literal_delete_said_to_write_nothing_is_refused_and_never_sent() {
    // The drill's check, `mutates = false` on a DELETE of a literal id,
    // its route behind an authorizer so it is also sent without a token,
    // on real prod and on a rehearsal. The runner decides from the
    // request, not from the flag, so the flag is forced here.
    let stage = Recorder::start().await;
    let mut endpoints = stage.endpoints(ROUTES);
    endpoints
        .iter_mut()
        .for_each(|e| e.protected = e.method == "DELETE");
    let mut forced = spec(LITERAL_DELETE);
    forced.checks[0].mutates = false;
    for allow_mutating in [false, true] {
        let mut options = protected(allow_mutating);
        options.token = Some("token".into());
        let report = smoke_tests::run(&forced, &endpoints, &options).await;
        assert_eq!(
            stage.seen(),
            Vec::<String>::new(),
            "nothing reaches the stage"
        );
        assert!(!report.ok(), "{}", report.table());
        let said = messages(&report);
        for part in [
            "smoke.toml:1",
            "delete theirs",
            "`id`",
            "customer-42",
            "${id}",
        ] {
            assert!(said.contains(part), "names {part}: {said}");
        }
    }

    // And the spec itself refuses it: `mutates = false` marks a POST only.
    let drill = format!("{LITERAL_DELETE}mutates = false\nwhy = \"the API refuses it\"\n");
    let err = Spec::parse(Path::new("smoke.toml"), &drill).unwrap_err();
    assert_eq!(err.line, 1, "{err}");
    assert!(
        err.message.contains("`mutates = false`") && err.message.contains("POST"),
        "{err}"
    );
}

#[rstest]
#[case::a_delete_in_a_setup_step(
    "method = \"GET\"\npath = \"/designs/{id}\"\nexpect = 200\nsetup = [{ method = \"DELETE\", path = \"/designs/customer-42\" }]\n",
    false
)]
#[case::a_delete_in_a_dependent_step_of_another_service(
    "method = \"POST\"\npath = \"/designs\"\nbody = { id = \"${id}\" }\nexpect = 201\ncleanup = [{ service = \"other\", method = \"DELETE\", path = \"/things/customer-42\" }]\n",
    false
)]
#[case::a_put_of_a_literal_id_said_to_write_nothing(
    "method = \"PUT\"\npath = \"/designs/{id}\"\nparams = { id = \"customer-42\" }\nbody = { name = \"x\" }\nexpect = 200\n",
    true
)]
#[case::a_patch_of_a_literal_id_in_a_setup_step(
    "method = \"GET\"\npath = \"/designs/{id}\"\nexpect = 200\nsetup = [{ method = \"PATCH\", path = \"/designs/customer-42\", body = { name = \"x\" } }]\n",
    false
)]
#[case::a_delete_that_climbs_out_of_the_runs_id(
    "method = \"DELETE\"\npath = \"/designs/{id}\"\nparams = { id = \"${id}/../customer-42\" }\nexpect = 204\n",
    false
)]
#[case::a_cleanup_that_climbs_out_of_the_runs_id(
    "method = \"POST\"\npath = \"/designs\"\nbody = { id = \"${id}\" }\nexpect = 201\ncleanup = [{ method = \"DELETE\", path = \"/designs/${id}/../customer-42\" }]\n",
    false
)]
#[case::a_delete_that_names_no_id(
    "method = \"DELETE\"\npath = \"/designs\"\nexpect = 204\n",
    false
)]
#[tokio::test]
async fn a_change_to_data_the_run_did_not_make_never_reaches_a_protected_stage(
    #[case] check: &str,
    #[case] said_harmless: bool,
) {
    let stage = Recorder::start().await;
    let endpoints = stage.endpoints(ROUTES);
    let mut spec = spec(&format!(
        "[[check]]\nservice = \"web\"\nname = \"the check\"\n{check}"
    ));
    if said_harmless {
        spec.checks[0].mutates = false;
    }
    let report = smoke_tests::run(&spec, &endpoints, &protected(true)).await;
    let said = messages(&report);
    assert_eq!(
        stage.seen(),
        Vec::<String>::new(),
        "nothing of a refused check reaches the stage: {said}"
    );
    assert!(!report.ok(), "{}", report.table());
    assert!(
        said.contains("smoke.toml:1") && said.contains("the check") && said.contains("refused"),
        "{said}"
    );
}

#[tokio::test]
async fn a_post_said_to_write_nothing_runs_on_a_protected_stage() {
    let stage = Recorder::start().await;
    let spec = spec("[[check]]\nservice = \"web\"\nmethod = \"POST\"\npath = \"/designs\"\nbody = { name = \"\" }\nexpect = 201\nmutates = false\nwhy = \"the API refuses it\"\n");
    let report = smoke_tests::run(&spec, &stage.endpoints(ROUTES), &protected(false)).await;
    assert!(report.checks.iter().all(|c| c.passed), "{}", report.table());
    assert_eq!(stage.seen(), ["POST /web/designs"]);
}

#[tokio::test]
async fn a_delete_of_an_id_the_run_made_runs_on_a_protected_stage_when_allowed() {
    let stage = Recorder::start().await;
    let endpoints = stage.endpoints(ROUTES);
    let spec = spec("[[check]]\nservice = \"web\"\nmethod = \"DELETE\"\npath = \"/designs/{id}\"\nsetup = [{ method = \"POST\", path = \"/designs\", body = { id = \"${id}\" } }]\nexpect = 204\n");
    // Real prod without --allow-mutating: skipped, nothing sent.
    let report = smoke_tests::run(&spec, &endpoints, &protected(false)).await;
    assert_eq!(report.skipped(), 1, "{}", report.table());
    assert_eq!(stage.seen(), Vec::<String>::new());
    // With it (and on a rehearsal): the run's own id is created and deleted.
    let report = smoke_tests::run(&spec, &endpoints, &protected(true)).await;
    assert!(report.checks.iter().all(|c| c.passed), "{}", report.table());
    assert_eq!(
        stage.seen(),
        [
            "POST /web/designs",
            &format!("DELETE /web/designs/smoke-{RUN}-0")
        ]
    );
}

#[tokio::test]
async fn an_unprotected_stage_still_sends_what_the_spec_says() {
    let stage = Recorder::start().await;
    let options = Options {
        run_id: RUN.into(),
        ..Options::default()
    };
    let report = smoke_tests::run(&spec(LITERAL_DELETE), &stage.endpoints(ROUTES), &options).await;
    assert!(report.checks.iter().all(|c| c.passed), "{}", report.table());
    assert_eq!(stage.seen(), ["DELETE /web/designs/customer-42"]);
}

#[tokio::test]
async fn every_check_of_the_bundled_app_is_let_through_on_a_protected_stage() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tb365/smoke.toml");
    let spec = Spec::load(&file).unwrap();
    let stage = Recorder::start().await;
    let routes: Vec<(String, String, String)> = spec
        .checks
        .iter()
        .map(|c| {
            (
                c.service.clone(),
                c.request.method.clone(),
                c.request.path.clone(),
            )
        })
        .collect();
    let routes: Vec<(&str, &str, &str)> = routes
        .iter()
        .map(|(s, m, p)| (s.as_str(), m.as_str(), p.as_str()))
        .collect();
    let report = smoke_tests::run(&spec, &stage.endpoints(&routes), &protected(true)).await;
    let said = messages(&report);
    assert!(!said.contains("refused"), "{said}");
    let seen = stage.seen();
    assert!(seen.len() > spec.checks.len(), "{seen:?}");
    for request in &seen {
        if ["DELETE", "PUT", "PATCH"]
            .iter()
            .any(|m| request.starts_with(m))
        {
            assert!(request.contains(&format!("smoke-{RUN}-")), "{request}");
        }
    }
}

#[rstest]
#[case::real_prod(false)]
#[case::a_rehearsal(true)]
#[tokio::test]
async fn load_sends_only_reads_to_a_protected_stage(#[case] allow_mutating: bool) {
    let stage = Recorder::start().await;
    let spec = spec(concat!(
        "[[check]]\nservice = \"web\"\nmethod = \"GET\"\npath = \"/health\"\nexpect = 200\n\n",
        "[[check]]\nservice = \"web\"\nmethod = \"POST\"\npath = \"/designs\"\nbody = { name = \"\" }\nexpect = 201\nmutates = false\nwhy = \"the API refuses it\"\n\n",
        "[[check]]\nservice = \"web\"\nmethod = \"DELETE\"\npath = \"/designs/{id}\"\nsetup = [{ method = \"POST\", path = \"/designs\", body = { id = \"${id}\" } }]\nexpect = 204\n\n",
        "[[check]]\nservice = \"web\"\nmethod = \"DELETE\"\npath = \"/designs/{id}\"\nparams = { id = \"customer-42\" }\nexpect = 204\n",
    ));
    let plan = Plan {
        pace: Pace::Concurrency(2),
        duration: Duration::from_millis(500),
        warmup: Duration::ZERO,
    };
    let report = drive(
        &spec,
        &spec.checks,
        &stage.endpoints(ROUTES),
        &protected(allow_mutating),
        &plan,
        vec![],
    )
    .await;
    let seen = stage.seen();
    assert!(!seen.is_empty(), "the reads are sent");
    assert!(
        seen.iter().all(|r| r == "GET /web/health"),
        "only reads reach a protected stage: {:?}",
        seen.iter()
            .filter(|r| !r.starts_with("GET "))
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(report.checks.len(), 1, "{report:?}");
    assert_eq!(report.left_out.len(), 3, "{:?}", report.left_out);
    assert!(
        report.left_out.iter().all(|why| why.contains("protected")),
        "{:?}",
        report.left_out
    );
}
