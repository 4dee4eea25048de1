//! The `sse` binary: parses the command line and runs `watch`, `doctor`, `serve`, `token` or
//! `completions` (see the library's doc). Exit status: 0 when all went as asked, 1 when the stream was refused (`watch`) or a
//! check failed (`doctor`), 2 for a mistake on the command line.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use hyper::Method;

use sse_cli::doctor::{self, Doctor, Status};
use sse_cli::http::{Ask, Error};
use sse_cli::style::{Out, Paint};
use sse_cli::token::{Mint, Signer};
use sse_cli::watch::{self, Stop, Watch};

/// Watch any Server-Sent Events endpoint as a browser sees it, and diagnose what is wrong with
/// it.
#[derive(Debug, Parser)]
#[command(name = "sse", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print each event as the browser's EventSource delivers it, with its arrival time and the
    /// gap since the previous one; reconnect after `retry` with Last-Event-ID, and stop where a
    /// browser stops (204, another status, another Content-Type).
    Watch {
        #[command(flatten)]
        request: Request,
        /// Send this Last-Event-ID on the first connect.
        #[arg(long, value_name = "ID")]
        last_event_id: Option<String>,
        /// Show only events of this type (repeat for more); hides comments.
        #[arg(long = "event", value_name = "TYPE")]
        types: Vec<String>,
        /// Show the bytes as they arrive (decompressed), with their timing, instead of events.
        #[arg(long, conflicts_with = "json")]
        raw: bool,
        /// One JSON object per event on stdout (event, id, data, retry_ms, time, gap_ms); the
        /// tool's own notes go to stderr.
        #[arg(long)]
        json: bool,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        max_events: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
    },
    /// Check an SSE endpoint against the pitfalls that break streams in production, and say
    /// per check what was seen, why it matters and how to fix it. Exit status 1 if any check
    /// fails.
    Doctor {
        #[command(flatten)]
        request: Request,
        /// How long to watch the stream, in seconds.
        #[arg(long, default_value_t = 10.0, value_name = "SECS")]
        secs: f64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mint a token (a JWT) for servers started with --auth-secret or --auth-public-key, and
    /// print it: send it as `Authorization: Bearer TOKEN`, or as the sse_token cookie.
    Token(TokenArgs),
    /// Replay a stream captured with `sse watch --json` (or written by hand, one JSON object per
    /// line) as a real SSE server, with its timing, for a page's own tests: it resumes on
    /// Last-Event-ID, answers 204 at the end, and injects the faults the doctor knows when
    /// asked. Prints `listening on http://ADDR/`; every path serves the script.
    Serve(ServeArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    ///
    /// `sse completions bash > ~/.local/share/bash-completion/completions/sse`, or
    /// `sse completions zsh > ~/.zfunc/_sse`, or
    /// `sse completions fish > ~/.config/fish/completions/sse.fish`, then open a new shell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What `sse serve` replays, and how.
#[derive(Debug, Args)]
struct ServeArgs {
    /// The script: `sse watch --json URL > capture.jsonl`, or lines such as
    /// {"gap_ms": 500, "id": "1", "event": "tick", "data": "hello"}.
    #[arg(long, value_name = "FILE")]
    script: std::path::PathBuf,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// The port (0: a free one, printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Replay this many times faster (0.5: twice as slow).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// After the last event, start again from the first, in the same response.
    #[arg(long = "loop")]
    looping: bool,
    /// Cut every response after N events with no clean end, as a proxy's timeout does.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    drop_after: Option<u64>,
    /// Answer the reconnect after the end with this status instead of 204.
    #[arg(long, value_name = "STATUS", conflicts_with = "looping",
          value_parser = clap::value_parser!(u16).range(300..600))]
    status_after_end: Option<u16>,
    /// Hold every event until the response ends, as a buffering proxy does.
    #[arg(long)]
    buffer: bool,
    /// Compress with gzip and never flush, so nothing arrives until the end.
    #[arg(long)]
    gzip: bool,
    /// Leave out Access-Control-Allow-Origin: pages on other origins cannot read the stream.
    #[arg(long)]
    no_cors: bool,
}

impl ServeArgs {
    fn serve(self) -> Result<sse_cli::serve::Serve, Error> {
        let path = self.script.display().to_string();
        let text = std::fs::read_to_string(&self.script).map_err(|e| format!("{path}: {e}"))?;
        let script = sse_cli::serve::Script::parse(&text).map_err(|e| format!("{path}: {e}"))?;
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(format!("--speed {}: give a number above 0", self.speed).into());
        }
        Ok(sse_cli::serve::Serve {
            script,
            name: path,
            listen: (self.host, self.port).into(),
            speed: self.speed,
            looping: self.looping,
            faults: sse_cli::serve::Faults {
                drop_after: self.drop_after,
                status_after_end: self.status_after_end,
                buffer: self.buffer,
                gzip: self.gzip,
                no_cors: self.no_cors,
            },
        })
    }
}

/// What `sse token` mints, and with what.
#[derive(Debug, Args)]
struct TokenArgs {
    /// The server's --auth-secret (HS256).
    #[arg(
        long,
        env = "SSE_AUTH_SECRET",
        hide_env_values = true,
        required_unless_present = "private_key"
    )]
    secret: Option<String>,
    /// Sign with this private key (PEM: Ed25519 for EdDSA, RSA for RS256) instead.
    #[arg(long, value_name = "PATH", conflicts_with = "secret")]
    private_key: Option<std::path::PathBuf>,
    /// The user: the token's sub, the name the chat shows.
    #[arg(long)]
    user: String,
    /// The private rooms it opens (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "ROOMS")]
    rooms: Vec<String>,
    /// How long it lasts: 90s, 10m, 1h, 2d.
    #[arg(long, default_value = "1h", value_parser = sse_cli::token::duration)]
    ttl: Duration,
    /// Post only to these rooms (comma-separated); without it, wherever it may read.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "ROOMS",
        conflicts_with = "read_only"
    )]
    publish: Option<Vec<String>>,
    /// May read, never post.
    #[arg(long)]
    read_only: bool,
    /// The aud claim, for a server started with --auth-audience.
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,
}

