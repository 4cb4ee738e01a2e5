//! Who is owed what (issue 18). The one place that decides, for each message, which groups are
//! owed it, in each system: the checker's `owed`, the recorder's `published`, the plan's estimates
//! and both models ask [`Subscriptions`] instead of assuming fanout.
//!
//! A message's routing key and header values are drawn per message id from their own keyed stream
//! ([`Stream::Routing`]), so they are the same in both systems and disturb no other stream: a
//! scenario without routing draws nothing and runs as before, byte for byte.
//!
//! RabbitMQ's matching follows the broker's source (see docs/routing.md): topic keys split on `.`
//! (an empty key is zero words), `*` is exactly one word, `#` zero or more; headers bindings match
//! with `x-match` `all` (the default) or `any`, skipping arguments that start with `x-`, while
//! `all-with-x` and `any-with-x` skip only `x-match`; an exchange that routes a message to no queue
//! hands it to its alternate exchange, if any.

use crate::engine::rng::{self, Stream};
use crate::scenario::routing::{ExchangeType, KafkaTopics, Routing, XMatch};
use crate::scenario::{Scenario, SystemKind};
use crate::workload::MessageId;

/// Whether bit `g` of a group mask is set. Without routing the mask is `u64::MAX`, meaning every
/// group, however many there are (routing allows at most 64).
#[inline(always)]
pub fn has(mask: u64, g: usize) -> bool {
    g >= 64 || (mask >> g) & 1 != 0
}

/// What RabbitMQ does with a message that reaches no queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unrouted {
    /// `mandatory`: returned to the producer (`basic.return`), then confirmed.
    Returned,
    /// Confirmed and dropped.
    Dropped,
}

/// One combination of routing key and header values, routed once.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Route {
    /// Index of the routing key (Kafka: the topic).
    key: usize,
    /// Groups whose queues the exchanges route it to (bit `g`).
    rabbitmq: u64,
    /// Kafka: groups that want it, and groups whose consumers fetch it (a superset).
    kafka_owed: u64,
    kafka_fetched: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Subscriptions {
    seed: u64,
    /// Cumulative probabilities of the routing keys.
    keys: Vec<f64>,
    /// Per header, cumulative probabilities of its values.
    headers: Vec<Vec<f64>>,
    routes: Vec<Route>,
    mandatory: bool,
    /// Groups whose Kafka consumers discard records in the application (`filter = "consumer"`).
    consumer_filter: u64,
    /// Kafka: groups that receive every record.
    kafka_fetch_all: u64,
    groups: usize,
    /// Per group with a dead-letter exchange, per route: the queues (bit `g`) its dead letters go
    /// to through that exchange, with its `dead_letter_routing_key` or the message's own key.
    /// Empty for a group without one.
    dead_letter: Vec<Vec<u64>>,
}

