//! What an AWS API request asks of IAM: the actions it needs and on which
//! resources, read from the request itself (its signing scope, its
//! operation and its parameters). The IAM policy test turns every request
//! a recorded deploy made into these and checks each against the policy.

use serde_json::Value;

use crate::aws::emulator::tap::Request;

/// One permission a request needs: an IAM action on a resource (an ARN,
/// or `*` for an action that takes no resource).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub action: String,
    pub resource: String,
}

/// What one request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// An unsigned request (an HTTP API's own endpoint, a health check):
    /// no IAM call.
    Unsigned,
    /// A call AWS answers without any permission (`sts:GetCallerIdentity`,
    /// Cognito's sign-in).
    Free(String),
    Needs(Vec<Need>),
}

/// The requests' calls, or what could not be told of a request.
pub fn call(request: &Request, account: &str) -> Result<Call, String> {
    let (Some(service), Some(region)) = (&request.service, &request.region) else {
        return Ok(Call::Unsigned);
    };
    let at = At {
        region,
        account,
        request,
    };
    let operation = operation(request);
    let params = params(request);
    let param = |name: &str| params.get(name).and_then(Value::as_str).map(str::to_string);
    let needs = match service.as_str() {
        "sts" if operation.as_deref() == Some("GetCallerIdentity") => {
            return Ok(Call::Free("sts:GetCallerIdentity".into()))
        }
        "cognito-idp"
            if matches!(
                operation.as_deref(),
                Some("InitiateAuth" | "RespondToAuthChallenge" | "SignUp" | "GetUser")
            ) =>
        {
            return Ok(Call::Free(format!(
                "cognito-idp:{}",
                operation.unwrap_or_default()
            )))
        }
        "s3" => s3(&at),
        "apigateway" => {
            let path = request.path.split('?').next().unwrap_or_default();
            let path = path.strip_prefix("/v2").unwrap_or(path);
            vec![need(
                &format!("apigateway:{}", request.method),
                format!("arn:aws:apigateway:{region}::{path}"),
            )]
        }
        "lambda" => lambda(&at)?,
        _ => {
            let operation = operation.ok_or_else(|| {
                format!(
                    "{service}: cannot tell the operation of {} {}",
                    request.method, request.path
                )
            })?;
            let prefix = iam_prefix(service);
            let action = format!("{prefix}:{operation}");
            let resources = match prefix {
                "cloudformation" => param("StackName")
                    .map(|s| at.stack(&s))
                    .into_iter()
                    .collect(),
                "dynamodb" => dynamodb(&at, &operation, &param),
                "cognito-idp" => param("UserPoolId")
                    .map(|id| format!("arn:aws:cognito-idp:{region}:{account}:userpool/{id}"))
                    .into_iter()
                    .collect(),
                "logs" => param("logGroupName")
                    .map(|n| format!("arn:aws:logs:{region}:{account}:log-group:{n}:*"))
                    .into_iter()
                    .collect(),
                "iam" => param("RoleName")
                    .map(|n| format!("arn:aws:iam::{account}:role/{n}"))
                    .into_iter()
                    .collect(),
                "cloudwatch" => alarm_names(&params)
                    .into_iter()
                    .map(|n| format!("arn:aws:cloudwatch:{region}:{account}:alarm:{n}"))
                    .collect(),
                "ssm" => param("Name")
                    .map(|n| {
                        format!(
                            "arn:aws:ssm:{region}:{account}:parameter/{}",
                            n.trim_start_matches('/')
                        )
                    })
                    .into_iter()
                    .collect(),
                "acm" => param("CertificateArn").into_iter().collect(),
                "ecr" => params
                    .get("repositoryNames")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .chain(params.get("repositoryName"))
                    .filter_map(Value::as_str)
                    .map(|n| format!("arn:aws:ecr:{region}:{account}:repository/{n}"))
                    .collect(),
                _ => Vec::new(),
            };
            let resources = if resources.is_empty() {
                vec!["*".to_string()]
            } else {
                resources
            };
            resources.into_iter().map(|r| need(&action, r)).collect()
        }
    };
    Ok(Call::Needs(needs))
}

/// The IAM prefix of a signing name where they differ.
fn iam_prefix(signing: &str) -> &str {
    match signing {
        "monitoring" => "cloudwatch",
        other => other,
    }
}

struct At<'a> {
    region: &'a str,
    account: &'a str,
    request: &'a Request,
}

impl At<'_> {
    fn stack(&self, name: &str) -> String {
        if name.starts_with("arn:") {
            name.to_string()
        } else {
            format!(
                "arn:aws:cloudformation:{}:{}:stack/{name}/*",
                self.region, self.account
            )
        }
    }
}

fn need(action: &str, resource: String) -> Need {
    Need {
        action: action.to_string(),
        resource,
    }
}

