//! A RabbitMQ queue's policy (issue 18, item 4): the queue arguments a group's queue is declared
//! with, under `[[groups]]`, named as RabbitMQ's arguments without the `x-` (docs/queue-policy.md).
//! Kafka has none of them: its side of the same group ignores them.

use crate::time::SimDuration;

/// `x-overflow`: what a queue at its length limit does with one more message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Drop (or dead-letter) the oldest ready message: RabbitMQ's default.
    #[default]
    DropHead,
    /// Refuse the new message: `basic.nack` to a publisher with confirms.
    RejectPublish,
    /// Refuse it, and dead-letter it too.
    RejectPublishDlx,
}

impl Overflow {
    pub fn is_default(&self) -> bool {
        *self == Overflow::DropHead
    }
}

/// A queue's arguments; all unset by default (the queue as before).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct QueuePolicy {
    /// `x-message-ttl`: a ready message older than this (since it entered the queue) expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_ttl: Option<SimDuration>,
    /// `x-max-length`: the most ready messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// `x-max-length-bytes`: the most bytes of ready message bodies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length_bytes: Option<u64>,
    /// `x-overflow`.
    #[serde(skip_serializing_if = "Overflow::is_default")]
    pub overflow: Overflow,
    /// `x-dead-letter-exchange`: a declared `[[exchanges]]` entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key`; `None`: the message's own routing key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_routing_key: Option<String>,
    /// `x-single-active-consumer`: only the first subscribed consumer gets deliveries; when it
    /// goes, the next in subscription order takes over.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub single_active_consumer: bool,
    /// `x-max-priority`: a priority queue with priorities 0 to this; a message's higher priority
    /// counts as this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_priority: Option<u8>,
    /// Quorum queues, `x-delivery-limit`: as written; `None`: RabbitMQ 4's default (20); a
    /// negative value: no limit. See [`QueuePolicy::quorum_delivery_limit`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_limit: Option<i64>,
}

impl QueuePolicy {
    pub fn is_default(&self) -> bool {
        *self == QueuePolicy::default()
    }

    /// A quorum queue's effective delivery limit: `None` when disabled (a negative value, as
    /// `rabbit_fifo` turns it into `undefined`), else the limit (20 unless set).
    pub fn quorum_delivery_limit(&self) -> Option<u32> {
        match self.delivery_limit {
            None => Some(super::defaults::RABBITMQ_QUORUM_DELIVERY_LIMIT),
            Some(n) if n < 0 => None,
            Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }

    /// Whether any length limit is set.
    pub fn limited(&self) -> bool {
        self.max_length.is_some() || self.max_length_bytes.is_some()
    }
}
