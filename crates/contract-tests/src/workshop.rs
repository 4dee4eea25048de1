//! The contract in the order a learner builds it: the workshop's steps (`workshop/`), each a
//! list of rules, and each rule one case of this suite, the same function our servers are held
//! to. A learner's server is told apart only by [`Target::workshop`]: the cases then check the
//! routes taught so far and nothing more.
//!
//! An exercise's `tests/grade.rs` has one test per step up to its own, each one line:
//!
//! ```text
//! grade_step(3, "axum", env!("CARGO_BIN_EXE_axum-3-resume")).await;
//! ```
//!
//! A step's test runs its rules in order and stops at the first that fails, saying which rule
//! of which step, what it checks, and the assertion's own message.

use std::future::Future;
use std::pin::Pin;

use crate::client::{Protocol, Target};
use crate::{answers, cases, chat};

/// A case of the suite, boxed so that the table below can hold them all.
type Case = fn(Target) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// One rule: the case that checks it, and what it asks for in a sentence.
pub struct Rule {
    /// The case's name, as the contract suite calls it.
    pub name: &'static str,
    /// What the rule asks for.
    pub asks: &'static str,
    /// Whether the case needs a server it starts itself (with its own options, a fresh state,
    /// or to send it signals): such rules cannot check a server at `SSE_GRADE_URL`.
    pub own_server: bool,
    case: Case,
}

/// One step of the workshop.
pub struct Step {
    /// 1 to 7.
    pub number: u8,
    /// Its title, as its exercise's README has it.
    pub title: &'static str,
    /// Its rules, in the order a learner meets them.
    pub rules: &'static [Rule],
}

macro_rules! rule {
    ($module:ident :: $case:ident, $asks:expr) => {
        rule!($module::$case, $asks, own_server: false)
    };
    ($module:ident :: $case:ident, $asks:expr, own_server: $own:expr) => {
        Rule {
            name: stringify!($case),
            asks: $asks,
            own_server: $own,
            case: |target| Box::pin($module::$case(target)),
        }
    };
}