/// The operation's name: the JSON protocols' target, the query protocol's
/// `Action`, or the RPC v2 path's last part.
fn operation(request: &Request) -> Option<String> {
    if let Some(target) = &request.target {
        return target.rsplit('.').next().map(str::to_string);
    }
    if let Some(op) = request.path.split("/operation/").nth(1) {
        return Some(op.split(['?', '/']).next().unwrap_or(op).to_string());
    }
    request
        .form()
        .and_then(|f| f.into_iter().find(|(k, _)| k == "Action").map(|(_, v)| v))
}

/// The request's parameters as JSON: a JSON body, a CBOR one (RPC v2),
/// or a form's fields.
fn params(request: &Request) -> Value {
    if request.path.contains("/operation/") {
        return super::cbor::json(&request.body).unwrap_or(Value::Null);
    }
    if let Some(fields) = request.form() {
        return Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        );
    }
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

fn alarm_names(params: &Value) -> Vec<String> {
    let mut names: Vec<String> = params
        .get("AlarmNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(fields) = params.as_object() {
        names.extend(
            fields
                .iter()
                .filter(|(k, _)| k.starts_with("AlarmNames.member."))
                .filter_map(|(_, v)| v.as_str().map(str::to_string)),
        );
    }
    names
}

fn dynamodb(at: &At, operation: &str, param: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let table = |t: String| {
        if t.starts_with("arn:") {
            t
        } else {
            format!("arn:aws:dynamodb:{}:{}:table/{t}", at.region, at.account)
        }
    };
    match operation {
        "RestoreTableFromBackup" => param("BackupArn")
            .into_iter()
            .chain(param("TargetTableName").map(table))
            .collect(),
        "DescribeBackup" | "DeleteBackup" => param("BackupArn").into_iter().collect(),
        _ => param("TableName")
            .or_else(|| param("TableArn"))
            .map(table)
            .into_iter()
            .collect(),
    }
}

/// S3's REST calls: the IAM action from the method, the path and the
/// query's sub-resource; the bucket or object ARN from the path (the
/// tool and the CLI address buckets by path on an emulator).
fn s3(at: &At) -> Vec<Need> {
    let request = at.request;
    let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
    let path = path.trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let sub: Vec<&str> = query
        .split('&')
        .map(|kv| kv.split('=').next().unwrap_or_default())
        .filter(|k| !k.is_empty())
        .collect();
    let has = |name: &str| sub.contains(&name);
    if bucket.is_empty() {
        return vec![need("s3:ListAllMyBuckets", "*".into())];
    }
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    if !key.is_empty() {
        let object = format!("{bucket_arn}/{key}");
        let versioned = has("versionId");
        let action = match request.method.as_str() {
            "GET" | "HEAD" if has("tagging") => "s3:GetObjectTagging",
            "GET" | "HEAD" if versioned => "s3:GetObjectVersion",
            "GET" | "HEAD" => "s3:GetObject",
            "PUT" if has("tagging") => "s3:PutObjectTagging",
            "PUT" => "s3:PutObject",
            "DELETE" if versioned => "s3:DeleteObjectVersion",
            "DELETE" => "s3:DeleteObject",
            "POST" => "s3:PutObject",
            _ => "s3:GetObject",
        };
        let mut needs = vec![need(action, object)];
        if let Some(source) = &request.copy_source {
            let source = source
                .trim_start_matches('/')
                .split('?')
                .next()
                .unwrap_or_default();
            needs.push(need("s3:GetObject", format!("arn:aws:s3:::{source}")));
        }
        return needs;
    }
    #[rustfmt::skip]
    const SUBRESOURCES: &[(&str, &str, &str)] = &[
        (
            "versioning",
            "s3:GetBucketVersioning",
            "s3:PutBucketVersioning",
        ),
        (
            "encryption",
            "s3:GetEncryptionConfiguration",
            "s3:PutEncryptionConfiguration",
        ),
        (
            "publicAccessBlock",
            "s3:GetBucketPublicAccessBlock",
            "s3:PutBucketPublicAccessBlock",
        ),
        ("policy", "s3:GetBucketPolicy", "s3:PutBucketPolicy"),
        ("location", "s3:GetBucketLocation", "s3:GetBucketLocation"),
        ("tagging", "s3:GetBucketTagging", "s3:PutBucketTagging"),
        ("acl", "s3:GetBucketAcl", "s3:PutBucketAcl"),
        ("cors", "s3:GetBucketCORS", "s3:PutBucketCORS"),
        (
            "notification",
            "s3:GetBucketNotification",
            "s3:PutBucketNotification",
        ),
        (
            "lifecycle",
            "s3:GetLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
        ),
        (
            "ownershipControls",
            "s3:GetBucketOwnershipControls",
            "s3:PutBucketOwnershipControls",
        ),
        ("logging", "s3:GetBucketLogging", "s3:PutBucketLogging"),
        ("website", "s3:GetBucketWebsite", "s3:PutBucketWebsite"),
    ];
    let action = if let Some((_, get, put)) = SUBRESOURCES.iter().find(|(s, _, _)| has(s)) {
        match request.method.as_str() {
            "GET" | "HEAD" => *get,
            "DELETE" if has("policy") => "s3:DeleteBucketPolicy",
            _ => *put,
        }
    } else {
        match request.method.as_str() {
            "GET" if has("versions") => "s3:ListBucketVersions",
            "GET" | "HEAD" => "s3:ListBucket",
            "PUT" => "s3:CreateBucket",
            "DELETE" => "s3:DeleteBucket",
            // `POST ?delete`: DeleteObjects, which deletes versions when
            // its body names them.
            "POST" if has("delete") => {
                let versions = String::from_utf8_lossy(&request.body).contains("<VersionId>");
                let object = format!("{bucket_arn}/*");
                let mut needs = vec![need("s3:DeleteObject", object.clone())];
                if versions {
                    needs.push(need("s3:DeleteObjectVersion", object));
                }
                return needs;
            }
            _ => "s3:ListBucket",
        }
    };
    vec![need(action, bucket_arn)]
}

