//! What the server accepts as a name or a message, and when two names are
//! the same (`docs/protocol.md`, "Names and text").
//!
//! Names are what others see and trust: a moderator kicks "alice", a member
//! whispers to "Grace". So a name is normalised (NFC), may not steer the text
//! direction, may not be invisible, and may not stack combining marks. Two
//! names that look alike (`alice` with a Cyrillic `а`, `Ada` and `ada`) are
//! the same name: a second one in a room gets a suffix, and two room names
//! that look alike are one room.

use conclave_protocol::{ErrorCode, ErrorInfo};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Combining marks allowed on one character: enough for any script's
/// diacritics (Vietnamese stacks two), not for a "Zalgo" flood.
pub(crate) const MAX_COMBINING_MARKS: usize = 4;

/// Characters that change the direction of the text around them: in a name
/// they can make it read as someone else's, or reorder a chat line.
fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's default-ignorable code points: drawn as nothing at all.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Zero-width joiners that some scripts and emoji need between visible characters.
fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

fn invalid(what: &str, why: impl std::fmt::Display) -> ErrorInfo {
    ErrorInfo::new(ErrorCode::InvalidName, format!("the {what} {why}"))
}

/// A display name or room name as the server keeps it, or why it is refused.
///
/// NFC; surrounding whitespace trimmed; no control or direction-control
/// characters; invisible characters removed (zero-width joiners stay, for
/// the scripts and emoji that need them); at least one visible character; at
/// most [`MAX_COMBINING_MARKS`] marks on a character; at most `max_chars`
/// characters.
pub(crate) fn clean_name(what: &str, raw: &str, max_chars: usize) -> Result<String, ErrorInfo> {
    let normalised: String = raw.nfc().collect();
    let normalised = normalised.trim();
    if normalised.chars().any(char::is_control) {
        return Err(invalid(what, "has control characters"));
    }
    if normalised.chars().any(is_direction_control) {
        return Err(invalid(
            what,
            "has characters that change the text direction",
        ));
    }
    let visible_or_joiner: String = normalised
        .chars()
        .filter(|&c| !is_invisible(c) || is_joiner(c))
        .collect();
    let name = visible_or_joiner
        .trim_matches(|c: char| c.is_whitespace() || is_joiner(c))
        .to_owned();
    if normalised.is_empty() {
        return Err(invalid(what, "is empty"));
    }
    let shows_something = name
        .chars()
        .any(|c| !c.is_whitespace() && !is_joiner(c) && !is_combining_mark(c));
    if !shows_something {
        return Err(invalid(what, "has no visible characters"));
    }
    if longest_mark_run(raw) > MAX_COMBINING_MARKS {
        return Err(invalid(
            what,
            format!("has more than {MAX_COMBINING_MARKS} combining marks on one character"),
        ));
    }
    if name.chars().count() > max_chars {
        return Err(invalid(
            what,
            format!("is longer than {max_chars} characters"),
        ));
    }
    Ok(name)
}

