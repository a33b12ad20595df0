//! The shared rate limits part of the suite: turns `pace` apart (later turns queue), an hourly
//! budget that frees up an hour after the oldest turn, holds that win over turns, per key.

use super::{fresh, Backend};
use chrono::{Duration, TimeZone, Utc};
use irene_core::PaceTurn;
use std::time::Duration as StdDuration;

/// Turns up to a minute away are taken.
const WAIT: StdDuration = StdDuration::from_secs(60);

pub async fn shared_pacing_spaces_turns_keeps_the_hourly_budget_and_holds(b: &dyn Backend) {
    let o = fresh(b).await;
    let s = &o.store;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let pace = StdDuration::from_secs(1);

    // Three turns asked at once are a second apart: the first now, the others queued.
    let mut turns = Vec::new();
    for _ in 0..3 {
        turns.push(s.pace_reserve("gh:a", pace, 3, WAIT, t0).await.unwrap());
    }
    assert_eq!(
        turns,
        vec![
            PaceTurn::At(t0),
            PaceTurn::At(t0 + Duration::seconds(1)),
            PaceTurn::At(t0 + Duration::seconds(2)),
        ]
    );
    // A turn further than the caller would wait is not taken: it stays free.
    assert_eq!(
        s.pace_reserve("gh:a", pace, 100, StdDuration::from_secs(2), t0)
            .await
            .unwrap(),
        PaceTurn::Later(t0 + Duration::seconds(3))
    );
    // Another key has its own turns and budget.
    assert_eq!(
        s.pace_reserve("gh:b", pace, 3, WAIT, t0).await.unwrap(),
        PaceTurn::At(t0)
    );
    // The budget of three an hour is spent: the next turn is an hour after the oldest.
    let later = t0 + Duration::minutes(10);
    assert_eq!(
        s.pace_reserve("gh:a", pace, 3, WAIT, later).await.unwrap(),
        PaceTurn::Budget {
            taken: 3,
            until: t0 + Duration::hours(1),
        }
    );
    // An hour after the first turn, there is room for one more.
    let after = t0 + Duration::hours(1) + Duration::seconds(1);
    assert_eq!(
        s.pace_reserve("gh:a", pace, 3, WAIT, after).await.unwrap(),
        PaceTurn::At(after)
    );

    // A hold: nothing before it ends, whatever the budget; the later of two holds wins.
    let until = after + Duration::minutes(5);
    assert_eq!(s.pace_held("gh:b", after).await.unwrap(), None);
    s.pace_hold("gh:b", until).await.unwrap();
    s.pace_hold("gh:b", until - Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(s.pace_held("gh:b", after).await.unwrap(), Some(until));
    assert_eq!(
        s.pace_reserve("gh:b", pace, 100, WAIT, after)
            .await
            .unwrap(),
        PaceTurn::Held(until)
    );
    assert_eq!(s.pace_held("gh:b", until).await.unwrap(), None, "over");
    assert_eq!(
        s.pace_reserve("gh:b", pace, 100, WAIT, until)
            .await
            .unwrap(),
        PaceTurn::At(until)
    );
    // A hold on a key never used before is kept too.
    s.pace_hold("slack:x", until).await.unwrap();
    assert_eq!(s.pace_held("slack:x", after).await.unwrap(), Some(until));
}
