//! The store conformance suite: every test here runs against every backend, SQLite (a
//! real database file) and PostgreSQL (a private cluster on loopback, see `hub-testpg`),
//! as `sqlite::<test>` and `pg::<test>`. A backend is a [`Backend`]: a fresh, empty store
//! and a way to open it again (a new connection: what one worker, or a restart, sees).

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod backends;
mod concurrency;
mod doubts;
mod inbound;
mod leases;
mod migrations;
mod outbox;
mod pages;
mod pauses;
mod pg_only;
mod protection;
mod requeues;
mod sealing;
mod support;
mod workers;

pub use backends::{Backend, Pg, Sqlite};

/// Instantiates each listed test (a `fn(&impl Backend)`) once per backend.
macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    if let Some(b) = <crate::Sqlite as crate::Backend>::fresh() {
                        crate::$module::$name(&b);
                    }
                }
            )*
        }
        mod pg {
            $(
                #[test]
                fn $name() {
                    if let Some(b) = <crate::Pg as crate::Backend>::fresh() {
                        crate::$module::$name(&b);
                    }
                }
            )*
        }
    };
}

conformance!(
    outbox::a_transfer_lives_from_enqueue_to_done_and_survives_a_reopen,
    outbox::numbers_are_gapless_and_a_failed_encode_uses_none,
    outbox::duplicates_are_skipped_and_snapshots_supersede_queued_records_only,
    outbox::a_changed_body_is_refused_or_queued_as_the_plugin_declares,
    outbox::rejected_records_need_checking_until_resolved_by_hand,
    outbox::failed_records_leave_the_queue_with_their_reason,
    requeues::a_rejected_record_is_queued_again_once_and_its_transfer_completes,
    requeues::a_requeue_is_refused_when_the_source_sent_a_newer_record,
    requeues::an_input_streamed_in_chunks_is_queued_all_or_nothing,
    outbox::a_receipt_completes_a_sent_transfer,
    outbox::a_delivered_transfer_is_sent_again_on_request_and_looks_are_recorded,
    outbox::a_record_already_in_a_transfer_cannot_go_into_another,
    outbox::a_transfer_keeps_what_it_was_encoded_from,
    doubts::a_delivery_in_doubt_is_held_until_a_person_settles_it,
    doubts::a_started_attempt_is_completed_not_duplicated,
    inbound::an_import_is_all_or_nothing_and_knows_owners_and_versions,
    inbound::a_held_transport_refused_after_all_leaves_its_number_missing,
    inbound::a_held_transport_streams_in_and_out_of_its_file,
    inbound::answers_are_owed_until_delivered_and_requests_are_written_once,
    inbound::a_receipt_streamed_into_the_store_must_be_as_long_as_announced,
    inbound::arrived_transports_are_listed_newest_first_with_their_bytes,
    leases::claims_keep_order_within_a_scope_and_expired_leases_are_taken_over,
    leases::workers_claiming_at_once_never_hold_the_same_transfer,
    leases::a_created_transfer_is_claimed_by_its_id_under_the_same_rules,
    leases::a_group_of_writes_commits_together,
    migrations::an_empty_database_gets_every_migration_once,
    migrations::a_store_of_every_earlier_schema_is_brought_up_to_date_with_its_data,
    migrations::a_store_with_a_migration_this_hub_does_not_know_is_refused,
    concurrency::four_workers_put_every_record_into_exactly_one_transfer_numbered_gaplessly,
    workers::workers_never_share_a_transfer_and_scopes_go_in_order,
    workers::a_dead_workers_transfer_is_taken_over_when_its_lease_runs_out,
    workers::a_target_limit_holds_across_workers_and_release_frees,
    workers::the_one_sender_frees_a_killed_runs_leases,
    workers::has_work_sees_queued_records_and_claimable_transfers_only,
    workers::a_targets_backoff_is_shared_and_cleared_by_a_good_send,
    workers::a_scheduled_slot_is_taken_by_one_worker_only,
    pages::kept_counts_follow_every_change_of_state_and_survive_a_reopen,
    pages::the_overview_counts_open_transfers_and_what_waits_too_long,
    pages::pages_go_newest_first_and_continue_from_their_cursor,
    pages::pages_filter_by_target_state_label_time_and_text,
    protection::a_purge_keeps_hashes_and_the_log_and_refuses_a_resend,
    protection::settlements_and_resolutions_are_in_the_trail_with_who_and_why,
    protection::the_audit_trail_names_the_first_altered_or_missing_entry,
    protection::a_purge_takes_the_answers_and_outcome_messages_that_quote_a_record,
    sealing::sealed_bodies_and_bytes_hold_no_plaintext_and_open_again,
    sealing::a_deleted_tenant_key_shreds_that_tenant_only,
    sealing::after_a_rotation_old_keys_read_and_rekey_moves_everything_to_the_new,
    sealing::another_key_under_a_known_id_is_refused,
    sealing::received_versions_and_archives_are_sealed_and_rekeyed,
    pauses::a_pause_is_shared_kept_and_audited_until_resumed,
);
