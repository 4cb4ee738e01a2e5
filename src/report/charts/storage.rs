//! Bytes held by the broker over time.

use super::*;

pub(super) fn chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let end = run_end_secs(s, runs);
    let unit = time_unit(end);
    let x_end = end / unit.secs;
    let max_bytes = runs.iter().flat_map(|r| r.recorder.samples.iter().map(|x| x.stored_bytes_max)).max().unwrap_or(0);
    let (scale, unit_name) = byte_unit(max_bytes);
    let mut lines = Vec::new();
    let stream = s.rabbitmq.stream.is_some();
    for r in runs {
        let label = match r.system {
            SystemKind::Kafka => "kafka: bytes in the log",
            SystemKind::RabbitMq if stream => "rabbitmq: bytes in the stream",
            SystemKind::RabbitMq => "rabbitmq: bytes in the queues",
        };
        // Every group's row of one bucket carries the same broker-wide figure: take it once.
        let points: Vec<(f64, f64)> = by_time(&r.recorder.samples)
            .map(|rows| (rows[0].time.as_secs_f64() / unit.secs, rows[0].stored_bytes_max as f64 / scale))
            .collect();
        let peak = r.recorder.samples.iter().map(|x| x.stored_bytes_max).max();
        lines.push(Line {
            label: match peak {
                Some(b) => format!("{label} (peak {})", super::super::table::bytes(b)),
                None => label.to_string(),
            },
            color: system_color(r.system),
            dash: Dash::Solid,
            width: system_width(r.system),
            points,
        });
    }
    let max = max_bytes as f64 / scale;
    let y_end = y_top(max, 1.0);
    let fanout = if s.groups.len() > 1 && !stream {
        format!(" With {} groups RabbitMQ stores one copy per queue.", s.groups.len())
    } else {
        String::new()
    };
    let rabbit = if stream {
        "a RabbitMQ stream, one copy for every group, until its retention deletes whole segments (acks delete \
         nothing)"
    } else {
        "a RabbitMQ queue deletes each message once it is acknowledged"
    };
    let mut subtitle = format!(
        "A Kafka log keeps messages until retention deletes them; {rabbit}.{fanout} Each point is the most held \
         during its {} interval.",
        round_secs(s.sample_interval.as_secs_f64())
    );
    if let [a, b] = &lines[..]
        && let Some(text) = lines_coincide(a, b, y_end, 380.0, x_end, unit)
    {
        subtitle.push(' ');
        subtitle.push_str(&text);
    }
    let y_format = if scale == 1.0 { YFormat::Count } else { YFormat::Decimal };
    let title = format!("{}: data held by the broker", s.name);
    one_panel_chart(
        s,
        runs,
        unit,
        x_end,
        title,
        subtitle,
        (format!("stored data ({unit_name})"), y_end, y_format),
        lines,
    )
}

/// Divisor and name of the binary unit that keeps `max` readable.
fn byte_unit(max: u64) -> (f64, &'static str) {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut scale = 1.0;
    let mut u = 0;
    while max as f64 / scale >= 1024.0 * 1.5 && u < UNITS.len() - 1 {
        scale *= 1024.0;
        u += 1;
    }
    (scale, UNITS[u])
}
