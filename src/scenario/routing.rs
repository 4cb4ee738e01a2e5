//! Routing as the scenario declares it (issue 18): RabbitMQ exchanges and bindings, the routing
//! keys and headers the workload draws, and each group's Kafka subscription. Validated here into
//! typed form; what a message is routed to is decided in [`crate::subscriptions`].
//!
//! Without any of `[[exchanges]]`, `[[bindings]]`, `[workload] exchange`, `routing_keys`, `headers`
//! or a group's `topics`/`subscribe_pattern`/`filter`, [`super::Scenario::routing`] is `None` and
//! every group is owed every message (fanout), as before.

use super::ScenarioError;
use super::raw::{Leaf, RawBinding, RawExchange, RawGroup, RawWorkload};
use std::collections::BTreeMap;

/// At most this many (routing key, header values) combinations: each is routed once, up front.
pub const MAX_ROUTES: usize = 4096;
/// Routing tells groups apart with a 64-bit mask.
pub const MAX_ROUTED_GROUPS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeType {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeType {
    pub fn name(self) -> &'static str {
        match self {
            ExchangeType::Direct => "direct",
            ExchangeType::Fanout => "fanout",
            ExchangeType::Topic => "topic",
            ExchangeType::Headers => "headers",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Exchange {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ExchangeType,
    /// `alternate-exchange`: index into [`Routing::exchanges`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternate: Option<usize>,
}

/// A headers binding's `x-match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum XMatch {
    #[serde(rename = "all")]
    All,
    #[serde(rename = "any")]
    Any,
    #[serde(rename = "all-with-x")]
    AllWithX,
    #[serde(rename = "any-with-x")]
    AnyWithX,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Binding {
    /// Index into [`Routing::exchanges`].
    pub exchange: usize,
    /// The group whose queue is bound.
    pub group: usize,
    pub routing_key: String,
    /// Headers bindings: `x-match` (default `all`) and the other arguments, by name.
    pub x_match: XMatch,
    pub arguments: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Routing {
    pub exchanges: Vec<Exchange>,
    pub bindings: Vec<Binding>,
    /// Where the producer publishes: an index into `exchanges`, or `None` for the default
    /// exchange (`""`: the routing key names the queue).
    pub publish_to: Option<usize>,
    /// Routing keys and their probabilities (summing to 1); `[("", 1)]` when none are given.
    pub routing_keys: Vec<(String, f64)>,
    /// Per header: its values and their probabilities (summing to 1).
    pub headers: Vec<(String, Vec<(String, f64)>)>,
}

/// A group's Kafka subscription (`[[groups]] topics`, `subscribe_pattern`, `filter`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct KafkaSubscription {
    pub topics: KafkaTopics,
    /// `filter = "consumer"`: the group reads every record of the stream and its consumers
    /// discard what it does not want.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub consumer_filter: bool,
}

impl KafkaSubscription {
    pub fn is_default(&self) -> bool {
        *self == KafkaSubscription::default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaTopics {
    /// The group wants what its RabbitMQ bindings route to its queue.
    #[default]
    Mirror,
    /// `topics = [...]`: these topics (routing keys).
    Topics(Vec<String>),
    /// `subscribe_pattern`: the topics the regular expression matches, whole.
    Pattern(String),
}

pub(super) struct Check<'a> {
    pub file: &'a str,
}

type R<T> = Result<T, ScenarioError>;

impl Check<'_> {
    fn err<T>(&self, field: impl Into<String>, message: impl Into<String>) -> R<T> {
        Err(ScenarioError { file: self.file.to_string(), field: Some(field.into()), message: message.into() })
    }

    /// A group's Kafka subscription from its raw fields.
    pub fn subscription(&self, i: usize, g: &RawGroup) -> R<KafkaSubscription> {
        let f = format!("groups[{i}]");
        let topics = match (&g.topics, &g.subscribe_pattern) {
            (Some(_), Some(_)) => {
                return self.err(
                    format!("{f}.subscribe_pattern"),
                    "is not allowed with `topics`: a Kafka consumer subscribes to a list of topics or to a pattern, \
                     not both; keep one",
                );
            }
            (Some(list), None) => {
                if list.is_empty() {
                    return self.err(format!("{f}.topics"), "empty; list at least one topic (a routing key)");
                }
                for (j, t) in list.iter().enumerate() {
                    if !legal_topic(t) {
                        return self.err(
                            format!("{f}.topics[{j}]"),
                            format!(
                                "\"{t}\" is not a Kafka topic name; use 1 to 249 letters, digits, '.', '_' or '-' \
                                 (and not \".\" or \"..\")"
                            ),
                        );
                    }
                }
                KafkaTopics::Topics(list.clone())
            }
            (None, Some(p)) => {
                if let Err(e) = regex_lite::Regex::new(&format!("^(?:{p})$")) {
                    let e = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                    return self.err(
                        format!("{f}.subscribe_pattern"),
                        format!("\"{p}\" is not a regular expression ({e}); e.g. \"order\\\\..*\""),
                    );
                }
                KafkaTopics::Pattern(p.clone())
            }
            (None, None) => KafkaTopics::Mirror,
        };
        let consumer_filter = match g.filter.as_deref() {
            None | Some("broker") => false,
            Some("consumer") => true,
            Some(other) => {
                return self.err(
                    format!("{f}.filter"),
                    format!(
                        "\"{other}\" is not allowed; allowed: \"consumer\" (read every record, discard in the \
                         consumer) or \"broker\" (the default: read only the subscribed topics)"
                    ),
                );
            }
        };
        Ok(KafkaSubscription { topics, consumer_filter })
    }

    /// The routing of a scenario, or `None` when nothing about it was written.
    pub fn routing(
        &self,
        exchanges: Option<Vec<RawExchange>>,
        bindings: Option<Vec<RawBinding>>,
        w: Option<&RawWorkload>,
        group_names: &[String],
        any_subscription: bool,
    ) -> R<Option<Routing>> {
        let (exchange, keys, headers) = match w {
            Some(w) => (w.exchange.clone(), w.routing_keys.clone(), w.headers.clone()),
            None => (None, None, None),
        };
        if exchanges.is_none()
            && bindings.is_none()
            && exchange.is_none()
            && keys.is_none()
            && headers.is_none()
            && !any_subscription
        {
            return Ok(None);
        }
        if group_names.len() > MAX_ROUTED_GROUPS {
            return self.err(
                "groups",
                format!(
                    "{} groups with routing; at most {MAX_ROUTED_GROUPS} are allowed when exchanges, bindings, routing \
                     keys or Kafka subscriptions are set",
                    group_names.len()
                ),
            );
        }
        let mut xs: Vec<Exchange> = Vec::new();
        let raw_x = exchanges.unwrap_or_default();
        for (i, x) in raw_x.iter().enumerate() {
            let f = format!("exchanges[{i}]");
            if x.name.is_empty() {
                return self.err(
                    format!("{f}.name"),
                    "\"\" is the default exchange, which every queue is bound to by its name; it cannot be declared",
                );
            }
            if x.name.starts_with("amq.") {
                return self.err(
                    format!("{f}.name"),
                    format!("\"{}\" is not allowed; RabbitMQ reserves names starting with \"amq.\"", x.name),
                );
            }
            if xs.iter().any(|o| o.name == x.name) {
                return self
                    .err(format!("{f}.name"), format!("\"{}\" is declared twice; names must be unique", x.name));
            }
            let kind = match x.kind.as_deref() {
                Some("direct") => ExchangeType::Direct,
                Some("fanout") => ExchangeType::Fanout,
                Some("topic") => ExchangeType::Topic,
                Some("headers") => ExchangeType::Headers,
                Some(other) => {
                    return self.err(
                        format!("{f}.type"),
                        format!(
                            "\"{other}\" is not an exchange type; allowed: \"direct\", \"fanout\", \"topic\", \"headers\""
                        ),
                    );
                }
                None => {
                    return self
                        .err(format!("{f}.type"), "missing; allowed: \"direct\", \"fanout\", \"topic\", \"headers\"");
                }
            };
            xs.push(Exchange { name: x.name.clone(), kind, alternate: None });
        }
        let names: Vec<String> = xs.iter().map(|x| x.name.clone()).collect();
        let find_x = |field: String, name: &str| -> R<usize> {
            match names.iter().position(|n| n == name) {
                Some(i) => Ok(i),
                None => self.err(
                    field,
                    format!("\"{name}\" is not a declared exchange; declared: {}", quoted_list(&names, "none")),
                ),
            }
        };
        for (i, x) in raw_x.iter().enumerate() {
            if let Some(ae) = &x.alternate_exchange {
                let j = find_x(format!("exchanges[{i}].alternate_exchange"), ae)?;
                xs[i].alternate = Some(j);
            }
        }
        let mut bs = Vec::new();
        for (i, b) in bindings.unwrap_or_default().iter().enumerate() {
            let f = format!("bindings[{i}]");
            if b.exchange.is_empty() {
                return self.err(
                    format!("{f}.exchange"),
                    "\"\" is the default exchange: every queue is bound to it by its name already, and RabbitMQ \
                     refuses other bindings to it; name a declared exchange",
                );
            }
            let exchange = find_x(format!("{f}.exchange"), &b.exchange)?;
            let Some(group) = group_names.iter().position(|n| *n == b.queue) else {
                return self.err(
                    format!("{f}.queue"),
                    format!(
                        "\"{}\" is not a queue; a group's queue is named after the group: {}",
                        b.queue,
                        quoted_list(group_names, "none")
                    ),
                );
            };
            let kind = xs[exchange].kind;
            let mut x_match = XMatch::All;
            let mut arguments = BTreeMap::new();
            if let Some(args) = &b.arguments {
                if kind != ExchangeType::Headers {
                    return self.err(
                        format!("{f}.arguments"),
                        format!(
                            "matching arguments need a headers exchange; \"{}\" is a {} exchange: use routing_key",
                            b.exchange,
                            kind.name()
                        ),
                    );
                }
                for (k, v) in args {
                    let Leaf::Text(v) = v else {
                        return self.err(
                            format!("{f}.arguments.{k}"),
                            "is not a string; header values are strings here (as the workload's `headers`)",
                        );
                    };
                    if k == "x-match" {
                        x_match = match v.as_str() {
                            "all" => XMatch::All,
                            "any" => XMatch::Any,
                            "all-with-x" => XMatch::AllWithX,
                            "any-with-x" => XMatch::AnyWithX,
                            other => {
                                return self.err(
                                    format!("{f}.arguments.x-match"),
                                    format!(
                                        "\"{other}\" is not allowed; expected \"all\", \"any\", \"all-with-x\" or \
                                         \"any-with-x\" (as RabbitMQ's headers exchange)"
                                    ),
                                );
                            }
                        };
                    } else {
                        arguments.insert(k.clone(), v.clone());
                    }
                }
            }
            let routing_key = b.routing_key.clone().unwrap_or_default();
            if kind == ExchangeType::Topic && routing_key.len() > 255 {
                return self.err(format!("{f}.routing_key"), "longer than 255 bytes, which AMQP refuses");
            }
            bs.push(Binding { exchange, group, routing_key, x_match, arguments });
        }
        let publish_to = match exchange.as_deref() {
            Some("") => None,
            Some(name) => Some(find_x("workload.exchange".into(), name)?),
            None if xs.is_empty() => None,
            None => Some(0),
        };
        let routing_keys = match keys {
            None => vec![(String::new(), 1.0)],
            Some(t) => self.weights("workload.routing_keys", &t)?,
        };
        for (k, _) in &routing_keys {
            if k.len() > 255 {
                return self
                    .err("workload.routing_keys", format!("\"{k}\" is longer than 255 bytes, which AMQP refuses"));
            }
        }
        let mut hs = Vec::new();
        for (name, values) in headers.unwrap_or_default() {
            if name == "x-match" {
                return self
                    .err("workload.headers.x-match", "is a binding argument, not a message header; rename the header");
            }
            hs.push((name.clone(), self.weights(&format!("workload.headers.{name}"), &values)?));
        }
        let routes = hs.iter().fold(routing_keys.len(), |n, (_, v)| n.saturating_mul(v.len()));
        if routes > MAX_ROUTES {
            return self.err(
                "workload.headers",
                format!(
                    "{routes} combinations of routing key and header values; at most {MAX_ROUTES} are allowed; use \
                     fewer keys or values"
                ),
            );
        }
        Ok(Some(Routing { exchanges: xs, bindings: bs, publish_to, routing_keys, headers: hs }))
    }

    /// Weights -> probabilities, in name order.
    fn weights(&self, field: &str, t: &BTreeMap<String, f64>) -> R<Vec<(String, f64)>> {
        if t.is_empty() {
            return self.err(field, "empty; give at least one name with a positive weight, e.g. { \"a.b\" = 1 }");
        }
        for (k, w) in t {
            if !w.is_finite() || *w <= 0.0 {
                return self
                    .err(format!("{field}.{k}"), format!("{w} is not allowed; a weight must be finite and > 0"));
            }
        }
        let sum: f64 = t.values().sum();
        Ok(t.iter().map(|(k, w)| (k.clone(), w / sum)).collect())
    }
}

/// Kafka's `Topic.validate`: 1 to 249 of `[a-zA-Z0-9._-]`, not "." or "..".
fn legal_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t != "."
        && t != ".."
        && t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn quoted_list(names: &[String], empty: &str) -> String {
    if names.is_empty() {
        return empty.to_string();
    }
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}