impl Subscriptions {
    /// `None` without routing: every group is owed every message.
    pub fn new(s: &Scenario) -> Option<Subscriptions> {
        let r = s.routing.as_ref()?;
        let radix: Vec<usize> = r.headers.iter().map(|(_, v)| v.len()).collect();
        let per_key: usize = radix.iter().product();
        let mut routes = Vec::with_capacity(r.routing_keys.len() * per_key);
        let mut dead_letter: Vec<Vec<u64>> = vec![Vec::new(); s.groups.len()];
        for (k, (key, _)) in r.routing_keys.iter().enumerate() {
            for combo in 0..per_key {
                let mut rest = combo;
                let mut headers = Vec::with_capacity(radix.len());
                for (h, (name, values)) in r.headers.iter().enumerate().rev() {
                    headers.push((name.as_str(), values[rest % radix[h]].0.as_str()));
                    rest /= radix[h];
                }
                headers.reverse();
                let rabbitmq = rabbitmq_route(r, s, r.publish_to, key, &headers);
                routes.push(Route { key: k, rabbitmq, kafka_owed: 0, kafka_fetched: 0 });
                for (g, group) in s.groups.iter().enumerate() {
                    let Some(x) = &group.policy.dead_letter_exchange else { continue };
                    let x = r.exchanges.iter().position(|e| &e.name == x).expect("validated");
                    let dl_key = group.policy.dead_letter_routing_key.as_deref().unwrap_or(key);
                    dead_letter[g].push(rabbitmq_route(r, s, Some(x), dl_key, &headers));
                }
            }
        }
        for (g, group) in s.groups.iter().enumerate() {
            let bit = 1u64 << g;
            let wants_topic: Box<dyn Fn(&str) -> bool> = match &group.subscription.topics {
                KafkaTopics::Topics(list) => {
                    let list = list.clone();
                    Box::new(move |k: &str| list.iter().any(|t| t == k))
                }
                KafkaTopics::Pattern(p) => {
                    let re = regex_lite::Regex::new(&format!("^(?:{p})$")).expect("validated");
                    Box::new(move |k: &str| re.is_match(k))
                }
                KafkaTopics::Mirror => Box::new(|_: &str| false),
            };
            let mirror = group.subscription.topics == KafkaTopics::Mirror;
            // Mirror: the topics that carry anything its bindings route to it.
            let mirrored: Vec<bool> = (0..r.routing_keys.len())
                .map(|k| routes.iter().any(|rt| rt.key == k && rt.rabbitmq & bit != 0))
                .collect();
            for rt in &mut routes {
                let owed = if mirror { rt.rabbitmq & bit != 0 } else { wants_topic(&r.routing_keys[rt.key].0) };
                let topic = if mirror { mirrored[rt.key] } else { owed };
                if owed {
                    rt.kafka_owed |= bit;
                }
                if topic || group.subscription.consumer_filter {
                    rt.kafka_fetched |= bit;
                }
            }
        }
        let consumer_filter = s
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.subscription.consumer_filter)
            .fold(0u64, |m, (i, _)| m | 1 << i);
        let kafka_fetch_all = routes.iter().fold(u64::MAX, |m, r| m & r.kafka_fetched);
        Some(Subscriptions {
            seed: s.seed,
            keys: cumulative(r.routing_keys.iter().map(|(_, p)| *p)),
            headers: r.headers.iter().map(|(_, v)| cumulative(v.iter().map(|(_, p)| *p))).collect(),
            routes,
            mandatory: s.rabbitmq.mandatory,
            consumer_filter,
            kafka_fetch_all,
            groups: s.groups.len(),
            dead_letter,
        })
    }

    /// The index of message `id`'s route: its routing key and header values, drawn from its own
    /// stream.
    fn route_index(&self, id: MessageId) -> usize {
        let mut r = rng::keyed(self.seed, Stream::Routing, 0, id);
        let mut index = pick(&self.keys, rng::unit(&mut r));
        for h in &self.headers {
            index = index * h.len() + pick(h, rng::unit(&mut r));
        }
        index
    }

    fn route(&self, id: MessageId) -> &Route {
        &self.routes[self.route_index(id)]
    }

    /// RabbitMQ: the queues (bit `g`) a message dead-lettered from group `group`'s queue is
    /// re-published to by its dead-letter exchange; 0 without one (the message is dropped).
    pub fn dead_letter(&self, group: usize, id: MessageId) -> u64 {
        match self.dead_letter.get(group) {
            Some(routes) if !routes.is_empty() => routes[self.route_index(id)],
            _ => 0,
        }
    }

    /// The index of message `id`'s routing key (Kafka: its topic).
    pub fn key_of(&self, id: MessageId) -> usize {
        self.route(id).key
    }

    /// Groups owed message `id` in `system` (bit `g`), whenever they subscribed.
    pub fn owed(&self, system: SystemKind, id: MessageId) -> u64 {
        let r = self.route(id);
        match system {
            SystemKind::RabbitMq => r.rabbitmq,
            SystemKind::Kafka => r.kafka_owed,
        }
    }

    /// RabbitMQ: the queues the exchanges route message `id` to (bit `g`).
    pub fn rabbitmq(&self, id: MessageId) -> u64 {
        self.route(id).rabbitmq
    }

    /// RabbitMQ: what happens to a message that reaches no queue.
    pub fn unrouted(&self) -> Unrouted {
        if self.mandatory { Unrouted::Returned } else { Unrouted::Dropped }
    }

    /// Kafka: whether group `g`'s consumers receive record `id` (its topic is subscribed, or the
    /// group filters in the consumer), and whether they use it.
    pub fn kafka(&self, group: usize, id: MessageId) -> (bool, bool) {
        let r = self.route(id);
        let bit = 1u64 << group;
        (r.kafka_fetched & bit != 0, r.kafka_owed & bit != 0)
    }

    /// Kafka: whether group `g`'s consumers receive every record (all its topics are every topic).
    pub fn kafka_fetches_all(&self, group: usize) -> bool {
        has(self.kafka_fetch_all, group)
    }

    /// Kafka: whether group `g` discards records in its consumers (`filter = "consumer"`).
    pub fn consumer_filter(&self, group: usize) -> bool {
        self.consumer_filter & (1 << group) != 0
    }

    /// Expected fraction of messages owed to each group in `system`, and (Kafka) fetched by it.
    pub fn shares(&self, system: SystemKind) -> Vec<(f64, f64)> {
        let mut out = vec![(0.0, 0.0); self.groups];
        let per_key = self.routes.len() / self.keys.len().max(1);
        for (i, rt) in self.routes.iter().enumerate() {
            let mut p = width(&self.keys, rt.key);
            let mut rest = i % per_key.max(1);
            for h in self.headers.iter().rev() {
                p *= width(h, rest % h.len());
                rest /= h.len();
            }
            for (g, o) in out.iter_mut().enumerate() {
                let bit = 1u64 << g;
                let (owed, fetched) = match system {
                    SystemKind::RabbitMq => (rt.rabbitmq & bit != 0, rt.rabbitmq & bit != 0),
                    SystemKind::Kafka => (rt.kafka_owed & bit != 0, rt.kafka_fetched & bit != 0),
                };
                o.0 += if owed { p } else { 0.0 };
                o.1 += if fetched { p } else { 0.0 };
            }
        }
        out
    }
}

