//! CloudFormation intrinsic functions, decoded once in both spellings: the
//! YAML tag (`!GetAtt Api.Arn`) and the one-key map (`Fn::GetAtt: [Api,
//! Arn]`, `Ref: Table`). Every reader of templates — references, the
//! rules, the smoke driver — asks [`decode`] instead of matching tags and
//! keys itself, and evaluates name expressions with [`evaluate`].

use crate::app::yaml::{Node, Pos, Value};
use crate::app::{template, vars};

/// An intrinsic function the tool understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Ref,
    GetAtt,
    Sub,
    Join,
    ImportValue,
    /// A condition's name (`Condition: IsProd`, `!Condition IsProd`).
    Condition,
    /// The other `Fn::` functions: recognised, so their
    /// arguments are not mistaken for names, but not evaluated.
    Other,
}

impl Function {
    fn from_name(name: &str) -> Option<Function> {
        Some(match name {
            "Ref" => Function::Ref,
            "GetAtt" => Function::GetAtt,
            "Sub" => Function::Sub,
            "Join" => Function::Join,
            "ImportValue" => Function::ImportValue,
            "Condition" => Function::Condition,
            "Base64" | "Cidr" | "FindInMap" | "GetAZs" | "If" | "Select" | "Split" | "Equals"
            | "And" | "Or" | "Not" | "Length" | "ToJsonString" | "Transform" => Function::Other,
            _ => return None,
        })
    }
}

/// One call of an intrinsic function.
#[derive(Debug, Clone, Copy)]
pub struct Call<'n> {
    pub function: Function,
    pub arg: Arg<'n>,
}

/// The argument of a call. In the tag spelling the argument is the tagged
/// node itself, whose tag must then be ignored; in the map spelling it is
/// the map's value, which may itself be a call.
#[derive(Debug, Clone, Copy)]
pub struct Arg<'n> {
    node: &'n Node,
    tag_form: bool,
}

impl<'n> Arg<'n> {
    pub fn pos(&self) -> Pos {
        self.node.pos
    }

    /// The argument as a plain scalar (never a nested call).
    pub fn as_str(&self) -> Option<&'n str> {
        match (&self.node.value, self.tag_form || self.node.tag.is_none()) {
            (Value::Scalar { text, .. }, true) => Some(text),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&'n [Node]> {
        match &self.node.value {
            Value::Seq(items) if self.tag_form || self.node.tag.is_none() => Some(items),
            _ => None,
        }
    }

    /// The argument as a node of its own: in the map spelling only, where
    /// it may be another call (`Fn::ImportValue: !Sub ...`).
    pub fn own_node(&self) -> Option<&'n Node> {
        (!self.tag_form).then_some(self.node)
    }

    /// The argument as a node of its own, its tag dropped in the tag form.
    pub fn to_node(self) -> Node {
        let mut node = self.node.clone();
        if self.tag_form {
            node.tag = None;
        }
        node
    }
}

/// The intrinsic call `node` is, if any.
pub fn decode(node: &Node) -> Option<Call<'_>> {
    if let Some(tag) = node.tag.as_deref() {
        let function = Function::from_name(tag)?;
        return Some(Call {
            function,
            arg: Arg {
                node,
                tag_form: true,
            },
        });
    }
    let Value::Map(entries) = &node.value else {
        return None;
    };
    let [(key, value)] = entries.as_slice() else {
        return None;
    };
    let name = key.as_str()?;
    let function = match name {
        "Ref" | "Condition" => Function::from_name(name)?,
        _ => Function::from_name(name.strip_prefix("Fn::")?)?,
    };
    Some(Call {
        function,
        arg: Arg {
            node: value,
            tag_form: false,
        },
    })
}

