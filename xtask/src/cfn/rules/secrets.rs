//! Secrets the review finds written into the files: in `environment` (a
//! literal or a variable's literal fallback), as a Secrets Manager
//! secret's `SecretString` and as a database's master password. Each ends up in the template and the
//! deployment bucket in clear.

use crate::app::diag::Finding;
use crate::app::yaml::Node;

use super::security::Review;

pub const SECRET_IN_ENVIRONMENT: &str = "secret-in-environment";
pub const SECRET_IN_TEMPLATE: &str = "secret-in-template";

/// Properties that hold a secret, by resource type, with where it should
/// come from instead.
const SECRET_PROPERTIES: &[(&str, &[&str], &str)] = &[
    (
        "AWS::SecretsManager::Secret",
        &["Properties", "SecretString"],
        "let Secrets Manager make it (`GenerateSecretString`), or set it outside the template",
    ),
    (
        "AWS::RDS::DBInstance",
        &["Properties", "MasterUserPassword"],
        "let RDS keep it in Secrets Manager (`ManageMasterUserPassword: true`), or read it with `{{resolve:secretsmanager:…}}`",
    ),
    (
        "AWS::RDS::DBCluster",
        &["Properties", "MasterUserPassword"],
        "let RDS keep it in Secrets Manager (`ManageMasterUserPassword: true`), or read it with `{{resolve:secretsmanager:…}}`",
    ),
    (
        "AWS::DocDB::DBCluster",
        &["Properties", "MasterUserPassword"],
        "read it with `{{resolve:secretsmanager:…}}`",
    ),
    (
        "AWS::Redshift::Cluster",
        &["Properties", "MasterUserPassword"],
        "let Redshift keep it in Secrets Manager (`ManageMasterPassword: true`), or read it with `{{resolve:secretsmanager:…}}`",
    ),
];

/// The literal each variable of `text` falls back to (`${env:X, 'abc'}`
/// gives `abc`'s literal): written into the file, whatever the variable.
fn literal_fallbacks(text: &str) -> Vec<String> {
    crate::app::vars::find_all(text)
        .iter()
        .filter_map(|var| crate::app::vars::literal_fallback(var.fallback.as_deref()?))
        .collect()
}

impl Review<'_> {
    /// A secret's value written into the template (`SecretString` of an
    /// `AWS::SecretsManager::Secret`, a database's master password, a
    /// literal or a variable's literal fallback): it is in the file, the
    /// template and the deployment bucket, whatever keeps it afterwards. A
    /// dynamic reference (`{{resolve:secretsmanager:…}}`) is not.
    pub(super) fn secret_values(&self, out: &mut Vec<Finding>) {
        for (ty, path, fix) in SECRET_PROPERTIES {
            for (file, id, resource) in self.resources(ty) {
                let Some(value) = resource.path(path).filter(|v| v.tag.is_none()) else {
                    continue;
                };
                let Some(text) = value.as_str() else { continue };
                let written = if text.contains("{{resolve:") {
                    false
                } else if text.contains("${") {
                    literal_fallbacks(text).iter().any(|l| l.len() > 2)
                } else {
                    !text.trim().is_empty()
                };
                if !written {
                    continue;
                }
                let mut finding = self.finding(
                    value.pos,
                    SECRET_IN_TEMPLATE,
                    format!(
                        "`{}` ({ty}) of {} has its {} written in the file: it is in the template and the deployment bucket in clear",
                        id.as_str().unwrap_or_default(),
                        self.service.key,
                        path.last().copied().unwrap_or_default()
                    ),
                    format!("{fix}, and rotate the one written here"),
                );
                finding.file = file.to_path_buf();
                out.push(finding);
            }
        }
    }

    /// Secrets written into `environment` (the provider's and each
    /// function's): they end up in the template, the deployment bucket
    /// and the Lambda console in clear.
    pub(super) fn environment(&self, out: &mut Vec<Finding>) {
        let doc = &self.service.doc;
        let mut maps: Vec<&Node> = doc.path(&["provider", "environment"]).into_iter().collect();
        for (_, function) in doc
            .get("functions")
            .and_then(Node::as_map)
            .unwrap_or_default()
        {
            maps.extend(function.get("environment"));
        }
        for map in maps {
            for (key, value) in map.as_map().unwrap_or_default() {
                let (Some(name), Some(text)) = (key.as_str(), value.as_str()) else {
                    continue;
                };
                // Read at deploy (`${ssm:}`, `${env:}`…): not written here,
                // but a literal fallback is (`${env:JWT_SECRET, 'abc…'}`),
                // and deploys wherever the variable is unset.
                let literal = if text.contains("${") {
                    literal_fallbacks(text)
                        .into_iter()
                        .find(|literal| secret_kind(name, literal).is_some())
                } else {
                    Some(text.to_string())
                };
                let Some(literal) = literal else { continue };
                if let Some(what) = secret_kind(name, &literal) {
                    out.push(self.finding(
                        value.pos,
                        SECRET_IN_ENVIRONMENT,
                        format!(
                            "environment variable `{name}` of {} {} {what}, written into the file (and so into the template, the deployment bucket and the function's configuration)",
                            self.service.key,
                            if literal == text { "holds" } else { "falls back to" }
                        ),
                        format!("read it at deploy from SSM (`{name}: ${{ssm:/{}/{}/{name}}}`) or Secrets Manager, and rotate the one written here", self.service.key, self.stage),
                    ));
                }
            }
        }
    }
}

