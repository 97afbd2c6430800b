//! The resolver's unit tests, beside it (`resolve.rs` stays one reading).
use super::super::budget::{MAX_NESTING, MAX_STEPS};
use super::*;

#[test]
fn resolves_what_is_known_before_deploy() {
    let doc =
        crate::app::yaml::parse("service: shop\ncustom:\n  prefix: shop-${sls:stage}\n").unwrap();
    let ctx = Context {
        stage: "qa",
        region: "eu-west-1",
        doc: &doc,
        file: std::path::Path::new("serverless.yml"),
        dir: std::path::Path::new("."),
        stage_given: true,
        compose_params: None,
        symbolic: false,
        use_dotenv: false,
    };
    assert_eq!(
        resolve("${self:custom.prefix}-${aws:region}", &ctx).as_deref(),
        Some("shop-qa-eu-west-1")
    );
    assert_eq!(
        resolve("${self:service}-${opt:stage, 'dev'}", &ctx).as_deref(),
        Some("shop-qa")
    );
    assert_eq!(resolve("${cf:other-${sls:stage}.Out}", &ctx), None);
    assert_eq!(
        resolve("${env:MISSING, 'fallback'}", &ctx).as_deref(),
        Some("fallback")
    );
}

/// Evaluates `text` in a service folder holding `files` (the service's
/// own file first).
fn evaluate_in(name: &str, files: &[(&str, &str)], text: &str) -> Resolved {
    let dir = std::env::temp_dir().join(format!("xtask-vars-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, content) in files {
        std::fs::write(dir.join(path), content).unwrap();
    }
    let doc = crate::app::yaml::parse(files[0].1).unwrap();
    let file = dir.join(files[0].0);
    let ctx = Context {
        stage: "dev",
        region: "us-east-1",
        doc: &doc,
        file: &file,
        dir: &dir,
        stage_given: true,
        compose_params: None,
        symbolic: false,
        use_dotenv: false,
    };
    let value = evaluate(text, &ctx);
    let _ = std::fs::remove_dir_all(&dir);
    value
}

/// `${self:}` four times per level: resolved once per address, so the
/// thirtieth level is refused as soon as its bytes pass the budget,
/// not after 4^30 lookups.
#[test]
fn references_that_multiply_are_refused_at_the_byte_budget() {
    let mut text = String::from("service: svc\ncustom:\n  l0: x\n");
    for level in 1..=30 {
        let below = format!("${{self:custom.l{}}}", level - 1);
        text.push_str(&format!("  l{level}: {}\n", below.repeat(4)));
    }
    let files = [("serverless.yml", text.as_str())];
    let Resolved::Known(nine) = evaluate_in("levels", &files, "${self:custom.l9}") else {
        panic!("four to the ninth bytes are within the budget");
    };
    assert_eq!(nine.len(), 1 << 18);
    assert_eq!(
        evaluate_in("levels", &files, "${self:custom.l30}"),
        Resolved::Refused(Refusal::TooMuch(format!(
            "variables expand past {MAX_BYTES} bytes"
        )))
    );
}

#[test]
fn a_long_chain_resolves_and_a_longer_one_is_refused() {
    let chain = |levels: usize| {
        let mut text = String::from("service: svc\ncustom:\n  l0: x\n");
        for level in 1..=levels {
            text.push_str(&format!("  l{level}: ${{self:custom.l{}}}\n", level - 1));
        }
        text
    };
    let text = chain(60);
    let value = evaluate_in("chain", &[("serverless.yml", &text)], "${self:custom.l60}");
    assert_eq!(value, Resolved::Known("x".into()));
    let text = chain(100);
    let value = evaluate_in("chain", &[("serverless.yml", &text)], "${self:custom.l100}");
    assert_eq!(
        value,
        Resolved::Refused(Refusal::TooMuch(format!(
            "variables expand past {MAX_NESTING} levels of nesting"
        )))
    );
}

#[test]
fn too_many_lookups_are_refused() {
    let text = "service: svc\na: x\n";
    let many = "${self:a}".repeat(MAX_STEPS);
    let value = evaluate_in("steps", &[("serverless.yml", text)], &many);
    assert_eq!(
        value,
        Resolved::Refused(Refusal::TooMuch(format!(
            "variables expand past {MAX_STEPS} lookups"
        )))
    );
}

/// A loop through files is named link by link, with the line each
/// value is written on; a loop of `self:` addresses too, marked as such.
#[test]
fn loops_are_refused_with_their_chain() {
    let files = [
        ("serverless.yml", "service: ${file(./a.yml):name}\n"),
        ("a.yml", "other: 1\nname: ${file(./b.yml):name}\n"),
        ("b.yml", "name: ${file(./a.yml):name}-b\n"),
    ];
    let Resolved::Refused(Refusal::Cycle {
        chain,
        through_files: true,
    }) = evaluate_in("file-loop", &files, "${self:service}")
    else {
        panic!("a loop through files");
    };
    let chain = chain.join(" → ");
    assert!(
        chain.contains("`${file(./a.yml):name}` (")
            && chain.contains("a.yml:2) → `${file(./b.yml):name}` (")
            && chain.ends_with("b.yml:1) → `${file(./a.yml):name}`"),
        "{chain}"
    );
    let files = [(
        "serverless.yml",
        "service: svc\ncustom:\n  a: ${self:custom.b}\n  b: x-${self:custom.a}\n",
    )];
    assert!(matches!(
        evaluate_in("self-loop", &files, "${self:custom.a}"),
        Resolved::Refused(Refusal::Cycle {
            through_files: false,
            ..
        })
    ));
}

/// A fallback never hides a refusal: the CLI stops on those too.
#[test]
fn a_refusal_is_not_a_missing_value() {
    let files = [
        ("serverless.yml", "service: svc\n"),
        ("bad.yml", "name: a\u{0}b\n"),
    ];
    let value = evaluate_in("unreadable", &files, "${file(./bad.yml):name, 'x'}");
    let Resolved::Refused(Refusal::Unreadable(why)) = value else {
        panic!("{value:?}");
    };
    assert!(
        why.contains("bad.yml:1:8") && why.contains("U+0000"),
        "{why}"
    );
}
