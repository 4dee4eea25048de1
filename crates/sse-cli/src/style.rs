//! Colours, only when the output is a terminal and `NO_COLOR` is unset (<https://no-color.org>).

use std::io::{IsTerminal as _, Write as _};

use anstyle::{AnsiColor, Style};

/// The styles `sse` uses.
#[derive(Debug, Clone, Copy)]
pub enum Paint {
    /// Times, gaps and comments: there, but quiet.
    Dim,
    /// Event types.
    Kind,
    /// Ids.
    Id,
    /// What the tool says about the connection.
    Note,
    /// A pass.
    Good,
    /// A warning.
    Warn,
    /// A failure, or why the tool stopped.
    Bad,
}

impl Paint {
    fn style(self) -> Style {
        match self {
            Paint::Dim => Style::new().dimmed(),
            Paint::Kind => AnsiColor::Cyan.on_default().bold(),
            Paint::Id => AnsiColor::Yellow.on_default(),
            Paint::Note => AnsiColor::Blue.on_default(),
            Paint::Good => AnsiColor::Green.on_default().bold(),
            Paint::Warn => AnsiColor::Yellow.on_default().bold(),
            Paint::Bad => AnsiColor::Red.on_default().bold(),
        }
    }
}

/// Writes lines to stdout, painted or not.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    colour: bool,
}

impl Out {
    /// Colours when stdout is a terminal and `NO_COLOR` is not set.
    pub fn stdout() -> Self {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self { colour }
    }

    /// `text` in `paint`, when colours are on.
    pub fn paint(&self, paint: Paint, text: &str) -> String {
        if self.colour {
            let style = paint.style();
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    /// Prints a line; exits quietly when stdout is closed (`sse watch URL | head`).
    pub fn line(&self, text: &str) {
        if writeln!(std::io::stdout().lock(), "{text}").is_err() {
            std::process::exit(0);
        }
    }
}
