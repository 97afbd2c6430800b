//! The security review, a rule family of the audit: what the app's files
//! grant, expose or leak. Some rules hold on every stage (a secret written
//! into a function's environment, an IAM wildcard, CORS open to any origin
//! with credentials, a user pool open to sign-up that deploy.toml says is
//! not); the rest only on protected stages, where data and users are real
//! (buckets that turn public-access blocking off or keep no versions, tables without
//! point-in-time recovery, routes without an authorizer, a user pool whose
//! password policy is weaker than Cognito's default). The review as a whole
//! (these, deprecated runtimes and unwatched functions) is composed in
//! `rules/mod.rs`.
//!
//! Values are resolved for the stage the way the CLI resolves them; a value
//! only the deploy can tell is not judged. Precision comes before count:
//! each rule fires on what is written, never on a guess.

use crate::app::diag::Finding;
use crate::app::routes;
use crate::app::stage::Stage;
use crate::app::vars;
use crate::app::yaml::{Node, Pos};
use crate::app::Service;

use super::iam::{every_resource, star_only, RESOURCE_SCOPED};

pub const IAM_WILDCARD: &str = "iam-wildcard";
pub const CORS_ANY_ORIGIN_WITH_CREDENTIALS: &str = "cors-any-origin-with-credentials";
pub const BUCKET_PUBLIC_ACCESS: &str = "bucket-public-access";
pub const BUCKET_UNVERSIONED: &str = "bucket-unversioned";
pub const TABLE_WITHOUT_PITR: &str = "table-without-pitr";
pub const OPEN_ROUTE: &str = "open-route";
pub const WEAK_PASSWORD_POLICY: &str = "weak-password-policy";
pub const SELF_SIGN_UP: &str = "self-sign-up";

/// The rules of the review that hold on every stage, for one service.
pub(super) fn every_stage(service: &Service, stage: &Stage, out: &mut Vec<Finding>) {
    let review = Review::new(service, stage);
    review.environment(out);
    review.secret_values(out);
    review.iam(out);
    review.cors(out);
    review.sign_up(out);
    review.principals(out);
}

/// The rules of the review that hold on protected stages, for one service.
pub(super) fn protected(service: &Service, stage: &Stage, out: &mut Vec<Finding>) {
    let review = Review::new(service, stage);
    review.buckets(out);
    review.tables(out);
    review.routes(out);
    review.user_pools(out);
}

pub(super) struct Review<'a> {
    pub(super) service: &'a Service,
    pub(super) stage: &'a Stage,
    ctx: vars::Context<'a>,
}

