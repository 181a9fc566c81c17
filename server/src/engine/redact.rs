//! Statement text with its secrets taken out, for logs, spans and
//! pg_stat_activity: the password of a connection URL
//! (`postgres://user:***@host`) and the literal after the word `PASSWORD`
//! (`CREATE ROLE r PASSWORD '********'`).

use std::borrow::Cow;

/// What a redacted password literal reads as.
const HIDDEN: &str = "'********'";

/// `sql` with every password it holds replaced.
pub fn redact_secrets(sql: &str) -> Cow<'_, str> {
    let has_url = sql.contains("://");
    let has_password = sql.len() >= 8
        && sql
            .as_bytes()
            .windows(8)
            .any(|w| w.eq_ignore_ascii_case(b"password"));
    if !has_url && !has_password {
        return Cow::Borrowed(sql);
    }
    let text = if has_password {
        password_literals(sql)
    } else {
        sql.to_owned()
    };
    Cow::Owned(if has_url { url_passwords(&text) } else { text })
}

/// postgres://user:password@host -> postgres://user:***@host
fn url_passwords(sql: &str) -> String {
    let mut text = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        text.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '\'' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => match authority[..at].split_once(':') {
                Some((user, _)) => {
                    text.push_str(user);
                    text.push_str(":***");
                    text.push_str(&authority[at..]);
                }
                None => text.push_str(authority),
            },
            None => text.push_str(authority),
        }
        rest = &tail[end..];
    }
    text.push_str(rest);
    text
}

/// Replaces the string literal after each word `PASSWORD` (outside string
/// literals and quoted names); an unterminated one is hidden to the end.
fn password_literals(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => i = literal_end(bytes, i),
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if !sql[start..i].eq_ignore_ascii_case("password") {
                    continue;
                }
                let mut j = i;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                // E'...' escape strings too.
                let quote = match bytes.get(j) {
                    Some(b'\'') => Some(j),
                    Some(b'e' | b'E') if bytes.get(j + 1) == Some(&b'\'') => Some(j + 1),
                    _ => None,
                };
                if let Some(quote) = quote {
                    let end = literal_end(bytes, quote);
                    out.push_str(&sql[copied..j]);
                    out.push_str(HIDDEN);
                    copied = end;
                    i = end;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    out
}

/// The index just past the string literal opening at `start`, `''` being a
/// quote inside it; the end of the text if it never closes.
fn literal_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        if bytes[i] == b'\\' {
            // In an E'' string a backslash escapes the next character.
            i += 1;
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            redact_secrets("ATTACH 'postgres://app:hunter2@db:5432/shop' AS shop"),
            "ATTACH 'postgres://app:***@db:5432/shop' AS shop"
        );
        assert_eq!(
            redact_secrets("ATTACH 'postgres://app@db/shop' AS s"),
            "ATTACH 'postgres://app@db/shop' AS s"
        );
        assert_eq!(redact_secrets("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn password_literals_are_hidden() {
        assert_eq!(
            redact_secrets("CREATE ROLE a LOGIN PASSWORD 'it''s secret' CREATEDB"),
            "CREATE ROLE a LOGIN PASSWORD '********' CREATEDB"
        );
        assert_eq!(
            redact_secrets("alter user \"password\" with encrypted password\n E'x\\'y'"),
            "alter user \"password\" with encrypted password\n '********'"
        );
        assert_eq!(
            redact_secrets("ALTER ROLE a PASSWORD 'never closed"),
            "ALTER ROLE a PASSWORD '********'"
        );
        assert_eq!(
            redact_secrets("SELECT 'password ''x''', password FROM t"),
            "SELECT 'password ''x''', password FROM t"
        );
        assert_eq!(
            redact_secrets("ALTER ROLE a PASSWORD NULL"),
            "ALTER ROLE a PASSWORD NULL"
        );
    }
}