/// Secrets written as Compose params (a service's `params:`, or Framework
/// v4's `stages.<stage>.params`, which every service gets): in the compose
/// file, and in every template that uses them. Each param once, however
/// many services it is passed to.
pub(super) fn compose_params(app: &crate::app::App, out: &mut Vec<Finding>) {
    let mut seen = std::collections::BTreeSet::new();
    for service in &app.services {
        for param in &service.params {
            if !seen.insert((param.file.clone(), param.pos.line, param.pos.col)) {
                continue;
            }
            let literal = if param.template.contains("${") {
                literal_fallbacks(&param.template)
                    .into_iter()
                    .find(|l| secret_kind(&param.name, l).is_some())
            } else {
                Some(param.template.clone())
            };
            let Some(what) = literal.and_then(|l| secret_kind(&param.name, &l)) else {
                continue;
            };
            let whose = match &param.stage {
                Some(stage) => format!("of stage `{stage}` (every service gets it)"),
                None => format!("passed to {}", service.key),
            };
            out.push(Finding::new(
                &param.file,
                param.pos,
                SECRET_IN_ENVIRONMENT,
                format!(
                    "Compose param `{}` {whose} is {what}, written into the compose file (and into the templates that use it)",
                    param.name
                ),
                format!(
                    "read it at deploy in the service (`${{ssm:/…/{}}}`) or from Secrets Manager instead of a param, and rotate the one written here",
                    param.name
                ),
            ));
        }
    }
}

