//! The monitoring stack deploy generates for a stage with
//! `[stages.<stage>.monitoring]` — an alarm on every function's errors and
//! throttles and every API's server errors and p95 latency, all wired to
//! one SNS topic, and a dashboard of the same metrics. The template is a
//! pure function of what is deployed. The rule that every function and API
//! of a protected stage is watched is `rules/monitoring.rs`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::app::stage::{Monitoring, Stage};

/// The name of a stage's monitoring stack.
pub fn stack_name(app: &str, stage: &Stage) -> String {
    format!("{app}-monitoring-{stage}")
}

/// What one deployed service offers to watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    pub service: String,
    /// Function names (physical ids).
    pub functions: Vec<String>,
    /// HTTP API ids.
    pub http_apis: Vec<String>,
    /// REST API names and their stage.
    pub rest_apis: Vec<(String, String)>,
}

/// The monitoring stack's template.
pub fn template(app: &str, stage: &Stage, monitoring: &Monitoring, watched: &[Watched]) -> Value {
    let mut resources = serde_json::Map::new();
    let prefix = format!("{app}-{stage}");
    resources.insert(
        "Alarms".into(),
        json!({"Type": "AWS::SNS::Topic", "Properties": {"TopicName": format!("{prefix}-alarms")}}),
    );
    for (n, address) in monitoring.notify.iter().enumerate() {
        resources.insert(
            format!("Notify{n}"),
            json!({"Type": "AWS::SNS::Subscription", "Properties": {
                "TopicArn": {"Ref": "Alarms"}, "Protocol": "email", "Endpoint": address}}),
        );
    }
    let mut ids = BTreeSet::new();
    let mut widgets = Vec::new();
    let region = stage.region().to_string();
    let mut alarm = |what: &str, description: String, metric: Value| {
        let id = unique(&mut ids, what);
        let mut properties = json!({
            "AlarmName": format!("{prefix}-{}", kebab(what)),
            "AlarmDescription": description,
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "Alarms"}],
            "OKActions": [{"Ref": "Alarms"}],
        });
        if let (Some(to), Some(from)) = (properties.as_object_mut(), metric.as_object()) {
            to.extend(from.clone());
        }
        resources.insert(
            id,
            json!({"Type": "AWS::CloudWatch::Alarm", "Properties": properties}),
        );
    };
    for w in watched {
        for function in &w.functions {
            let dims = json!([{"Name": "FunctionName", "Value": function}]);
            for (metric, why) in [
                ("Errors", "failed invocations"),
                ("Throttles", "throttled invocations"),
            ] {
                alarm(
                    &format!("{function} {metric}"),
                    format!("{}: {why} of {function}", w.service),
                    json!({"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims,
                           "Statistic": "Sum", "Threshold": 1}),
                );
            }
            widgets.push(widget(
                &format!("{} · {function}", w.service),
                &region,
                json!([
                    ["AWS/Lambda", "Invocations", "FunctionName", function, {"stat": "Sum"}],
                    [".", "Errors", ".", ".", {"stat": "Sum"}],
                    [".", "Throttles", ".", ".", {"stat": "Sum"}],
                    [".", "Duration", ".", ".", {"stat": "p95"}]
                ]),
            ));
        }
        let apis = w
            .http_apis
            .iter()
            .map(|id| (id.clone(), json!([{"Name": "ApiId", "Value": id}]), "5xx"))
            .chain(w.rest_apis.iter().map(|(name, api_stage)| {
                (
                    name.clone(),
                    json!([{"Name": "ApiName", "Value": name}, {"Name": "Stage", "Value": api_stage}]),
                    "5XXError",
                )
            }));
        for (api, dims, server_errors) in apis {
            alarm(
                &format!("{} api {api} {server_errors}", w.service),
                format!("{}: server errors (5xx) of API {api}", w.service),
                json!({"Namespace": "AWS/ApiGateway", "MetricName": server_errors, "Dimensions": dims,
                       "Statistic": "Sum", "Threshold": 1}),
            );
            alarm(
                &format!("{} api {api} latency", w.service),
                format!(
                    "{}: p95 latency of API {api} at or above {} ms",
                    w.service, monitoring.latency_p95_ms
                ),
                json!({"Namespace": "AWS/ApiGateway", "MetricName": "Latency", "Dimensions": dims,
                       "ExtendedStatistic": "p95", "Threshold": monitoring.latency_p95_ms}),
            );
            let mut metric = vec![json!("AWS/ApiGateway"), json!(server_errors)];
            for d in dims.as_array().into_iter().flatten() {
                metric.push(d["Name"].clone());
                metric.push(d["Value"].clone());
            }
            let mut latency = metric.clone();
            latency[1] = json!("Latency");
            metric.push(json!({"stat": "Sum"}));
            latency.push(json!({"stat": "p95"}));
            widgets.push(widget(
                &format!("{} · API {api}", w.service),
                &region,
                json!([metric, latency]),
            ));
        }
    }
    let body = json!({"widgets": widgets});
    resources.insert(
        "Dashboard".into(),
        json!({"Type": "AWS::CloudWatch::Dashboard", "Properties": {
            "DashboardName": prefix,
            "DashboardBody": body.to_string()}}),
    );
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("Alarms and dashboard of {app} on stage {stage}, generated by cargo xtask deploy from what is deployed; do not edit"),
        "Resources": resources,
        "Outputs": {"AlarmTopicArn": {"Value": {"Ref": "Alarms"}}},
    })
}

