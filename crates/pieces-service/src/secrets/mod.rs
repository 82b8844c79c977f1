//! Credentials in text: private keys, cloud and VCS access keys, chat tokens, JWTs (the rules
//! of gitleaks' maintained rule set, `gitleaks-rules.toml`), and passwords in connection URLs.
//! A share link of a snippet holding one is refused unless the caller insists, and none is
//! sent to an AI provider (`redact`).

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

/// The rules, compiled once on first use.
static RULES: LazyLock<Vec<Rule>> = LazyLock::new(load);

/// Findings reported per text at most: enough to name what to remove.
const MAX_FINDINGS: usize = 20;

/// A credential found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is: a gitleaks rule id (`aws-access-token`, `private-key`, ...) or
    /// `url-password`.
    pub kind: String,
    /// The line it starts on, from 1.
    pub line: usize,
}

struct Rule {
    id: String,
    regex: Regex,
    /// The capture group holding the secret (gitleaks' `secretGroup`; else the first group,
    /// else the whole match).
    secret_group: Option<usize>,
    /// Least Shannon entropy (bits per character) the secret must have.
    entropy: Option<f64>,
    /// Lowercase words one of which must be in the text for the rule to run at all.
    keywords: Vec<String>,
    /// Secrets these match are examples, not credentials.
    allow: Vec<Regex>,
}

#[derive(Deserialize)]
struct RuleFile {
    rules: Vec<RuleText>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleText {
    id: String,
    regex: String,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
}

/// A password in a URL's user information (`scheme://user:password@host`), as the
/// BasicAuthDetector of Yelp's detect-secrets finds it; gitleaks has no rule for it.
const URL_PASSWORD: &str = r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@'\x22`]{1,256}:([^\s/@'\x22`]{1,256})@[^\s/?#'\x22`]{1,256}";