/// What kind of secret `value` under `name` is, if it looks like one.
fn secret_kind(name: &str, value: &str) -> Option<&'static str> {
    let value = value.trim();
    let bytes = value.as_bytes();
    let access_key = bytes.windows(20).any(|w| {
        (w.starts_with(b"AKIA") || w.starts_with(b"ASIA"))
            && w[4..]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    });
    if access_key {
        return Some("an AWS access key id");
    }
    if value.contains("PRIVATE KEY-----") {
        return Some("a private key");
    }
    // `scheme://user:password@host`: a connection string that carries its
    // password (a placeholder, `<password>` or `***`, carries none).
    let password = value.split_once("://").and_then(|(scheme, rest)| {
        let scheme_ok = !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        let userinfo = rest.split(['/', '?', '#']).next()?.rsplit_once('@')?.0;
        let (_, password) = userinfo.split_once(':')?;
        let placeholder = password.is_empty()
            || password.starts_with('<')
            || password.chars().all(|c| c == '*' || c == 'x' || c == 'X');
        (scheme_ok && !placeholder).then_some(password)
    });
    if password.is_some() {
        return Some("a password in a connection string");
    }
    // A URL whose path or query carries a token: a webhook (Slack's,
    // Discord's, a CI's) is called by whoever knows it.
    if let Some((_, rest)) = value.split_once("://") {
        let tokenish = |part: &str| {
            part.len() >= 20
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                && part.chars().any(|c| c.is_ascii_uppercase())
                && part.chars().any(|c| c.is_ascii_lowercase())
                && part.chars().any(|c| c.is_ascii_digit())
                && entropy(part) >= 3.5
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let in_path = path.split('/').skip(1).any(tokenish);
        let in_query = query.split('&').any(|pair| {
            let (key, val) = pair.split_once('=').unwrap_or(("", pair));
            let key = key.to_ascii_lowercase();
            tokenish(val)
                || (["token", "secret", "key", "sig", "password"]
                    .iter()
                    .any(|w| key.contains(w))
                    && val.len() >= 8)
        });
        if in_path || in_query {
            return Some("a URL that carries a token (whoever has it can call it)");
        }
    }
    let upper = name.to_ascii_uppercase();
    let secret_name = [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|word| upper.contains(word))
        && !names_a_secret(name)
        && !value.eq_ignore_ascii_case(name);
    // A name or a pointer to one (an SSM path, an ARN, a URL without
    // credentials) is no secret; nor is a flag or a number.
    // A file's name (`firebase.json`, `./keys/app.pem`) says where the
    // secret is, not what.
    let file_name = value.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && matches!(
                ext.to_ascii_lowercase().as_str(),
                "json"
                    | "yml"
                    | "yaml"
                    | "pem"
                    | "p12"
                    | "pfx"
                    | "key"
                    | "crt"
                    | "cer"
                    | "jks"
                    | "txt"
                    | "env"
            )
    });
    let reference = value.starts_with('/')
        || file_name
        || value.starts_with("arn:")
        || value.contains("://") && !value.contains('@')
        || value.parse::<f64>().is_ok()
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "none" | "null" | ""
        )
        || value.contains(' ');
    if secret_name && !reference && value.len() >= 8 {
        return Some("a literal secret");
    }
    let token_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-'));
    let mixed = value.chars().any(|c| c.is_ascii_uppercase())
        && value.chars().any(|c| c.is_ascii_lowercase())
        && value.chars().any(|c| c.is_ascii_digit());
    // A name built of words (`shop-orders-service-dev-EC2Task`) is no key,
    // however mixed its letters.
    let parts: Vec<&str> = value.split(['-', '_']).collect();
    let words = parts.len() >= 3 && parts.iter().all(|p| p.len() <= 15);
    if value.len() >= 32 && token_chars && mixed && !words && entropy(value) >= 4.0 {
        return Some("a high-entropy string (a key or token)");
    }
    None
}

/// Shannon entropy in bits per character.
/// A name that says its value is where a secret is, not the secret:
/// its last word is a name, an id, an ARN, a path or a parameter
/// (`SecretDBName`, `TOKEN_TABLE`, `PASSWORD_PARAMETER_ARN`).
fn names_a_secret(name: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut last_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
            last_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && last_lower {
            words.push(std::mem::take(&mut word));
        }
        last_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        word.push(c.to_ascii_uppercase());
    }
    words.extend((!word.is_empty()).then_some(word));
    words.last().is_some_and(|w| {
        matches!(
            w.as_str(),
            "NAME" | "ID" | "ARN" | "PATH" | "PARAM" | "PARAMETER" | "TABLE" | "BUCKET" | "REGION"
        )
    })
}

