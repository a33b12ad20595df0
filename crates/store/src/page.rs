//! Listing in pages: the bounded page size and the one way a page is cut from `limit + 1`
//! fetched rows (the extra row says there is a next page). No queries here.

use crate::{Page, Result};

/// The rows a page holds: what was asked, within 1..=500.
pub(crate) fn limit(asked: u32) -> i64 {
    i64::from(asked.clamp(1, 500))
}

/// Cuts a page from rows fetched with `LIMIT limit + 1`: at most `limit` items, and when there
/// were more, the cursor of the last item kept.
pub(crate) fn page<R, T>(
    rows: &[R],
    limit: i64,
    mut item: impl FnMut(&R) -> Result<T>,
    cursor: impl Fn(&R) -> String,
) -> Result<Page<T>> {
    let keep = usize::try_from(limit).unwrap_or(usize::MAX).min(rows.len());
    let items = rows[..keep]
        .iter()
        .map(&mut item)
        .collect::<Result<Vec<T>>>()?;
    let next_cursor = if rows.len() > keep {
        rows[..keep].last().map(cursor)
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}