impl<'a> Review<'a> {
    fn new(service: &'a Service, stage: &'a Stage) -> Review<'a> {
        Review {
            service,
            stage,
            ctx: service.vars(stage),
        }
    }

    /// A value as the CLI will see it for the stage; `None` when only the
    /// deploy can tell.
    fn value(&self, node: &Node) -> Option<String> {
        node.as_str()
            .and_then(|text| vars::evaluate(text, &self.ctx).known())
    }

    fn is_true(&self, node: Option<&Node>) -> bool {
        node.and_then(|n| self.value(n))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub(super) fn finding(
        &self,
        pos: Pos,
        rule: &'static str,
        message: String,
        fix: String,
    ) -> Finding {
        Finding::new(&self.service.file, pos, rule, message, fix)
    }

    pub(super) fn resources(&self, ty: &str) -> Vec<(&std::path::Path, &Node, &Node)> {
        self.service
            .entries("Resources")
            .into_iter()
            .filter(|(_, _, r)| r.get("Type").and_then(Node::as_str) == Some(ty))
            .collect()
    }

    /// IAM statements that allow every action, every action of a service,
    /// or an action that takes resource ARNs on every resource.
    fn iam(&self, out: &mut Vec<Finding>) {
        let doc = &self.service.doc;
        let own = self.service.file.as_path();
        // Statement lists of the service, and each statement, may be kept
        // elsewhere (`${self:custom.x}`, `${file(../common.yml):x}`): each
        // is judged where it is written.
        // The provider's statements go into the role the framework makes
        // for the functions: a service without functions has no such role,
        // nor one whose functions each run as a role of their own (or all
        // as one the provider names).
        let functions = self.service.functions();
        let provider_role = doc.path(&["provider", "role"]).is_some()
            || doc
                .path(&["provider", "iam", "role"])
                .is_some_and(|r| r.as_map().is_none());
        let role_made = match functions.is_empty() {
            // Functions kept where they cannot be read: as if made.
            true => doc.get("functions").is_some() && !provider_role,
            false => !provider_role && functions.iter().any(|(_, f)| f.get("role").is_none()),
        };
        let mut lists: Vec<&Node> = [
            &["provider", "iam", "role", "statements"][..],
            &["provider", "iamRoleStatements"],
        ]
        .iter()
        .filter(|_| role_made)
        .filter_map(|path| doc.path(path))
        .collect();
        lists.extend(
            doc.get("functions")
                .and_then(Node::as_map)
                .unwrap_or_default()
                .iter()
                .filter_map(|(_, function)| function.get("iamRoleStatements")),
        );
        let mut kept: Vec<(std::path::PathBuf, Node)> = Vec::new();
        for list in lists {
            let (file, list) = self.service.followed(own, list);
            for item in list.as_seq().unwrap_or_default() {
                kept.push(self.service.followed(&file, item));
            }
        }
        // Each statement with the file it is written in (resources may
        // come from files pulled in with `${file()}`).
        let mut statements: Vec<(&std::path::Path, &Node)> = kept
            .iter()
            .map(|(file, node)| (file.as_path(), node))
            .collect();
        for (file, _, role) in self.resources("AWS::IAM::Role") {
            for policy in role
                .path(&["Properties", "Policies"])
                .and_then(Node::as_seq)
                .unwrap_or_default()
            {
                statements.extend(
                    statement_list(policy.path(&["PolicyDocument", "Statement"]))
                        .into_iter()
                        .map(|s| (file, s)),
                );
            }
        }
        for ty in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
            for (file, _, policy) in self.resources(ty) {
                statements.extend(
                    statement_list(policy.path(&["Properties", "PolicyDocument", "Statement"]))
                        .into_iter()
                        .map(|s| (file, s)),
                );
            }
        }
        for (file, statement) in statements {
            // A statement written in another file (a shared one, another
            // service's) is used by this service, not its own.
            let whose = if file == self.service.file {
                format!("of {}", self.service.key)
            } else {
                format!("used by {}", self.service.key)
            };
            if let Some(mut finding) = self.statement(statement, &whose) {
                finding.file = file.to_path_buf();
                out.push(finding);
            }
        }
        self.managed_policies(role_made, out);
    }

    /// AWS's own managed policies that grant every action of a service (or
    /// of all) on every resource: `AdministratorAccess`, `…FullAccess`,
    /// attached to a role of the stack or to the functions' role (where
    /// the framework makes one: `role_made`).
    fn managed_policies(&self, role_made: bool, out: &mut Vec<Finding>) {
        let mut lists: Vec<(std::path::PathBuf, Node)> = Vec::new();
        if role_made {
            if let Some(list) =
                self.service
                    .doc
                    .path(&["provider", "iam", "role", "managedPolicies"])
            {
                lists.push(self.service.followed(&self.service.file, list));
            }
        }
        for (file, _, role) in self.resources("AWS::IAM::Role") {
            if let Some(list) = role.path(&["Properties", "ManagedPolicyArns"]) {
                lists.push(self.service.followed(file, list));
            }
        }
        for (file, list) in lists {
            for arn in list.as_seq().unwrap_or_default() {
                let text = match arn.as_str() {
                    Some(text) => text.to_string(),
                    None => match arn.get("Fn::Sub").and_then(Node::as_str) {
                        Some(text) => text.to_string(),
                        None => continue,
                    },
                };
                let Some((_, name)) = text.split_once(":iam::aws:policy/") else {
                    continue;
                };
                let name = name.rsplit('/').next().unwrap_or(name);
                let wide = name == "AdministratorAccess" || name.ends_with("FullAccess");
                if !wide {
                    continue;
                }
                out.push(Finding::new(
                    &file,
                    arn.pos,
                    IAM_WILDCARD,
                    format!(
                        "the AWS managed policy `{name}` on a role of {} grants every action it covers on every resource of the account",
                        self.service.key
                    ),
                    "attach a policy of the actions the code calls, on the resources it uses (statements in `provider.iam.role.statements`, or the role's `Policies`)".to_string(),
                ));
            }
        }
    }

    fn statement(&self, statement: &Node, whose: &str) -> Option<Finding> {
        let effect = statement.get("Effect").and_then(|n| self.value(n));
        if effect.as_deref() != Some("Allow") {
            return None;
        }
        let actions = strings(statement.get("Action"));
        let resources = strings(statement.get("Resource"));
        let at = statement
            .get("Action")
            .map(|n| n.pos)
            .unwrap_or(statement.pos);
        if actions.iter().any(|a| a == "*") {
            return Some(
                self.finding(
                    at,
                    IAM_WILDCARD,
                    format!("an IAM statement {whose} allows every action (`Action: '*'`)"),
                    "list the actions the functions call (e.g. `dynamodb:GetItem`, `s3:PutObject`)"
                        .into(),
                ),
            );
        }
        // Every service the statement opens whole, named together: a fix
        // of the first alone would leave the rest.
        let wide: Vec<&String> = actions.iter().filter(|a| a.ends_with(":*")).collect();
        if !wide.is_empty() {
            let services: Vec<String> = wide
                .iter()
                .map(|w| format!("`{}`", w.trim_end_matches(":*")))
                .collect();
            let written: Vec<String> = wide.iter().map(|w| format!("`{w}`")).collect();
            let services = services.join(" and ");
            return Some(self.finding(
                at,
                IAM_WILDCARD,
                format!(
                    "an IAM statement {whose} allows every {services} action ({})",
                    written.join(", ")
                ),
                format!(
                    "list the {services} actions the functions call, on the resources they use"
                ),
            ));
        }
        // Every resource: `*`, or an ARN of wildcards (`arn:aws:sqs:*:*:*`)
        // for the service of the action; a condition may narrow either
        // (`kms:ViaService`, `iam:AWSServiceName`), so a statement with one
        // is not judged.
        let every = |prefix: &str| {
            resources.iter().find(|r| {
                statement.get("Condition").is_none()
                    && (*r == "*" || every_resource(r) == Some(prefix))
            })
        };
        // An action AWS allows on `*` only (`dynamodb:ListTables`) grants
        // nothing more for being on `*`.
        let (scoped, wide) = actions
            .iter()
            .filter(|a| !star_only(a) && !lambda_vpc_access(a))
            .find_map(|a| {
                let prefix = a.split(':').next()?;
                let scoped = RESOURCE_SCOPED.iter().find(|s| s.prefix == prefix)?;
                Some((scoped, every(prefix)?))
            })?;
        // A text message to a phone number has no ARN: `sns:Publish` on
        // `*` is the only way, unless the service has topics.
        let sms_only = scoped.prefix == "sns"
            && actions
                .iter()
                .all(|a| a.eq_ignore_ascii_case("sns:Publish"))
            && self.resources(scoped.ty).is_empty();
        if sms_only {
            return None;
        }
        let plural = scoped.plural;
        // Only a type with an `Arn` attribute is named by `!GetAtt`.
        let has_arn = crate::cfn::attributes(scoped.ty).is_some_and(|a| a.contains(&"Arn"));
        let own: Vec<String> = self
            .resources(scoped.ty)
            .iter()
            .filter(|_| has_arn)
            .filter_map(|(_, id, _)| id.as_str())
            .map(|id| format!("`!GetAtt {id}.Arn`"))
            .collect();
        let fix = if own.is_empty() {
            format!("scope `Resource` to the ARNs of the {plural} the functions use (imported with `!ImportValue`, or built with `Fn::Sub`)")
        } else {
            format!(
                "scope `Resource` to the {plural} the functions use, e.g. {}",
                own.join(", ")
            )
        };
        let at = statement.get("Resource").map(|n| n.pos).unwrap_or(at);
        Some(self.finding(
            at,
            IAM_WILDCARD,
            format!(
                "an IAM statement {whose} allows `{}:` actions on every resource (`Resource: '{wide}'`): every {} of the account",
                scoped.prefix,
                scoped.singular
            ),
            fix,
        ))
    }

    /// CORS that lets any origin send the user's credentials: every site
    /// the user visits may call the API as the user.
    fn cors(&self, out: &mut Vec<Finding>) {
        let service = self.service;
        let own = service.file.as_path();
        // Each with the file it is written in: a setting kept in a shared
        // file (`cors: ${file(../common.yml):cors}`) is judged there.
        let mut configs: Vec<((std::path::PathBuf, Node), &str, &str)> = Vec::new();
        if let Some(api) = service.doc.path(&["provider", "httpApi"]) {
            let (file, api) = service.followed(own, api);
            if let Some(cors) = api.get("cors") {
                let cors = service.followed(&file, cors);
                configs.push((cors, "allowedOrigins", "allowCredentials"));
            }
        }
        for event in service.events() {
            if let Some(cors) = event.path(&["http", "cors"]) {
                configs.push((service.followed(own, cors), "origins", "allowCredentials"));
            }
        }
        for ((file, cors), origins_key, credentials_key) in configs {
            let cors = &cors;
            if !self.is_true(cors.get(credentials_key)) {
                continue;
            }
            let mut origins = strings(cors.get(origins_key));
            // A REST API's one `origin` is sent as it is, and a browser
            // never sends credentials to a literal `*`; a list (`origins`,
            // or an `origin` with commas) is matched against the request's
            // own origin, which is then sent back: `*` there lets any site in.
            let origin = strings(cors.get("origin"));
            if origin.iter().any(|o| o.contains(',')) {
                origins.extend(
                    origin
                        .iter()
                        .flat_map(|o| o.split(',').map(|p| p.trim().to_string())),
                );
            }
            // `allowedOrigins` unset means `*` in the framework.
            let any = origins.iter().any(|o| o == "*")
                || (origins.is_empty() && origins_key == "allowedOrigins");
            if any {
                let mut finding = self.finding(
                    cors.pos,
                    CORS_ANY_ORIGIN_WITH_CREDENTIALS,
                    format!("CORS of {} allows any origin together with credentials: any site may call the API as its user", self.service.key),
                    format!("list the origins that may call it (`{origins_key}: [https://app.example.com]`), or drop `{credentials_key}`"),
                );
                finding.file = file;
                out.push(finding);
            }
        }
    }

    fn buckets(&self, out: &mut Vec<Finding>) {
        for (file, id, bucket) in self.resources("AWS::S3::Bucket") {
            let name = id.as_str().unwrap_or_default();
            let pos = bucket.get("Type").map(|t| t.pos).unwrap_or(id.pos);
            let props = bucket.get("Properties");
            // A website bucket is public on purpose.
            let website = props.and_then(|p| p.get("WebsiteConfiguration")).is_some();
            // Without the block, S3 turns all four settings on for a new
            // bucket (since April 2023); a block written out turns off
            // every setting it leaves out or sets false.
            let block = props.and_then(|p| p.get("PublicAccessBlockConfiguration"));
            let open: Vec<&str> = [
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "IgnorePublicAcls",
                "RestrictPublicBuckets",
            ]
            .into_iter()
            .filter(|flag| !self.is_true(block.and_then(|b| b.get(flag))))
            .collect();
            if !website && block.is_some() && !open.is_empty() {
                out.push(Finding::new(
                    file,
                    pos,
                    BUCKET_PUBLIC_ACCESS,
                    format!(
                        "bucket `{name}` of {} on protected stage {} turns public-access blocking off ({} not true in its PublicAccessBlockConfiguration; a setting left out is off): one policy or ACL change away from public",
                        self.service.key,
                        self.stage,
                        open.join(", ")
                    ),
                    "set `BlockPublicAcls`, `BlockPublicPolicy`, `IgnorePublicAcls` and `RestrictPublicBuckets` all `true`, or leave the block out (S3 blocks all four by default)",
                ));
            }
            let versioned = props
                .and_then(|p| p.path(&["VersioningConfiguration", "Status"]))
                .and_then(|n| self.value(n));
            if versioned.as_deref() != Some("Enabled") {
                out.push(Finding::new(
                    file,
                    pos,
                    BUCKET_UNVERSIONED,
                    format!(
                        "bucket `{name}` of {} on protected stage {} keeps no versions: an overwrite or delete cannot be undone",
                        self.service.key, self.stage
                    ),
                    "add `VersioningConfiguration: { Status: Enabled }` (with a lifecycle rule expiring old versions)",
                ));
            }
        }
    }

    fn tables(&self, out: &mut Vec<Finding>) {
        for ty in ["AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"] {
            for (file, id, table) in self.resources(ty) {
                let pitr = table.path(&[
                    "Properties",
                    "PointInTimeRecoverySpecification",
                    "PointInTimeRecoveryEnabled",
                ]);
                // A global table sets it per replica.
                let replicas = table
                    .path(&["Properties", "Replicas"])
                    .and_then(Node::as_seq)
                    .is_some_and(|r| {
                        !r.is_empty()
                            && r.iter().all(|replica| {
                                self.is_true(replica.path(&[
                                    "PointInTimeRecoverySpecification",
                                    "PointInTimeRecoveryEnabled",
                                ]))
                            })
                    });
                if self.is_true(pitr) || replicas {
                    continue;
                }
                // Only the deploy can tell: not judged.
                if pitr.is_some_and(|n| self.value(n).is_none()) {
                    continue;
                }
                out.push(Finding::new(
                    file,
                    table.get("Type").map(|t| t.pos).unwrap_or(id.pos),
                    TABLE_WITHOUT_PITR,
                    format!(
                        "table `{}` of {} on protected stage {} has no point-in-time recovery: a bad write cannot be undone to the second",
                        id.as_str().unwrap_or_default(),
                        self.service.key,
                        self.stage
                    ),
                    "add `PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }`",
                ));
            }
        }
    }

    /// Routes anyone may call on a protected stage, unless deploy.toml says
    /// they are public on purpose.
    fn routes(&self, out: &mut Vec<Finding>) {
        let public: Vec<(String, String)> = self
            .service
            .declared
            .public
            .iter()
            .filter_map(|r| crate::app::manifest::parse_route(r))
            .collect();
        for route in routes::routes(self.service, self.stage) {
            if route.authorizer.is_some() || route.private {
                continue;
            }
            let listed = public
                .iter()
                .any(|(m, p)| (m == &route.method || m == "*" || m == "ANY") && p == &route.path);
            if listed {
                continue;
            }
            out.push(self.finding(
                Pos {
                    line: route.line,
                    col: route.col,
                },
                OPEN_ROUTE,
                format!(
                    "{} {} of {} has no authorizer: on protected stage {} anyone may call it",
                    route.method, route.path, self.service.key, self.stage
                ),
                format!(
                    "give it an `authorizer`, or, if it is public on purpose (a health check), list it in deploy.toml: `[services.{}] public = [\"{} {}\"]`",
                    self.service.key, route.method, route.path
                ),
            ));
        }
    }

    /// A user pool anyone may sign up to, in a service deploy.toml says
    /// lets only admins create users (`self_sign_up = false`). Cognito's
    /// default is open: `AdminCreateUserConfig.AllowAdminCreateUserOnly`
    /// must be true. Checked on every stage: the team said so of the
    /// service, not of a stage.
    fn sign_up(&self, out: &mut Vec<Finding>) {
        if self.service.declared.self_sign_up != Some(false) {
            return;
        }
        for (file, id, pool) in self.resources("AWS::Cognito::UserPool") {
            let only = pool.path(&[
                "Properties",
                "AdminCreateUserConfig",
                "AllowAdminCreateUserOnly",
            ]);
            if self.is_true(only) {
                continue;
            }
            let pos = only
                .or_else(|| pool.path(&["Properties", "AdminCreateUserConfig"]))
                .or_else(|| pool.get("Properties"))
                .map_or(id.pos, |n| n.pos);
            out.push(Finding::new(
                file,
                pos,
                SELF_SIGN_UP,
                format!(
                    "user pool `{}` of {} lets anyone sign up on stage {}, but deploy.toml says `self_sign_up = false` for the service",
                    id.as_str().unwrap_or_default(),
                    self.service.key,
                    self.stage
                ),
                "set `AdminCreateUserConfig: { AllowAdminCreateUserOnly: true }` on the pool (or drop `self_sign_up = false` from deploy.toml if sign-up is meant to be open)",
            ));
        }
    }

    /// A password policy weaker than the one Cognito applies when none is
    /// given (8 characters with every kind).
    fn user_pools(&self, out: &mut Vec<Finding>) {
        for (file, id, pool) in self.resources("AWS::Cognito::UserPool") {
            let Some(policy) = pool.path(&["Properties", "Policies", "PasswordPolicy"]) else {
                continue;
            };
            let mut weak = Vec::new();
            if let Some(length) = policy.get("MinimumLength").and_then(|n| self.value(n)) {
                if length.parse::<u32>().is_ok_and(|n| n < 8) {
                    weak.push(format!("a minimum length of {length}"));
                }
            }
            for flag in [
                "RequireLowercase",
                "RequireUppercase",
                "RequireNumbers",
                "RequireSymbols",
            ] {
                let value = policy.get(flag).and_then(|n| self.value(n));
                if value.is_some_and(|v| v.eq_ignore_ascii_case("false")) {
                    weak.push(format!("{flag}: false"));
                }
            }
            if weak.is_empty() {
                continue;
            }
            out.push(Finding::new(
                file,
                policy.pos,
                WEAK_PASSWORD_POLICY,
                format!(
                    "user pool `{}` of {} on protected stage {} accepts weaker passwords than Cognito's default ({})",
                    id.as_str().unwrap_or_default(),
                    self.service.key,
                    self.stage,
                    weak.join(", ")
                ),
                "require at least 8 characters with lower and upper case, numbers and symbols (or leave `PasswordPolicy` out for Cognito's default)",
            ));
        }
    }
}