/// Lambda's REST calls under `/2015-03-31/functions/NAME/…`.
fn lambda(at: &At) -> Result<Vec<Need>, String> {
    let request = at.request;
    let path = request.path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let function = |name: &str| {
        let name = percent_decoded(name);
        if name.starts_with("arn:") {
            name
        } else {
            format!(
                "arn:aws:lambda:{}:{}:function:{name}",
                at.region, at.account
            )
        }
    };
    let action = match (request.method.as_str(), &parts[1..]) {
        ("GET", ["functions"]) => return Ok(vec![need("lambda:ListFunctions", "*".into())]),
        ("GET", ["functions", f]) => ("lambda:GetFunction", *f),
        ("GET", ["functions", f, "configuration"]) => ("lambda:GetFunctionConfiguration", *f),
        ("PUT", ["functions", f, "configuration"]) => ("lambda:UpdateFunctionConfiguration", *f),
        ("PUT", ["functions", f, "code"]) => ("lambda:UpdateFunctionCode", *f),
        ("POST", ["functions", f, "invocations"]) => ("lambda:InvokeFunction", *f),
        ("GET", ["functions", f, "versions"]) => ("lambda:ListVersionsByFunction", *f),
        ("POST", ["functions", f, "versions"]) => ("lambda:PublishVersion", *f),
        ("GET", ["functions", f, "aliases", ..]) => ("lambda:GetAlias", *f),
        ("GET", ["functions", f, "policy"]) => ("lambda:GetPolicy", *f),
        ("DELETE", ["functions", f]) => ("lambda:DeleteFunction", *f),
        _ => {
            return Err(format!(
                "lambda: cannot tell the operation of {} {}",
                request.method, request.path
            ))
        }
    };
    Ok(vec![need(action.0, function(action.1))])
}

