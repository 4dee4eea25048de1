//! The contract suite (its rules are the book's chapter `docs/src/contract.md`), written once
//! and run against every server's real binary over real sockets: each case in [`cases`],
//! [`chat`], [`rooms`], [`identity`], [`operations`] and [`defence`] starts the server on
//! `127.0.0.1:0` as a child process, talks HTTP to it, and reads its streams with
//! `eventsource-stream`, an SSE parser this project did not write.
//!
//! A server crate runs the whole suite with one line in `tests/contract.rs`:
//!
//! ```text
//! contract_tests::contract_suite!(axum, env!("CARGO_BIN_EXE_server-axum"));
//! ```
//!
//! Every case runs three times per server: over HTTP/1.1 with the chat in the process
//! (`axum::memory::...`), the same with the chat in a Redis stream (`axum::redis::...`: the
//! server gets `--redis` and a `redis-server` of the case's own, see [`services`]), and over
//! HTTP/2 with TLS (`axum::h2::...`: see [`tls`]). Streamed [`answers`] have nothing to do
//! with Redis, and run over HTTP/1.1 and HTTP/2 only. A few cases are about the connection itself
//! and run over one protocol only: raw HTTP/1.1 sockets, or what only HTTP/2 has ([`h2`]). A
//! failure names the framework and the group, and every assertion message names the framework.

pub mod answers;
pub mod cases;
pub mod chat;
pub mod client;
pub mod defence;
pub mod foreign;
pub mod h2;
#[cfg(feature = "identity")]
pub mod identity;
pub mod operations;
pub mod rooms;
pub mod services;
pub mod slow_link;
pub mod tls;
#[cfg(feature = "identity")]
pub mod tokens;
pub mod workshop;

pub use client::{Endpoint, Protocol, Server, Target};