/// A statement list: a sequence, or one statement.
fn statement_list(node: Option<&Node>) -> Vec<&Node> {
    match node {
        Some(n) => match n.as_seq() {
            Some(items) => items.iter().collect(),
            None => vec![n],
        },
        None => Vec::new(),
    }
}

/// A string or a list of strings, as written.
/// What AWS's own `AWSLambdaVPCAccessExecutionRole` grants on `*`: the
/// network interfaces Lambda makes in the VPC for a function, which a
/// policy written before they exist cannot name.
fn lambda_vpc_access(action: &str) -> bool {
    const ACTIONS: &[&str] = &[
        "ec2:assignprivateipaddresses",
        "ec2:createnetworkinterface",
        "ec2:deletenetworkinterface",
        "ec2:detachnetworkinterface",
        "ec2:describenetworkinterfaces",
        "ec2:describesubnets",
        "ec2:unassignprivateipaddresses",
    ];
    ACTIONS.contains(&action.to_ascii_lowercase().as_str())
}

/// The texts of a value or a list of them: a string, an `Fn::Sub`, or an
/// `Fn::Join` of strings and the pseudo parameters (`arn:aws:execute-api:`,
/// `Ref: AWS::Region`, `:*/*`), as `Fn::Sub` would write it.
fn strings(node: Option<&Node>) -> Vec<String> {
    let text = |n: &Node| {
        n.as_str()
            .map(str::to_string)
            .or_else(|| crate::cfn::named::text_of(n).map(|t| t.into_owned()))
    };
    match node {
        Some(n) => match n.as_seq() {
            Some(items) => items.iter().filter_map(text).collect(),
            None => text(n).into_iter().collect(),
        },
        None => Vec::new(),
    }
}
