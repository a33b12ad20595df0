//! Server-rendered charts as SVG text: alerts per hour as bars (one per hour with alerts).
//! Hand-written SVG, numbers and times only (no alert text); it must not read the store.

use chrono::{DateTime, Duration, Utc};
use irene_store::HourCount;
use std::fmt::Write;

const WIDTH: f64 = 840.0;
const HEIGHT: f64 = 200.0;
/// Room on the left for the scale and at the bottom for the days.
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 10.0;

/// Alerts per hour in `[since, since + hours)` as bars: one `<rect class="bar">` per hour with
/// alerts, each titled with its hour and count; a scale (0 and the busiest hour) and a label per
/// day.
pub fn alerts_per_hour(counts: &[HourCount], since: DateTime<Utc>, hours: i64) -> String {
    let hours = hours.max(1);
    let shown = |c: &&HourCount| (0..hours).contains(&(c.hour - since).num_hours()) && c.count > 0;
    let max = counts
        .iter()
        .filter(shown)
        .map(|c| c.count)
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bar_w = plot_w / hours as f64;
    let mut s = String::with_capacity(256 + counts.len() * 160);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="Alerts per hour">"#
    );
    let base = TOP + plot_h;
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#888" stroke-width="1"/>"##
    );
    let _ = write!(
        s,
        r##"<text x="{x}" y="{y}" font-size="10" text-anchor="end" fill="#555">{max}</text><text x="{x}" y="{base}" font-size="10" text-anchor="end" fill="#555">0</text>"##,
        x = LEFT - 4.0,
        y = TOP + 8.0,
    );
    for day in 0..=(hours / 24) {
        let at = since + Duration::hours(day * 24);
        let x = LEFT + (day * 24) as f64 * bar_w;
        if x >= WIDTH - 30.0 {
            break;
        }
        let _ = write!(
            s,
            r##"<text x="{x:.1}" y="{y}" font-size="10" fill="#555">{d}</text>"##,
            y = HEIGHT - 6.0,
            d = at.format("%m-%d %H:00"),
        );
    }
    for c in counts.iter().filter(shown) {
        let i = (c.hour - since).num_hours();
        let h = (c.count as f64 / max as f64 * plot_h).max(1.0);
        let _ = write!(
            s,
            r##"<rect class="bar" x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="#3a6ea5"><title>{t}: {n}</title></rect>"##,
            x = LEFT + i as f64 * bar_w,
            y = base - h,
            w = (bar_w - 0.5).max(0.5),
            t = c.hour.format("%Y-%m-%d %H:00 UTC"),
            n = c.count,
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 / 3600 * 3600 + h * 3600, 0).unwrap_or_default()
    }

    #[test]
    fn one_bar_per_hour_with_alerts_scaled_to_the_busiest() {
        let since = at(0);
        let counts = [
            HourCount {
                hour: at(1),
                count: 4,
            },
            HourCount {
                hour: at(5),
                count: 2,
            },
            // outside the window: not drawn
            HourCount {
                hour: at(200),
                count: 9,
            },
        ];
        let svg = alerts_per_hour(&counts, since, 168);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
        assert!(svg.contains(&format!(
            "{}: 4</title>",
            at(1).format("%Y-%m-%d %H:00 UTC")
        )));
        // the busiest hour fills the plot, the other half of it
        assert!(svg.contains(r#"height="170.00""#), "{svg}");
        assert!(svg.contains(r#"height="85.00""#), "{svg}");
        assert!(
            svg.contains(">4</text>"),
            "the scale's top is the busiest hour"
        );
    }

    #[test]
    fn no_alerts_draw_no_bars() {
        let svg = alerts_per_hour(&[], at(0), 168);
        assert_eq!(svg.matches("<rect").count(), 0);
        assert!(svg.contains("</svg>"));
    }
}