fn entropy(text: &str) -> f64 {
    let mut counts = std::collections::BTreeMap::new();
    for c in text.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = text.chars().count() as f64;
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_a_secret_is_kept_is_no_secret() {
        for (name, value) in [
            ("SecretDBName", "SecretDBName"),
            ("SECRET_NAME", "prod/db/credentials"),
            ("tokenTableName", "tokens-table-main"),
            ("PASSWORD_PARAMETER_ARN", "some-parameter-x"),
        ] {
            assert_eq!(secret_kind(name, value), None, "{name}: {value}");
        }
        assert_eq!(
            secret_kind("SECRET_KEY", "s3cr3t-v4lu3-x"),
            Some("a literal secret")
        );
        assert_eq!(
            secret_kind("DB_PASSWORD", "hunter2hunter2"),
            Some("a literal secret")
        );
    }

    #[test]
    fn a_file_s_name_is_no_secret() {
        assert_eq!(
            secret_kind("GOOGLE_APPLICATION_CREDENTIALS", "firebase.json"),
            None
        );
        assert_eq!(secret_kind("PRIVATE_KEY_FILE", "./keys/app.pem"), None);
        assert!(secret_kind("API_TOKEN", "q8Vx2LpR7mZt4Kc9").is_some());
    }

    #[test]
    fn a_name_built_of_words_is_no_token() {
        assert_eq!(
            secret_kind("CONTAINER", "griffin-autoscheduler-service-dev-EC2Task"),
            None
        );
        assert!(secret_kind("VALUE", "q8Vx2LpR7mZt4Kc9Wb3Nf6Hy1Jd5Gs0A").is_some());
        assert!(secret_kind("VALUE", "ghp_q8Vx2LpR7mZt4Kc9Wb3Nf6Hy1Jd5Gs0A1234").is_some());
    }

    #[test]
    fn a_url_carrying_a_token_is_a_secret_and_a_plain_one_is_not() {
        for url in [
            "https://discord.com/api/webhooks/1123581321345589/Xk3vQ9pLm2Rt7Yb8Wn4Zc6Hd1Jf5Gs0Aa9Qe3Tr7Uy2Io4Pl",
            "https://hooks.slack.com/services/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",
            "https://api.example.com/hook?token=s3cr3tvalue",
        ] {
            assert!(secret_kind("NOTIFY_URL", url).is_some(), "{url}");
        }
        for url in [
            "https://api.example.com/v1/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod",
            "https://example.com/docs?page=2",
        ] {
            assert_eq!(secret_kind("NOTIFY_URL", url), None, "{url}");
        }
    }

    #[test]
    fn secrets_are_told_from_names_and_pointers() {
        assert_eq!(
            secret_kind("KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            Some("an AWS access key id")
        );
        assert_eq!(
            secret_kind("CERT", "-----BEGIN RSA PRIVATE KEY-----\nMII"),
            Some("a private key")
        );
        assert_eq!(
            secret_kind("STRIPE_SECRET", "sk_live_51Habc"),
            Some("a literal secret")
        );
        assert_eq!(
            secret_kind("SIGNING", "q8Vx2LpR7mZt4Kc9Wb3Nf6Hy1Jd5Gs0A"),
            Some("a high-entropy string (a key or token)")
        );
        assert_eq!(
            secret_kind(
                "MONGODB_URI",
                "mongodb+srv://app:Hunter2x@cluster0.example.net/db"
            ),
            Some("a password in a connection string")
        );
        for uri in [
            "postgres://app:<password>@db.example.com/app",
            "https://user@example.com/x",
            "redis://cache.example.com:6379",
        ] {
            assert_eq!(secret_kind("DB_URL", uri), None, "{uri}");
        }
        for (name, value) in [
            ("TABLE_NAME", "tb365-designs-prod"),
            ("PASSWORD_PARAM", "/tb365/prod/db-password"),
            ("TOKEN_TTL", "3600"),
            (
                "SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
            ),
            ("API_KEY_HEADER", "x-api-key value"),
            ("REQUEST_ID", "0f8fad5b-d9cb-469f-a165-70867728950e"),
            ("USE_TOKENS", "true"),
        ] {
            assert_eq!(secret_kind(name, value), None, "{name}={value}");
        }
    }
}