/// The most combining marks on one character, counted decomposed (NFD), so
/// precomposed letters count their marks too.
fn longest_mark_run(text: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.nfd() {
        run = if is_combining_mark(c) { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// What a name looks like, for telling look-alikes apart: the UTS #39
/// confusable skeleton of its lower case, without whitespace. Two names with
/// the same key read the same to a person.
pub(crate) fn look_alike_key(name: &str) -> String {
    let lower = name.to_lowercase();
    unicode_security::confusable_detection::skeleton(&lower)
        .filter(|c| !c.is_whitespace() && !is_joiner(*c))
        .collect()
}

/// `name`, or `name (2)`, `name (3)`, … : the first that looks like none of `taken`.
pub(crate) fn distinct_name<'a>(
    name: &str,
    taken: impl Iterator<Item = &'a str> + Clone,
) -> String {
    let keys: Vec<String> = taken.map(look_alike_key).collect();
    let free = |candidate: &str| !keys.contains(&look_alike_key(candidate));
    if free(name) {
        return name.to_owned();
    }
    (2..)
        .map(|n| format!("{name} ({n})"))
        .find(|candidate| free(candidate))
        .expect("some suffix is free")
}

/// Chat text (and a kick reason): NFC, at most `max_bytes` bytes, no control
/// characters but newline and tab, not empty.
pub(crate) fn clean_message(what: &str, raw: &str, max_bytes: usize) -> Result<String, ErrorInfo> {
    if raw.len() > max_bytes {
        return Err(ErrorInfo::new(
            ErrorCode::TooLarge,
            format!(
                "{what} of {} bytes is over the limit of {max_bytes}",
                raw.len()
            ),
        ));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ErrorInfo::new(
            ErrorCode::InvalidMessage,
            format!("{what} has control characters (only newline and tab are allowed)"),
        ));
    }
    if longest_mark_run(raw) > MAX_COMBINING_MARKS {
        return Err(ErrorInfo::new(
            ErrorCode::InvalidMessage,
            format!("{what} has more than {MAX_COMBINING_MARKS} combining marks on one character"),
        ));
    }
    let text: String = raw.nfc().collect();
    if text.trim().is_empty() {
        return Err(ErrorInfo::new(
            ErrorCode::InvalidMessage,
            format!("{what} is empty"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> String {
        clean_name("name", raw, 64).unwrap_err().message
    }

    #[test]
    fn names_are_normalised_trimmed_and_stripped_of_invisible_characters() {
        assert_eq!(clean_name("name", "  Ada  ", 64).unwrap(), "Ada");
        // "é" as e + combining acute becomes the one precomposed character.
        assert_eq!(clean_name("name", "Rene\u{301}", 64).unwrap(), "Ren\u{e9}");
        assert_eq!(
            clean_name("name", "Gr\u{200B}ace\u{FEFF}", 64).unwrap(),
            "Grace"
        );
        // Joiners inside an emoji sequence stay.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(clean_name("name", family, 64).unwrap(), family);
    }

    #[test]
    fn invisible_direction_steering_and_mark_flooded_names_are_refused() {
        assert!(refused("").contains("empty"));
        assert!(refused("   ").contains("empty"));
        assert!(refused("\u{200B}\u{200C}\u{2060}").contains("no visible"));
        assert!(
            refused("\u{3164}").contains("no visible"),
            "a Hangul filler draws nothing"
        );
        assert!(refused("\u{301}\u{301}").contains("no visible"));
        assert!(refused("evil\u{202E}gnp.exe").contains("direction"));
        assert!(refused("\u{2067}admin\u{2069}").contains("direction"));
        assert!(refused("a\u{0007}").contains("control"));
        let zalgo = format!("a{}", "\u{300}".repeat(MAX_COMBINING_MARKS + 1));
        assert!(refused(&zalgo).contains("combining"));
        let fine = format!("a{}", "\u{300}".repeat(MAX_COMBINING_MARKS));
        assert!(clean_name("name", &fine, 64).is_ok());
        assert!(refused(&"x".repeat(65)).contains("longer than 64"));
    }

    #[test]
    fn look_alike_names_get_a_suffix() {
        let cyrillic_alice = "\u{430}lice";
        assert_eq!(look_alike_key(cyrillic_alice), look_alike_key("alice"));
        assert_eq!(look_alike_key("Ada"), look_alike_key("ada"));
        assert_ne!(look_alike_key("Ada"), look_alike_key("Grace"));
        let room = ["alice", "Grace"];
        assert_eq!(
            distinct_name(cyrillic_alice, room.iter().copied()),
            "\u{430}lice (2)"
        );
        assert_eq!(distinct_name("grace", room.iter().copied()), "grace (2)");
        assert_eq!(distinct_name("Linus", room.iter().copied()), "Linus");
        let crowded = ["Ada", "Ada (2)"];
        assert_eq!(distinct_name("Ada", crowded.iter().copied()), "Ada (3)");
    }

    #[test]
    fn messages_keep_newlines_and_tabs_and_refuse_other_controls() {
        assert_eq!(clean_message("chat text", "a\n\tb", 100).unwrap(), "a\n\tb");
        let controls = "\u{1}".repeat(10);
        let err = clean_message("chat text", &controls, 4096).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidMessage);
        let err = clean_message("chat text", "\u{1b}[31mred", 4096).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidMessage, "ANSI escapes");
        let err = clean_message("kick reason", &"x".repeat(101), 100).unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge);
        assert_eq!(
            clean_message("chat text", " \n ", 100).unwrap_err().code,
            ErrorCode::InvalidMessage
        );
    }
}
