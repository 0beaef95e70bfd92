//! Content moderation: a configured blocklist of words, matched case-insensitively as whole
//! words. A message (or an edit) containing one is refused with `content_rejected` before it
//! reaches the log.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::error::ApiError;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ModerationConfig {
    /// Words refused in messages, comma-separated; matched case-insensitively as whole words.
    #[arg(long, env = "NATTER_BLOCKED_WORDS", value_delimiter = ',')]
    pub blocked_words: Vec<String>,
    /// A file of more blocked words, one per line (`#` starts a comment).
    #[arg(long, env = "NATTER_BLOCKED_WORDS_FILE")]
    pub blocked_words_file: Option<PathBuf>,
    /// Also refuse messages that rustrict (a maintained profanity filter, English-centred,
    /// resistant to evasions like "f u c k" or look-alike letters) finds inappropriate.
    #[arg(long, env = "NATTER_PROFANITY_FILTER", default_value_t = false)]
    pub profanity_filter: bool,
}

/// The blocklist, lowercased. Multi-word entries ("bad phrase") match as a sequence of words.
#[derive(Debug, Clone, Default)]
pub struct Blocklist {
    words: HashSet<String>,
    phrases: Vec<Vec<String>>,
    profanity: bool,
}

impl Blocklist {
    /// Builds the list from config; a file that cannot be read is an error at start.
    pub fn from_config(config: &ModerationConfig) -> std::io::Result<Self> {
        let mut entries: Vec<String> = config.blocked_words.clone();
        if let Some(path) = &config.blocked_words_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            entries.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or_default().to_owned()),
            );
        }
        Ok(Self {
            profanity: config.profanity_filter,
            ..Self::new(entries)
        })
    }

    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(entries: I) -> Self {
        let mut list = Self::default();
        for entry in entries {
            let words = tokens(entry.as_ref());
            match words.len() {
                0 => {}
                1 => {
                    list.words.extend(words);
                }
                _ => list.phrases.push(words),
            }
        }
        list
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty() && !self.profanity
    }

    /// The first blocked word or phrase in `text`, if any.
    pub fn find(&self, text: &str) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let words = tokens(text);
        if let Some(word) = words.iter().find(|w| self.words.contains(*w)) {
            return Some(word.clone());
        }
        if let Some(phrase) = self
            .phrases
            .iter()
            .find(|phrase| words.windows(phrase.len()).any(|w| w == phrase.as_slice()))
        {
            return Some(phrase.join(" "));
        }
        (self.profanity && rustrict::CensorStr::is_inappropriate(text))
            .then(|| "(profanity filter)".to_owned())
    }

    /// `content_rejected` when `text` holds a blocked word.
    pub fn check(&self, text: &str) -> Result<(), ApiError> {
        match self.find(text) {
            None => Ok(()),
            Some(_) => {
                metrics::counter!("natter_content_rejected_total").increment(1);
                Err(ApiError::content_rejected(
                    "the message contains a word this server does not allow",
                ))
            }
        }
    }
}

/// Lowercased words: runs of letters, digits, `_` and `'`.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profanity_filter_is_off_unless_switched_on() {
        let off = Blocklist::new(Vec::<String>::new());
        assert!(off.find("what the f u c k").is_none());
        let on = Blocklist {
            profanity: true,
            ..Blocklist::default()
        };
        assert!(on.find("what the f u c k").is_some(), "spaced-out evasion");
        assert!(
            on.find("an assassin's classic pass").is_none(),
            "no false positive"
        );
    }

    #[test]
    fn whole_words_case_insensitively() {
        let list = Blocklist::new(["Darn", " heck ", "", "bad phrase"]);
        assert_eq!(list.find("well DARN it").as_deref(), Some("darn"));
        assert_eq!(list.find("heck."), Some("heck".into()));
        assert_eq!(list.find("darned shheck"), None, "whole words only");
        assert_eq!(list.find("a Bad  phrase!").as_deref(), Some("bad phrase"));
        assert_eq!(list.find("a bad, good phrase"), None);
        assert!(
            Blocklist::new(Vec::<String>::new())
                .find("anything")
                .is_none()
        );
    }
}
