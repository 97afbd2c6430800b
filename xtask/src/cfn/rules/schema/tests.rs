//! The schema walk's unit tests, each against the generated schema.

use super::*;

fn findings(text: &str) -> Vec<(String, usize)> {
    let doc = crate::app::yaml::parse(text).unwrap();
    check(Path::new("serverless.yml"), &doc, None)
        .into_iter()
        .map(|f| (f.rule.to_string(), f.line))
        .collect()
}

#[test]
fn the_generated_schema_parses() {
    assert!(schema().is_some_and(|s| s.get("properties").is_some()));
}

#[test]
fn unknown_keys_events_and_values_are_found_where_written() {
    let text = "service: svc\nprovider:\n  name: aws\n  architecture: arm\n  memorySzie: 512\nfunctions:\n  f:\n    handler: h.f\n    timout: 3\n    events:\n      - http:\n          path: /\n          method: get\n      - httpp: /x\n";
    assert_eq!(
        findings(text),
        [
            ("unsupported-value".to_string(), 4),
            ("unrecognized-property".to_string(), 5),
            ("unrecognized-property".to_string(), 9),
            ("unsupported-event".to_string(), 14),
        ]
    );
}

#[test]
fn a_value_no_branch_takes_is_refused_and_one_any_branch_takes_is_not() {
    let role = |body: &str| {
        findings(&format!(
            "service: svc\nprovider:\n  name: aws\n  iam:\n    role:\n{body}"
        ))
    };
    // The CLI: `Configuration error at 'provider.iam.role': unsupported object format`.
    assert_eq!(
        role("      name: r\n      assumeRolePolicyDocument:\n        Version: '2012-10-17'\n"),
        [("unsupported-value".to_string(), 6)]
    );
    for taken in [
        "      name: r\n      statements:\n        - Effect: Allow\n          Action: s3:GetObject\n          Resource: '*'\n",
        "      Fn::GetAtt: [Role, Arn]\n",
        "      Fn::ImportValue: shared-role\n",
        "      name: ${self:custom.role}\n      path: /service/\n",
    ] {
        assert!(role(taken).is_empty(), "{taken}: {:?}", role(taken));
    }
    let named =
        findings("service: svc\nprovider:\n  name: aws\n  iam:\n    role: arn:aws:iam::1:role/r\n");
    assert!(named.is_empty(), "{named:?}");
}

/// The CLI's `regexp` keyword (a pattern with flags) on an event's
/// short form: `GET x` has no path starting with `/`.
#[test]
fn a_short_event_outside_its_pattern_is_refused() {
    let text = "service: svc\nprovider:\n  name: aws\nfunctions:\n  f:\n    handler: h.f\n    events:\n      - http: 'GET x'\n      - httpApi: 'get /y'\n      - http: POST /z\n";
    assert_eq!(findings(text), [("unsupported-value".to_string(), 8)]);
}

/// A number where the schema asks for one of some strings is that
/// number's text, as the CLI coerces it.
#[test]
fn a_number_is_judged_as_the_string_the_cli_makes_of_it() {
    let text = |mode: &str| {
        format!("service: svc\nvariablesResolutionMode: {mode}\nprovider:\n  name: aws\n")
    };
    assert_eq!(
        findings(&text("20210219")),
        [("unsupported-value".to_string(), 2)]
    );
    assert!(findings(&text("20210326")).is_empty());
}

#[test]
fn what_only_the_cli_resolves_is_not_judged() {
    let text = "service: svc\nprovider:\n  name: aws\n  architecture: ${self:custom.arch}\n  stuff: ~\n  stackTags:\n    PROJECT: p\ncustom:\n  anything: goes\nfunctions: ${file(./functions.yml)}\nresources:\n  - ${file(./a.yml)}\n  - Resources:\n      Q:\n        Type: AWS::SQS::Queue\n";
    assert!(findings(text).is_empty(), "{:?}", findings(text));
}

/// A function's `vpc` is its subnets and security groups, `false` or
/// nothing: the CLI refuses an empty map (`unsupported configuration
/// format`), which only the `false` branch's lack of keys let through.
#[test]
fn a_map_is_no_constant() {
    let vpc = |value: &str| {
        findings(&format!(
            "service: svc\nprovider:\n  name: aws\nfunctions:\n  f:\n    handler: h.f\n    vpc: {value}\n"
        ))
    };
    assert_eq!(vpc("{}"), [("unsupported-value".to_string(), 7)]);
    assert_eq!(vpc("false"), []);
    assert_eq!(vpc("{securityGroupIds: [sg-1], subnetIds: [subnet-1]}"), []);
}
