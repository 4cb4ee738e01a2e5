//! Hand-made client histories whose answers are worked out in the comments, and a comparison with a
//! naive recount (which keeps everything) on random histories.

use super::*;
use crate::workload::StoredMessage;

const MS: u64 = 1_000_000;

fn t(ms: u64) -> SimTime {
    SimTime(ms * MS)
}

fn stored(id: MessageId) -> StoredMessage {
    StoredMessage::new(&Message { id, published_at: SimTime::ZERO, key: None, bytes: 10 })
}

/// Feeds a checker, times in milliseconds.
struct Feed(Checker);

impl Feed {
    fn new(config: CheckerConfig) -> Self {
        Feed(Checker::new(config))
    }
    fn send(&mut self, ms: u64, id: MessageId, key: Option<u64>) {
        let msg = Message { id, published_at: t(ms), key, bytes: 10 };
        self.0.observe(t(ms), &ClientEvent::Sent { msg });
    }
    fn ack(&mut self, ms: u64, id: MessageId) {
        self.0.observe(t(ms), &ClientEvent::Acknowledged { id });
    }
    fn fail(&mut self, ms: u64, id: MessageId) {
        self.0.observe(t(ms), &ClientEvent::SendFailed { id });
    }
    fn deliver(&mut self, ms: u64, group: GroupIdx, id: MessageId, redelivered: bool) {
        self.0.observe(t(ms), &ClientEvent::Delivered { msg: stored(id), group, consumer: 0, redelivered });
    }
    /// Processing start and end at the same instant.
    fn process(&mut self, ms: u64, group: GroupIdx, id: MessageId) {
        self.0.observe(t(ms), &ClientEvent::ProcessingStarted { msg: stored(id), group, consumer: 0 });
        self.0.observe(t(ms), &ClientEvent::Processed { msg: stored(id), group, consumer: 0 });
    }
    fn report(&self, end_ms: u64) -> DeliveryReport {
        self.0.finish(t(end_ms))
    }
}

fn assert_identities(r: &DeliveryReport) {
    for (name, g) in &r.groups {
        assert!(g.identity_holds(), "group {name}: {g:?}");
    }
    assert!(r.total.identity_holds(), "total: {:?}", r.total);
    let owed: u64 = r.groups.values().map(|g| g.owed).sum();
    assert_eq!(r.total.owed, owed);
}

#[test]
fn clean_run_counts_nothing_and_identity_holds() {
    // Six messages, two groups, keys A B - A B -. Message i is sent at 10i ms, confirmed 2 ms later,
    // processed by "a" at +5 ms and by "b" at +7 ms, each in send order. Nothing is lost, repeated
    // or reordered; the longest wait for a confirm is 2 ms, far below 1 s: unavailable 0.
    let keys = [Some(0), Some(1), None, Some(0), Some(1), None];
    let mut f = Feed::new(CheckerConfig::new(["a", "b"]));
    for (id, key) in keys.into_iter().enumerate() {
        let (id, at) = (id as u64, 10 * id as u64);
        f.send(at, id, key);
        f.ack(at + 2, id);
        f.deliver(at + 5, 0, id, false);
        f.process(at + 5, 0, id);
        f.deliver(at + 7, 1, id, false);
        f.process(at + 7, 1, id);
        f.0.observe(t(at + 8), &ClientEvent::Acked { id, group: 1, consumer: 0 });
    }
    f.0.observe(t(60), &ClientEvent::Committed { group: 0, consumer: 0, partition: 0, offset: 6 });
    let r = f.report(100);
    let clean = DeliveryCounts { owed: 6, processed_unique: 6, ..DeliveryCounts::default() };
    assert_eq!(r.groups["a"], clean);
    assert_eq!(r.groups["b"], clean);
    assert_eq!(r.total, DeliveryCounts { owed: 12, processed_unique: 12, ..DeliveryCounts::default() });
    assert_eq!((r.sent, r.acknowledged, r.publish_failures, r.unexpected_events), (6, 6, 0, 0));
    assert_eq!(r.unavailable_s, Some(0.0));
    assert_identities(&r);
    // Nothing waits; the keys of 0, 1, 3 and 4 stay until the store is next trimmed (at 1024 keys);
    // high-water marks for keys A and B in each group.
    assert_eq!(f.0.retained(), Retained { id_runs: 0, keys: 4, key_marks: 4 });
}

/// Messages 0..6 sent at 0..5 ms to one group:
/// 0 acked, processed; 1 acked, never processed; 2 acked, processed; 3 never confirmed, never
/// processed; 4 SendFailed, never processed; 5 SendFailed but appended anyway, and processed.
fn losses(config: CheckerConfig) -> DeliveryReport {
    let mut f = Feed::new(config);
    for id in 0..6 {
        f.send(id, id, None);
    }
    f.ack(10, 0);
    f.ack(10, 1);
    f.ack(11, 2);
    f.fail(20, 4);
    f.fail(20, 5);
    f.process(30, 0, 0);
    f.process(31, 0, 2);
    f.process(32, 0, 5);
    f.report(100)
}

#[test]
fn losses_are_classified_by_acknowledgement() {
    // Owed 6; processed 0, 2, 5 (3); acknowledged and lost: 1; never acknowledged and lost: 3, 4.
    // 5 failed but was processed: not lost. 3 + 1 + 2 = 6.
    let r = losses(CheckerConfig::new(["g"]));
    assert_eq!((r.sent, r.acknowledged, r.publish_failures), (6, 3, 2));
    let expected = DeliveryCounts {
        owed: 6,
        processed_unique: 3,
        acknowledged_lost: 1,
        unacknowledged_lost: 2,
        ..DeliveryCounts::default()
    };
    assert_eq!(r.groups["g"], expected);
    assert_eq!(r.total, expected);
    assert_identities(&r);
}

#[test]
fn what_the_final_read_still_holds_is_stranded_not_lost() {
    // The same history, but the final read finds messages 1 and 3 still stored (a bounded drain
    // ended, or their node is down): stranded, whether acknowledged (1) or not (3). Only 4, held
    // nowhere, is lost. 3 + 2 + 1 = 6.
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    for id in 0..6 {
        f.send(id, id, None);
    }
    f.ack(10, 0);
    f.ack(10, 1);
    f.ack(11, 2);
    f.fail(20, 4);
    f.fail(20, 5);
    f.process(30, 0, 0);
    f.process(31, 0, 2);
    f.process(32, 0, 5);
    // 0 and 2 are held too (processed, not yet deleted): processed, so not stranded.
    let r = f.0.finish_with(t(100), &[vec![(0, 4)]]);
    let expected = DeliveryCounts {
        owed: 6,
        processed_unique: 3,
        stranded: 2,
        unacknowledged_lost: 1,
        ..DeliveryCounts::default()
    };
    assert_eq!(r.groups["g"], expected);
    assert_identities(&r);
}