fn cumulative(ps: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    let mut out: Vec<f64> = ps
        .map(|p| {
            acc += p;
            acc
        })
        .collect();
    if let Some(last) = out.last_mut() {
        *last = f64::INFINITY;
    }
    out
}

fn pick(cum: &[f64], u: f64) -> usize {
    cum.iter().position(|&c| u < c).unwrap_or(cum.len() - 1)
}

fn width(cum: &[f64], i: usize) -> f64 {
    let hi = if i + 1 == cum.len() { 1.0 } else { cum[i] };
    let lo = if i == 0 { 0.0 } else { cum[i - 1] };
    hi - lo
}

/// The queues (bit `g`) RabbitMQ routes a message with `key` and `headers` to from exchange `from`
/// (`None`: the default exchange), following alternate exchanges while an exchange routes it
/// nowhere.
fn rabbitmq_route(r: &Routing, s: &Scenario, from: Option<usize>, key: &str, headers: &[(&str, &str)]) -> u64 {
    let Some(mut x) = from else {
        // The default exchange: the queue named by the routing key.
        return s.groups.iter().position(|g| g.name == key).map_or(0, |g| 1 << g);
    };
    let mut visited = 0u128;
    loop {
        visited |= 1 << (x % 128);
        let mask = r
            .bindings
            .iter()
            .filter(|b| b.exchange == x)
            .filter(|b| match r.exchanges[x].kind {
                ExchangeType::Fanout => true,
                ExchangeType::Direct => b.routing_key == key,
                ExchangeType::Topic => topic_matches(&b.routing_key, key),
                ExchangeType::Headers => headers_match(b.x_match, &b.arguments, headers),
            })
            .fold(0u64, |m, b| m | 1 << b.group);
        match r.exchanges[x].alternate {
            Some(ae) if mask == 0 && visited & (1 << (ae % 128)) == 0 => x = ae,
            _ => return mask,
        }
    }
}