/// What is wrong with the shape of a call's argument, as CloudFormation
/// would reject it; `None` when the shape is right (its names are checked
/// elsewhere).
pub fn shape_error(call: &Call) -> Option<&'static str> {
    let arg = call.arg;
    let is_call = |node: &Node| decode(node).is_some();
    let scalar = |node: &Node| node.tag.is_none() && node.as_str().is_some();
    let ok = match call.function {
        Function::Ref => arg.as_str().is_some_and(|s| !s.is_empty()),
        Function::GetAtt => match (arg.as_str(), arg.as_seq()) {
            (Some(text), _) => text
                .split_once('.')
                .is_some_and(|(id, attr)| !id.is_empty() && !attr.is_empty()),
            (_, Some([id, attr])) => scalar(id) && (scalar(attr) || is_call(attr)),
            _ => false,
        },
        Function::Sub => match (arg.as_str(), arg.as_seq()) {
            (Some(_), _) => true,
            (_, Some([template, values])) => scalar(template) && values.as_map().is_some(),
            (_, Some([template])) => scalar(template),
            _ => false,
        },
        Function::Join => match arg.as_seq() {
            Some([delimiter, values]) => {
                scalar(delimiter) && (values.as_seq().is_some() || is_call(values))
            }
            _ => false,
        },
        Function::ImportValue => arg.as_str().is_some() || arg.own_node().is_some_and(is_call),
        Function::Condition | Function::Other => true,
    };
    if ok {
        return None;
    }
    Some(match call.function {
        Function::Ref => "`Ref` takes the name of a resource or parameter",
        Function::GetAtt => "`Fn::GetAtt` takes `Resource.Attribute` or [Resource, Attribute]",
        Function::Sub => "`Fn::Sub` takes a template, or [template, {variables}]",
        Function::Join => "`Fn::Join` takes [delimiter, [values]]",
        Function::ImportValue => {
            "`Fn::ImportValue` takes an export name, or a function that builds one"
        }
        Function::Condition | Function::Other => "",
    })
}

/// `(logical id, attribute)` of a `GetAtt` call with a literal attribute;
/// `None` for another function or a computed attribute.
pub fn getatt_target(call: &Call) -> Option<(String, String)> {
    if call.function != Function::GetAtt {
        return None;
    }
    if let Some(text) = call.arg.as_str() {
        let (id, attr) = text.split_once('.')?;
        return Some((id.to_string(), attr.to_string()));
    }
    match call.arg.as_seq()? {
        [id, attr] => {
            let id = id.as_str().filter(|_| id.tag.is_none())?;
            // The attribute may itself be a `Ref`; only literal ones count.
            let attr = attr.as_str().filter(|_| attr.tag.is_none())?;
            Some((id.to_string(), attr.to_string()))
        }
        _ => None,
    }
}

/// The template of a `Sub` call and the names its variable map defines.
pub fn sub_template<'n>(call: &Call<'n>) -> Option<(&'n str, Vec<&'n str>)> {
    if call.function != Function::Sub {
        return None;
    }
    if let Some(text) = call.arg.as_str() {
        return Some((text, Vec::new()));
    }
    let items = call.arg.as_seq()?;
    let template = items.first()?.as_str()?;
    let locals = items
        .get(1)
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .collect();
    Some((template, locals))
}

/// The names inside `${...}` of an `Fn::Sub` template: not `${!literal}`,
/// not Serverless variables.
pub fn sub_names(text: &str) -> Vec<String> {
    template::placeholders(text)
        .into_iter()
        .map(|p| p.inner)
        .filter(|name| {
            let is_serverless_var = name.contains(':') && !name.contains("::");
            !name.starts_with('!') && !is_serverless_var && !name.contains('{') && !name.is_empty()
        })
        .map(|name| name.trim().to_string())
        .collect()
}

/// Replaces `${Name}` in an `Fn::Sub` template; `${!Literal}` stays literal.
pub fn substitute(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    template::substitute(text, |p| match p.inner.strip_prefix('!') {
        Some(literal) => Some(format!("${{{literal}}}")),
        None => lookup(p.inner),
    })
}

/// What an evaluation knows beyond the template: Serverless variables, and
/// whatever of the stack, its resources and the account's exports the
/// caller can tell. Each lookup answers `None` for "not known".
pub trait Env {
    fn vars(&self) -> &vars::Context<'_>;
    /// `AWS::StackName`: the stack the template is deployed as.
    fn stack_name(&self) -> Option<String>;
    /// `Ref` of a logical id: its physical id.
    fn resource(&self, _logical_id: &str) -> Option<String> {
        None
    }
    /// `Fn::GetAtt` of a logical id and attribute.
    fn attribute(&self, _logical_id: &str, _attribute: &str) -> Option<String> {
        None
    }
    /// `Fn::ImportValue` of an export name.
    fn import(&self, _name: &str) -> Option<String> {
        None
    }
}