#[test]
fn a_producer_crash_is_producer_down_not_unavailable() {
    // One message every 100 ms from 0 to 120 s, each confirmed 5 ms later, processed at +6 ms.
    // The producer crashes at 30.0025 s (message 300, sent at 30.0 s, is unresolved: its confirm
    // comes at 30.005 s, to a dead producer, and never arrives) and restarts at 90 s; while down it
    // sends nothing (its next message, 301, is sent at 90 s). The system never stopped confirming: unavailable 0; the producer was down
    // 60 s. The checker on main counted the open wait of message 300 as a stall, [30, 90.1): 59.1 s.
    let crash = SimTime(30_002_500_000);
    let config = CheckerConfig::new(["g"]).producer_down(vec![(crash, Some(t(90_000)))]);
    let mut events = Vec::new();
    let times = (0..1200u64).map(|i| 100 * i).filter(|&at| !(30_001..90_000).contains(&at));
    for (id, at) in times.enumerate() {
        let id = id as MessageId;
        events.push((t(at), ClientEvent::Sent { msg: Message { id, published_at: t(at), key: None, bytes: 10 } }));
        if id != 300 {
            events.push((t(at + 5), ClientEvent::Acknowledged { id }));
        }
        events.push((t(at + 6), ClientEvent::Processed { msg: stored(id), group: 0, consumer: 0 }));
    }
    events.sort_by_key(|e| e.0);
    let mut c = Checker::new(config.clone());
    for (at, e) in &events {
        c.observe(*at, e);
    }
    let r = c.finish(t(121_000));
    assert_eq!(r.unavailable_s, Some(0.0));
    assert!((r.producer_down_s - 59.9975).abs() < 1e-9, "{}", r.producer_down_s); // float rounding only
    assert_eq!(r, naive(&config, &events, t(121_000), &[]));
    // Message 300 was processed: nothing lost; it was never acknowledged.
    assert_eq!((r.acknowledged, r.total.processed_unique, r.total.unacknowledged_lost), (600, 601, 0));
    // A producer that never restarts is down to the end of the run, and still not a stall.
    let config = CheckerConfig::new(["g"]).producer_down(vec![(crash, None)]);
    let mut c = Checker::new(config);
    for (at, e) in events.iter().filter(|e| e.0 <= crash) {
        c.observe(*at, e);
    }
    let r = c.finish(t(121_000));
    assert_eq!(r.unavailable_s, Some(0.0));
    assert!((r.producer_down_s - 90.9975).abs() < 1e-9, "{}", r.producer_down_s);
}

#[test]
fn one_producer_host_crash_orphans_only_its_messages() {
    // Three producer hosts; message i is sent by host i mod 3 at i x 100 ms (i < 300). The system
    // confirms 5 ms later, but for what is sent in [10 s, 20 s), confirmed only at 20.005 s.
    // Host 1 is down in [15 s, 18 s): its messages due then (151, 154, ..., 178: 10) are never
    // sent, and the confirms of its messages sent in [10 s, 15 s) (100, 103, ..., 148: 17) never
    // reach it. At its crash hosts 0 and 2 still wait (their messages of [10 s, 15 s) are
    // unresolved), so the stall goes on: one waiting period from 10.0 s (message 100) to
    // 20.005 s, 9.005 s past the threshold. Ending it at the crash would give 4 + 4.005 s; not
    // orphaning host 1's messages would leave them waiting to the end.
    let down = vec![ProducerDown { host: Some(1), crash: t(15_000), restart: Some(t(18_000)) }];
    let config = CheckerConfig::new(["g"]).producer_hosts(3, down);
    let mut events = Vec::new();
    for id in 0..300u64 {
        let at = 100 * id;
        if id % 3 == 1 && (15_000..18_000).contains(&at) {
            continue;
        }
        events.push((t(at), ClientEvent::Sent { msg: Message { id, published_at: t(at), key: None, bytes: 10 } }));
        let confirmed = if (10_000..20_000).contains(&at) { 20_005 } else { at + 5 };
        if !(id % 3 == 1 && (10_000..15_000).contains(&at)) {
            events.push((t(confirmed), ClientEvent::Acknowledged { id }));
        }
        events.push((t(confirmed + 1), ClientEvent::Processed { msg: stored(id), group: 0, consumer: 0 }));
    }
    events.sort_by_key(|e| e.0);
    let mut c = Checker::new(config.clone());
    for (at, e) in &events {
        c.observe(*at, e);
    }
    let r = c.finish(t(31_000));
    assert!((r.unavailable_s.unwrap() - 9.005).abs() < 1e-9, "{r:?}");
    assert!((r.producer_down_s - 3.0).abs() < 1e-9, "{r:?}");
    assert_eq!((r.sent, r.acknowledged, r.total.processed_unique, r.total.unacknowledged_lost), (290, 273, 290, 0));
    // Outages of several hosts count once where they overlap: host 1 in [15 s, 18 s), host 2 in
    // [16 s, 19 s), host 0 from 40 s to the end (50 s): 4 + 10 s, not 3 + 3 + 10 s.
    let host =
        |host, crash, restart: Option<u64>| ProducerDown { host: Some(host), crash: t(crash), restart: restart.map(t) };
    let config = CheckerConfig::new(["g"])
        .producer_hosts(3, vec![host(1, 15_000, Some(18_000)), host(2, 16_000, Some(19_000)), host(0, 40_000, None)]);
    let r = Checker::new(config.clone()).finish(t(50_000));
    assert!((r.producer_down_s - 14.0).abs() < 1e-9, "{}", r.producer_down_s);
    assert_eq!(r, naive(&config, &[], t(50_000), &[]));
}

#[test]
fn a_late_confirm_after_a_failure_counts_as_acknowledged() {
    // 0: SendFailed at 5, then Acknowledged at 6 (the confirm came after the client gave up): one
    // failure, one acknowledged, and unprocessed it is an acknowledged loss. 1: acknowledged, then a
    // stray SendFailed (ignored), then a second Acknowledged (not counted twice); processed.
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    f.send(0, 0, None);
    f.send(1, 1, None);
    f.ack(2, 1);
    f.fail(3, 1);
    f.ack(4, 1);
    f.fail(5, 0);
    f.fail(5, 0);
    f.ack(6, 0);
    f.process(7, 0, 1);
    let r = f.report(10);
    assert_eq!((r.acknowledged, r.publish_failures), (2, 1));
    assert_eq!((r.total.acknowledged_lost, r.total.unacknowledged_lost, r.total.processed_unique), (1, 0, 1));
    assert_identities(&r);
}