/// RabbitMQ's `split_topic_key`: words between dots; the empty key has no words, "a." has two.
fn words(key: &str) -> Vec<&str> {
    if key.is_empty() { Vec::new() } else { key.split('.').collect() }
}

/// Whether a topic binding key matches a routing key: `*` is exactly one word, `#` zero or more.
pub fn topic_matches(binding: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match p.split_first() {
            None => k.is_empty(),
            Some((&"#", rest)) => (0..=k.len()).any(|n| go(rest, &k[n..])),
            Some((&w, rest)) => k.split_first().is_some_and(|(&kw, krest)| (w == "*" || w == kw) && go(rest, krest)),
        }
    }
    go(&words(binding), &words(key))
}

/// Whether a headers binding matches a message's headers (`rabbit_exchange_type_headers`): each
/// argument matches if the message has the header with the same value; `all` needs every one,
/// `any` one; `all` and `any` skip arguments whose name starts with `x-`, the `-with-x` forms only
/// `x-match` (which is not among `args` here). No argument left: `all` matches, `any` does not.
pub fn headers_match(
    x_match: XMatch,
    args: &std::collections::BTreeMap<String, String>,
    headers: &[(&str, &str)],
) -> bool {
    let with_x = matches!(x_match, XMatch::AllWithX | XMatch::AnyWithX);
    let mut considered = args.iter().filter(|(k, _)| with_x || !k.starts_with("x-"));
    let hit = |(k, v): (&String, &String)| headers.iter().any(|(hk, hv)| hk == k && hv == v);
    match x_match {
        XMatch::All | XMatch::AllWithX => considered.all(hit),
        XMatch::Any | XMatch::AnyWithX => considered.any(hit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn star_is_exactly_one_word() {
        assert!(topic_matches("order.*.eu", "order.created.eu"));
        assert!(!topic_matches("order.*.eu", "order.eu"), "* cannot match zero words");
        assert!(!topic_matches("order.*.eu", "order.created.paid.eu"), "* cannot match two words");
        assert!(topic_matches("*", "a"));
        assert!(!topic_matches("*", ""), "the empty key has no word for * to match");
        // "a." is two words, "a" and "": * matches the empty word.
        assert!(topic_matches("a.*", "a."));
        assert!(!topic_matches("a.*", "a"));
    }

    #[test]
    fn hash_is_zero_or_more_words() {
        assert!(topic_matches("order.#", "order"), "# matches zero words");
        assert!(topic_matches("order.#", "order.created"));
        assert!(topic_matches("order.#", "order.created.eu"));
        assert!(!topic_matches("order.#", "audit.order"));
        assert!(topic_matches("#", ""), "# matches the empty key");
        assert!(topic_matches("#", "a.b.c"));
        assert!(topic_matches("#.eu", "eu"));
        assert!(topic_matches("#.eu", "order.paid.eu"));
        assert!(!topic_matches("#.eu", "order.paid.us"));
        assert!(topic_matches("a.#.b", "a.b"));
        assert!(topic_matches("a.#.b", "a.x.y.b"));
        assert!(!topic_matches("a.#.b", "a.x.y"));
        assert!(topic_matches("#.*", "a"), "# takes zero words, * the one");
        assert!(!topic_matches("#.*", ""));
    }

    #[test]
    fn without_wildcards_a_topic_binding_is_an_exact_match() {
        assert!(topic_matches("order.created.eu", "order.created.eu"));
        assert!(!topic_matches("order.created.eu", "order.created.us"));
        assert!(topic_matches("", ""));
        assert!(!topic_matches("", "a"));
    }

    fn parse(text: &str) -> Scenario {
        Scenario::parse(text, "t.toml", false).unwrap_or_else(|e| panic!("{e}"))
    }

    const HEADERS: &str = r#"
duration = "1s"
[workload]
rate = 10
routing_keys = { "order.eu" = 3, "audit.us" = 1 }
headers = { region = { eu = 0.7, us = 0.3 } }
[[exchanges]]
name = "h"
type = "headers"
[[bindings]]
exchange = "h"
queue = "eu"
arguments = { x-match = "any", region = "eu", x-tier = "gold" }
[[groups]]
name = "eu"
[[groups]]
name = "orders"
topics = ["order.eu"]
[[groups]]
name = "audit"
subscribe_pattern = "audit\\..*"
filter = "consumer"
"#;

    #[test]
    fn shares_follow_the_weights_and_kafka_mirrors_the_bindings() {
        let s = parse(HEADERS);
        let subs = Subscriptions::new(&s).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        let r = subs.shares(SystemKind::RabbitMq);
        // Only "eu" is bound: region = eu, whatever the key (70%); the others get nothing.
        assert!(close(r[0].0, 0.7) && close(r[1].0, 0.0) && close(r[2].0, 0.0), "{r:?}");
        let k = subs.shares(SystemKind::Kafka);
        // "eu" mirrors its headers binding: both topics carry messages it wants, so it fetches
        // everything and keeps 70%; "orders" reads its topic (75%); "audit" filters in the
        // consumer: it fetches everything and keeps the audit topic (25%).
        assert!(close(k[0].0, 0.7) && close(k[0].1, 1.0), "{k:?}");
        assert!(close(k[1].0, 0.75) && close(k[1].1, 0.75), "{k:?}");
        assert!(close(k[2].0, 0.25) && close(k[2].1, 1.0), "{k:?}");
        // Per message, the same decision both ways, and draws near the weights.
        let n = 20_000;
        let eu = (0..n).filter(|&id| subs.rabbitmq(id) & 1 != 0).count() as f64 / n as f64;
        assert!((eu - 0.7).abs() < 0.02, "{eu}");
        for id in 0..1000 {
            assert_eq!(subs.kafka(0, id).1, subs.rabbitmq(id) & 1 != 0);
            assert_eq!(subs.kafka(1, id), (subs.key_of(id) == 1, subs.key_of(id) == 1));
        }
    }

    #[test]
    fn the_default_exchange_routes_a_key_to_the_queue_of_that_name() {
        let s = parse(
            "duration = \"1s\"\n[workload]\nrate = 1\nexchange = \"\"\nrouting_keys = { a = 1, b = 1, c = 2 }\n             [[groups]]\nname = \"a\"\n[[groups]]\nname = \"b\"\n",
        );
        let subs = Subscriptions::new(&s).unwrap();
        let r = subs.shares(SystemKind::RabbitMq);
        assert_eq!(r, vec![(0.25, 0.25), (0.25, 0.25)], "\"c\" names no queue: unroutable");
    }

    fn args(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn headers_all_needs_every_argument_and_any_one() {
        let h = [("region", "eu"), ("tier", "gold")];
        assert!(headers_match(XMatch::All, &args(&[("region", "eu"), ("tier", "gold")]), &h));
        assert!(!headers_match(XMatch::All, &args(&[("region", "eu"), ("tier", "silver")]), &h));
        assert!(headers_match(XMatch::Any, &args(&[("region", "eu"), ("tier", "silver")]), &h));
        assert!(!headers_match(XMatch::Any, &args(&[("region", "us"), ("tier", "silver")]), &h));
        assert!(!headers_match(XMatch::All, &args(&[("missing", "x")]), &h), "an absent header does not match");
    }

    #[test]
    fn x_arguments_are_skipped_unless_with_x() {
        let h = [("region", "eu"), ("x-source", "web")];
        let a = args(&[("region", "eu"), ("x-source", "app")]);
        assert!(headers_match(XMatch::All, &a, &h), "all skips x- arguments");
        assert!(!headers_match(XMatch::AllWithX, &a, &h), "all-with-x compares them");
        let only_x = args(&[("x-source", "web")]);
        assert!(!headers_match(XMatch::Any, &only_x, &h), "any with nothing left to compare matches nothing");
        assert!(headers_match(XMatch::AnyWithX, &only_x, &h));
        assert!(headers_match(XMatch::All, &args(&[]), &h), "all of no argument matches");
        assert!(!headers_match(XMatch::Any, &args(&[]), &h), "any of no argument does not");
    }
}