/// The value of a name expression — a string with Serverless variables, or
/// `Sub` / `Join` / `Ref` / `GetAtt` / `ImportValue` over them — or `None`
/// when something in it is not known.
pub fn evaluate(node: &Node, env: &dyn Env) -> Option<String> {
    evaluate_depth(node, env, 0)
}

/// How deep calls may nest before evaluation gives up.
const MAX_DEPTH: usize = 32;

fn evaluate_depth(node: &Node, env: &dyn Env, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    let Some(call) = decode(node) else {
        return vars::resolve(node.as_str()?, env.vars());
    };
    // In the map spelling the argument is a node of its own (a string, or
    // another call); in the tag spelling it is the tagged scalar.
    let arg = |call: &Call| -> Option<String> {
        match call.arg.own_node() {
            Some(inner) => evaluate_depth(inner, env, depth + 1),
            None => vars::resolve(call.arg.as_str()?, env.vars()),
        }
    };
    match call.function {
        Function::Ref => {
            let name = arg(&call)?;
            pseudo(&name, env).or_else(|| env.resource(&name))
        }
        Function::ImportValue => env.import(&arg(&call)?),
        Function::GetAtt => {
            let (id, attribute) = getatt_target(&call)?;
            env.attribute(&id, &attribute)
        }
        Function::Join => {
            let items = call.arg.as_seq()?;
            let delimiter = items.first()?.as_str()?;
            let parts: Option<Vec<String>> = items
                .get(1)?
                .as_seq()?
                .iter()
                .map(|p| evaluate_depth(p, env, depth + 1))
                .collect();
            Some(parts?.join(delimiter))
        }
        Function::Sub => {
            let (template, _) = sub_template(&call)?;
            let values = call.arg.as_seq().and_then(|items| items.get(1));
            let template = vars::resolve(template, env.vars())?;
            substitute(&template, |name| {
                if let Some(value) = values.and_then(|v| v.get(name)) {
                    return evaluate_depth(value, env, depth + 1);
                }
                if let Some(value) = pseudo(name, env) {
                    return Some(value);
                }
                match name.split_once('.') {
                    Some((id, attribute)) => env.attribute(id, attribute),
                    None => env.resource(name),
                }
            })
        }
        Function::Condition | Function::Other => None,
    }
}