#[test]
fn without_confirms_every_unprocessed_message_is_unacknowledged_lost() {
    // Four messages, no Acknowledged ever (no publisher confirms); 0 and 2 processed: 1 and 3 are
    // unacknowledged losses, and unavailability is not measurable.
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    for id in 0..4 {
        f.send(id, id, None);
    }
    f.process(10, 0, 0);
    f.process(10, 0, 2);
    let r = f.report(3_600_000);
    assert_eq!((r.acknowledged, r.total.acknowledged_lost, r.total.unacknowledged_lost), (0, 0, 2));
    assert_eq!(r.unavailable_s, None, "an hour without confirms is not an hour of unavailability");
    assert_identities(&r);
    // As JSON: null, the sums at the top level, the groups by name.
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["unavailable_s"].is_null());
    assert_eq!((json["sent"].as_u64(), json["unacknowledged_lost"].as_u64()), (Some(4), Some(2)));
    assert_eq!(json["groups"]["g"]["owed"].as_u64(), Some(4));
}

#[test]
fn a_group_is_owed_only_what_was_sent_after_it_subscribed() {
    // Messages 0..6 at 0..5 ms, all acknowledged. "late" is owed from 3 ms: messages 3, 4, 5. It
    // processes 0 (not owed: counted apart, twice), 3 and 4: 5 is an acknowledged loss for it.
    // "early" processes everything.
    let mut f = Feed::new(CheckerConfig::new(["early", "late"]).owed_from(1, t(3)));
    for id in 0..6 {
        f.send(id, id, Some(0));
        f.ack(id, id);
    }
    for id in 0..6 {
        f.process(10, 0, id);
    }
    f.process(10, 1, 0);
    f.process(11, 1, 0);
    f.process(11, 1, 4);
    f.process(12, 1, 3);
    let r = f.report(20);
    let late = DeliveryCounts {
        owed: 3,
        processed_unique: 2,
        acknowledged_lost: 1,
        out_of_order: 1, // 3 after 4, same key
        processed_not_owed: 2,
        ..DeliveryCounts::default()
    };
    assert_eq!(r.groups["late"], late);
    assert_eq!(r.groups["early"], DeliveryCounts { owed: 6, processed_unique: 6, ..DeliveryCounts::default() });
    assert_eq!(r.total.owed, 9);
    assert_identities(&r);
}

#[test]
fn duplicates_are_reprocessing_and_redelivered_is_the_flag() {
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    f.send(0, 0, None);
    f.send(0, 1, None);
    f.ack(1, 0);
    f.ack(1, 1);
    // Message 0: delivered and processed, then (the ack lost in a consumer crash) redelivered with
    // the flag and processed again: 1 duplicate, 1 redelivered.
    f.deliver(2, 0, 0, false);
    f.process(3, 0, 0);
    f.deliver(4, 0, 0, true);
    f.process(5, 0, 0);
    let r = f.report(5);
    assert_eq!((r.total.duplicates, r.total.redelivered, r.total.processed_unique), (1, 1, 1));
    // Message 1: delivered, the consumer crashed before processing it, redelivered and processed
    // once: a redelivery but no duplicate.
    f.deliver(6, 0, 1, false);
    f.deliver(7, 0, 1, true);
    f.process(8, 0, 1);
    let r = f.report(10);
    assert_eq!((r.total.duplicates, r.total.redelivered, r.total.processed_unique), (1, 2, 2));
    // A duplicate without any redelivery flag (Kafka re-reading after an uncommitted offset).
    f.deliver(9, 0, 1, false);
    f.process(9, 0, 1);
    let r = f.report(10);
    assert_eq!((r.total.duplicates, r.total.redelivered, r.total.processed_unique), (2, 2, 2));
    assert_identities(&r);
}

#[test]
fn out_of_order_is_per_group_and_key_and_never_for_null_keys() {
    // Keys by id: 0 A, 1 B, 2 -, 3 A, 4 B, 5 -, 6 A.
    // Group "g" processes 4(B) 3(A) 1(B) 0(A) 5(-) 2(-) 6(A) 0(A again):
    //   1 after 4, both B: out of order; 0 after 3, both A: out of order; 2 after 5: null keys,
    //   never; 6 is the highest A; the second 0 is a duplicate, not a second reordering. So 2.
    // Group "h" processes in send order: 0. Neither group's order affects the other.
    let keys = [Some(0), Some(1), None, Some(0), Some(1), None, Some(0)];
    let mut f = Feed::new(CheckerConfig::new(["g", "h"]));
    for (id, key) in keys.into_iter().enumerate() {
        f.send(0, id as u64, key);
        f.ack(0, id as u64);
    }
    for (i, id) in [4, 3, 1, 0, 5, 2, 6, 0].into_iter().enumerate() {
        f.process(1 + i as u64, 0, id);
    }
    for id in 0..7 {
        f.process(20, 1, id);
    }
    let r = f.report(30);
    assert_eq!((r.groups["g"].out_of_order, r.groups["g"].duplicates), (2, 1));
    assert_eq!(r.groups["h"].out_of_order, 0);
    assert_eq!(r.total.out_of_order, 2);
    assert_identities(&r);

    // Overtaken messages are counted, not inversions: key A processed 6, 3, 0 gives 2 (3 and 0 are
    // each below 6), although there are 3 inverted pairs.
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    for (id, key) in keys.into_iter().enumerate() {
        f.send(0, id as u64, key);
    }
    for id in [6, 3, 0] {
        f.process(1, 0, id);
    }
    assert_eq!(f.report(2).total.out_of_order, 2);
    // The mark is the highest processed, not the last: A processed 6, 0, 3 gives 2 (3 < 6).
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    for (id, key) in keys.into_iter().enumerate() {
        f.send(0, id as u64, key);
    }
    for id in [6, 0, 3] {
        f.process(1, 0, id);
    }
    assert_eq!(f.report(2).total.out_of_order, 2);
}

#[test]
fn a_message_processed_late_keeps_its_key_across_trims() {
    // 0 and 1 have key 9; 1 is processed at once, 0 only after 5000 more keyed messages have come
    // and gone (so the key store was trimmed several times while 0 waited): 0 is out of order.
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    f.send(0, 0, Some(9));
    f.send(0, 1, Some(9));
    f.process(1, 0, 1);
    for id in 2..5002 {
        f.send(id, id, Some(id % 3));
        f.process(id, 0, id);
    }
    assert!(f.0.retained().keys < 1024, "trimmed: {:?}", f.0.retained());
    f.process(6000, 0, 0);
    assert_eq!(f.report(6000).total.out_of_order, 1);
}