/// The seven steps.
pub const STEPS: [Step; 7] = [
    Step {
        number: 1,
        title: "the first stream",
        rules: &[
            rule!(
                cases::stream_headers_follow_the_contract,
                "GET /events answers 200 with Content-Type: text/event-stream, Cache-Control: \
                 no-cache, X-Accel-Buffering: no and Access-Control-Allow-Origin: *, \
                 uncompressed"
            ),
            rule!(
                cases::first_event_arrives_at_once_even_with_a_long_interval,
                "the first event is sent at once, not after the first interval"
            ),
            rule!(
                cases::clock_ids_count_from_one_at_the_interval,
                "the clock sends `id: 1`, 2, 3, ... one event per `interval_ms` (a query \
                 parameter, default 1000)"
            ),
            rule!(
                cases::first_line_names_the_address_and_the_framework,
                "the first line on stdout is `listening on http://ADDR/ (NAME)`"
            ,
                own_server: true),
        ],
    },
    Step {
        number: 2,
        title: "the paragraph",
        rules: &[rule!(
            cases::paragraph_sends_five_sentences_then_end_and_closes,
            "GET /events/paragraph sends the five sentences with ids 1 to 5, then \
             `event: end` without an id, then ends the response"
        )],
    },
    Step {
        number: 3,
        title: "resume",
        rules: &[
            rule!(
                cases::clock_resumes_after_last_event_id_header,
                "after `Last-Event-ID: n` the clock goes on at n + 1"
            ),
            rule!(
                cases::clock_resumes_from_last_event_id_query,
                "`?lastEventId=n` does the same when the header is absent; the header wins"
            ),
            rule!(
                cases::unusable_last_event_id_starts_fresh,
                "a Last-Event-ID that is not a number is ignored: 200 and a fresh start, \
                 never 400"
            ),
            rule!(
                cases::paragraph_resumes_after_last_event_id,
                "after `Last-Event-ID: 3` the paragraph goes on at sentence 4"
            ),
            rule!(
                cases::reconnect_after_last_sentence_gets_204,
                "after `Last-Event-ID: 5` the paragraph answers 204 No Content"
            ),
        ],
    },
    Step {
        number: 4,
        title: "retry and keep-alive",
        rules: &[
            rule!(
                cases::retry_comes_first,
                "every stream starts with `retry: <--retry-ms>` (default 3000)"
            ,
                own_server: true),
            rule!(
                cases::idle_stream_gets_keep_alive_comments,
                "after `--keep-alive-secs` without a write, a `: keep-alive` comment"
            ,
                own_server: true),
            rule!(
                cases::no_keep_alive_comment_while_events_flow,
                "no comment while events flow"
            ),
            rule!(
                cases::paragraph_bytes_are_exact,
                "the paragraph's bytes are exactly the contract's, a space after every colon"
            ),
        ],
    },
    Step {
        number: 5,
        title: "a chat",
        rules: &[
            rule!(
                chat::chat_hostile_text_arrives_intact_as_one_event,
                "POST /chat {\"user\", \"text\"} answers 201 {\"id\": n}, and GET /events/chat \
                 sends it as one `event: chat` with `id: n`, whatever the text holds"
            ,
                own_server: true),
            rule!(
                chat::chat_racing_publishers_and_resuming_readers_miss_nothing,
                "with Last-Event-ID the chat replays what came after it, then goes on live: no \
                 gap, no duplicate, even while others post"
            ,
                own_server: true),
        ],
    },
    Step {
        number: 6,
        title: "shutdown and vanishing clients",
        rules: &[
            rule!(
                cases::sigterm_ends_hundreds_of_streams_and_exits_zero_within_2s,
                "on SIGTERM every open stream ends properly and the server exits 0 within 2 s"
            ,
                own_server: true),
            rule!(
                cases::sigint_ends_streams_and_exits_zero_within_2s,
                "Ctrl-C (SIGINT) does the same"
            ,
                own_server: true),
            rule!(
                cases::health_reports_the_framework_and_open_streams,
                "GET /health says {\"status\": \"ok\", \"server\": NAME, \"open_streams\": n}, \
                 and n drops when a client goes away"
            ,
                own_server: true),
        ],
    },
    Step {
        number: 7,
        title: "an answer over POST",
        rules: &[
            rule!(
                answers::answers_stream_openai_chunks_with_ids_then_done,
                "POST /v1/chat/completions with \"stream\": true answers an event stream of \
                 OpenAI chunks: the role, a token each, the finish_reason, the usage if asked, \
                 then `data: [DONE]`, each event's id its index from 0, and no `retry:`"
            ,
                own_server: true),
            rule!(
                answers::answers_whole_is_one_chat_completion,
                "without \"stream\": true, one chat.completion object with the same text and \
                 its usage"
            ,
                own_server: true),
            rule!(
                answers::answers_bad_requests_get_openai_errors_naming_what,
                "a bad request gets 400, 413 or 415 with OpenAI's {\"error\": {\"message\", \
                 \"type\", \"param\", \"code\"}}, naming what was wrong"
            ,
                own_server: true),
            rule!(
                answers::answers_stop_when_the_client_goes_away,
                "when the client goes away the generation stops, within one token, before the \
                 first token as well: /metrics counts the tokens and the answers completed and \
                 cancelled"
            ,
                own_server: true),
        ],
    },
];

/// Checks step `number`'s rules against `binary`, in order; panics at the first that fails
/// with a message for the learner. `framework` is the name the server prints on its first
/// line.
///
/// With `SSE_GRADE_URL=http://127.0.0.1:3000` in the environment the rules check the server
/// running there instead (one in a debugger, or written in another language), except those
/// that need a server of their own, which say they were skipped.
pub async fn grade_step(number: u8, framework: &'static str, binary: &'static str) {
    let running = std::env::var("SSE_GRADE_URL")
        .ok()
        .map(|url| running_at(&url));
    grade_step_at(number, framework, binary, running).await;
}