/// The pseudo parameters whose values are known before deploy.
fn pseudo(name: &str, env: &dyn Env) -> Option<String> {
    match name {
        "AWS::Region" => Some(env.vars().region.to_string()),
        "AWS::StackName" => env.stack_name(),
        "AWS::Partition" => Some("aws".into()),
        "AWS::URLSuffix" => Some("amazonaws.com".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::yaml;
    use std::collections::BTreeMap;
    use std::path::Path;

    struct Known<'a> {
        ctx: vars::Context<'a>,
        resources: BTreeMap<&'static str, &'static str>,
        exports: BTreeMap<&'static str, &'static str>,
    }

    impl Env for Known<'_> {
        fn vars(&self) -> &vars::Context<'_> {
            &self.ctx
        }
        fn stack_name(&self) -> Option<String> {
            Some("web-qa".into())
        }
        fn resource(&self, id: &str) -> Option<String> {
            self.resources.get(id).map(|s| s.to_string())
        }
        fn attribute(&self, id: &str, attribute: &str) -> Option<String> {
            let physical = self.resources.get(id)?;
            (attribute == "Arn").then(|| format!("arn:{physical}"))
        }
        fn import(&self, name: &str) -> Option<String> {
            self.exports.get(name).map(|s| s.to_string())
        }
    }

    fn eval(text: &str) -> Option<String> {
        let doc = yaml::parse(text).unwrap();
        let env = Known {
            ctx: vars::Context {
                stage: "qa",
                region: "eu-west-1",
                doc: &doc,
                file: Path::new("serverless.yml"),
                dir: Path::new("."),
                stage_given: true,
                compose_params: None,
                symbolic: false,
                use_dotenv: false,
            },
            resources: BTreeMap::from([("Table", "qa-table")]),
            exports: BTreeMap::from([("shared-qa-id", "abc")]),
        };
        evaluate(doc.get("v").unwrap(), &env)
    }

    #[test]
    fn both_spellings_decode_to_the_same_call() {
        for text in [
            "v: !GetAtt Table.Arn",
            "v: !GetAtt [Table, Arn]",
            "v:\n  Fn::GetAtt: Table.Arn",
            "v:\n  Fn::GetAtt: [Table, Arn]",
        ] {
            let doc = yaml::parse(text).unwrap();
            let call = decode(doc.get("v").unwrap()).expect(text);
            assert_eq!(call.function, Function::GetAtt, "{text}");
            assert_eq!(
                getatt_target(&call),
                Some(("Table".into(), "Arn".into())),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_calls_are_told_apart_from_good_ones() {
        let shape = |text: &str| {
            let doc = yaml::parse(text).unwrap();
            let node = doc.get("v").unwrap();
            shape_error(&decode(node).expect(text)).is_some()
        };
        for good in [
            "v: !GetAtt A.Arn",
            "v: !GetAtt [A, Arn]",
            "v: !GetAtt [A, !Ref Attr]",
            "v: !Ref A",
            "v: !Sub 'x-${A}'",
            "v: !Sub ['x-${B}', {B: y}]",
            "v: !Join ['-', [a, b]]",
            "v: !Join [',', !Ref List]",
            "v: !ImportValue name",
            "v:\n  Fn::ImportValue: !Sub 'x-${AWS::Region}'",
        ] {
            assert!(!shape(good), "{good}");
        }
        for bad in [
            "v: !GetAtt A",
            "v: !GetAtt [A, B, C, D]",
            "v: !GetAtt []",
            "v:\n  Fn::GetAtt: 7",
            "v: !Ref [x]",
            "v: !Join [a, b, c]",
            "v: !Sub {a: b}",
            "v: !ImportValue [a]",
        ] {
            assert!(shape(bad), "{bad}");
        }
    }

    #[test]
    fn a_map_with_more_than_one_key_is_no_call() {
        let doc = yaml::parse("v:\n  Ref: Table\n  Other: x\n").unwrap();
        assert!(decode(doc.get("v").unwrap()).is_none());
    }

    #[test]
    fn name_expressions_evaluate_in_every_spelling() {
        assert_eq!(eval("v: plain-${sls:stage}").as_deref(), Some("plain-qa"));
        assert_eq!(eval("v: !Ref Table").as_deref(), Some("qa-table"));
        assert_eq!(eval("v: {Ref: AWS::Region}").as_deref(), Some("eu-west-1"));
        assert_eq!(
            eval("v: !Sub '${AWS::StackName}-${Table}-${Table.Arn}'").as_deref(),
            Some("web-qa-qa-table-arn:qa-table")
        );
        assert_eq!(
            eval("v: !Join ['-', [a, !Ref AWS::Region, '${sls:stage}']]").as_deref(),
            Some("a-eu-west-1-qa")
        );
        assert_eq!(
            eval("v:\n  Fn::ImportValue:\n    Fn::Sub: shared-${sls:stage}-id\n").as_deref(),
            Some("abc")
        );
        assert_eq!(
            eval("v: !Sub ['${X}-y', {X: !Ref Table}]").as_deref(),
            Some("qa-table-y")
        );
    }

    #[test]
    fn what_is_not_known_is_none() {
        assert_eq!(eval("v: !Ref Missing"), None);
        assert_eq!(eval("v: !ImportValue nobody-exports-this"), None);
        assert_eq!(eval("v: !If [c, a, b]"), None);
        assert_eq!(eval("v: !GetAtt Table.StreamArn"), None);
    }

    #[test]
    fn sub_names_skip_literals_and_serverless_variables() {
        assert_eq!(
            sub_names("${A}-${!Literal}-${B.Arn}-${opt:stage}-${AWS::Region}"),
            ["A", "B.Arn", "AWS::Region"]
        );
    }
}