fn percent_decoded(s: &str) -> String {
    reqwest::Url::parse(&format!("http://x/?v={s}"))
        .ok()
        .and_then(|u| u.query_pairs().next().map(|(_, v)| v.to_string()))
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(service: &str, method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            region: Some("eu-west-1".into()),
            service: Some(service.into()),
            ..Request::default()
        }
    }

    fn needs(request: &Request) -> Vec<(String, String)> {
        match call(request, "123456789012").unwrap() {
            Call::Needs(needs) => needs.into_iter().map(|n| (n.action, n.resource)).collect(),
            other => panic!("{other:?}"),
        }
    }

    fn pair(a: &str, r: &str) -> (String, String) {
        (a.into(), r.into())
    }

    #[test]
    fn a_query_protocol_call_names_its_stack() {
        let mut r = signed("cloudformation", "POST", "/");
        r.content_type = Some("application/x-www-form-urlencoded; charset=utf-8".into());
        r.body = b"Action=DescribeStacks&Version=2010-05-15&StackName=api-prod".to_vec();
        assert_eq!(
            needs(&r),
            [pair(
                "cloudformation:DescribeStacks",
                "arn:aws:cloudformation:eu-west-1:123456789012:stack/api-prod/*"
            )]
        );
        r.body = b"Action=ListExports&Version=2010-05-15".to_vec();
        assert_eq!(needs(&r), [pair("cloudformation:ListExports", "*")]);
    }

    #[test]
    fn a_json_call_names_its_table_and_rpc_v2_its_operation() {
        let mut r = signed("dynamodb", "POST", "/");
        r.target = Some("DynamoDB_20120810.CreateBackup".into());
        r.body = br#"{"TableName":"orders-prod","BackupName":"x"}"#.to_vec();
        assert_eq!(
            needs(&r),
            [pair(
                "dynamodb:CreateBackup",
                "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-prod"
            )]
        );
        let r = signed(
            "monitoring",
            "POST",
            "/service/GraniteServiceVersion20100801/operation/GetMetricStatistics",
        );
        assert_eq!(needs(&r), [pair("cloudwatch:GetMetricStatistics", "*")]);
    }

    #[test]
    fn an_rpc_v2_body_is_read_as_cbor() {
        // {"AlarmNames": ["shop-prod-errors"], "MaxRecords": 100}, the
        // array of indefinite length as the SDK may write it.
        let mut body = vec![0xa2, 0x6a];
        body.extend(b"AlarmNames");
        body.extend([0x9f, 0x70]);
        body.extend(b"shop-prod-errors");
        body.extend([0xff, 0x6a]);
        body.extend(b"MaxRecords");
        body.extend([0x18, 100]);
        let mut r = signed(
            "monitoring",
            "POST",
            "/service/GraniteServiceVersion20100801/operation/DescribeAlarms",
        );
        r.body = body;
        assert_eq!(
            needs(&r),
            [pair(
                "cloudwatch:DescribeAlarms",
                "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:shop-prod-errors"
            )]
        );
    }

    #[test]
    fn s3_calls_are_told_by_method_path_and_sub_resource() {
        let cases = [
            (
                "PUT",
                "/bucket/a/b.zip",
                "s3:PutObject",
                "arn:aws:s3:::bucket/a/b.zip",
            ),
            ("HEAD", "/bucket/k", "s3:GetObject", "arn:aws:s3:::bucket/k"),
            (
                "GET",
                "/bucket?list-type=2&prefix=x",
                "s3:ListBucket",
                "arn:aws:s3:::bucket",
            ),
            (
                "GET",
                "/bucket?versions",
                "s3:ListBucketVersions",
                "arn:aws:s3:::bucket",
            ),
            (
                "PUT",
                "/bucket?versioning",
                "s3:PutBucketVersioning",
                "arn:aws:s3:::bucket",
            ),
            (
                "DELETE",
                "/bucket/k?versionId=3",
                "s3:DeleteObjectVersion",
                "arn:aws:s3:::bucket/k",
            ),
            ("PUT", "/bucket", "s3:CreateBucket", "arn:aws:s3:::bucket"),
        ];
        for (method, path, action, resource) in cases {
            assert_eq!(
                needs(&signed("s3", method, path)),
                [pair(action, resource)],
                "{method} {path}"
            );
        }
        let mut copy = signed("s3", "PUT", "/to/k");
        copy.copy_source = Some("/from/k".into());
        assert_eq!(
            needs(&copy),
            [
                pair("s3:PutObject", "arn:aws:s3:::to/k"),
                pair("s3:GetObject", "arn:aws:s3:::from/k")
            ]
        );
        let mut delete = signed("s3", "POST", "/bucket?delete");
        delete.body =
            b"<Delete><Object><Key>k</Key><VersionId>v</VersionId></Object></Delete>".to_vec();
        assert_eq!(
            needs(&delete),
            [
                pair("s3:DeleteObject", "arn:aws:s3:::bucket/*"),
                pair("s3:DeleteObjectVersion", "arn:aws:s3:::bucket/*")
            ]
        );
    }

    #[test]
    fn rest_calls_of_lambda_and_api_gateway_name_their_resource() {
        assert_eq!(
            needs(&signed(
                "lambda",
                "GET",
                "/2015-03-31/functions/api-prod-hello/configuration"
            )),
            [pair(
                "lambda:GetFunctionConfiguration",
                "arn:aws:lambda:eu-west-1:123456789012:function:api-prod-hello"
            )]
        );
        assert_eq!(
            needs(&signed(
                "apigateway",
                "GET",
                "/v2/apis/a1b2/stages?maxResults=5"
            )),
            [pair(
                "apigateway:GET",
                "arn:aws:apigateway:eu-west-1::/apis/a1b2/stages"
            )]
        );
        assert!(call(&signed("lambda", "PATCH", "/2015-03-31/odd"), "1").is_err());
    }

    #[test]
    fn unsigned_requests_and_free_calls_need_nothing() {
        let mut r = signed("sts", "POST", "/");
        r.content_type = Some("application/x-www-form-urlencoded".into());
        r.body = b"Action=GetCallerIdentity&Version=2011-06-15".to_vec();
        assert_eq!(
            call(&r, "1"),
            Ok(Call::Free("sts:GetCallerIdentity".into()))
        );
        let mut r = signed("sts", "GET", "/");
        r.service = None;
        assert_eq!(call(&r, "1"), Ok(Call::Unsigned));
    }
}