impl TokenArgs {
    fn mint(self) -> Result<String, Error> {
        let signer = match (self.secret, &self.private_key) {
            (_, Some(path)) => {
                let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                Signer::PrivateKey(pem)
            }
            (Some(secret), None) => Signer::Secret(secret),
            (None, None) => return Err("give --secret or --private-key".into()),
        };
        let publish = if self.read_only {
            Some(Vec::new())
        } else {
            self.publish
        };
        let what = Mint {
            user: self.user,
            rooms: self.rooms,
            ttl: self.ttl,
            publish,
            audience: self.audience,
        };
        sse_cli::token::mint(&what, &signer)
    }
}

/// What both commands send.
#[derive(Debug, Args)]
struct Request {
    /// The stream, e.g. http://127.0.0.1:3000/events
    url: String,
    /// An extra request header, as "Name: value" (repeat for more).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// The method: POST for streams answered to a POST, as many AI APIs do.
    #[arg(short = 'X', long, default_value = "GET")]
    request: String,
    /// A request body (implies POST unless -X says otherwise; `@file` reads a file). Sent as
    /// application/json unless -H sets a Content-Type.
    #[arg(short, long)]
    data: Option<String>,
    /// Accept any TLS certificate (a self-signed one on a test server), as `curl -k`.
    #[arg(short = 'k', long)]
    insecure: bool,
}

impl Request {
    fn ask(&self) -> Result<Ask, Error> {
        let mut ask = Ask::get(&self.url)?;
        for line in &self.headers {
            ask.header_line(line)?;
        }
        ask.insecure = self.insecure;
        let method = self.request.to_ascii_uppercase();
        ask.method = Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("-X {}: not an HTTP method", self.request))?;
        if let Some(data) = &self.data {
            ask.body = match data.strip_prefix('@') {
                Some(path) => Bytes::from(std::fs::read(path).map_err(|e| format!("{path}: {e}"))?),
                None => Bytes::from(data.clone()),
            };
            if ask.method == Method::GET {
                ask.method = Method::POST;
            }
        }
        Ok(ask)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse().command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sse: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::Completions { shell } => {
            // clap's own generator, from the same definition as --help: they cannot disagree.
            // Written whole, so that a closed pipe (`| head`) is an error, not a panic.
            let mut cli = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli, "sse", &mut script);
            let mut stdout = std::io::stdout();
            match std::io::Write::write_all(&mut stdout, &script) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                Err(e) => Err(format!("writing the script: {e}").into()),
            }
        }
        Command::Serve(args) => {
            let listening = sse_cli::serve::Listening::bind(args.serve()?).await?;
            println!("{}", listening.first_line());
            listening.run().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(args) => {
            println!("{}", args.mint()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch {
            request,
            last_event_id,
            types,
            raw,
            json,
            max_events,
            timeout,
        } => {
            let watch = Watch {
                ask: request.ask()?,
                last_event_id,
                types,
                raw,
                json,
                max_events,
                timeout: timeout.map(seconds).transpose()?,
            };
            Ok(match watch::run(watch).await {
                Stop::Done => ExitCode::SUCCESS,
                Stop::Refused => ExitCode::FAILURE,
            })
        }
        Command::Doctor {
            request,
            secs,
            json,
        } => {
            let doctor = Doctor {
                ask: request.ask()?,
                watch: seconds(secs)?,
            };
            let report = doctor::examine(&doctor).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(if report.failed() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn seconds(secs: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{secs}: give a number of seconds above 0").into())
}

/// The report for a person: one line per check, and for each problem why it matters and the
/// fix, wrapped under it.
fn print_report(report: &doctor::Report) {
    let out = Out::stdout();
    out.line(&format!("sse doctor {}", report.url));
    out.line(&format!(
        "watched {:.1} s, {} events\n",
        report.watched_secs, report.events
    ));
    for check in &report.checks {
        let (word, paint) = match check.status {
            Status::Pass => ("pass", Paint::Good),
            Status::Warn => ("WARN", Paint::Warn),
            Status::Fail => ("FAIL", Paint::Bad),
            Status::Skip => ("skip", Paint::Dim),
        };
        let label = out.paint(paint, &format!("{word:<4}"));
        for (i, line) in wrap(&check.saw, 77).iter().enumerate() {
            match i {
                0 => out.line(&format!("{label}  {:<13} {line}", check.check)),
                _ => out.line(&format!("{:20}{line}", "")),
            }
        }
        if check.flagged() {
            for (head, text) in [("why", check.why), ("fix", check.fix)] {
                for (i, line) in wrap(text, 72).iter().enumerate() {
                    let head = if i == 0 { head } else { "" };
                    out.line(&format!("{:20}{head:<5}{line}", ""));
                }
            }
        }
    }
    let count = |status| report.checks.iter().filter(|c| c.status == status).count();
    out.line(&format!(
        "\n{} passed, {} warned, {} failed, {} skipped",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skip)
    ));
    out.line("\nlimits of this report:");
    for limit in report.limits {
        for (i, line) in wrap(limit, 76).iter().enumerate() {
            let bullet = if i == 0 { "-" } else { " " };
            out.line(&format!("  {bullet} {line}"));
        }
    }
}

/// Splits `text` into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("lines starts with one");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}