fn widget(title: &str, region: &str, metrics: Value) -> Value {
    json!({"type": "metric", "width": 12, "height": 6, "properties": {
        "title": title, "region": region, "view": "timeSeries", "period": 60, "metrics": metrics}})
}

/// A logical id from `what`: letters and digits only, unique in `ids`.
fn unique(ids: &mut BTreeSet<String>, what: &str) -> String {
    let base: String = what
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<String>()
        .chars()
        .take(200)
        .collect();
    let mut id = base.clone();
    let mut n = 2;
    while !ids.insert(id.clone()) {
        id = format!("{base}{n}");
        n += 1;
    }
    id
}

/// `web-dev-hello Errors` → `web-dev-hello-errors`: an alarm name.
fn kebab(what: &str) -> String {
    what.split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::stage::{Policy, Region};

    #[test]
    fn every_function_and_api_gets_its_alarms_wired_to_the_topic() {
        let policy = Policy::default_in(Region::parse("eu-west-1").unwrap());
        let stage = Stage::parse("prod", &policy).unwrap();
        let settings = Monitoring {
            notify: vec!["ops@example.com".into()],
            latency_p95_ms: 1500,
            bake: std::time::Duration::ZERO,
        };
        let watched = [Watched {
            service: "shop".into(),
            functions: vec!["shop-prod-list".into()],
            http_apis: vec![],
            rest_apis: vec![("prod-shop".into(), "prod".into())],
        }];
        let t = template("shop", &stage, &settings, &watched);
        let resources = t["Resources"].as_object().unwrap();
        let alarms: Vec<(&str, &str)> = resources
            .values()
            .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
            .map(|r| {
                assert_eq!(r["Properties"]["AlarmActions"], json!([{"Ref": "Alarms"}]));
                (
                    r["Properties"]["Namespace"].as_str().unwrap(),
                    r["Properties"]["MetricName"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(alarms.len(), 4, "{alarms:?}");
        for wanted in [
            ("AWS/Lambda", "Errors"),
            ("AWS/Lambda", "Throttles"),
            ("AWS/ApiGateway", "5XXError"),
            ("AWS/ApiGateway", "Latency"),
        ] {
            assert!(alarms.contains(&wanted), "{wanted:?} in {alarms:?}");
        }
        let latency = resources
            .values()
            .find(|r| r["Properties"]["MetricName"] == "Latency")
            .unwrap();
        assert_eq!(latency["Properties"]["Threshold"], 1500);
        assert_eq!(
            latency["Properties"]["Dimensions"],
            json!([{"Name": "ApiName", "Value": "prod-shop"}, {"Name": "Stage", "Value": "prod"}])
        );
        assert_eq!(
            resources["Notify0"]["Properties"]["Endpoint"],
            "ops@example.com"
        );
        let body: Value = serde_json::from_str(
            resources["Dashboard"]["Properties"]["DashboardBody"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(body["widgets"].as_array().unwrap().len(), 2);
        assert_eq!(body["widgets"][0]["properties"]["region"], "eu-west-1");
    }

    #[test]
    fn logical_ids_are_alphanumeric_and_unique() {
        let mut ids = BTreeSet::new();
        assert_eq!(
            unique(&mut ids, "web-dev-hello Errors"),
            "WebDevHelloErrors"
        );
        assert_eq!(
            unique(&mut ids, "web dev hello errors"),
            "WebDevHelloErrors2"
        );
        assert_eq!(kebab("web-dev-hello Errors"), "web-dev-hello-errors");
    }
}