/// [`grade_step`], against the server running at `running` when given.
pub async fn grade_step_at(
    number: u8,
    framework: &'static str,
    binary: &'static str,
    running: Option<std::net::SocketAddr>,
) {
    quiet_inner_panics();
    let step = &STEPS[usize::from(number) - 1];
    let target = Target {
        binary,
        framework,
        redis: false,
        protocol: Protocol::Http1,
        workshop: Some(number),
        running,
    };
    for (i, rule) in step.rules.iter().enumerate() {
        if running.is_some() && rule.own_server {
            println!(
                "step {number}, rule {}: {} ... skipped: it needs a server the grader starts \
                 itself (unset SSE_GRADE_URL to check it)",
                i + 1,
                rule.name
            );
            continue;
        }
        let checked = tokio::spawn((rule.case)(target)).await;
        let Err(failure) = checked else {
            println!("step {number}, rule {}: {} ... ok", i + 1, rule.name);
            continue;
        };
        let why = failure.try_into_panic().map_or_else(
            |e| e.to_string(),
            |panic| {
                (panic.downcast_ref::<String>().cloned())
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            },
        );
        panic!(
            "{LEAD}Step {number} ({}), rule {} of {}: {}\n  The rule: {}.\n  What went wrong: \
             {why}\n\nThe step's README explains the rule; its hints may help.\n",
            step.title,
            i + 1,
            step.rules.len(),
            rule.name,
            rule.asks,
        );
    }
}

/// The address of `SSE_GRADE_URL` (`http://HOST:PORT/...`).
fn running_at(url: &str) -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let authority = url.strip_prefix("http://").unwrap_or(url);
    let authority = authority.split('/').next().unwrap_or_default();
    (authority.to_socket_addrs().ok())
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| {
            panic!("{LEAD}SSE_GRADE_URL={url:?}: give the server's address, http://HOST:PORT")
        })
}

/// How the grader's own failure message starts.
const LEAD: &str = "\n\n";

/// A failing case panics inside its task, and the grader repeats that message in its own, with
/// the rule: print only the grader's, so that a learner reads one message, not two. And print
/// it alone: with `RUST_BACKTRACE=1` (set on many machines) the default hook would follow it
/// with a stack backtrace of the grader's internals, 150 lines that bury the one that matters.
/// (A grader's test binary runs nothing but [`grade_step`], so every other panic is a case's.)
fn quiet_inner_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(move |info| {
            let message = (info.payload().downcast_ref::<String>().map(String::as_str))
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if message.starts_with(LEAD) {
                eprintln!("{message}");
            }
        }));
    });
}

/// The workshop's grader against one of our servers, as `tests/workshop.rs` of each server
/// crate runs it: every step's rules pass, whether the grader starts the binary or checks it
/// already running (as `SSE_GRADE_URL` makes it do). The workshop's rules are the contract's own
/// cases, so a server held to the whole contract must pass them all.
///
/// ```text
/// contract_tests::workshop_suite!(axum, env!("CARGO_BIN_EXE_server-axum"));
/// ```
#[macro_export]
macro_rules! workshop_suite {
    ($framework:ident, $binary:expr) => {
        mod $framework {
            use $crate::workshop::{STEPS, grade_step_at};

            #[tokio::test]
            async fn every_workshop_step_passes() {
                for step in &STEPS {
                    grade_step_at(step.number, stringify!($framework), $binary, None).await;
                }
            }

            #[tokio::test]
            async fn every_workshop_step_passes_against_a_running_server() {
                let target = $crate::Target {
                    binary: $binary,
                    framework: stringify!($framework),
                    redis: false,
                    protocol: $crate::Protocol::Http1,
                    workshop: None,
                    running: None,
                };
                let server = $crate::Server::start(target, &[]).await;
                for step in &STEPS {
                    let at = Some(server.addr);
                    grade_step_at(step.number, stringify!($framework), $binary, at).await;
                }
            }
        }
    };
}