/// Passwords in URLs that stand for one rather than being one.
fn is_placeholder(secret: &str) -> bool {
    secret.starts_with('$')
        || secret.starts_with('{')
        || secret.starts_with('<')
        || secret.starts_with('%')
        || secret.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

fn load() -> Vec<Rule> {
    let file: RuleFile = match toml::from_str(include_str!("gitleaks-rules.toml")) {
        Ok(file) => file,
        Err(e) => {
            tracing::error!(error = %e, "the secret rules cannot be read; none are checked");
            return Vec::new();
        }
    };
    let mut rules: Vec<Rule> = file
        .rules
        .into_iter()
        .filter_map(|r| {
            let regex = match Regex::new(&r.regex) {
                Ok(regex) => regex,
                Err(e) => {
                    tracing::error!(rule = %r.id, error = %e, "a secret rule does not compile");
                    return None;
                }
            };
            Some(Rule {
                regex,
                secret_group: r.secret_group,
                entropy: r.entropy,
                keywords: r.keywords.iter().map(|k| k.to_lowercase()).collect(),
                allow: r.allow.iter().filter_map(|a| Regex::new(a).ok()).collect(),
                id: r.id,
            })
        })
        .collect();
    if let Ok(regex) = Regex::new(URL_PASSWORD) {
        rules.push(Rule {
            id: "url-password".into(),
            regex,
            secret_group: Some(1),
            entropy: None,
            keywords: vec!["://".into()],
            allow: Vec::new(),
        });
    }
    rules
}

/// Shannon entropy of `text`, in bits per character.
fn entropy(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for c in text.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// The credentials in `text`, in the order of the rules, at most `MAX_FINDINGS`.
pub fn find(text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    scan(text, |rule, whole, _| {
        found.push(Finding {
            kind: rule.to_owned(),
            line: text[..whole].matches('\n').count() + 1,
        });
        found.len() < MAX_FINDINGS
    });
    found
}

/// `text` with every credential in it replaced by `[REDACTED:<kind>]`, and the kind of each
/// replaced, in the order they stood; borrowed when it holds none.
pub fn redact(text: &str) -> (Cow<'_, str>, Vec<String>) {
    let mut spans: Vec<(Range<usize>, &str)> = Vec::new();
    scan(text, |rule, _, secret| {
        spans.push((secret, rule));
        true
    });
    if spans.is_empty() {
        return (Cow::Borrowed(text), Vec::new());
    }
    // Two rules may find the same secret, or overlapping ones: the earliest start wins, and
    // it is widened to cover whatever overlaps it.
    spans.sort_by_key(|(range, _)| (range.start, std::cmp::Reverse(range.end)));
    let mut redacted = String::with_capacity(text.len());
    let mut kinds = Vec::new();
    let mut copied = 0;
    let mut spans = spans.into_iter().peekable();
    while let Some((mut range, kind)) = spans.next() {
        while let Some((next, _)) = spans.peek() {
            if next.start >= range.end {
                break;
            }
            range.end = range.end.max(next.end);
            spans.next();
        }
        redacted.push_str(&text[copied..range.start]);
        redacted.push_str("[REDACTED:");
        redacted.push_str(kind);
        redacted.push(']');
        copied = range.end;
        kinds.push(kind.to_owned());
    }
    redacted.push_str(&text[copied..]);
    (Cow::Owned(redacted), kinds)
}

/// Calls `visit` with the rule id, the start of the whole match and the secret's range of
/// every credential in `text`, rule by rule, until it answers false.
fn scan(text: &str, mut visit: impl FnMut(&'static str, usize, Range<usize>) -> bool) {
    let lower = text.to_lowercase();
    for rule in RULES.iter() {
        if !rule.keywords.is_empty() && !rule.keywords.iter().any(|k| lower.contains(k.as_str())) {
            continue;
        }
        for captures in rule.regex.captures_iter(text) {
            let Some(whole) = captures.get(0) else {
                continue;
            };
            let group = rule
                .secret_group
                .or((captures.len() > 1).then_some(1))
                .and_then(|g| captures.get(g))
                .unwrap_or(whole);
            let secret = group.as_str();
            if rule.entropy.is_some_and(|least| entropy(secret) < least)
                || rule.allow.iter().any(|a| a.is_match(secret))
                || (rule.id == "url-password" && is_placeholder(secret))
            {
                continue;
            }
            if !visit(&rule.id, whole.start(), group.range()) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(String, usize)> {
        find(text).into_iter().map(|f| (f.kind, f.line)).collect()
    }

    #[test]
    fn every_rule_compiles() {
        assert_eq!(RULES.len(), 35, "34 gitleaks rules and the URL one");
    }

    #[test]
    fn the_common_kinds_are_found_with_their_line() {
        // Made-up credentials of the documented shapes, assembled so this file holds none.
        let aws = format!("AKIA{}", "Q3ZT7LMN4PRS2VWX");
        let github = format!("ghp_{}", "8fK2mQ9xLp4RtV7wZ1bN3cY6dH0jE5sA2uGi");
        let slack = format!(
            "xoxb-{}-{}-{}",
            "1234567890123", "1234567890123", "aB3dE5fG7hI9jK1lM3nO5pQ7"
        );
        let key = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA7x9Qk2Lm4Np6Rt8Vx0Zb2Dc4Fe6Hg8Jk0Lm2No4Pq6Rs8Tu0Vw2Xy4Za6Bc8De0Fg"
        );
        let jwt = format!(
            "ey{}.ey{}.{}",
            "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "JzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ",
            "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
        );
        let text = format!(
            "aws = \"{aws}\"\ntoken = '{github}'\nslack: {slack}\n{key}\nauth = \"{jwt}\"\n\
             DATABASE_URL=postgres://app:s3cr3t-pw@db:5432/pieces\n"
        );
        let found = kinds(&text);
        for (kind, line) in [
            ("aws-access-token", 1),
            ("github-pat", 2),
            ("slack-bot-token", 3),
            ("private-key", 4),
            ("jwt", 7),
            ("url-password", 8),
        ] {
            assert!(
                found.contains(&(kind.to_owned(), line)),
                "{kind} at {line}: {found:?}"
            );
        }
    }

    #[test]
    fn redacting_replaces_each_secret_by_its_kind_and_keeps_the_rest() {
        let aws = format!("AKIA{}", "Q3ZT7LMN4PRS2VWX");
        let text = format!(
            "let key = \"{aws}\";\nDATABASE_URL=postgres://app:s3cr3t-pw@db:5432/pieces\nok"
        );
        let (redacted, kinds) = redact(&text);
        assert_eq!(
            redacted,
            "let key = \"[REDACTED:aws-access-token]\";\n\
             DATABASE_URL=postgres://app:[REDACTED:url-password]@db:5432/pieces\nok"
        );
        assert_eq!(kinds, ["aws-access-token", "url-password"]);
        let clean = "fn main() {}";
        assert!(
            matches!(redact(clean), (Cow::Borrowed(same), kinds) if same == clean && kinds.is_empty())
        );
    }

    #[test]
    fn a_private_key_block_is_redacted_whole() {
        let key = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA7x9Qk2Lm4Np6Rt8Vx0Zb2Dc4Fe6Hg8Jk0Lm2No4Pq6Rs8Tu0Vw2Xy4Za6Bc8De0Fg"
        );
        let text = format!("before\n{key}\nafter");
        let (redacted, kinds) = redact(&text);
        assert_eq!(redacted, "before\n[REDACTED:private-key]\nafter");
        assert_eq!(kinds, ["private-key"]);
    }

    #[test]
    fn examples_and_placeholders_are_not_credentials() {
        let text = "AKIAIOSFODNN7EXAMPLE\npostgres://app:${DB_PASSWORD}@db/pieces\n\
                    https://user:****@example.com\nfn main() { println!(\"hello\"); }";
        assert_eq!(kinds(text), Vec::<(String, usize)>::new());
    }
}
