//! `pcn share ID`: a read-only link to the snippet, for people without an account. A snippet
//! whose code looks like it holds a credential is refused unless --force says to share anyway.

use reqwest::Method;

use super::{snippet_path, Format};
use crate::api::Api;
use crate::error::{CliError, Result};
use crate::output;
use crate::wire::NewShare;
use pieces_model::share::Share;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snippet's id.
    id: String,
    /// How long the link works: hours (`12`, `12h`), days (`7d`) or weeks (`2w`); at most a
    /// year. Default: a week.
    #[arg(long, value_parser = hours)]
    expires: Option<u32>,
    /// Share even though the code looks like it holds a credential.
    #[arg(long)]
    force: bool,
}

pub async fn run(api: &Api, args: Args, format: Format) -> Result<()> {
    let path = format!("{}/shares", snippet_path(&args.id));
    let body = NewShare {
        expires_in_hours: args.expires,
        allow_secrets: args.force,
    };
    let reply = match api
        .reply(api.request(Method::POST, &path).json(&body))
        .await
    {
        Ok(reply) => reply,
        Err(error) if error.code() == Some("contains_secrets") => {
            return Err(CliError::Failed(format!(
                "{error}\n(check the code; to share it anyway, add --force)"
            )))
        }
        Err(error) => return Err(error),
    };
    if format.json {
        return output::json(&reply.text);
    }
    let made: Share = reply.parse()?;
    // The answer that makes a link is the only one that carries it.
    let url = made
        .url
        .ok_or_else(|| CliError::Failed("the service answered no link".into()))?;
    eprintln!(
        "Anyone with this link can read the snippet until {}.",
        output::when(&made.expires_at)
    );
    output::line(format!("{}{}", api.base(), url))
}

/// A lifetime in hours from `12`, `12h`, `7d` or `2w`.
fn hours(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 'h'),
    };
    let per_unit = match unit.to_ascii_lowercase() {
        'h' => 1,
        'd' => 24,
        'w' => 24 * 7,
        _ => {
            return Err(format!(
                "`{text}`: use hours (12h), days (7d) or weeks (2w)"
            ))
        }
    };
    let count: u32 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of hours, days or weeks"))?;
    count
        .checked_mul(per_unit)
        .filter(|h| *h >= 1)
        .ok_or_else(|| format!("`{text}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::hours;

    #[test]
    fn a_lifetime_reads_hours_days_and_weeks() {
        assert_eq!(hours("12"), Ok(12));
        assert_eq!(hours("12h"), Ok(12));
        assert_eq!(hours("7d"), Ok(168));
        assert_eq!(hours("2W"), Ok(336));
        assert!(hours("0").is_err());
        assert!(hours("3m").is_err());
        assert!(hours("soon").is_err());
    }
}