/// Generates one `#[tokio::test]` per contract case, in a module named after the framework.
#[macro_export]
macro_rules! contract_suite {
    ($framework:ident, $binary:expr) => {
        $crate::contract_suite!(@cases $framework, $binary;
            cases::first_line_names_the_address_and_the_framework,
            cases::stream_headers_follow_the_contract,
            cases::first_event_arrives_at_once_even_with_a_long_interval,
            cases::retry_comes_first,
            cases::retry_is_spread_per_stream,
            cases::clock_ids_count_from_one_at_the_interval,
            cases::clock_formats_follow_the_format_parameter,
            cases::clock_resumes_after_last_event_id_header,
            cases::clock_resumes_from_last_event_id_query,
            cases::unusable_last_event_id_starts_fresh,
            cases::ids_at_the_top_of_the_range_start_again_or_end,
            cases::paragraph_sends_five_sentences_then_end_and_closes,
            cases::paragraph_bytes_are_exact,
            cases::paragraph_resumes_after_last_event_id,
            cases::reconnect_after_last_sentence_gets_204,
            cases::counter_counts_from_zero_as_json_and_resumes,
            cases::bad_query_parameters_get_400_naming_them,
            cases::unknown_paths_get_404_and_wrong_methods_405,
            cases::health_reports_the_framework_and_open_streams,
            cases::idle_stream_gets_keep_alive_comments,
            cases::no_keep_alive_comment_while_events_flow,
            cases::past_max_streams_a_stream_is_told_to_come_back_later,
            cases::page_and_assets_are_served,
            chat::chat_post_answers_name_what_was_wrong,
            chat::chat_cross_origin_posts_are_allowed_from_the_same_host_only,
            chat::chat_hostile_text_arrives_intact_as_one_event,
            chat::chat_racing_publishers_and_resuming_readers_miss_nothing,
            chat::chat_history_parameter_sets_how_many_past_messages_come_first,
            chat::chat_idle_stream_gets_keep_alive_comments,
            chat::chat_slow_subscriber_leaves_memory_bounded_and_gets_lagged,
            rooms::rooms_keep_their_messages_and_ids_apart,
            rooms::rooms_outside_the_rules_get_400_naming_the_rule,
            rooms::rooms_resume_exactly_from_the_cursor_under_concurrent_posts,
            rooms::past_max_rooms_a_new_room_gets_507,
            identity::identity_tokens_that_do_not_verify_get_401_naming_why,
            identity::identity_private_rooms_open_only_to_their_tokens_even_by_guessed_ids,
            identity::identity_expiry_ends_the_stream_and_a_fresh_token_resumes_exactly,
            identity::identity_the_demo_sign_in_sets_an_http_only_cookie,
            identity::identity_httpx_sse_reads_a_private_room_with_a_bearer_header,
            operations::metrics_count_streams_events_and_chat,
            defence::one_client_at_its_stream_limit_leaves_others_served,
            defence::behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit,
            defence::a_publish_flood_gets_429_and_others_still_post,
            defence::invisible_names_and_bidirectional_controls_are_refused,
            defence::a_replay_sends_at_most_its_byte_budget,
            defence::pages_send_a_strict_content_security_policy;
            // Where Redis has no part but the protocol has: over HTTP/1.1 and HTTP/2 only.
            http1_and_http2:
            answers::answers_stream_openai_chunks_with_ids_then_done,
            answers::answers_whole_is_one_chat_completion,
            answers::answers_bad_requests_get_openai_errors_naming_what,
            answers::answers_stop_when_the_client_goes_away,
            answers::answers_keep_alive_while_the_model_thinks,
            answers::answers_resume_after_a_drop_and_delete_cancels,
            answers::answers_one_client_at_its_kept_limit_leaves_others_served,
            answers::answers_the_openai_packages_for_python_and_node_stream_ask_whole_and_abort;
            // Over raw HTTP/1.1 sockets: the connection itself is what they test.
            http1_only:
            cases::sigterm_ends_hundreds_of_streams_and_exits_zero_within_2s,
            cases::sigint_ends_streams_and_exits_zero_within_2s,
            operations::hundreds_of_vanished_clients_are_released_within_5s,
            operations::odd_headers_get_a_clean_answer_and_the_server_goes_on,
            operations::at_the_open_files_limit_streams_are_turned_away_and_health_answers,
            operations::a_port_in_use_is_one_sentence_and_a_non_zero_exit,
            defence::one_client_at_its_connection_limit_leaves_others_served,
            defence::a_foreign_missing_or_repeated_host_is_refused,
            defence::odd_request_lines_get_an_answer_and_never_a_panic,
            defence::a_declared_body_over_the_limit_gets_413_at_once,
            defence::a_subscriber_that_stops_reading_is_closed_after_the_write_timeout,
            defence::a_body_that_trickles_gets_408;
            // What only HTTP/2 has: many streams on one connection, a stream reset alone.
            http2_only:
            h2::streams_share_one_connection_with_no_connection_specific_headers,
            h2::a_reset_stream_and_a_closed_connection_are_released_within_5s,
            h2::sigterm_ends_streams_on_every_connection_and_exits_zero_within_2s,
            defence::connections_that_say_nothing_are_closed_after_10s,
        );
    };
    (@cases $framework:ident, $binary:expr;
        $($module:ident :: $case:ident),* ;
        http1_and_http2: $($mb:ident :: $cb:ident),* ;
        http1_only: $($m1:ident :: $c1:ident),* ;
        http2_only: $($m2:ident :: $c2:ident),* $(,)?
    ) => {
        mod $framework {
            $crate::contract_suite!(@group memory, false, Http1, $framework, $binary;
                $($module::$case,)* $($mb::$cb,)* $($m1::$c1),*);
            $crate::contract_suite!(@group redis, true, Http1, $framework, $binary;
                $($module::$case,)* $($m1::$c1),*);
            $crate::contract_suite!(@group h2, false, Http2, $framework, $binary;
                $($module::$case,)* $($mb::$cb,)* $($m2::$c2),*);
        }
    };
    (@group $group:ident, $redis:expr, $protocol:ident, $framework:ident, $binary:expr; $($module:ident :: $case:ident),*) => {
        mod $group {
            $(
                #[tokio::test]
                async fn $case() {
                    let target = $crate::Target {
                        binary: $binary,
                        framework: stringify!($framework),
                        redis: $redis,
                        protocol: $crate::Protocol::$protocol,
                        workshop: None,
                        running: None,
                    };
                    $crate::$module::$case(target).await;
                }
            )*
        }
    };
}