/// A producer sending one message every 100 ms for 140 s (ids 0..1400). Each is confirmed 5 ms
/// later, except that those sent in [`outage_from`, 130 s) are all confirmed at 130 s.
fn outage_run(outage_from_ms: u64) -> DeliveryReport {
    let mut events = Vec::new();
    for id in 0..1400u64 {
        let at = 100 * id;
        let acked = if (outage_from_ms..130_000).contains(&at) { 130_000 } else { at + 5 };
        events.push((at, ClientEvent::Sent { msg: Message { id, published_at: t(at), key: None, bytes: 10 } }));
        events.push((acked, ClientEvent::Acknowledged { id }));
        events.push((acked + 1, ClientEvent::Processed { msg: stored(id), group: 0, consumer: 0 }));
    }
    events.sort_by_key(|e| e.0); // stable: at 130 s the confirms come before message 1300 is sent
    let mut c = Checker::new(CheckerConfig::new(["g"]));
    for (at, e) in &events {
        c.observe(t(*at), e);
    }
    let r = c.finish(t(141_000));
    assert_eq!(r.total, DeliveryCounts { owed: 1400, processed_unique: 1400, ..DeliveryCounts::default() });
    r
}

#[test]
fn unavailable_is_the_stall_beyond_the_threshold() {
    // Message 99 (sent 9.9 s) is confirmed at 9.905 s: nothing is waiting until message 100 is
    // sent at 10.0 s, which starts a waiting period. No confirm comes until 130.0 s, so the period
    // is [10 s, 130 s) and the producer is stalled from 11 s (threshold 1 s) to 130 s: exactly
    // 119 s. The confirms at 130 s end it; every later wait is 5 ms. (The gap between
    // confirms is 120.095 s.)
    assert_eq!(outage_run(10_000).unavailable_s, Some(119.0));
    // Healthy: every wait is 5 ms.
    assert_eq!(outage_run(u64::MAX).unavailable_s, Some(0.0));
}

#[test]
fn unavailable_threshold_failures_and_an_outage_until_the_end() {
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    // A confirm exactly 1 s after the send: not stalled (the stall is beyond the threshold).
    f.send(0, 0, None);
    f.ack(1_000, 0);
    assert_eq!(f.report(1_000).unavailable_s, Some(0.0));
    // A confirm after 1.5 s: 0.5 s.
    f.send(2_000, 1, None);
    f.ack(3_500, 1);
    assert_eq!(f.report(3_500).unavailable_s, Some(0.5));
    // Sent at 10 s, given up on at 40 s (delivery timeout): the period ends when nothing is left
    // waiting, 29 s more. Then 10 s with nothing to send: not stalled.
    f.send(10_000, 2, None);
    f.fail(40_000, 2);
    assert_eq!(f.report(50_000).unavailable_s, Some(29.5));
    // Sent at 50 s and never resolved: the period is still open at the end, 70 s: 19 s more.
    f.send(50_000, 3, None);
    assert_eq!(f.report(70_000).unavailable_s, Some(48.5));
    // A confirm of another message restarts the wait: 3 waiting since 50 s, 4 sent at 70 s and
    // confirmed at 70.5 s; the period [50, 70.5) counts 19.5 s, then 3 waits from 70.5 s to the
    // end at 71 s: 0.
    f.send(70_000, 4, None);
    f.ack(70_500, 4);
    assert_eq!(f.report(71_000).unavailable_s, Some(49.0));
}

#[test]
fn events_naming_unsent_messages_are_unexpected_and_counted_nowhere_else() {
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    f.send(0, 0, Some(3));
    f.ack(1, 7);
    f.fail(1, 7);
    f.deliver(1, 0, 7, true);
    f.process(1, 0, 7); // ProcessingStarted and Processed: 2 events
    f.ack(2, 0);
    f.process(2, 0, 0);
    let r = f.report(3);
    assert_eq!(r.unexpected_events, 5);
    assert_eq!((r.acknowledged, r.publish_failures, r.total.redelivered), (1, 0, 0));
    assert_eq!(r.total, DeliveryCounts { owed: 1, processed_unique: 1, ..DeliveryCounts::default() });
}

#[test]
#[should_panic(expected = "Sent ids must be 0, 1, 2")]
fn sent_ids_out_of_order_are_rejected() {
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    f.send(0, 1, None);
    f.send(1, 0, None);
}

#[test]
#[should_panic(expected = "before the previous one")]
fn events_out_of_time_order_are_rejected() {
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    f.send(5, 0, None);
    f.ack(4, 0);
}

#[test]
fn event_names_are_the_history_names() {
    let m = stored(0);
    let msg = Message { id: 0, published_at: SimTime::ZERO, key: None, bytes: 1 };
    let names: Vec<&str> = [
        ClientEvent::Sent { msg },
        ClientEvent::Acknowledged { id: 0 },
        ClientEvent::SendFailed { id: 0 },
        ClientEvent::Delivered { msg: m, group: 0, consumer: 0, redelivered: false },
        ClientEvent::ProcessingStarted { msg: m, group: 0, consumer: 0 },
        ClientEvent::Processed { msg: m, group: 0, consumer: 0 },
        ClientEvent::Acked { id: 0, group: 0, consumer: 0 },
        ClientEvent::Committed { group: 0, consumer: 0, partition: 0, offset: 0 },
    ]
    .iter()
    .map(|e| e.name())
    .collect();
    assert_eq!(
        names,
        ["sent", "acknowledged", "send_failed", "delivered", "processing_started", "processed", "acked", "committed"]
    );
}

const MILLION: u64 = 1_000_000;

#[test]
fn memory_stays_tiny_when_messages_are_processed_in_order() {
    // 10^6 keyed messages (7 keys), each sent, confirmed and processed by two groups at once. After
    // each message nothing is waiting: at most 2 runs (the message itself, in flight) and the key
    // store, trimmed at 1024 keys down to the one message in flight, stays below 1026 keys.
    let mut c = Checker::new(CheckerConfig::new(["a", "b"]));
    let mut most = Retained { id_runs: 0, keys: 0, key_marks: 0 };
    for id in 0..MILLION {
        let at = SimTime(id * 1_000);
        let msg = Message { id, published_at: at, key: Some(id % 7), bytes: 10 };
        c.observe(at, &ClientEvent::Sent { msg });
        c.observe(at, &ClientEvent::Acknowledged { id });
        let r = c.retained();
        (most.id_runs, most.keys) = (most.id_runs.max(r.id_runs), most.keys.max(r.keys));
        for group in 0..2 {
            c.observe(at, &ClientEvent::Processed { msg: StoredMessage::new(&msg), group, consumer: 0 });
        }
    }
    assert!(most.id_runs <= 2 && most.keys <= 1025, "{most:?}");
    assert_eq!(c.retained().id_runs, 0);
    assert_eq!(c.retained().key_marks, 14, "7 keys x 2 groups");
    let r = c.finish(SimTime(MILLION * 1_000));
    assert_eq!(r.total, DeliveryCounts { owed: 2 * MILLION, processed_unique: 2 * MILLION, ..Default::default() });
}

