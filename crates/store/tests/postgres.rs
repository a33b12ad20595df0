//! Runs the Store conformance suite (`suite/`) on PostgreSQL, each check on a fresh database
//! (`postgres_db`): the same checks as `tests/sqlite.rs`, every one of them.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres_db;
mod suite;

use async_trait::async_trait;
use irene_core::{Correlator, Planner};
use irene_store::Location;
use std::sync::Arc;
use suite::{Backend, Opened};

struct Postgres;

#[async_trait]
impl Backend for Postgres {
    async fn open(&self, planner: Arc<dyn Planner>, correlator: Arc<dyn Correlator>) -> Opened {
        let db = postgres_db::create().await;
        let store = irene_store::open(&Location::Postgres(db.url.clone()), planner, correlator)
            .await
            .expect("open store");
        Opened {
            store,
            keep: Box::new(db),
        }
    }
}

/// One test per check of the suite, named as the check.
macro_rules! checks {
    ($($module:ident :: $check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                suite::$module::$check(&Postgres).await
            }
        )*
    };
}

checks!(
    counts::counts_group_by_source_hour_type_and_rule,
    counts::resolve_times_run_from_the_opening_to_the_resolve,
    counts::similar_cases_share_type_and_resource_or_actor,
    accounts::audit_log_lists_newest_first_pages_and_filters_by_actor,
    accounts::accounts_are_added_once_listed_changed_and_removed,
    accounts::sessions_expire_when_idle_or_old_and_end_with_their_user,
    accounts::failed_sign_ins_are_counted_by_name_and_address_in_a_window,
    accounts::source_stats_count_payloads_per_intake_source,
    pipeline::leases_replay_without_doubling,
    pipeline::a_transaction_dropped_without_commit_writes_nothing,
    pipeline::case_lifecycle_is_recorded_with_its_timeline,
    pipeline::a_resolved_alert_for_an_unknown_key_opens_no_case,
    pipeline::cases_filter_and_paginate,
    pipeline::cases_filter_by_account_and_label_and_sort_by_severity,
    pipeline::quarantine_keeps_the_item_and_requeues_it,
    pipeline::an_item_no_inbox_row_holds_is_quarantined_listed_and_requeued,
    pipeline::silent_cases_expire_per_source,
    pipeline::release_gives_back_claimed_rows,
    pipeline::every_read_sees_the_latest_commit,
    pipeline::a_claim_stops_at_its_item_budget,
    pipeline::an_idempotency_key_is_stored_once,
    pipeline::a_complete_scan_resolves_the_cases_of_its_scope_it_no_longer_has,
    pipeline::alerts_scan_pages_a_window_in_received_order,
    outbox::a_case_change_writes_its_deliveries_and_lanes_go_in_order,
    investigations::findings_raise_the_case_and_a_rerun_equal_to_the_last_says_unchanged,
    outbox::repeats_fold_and_a_resolve_absorbs_them,
    outbox::dead_letters_are_listed_and_replayed,
    outbox::tickets_are_kept_shown_on_the_case_and_drive_manual_changes,
    outbox::jobs_keep_their_clock_and_reminders_wait,
    events::events_are_kept_once_and_found_by_the_investigators_questions,
    events::only_new_events_move_correlation_windows,
    events::a_feed_keeps_its_last_good_copy,
    investigations::investigations_run_once_and_a_batch_ends_in_one_note,
    investigations::a_summary_links_its_own_attachments_by_id,
    intel::intel_answers_expire_and_daily_quotas_hold,
    pacing::shared_pacing_spaces_turns_keeps_the_hourly_budget_and_holds,
);
