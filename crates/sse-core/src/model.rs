//! The model behind `POST /v1/chat/completions`: a deterministic stand-in, no weights. Its
//! answer to a question is the question's first words and its length, then the seed's paragraph,
//! cut into tokens the way a real model's answer arrives: a word at a time, each with the space
//! before it. What matters here is not what it says but how it is sent: a pause while it
//! "thinks" (`--think-ms`), then one token per `--token-ms`.
//!
//! Tested by `cargo test -p sse-core model`.

use crate::streams::SENTENCES;

/// Words of the question repeated at the start of the answer.
pub const QUOTED_WORDS: usize = 8;

/// The whole answer to `question`: `You asked: "first words…" (N words). ` then the paragraph.
pub fn answer(question: &str) -> String {
    let words: Vec<&str> = question.split_whitespace().collect();
    let mut quoted = words[..words.len().min(QUOTED_WORDS)].join(" ");
    if words.len() > QUOTED_WORDS {
        quoted.push('…');
    }
    let count = match words.len() {
        1 => "1 word".to_owned(),
        n => format!("{n} words"),
    };
    format!("You asked: \"{quoted}\" ({count}). {}", SENTENCES.join(" "))
}

/// `answer` cut into tokens: each word with the spaces before it. Joined, they are `answer`
/// exactly.
pub fn tokens(answer: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for c in answer.chars() {
        let space = c.is_whitespace();
        if space && in_word {
            tokens.push(std::mem::take(&mut current));
        }
        in_word = !space;
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_quotes_the_question_then_says_the_paragraph() {
        let answer = answer("  What   is Server-Sent Events?\n");
        assert!(
            answer.starts_with(
                "You asked: \"What is Server-Sent Events?\" (4 words). Hello, this is an example"
            ),
            "{answer}"
        );
        assert!(answer.ends_with("End of sample text, thank you!"));
        let long = super::answer("one two three four five six seven eight nine ten");
        assert!(
            long.starts_with("You asked: \"one two three four five six seven eight…\" (10 words).")
        );
        assert!(super::answer("hi").contains("(1 word)"));
    }

    #[test]
    fn tokens_are_words_with_their_leading_space_and_join_to_the_answer() {
        assert_eq!(tokens("Hello, this  is"), ["Hello,", " this", "  is"]);
        let answer = answer("why?");
        let tokens = tokens(&answer);
        assert_eq!(tokens.concat(), answer);
        assert_eq!(tokens.len(), answer.split_whitespace().count());
        assert!(tokens.len() > 50, "long enough to watch: {}", tokens.len());
    }
}