/// 10^6 messages to one group, all confirmed; in each block of 1000 ids, 100 consecutive ids
/// starting at a pseudo-random offset in 1..900 are never processed: 1000 separate lost runs.
fn scattered_losses(keyed: bool) -> (Checker, usize) {
    let mut c = Checker::new(CheckerConfig::new(["g"]));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut lost_from = 0;
    let mut most_runs = 0;
    for id in 0..MILLION {
        if id % 1000 == 0 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            lost_from = id + 1 + x % 899;
        }
        let at = SimTime(id * 1_000);
        let msg = Message { id, published_at: at, key: keyed.then_some(id % 7), bytes: 10 };
        c.observe(at, &ClientEvent::Sent { msg });
        c.observe(at, &ClientEvent::Acknowledged { id });
        if !(lost_from..lost_from + 100).contains(&id) {
            c.observe(at, &ClientEvent::Processed { msg: StoredMessage::new(&msg), group: 0, consumer: 0 });
        }
        most_runs = most_runs.max(c.retained().id_runs);
    }
    let r = c.finish(SimTime(MILLION * 1_000));
    assert_eq!((r.total.processed_unique, r.total.acknowledged_lost), (900_000, 100_000));
    assert_identities(&r);
    (c, most_runs)
}

#[test]
fn memory_with_scattered_losses_is_one_run_per_lost_stretch() {
    // Null keys: the checker holds exactly the 1000 lost runs (at most one more while a lost
    // stretch is growing), nothing per lost message.
    let (c, most_runs) = scattered_losses(false);
    assert_eq!(c.retained(), Retained { id_runs: 1000, keys: 0, key_marks: 0 });
    assert!(most_runs <= 1001, "{most_runs}");
    // Keyed: the key of every lost message is kept (it would be needed if it were processed
    // late), 100,000 keys, and trimming keeps the store under twice that.
    let (c, _) = scattered_losses(true);
    let r = c.retained();
    assert_eq!(r.id_runs, 1000);
    assert!((100_000..=2 * 100_000 + 1024).contains(&r.keys), "{r:?}");
}

// ---- Naive recount: keeps everything, follows the definitions literally ----

fn naive(
    config: &CheckerConfig,
    events: &[(SimTime, ClientEvent)],
    end: SimTime,
    held: &[Vec<(MessageId, MessageId)>],
) -> DeliveryReport {
    let theta = config.stall_threshold.0;
    let n_groups = config.groups.len();
    let mut sent_at: Vec<SimTime> = Vec::new();
    let mut key: Vec<Option<u64>> = Vec::new();
    let mut acknowledged: Vec<bool> = Vec::new();
    let mut failed: Vec<bool> = Vec::new();
    let mut orphaned: Vec<bool> = Vec::new();
    let mut crashes = config.producer_down.iter().peekable();
    // Whether outage `d` is of the host that sends message `id` (message i goes to host i mod N).
    let hits =
        |d: &ProducerDown, id: usize| d.host.is_none_or(|h| id as u64 % u64::from(config.producers) == u64::from(h));
    let mut times_processed: Vec<Vec<u64>> = vec![Vec::new(); n_groups];
    let mut highest: Vec<HashMap<u64, u64>> = vec![HashMap::new(); n_groups];
    let mut counts = vec![DeliveryCounts::default(); n_groups];
    let (mut n_ack, mut n_fail, mut unexpected) = (0, 0, 0);
    // Unavailability: integrate over the intervals between events. While some message is
    // unresolved, the producer waits since the later of the last confirm and the moment something
    // started waiting; it is stalled from that plus the threshold on.
    let mut any_ack = false;
    let mut unresolved = 0u64;
    let mut last_ack = SimTime::ZERO;
    let mut started_waiting = SimTime::ZERO;
    let mut stalled = 0u64;
    let mut prev = SimTime::ZERO;
    let stall = |from: SimTime, to: SimTime, unresolved: u64, since: SimTime| {
        if unresolved == 0 { 0 } else { to.0.saturating_sub(from.0.max(since.0.saturating_add(theta))) }
    };
    for &(at, e) in events {
        // A producer host's crash before this event: nobody waits for its unresolved messages any
        // more.
        while let Some(d) = crashes.next_if(|d| d.crash <= at) {
            stalled += stall(prev, d.crash, unresolved, last_ack.max(started_waiting));
            prev = d.crash;
            for id in 0..sent_at.len() {
                if hits(d, id) && !acknowledged[id] && !failed[id] && !orphaned[id] {
                    orphaned[id] = true;
                    unresolved -= 1;
                }
            }
        }
        stalled += stall(prev, at, unresolved, last_ack.max(started_waiting));
        prev = at;
        let n = sent_at.len() as u64;
        match e {
            ClientEvent::Sent { msg } => {
                if unresolved == 0 {
                    started_waiting = at;
                }
                unresolved += 1;
                sent_at.push(at);
                key.push(msg.key);
                acknowledged.push(false);
                failed.push(false);
                orphaned.push(false);
                for (g, c) in config.groups.iter().zip(&mut counts) {
                    c.owed += u64::from(at >= g.owed_from);
                }
                for tp in &mut times_processed {
                    tp.push(0);
                }
            }
            ClientEvent::Acknowledged { id } if id < n => {
                any_ack = true;
                last_ack = at;
                if !acknowledged[id as usize] {
                    unresolved -= u64::from(!failed[id as usize] && !orphaned[id as usize]);
                    acknowledged[id as usize] = true;
                    n_ack += 1;
                }
            }
            ClientEvent::SendFailed { id } if id < n => {
                if !acknowledged[id as usize] && !failed[id as usize] && !orphaned[id as usize] {
                    unresolved -= 1;
                    failed[id as usize] = true;
                    n_fail += 1;
                }
            }
            ClientEvent::Delivered { msg, group, redelivered, .. } if msg.id() < n => {
                counts[group].redelivered += u64::from(redelivered);
            }
            ClientEvent::Processed { msg, group, .. } if msg.id() < n => {
                let id = msg.id() as usize;
                let c = &mut counts[group];
                if sent_at[id] < config.groups[group].owed_from {
                    c.processed_not_owed += 1;
                    continue;
                }
                times_processed[group][id] += 1;
                if times_processed[group][id] > 1 {
                    c.duplicates += 1;
                    continue;
                }
                c.processed_unique += 1;
                if let Some(k) = key[id] {
                    let h = highest[group].entry(k).or_insert(0);
                    if *h > id as u64 {
                        c.out_of_order += 1;
                    }
                    *h = (*h).max(id as u64);
                }
            }
            ClientEvent::ProcessingStarted { msg, .. } if msg.id() < n => {}
            ClientEvent::Acked { id, .. } if id < n => {}
            ClientEvent::Committed { .. } => {}
            _ => unexpected += 1,
        }
    }
    while let Some(d) = crashes.next_if(|d| d.crash <= end) {
        stalled += stall(prev, d.crash, unresolved, last_ack.max(started_waiting));
        prev = d.crash;
        for id in 0..sent_at.len() {
            if hits(d, id) && !acknowledged[id] && !failed[id] && !orphaned[id] {
                orphaned[id] = true;
                unresolved -= 1;
            }
        }
    }
    stalled += stall(prev, end, unresolved, last_ack.max(started_waiting));
    let mut total = DeliveryCounts::default();
    let mut groups = BTreeMap::new();
    for (gi, (g, c)) in config.groups.iter().zip(&mut counts).enumerate() {
        for id in 0..sent_at.len() {
            if sent_at[id] >= g.owed_from && times_processed[gi][id] == 0 {
                let id64 = id as MessageId;
                if held.get(gi).is_some_and(|h| h.iter().any(|&(lo, hi)| (lo..hi).contains(&id64))) {
                    c.stranded += 1;
                } else if acknowledged[id] {
                    c.acknowledged_lost += 1;
                } else {
                    c.unacknowledged_lost += 1;
                }
            }
        }
        total.add(c);
        groups.insert(g.name.clone(), *c);
    }
    DeliveryReport {
        sent: sent_at.len() as u64,
        acknowledged: n_ack,
        publish_failures: n_fail,
        unavailable_s: any_ack.then(|| SimDuration(stalled).as_secs_f64()),
        producer_down_s: SimDuration(naive_down(config, end)).as_secs_f64(),
        unexpected_events: unexpected,
        returned: 0,
        unroutable: 0,
        total,
        groups,
    }
}

