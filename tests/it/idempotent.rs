//! An idempotent consumer (`[[groups]] idempotent = true`): the duplicates a failure delivers are
//! still counted as `duplicates`, but only those whose id fell out of the consumer's window of
//! remembered ids count as `duplicate_effects`.

use crate::common::*;
use pushpull::scenario::SystemKind;

/// Kafka, 100 msg/s over 6 partitions, three groups of 3 consumers alike but for idempotence;
/// consumer 0 of each is killed at 60 s for 90 s.
fn three_groups() -> String {
    let group = |name: &str, extra: &str| {
        format!(
            "[[groups]]\nname = \"{name}\"\nconsumers = 3\nprocessing = {{ distribution = \"exponential\", mean = \
             \"5ms\" }}\n{extra}\n"
        )
    };
    let crash = |name: &str| {
        format!("[[faults]]\nat = \"60s\"\naction = \"crash\"\ntarget = \"{name}/0\"\nduration = \"90s\"\n")
    };
    format!(
        "duration = \"4m\"\nsystems = [\"kafka\"]\n[workload]\nrate = 100.0\nkeys = {{ count = 1000, distribution = \
         \"uniform\" }}\n{}{}{}[kafka]\npartitions = 6\n{}{}{}",
        group("wide", "idempotent = true"),
        group("narrow", "idempotent = true\ndedup_window = 50"),
        group("plain", ""),
        crash("wide"),
        crash("narrow"),
        crash("plain"),
    )
}

/// The dead consumer's records processed after its last auto-commit (up to 5 s before the crash)
/// are processed again by the member that takes its partitions about 45 s later. Meanwhile the
/// group applied the other partitions' records, about 67/s: some 3,000 ids. The default window
/// (100,000 ids) still holds every redelivered id: duplicates delivered, none applied twice. A
/// window of 50 ids has forgotten every one of them: each duplicate is applied again. A group that
/// is not idempotent has no `duplicate_effects` of its own and counts all its duplicates in the sum.
#[test]
fn an_idempotent_consumer_applies_duplicates_only_beyond_its_window() {
    let d = delivery(&scenario(&three_groups()), SystemKind::Kafka);
    let (wide, narrow, plain) = (&d.groups["wide"], &d.groups["narrow"], &d.groups["plain"]);
    for g in [wide, narrow, plain] {
        assert!(g.duplicates > 10, "the crash must cause duplicates: {g:?}");
        assert_eq!(g.acknowledged_lost + g.unacknowledged_lost, 0, "{g:?}");
    }
    assert_eq!(wide.duplicate_effects, Some(0), "{wide:?}");
    assert_eq!(narrow.duplicate_effects, Some(narrow.duplicates), "{narrow:?}");
    assert_eq!(plain.duplicate_effects, None);
    assert_eq!(d.total.duplicate_effects, Some(narrow.duplicates + plain.duplicates));
}

/// The table and the delivery chart show `duplicate effects` with an idempotent group (the
/// system's sum: the narrow and plain groups' duplicates), and not without one.
#[test]
fn duplicate_effects_are_shown_only_with_an_idempotent_group() {
    for (text, shown) in [(three_groups(), true), (three_groups().replace("idempotent = true", ""), false)] {
        let s = scenario(&text.replace("dedup_window = 50", ""));
        let runs = run_all(&s);
        let sum = pushpull::report::summary(&s, &runs);
        let table = pushpull::report::table::render(&sum);
        let row = table.lines().find(|l| l.starts_with("duplicate effects"));
        let chart = pushpull::report::charts::chart_svgs(&s, &runs).unwrap();
        let chart = svg(&chart, "delivery");
        assert_eq!(chart.contains("duplicate effects"), shown, "delivery chart");
        match row {
            Some(row) => {
                assert!(shown, "{table}");
                // Only "plain" applies its duplicates again: the default window holds the others'.
                let plain = runs[0].delivery.groups["plain"].duplicates;
                assert_eq!(row.split_whitespace().last(), Some(pushpull::report::table::thousands(plain).as_str()));
            }
            None => assert!(!shown, "no duplicate effects row in\n{table}"),
        }
    }
}
