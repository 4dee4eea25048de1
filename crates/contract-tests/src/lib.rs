//! The contract suite, written once and run against every server's real binary over real
//! sockets: each case in [`cases`] starts the server on `127.0.0.1:0` as a child process, talks
//! HTTP to it, and reads its streams with `eventsource-stream`, an SSE parser this project did
//! not write.
//!
//! A server crate runs the whole suite with one line in `tests/contract.rs`:
//!
//! ```text
//! contract_tests::contract_suite!(axum, env!("CARGO_BIN_EXE_server-axum"));
//! ```
//!
//! Test names read `axum::paragraph_resumes_after_last_event_id`, so a failure names the
//! framework, and so does every assertion message.

pub mod cases;
pub mod client;

pub use client::{Server, Target};

/// Generates one `#[tokio::test]` per contract case, in a module named after the framework.
#[macro_export]
macro_rules! contract_suite {
    ($framework:ident, $binary:expr) => {
        $crate::contract_suite!(@cases $framework, $binary;
            first_line_names_the_address_and_the_framework,
            stream_headers_follow_the_contract,
            first_event_arrives_at_once_even_with_a_long_interval,
            retry_comes_first,
            clock_ids_count_from_one_at_the_interval,
            clock_formats_follow_the_format_parameter,
            clock_resumes_after_last_event_id_header,
            clock_resumes_from_last_event_id_query,
            unusable_last_event_id_starts_fresh,
            paragraph_sends_five_sentences_then_end_and_closes,
            paragraph_bytes_are_exact,
            paragraph_resumes_after_last_event_id,
            reconnect_after_last_sentence_gets_204,
            counter_counts_from_zero_as_json_and_resumes,
            bad_query_parameters_get_400_naming_them,
            unknown_paths_get_404_and_wrong_methods_405,
            health_reports_the_framework_and_open_streams,
            idle_stream_gets_keep_alive_comments,
            past_max_streams_a_stream_is_told_to_come_back_later,
            page_and_assets_are_served,
            sigterm_ends_hundreds_of_streams_and_exits_zero_within_2s,
            sigint_ends_streams_and_exits_zero_within_2s,
        );
    };
    (@cases $framework:ident, $binary:expr; $($case:ident),* $(,)?) => {
        mod $framework {
            $(
                #[tokio::test]
                async fn $case() {
                    let target = $crate::Target {
                        binary: $binary,
                        framework: stringify!($framework),
                    };
                    $crate::cases::$case(target).await;
                }
            )*
        }
    };
}