/// Nanoseconds during which some producer host was down: every stretch between two consecutive
/// crash or restart instants that some outage covers.
fn naive_down(config: &CheckerConfig, end: SimTime) -> u64 {
    let until = |d: &ProducerDown| d.restart.unwrap_or(end).min(end);
    let mut edges: Vec<u64> = config.producer_down.iter().flat_map(|d| [d.crash.0.min(end.0), until(d).0]).collect();
    edges.sort_unstable();
    edges.dedup();
    edges
        .windows(2)
        .filter(|w| config.producer_down.iter().any(|d| d.crash.0 <= w[0] && w[1] <= until(d).0))
        .map(|w| w[1] - w[0])
        .sum()
}

struct Rand(u64);

impl Rand {
    fn next(&mut self) -> u64 {
        // SplitMix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A random history of `n` messages with confirms, failures, late confirms, two outages in which
/// confirms are held back, and three groups (the third owed from half-way) that lose, repeat,
/// redeliver and reorder. Keys are drawn from `0..keys`.
fn random_history(seed: u64, n: u64, keys: u64) -> (Vec<(SimTime, ClientEvent)>, SimTime) {
    let mut r = Rand(seed);
    let mut events: Vec<(SimTime, ClientEvent)> = Vec::new();
    let mut at = 0;
    let outages = [(20_000, 35_000), (50_000, 51_500)];
    let hold = |ms: u64| outages.iter().find(|o| (o.0..o.1).contains(&ms)).map_or(ms, |o| o.1 + ms % 7);
    for id in 0..n {
        at += r.below(30);
        if r.chance(1) {
            at += 3_000; // the producer pauses
        }
        let key = if r.chance(20) { None } else { Some(r.below(keys)) };
        events.push((t(at), ClientEvent::Sent { msg: Message { id, published_at: t(at), key, bytes: 10 } }));
        let acked = hold(at + 1 + r.below(20));
        match r.below(100) {
            0..65 => events.push((t(acked), ClientEvent::Acknowledged { id })),
            65..75 => events.push((t(acked + 2_000), ClientEvent::SendFailed { id })),
            75..80 => {
                events.push((t(acked + 2_000), ClientEvent::SendFailed { id }));
                events.push((t(acked + 2_500), ClientEvent::Acknowledged { id }));
            }
            80..85 => {
                events.push((t(acked), ClientEvent::Acknowledged { id }));
                events.push((t(acked + 1), ClientEvent::Acknowledged { id }));
            }
            _ => {}
        }
        let msg = StoredMessage::new(&Message { id, published_at: t(at), key, bytes: 10 });
        for group in 0..3 {
            let first = at + 1 + r.below(500);
            let (consumer, redelivered) = (0, r.chance(5));
            match r.below(100) {
                0..80 => {
                    events.push((t(first), ClientEvent::Delivered { msg, group, consumer, redelivered }));
                    events.push((t(first), ClientEvent::ProcessingStarted { msg, group, consumer }));
                    events.push((t(first + 1), ClientEvent::Processed { msg, group, consumer }));
                    events.push((t(first + 2), ClientEvent::Acked { id, group, consumer }));
                }
                80..90 => {
                    events.push((t(first), ClientEvent::Processed { msg, group, consumer }));
                    let again = first + r.below(2_000);
                    events.push((t(again), ClientEvent::Delivered { msg, group, consumer, redelivered: true }));
                    events.push((t(again + 1), ClientEvent::Processed { msg, group, consumer }));
                }
                90..95 => events.push((t(first), ClientEvent::Delivered { msg, group, consumer, redelivered })),
                _ => {}
            }
            if r.chance(1) {
                events.push((t(first), ClientEvent::Committed { group, consumer, partition: 0, offset: id }));
            }
        }
    }
    let end = at + 10_000;
    events.push((t(end), ClientEvent::Processed { msg: stored(n + 5), group: 1, consumer: 0 }));
    events.push((t(end), ClientEvent::Acknowledged { id: n + 5 }));
    events.sort_by_key(|e| e.0); // stable: a Sent stays before every event of its message
    (events, t(end))
}

#[test]
fn matches_a_naive_recount_on_random_histories() {
    let host =
        |host, crash, restart: Option<u64>| ProducerDown { host: Some(host), crash: t(crash), restart: restart.map(t) };
    for seed in 0..16 {
        let (events, end) = random_history(seed, 4_000, 5);
        let config = CheckerConfig::new(["a", "b", "c"]).owed_from(2, events[events.len() / 2].0);
        // Odd seeds: the producer crashes during the first outage (its stall ends there) and
        // restarts 3 s later; seed 11's producer crashes again and never restarts. Seeds 12 to
        // 15: three producer hosts; during the first outage host 1 crashes (the stall goes on:
        // hosts 0 and 2 still wait), then host 0 (it still goes on), then host 2 (it ends there);
        // seeds 14 and 15 crash host 1 again after its restart, overlapping host 0's outage,
        // and never restart host 2.
        let config = match seed {
            11 => config.producer_down(vec![(t(25_000), Some(t(28_000))), (t(60_000), None)]),
            12 | 13 => config.producer_hosts(
                3,
                vec![host(1, 22_000, Some(26_000)), host(0, 24_000, Some(30_000)), host(2, 27_000, Some(33_000))],
            ),
            14 | 15 => config.producer_hosts(
                3,
                vec![
                    host(1, 22_000, Some(26_000)),
                    host(0, 24_000, Some(30_000)),
                    host(2, 27_000, None),
                    host(1, 28_000, Some(50_500)),
                ],
            ),
            _ if seed % 2 == 1 => config.producer_down(vec![(t(25_000), Some(t(28_000)))]),
            _ => config,
        };
        // The final read holds a stretch of every group's ids, and a few single ones of "a".
        let held = vec![vec![(3, 4), (40, 45), (100, 300)], vec![(100, 300)], vec![(3_000, 3_100)]];
        let mut c = Checker::new(config.clone());
        for (at, e) in &events {
            c.observe(*at, e);
        }
        let got = c.finish_with(end, &held);
        let want = naive(&config, &events, end, &held);
        assert_eq!(got, want, "seed {seed}");
        assert_identities(&got);
        // The histories exercise every count, so a checker that ignored one would be caught.
        let tot = got.total;
        assert!(tot.acknowledged_lost > 0 && tot.unacknowledged_lost > 0 && tot.stranded > 0);
        assert!(tot.duplicates > 0 && tot.redelivered > 0 && tot.out_of_order > 0 && tot.processed_not_owed > 0);
        assert!(got.publish_failures > 0 && got.unexpected_events == 2);
        assert!(got.unavailable_s.is_some_and(|s| s > 10.0), "the 15 s outage shows: {:?}", got.unavailable_s);
    }
}

#[test]
fn order_marks_match_the_naive_recount_when_kept_for_every_key() {
    // Thousands of keys: past 1,024 marks the checker prunes those below each group's floor, but
    // the random histories lose messages, which hold the floor down. With 2,000 keys the pruned
    // marks stay in the small map; with 10^4 they outgrow it and every key's mark is kept.
    for (seed, keys) in [(3, 2_000), (4, 10_000)] {
        let (events, end) = random_history(seed, 40_000, keys);
        let config = CheckerConfig::new(["a", "b", "c"]).owed_from(2, events[events.len() / 2].0);
        let mut c = Checker::new(config.clone());
        for (at, e) in &events {
            c.observe(*at, e);
        }
        let got = c.finish(end);
        assert_eq!(got, naive(&config, &events, end, &[]), "{keys} keys");
        assert!(got.total.out_of_order > 0);
        let marks = c.retained().key_marks;
        assert!(marks > 3 * 1_000 && marks <= 3 * keys as usize, "{keys} keys: {marks} marks");
    }
}

#[test]
fn a_prune_keeps_the_marks_above_the_id_being_processed() {
    // Messages 0 and 1 have key 7; 2..=1026 have keys of their own. The group processes 1, then
    // 2..=1024 (1,024 marks), then 0: the marks are pruned right then, and the floor is 0, the
    // id being processed (1025 is the lowest still unprocessed): 1's mark stays, 0 was overtaken.
    let mut f = Feed::new(CheckerConfig::new(["g"]));
    for id in 0..=1026 {
        f.send(id, id, Some(if id < 2 { 7 } else { 10_000 + id }));
    }
    for id in (1..=1024).chain([0]) {
        f.process(2_000, 0, id);
    }
    let r = f.report(3_000);
    assert_eq!(r.groups["g"].out_of_order, 1);
    assert_eq!(f.0.retained().key_marks, 1024, "nothing pruned: every mark is at or above 0");
}

#[test]
fn order_marks_below_the_floor_are_pruned() {
    // 10^5 messages with 5,000 keys, each processed once, shuffled within blocks of 64 ids (no
    // loss): the floor follows the blocks, so the marks are pruned to the few most recent ones,
    // and the out-of-order count is still the naive one.
    let mut r = Rand(7);
    let mut events = Vec::new();
    let n = 100_000u64;
    for block in 0..n / 64 {
        let ids: Vec<u64> = (block * 64..block * 64 + 64).collect();
        for &id in &ids {
            let msg = Message { id, published_at: t(id), key: Some(r.below(5_000)), bytes: 10 };
            events.push((t(id), ClientEvent::Sent { msg }));
            events.push((t(id), ClientEvent::Acknowledged { id }));
        }
        let mut order = ids;
        for i in (1..order.len()).rev() {
            order.swap(i, r.below(i as u64 + 1) as usize);
        }
        let at = t(block * 64 + 63);
        for id in order {
            events.push((at, ClientEvent::Processed { msg: stored(id), group: 0, consumer: 0 }));
        }
    }
    let config = CheckerConfig::new(["g"]);
    let mut c = Checker::new(config.clone());
    let mut most_marks = 0;
    for (at, e) in &events {
        c.observe(*at, e);
        most_marks = most_marks.max(c.retained().key_marks);
    }
    let got = c.finish(t(n));
    let want = naive(&config, &events, t(n), &[]);
    assert_eq!(got, want);
    assert!(got.total.out_of_order > 100, "{:?}", got.total);
    // Pruned once the array (4,096 slots here, for at most 2 x 64 + 1,024 marks after a prune)
    // is half full: it never grows past that.
    assert!(most_marks <= 2048, "{most_marks}");
}

#[test]
fn imports_nothing_from_the_models_or_the_recorder() {
    // The checker's independence, enforced: no code line of it names the models, the recorder or
    // the models' observations (comments may).
    for (file, text) in [("mod.rs", include_str!("mod.rs")), ("ranges.rs", include_str!("ranges.rs"))] {
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for banned in ["models", "metrics", "Observation"] {
                assert!(!line.contains(banned), "src/checker/{file} uses {banned}: {line}");
            }
        }
    }
}

#[test]
fn a_rewind_is_replay_once_per_message_and_a_seek_to_the_end_skips_on_purpose() {
    // Group "a" processes 0..4 (sent 0..40 ms). At 50 ms it seeks back: it processes 1, 2 and 2
    // again, then 3 twice. Replays: the first re-processings of 1, 2 and 3 (3 of them); the second
    // 2 and the second 3 are duplicates. Message 4 is sent at 55 ms, after the seek, and processed
    // once: first processing, not a replay.
    // Group "b" processes 0 only, then seeks to the end at 50 ms: 1, 2 and 3 are skipped on
    // purpose; 3 turns up after all (it was on its way) and counts as processed. 4 is owed and
    // processed. So b: owed 5, processed 0, 3, 4; skipped 1, 2; nothing lost.
    let mut f = Feed::new(CheckerConfig::new(["a", "b"]));
    for id in 0..4 {
        f.send(10 * id, id, None);
        f.ack(10 * id + 1, id);
        f.process(10 * id + 2, 0, id);
        if id == 0 {
            f.process(3, 1, 0);
        }
    }
    f.0.observe(t(50), &ClientEvent::Sought { group: 0, to_end: false });
    f.0.observe(t(50), &ClientEvent::Sought { group: 1, to_end: true });
    for id in [1, 2, 2, 3, 3] {
        f.process(52, 0, id);
    }
    f.send(55, 4, None);
    f.ack(56, 4);
    f.process(57, 0, 4);
    f.process(58, 1, 3);
    f.process(58, 1, 4);
    let r = f.report(100);
    assert_eq!(
        r.groups["a"],
        DeliveryCounts { owed: 5, processed_unique: 5, replayed: 3, duplicates: 2, ..DeliveryCounts::default() }
    );
    assert_eq!(r.groups["b"], DeliveryCounts { owed: 5, processed_unique: 3, skipped: 2, ..DeliveryCounts::default() });
    assert_identities(&r);
}

/// Issue 18's categories, worked by hand. One group, keys: messages 0..6 all of key 7.
/// - 0: processed at once.
/// - 1: fails, goes to a retry topic (`Retrying`), is processed at 50 ms after 2..4: processed,
///   and overtaken by 2 (first processed earlier with a higher id of its key): out of order 1.
/// - 2: processed.
/// - 3: fails twice, retried twice, then dead-lettered: dead_lettered; a later processing of it
///   counts as a duplicate, not a second fate.
/// - 4: dropped (skipped by its consumer), then dropped again: counted once.
/// - 5: retrying at the end: retried.
/// - 6: expired.
/// - 7: never processed, not held: acknowledged lost (acknowledged at 1 ms).
///
/// Failed attempts: 1 once, 3 three times, 4 once, 5 once: 6.
#[test]
fn settled_messages_end_in_exactly_one_category() {
    let mut f = Feed::new(CheckerConfig::new(["a"]));
    for id in 0..8 {
        f.send(0, id, Some(7));
    }
    f.ack(1, 7);
    let failed = |f: &mut Feed, ms, id| {
        f.0.observe(t(ms), &ClientEvent::ProcessingFailed { msg: stored(id), group: 0, consumer: 0 });
    };
    let settle = |f: &mut Feed, ms, id, outcome| f.0.observe(t(ms), &ClientEvent::Settled { id, group: 0, outcome });
    f.process(2, 0, 0);
    failed(&mut f, 3, 1);
    settle(&mut f, 3, 1, Settlement::Retrying);
    f.process(4, 0, 2);
    for ms in [5, 6, 7] {
        failed(&mut f, ms, 3);
        settle(&mut f, ms, 3, Settlement::Retrying);
    }
    settle(&mut f, 8, 3, Settlement::DeadLettered);
    failed(&mut f, 9, 4);
    settle(&mut f, 9, 4, Settlement::Dropped);
    settle(&mut f, 10, 4, Settlement::Dropped);
    failed(&mut f, 11, 5);
    settle(&mut f, 11, 5, Settlement::Retrying);
    settle(&mut f, 12, 6, Settlement::Expired);
    f.process(50, 0, 1);
    f.process(60, 0, 3);
    let r = f.report(100);
    let want = DeliveryCounts {
        owed: 8,
        processed_unique: 3,
        acknowledged_lost: 0,
        unacknowledged_lost: 0,
        duplicates: 1,
        out_of_order: 1,
        dead_lettered: 1,
        expired: 1,
        dropped: 1,
        retried: 1,
        failed_attempts: 6,
        ..DeliveryCounts::default()
    };
    // 7 was acknowledged and never processed: lost (0..6 were not acknowledged, settled anyway).
    assert_eq!(r.groups["a"], DeliveryCounts { acknowledged_lost: 1, ..want });
    assert_identities(&r);
    let g = &r.groups["a"];
    assert_eq!(g.settled(), 4);
}

/// A settlement of a message not owed (sent before the group's start) or of an id never sent is
/// no category: the identity is unchanged, and the unknown id is an unexpected event.
#[test]
fn settling_what_is_not_owed_counts_nowhere() {
    let mut f = Feed::new(CheckerConfig::new(["a"]).owed_from(0, t(5)));
    f.send(0, 0, None);
    f.send(10, 1, None);
    f.0.observe(t(11), &ClientEvent::Settled { id: 0, group: 0, outcome: Settlement::DeadLettered });
    f.0.observe(t(11), &ClientEvent::Settled { id: 9, group: 0, outcome: Settlement::Dropped });
    f.process(12, 0, 1);
    let r = f.report(20);
    assert_eq!(r.groups["a"], DeliveryCounts { owed: 1, processed_unique: 1, ..DeliveryCounts::default() });
    assert_eq!(r.unexpected_events, 1);
}

#[test]
fn an_idempotent_consumer_applies_again_only_what_fell_out_of_its_window() {
    // Group "idem" remembers the last 2 ids it applied; group "plain" is not idempotent. Both
    // process 0, 1, 2, then get 2, 1 and 0 again (say, redelivered after a crash).
    // idem: after 0, 1, 2 its window holds {1, 2}; the second 2 and the second 1 are known
    // (skipped); 0 had fallen out: applied again (1 duplicate effect), and remembered, so the
    // window is {2, 0} and a third 0 is skipped. Duplicates delivered: 4, effects: 1.
    // plain: duplicates 3 (2, 1, 0 again), no `duplicate_effects` of its own; the system's sum
    // counts them all as effects: 1 + 3 = 4.
    let mut c = CheckerConfig::new(["idem", "plain"]);
    c.groups[0].dedup_window = Some(2);
    let mut f = Feed::new(c);
    for id in 0..3 {
        f.send(id, id, None);
    }
    for id in 0..3 {
        f.process(10 + id, 0, id);
        f.process(10 + id, 1, id);
    }
    for id in [2, 1, 0, 0] {
        f.process(20, 0, id);
    }
    for id in [2, 1, 0] {
        f.process(20, 1, id);
    }
    let r = f.report(100);
    assert_eq!((r.groups["idem"].duplicates, r.groups["idem"].duplicate_effects), (4, Some(1)));
    assert_eq!((r.groups["plain"].duplicates, r.groups["plain"].duplicate_effects), (3, None));
    assert_eq!((r.total.duplicates, r.total.duplicate_effects), (7, Some(4)));
    assert_identities(&r);
    // With no idempotent group the field is absent everywhere, so summary.json is unchanged.
    let mut f = Feed::new(CheckerConfig::new(["plain"]));
    f.send(0, 0, None);
    f.process(1, 0, 0);
    f.process(2, 0, 0);
    let json = serde_json::to_string(&f.report(10)).unwrap();
    assert!(json.contains("\"duplicates\":1") && !json.contains("duplicate_effects"), "{json}");
}
